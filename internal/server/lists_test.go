package server_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/policy"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// listHarness is a riskd with its lists client.
type listHarness struct {
	*harness
	lists riskv1.ListServiceClient
}

func startLists(t *testing.T, s setup) listHarness {
	h := start(t, s)
	return listHarness{h, riskv1.NewListServiceClient(h.conn)}
}

func (h listHarness) create(t *testing.T, name string, p riskv1.ListPurpose) {
	t.Helper()
	if _, err := h.lists.CreateList(t.Context(), &riskv1.CreateListRequest{Name: name, Purpose: p, Description: "test"}); err != nil {
		t.Fatalf("CreateList(%s): %v", name, err)
	}
}

func (h listHarness) add(t *testing.T, list string, kind riskv1.EntryKind, value string) string {
	t.Helper()
	resp, err := h.lists.AddListEntries(t.Context(), &riskv1.AddListEntriesRequest{List: list,
		Entries: []*riskv1.NewListEntry{{Kind: kind, Value: value, Reason: "police notice 118"}}})
	if err != nil {
		t.Fatalf("AddListEntries(%s): %v", list, err)
	}
	return resp.GetEntryIds()[0]
}

var listRequestSeq int

// decide sends a copy of req with a fresh request ID.
func (h listHarness) decide(t *testing.T, req any) *riskv1.Decision {
	t.Helper()
	listRequestSeq++
	id := fmt.Sprintf("req-lists-%d", listRequestSeq)
	ctx := t.Context()
	var d *riskv1.Decision
	var err error
	switch r := req.(type) {
	case *riskv1.CheckSellerRequest:
		r.RequestId = id
		var resp *riskv1.CheckSellerResponse
		resp, err = h.client.CheckSeller(ctx, r)
		d = resp.GetDecision()
	case *riskv1.ScoreGiftCardPurchaseRequest:
		r.RequestId = id
		var resp *riskv1.ScoreGiftCardPurchaseResponse
		resp, err = h.client.ScoreGiftCardPurchase(ctx, r)
		d = resp.GetDecision()
	case *riskv1.EvaluateRefundRequest:
		r.RequestId = id
		var resp *riskv1.EvaluateRefundResponse
		resp, err = h.client.EvaluateRefund(ctx, r)
		d = resp.GetDecision()
	}
	if err != nil {
		t.Fatalf("decide: %v", err)
	}
	return d
}

func listSignal(d *riskv1.Decision, name string) (*riskv1.Signal, bool) {
	for _, s := range d.GetSignals() {
		if s.GetName() == name {
			return s, true
		}
	}
	return nil, false
}

func reasonOf(d *riskv1.Decision, code string) *riskv1.Reason {
	for _, r := range d.GetReasons() {
		if r.GetCode() == code && !r.GetShadow() {
			return r
		}
	}
	return nil
}

