package server_test

// Issue 20, items 1-4: the review desk through the real server, on both
// stores. A held gift-card order opens a case; an analyst claims and
// resolves it, once; the caller learns the answer from
// WatchCaseResolutions; a case nobody resolved is resolved by its expiry
// action, once; everything is in the case's audit trail; and decisions
// are searched by filters and by an identifier hashed as at decision time.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/auth"
	"github.com/riskd/riskd/internal/policy"
	"github.com/riskd/riskd/internal/server"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// deskHarness is a riskd with its clock in the test's hands, and clients
// of its RiskService and ReviewService.
type deskHarness struct {
	*harness
	desk  riskv1.ReviewServiceClient
	clock *gcClock
}

// onBothStores runs fn against riskd on the embedded store and on
// PostgreSQL.
func onBothStores(t *testing.T, fn func(t *testing.T, h *deskHarness)) {
	for _, st := range []struct {
		name     string
		postgres bool
	}{{"embedded", false}, {"postgres", true}} {
		t.Run(st.name, func(t *testing.T) {
			clock := newGCClock(gcBase)
			s := setup{clock: clock.Now, postgres: st.postgres}
			if st.postgres {
				// Every verifier reads PostgreSQL, the first ones on a
				// fresh pool: budgets a loaded test box (two cores, -race)
				// meets, so a timeout cannot stand in for the outcome
				// these tests are about.
				s.policyYAML = roomyBudgets(policy.DefaultBytes())
			}
			h := start(t, s)
			fn(t, &deskHarness{harness: h, desk: riskv1.NewReviewServiceClient(h.conn), clock: clock})
		})
	}
}

// heldOrder is a coached victim's order (G1): on a call, with a
// remote-control app running, paid by a loan drawn an hour ago. The
// default policy holds its codes for review, due in 15 minutes.
func heldOrder(name string, now time.Time) *riskv1.ScoreGiftCardPurchaseRequest {
	r := gcOrder(name, now)
	r.Payment = &riskv1.PaymentInstrument{Fingerprint: "fp-" + name, Kind: riskv1.InstrumentKind_INSTRUMENT_KIND_LOAN,
		CreditDrawnAt: timestamppb.New(now.Add(-time.Hour))}
	r.Session.ActiveCall, r.Session.RemoteAccessApp = true, true
	return r
}

// hold scores a held order and checks it was held.
func (h *deskHarness) hold(t *testing.T, r *riskv1.ScoreGiftCardPurchaseRequest) *riskv1.Decision {
	t.Helper()
	d := gcScore(t, h.harness, r)
	if d.GetOutcome() != riskv1.Outcome_OUTCOME_REVIEW || !slices.Contains(d.GetActions(), riskv1.Action_ACTION_HOLD_CODE_DELIVERY) {
		t.Fatalf("%s: %v %v, want REVIEW holding the codes", r.GetRequestId(), d.GetOutcome(), d.GetActions())
	}
	return d
}

