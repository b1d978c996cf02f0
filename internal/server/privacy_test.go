package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/history"
	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/store/pgstore/pgtest"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// TestEraseSubject (issue 21, items 5 and 7): a person's decisions go
// through the real server; EraseSubject forgets them; afterwards neither
// the embedded store's files nor a pg_dump of the PostgreSQL schema hold
// any form of them, the decisions keep their ID, outcome, score and
// reasons, a repeat counts zero, and a new decision starts without
// history.
func TestEraseSubject(t *testing.T) {
	for _, pg := range []bool{false, true} {
		name := map[bool]string{false: "embedded", true: "postgres"}[pg]
		t.Run(name, func(t *testing.T) { testEraseSubject(t, pg) })
	}
}

func testEraseSubject(t *testing.T, pg bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := boot(t, bootOptions{setup: setup{postgres: pg}})
	conn := b.dial(t)
	risk, privacy := riskv1.NewRiskServiceClient(conn), riskv1.NewPrivacyServiceClient(conn)
	tag := make([]byte, 6)
	_, _ = rand.Read(tag)
	p, q := "p"+hex.EncodeToString(tag), "q"+hex.EncodeToString(tag)
	now := time.Now()
	var kept []*riskv1.Decision
	for i, r := range []*riskv1.ScoreGiftCardPurchaseRequest{gcOrder(p, now), gcAs(gcOrder(p, now), p+"-2"), gcOrder(q, now)} {
		d, err := risk.ScoreGiftCardPurchase(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			kept = append(kept, d.GetDecision())
		}
	}
	if _, err := risk.ReportOutcome(ctx, &riskv1.ReportOutcomeRequest{DecisionId: kept[0].GetDecisionId(),
		Label: riskv1.OutcomeLabel_OUTCOME_LABEL_FRAUD_CONFIRMED}); err != nil {
		t.Fatal(err)
	}
	account := &riskv1.Subject{Kind: riskv1.SubjectKind_SUBJECT_KIND_ACCOUNT, Value: "acct-" + p}
	subjects := []*riskv1.Subject{account,
		{Kind: riskv1.SubjectKind_SUBJECT_KIND_DEVICE, Value: "dev-" + p},
		{Kind: riskv1.SubjectKind_SUBJECT_KIND_INSTRUMENT, Value: "fp-" + p},
		{Kind: riskv1.SubjectKind_SUBJECT_KIND_RECIPIENT, Value: p + "@example.com"},
	}

	// Access: both of the person's decisions and the outcome, nobody else's.
	exp, err := privacy.ExportSubject(ctx, &riskv1.ExportSubjectRequest{Subject: account})
	if err != nil {
		t.Fatal(err)
	}
	if len(exp.GetDecisions()) != 2 || len(exp.GetOutcomes()) != 1 || exp.GetOutcomes()[0].GetDecisionId() != kept[0].GetDecisionId() {
		t.Fatalf("export: %d decisions, outcomes %v; want 2 and one on %s", len(exp.GetDecisions()), exp.GetOutcomes(), kept[0].GetDecisionId())
	}
	for _, d := range exp.GetDecisions() {
		if d.GetDecisionId() != kept[0].GetDecisionId() && d.GetDecisionId() != kept[1].GetDecisionId() || len(d.GetSignals()) != 0 {
			t.Errorf("export holds %s with %d signals", d.GetDecisionId(), len(d.GetSignals()))
		}
	}

	// Every form a store may keep of the person.
	var forms [][]byte
	for _, s := range subjects {
		forms = append(forms, []byte(s.GetValue()))
		id, _ := b.keys.Identifier(store.Kind(s.GetKind()), s.GetValue())
		forms = append(forms, id.Hash[:], []byte(hex.EncodeToString(id.Hash[:])))
	}
	forms = append(forms, []byte(b.keys.Ref("acct-"+p)))
	if !bytes.Contains(dump(t, b), []byte(b.keys.Ref("acct-"+p))) {
		t.Fatal("before erasure the store does not hold the account's ref: the check below could not fail")
	}

	// The person's device and account on a block list, beside another's
	// device: the erasure takes the person's entries off, and only them.
	lists := riskv1.NewListServiceClient(conn)
	if _, err := lists.CreateList(ctx, &riskv1.CreateListRequest{Name: "erase-block", Purpose: riskv1.ListPurpose_LIST_PURPOSE_BLOCK}); err != nil {
		t.Fatal(err)
	}
	if _, err := lists.AddListEntries(ctx, &riskv1.AddListEntriesRequest{List: "erase-block", Entries: []*riskv1.NewListEntry{
		{Kind: riskv1.EntryKind_ENTRY_KIND_DEVICE, Value: "dev-" + p}, {Kind: riskv1.EntryKind_ENTRY_KIND_ACCOUNT, Value: "acct-" + p},
		{Kind: riskv1.EntryKind_ENTRY_KIND_DEVICE, Value: "dev-" + q}}}); err != nil {
		t.Fatal(err)
	}
	listed := func(kind riskv1.EntryKind, v string) int {
		t.Helper()
		r, err := lists.LookupListValue(ctx, &riskv1.LookupListValueRequest{Kind: kind, Value: v})
		if err != nil {
			t.Fatal(err)
		}
		return len(r.GetMatches())
	}

	resp, err := privacy.EraseSubject(ctx, &riskv1.EraseSubjectRequest{Subjects: subjects})
	if err != nil {
		t.Fatal(err)
	}
	if c := resp.GetCounts(); c.GetListEntries() != 2 || listed(riskv1.EntryKind_ENTRY_KIND_DEVICE, "dev-"+p) != 0 ||
		listed(riskv1.EntryKind_ENTRY_KIND_ACCOUNT, "acct-"+p) != 0 || listed(riskv1.EntryKind_ENTRY_KIND_DEVICE, "dev-"+q) != 1 {
		t.Errorf("list entries erased: %d; want the person's 2 off the list and the other's kept", c.GetListEntries())
	}
	c := resp.GetCounts()
	if c.GetDecisions() != 2 || c.GetEvents() == 0 || c.GetLinks() == 0 || c.GetMarks() == 0 || c.GetSubjectIndex() == 0 || resp.GetErasureId() == "" {
		t.Errorf("erasure: %v", resp)
	}
	log, err := b.store.(store.Eraser).Erasures(ctx)
	if err != nil || len(log) != 1 || log[0].ID != resp.GetErasureId() || log[0].Caller != "anonymous" || log[0].Counts.Decisions != 2 || log[0].Counts.ListEntries != 2 {
		t.Errorf("erasure log = %+v, %v; want the receipt %s", log, err, resp.GetErasureId())
	}
	again, err := privacy.EraseSubject(ctx, &riskv1.EraseSubjectRequest{Subjects: subjects})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(again.GetCounts(), &riskv1.ErasureCounts{}) {
		t.Errorf("a repeat erased %v", again.GetCounts())
	}

	// pebble deletes obsolete files (the WAL and tables the erased values
	// were in) in the background, moments after the compaction.
	var all []byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		all = dump(t, b)
		held := ""
		for _, f := range forms {
			if bytes.Contains(all, f) {
				held = string(f)
			}
		}
		if held == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after erasure the store still holds %q", held)
		}
	}
	// The other customer is untouched.
	if !bytes.Contains(all, []byte(b.keys.Ref("acct-"+q))) {
		t.Error("the erasure removed another customer's history")
	}
	for _, d := range kept {
		resp, err := risk.GetDecision(ctx, &riskv1.GetDecisionRequest{DecisionId: d.GetDecisionId()})
		if err != nil {
			t.Fatal(err)
		}
		got := resp.GetDecision()
		raw, err := b.store.Facts(ctx, d.GetDecisionId())
		if err != nil {
			t.Fatal(err)
		}
		f := &riskv1.DecisionFacts{}
		if err := proto.Unmarshal(raw, f); err != nil || f.GetRequest() != nil || len(f.GetVerifiers()) == 0 {
			t.Errorf("facts of %s after erasure: %v, %v", d.GetDecisionId(), f, err)
		}
		for _, v := range f.GetVerifiers() {
			if len(v.GetSignals()) != 0 {
				t.Errorf("facts of %s keep %s's signals", d.GetDecisionId(), v.GetName())
			}
		}
		if got.GetOutcome() != d.GetOutcome() || got.GetScore() != d.GetScore() || len(got.GetReasons()) != len(d.GetReasons()) {
			t.Errorf("decision %s changed: %v, was %v", d.GetDecisionId(), got, d)
		}
	}
	exp, err = privacy.ExportSubject(ctx, &riskv1.ExportSubjectRequest{Subject: account})
	if err != nil || len(exp.GetDecisions())+len(exp.GetOutcomes()) != 0 {
		t.Errorf("export after erasure: %v, %v", exp, err)
	}

	// A new decision for the same person starts without history.
	if _, err := risk.ScoreGiftCardPurchase(ctx, gcAs(gcOrder(p, now), p+"-3")); err != nil {
		t.Fatal(err)
	}
	acct, _ := b.keys.Identifier(store.KindAccount, "acct-"+p)
	events, err := b.store.Events(ctx, history.SeriesGiftCard, acct, now.Add(-time.Hour), now.Add(time.Hour), 0)
	if err != nil || len(events) != 1 {
		t.Errorf("the account's history after erasure and one order: %v, %v", events, err)
	}

	_, err = privacy.EraseSubject(ctx, &riskv1.EraseSubjectRequest{Subjects: []*riskv1.Subject{{Kind: riskv1.SubjectKind_SUBJECT_KIND_MOBILE, Value: "--"}}})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("a blank phone: %v", err)
	}
}

// dump is everything the store holds, as bytes: the embedded store's
// files (after a flush and compaction, which Erase does), or a pg_dump of
// the PostgreSQL schema.
func dump(t *testing.T, b *booted) []byte {
	t.Helper()
	var all bytes.Buffer
	if b.embedded == nil {
		out, err := exec.Command("pg_dump", "--data-only", "-n", b.schema, pgtest.URL()).Output()
		if err != nil {
			t.Fatalf("pg_dump: %v", err)
		}
		return out
	}
	err := filepath.WalkDir(b.embedded.Dir(), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if os.IsNotExist(err) { // deleted by a compaction meanwhile
			return nil
		}
		all.Write(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// The keys and values too, in case a table compressed a value.
	if err := b.embedded.ForEachKV(func(k, v []byte) error { all.Write(k); all.Write(v); return nil }); err != nil {
		t.Fatal(err)
	}
	return all.Bytes()
}