// A seller whose mobile is on a block list is declined, and the decision
// names the list and the entry, never the number; once the entry is
// removed, the next decision passes. On both stores.
func TestBlockListDeclinesAndNamesTheEntry(t *testing.T) {
	for _, pg := range []bool{false, true} {
		t.Run(map[bool]string{false: "embedded", true: "postgres"}[pg], func(t *testing.T) {
			s := setup{postgres: pg}
			if pg {
				// Every verifier reads PostgreSQL: budgets a loaded test box
				// (two cores, -race) meets, so a timeout cannot stand in for
				// the outcome this test is about.
				s.policyYAML = roomyBudgets(policy.DefaultBytes())
			}
			h := startLists(t, s)
			clean := h.decide(t, cleanSeller())
			if clean.GetOutcome() != riskv1.Outcome_OUTCOME_APPROVE {
				t.Fatalf("clean seller: %v %v, want APPROVE before any list", clean.GetOutcome(), codes_(clean))
			}
			if s, ok := listSignal(clean, "lists.block"); !ok || s.GetBoolValue() {
				t.Fatalf("clean seller: lists.block = %v (present %v), want false", s, ok)
			}
			h.create(t, "police-notices", riskv1.ListPurpose_LIST_PURPOSE_BLOCK)
			// Typed another way than the request's 13800138000.
			entry := h.add(t, "police-notices", riskv1.EntryKind_ENTRY_KIND_PHONE, "+86 138-0013-8000")

			d := h.decide(t, cleanSeller())
			if d.GetOutcome() != riskv1.Outcome_OUTCOME_DECLINE {
				t.Fatalf("listed mobile: outcome %v %v, want DECLINE", d.GetOutcome(), codes_(d))
			}
			r := reasonOf(d, "ON_BLOCK_LIST")
			if r == nil {
				t.Fatalf("no ON_BLOCK_LIST reason: %v", codes_(d))
			}
			for _, want := range []string{entry, "police-notices", "contact.mobile"} {
				if !strings.Contains(r.GetMessage(), want) {
					t.Errorf("reason %q does not name %q", r.GetMessage(), want)
				}
			}
			if s, _ := listSignal(d, "lists.entries"); s.GetStringValue() != "police-notices:"+entry+"@contact.mobile" {
				t.Errorf("lists.entries = %q, want the entry on contact.mobile", s.GetStringValue())
			}
			if s, _ := listSignal(d, "lists.block.fields"); s.GetStringValue() != "contact.mobile" {
				t.Errorf("lists.block.fields = %q", s.GetStringValue())
			}
			if s, ok := listSignal(d, "lists.list.police-notices"); !ok || !s.GetBoolValue() {
				t.Error("no signal lists.list.police-notices")
			}
			js, _ := protojson.Marshal(d)
			for _, raw := range []string{"13800138000", "138-0013-8000"} {
				if strings.Contains(string(js), raw) {
					t.Errorf("the decision holds the listed value %s: %s", raw, js)
				}
			}
			// The stored decision is the same.
			got, err := h.client.GetDecision(t.Context(), &riskv1.GetDecisionRequest{DecisionId: d.GetDecisionId()})
			if err != nil || reasonOf(got.GetDecision(), "ON_BLOCK_LIST") == nil {
				t.Errorf("GetDecision: %v, %v", codes_(got.GetDecision()), err)
			}

			if _, err := h.lists.RemoveListEntry(t.Context(), &riskv1.RemoveListEntryRequest{List: "police-notices", EntryId: entry}); err != nil {
				t.Fatal(err)
			}
			if after := h.decide(t, cleanSeller()); after.GetOutcome() != riskv1.Outcome_OUTCOME_APPROVE || reasonOf(after, "ON_BLOCK_LIST") != nil {
				t.Errorf("after removing the entry: %v %v, want APPROVE", after.GetOutcome(), codes_(after))
			}
			_, err = h.lists.RemoveListEntry(t.Context(), &riskv1.RemoveListEntryRequest{List: "police-notices", EntryId: entry})
			wantReason(t, err, codes.NotFound, "LIST_ENTRY_NOT_FOUND")
		})
	}
}

// roomyBudgets gives every verifier of a policy a budget of 800 ms.
func roomyBudgets(doc []byte) string {
	return regexp.MustCompile(`budget: [0-9]+ms`).ReplaceAllString(string(doc), "budget: 800ms")
}

// wantReason checks a refusal's code and ErrorInfo reason.
func wantReason(t *testing.T, err error, code codes.Code, reason string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("err = %v, want %v", err, code)
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() == reason {
			return
		}
	}
	t.Errorf("err %v has no ErrorInfo reason %s", err, reason)
}

