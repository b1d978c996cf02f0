package pgstore

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// A database written before the review desk (schema version 2) is
// migrated with its decisions in the subject index: an analyst searching
// a phone finds last week's decisions, not only those made since the
// upgrade.
func TestMigrationIndexesEarlierDecisions(t *testing.T) {
	ctx := context.Background()
	schema := newSchema(t)
	conn, err := pgx.Connect(ctx, testURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()+`; SET search_path = `+pgx.Identifier{schema}.Sanitize()+`;
		CREATE TABLE meta (id int PRIMARY KEY, version int NOT NULL, key_check bytea); INSERT INTO meta (id, version) VALUES (1, 2)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[:2] {
		if _, err := conn.Exec(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	phone := store.Identifier{Kind: store.KindMobile, Hash: sha256.Sum256([]byte("13800138000"))}
	device := store.Identifier{Kind: store.KindDevice, Hash: sha256.Sum256([]byte("dev-1"))}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	d := &riskv1.Decision{DecisionId: "0195f000-0000-7000-8000-000000000001", RequestId: "r1", Check: riskv1.Check_CHECK_SELLER,
		Outcome: riskv1.Outcome_OUTCOME_REVIEW, DecidedAt: timestamppb.New(at)}
	body, _ := proto.Marshal(d)
	if _, err := conn.Exec(ctx, `INSERT INTO decisions (id, check_kind, request_id, request_hash, decided_at, subjects, decision)
		VALUES ($1, 1, 'r1', '\x00', $2, $3, $4)`, d.DecisionId, at, encodeSubjects([]store.Identifier{phone, device}), body); err != nil {
		t.Fatal(err)
	}
	s, err := openIn(t, schema, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, id := range []store.Identifier{phone, device} {
		p, err := s.ListDecisions(ctx, store.DecisionQuery{Subject: &id, Limit: 10, MaxScan: 10})
		if err != nil || len(p.Decisions) != 1 || !proto.Equal(p.Decisions[0].Decision, d) {
			t.Errorf("%s after the migration: %+v, %v; want the earlier decision", id.Kind, p, err)
		}
	}
	if _, err := s.Case(ctx, d.DecisionId); err != store.ErrNoCase {
		t.Errorf("an earlier decision's case: %v, want none (cases open with decisions made since)", err)
	}
}
