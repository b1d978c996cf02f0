// Package pgtest gives tests the PostgreSQL they run against, and a schema
// of their own in it, in one place: the store's own tests, the Redis
// counters' and the server's (which runs requests through a riskd on
// PostgreSQL to compare it with the embedded store) all need the same.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// URL is the PostgreSQL the tests use: the machine's own, unless
// RISKD_TEST_POSTGRES_URL names another.
func URL() string {
	if u := os.Getenv("RISKD_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// Schema makes a schema of its own for one test, dropped when the test
// ends, so runs never collide and leave nothing behind. An unreachable
// PostgreSQL fails the test, saying so: it is never skipped.
func Schema(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, URL())
	if err != nil {
		t.Fatalf("PostgreSQL at %s is unreachable (start it, or set RISKD_TEST_POSTGRES_URL): %v", URL(), err)
	}
	conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "riskd_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, URL())
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