// Every kind of entry matches its request fields: table of the fields a
// list is compared with, one decision each.
func TestListKindsMatchTheirFields(t *testing.T) {
	h := startLists(t, setup{})
	h.create(t, "review", riskv1.ListPurpose_LIST_PURPOSE_REVIEW)
	now := time.Now()
	order := func() *riskv1.ScoreGiftCardPurchaseRequest {
		o := coachedGiftCardOrder(now)
		o.Session, o.Payment.CreditDrawnAt = nil, nil
		o.Total, o.Cards = &riskv1.Money{AmountMinor: 5000, Currency: "CNY"}, []*riskv1.GiftCardLine{{FaceValueMinor: 5000, Quantity: 1}}
		return o
	}
	phoneOrder := order()
	phoneOrder.Recipient = &riskv1.Recipient{Phone: "139 0013 9000", OwnedByAccount: true}
	otherRefund := overPaidRefund()
	otherRefund.Destination = &riskv1.RefundDestination{Kind: riskv1.DestinationKind_DESTINATION_KIND_OTHER, Fingerprint: "fp-refund-9"}
	passport := cleanSeller()
	passport.Identity = &riskv1.IdentityDocument{Type: riskv1.IdentityDocumentType_IDENTITY_DOCUMENT_TYPE_PASSPORT,
		Mrz: "P<CHNZHANG<<SAN<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<\nE123456784CHN9001015M3001014<<<<<<<<<<<<<<08", FullName: "张三"}
	tests := []struct {
		name  string
		kind  riskv1.EntryKind
		value string
		req   func() any
		field string
	}{
		{"seller id", riskv1.EntryKind_ENTRY_KIND_SELLER, "seller-1", func() any { return cleanSeller() }, "seller_id"},
		{"identity number, lower case x", riskv1.EntryKind_ENTRY_KIND_ID_NUMBER, "11010519491231002x", func() any { return cleanSeller() }, "identity.number"},
		{"passport MRZ", riskv1.EntryKind_ENTRY_KIND_ID_NUMBER, passport.Identity.Mrz, func() any { return passport }, "identity.mrz"},
		{"licence", riskv1.EntryKind_ENTRY_KIND_LICENSE, "91350100M000100Y43", func() any { return cleanSeller() }, "license.uscc"},
		{"landline as a phone", riskv1.EntryKind_ENTRY_KIND_PHONE, "0591 8765 4321", func() any { return cleanSeller() }, "contact.landline"},
		{"e-mail", riskv1.EntryKind_ENTRY_KIND_EMAIL, "SHOP@example.com", func() any { return cleanSeller() }, "contact.email"},
		{"e-mail domain", riskv1.EntryKind_ENTRY_KIND_EMAIL_DOMAIN, "Example.COM", func() any { return cleanSeller() }, "contact.email"},
		{"payout account", riskv1.EntryKind_ENTRY_KIND_PAYOUT_ACCOUNT, "6222 0202 0011 2233 445", func() any { return cleanSeller() }, "payout.account_number"},
		{"device", riskv1.EntryKind_ENTRY_KIND_DEVICE, "device-1", func() any { return cleanSeller() }, "client.device_id"},
		{"IP address", riskv1.EntryKind_ENTRY_KIND_IP, "203.0.113.7", func() any { return cleanSeller() }, "client.ip_address"},
		{"IP range", riskv1.EntryKind_ENTRY_KIND_IP, "203.0.113.0/24", func() any { return cleanSeller() }, "client.ip_address"},
		{"IPv6 range", riskv1.EntryKind_ENTRY_KIND_IP, "2001:db8::/32", func() any { return order() }, "client.ip_address"},
		{"account", riskv1.EntryKind_ENTRY_KIND_ACCOUNT, "acct-1", func() any { return order() }, "account_id"},
		{"instrument", riskv1.EntryKind_ENTRY_KIND_INSTRUMENT, "fp-loan-1", func() any { return order() }, "payment.fingerprint"},
		{"recipient e-mail", riskv1.EntryKind_ENTRY_KIND_RECIPIENT, "Victim@Example.com", func() any { return order() }, "recipient.email"},
		{"recipient e-mail on an e-mail list", riskv1.EntryKind_ENTRY_KIND_EMAIL, "victim@example.com", func() any { return order() }, "recipient.email"},
		{"recipient phone on a phone list", riskv1.EntryKind_ENTRY_KIND_PHONE, "+86 13900139000", func() any { return phoneOrder }, "recipient.phone"},
		{"buyer account", riskv1.EntryKind_ENTRY_KIND_ACCOUNT, "buyer-1", func() any { return overPaidRefund() }, "buyer_account_id"},
		{"refund's seller", riskv1.EntryKind_ENTRY_KIND_SELLER, "seller-1", func() any { return overPaidRefund() }, "seller_id"},
		{"refund destination", riskv1.EntryKind_ENTRY_KIND_INSTRUMENT, "fp-refund-9", func() any { return otherRefund }, "destination.fingerprint"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entry := h.add(t, "review", tc.kind, tc.value)
			d := h.decide(t, tc.req())
			s, _ := listSignal(d, "lists.entries")
			if !strings.Contains(s.GetStringValue(), "review:"+entry+"@"+tc.field) {
				t.Errorf("lists.entries = %q, want entry %s on %s", s.GetStringValue(), entry, tc.field)
			}
			if reasonOf(d, "ON_REVIEW_LIST") == nil || d.GetOutcome() == riskv1.Outcome_OUTCOME_APPROVE {
				t.Errorf("outcome %v reasons %v, want ON_REVIEW_LIST and no approval", d.GetOutcome(), codes_(d))
			}
			if _, err := h.lists.RemoveListEntry(t.Context(), &riskv1.RemoveListEntryRequest{List: "review", EntryId: entry}); err != nil {
				t.Fatal(err)
			}
		})
	}
	// What does not match: a device named like the phone, another range.
	h.add(t, "review", riskv1.EntryKind_ENTRY_KIND_DEVICE, "13800138000")
	h.add(t, "review", riskv1.EntryKind_ENTRY_KIND_IP, "203.0.114.0/24")
	h.add(t, "review", riskv1.EntryKind_ENTRY_KIND_EMAIL_DOMAIN, "example.org")
	if d := h.decide(t, cleanSeller()); reasonOf(d, "ON_REVIEW_LIST") != nil {
		t.Errorf("unrelated entries matched: %v", d.GetReasons())
	}
}