// errorReason is a status error's ErrorInfo reason.
func errorReason(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

func wantRefused(t *testing.T, what string, err error, code codes.Code, reason string) {
	t.Helper()
	if status.Code(err) != code || errorReason(err) != reason {
		t.Errorf("%s: %v (reason %q), want %v with reason %s", what, err, errorReason(err), code, reason)
	}
}

// watch opens WatchCaseResolutions and delivers its events on a channel;
// the stream ends with the test.
func watch(t *testing.T, c riskv1.ReviewServiceClient, req *riskv1.WatchCaseResolutionsRequest) (<-chan *riskv1.CaseEvent, <-chan error) {
	t.Helper()
	return watchAs(t, context.Background(), c, req)
}

// watchAs is watch with the caller's credentials in ctx.
func watchAs(t *testing.T, ctx context.Context, c riskv1.ReviewServiceClient, req *riskv1.WatchCaseResolutionsRequest) (<-chan *riskv1.CaseEvent, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	stream, err := c.WatchCaseResolutions(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	events, done := make(chan *riskv1.CaseEvent, 100), make(chan error, 1)
	go func() {
		for {
			resp, err := stream.Recv()
			if err != nil {
				done <- err
				return
			}
			events <- resp.GetEvent()
		}
	}()
	return events, done
}

func next(t *testing.T, events <-chan *riskv1.CaseEvent) *riskv1.CaseEvent {
	t.Helper()
	select {
	case ev := <-events:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no resolution came on the stream")
		return nil
	}
}

func nothingMore(t *testing.T, events <-chan *riskv1.CaseEvent) {
	t.Helper()
	select {
	case ev := <-events:
		t.Errorf("an unexpected event on the stream: %v", ev)
	case <-time.After(300 * time.Millisecond):
	}
}

// The whole path of a held order on each store: the decision opens a case
// due by the policy, the queue lists it, an analyst claims and confirms
// fraud, the caller watching the feed learns the order is declined and
// which related orders to freeze, the fraud marks the order's identifiers
// exactly as ReportOutcome would, and the audit trail says who did what.
func TestHeldOrderFromDecisionToCallerOnBothStores(t *testing.T) {
	onBothStores(t, func(t *testing.T, h *deskHarness) {
		ctx := context.Background()
		now := h.clock.Now()
		events, _ := watch(t, h.desk, &riskv1.WatchCaseResolutionsRequest{FromNow: true})
		// An earlier, approved order on the same device: its codes went out.
		earlier := gcOrder("earlier", now)
		earlier.Client.DeviceId = "dev-victim"
		if d := gcScore(t, h.harness, earlier); d.GetOutcome() != riskv1.Outcome_OUTCOME_APPROVE {
			t.Fatalf("the earlier order: %v", d.GetOutcome())
		}
		h.clock.Advance(time.Minute)
		order := heldOrder("victim", now)
		order.Client.DeviceId = "dev-victim"
		d := h.hold(t, order)

		queue, err := h.desk.ListCases(ctx, &riskv1.ListCasesRequest{Claim: riskv1.ClaimFilter_CLAIM_FILTER_UNCLAIMED})
		if err != nil || len(queue.GetCases()) != 1 {
			t.Fatalf("ListCases = %v, %v; want the held order", queue, err)
		}
		c := queue.GetCases()[0].GetCase()
		if c.GetDecisionId() != d.GetDecisionId() || c.GetState() != riskv1.CaseState_CASE_STATE_OPEN ||
			!c.GetDueAt().AsTime().Equal(d.GetDecidedAt().AsTime().Add(15*time.Minute)) || c.GetOnExpiry() != riskv1.ExpiryAction_EXPIRY_ACTION_DECLINE {
			t.Errorf("the case %v, want open, due 15 minutes after the decision (the coached pattern), declined on expiry", c)
		}
		if !proto.Equal(c.GetAmount(), order.GetTotal()) {
			t.Errorf("the case's amount: %v, want the order's total %v", c.GetAmount(), order.GetTotal())
		}
		if !proto.Equal(queue.GetCases()[0].GetDecision(), d) {
			t.Errorf("the queue's decision differs from the one answered")
		}

		_, err = h.desk.ResolveCase(ctx, &riskv1.ResolveCaseRequest{DecisionId: d.GetDecisionId(), Resolution: riskv1.CaseResolution_CASE_RESOLUTION_CONFIRMED_FRAUD})
		wantRefused(t, "resolving without a claim", err, codes.FailedPrecondition, "CLAIM_REQUIRED")
		claimed, err := h.desk.ClaimCase(ctx, &riskv1.ClaimCaseRequest{DecisionId: d.GetDecisionId()})
		if err != nil || claimed.GetCase().GetHolder() != "anonymous" ||
			!claimed.GetCase().GetClaimedUntil().AsTime().Equal(h.clock.Now().Add(5*time.Minute)) {
			t.Fatalf("ClaimCase = %v, %v; want held by the caller for 5 minutes", claimed, err)
		}
		h.clock.Advance(2 * time.Minute)
		res, err := h.desk.ResolveCase(ctx, &riskv1.ResolveCaseRequest{DecisionId: d.GetDecisionId(),
			Resolution: riskv1.CaseResolution_CASE_RESOLUTION_CONFIRMED_FRAUD, Note: "the holder confirmed a call from fake customer service"})
		if err != nil {
			t.Fatalf("ResolveCase: %v", err)
		}
		ev := res.GetEvent()
		if ev.GetOutcome() != riskv1.Outcome_OUTCOME_DECLINE || ev.GetLabel() != riskv1.OutcomeLabel_OUTCOME_LABEL_FRAUD_CONFIRMED ||
			ev.GetRequestId() != order.GetRequestId() || ev.GetActor() != "anonymous" || ev.GetSequence() == 0 {
			t.Errorf("the resolution %v, want DECLINE with FRAUD_CONFIRMED, the order's request ID, the actor and a sequence", ev)
		}
		if len(ev.GetRelated()) != 1 || !slices.Equal(ev.GetRelated()[0].GetShared(), []string{"device"}) ||
			!slices.Equal(ev.GetRelated()[0].GetActions(), []riskv1.Action{riskv1.Action_ACTION_FREEZE_ISSUED_CODES}) {
			t.Errorf("related orders %v, want the earlier order on the device, to freeze", ev.GetRelated())
		}
		if got := next(t, events); !proto.Equal(got, ev) {
			t.Errorf("the stream carried\n %v\nwant what ResolveCase answered\n %v", got, ev)
		}

		_, err = h.desk.ResolveCase(ctx, &riskv1.ResolveCaseRequest{DecisionId: d.GetDecisionId(), Resolution: riskv1.CaseResolution_CASE_RESOLUTION_LEGITIMATE})
		wantRefused(t, "resolving again", err, codes.FailedPrecondition, "CASE_RESOLVED")
		if !strings.Contains(status.Convert(err).Message(), "CONFIRMED_FRAUD by anonymous") {
			t.Errorf("the refusal %q does not say how the case was resolved", status.Convert(err).Message())
		}
		nothingMore(t, events)

		// The label marked the order's identifiers: a new account on the
		// victim's device is declined, as after ReportOutcome.
		later := gcOrder("after-fraud", h.clock.Now())
		later.Client.DeviceId = "dev-victim"
		if d := gcScore(t, h.harness, later); d.GetOutcome() != riskv1.Outcome_OUTCOME_DECLINE || !hasCode(d, "LINKED_TO_CONFIRMED_FRAUD") {
			t.Errorf("an order on the reported device: %v %v, want DECLINE with LINKED_TO_CONFIRMED_FRAUD", d.GetOutcome(), codes_(d))
		}

		got, err := h.desk.GetCase(ctx, &riskv1.GetCaseRequest{DecisionId: d.GetDecisionId()})
		if err != nil {
			t.Fatal(err)
		}
		if got.GetCase().GetState() != riskv1.CaseState_CASE_STATE_RESOLVED || got.GetCase().GetHolder() != "" ||
			got.GetCase().GetResolution() != riskv1.CaseResolution_CASE_RESOLUTION_CONFIRMED_FRAUD || !proto.Equal(got.GetDecision(), d) {
			t.Errorf("GetCase = %v", got)
		}
		audit := got.GetAudit()
		if len(audit) != 2 || audit[0].GetAction() != riskv1.AuditAction_AUDIT_ACTION_CLAIMED || audit[1].GetAction() != riskv1.AuditAction_AUDIT_ACTION_RESOLVED ||
			audit[1].GetNote() != "the holder confirmed a call from fake customer service" || audit[1].GetActor() != "anonymous" ||
			!audit[1].GetAt().AsTime().Equal(ev.GetResolvedAt().AsTime()) {
			t.Errorf("audit = %v, want the claim then the resolution with its note, who and when", audit)
		}
	})
}

// Two analysts at the same moment: only the holder resolves, and a
// double click resolves once; the other gets a reason, not a second
// resolution.
func TestOneResolutionOnlyWhenAnalystsRace(t *testing.T) {
	h := startSecure(t, withCallers(
		auth.Caller{Name: "ana", TokenSHA256: auth.HashToken("ana-token-0123456789abcdef"), Grants: []string{"/risk.v1.ReviewService/*", "/risk.v1.RiskService/*"}},
		auth.Caller{Name: "ben", TokenSHA256: auth.HashToken("ben-token-0123456789abcdef"), Grants: []string{"/risk.v1.ReviewService/*"}},
	))
	conn := h.dial(t, nil)
	risk, desk := riskv1.NewRiskServiceClient(conn), riskv1.NewReviewServiceClient(conn)
	ana, ben := bearer(context.Background(), "ana-token-0123456789abcdef"), bearer(context.Background(), "ben-token-0123456789abcdef")
	resp, err := risk.ScoreGiftCardPurchase(ana, heldOrder("race", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetDecision().GetDecisionId()
	if _, err := desk.ClaimCase(ana, &riskv1.ClaimCaseRequest{DecisionId: id}); err != nil {
		t.Fatal(err)
	}
	_, err = desk.ClaimCase(ben, &riskv1.ClaimCaseRequest{DecisionId: id})
	wantRefused(t, "ben claims ana's case", err, codes.FailedPrecondition, "CASE_CLAIMED")
	if !strings.Contains(status.Convert(err).Message(), "claimed by ana until") {
		t.Errorf("the refusal %q does not say who holds the case", status.Convert(err).Message())
	}
	const clicks = 8
	errs := make([]error, 2*clicks)
	var wg sync.WaitGroup
	for i := range errs {
		ctx := ana
		if i%2 == 1 {
			ctx = ben
		}
		wg.Go(func() {
			_, errs[i] = desk.ResolveCase(ctx, &riskv1.ResolveCaseRequest{DecisionId: id, Resolution: riskv1.CaseResolution_CASE_RESOLUTION_LEGITIMATE})
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
			if i%2 == 1 {
				t.Errorf("ben, who never held the case, resolved it")
			}
		case status.Code(err) != codes.FailedPrecondition || !slices.Contains([]string{"CASE_RESOLVED", "CASE_CLAIMED", "CLAIM_REQUIRED"}, errorReason(err)):
			t.Errorf("a losing resolution: %v (reason %q), want FAILED_PRECONDITION with a case reason", err, errorReason(err))
		}
	}
	if won != 1 {
		t.Fatalf("%d resolutions succeeded, want exactly 1", won)
	}
	got, err := desk.GetCase(ana, &riskv1.GetCaseRequest{DecisionId: id})
	if err != nil {
		t.Fatal(err)
	}
	var resolutions int
	for _, a := range got.GetAudit() {
		if a.GetAction() == riskv1.AuditAction_AUDIT_ACTION_RESOLVED {
			resolutions++
		}
	}
	if resolutions != 1 || got.GetCase().GetResolvedBy() != "ana" {
		t.Errorf("audit has %d resolutions, resolved by %q; want one, ana's", resolutions, got.GetCase().GetResolvedBy())
	}
	events, _ := watchAs(t, ben, desk, &riskv1.WatchCaseResolutionsRequest{})
	if ev := next(t, events); ev.GetDecisionId() != id || ev.GetActor() != "ana" {
		t.Errorf("feed: %v", ev)
	}
	nothingMore(t, events)
}

// A claim lapses: past its lease another analyst may take the case, and
// the first can no longer resolve it; a release gives it back at once.
func TestClaimLapsesAndIsReleased(t *testing.T) {
	clock := newGCClock(gcBase)
	h := startSecure(t, withClock(clock.Now), withCallers(
		auth.Caller{Name: "ana", TokenSHA256: auth.HashToken("ana-token-0123456789abcdef"), Grants: []string{"/risk.v1.ReviewService/*", "/risk.v1.RiskService/*"}},
		auth.Caller{Name: "ben", TokenSHA256: auth.HashToken("ben-token-0123456789abcdef"), Grants: []string{"/risk.v1.ReviewService/*"}},
	))
	conn := h.dial(t, nil)
	risk, desk := riskv1.NewRiskServiceClient(conn), riskv1.NewReviewServiceClient(conn)
	ana, ben := bearer(context.Background(), "ana-token-0123456789abcdef"), bearer(context.Background(), "ben-token-0123456789abcdef")
	resp, err := risk.ScoreGiftCardPurchase(ana, heldOrder("lapse", clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetDecision().GetDecisionId()
	claim := func(ctx context.Context) (*riskv1.ClaimCaseResponse, error) {
		return desk.ClaimCase(ctx, &riskv1.ClaimCaseRequest{DecisionId: id})
	}
	if _, err := claim(ana); err != nil {
		t.Fatal(err)
	}
	clock.Advance(4 * time.Minute)
	if c, err := claim(ana); err != nil || !c.GetCase().GetClaimedUntil().AsTime().Equal(clock.Now().Add(5*time.Minute)) {
		t.Fatalf("ana renews: %v, %v", c, err)
	}
	clock.Advance(5 * time.Minute)
	mine, err := desk.ListCases(ana, &riskv1.ListCasesRequest{Claim: riskv1.ClaimFilter_CLAIM_FILTER_MINE})
	if err != nil || len(mine.GetCases()) != 0 {
		t.Errorf("ana's cases after her lease ran out: %v, %v; want none", mine, err)
	}
	if c, err := claim(ben); err != nil || c.GetCase().GetHolder() != "ben" {
		t.Fatalf("ben takes the lapsed case: %v, %v", c, err)
	}
	_, err = desk.ResolveCase(ana, &riskv1.ResolveCaseRequest{DecisionId: id, Resolution: riskv1.CaseResolution_CASE_RESOLUTION_LEGITIMATE})
	wantRefused(t, "ana resolves after her lease", err, codes.FailedPrecondition, "CASE_CLAIMED")
	_, err = desk.ReleaseClaim(ana, &riskv1.ReleaseClaimRequest{DecisionId: id})
	wantRefused(t, "ana releases ben's claim", err, codes.FailedPrecondition, "CASE_CLAIMED")
	if r, err := desk.ReleaseClaim(ben, &riskv1.ReleaseClaimRequest{DecisionId: id}); err != nil || r.GetCase().GetHolder() != "" {
		t.Fatalf("ben releases: %v, %v", r, err)
	}
	if _, err := desk.AddCaseNote(ana, &riskv1.AddCaseNoteRequest{DecisionId: id, Note: "no answer on the number on file"}); err != nil {
		t.Fatal(err)
	}
	got, err := desk.GetCase(ana, &riskv1.GetCaseRequest{DecisionId: id})
	if err != nil {
		t.Fatal(err)
	}
	var trail []string
	for _, a := range got.GetAudit() {
		trail = append(trail, a.GetActor()+" "+strings.TrimPrefix(a.GetAction().String(), "AUDIT_ACTION_"))
	}
	if want := []string{"ana CLAIMED", "ana RENEWED", "ben CLAIMED", "ben RELEASED", "ana NOTED"}; !slices.Equal(trail, want) {
		t.Errorf("audit %v, want %v", trail, want)
	}
	_, err = desk.ClaimCase(ana, &riskv1.ClaimCaseRequest{DecisionId: "01900000-0000-7000-8000-000000000000"})
	wantRefused(t, "a claim on no case", err, codes.NotFound, "CASE_NOT_FOUND")
}

// A case nobody resolved in time is resolved by its expiry action, once,
// however many replicas' expiry loops run at that moment, and the caller
// is told on the stream like any resolution: held gift-card codes are
// declined by the default policy, a refund escalated, and a policy that
// releases releases.
func TestExpiryResolvesOverdueCasesOnceOnBothStores(t *testing.T) {
	onBothStores(t, func(t *testing.T, h *deskHarness) {
		ctx := context.Background()
		events, _ := watch(t, h.desk, &riskv1.WatchCaseResolutionsRequest{})
		held := h.hold(t, heldOrder("unanswered", h.clock.Now()))
		refund := overPaidRefund()
		refund.AmountRequested.AmountMinor = 10_000 // under what was paid: a new destination alone, a review
		refund.Destination = &riskv1.RefundDestination{Kind: riskv1.DestinationKind_DESTINATION_KIND_OTHER, Fingerprint: "acct-new"}
		rresp, err := h.client.EvaluateRefund(ctx, refund)
		if err != nil || rresp.GetDecision().GetOutcome() != riskv1.Outcome_OUTCOME_REVIEW {
			t.Fatalf("the refund: %v, %v; want REVIEW", rresp.GetDecision().GetOutcome(), err)
		}
		if n, err := h.srv.ExpireCases(ctx); err != nil || n != 0 {
			t.Fatalf("ExpireCases before anything is due: %d, %v", n, err)
		}
		h.clock.Advance(15 * time.Minute) // the held order's due time, to the nanosecond
		var wg sync.WaitGroup
		counts := make([]int, 4)
		for i := range counts {
			wg.Go(func() {
				n, err := h.srv.ExpireCases(ctx)
				if err != nil {
					t.Errorf("ExpireCases: %v", err)
				}
				counts[i] = n
			})
		}
		wg.Wait()
		if total := counts[0] + counts[1] + counts[2] + counts[3]; total != 1 {
			t.Errorf("4 expiry passes at once resolved %d cases, want the one due", total)
		}
		ev := next(t, events)
		if ev.GetDecisionId() != held.GetDecisionId() || ev.GetResolution() != riskv1.CaseResolution_CASE_RESOLUTION_EXPIRED_DECLINE ||
			ev.GetOutcome() != riskv1.Outcome_OUTCOME_DECLINE || len(ev.GetActions()) != 0 || ev.GetActor() != server.ExpiredActor ||
			ev.GetLabel() != riskv1.OutcomeLabel_OUTCOME_LABEL_UNSPECIFIED {
			t.Errorf("the held order's expiry %v, want EXPIRED_DECLINE: DECLINE, nothing released, no label, by %q", ev, server.ExpiredActor)
		}
		nothingMore(t, events)
		h.clock.Advance(24 * time.Hour)
		if n, err := h.srv.ExpireCases(ctx); err != nil || n != 1 {
			t.Fatalf("ExpireCases a day later: %d, %v; want the refund", n, err)
		}
		ev = next(t, events)
		if ev.GetDecisionId() != rresp.GetDecision().GetDecisionId() || ev.GetResolution() != riskv1.CaseResolution_CASE_RESOLUTION_ESCALATED ||
			ev.GetOutcome() != riskv1.Outcome_OUTCOME_REVIEW || !slices.Equal(ev.GetActions(), []riskv1.Action{riskv1.Action_ACTION_MANUAL_REVIEW}) {
			t.Errorf("the refund's expiry %v, want ESCALATED, still REVIEW, MANUAL_REVIEW", ev)
		}
		if got, err := h.desk.GetCase(ctx, &riskv1.GetCaseRequest{DecisionId: ev.GetDecisionId()}); err != nil || !proto.Equal(got.GetCase().GetAmount(), refund.GetAmountRequested()) {
			t.Errorf("the escalated refund's amount: %v, %v; want the refund asked for, %v", got.GetCase().GetAmount(), err, refund.GetAmountRequested())
		}
		// Escalated, it waits for a person, due no more.
		h.clock.Advance(72 * time.Hour)
		if n, err := h.srv.ExpireCases(ctx); err != nil || n != 0 {
			t.Errorf("ExpireCases on an escalated case: %d, %v; want none", n, err)
		}
		esc, err := h.desk.ListCases(ctx, &riskv1.ListCasesRequest{States: []riskv1.CaseState{riskv1.CaseState_CASE_STATE_ESCALATED}})
		if err != nil || len(esc.GetCases()) != 1 || esc.GetCases()[0].GetCase().GetDecisionId() != rresp.GetDecision().GetDecisionId() {
			t.Errorf("escalated cases: %v, %v", esc, err)
		}
		got, err := h.desk.GetCase(ctx, &riskv1.GetCaseRequest{DecisionId: held.GetDecisionId()})
		if err != nil || len(got.GetAudit()) != 1 || got.GetAudit()[0].GetAction() != riskv1.AuditAction_AUDIT_ACTION_EXPIRED ||
			got.GetAudit()[0].GetActor() != server.ExpiredActor {
			t.Errorf("the expired case's audit: %v, %v", got.GetAudit(), err)
		}
	})
}

func TestExpiryReleaseReleasesHeldCodes(t *testing.T) {
	doc := strings.Replace(string(policy.DefaultBytes()), "      due: 30m\n      on_expiry: decline\n", "      due: 30m\n      on_expiry: release\n", 1)
	doc = strings.Replace(doc, "        SOCIAL_ENGINEERING_PATTERN: {due: 15m}\n", "", 1)
	if !strings.Contains(doc, "on_expiry: release") {
		t.Fatal("the default policy's gift-card review block moved")
	}
	clock := newGCClock(gcBase)
	h := &deskHarness{harness: start(t, setup{clock: clock.Now, policyYAML: doc}), clock: clock}
	h.desk = riskv1.NewReviewServiceClient(h.conn)
	d := h.hold(t, heldOrder("release", clock.Now()))
	clock.Advance(30 * time.Minute)
	if n, err := h.srv.ExpireCases(context.Background()); err != nil || n != 1 {
		t.Fatalf("ExpireCases: %d, %v", n, err)
	}
	events, _ := watch(t, h.desk, &riskv1.WatchCaseResolutionsRequest{})
	ev := next(t, events)
	if ev.GetDecisionId() != d.GetDecisionId() || ev.GetResolution() != riskv1.CaseResolution_CASE_RESOLUTION_EXPIRED_RELEASE ||
		ev.GetOutcome() != riskv1.Outcome_OUTCOME_APPROVE || !slices.Equal(ev.GetActions(), []riskv1.Action{riskv1.Action_ACTION_RELEASE_CODE_DELIVERY}) {
		t.Errorf("expiry under release: %v, want APPROVE with RELEASE_CODE_DELIVERY", ev)
	}
}

// The feed from a cursor: a consumer that resumes after the last sequence
// it handled gets every later resolution once, in order, including those
// made while it was away; from_now skips the past; a check filter leaves
// others out but not the sequence.
func TestWatchResumesFromItsCursorOnBothStores(t *testing.T) {
	onBothStores(t, func(t *testing.T, h *deskHarness) {
		ctx := context.Background()
		resolve := func(name string, r riskv1.CaseResolution) *riskv1.CaseEvent {
			d := h.hold(t, heldOrder(name, h.clock.Now()))
			if _, err := h.desk.ClaimCase(ctx, &riskv1.ClaimCaseRequest{DecisionId: d.GetDecisionId()}); err != nil {
				t.Fatal(err)
			}
			res, err := h.desk.ResolveCase(ctx, &riskv1.ResolveCaseRequest{DecisionId: d.GetDecisionId(), Resolution: r})
			if err != nil {
				t.Fatal(err)
			}
			return res.GetEvent()
		}
		first := resolve("w1", riskv1.CaseResolution_CASE_RESOLUTION_LEGITIMATE)
		if !slices.Equal(first.GetActions(), []riskv1.Action{riskv1.Action_ACTION_RELEASE_CODE_DELIVERY}) || first.GetOutcome() != riskv1.Outcome_OUTCOME_APPROVE {
			t.Errorf("legitimate: %v, want APPROVE releasing the held codes", first)
		}
		second := resolve("w2", riskv1.CaseResolution_CASE_RESOLUTION_NEEDS_HOLDER_CONFIRMATION)
		if second.GetOutcome() != riskv1.Outcome_OUTCOME_REVIEW || second.GetLabel() != riskv1.OutcomeLabel_OUTCOME_LABEL_UNSPECIFIED ||
			!slices.Equal(second.GetActions(), []riskv1.Action{riskv1.Action_ACTION_CONFIRM_WITH_ACCOUNT_HOLDER, riskv1.Action_ACTION_HOLD_CODE_DELIVERY}) {
			t.Errorf("needs the holder: %v, want REVIEW, codes held, confirm with the holder, no label", second)
		}
		if second.GetSequence() != first.GetSequence()+1 {
			t.Errorf("sequences %d then %d, want consecutive", first.GetSequence(), second.GetSequence())
		}
		all, _ := watch(t, h.desk, &riskv1.WatchCaseResolutionsRequest{})
		if a, b := next(t, all), next(t, all); !proto.Equal(a, first) || !proto.Equal(b, second) {
			t.Errorf("from the start: %v, %v; want the two resolutions in order", a, b)
		}
		resumed, _ := watch(t, h.desk, &riskv1.WatchCaseResolutionsRequest{AfterSequence: first.GetSequence()})
		if ev := next(t, resumed); !proto.Equal(ev, second) {
			t.Errorf("resumed after %d: %v, want %v", first.GetSequence(), ev, second)
		}
		fromNow, _ := watch(t, h.desk, &riskv1.WatchCaseResolutionsRequest{FromNow: true})
		refundsOnly, _ := watch(t, h.desk, &riskv1.WatchCaseResolutionsRequest{Checks: []riskv1.Check{riskv1.Check_CHECK_REFUND}})
		nothingMore(t, fromNow)
		third := resolve("w3", riskv1.CaseResolution_CASE_RESOLUTION_CONFIRMED_FRAUD)
		for name, ch := range map[string]<-chan *riskv1.CaseEvent{"from the start": all, "resumed": resumed, "from now": fromNow} {
			if ev := next(t, ch); !proto.Equal(ev, third) {
				t.Errorf("%s: %v, want the new resolution %v", name, ev, third)
			}
		}
		nothingMore(t, refundsOnly)
		_, err := h.desk.WatchCaseResolutions(ctx, &riskv1.WatchCaseResolutionsRequest{FromNow: true, AfterSequence: 3})
		if err == nil {
			stream, _ := h.desk.WatchCaseResolutions(ctx, &riskv1.WatchCaseResolutionsRequest{FromNow: true, AfterSequence: 3})
			_, err = stream.Recv()
		}
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("from_now with a cursor: %v, want INVALID_ARGUMENT", err)
		}
	})
}

// Draining ends the streams with UNAVAILABLE and a cursor to resume from,
// so that consumers move to another replica and the graceful stop does
// not wait on them.
func TestDrainEndsWatches(t *testing.T) {
	h := start(t, setup{})
	desk := riskv1.NewReviewServiceClient(h.conn)
	_, done := watch(t, desk, &riskv1.WatchCaseResolutionsRequest{})
	time.Sleep(100 * time.Millisecond)
	h.srv.Drain()
	select {
	case err := <-done:
		if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "resume after sequence 0") {
			t.Errorf("the stream ended with %v, want UNAVAILABLE saying where to resume", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream outlived the drain")
	}
}

// listAllDecisions pages through a listing; between, if set, runs after
// each page.
func listAllDecisions(t *testing.T, desk riskv1.ReviewServiceClient, req *riskv1.ListDecisionsRequest, between func()) []string {
	t.Helper()
	var ids []string
	for range 100 {
		resp, err := desk.ListDecisions(context.Background(), req)
		if err != nil {
			t.Fatalf("ListDecisions: %v", err)
		}
		for _, d := range resp.GetDecisions() {
			ids = append(ids, d.GetDecision().GetDecisionId())
		}
		if resp.GetNextPageToken() == "" {
			return ids
		}
		req = proto.CloneOf(req)
		req.PageToken = resp.GetNextPageToken()
		if between != nil {
			between()
		}
	}
	t.Fatal("the listing never ended")
	return nil
}

// Searching decisions (item 1) on both stores: newest first, pages that
// neither repeat nor skip while decisions arrive, filters, an identifier
// typed another way found as riskd hashed it at decision time, and page
// tokens that cannot be forged or carried to other filters.
func TestListDecisionsOnBothStores(t *testing.T) {
	onBothStores(t, func(t *testing.T, h *deskHarness) {
		ctx := context.Background()
		var want []string
		for i := range 5 {
			r := gcOrder(fmt.Sprintf("list-%d", i), h.clock.Now())
			if i%2 == 0 {
				r = heldOrder(fmt.Sprintf("list-%d", i), h.clock.Now())
			}
			r.Recipient = &riskv1.Recipient{Phone: "13800138000", OwnedByAccount: true, AddedAt: timestamppb.New(gcBase.AddDate(-1, 0, 0))}
			want = append([]string{gcScore(t, h.harness, r).GetDecisionId()}, want...)
			h.clock.Advance(time.Second)
		}
		n := 0
		got := listAllDecisions(t, h.desk, &riskv1.ListDecisionsRequest{PageSize: 2}, func() {
			n++
			gcScore(t, h.harness, gcOrder(fmt.Sprintf("late-%d", n), h.clock.Now().Add(time.Hour)))
			h.clock.Advance(time.Second)
		})
		if !slices.Equal(got, want) {
			t.Errorf("pages of 2 while decisions arrive:\n got  %v\n want %v", got, want)
		}
		// The recipient's phone as a person would type it.
		byPhone := listAllDecisions(t, h.desk, &riskv1.ListDecisionsRequest{
			Subject: &riskv1.Subject{Kind: riskv1.SubjectKind_SUBJECT_KIND_RECIPIENT, Value: "+86 138-0013-8000"}}, nil)
		if !slices.Equal(byPhone, want) {
			t.Errorf("by the recipient's phone typed another way: %v, want %v", byPhone, want)
		}
		held := listAllDecisions(t, h.desk, &riskv1.ListDecisionsRequest{
			Subject:    &riskv1.Subject{Kind: riskv1.SubjectKind_SUBJECT_KIND_RECIPIENT, Value: "13800138000"},
			CaseFilter: riskv1.CaseFilter_CASE_FILTER_OPEN, Actions: []riskv1.Action{riskv1.Action_ACTION_HOLD_CODE_DELIVERY},
			ReasonCode: "SOCIAL_ENGINEERING_PATTERN", Checks: []riskv1.Check{riskv1.Check_CHECK_GIFT_CARD_PURCHASE},
			Outcomes: []riskv1.Outcome{riskv1.Outcome_OUTCOME_REVIEW}, DecidedAfter: timestamppb.New(gcBase), DecidedBefore: timestamppb.New(h.clock.Now()),
		}, nil)
		if !slices.Equal(held, []string{want[0], want[2], want[4]}) {
			t.Errorf("held orders to the phone with open cases: %v, want %v", held, []string{want[0], want[2], want[4]})
		}
		if got := listAllDecisions(t, h.desk, &riskv1.ListDecisionsRequest{
			Subject: &riskv1.Subject{Kind: riskv1.SubjectKind_SUBJECT_KIND_MOBILE, Value: "13800138000"}}, nil); len(got) != 0 {
			t.Errorf("the phone as a seller's mobile (another kind) finds %v, want none", got)
		}
		if got := listAllDecisions(t, h.desk, &riskv1.ListDecisionsRequest{PolicyVersion: "sha256:none"}, nil); len(got) != 0 {
			t.Errorf("another policy version finds %v", got)
		}

		first, err := h.desk.ListDecisions(ctx, &riskv1.ListDecisionsRequest{PageSize: 1})
		if err != nil || first.GetNextPageToken() == "" {
			t.Fatal(first, err)
		}
		tok := first.GetNextPageToken()
		for name, req := range map[string]*riskv1.ListDecisionsRequest{
			"a token for other filters":  {PageSize: 1, PageToken: tok, Checks: []riskv1.Check{riskv1.Check_CHECK_REFUND}},
			"a token changed by a digit": {PageSize: 1, PageToken: flipLast(tok)},
			"a token riskd never made":   {PageToken: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		} {
			_, err := h.desk.ListDecisions(ctx, req)
			if !violated(err, "page_token", "page_token.invalid") {
				t.Errorf("%s: %v, want INVALID_ARGUMENT on page_token", name, err)
			}
		}
		if _, err := h.desk.ListDecisions(ctx, &riskv1.ListDecisionsRequest{PageSize: 7, PageToken: tok}); err != nil {
			t.Errorf("the same filters with another page size: %v", err)
		}
		_, err = h.desk.ListDecisions(ctx, &riskv1.ListDecisionsRequest{Subject: &riskv1.Subject{Kind: riskv1.SubjectKind_SUBJECT_KIND_MOBILE, Value: "no digits"}})
		if !violated(err, "subject.value", "subject.blank") {
			t.Errorf("a phone without digits: %v, want INVALID_ARGUMENT on subject.value", err)
		}
		_, err = h.desk.ListDecisions(ctx, &riskv1.ListDecisionsRequest{PageSize: 501})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("a page of 501: %v, want INVALID_ARGUMENT", err)
		}
		_, err = h.desk.ListDecisions(ctx, &riskv1.ListDecisionsRequest{DecidedAfter: timestamppb.New(gcBase), DecidedBefore: timestamppb.New(gcBase)})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("an empty time range: %v, want INVALID_ARGUMENT", err)
		}
	})
}

// flipLast changes a token's last character.
func flipLast(tok string) string {
	last := tok[len(tok)-1]
	repl := byte('A')
	if last == 'A' {
		repl = 'B'
	}
	return tok[:len(tok)-1] + string(repl)
}

// Grants (item 4): the review desk's methods are granted one by one like
// any other. A reader may list and read cases but not claim, resolve,
// release, note or watch; nobody unauthenticated may open the stream.
func TestReviewGrants(t *testing.T) {
	const readerToken, deskToken = "reader-token-0123456789abcdef", "desk-token-0123456789abcdef"
	h := startSecure(t, withCallers(
		auth.Caller{Name: "reader", TokenSHA256: auth.HashToken(readerToken), Grants: []string{
			"/risk.v1.ReviewService/ListDecisions", "/risk.v1.ReviewService/ListCases", "/risk.v1.ReviewService/GetCase"}},
		auth.Caller{Name: "desk", TokenSHA256: auth.HashToken(deskToken), Grants: []string{"/risk.v1.ReviewService/*", "/risk.v1.RiskService/ScoreGiftCardPurchase"}},
	))
	conn := h.dial(t, nil)
	desk := riskv1.NewReviewServiceClient(conn)
	reader, analyst := bearer(context.Background(), readerToken), bearer(context.Background(), deskToken)
	resp, err := riskv1.NewRiskServiceClient(conn).ScoreGiftCardPurchase(analyst, heldOrder("grants", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetDecision().GetDecisionId()
	if _, err := desk.ListCases(reader, &riskv1.ListCasesRequest{}); err != nil {
		t.Errorf("reader lists cases: %v", err)
	}
	if _, err := desk.GetCase(reader, &riskv1.GetCaseRequest{DecisionId: id}); err != nil {
		t.Errorf("reader reads the case: %v", err)
	}
	for name, call := range map[string]func(context.Context) error{
		"ClaimCase": func(ctx context.Context) error {
			_, err := desk.ClaimCase(ctx, &riskv1.ClaimCaseRequest{DecisionId: id})
			return err
		},
		"ResolveCase": func(ctx context.Context) error {
			_, err := desk.ResolveCase(ctx, &riskv1.ResolveCaseRequest{DecisionId: id, Resolution: riskv1.CaseResolution_CASE_RESOLUTION_LEGITIMATE})
			return err
		},
		"ReleaseClaim": func(ctx context.Context) error {
			_, err := desk.ReleaseClaim(ctx, &riskv1.ReleaseClaimRequest{DecisionId: id})
			return err
		},
		"AddCaseNote": func(ctx context.Context) error {
			_, err := desk.AddCaseNote(ctx, &riskv1.AddCaseNoteRequest{DecisionId: id, Note: "n"})
			return err
		},
		"ListRelatedDecisions": func(ctx context.Context) error {
			_, err := desk.ListRelatedDecisions(ctx, &riskv1.ListRelatedDecisionsRequest{DecisionId: id})
			return err
		},
		"WatchCaseResolutions": func(ctx context.Context) error {
			stream, err := desk.WatchCaseResolutions(ctx, &riskv1.WatchCaseResolutionsRequest{})
			if err != nil {
				return err
			}
			_, err = stream.Recv()
			return err
		},
	} {
		if err := call(reader); status.Code(err) != codes.PermissionDenied {
			t.Errorf("reader calls %s: %v, want PERMISSION_DENIED", name, err)
		}
		if err := call(context.Background()); status.Code(err) != codes.Unauthenticated {
			t.Errorf("%s without credentials: %v, want UNAUTHENTICATED", name, err)
		}
	}
	if _, err := desk.ClaimCase(analyst, &riskv1.ClaimCaseRequest{DecisionId: id}); err != nil {
		t.Fatalf("desk claims: %v", err)
	}
	got, err := desk.GetCase(reader, &riskv1.GetCaseRequest{DecisionId: id})
	if err != nil || got.GetCase().GetHolder() != "desk" || len(got.GetAudit()) != 1 || got.GetAudit()[0].GetActor() != "desk" {
		t.Errorf("the case after desk's claim: %v, %v; want held by desk, its audit naming desk", got, err)
	}
	events, _ := watchAs(t, analyst, desk, &riskv1.WatchCaseResolutionsRequest{})
	if _, err := desk.ResolveCase(analyst, &riskv1.ResolveCaseRequest{DecisionId: id, Resolution: riskv1.CaseResolution_CASE_RESOLUTION_LEGITIMATE}); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, events); ev.GetActor() != "desk" {
		t.Errorf("the resolution on desk's stream: %v", ev)
	}
}

// The stream's calls are logged like unary calls: one line when the
// stream ends, with the caller.
func TestWatchIsLoggedWithItsCaller(t *testing.T) {
	var logs logBuffer
	b := boot(t, bootOptions{logs: &logs})
	desk := riskv1.NewReviewServiceClient(b.dial(t))
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := desk.WatchCaseResolutions(ctx, &riskv1.WatchCaseResolutionsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	go func() { time.Sleep(200 * time.Millisecond); cancel() }()
	if _, err := stream.Recv(); status.Code(err) != codes.Canceled && !errors.Is(err, io.EOF) {
		t.Fatalf("Recv: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(callLines(t, &logs, "WatchCaseResolutions")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no call log line for the stream")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if line := callLines(t, &logs, "WatchCaseResolutions")[0]; line["caller"] != "anonymous" || line["grpc.service"] != "risk.v1.ReviewService" {
		t.Errorf("the stream's line %v, want its caller and service", line)
	}
}

// The loop riskd runs (RunCaseExpiry, every --case-expiry-interval)
// resolves a case soon after its due time without anyone asking, and the
// caller watching learns it.
func TestCaseExpiryLoopTellsTheCaller(t *testing.T) {
	clock := newGCClock(gcBase)
	h := &deskHarness{harness: start(t, setup{clock: clock.Now}), clock: clock}
	h.desk = riskv1.NewReviewServiceClient(h.conn)
	events, _ := watch(t, h.desk, &riskv1.WatchCaseResolutionsRequest{FromNow: true})
	d := h.hold(t, heldOrder("loop", clock.Now()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.srv.RunCaseExpiry(ctx, 10*time.Millisecond) }()
	defer func() { cancel(); <-done }()
	nothingMore(t, events)
	clock.Advance(15 * time.Minute)
	if ev := next(t, events); ev.GetDecisionId() != d.GetDecisionId() || ev.GetResolution() != riskv1.CaseResolution_CASE_RESOLUTION_EXPIRED_DECLINE {
		t.Errorf("the loop's expiry: %v", ev)
	}
}

// The caller may learn the truth before any analyst does (the account
// holder called back) and report it with ReportOutcome: the report
// answers the case, by the caller, with the label reported, so nobody
// works it any more and its expiry cannot decline an order the caller
// confirmed. A report on a case resolved already changes no case.
func TestReportOutcomeAnswersTheCaseOnBothStores(t *testing.T) {
	onBothStores(t, func(t *testing.T, h *deskHarness) {
		ctx := context.Background()
		events, _ := watch(t, h.desk, &riskv1.WatchCaseResolutionsRequest{FromNow: true})
		legit := h.hold(t, heldOrder("reported-legit", h.clock.Now()))
		resp, err := h.client.ReportOutcome(ctx, &riskv1.ReportOutcomeRequest{DecisionId: legit.GetDecisionId(),
			Label: riskv1.OutcomeLabel_OUTCOME_LABEL_LEGITIMATE, Note: "the holder confirmed the order"})
		if err != nil || !slices.Equal(resp.GetActions(), []riskv1.Action{riskv1.Action_ACTION_RELEASE_CODE_DELIVERY}) {
			t.Fatalf("ReportOutcome: %v, %v", resp, err)
		}
		ev := next(t, events)
		if ev.GetDecisionId() != legit.GetDecisionId() || ev.GetResolution() != riskv1.CaseResolution_CASE_RESOLUTION_LEGITIMATE ||
			ev.GetOutcome() != riskv1.Outcome_OUTCOME_APPROVE || ev.GetActor() != "anonymous" ||
			!slices.Equal(ev.GetActions(), resp.GetActions()) {
			t.Errorf("the report's resolution: %v, want LEGITIMATE, APPROVE, by the caller, releasing as ReportOutcome answered", ev)
		}
		charged := h.hold(t, heldOrder("reported-chargeback", h.clock.Now()))
		if _, err := h.client.ReportOutcome(ctx, &riskv1.ReportOutcomeRequest{DecisionId: charged.GetDecisionId(),
			Label: riskv1.OutcomeLabel_OUTCOME_LABEL_CHARGEBACK}); err != nil {
			t.Fatal(err)
		}
		if ev := next(t, events); ev.GetResolution() != riskv1.CaseResolution_CASE_RESOLUTION_CONFIRMED_FRAUD ||
			ev.GetLabel() != riskv1.OutcomeLabel_OUTCOME_LABEL_CHARGEBACK || ev.GetOutcome() != riskv1.Outcome_OUTCOME_DECLINE {
			t.Errorf("a chargeback's resolution: %v, want CONFIRMED_FRAUD with the label CHARGEBACK as reported", ev)
		}
		// Reported again, or otherwise: the case is answered already.
		if _, err := h.client.ReportOutcome(ctx, &riskv1.ReportOutcomeRequest{DecisionId: legit.GetDecisionId(),
			Label: riskv1.OutcomeLabel_OUTCOME_LABEL_FRAUD_CONFIRMED}); err != nil {
			t.Fatal(err)
		}
		nothingMore(t, events)
		h.clock.Advance(time.Hour)
		if n, err := h.srv.ExpireCases(ctx); err != nil || n != 0 {
			t.Errorf("ExpireCases after the reports: %d, %v; want none left to expire", n, err)
		}
		got, err := h.desk.GetCase(ctx, &riskv1.GetCaseRequest{DecisionId: legit.GetDecisionId()})
		if err != nil || got.GetCase().GetResolvedBy() != "anonymous" || len(got.GetAudit()) != 1 ||
			got.GetAudit()[0].GetNote() != "the holder confirmed the order" {
			t.Errorf("the reported case: %v, %v", got, err)
		}
	})
}

// ListRelatedDecisions (item 6's "related decisions") finds the decisions
// that share a device, an instrument or a recipient with a held order,
// names what they share, leaves out the order itself and an unrelated
// one, honours the kinds asked for and the page size, and says when the
// list is cut; on both stores.
func TestListRelatedDecisionsOnBothStores(t *testing.T) {
	onBothStores(t, func(t *testing.T, h *deskHarness) {
		ctx := context.Background()
		now := h.clock.Now()
		score := func(r *riskv1.ScoreGiftCardPurchaseRequest) string {
			h.clock.Advance(time.Second)
			return gcScore(t, h.harness, r).GetDecisionId()
		}
		sameDevice := gcOrder("same-device", now)
		sameDevice.Client.DeviceId = "dev-held"
		sameCard := gcOrder("same-card", now)
		sameCard.Payment.Fingerprint = "fp-held"
		both := gcOrder("both", now)
		both.Client.DeviceId, both.Payment.Fingerprint = "dev-held", "fp-held"
		ids := map[string]string{}
		for _, r := range []*riskv1.ScoreGiftCardPurchaseRequest{sameDevice, sameCard, both, gcOrder("stranger", now)} {
			ids[strings.TrimPrefix(r.GetRequestId(), "req-")] = score(r)
		}
		held := heldOrder("held", now)
		held.Client.DeviceId = "dev-held"
		h.clock.Advance(time.Second)
		d := h.hold(t, held)

		type row struct {
			id     string
			shared []riskv1.SubjectKind
		}
		list := func(req *riskv1.ListRelatedDecisionsRequest) ([]row, bool) {
			t.Helper()
			req.DecisionId = d.GetDecisionId()
			resp, err := h.desk.ListRelatedDecisions(ctx, req)
			if err != nil {
				t.Fatalf("ListRelatedDecisions(%v): %v", req, err)
			}
			var out []row
			for _, r := range resp.GetDecisions() {
				out = append(out, row{r.GetDecision().GetDecisionId(), r.GetShared()})
			}
			return out, resp.GetTruncated()
		}
		device, instrument := riskv1.SubjectKind_SUBJECT_KIND_DEVICE, riskv1.SubjectKind_SUBJECT_KIND_INSTRUMENT
		want := []row{ // newest first
			{ids["both"], []riskv1.SubjectKind{device, instrument}},
			{ids["same-card"], []riskv1.SubjectKind{instrument}},
			{ids["same-device"], []riskv1.SubjectKind{device}},
		}
		eq := func(a, b row) bool { return a.id == b.id && slices.Equal(a.shared, b.shared) }
		if got, cut := list(&riskv1.ListRelatedDecisionsRequest{}); !slices.EqualFunc(got, want, eq) || cut {
			t.Errorf("related: %v (truncated %v), want %v, not truncated", got, cut, want)
		}
		if got, _ := list(&riskv1.ListRelatedDecisionsRequest{Kinds: []riskv1.SubjectKind{device}}); len(got) != 2 ||
			got[0].id != ids["both"] || got[1].id != ids["same-device"] || !slices.Equal(got[0].shared, []riskv1.SubjectKind{device}) {
			t.Errorf("related by device only: %v, want both and same-device, sharing the device", got)
		}
		if got, cut := list(&riskv1.ListRelatedDecisionsRequest{PageSize: 1}); len(got) != 1 || got[0].id != ids["both"] || !cut {
			t.Errorf("one related: %v (truncated %v), want the newest, truncated", got, cut)
		}
		_, err := h.desk.ListRelatedDecisions(ctx, &riskv1.ListRelatedDecisionsRequest{DecisionId: "no-such-decision"})
		wantRefused(t, "an unknown decision", err, codes.NotFound, "DECISION_NOT_FOUND")
	})
}
