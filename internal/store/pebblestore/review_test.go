package pebblestore

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// A data directory written before the review desk (schema 1: no subject
// index, decisions' expiry entries without items) is indexed on the open
// that upgrades it, and its decisions then expire with their index keys.
func TestUpgradeIndexesEarlierDecisions(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	phone := store.Identifier{Kind: store.KindMobile, Hash: sha256.Sum256([]byte("13800138000"))}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	d := &riskv1.Decision{DecisionId: "0195f000-0000-7000-8000-000000000001", RequestId: "r1", Check: riskv1.Check_CHECK_SELLER,
		Outcome: riskv1.Outcome_OUTCOME_REVIEW, DecidedAt: timestamppb.New(at)}
	if _, _, err := s.Commit(t.Context(), store.Commit{Decision: d, Subjects: []store.Identifier{phone}}); err != nil {
		t.Fatal(err)
	}
	// Make it schema 1: no index keys, an empty expiry entry.
	b := s.db.NewBatch()
	prefix := []byte{pSubjects}
	if err := b.DeleteRange(prefix, upperBound(prefix), nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(expKey(pExpDecisions, at, tagDecision, []byte(d.DecisionId)), nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(metaSchema, binary.BigEndian.AppendUint32(nil, 1), nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	list := func(s *Store) int {
		p, err := s.ListDecisions(t.Context(), store.DecisionQuery{Subject: &phone, Limit: 10, MaxScan: 10})
		if err != nil {
			t.Fatal(err)
		}
		return len(p.Decisions)
	}
	if n := list(s); n != 0 {
		t.Fatalf("schema 1 made by hand still finds %d decisions", n)
	}
	s.Close()
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := list(s); n != 1 {
		t.Errorf("after the upgrade the phone finds %d decisions, want the earlier one", n)
	}
	if _, err := s.Expire(t.Context(), at.Add(401*24*time.Hour), store.Retention{Events: 400 * 24 * time.Hour, Decisions: 400 * 24 * time.Hour}, 100); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := s.iterate(t.Context(), prefix, upperBound(prefix), func(k, v []byte) (bool, error) { left++; return true, nil }); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d index keys outlived their decision", left)
	}
}

// caseV1Value is a v2 case value without an amount as v1 wrote it: the
// same bytes without the amount's two zero bytes at the end.
func caseV1Value(v2 []byte) []byte {
	v1 := bytes.Clone(v2[:len(v2)-2])
	v1[0] = caseV1
	return v1
}

// A case written before cases had an amount (v1) reads as the same case
// with none.
func TestCaseV1ReadsWithoutAmount(t *testing.T) {
	c := caseRecord{Case: store.Case{DecisionID: "d", Check: 2, DecidedAt: time.Unix(1700000000, 0).UTC(), Due: time.Unix(1700001800, 0).UTC(),
		OnExpiry: store.ExpireDecline, State: store.CaseOpen}, audits: 1, feed: []uint64{4}}
	v2 := encodeCase(c)
	if v2[len(v2)-2] != 0 || v2[len(v2)-1] != 0 {
		t.Fatalf("a case without an amount does not end with two zero bytes: %x", v2)
	}
	got, err := decodeCase(caseV1Value(v2))
	if err != nil || got.DecisionID != "d" || got.Amount != (store.Amount{}) || !slices.Equal(got.feed, c.feed) || got.audits != 1 {
		t.Errorf("v1 case: %+v, %v", got, err)
	}
	c.Amount = store.Amount{Minor: -5, Currency: "CNY"}
	if got, err := decodeCase(encodeCase(c)); err != nil || got.Amount != c.Amount {
		t.Errorf("v2 case amount: %+v, %v", got.Amount, err)
	}
}

// The case, audit and feed values are parsers of bytes from disk: any
// bytes are refused or decoded, never a panic, and what decodes encodes
// back to the same bytes (one value, one encoding).
func FuzzDecodeReviewValues(f *testing.F) {
	c := caseRecord{Case: store.Case{DecisionID: "d", Check: 2, DecidedAt: time.Unix(1700000000, 5), Due: time.Unix(1700001800, 0),
		OnExpiry: store.ExpireDecline, State: store.CaseResolved, Holder: "ana", ClaimedUntil: time.Unix(1700000300, 0),
		Verdict: store.VerdictLegitimate, ResolvedBy: "ana", ResolvedAt: time.Unix(1700000200, 0),
		Amount: store.Amount{Minor: 2000000, Currency: "CNY"}}, audits: 3, feed: []uint64{1, 7}}
	f.Add(byte(0), encodeCase(c))
	c.Amount = store.Amount{}
	f.Add(byte(0), caseV1Value(encodeCase(c)))
	f.Add(byte(1), encodeAudit(store.AuditEntry{At: time.Unix(1700000000, 0), Actor: "ana", Action: store.AuditNoted, Note: "n\x01"}))
	f.Add(byte(2), encodeFeed("d", time.Unix(1700000000, 0), []byte("event")))
	f.Add(byte(0), []byte{caseV1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, which byte, b []byte) {
		switch which % 3 {
		case 0:
			r, err := decodeCase(b)
			if err != nil {
				return
			}
			// A v1 value is rewritten as v2: the same case, with no amount.
			want := b
			if b[0] == caseV1 {
				want = append(bytes.Clone(b), 0, 0)
				want[0] = caseV2
			}
			if !bytes.Equal(encodeCase(r), want) {
				t.Fatalf("case: decode/encode not stable for %x", b)
			}
		case 1:
			a, err := decodeAudit(1, b)
			if err == nil && !bytes.Equal(encodeAudit(a), b) {
				t.Fatalf("audit: decode/encode not stable for %x", b)
			}
		case 2:
			e, err := decodeFeed(1, b)
			if err == nil && !bytes.Equal(encodeFeed(e.DecisionID, e.At, e.Event), b) {
				t.Fatalf("feed: decode/encode not stable for %x", b)
			}
		}
	})
}