// A review-list match reviews; a trust-list match lowers the score but
// never overrides a hard decline.
func TestReviewAndTrustLists(t *testing.T) {
	h := startLists(t, setup{})
	h.create(t, "watch", riskv1.ListPurpose_LIST_PURPOSE_REVIEW)
	h.create(t, "partners", riskv1.ListPurpose_LIST_PURPOSE_TRUST)

	h.add(t, "watch", riskv1.EntryKind_ENTRY_KIND_DEVICE, "device-1")
	if d := h.decide(t, cleanSeller()); d.GetOutcome() != riskv1.Outcome_OUTCOME_REVIEW || reasonOf(d, "ON_REVIEW_LIST") == nil {
		t.Errorf("device on a review list: %v %v, want REVIEW with ON_REVIEW_LIST", d.GetOutcome(), codes_(d))
	}

	// An order scored 30 by the thresholds (REVIEW) is approved once its
	// account is trusted: the score drops by 30.
	order := func() *riskv1.ScoreGiftCardPurchaseRequest {
		o := coachedGiftCardOrder(time.Now())
		o.AccountId = "acct-trusted"
		o.Session = &riskv1.SessionFacts{RemoteAccessApp: true}
		o.Payment.CreditDrawnAt = nil
		o.Total, o.Cards = &riskv1.Money{AmountMinor: 5000, Currency: "CNY"}, []*riskv1.GiftCardLine{{FaceValueMinor: 5000, Quantity: 1}}
		return o
	}
	before := h.decide(t, order())
	if before.GetOutcome() != riskv1.Outcome_OUTCOME_REVIEW || before.GetScore() < 30 {
		t.Fatalf("order before trust: %v score %d %v; the test needs a REVIEW by score", before.GetOutcome(), before.GetScore(), codes_(before))
	}
	h.add(t, "partners", riskv1.EntryKind_ENTRY_KIND_ACCOUNT, "acct-trusted")
	after := h.decide(t, order())
	r := reasonOf(after, "ON_TRUST_LIST")
	if r == nil || r.GetScore() != -30 {
		t.Fatalf("trusted order: reasons %v, want ON_TRUST_LIST at -30", after.GetReasons())
	}
	if want := max(before.GetScore()-30, 0); after.GetScore() > want+15 || after.GetScore() >= before.GetScore() {
		t.Errorf("trusted order scored %d, before %d: want 30 less", after.GetScore(), before.GetScore())
	}

	// A hard decline (an invalid identity number) stays a decline.
	h.add(t, "partners", riskv1.EntryKind_ENTRY_KIND_SELLER, "seller-bad")
	bad := cleanSeller()
	bad.SellerId, bad.Identity.Number = "seller-bad", badID
	d := h.decide(t, bad)
	if d.GetOutcome() != riskv1.Outcome_OUTCOME_DECLINE || reasonOf(d, "ON_TRUST_LIST") == nil || reasonOf(d, "ID_NUMBER_INVALID") == nil {
		t.Errorf("trusted seller with an invalid ID: %v %v, want DECLINE with both reasons", d.GetOutcome(), codes_(d))
	}
}

