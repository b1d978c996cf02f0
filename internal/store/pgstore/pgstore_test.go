package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/store/storetest"
)

// testURL is the PostgreSQL the tests use: the machine's own, unless
// RISKD_TEST_POSTGRES_URL names another.
func testURL() string {
	if u := os.Getenv("RISKD_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// newSchema makes a schema of its own for one store, dropped when the test
// ends, so runs never collide and leave nothing behind. An unreachable
// PostgreSQL fails the test, saying so: it is never skipped.
func newSchema(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testURL())
	if err != nil {
		t.Fatalf("PostgreSQL at %s is unreachable (start it, or set RISKD_TEST_POSTGRES_URL): %v", testURL(), err)
	}
	conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "riskd_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, testURL())
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

func openIn(t *testing.T, schema string, keyCheck []byte) (*Store, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return Open(ctx, Options{URL: testURL(), Schema: schema, MaxConns: 8, KeyCheck: keyCheck})
}

func TestConformance(t *testing.T) {
	open := func(t *testing.T) store.Store {
		schema := newSchema(t)
		s, err := openIn(t, schema, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		schemas[s] = schema
		return s
	}
	reopen := func(t *testing.T, s store.Store) store.Store {
		schema := schemas[s.(*Store)]
		s.Close()
		again, err := openIn(t, schema, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { again.Close() })
		return again
	}
	storetest.Run(t, open, reopen)
}

// schemas remembers each test store's schema for reopening it.
var schemas = map[*Store]string{}

func TestKeyCheckRefusesAnotherKey(t *testing.T) {
	schema := newSchema(t)
	s, err := openIn(t, schema, []byte("first key"))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := openIn(t, schema, []byte("other key")); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("got %v, want ErrKeyMismatch", err)
	}
	s, err = openIn(t, schema, []byte("first key"))
	if err != nil {
		t.Fatalf("the same key was refused: %v", err)
	}
	s.Close()
}
