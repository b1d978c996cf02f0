package server

import (
	"strings"
	"testing"

	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// The API's review enums are the store's numbers (the handlers convert by
// a cast): a value added to one and not the other, or renumbered, fails
// here by name.
func TestReviewEnumsAreTheStoresNumbers(t *testing.T) {
	for k := store.Kind(1); k.Valid(); k++ {
		if k == store.KindIP || k == store.KindPhone || k == store.KindEmailDomain {
			continue // not searchable: no decision is indexed by them (lists use them)
		}
		if got, want := riskv1.SubjectKind(k).String(), "SUBJECT_KIND_"+strings.ToUpper(k.Name()); got != want {
			t.Errorf("store.Kind %d is %s in the API, want %s", k, got, want)
		}
	}
	// The entry kinds of lists are the store's numbers too (ListListEntries
	// converts by a cast).
	for ek, k := range entryKinds {
		if int(ek) != int(k) || ek.String() != "ENTRY_KIND_"+strings.ToUpper(k.Name()) {
			t.Errorf("entry kind %s is store.Kind %d (%s)", ek, k, k.Name())
		}
	}
	if len(entryKinds) != len(riskv1.EntryKind_name)-1 {
		t.Errorf("%d entry kinds mapped, the API has %d", len(entryKinds), len(riskv1.EntryKind_name)-1)
	}
	if n := len(riskv1.SubjectKind_name); n != int(store.KindIP) {
		t.Errorf("the API has %d subject kinds, want the store's %d but IP and the unspecified one", n-1, store.KindIP-1)
	}
	for a, want := range map[store.ExpiryAction]string{store.ExpireRelease: "RELEASE", store.ExpireDecline: "DECLINE", store.ExpireEscalate: "ESCALATE"} {
		if got := riskv1.ExpiryAction(a).String(); got != "EXPIRY_ACTION_"+want {
			t.Errorf("ExpiryAction %d: %s", a, got)
		}
	}
	for s, want := range map[store.CaseState]string{store.CaseOpen: "OPEN", store.CaseEscalated: "ESCALATED", store.CaseResolved: "RESOLVED"} {
		if got := riskv1.CaseState(s).String(); got != "CASE_STATE_"+want {
			t.Errorf("CaseState %d: %s", s, got)
		}
	}
	for v, want := range map[store.Verdict]string{
		store.VerdictConfirmedFraud: "CONFIRMED_FRAUD", store.VerdictLegitimate: "LEGITIMATE", store.VerdictNeedsHolderConfirmation: "NEEDS_HOLDER_CONFIRMATION",
		store.VerdictExpiredRelease: "EXPIRED_RELEASE", store.VerdictExpiredDecline: "EXPIRED_DECLINE", store.VerdictEscalated: "ESCALATED",
	} {
		if got := riskv1.CaseResolution(v).String(); got != "CASE_RESOLUTION_"+want {
			t.Errorf("Verdict %d: %s", v, got)
		}
	}
	for a, want := range map[store.AuditAction]string{
		store.AuditClaimed: "CLAIMED", store.AuditRenewed: "RENEWED", store.AuditReleased: "RELEASED", store.AuditResolved: "RESOLVED",
		store.AuditExpired: "EXPIRED", store.AuditEscalated: "ESCALATED", store.AuditNoted: "NOTED",
	} {
		if got := riskv1.AuditAction(a).String(); got != "AUDIT_ACTION_"+want {
			t.Errorf("AuditAction %d: %s", a, got)
		}
	}
	for f, want := range map[store.CaseFilter]string{store.AnyCase: "UNSPECIFIED", store.OpenCase: "OPEN", store.ResolvedCase: "RESOLVED"} {
		if got := riskv1.CaseFilter(f).String(); got != "CASE_FILTER_"+want {
			t.Errorf("CaseFilter %d: %s", f, got)
		}
	}
}