// An entry with an expiry matches until then; one already expired is
// refused.
func TestListEntryExpiry(t *testing.T) {
	now := time.Now()
	clock := now
	h := startLists(t, setup{clock: func() time.Time { return clock }})
	h.create(t, "block", riskv1.ListPurpose_LIST_PURPOSE_BLOCK)
	_, err := h.lists.AddListEntries(t.Context(), &riskv1.AddListEntriesRequest{List: "block", Entries: []*riskv1.NewListEntry{
		{Kind: riskv1.EntryKind_ENTRY_KIND_DEVICE, Value: "device-1", ExpiresAt: timestamppb.New(now.Add(time.Hour))}}})
	if err != nil {
		t.Fatal(err)
	}
	if d := h.decide(t, cleanSeller()); reasonOf(d, "ON_BLOCK_LIST") == nil {
		t.Errorf("before expiry: %v", codes_(d))
	}
	clock = now.Add(time.Hour + time.Second)
	if d := h.decide(t, cleanSeller()); reasonOf(d, "ON_BLOCK_LIST") != nil {
		t.Errorf("after expiry: %v", codes_(d))
	}
	_, err = h.lists.AddListEntries(t.Context(), &riskv1.AddListEntriesRequest{List: "block", Entries: []*riskv1.NewListEntry{
		{Kind: riskv1.EntryKind_ENTRY_KIND_DEVICE, Value: "device-9", ExpiresAt: timestamppb.New(clock.Add(-time.Minute))}}})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("an expiry in the past: %v, want INVALID_ARGUMENT", err)
	}
}

// Bad entries are refused all together, each named, and nothing is added.
func TestListRefusesBadEntriesAllOrNothing(t *testing.T) {
	h := startLists(t, setup{})
	_, err := h.lists.AddListEntries(t.Context(), &riskv1.AddListEntriesRequest{List: "nowhere",
		Entries: []*riskv1.NewListEntry{{Kind: riskv1.EntryKind_ENTRY_KIND_DEVICE, Value: "d"}}})
	wantReason(t, err, codes.NotFound, "LIST_NOT_FOUND")
	h.create(t, "block", riskv1.ListPurpose_LIST_PURPOSE_BLOCK)
	_, err = h.lists.CreateList(t.Context(), &riskv1.CreateListRequest{Name: "block", Purpose: riskv1.ListPurpose_LIST_PURPOSE_TRUST})
	wantReason(t, err, codes.AlreadyExists, "LIST_EXISTS")
	again, err := h.lists.CreateList(t.Context(), &riskv1.CreateListRequest{Name: "block", Purpose: riskv1.ListPurpose_LIST_PURPOSE_BLOCK})
	if err != nil || again.GetCreated() {
		t.Errorf("CreateList again with its purpose: created %v, %v", again.GetCreated(), err)
	}

	_, err = h.lists.AddListEntries(t.Context(), &riskv1.AddListEntriesRequest{List: "block", Entries: []*riskv1.NewListEntry{
		{Kind: riskv1.EntryKind_ENTRY_KIND_DEVICE, Value: "device-1"},
		{Kind: riskv1.EntryKind_ENTRY_KIND_IP, Value: "999.1.1.1"},
		{Kind: riskv1.EntryKind_ENTRY_KIND_PHONE, Value: "no digits"},
		{Kind: riskv1.EntryKind_ENTRY_KIND_IP, Value: "10.0.0.0/33"},
	}})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad entries: %v, want INVALID_ARGUMENT", err)
	}
	var fields []string
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	if want := []string{"entries[1].value", "entries[2].value", "entries[3].value"}; !slices.Equal(fields, want) {
		t.Errorf("violations %v, want %v", fields, want)
	}
	page, err := h.lists.ListListEntries(t.Context(), &riskv1.ListListEntriesRequest{List: "block"})
	if err != nil || len(page.GetEntries()) != 0 {
		t.Errorf("after a refused add: %d entries, %v; want none", len(page.GetEntries()), err)
	}
	if d := h.decide(t, cleanSeller()); reasonOf(d, "ON_BLOCK_LIST") != nil {
		t.Error("a refused add's good entry matched")
	}
}

// An import of thousands of entries in chunks lands in one piece, or, with
// one bad line, not at all, naming the line; the entries page back.
func TestImportListEntries(t *testing.T) {
	h := startLists(t, setup{})
	h.create(t, "cards", riskv1.ListPurpose_LIST_PURPOSE_BLOCK)
	const n = 2500
	send := func(bad int) (*riskv1.ImportListEntriesResponse, error) {
		stream, err := h.lists.ImportListEntries(t.Context())
		if err != nil {
			return nil, err
		}
		for start := 0; start < n; start += 1000 {
			req := &riskv1.ImportListEntriesRequest{List: "cards"}
			for i := start; i < min(start+1000, n); i++ {
				v := fmt.Sprintf("fp-%d", i)
				kind := riskv1.EntryKind_ENTRY_KIND_INSTRUMENT
				if i == bad {
					kind, v = riskv1.EntryKind_ENTRY_KIND_IP, "not-an-ip"
				}
				req.Entries = append(req.Entries, &riskv1.NewListEntry{Kind: kind, Value: v, Line: uint32(i + 2)})
			}
			if err := stream.Send(req); err != nil {
				break
			}
		}
		return stream.CloseAndRecv()
	}
	_, err := send(1700)
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "line 1702") {
		t.Fatalf("import with a bad line: %v, want INVALID_ARGUMENT naming line 1702", err)
	}
	if page, _ := h.lists.ListListEntries(t.Context(), &riskv1.ListListEntriesRequest{List: "cards"}); len(page.GetEntries()) != 0 {
		t.Fatalf("a refused import left %d entries", len(page.GetEntries()))
	}
	resp, err := send(-1)
	if err != nil || resp.GetEntries() != n {
		t.Fatalf("import: %v entries, %v; want %d", resp.GetEntries(), err, n)
	}
	seen := map[string]bool{}
	token := ""
	for pages := 0; ; pages++ {
		page, err := h.lists.ListListEntries(t.Context(), &riskv1.ListListEntriesRequest{List: "cards", PageSize: 500, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.GetEntries() {
			if seen[e.GetEntryId()] || e.GetKind() != riskv1.EntryKind_ENTRY_KIND_INSTRUMENT || e.GetAddedBy() == "" {
				t.Fatalf("entry %v repeated or incomplete", e)
			}
			seen[e.GetEntryId()] = true
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
		if pages > n/500 {
			t.Fatal("paging does not end")
		}
	}
	if len(seen) != n {
		t.Errorf("paged %d entries, want %d", len(seen), n)
	}
	// A page token is for its own list only.
	h.create(t, "other", riskv1.ListPurpose_LIST_PURPOSE_BLOCK)
	page, _ := h.lists.ListListEntries(t.Context(), &riskv1.ListListEntriesRequest{List: "cards", PageSize: 1})
	_, err = h.lists.ListListEntries(t.Context(), &riskv1.ListListEntriesRequest{List: "other", PageToken: page.GetNextPageToken()})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("another list's page token: %v, want INVALID_ARGUMENT", err)
	}
	// The imported values match.
	look, err := h.lists.LookupListValue(t.Context(), &riskv1.LookupListValueRequest{Kind: riskv1.EntryKind_ENTRY_KIND_INSTRUMENT, Value: "fp-2499"})
	if err != nil || len(look.GetMatches()) != 1 || look.GetMatches()[0].GetList() != "cards" {
		t.Errorf("LookupListValue(fp-2499) = %v, %v", look.GetMatches(), err)
	}
}

// LookupListValue finds what a decision would: a phone typed another way,
// an address inside a range; nothing for another kind.
func TestLookupListValue(t *testing.T) {
	h := startLists(t, setup{})
	h.create(t, "block", riskv1.ListPurpose_LIST_PURPOSE_BLOCK)
	h.create(t, "trust", riskv1.ListPurpose_LIST_PURPOSE_TRUST)
	phone := h.add(t, "block", riskv1.EntryKind_ENTRY_KIND_PHONE, "13800138000")
	trusted := h.add(t, "trust", riskv1.EntryKind_ENTRY_KIND_PHONE, "138 0013 8000")
	rng := h.add(t, "block", riskv1.EntryKind_ENTRY_KIND_IP, "10.0.0.0/8")
	tests := []struct {
		kind  riskv1.EntryKind
		value string
		want  []string
	}{
		{riskv1.EntryKind_ENTRY_KIND_PHONE, "+86 138-0013-8000", []string{phone, trusted}},
		{riskv1.EntryKind_ENTRY_KIND_DEVICE, "13800138000", nil},
		{riskv1.EntryKind_ENTRY_KIND_IP, "10.20.30.40", []string{rng}},
		{riskv1.EntryKind_ENTRY_KIND_IP, "11.0.0.1", nil},
	}
	for _, tc := range tests {
		resp, err := h.lists.LookupListValue(t.Context(), &riskv1.LookupListValueRequest{Kind: tc.kind, Value: tc.value})
		if err != nil {
			t.Fatalf("LookupListValue(%s %s): %v", tc.kind, tc.value, err)
		}
		var got []string
		for _, m := range resp.GetMatches() {
			got = append(got, m.GetEntryId())
		}
		slices.Sort(got)
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("LookupListValue(%s %s) = %v, want %v", tc.kind, tc.value, got, want)
		}
	}
	_, err := h.lists.LookupListValue(context.Background(), &riskv1.LookupListValueRequest{Kind: riskv1.EntryKind_ENTRY_KIND_PHONE, Value: "---"})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("a blank phone: %v, want INVALID_ARGUMENT", err)
	}
	lists, err := h.lists.ListLists(t.Context(), &riskv1.ListListsRequest{})
	if err != nil || len(lists.GetLists()) != 2 || lists.GetLists()[0].GetName() != "block" || lists.GetLists()[0].GetCreatedBy() == "" {
		t.Errorf("ListLists = %v, %v", lists.GetLists(), err)
	}
}
