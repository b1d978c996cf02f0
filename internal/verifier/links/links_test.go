package links_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riskd/riskd/internal/history"
	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/store/pebblestore"
	"github.com/riskd/riskd/internal/verifier"
	"github.com/riskd/riskd/internal/verifier/links"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// now is the instant of the decision under test.
var now = time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// fixture is a real embedded (pebble) store with a real keyer, seeded the way the
// server seeds it: decisions committed with what history.Derive says they
// add, bans reported on decisions or recorded on a seller.
type fixture struct {
	t    *testing.T
	st   *pebblestore.Store
	keys *pseudonym.Keyer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	keys, err := pseudonym.New(bytes.Repeat([]byte{0x5a}, pseudonym.MinKeyBytes))
	if err != nil {
		t.Fatal(err)
	}
	st, err := pebblestore.Open(t.TempDir(), pebblestore.Options{KeyCheck: keys.Check()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("closing the store: %v", err)
		}
	})
	return &fixture{t: t, st: st, keys: keys}
}

// decide commits a seller decision for req at the given time and returns
// its ID.
func (f *fixture) decide(req *riskv1.CheckSellerRequest, at time.Time) string {
	f.t.Helper()
	req = proto.Clone(req).(*riskv1.CheckSellerRequest)
	return f.commit(riskv1.Check_CHECK_SELLER, req, func(id string) { req.RequestId = id }, at)
}

// buy commits a gift-card purchase decision by a buyer account on a
// device: history that links the device to an account, not a seller.
func (f *fixture) buy(accountID, deviceID string, at time.Time) string {
	f.t.Helper()
	req := &riskv1.ScoreGiftCardPurchaseRequest{AccountId: accountID, Client: &riskv1.Client{DeviceId: deviceID}}
	return f.commit(riskv1.Check_CHECK_GIFT_CARD_PURCHASE, req, func(id string) { req.RequestId = id }, at)
}

func (f *fixture) commit(check riskv1.Check, req proto.Message, setRequestID func(string), at time.Time) string {
	f.t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		f.t.Fatal(err)
	}
	decisionID := id.String()
	requestID := "req-" + decisionID
	setRequestID(requestID)
	entry, err := history.Derive(f.keys, req, decisionID, at)
	if err != nil {
		f.t.Fatalf("Derive: %v", err)
	}
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
	if err != nil {
		f.t.Fatal(err)
	}
	d := &riskv1.Decision{
		DecisionId: decisionID,
		RequestId:  requestID,
		Check:      check,
		DecidedAt:  timestamppb.New(at),
	}
	_, fresh, err := f.st.Commit(context.Background(), store.Commit{
		Decision: d, RequestHash: f.keys.Content(body),
		Subjects: entry.Subjects, Events: entry.Events, Links: entry.Links,
	})
	if err != nil || !fresh {
		f.t.Fatalf("Commit: fresh %v, %v", fresh, err)
	}
	return decisionID
}

// banDecision reports that the seller of a decision was banned.
func (f *fixture) banDecision(decisionID string, at time.Time) {
	f.t.Helper()
	err := f.st.ReportOutcome(context.Background(), store.Outcome{
		DecisionID: decisionID, Label: riskv1.OutcomeLabel_OUTCOME_LABEL_SELLER_BANNED, Note: "test ban", At: at,
	})
	if err != nil {
		f.t.Fatalf("ReportOutcome: %v", err)
	}
}

// banSeller records a ban on the seller itself, as RecordEvents does for
// an outcome event naming a seller ID.
func (f *fixture) banSeller(sellerID string, at time.Time) {
	f.t.Helper()
	id, ok := f.keys.Identifier(store.KindSeller, sellerID)
	if !ok {
		f.t.Fatalf("seller ID %q is blank", sellerID)
	}
	eventID := "ban-" + sellerID
	n, dups, err := f.st.Record(context.Background(), []store.Batch{{
		EventID: eventID,
		Marks: []store.IdentifierMark{{ID: id, Mark: store.Mark{
			Label: riskv1.OutcomeLabel_OUTCOME_LABEL_SELLER_BANNED, DecisionID: "event:" + eventID, At: at,
		}}},
	}})
	if err != nil || n != 1 || dups != 0 {
		f.t.Fatalf("Record: %d recorded, %d duplicates, %v", n, dups, err)
	}
}

// banIdentifier records a ban on one identifier, without any decision
// or link behind it.
func (f *fixture) banIdentifier(kind store.Kind, raw string, at time.Time) {
	f.t.Helper()
	id, ok := f.keys.Identifier(kind, raw)
	if !ok {
		f.t.Fatalf("%v %q is blank", kind, raw)
	}
	eventID := fmt.Sprintf("ban-%d-%s", kind, raw)
	n, _, err := f.st.Record(context.Background(), []store.Batch{{
		EventID: eventID,
		Marks: []store.IdentifierMark{{ID: id, Mark: store.Mark{
			Label: riskv1.OutcomeLabel_OUTCOME_LABEL_SELLER_BANNED, DecisionID: "event:" + eventID, At: at,
		}}},
	}})
	if err != nil || n != 1 {
		f.t.Fatalf("Record: %d recorded, %v", n, err)
	}
}

// markOther attaches an outcome that is not a ban to a decision.
func (f *fixture) markOther(decisionID string, label riskv1.OutcomeLabel, at time.Time) {
	f.t.Helper()
	if err := f.st.ReportOutcome(context.Background(), store.Outcome{DecisionID: decisionID, Label: label, At: at}); err != nil {
		f.t.Fatalf("ReportOutcome: %v", err)
	}
}

func (f *fixture) verify(req *riskv1.CheckSellerRequest) (verifier.Result, error) {
	id, err := uuid.NewV7()
	if err != nil {
		f.t.Fatal(err)
	}
	return links.New(f.st, f.keys).Verify(context.Background(), verifier.Input{
		Check: riskv1.Check_CHECK_SELLER, DecisionID: id.String(), Request: req, Now: now,
	})
}

// seller returns a seller request whose every identifier is its own: two
// sellers of different n share nothing.
func seller(n int) *riskv1.CheckSellerRequest {
	return &riskv1.CheckSellerRequest{
		RequestId: fmt.Sprintf("req-%d", n),
		SellerId:  fmt.Sprintf("S-%d", n),
		Client:    &riskv1.Client{DeviceId: fmt.Sprintf("device-%d", n), IpAddress: fmt.Sprintf("192.0.2.%d", n)},
		Identity: &riskv1.IdentityDocument{
			Type:     riskv1.IdentityDocumentType_IDENTITY_DOCUMENT_TYPE_RESIDENT_ID,
			Number:   fmt.Sprintf("3501021990010%05d", n),
			FullName: fmt.Sprintf("卖家%d", n),
		},
		License: &riskv1.BusinessLicense{
			Uscc:                fmt.Sprintf("91350100MA%08d", n),
			CompanyName:         fmt.Sprintf("福州第%d贸易有限公司", n),
			LegalRepresentative: fmt.Sprintf("卖家%d", n),
		},
		Contact: &riskv1.Contact{
			Mobile:     fmt.Sprintf("1380013%04d", n),
			Landline:   fmt.Sprintf("0591-8765%04d", n),
			Email:      fmt.Sprintf("seller%d@example.com", n),
			Address:    fmt.Sprintf("福建省福州市鼓楼区五四路%d号", n),
			ChatHandle: fmt.Sprintf("wx_seller_%d", n),
		},
		Payout: &riskv1.PayoutAccount{AccountNumber: fmt.Sprintf("62220202%011d", n), HolderName: fmt.Sprintf("福州第%d贸易有限公司", n)},
	}
}

// with returns seller(n) changed by fn.
func with(n int, fn func(r *riskv1.CheckSellerRequest)) *riskv1.CheckSellerRequest {
	r := seller(n)
	fn(r)
	return r
}

// The new seller in every case is seller 100; earlier sellers are 1, 2, 3.
const newSeller = 100

func TestVerify(t *testing.T) {
	tests := []struct {
		name string
		// seed writes the history the new seller is checked against.
		seed func(f *fixture)
		req  *riskv1.CheckSellerRequest
		// findings are the codes expected with their scores, exactly.
		findings map[string]int
		// names lists words a finding's message must hold; unnamed lists
		// words it must not.
		names, unnamed map[string][]string
		// signals are signal values expected (a subset).
		signals map[string]any
	}{
		{
			name:     "no history",
			seed:     func(f *fixture) {},
			req:      seller(newSeller),
			findings: map[string]int{},
			signals: map[string]any{
				"links.banned": false, "links.banned_strong": false, "links.other_sellers": int64(0),
				"links.sellers_per_device": int64(0), "links.sellers_per_payout_account": int64(0),
			},
		},
		{
			name: "shares its mobile, typed another way, with a banned seller",
			seed: func(f *fixture) {
				f.banDecision(f.decide(seller(1), now.Add(-10*day)), now.Add(-5*day))
			},
			req: with(newSeller, func(r *riskv1.CheckSellerRequest) {
				r.Contact.Mobile = "+86 138-0013-0001"
			}),
			findings: map[string]int{links.CodeLinkedBanned: 60},
			names:    map[string][]string{links.CodeLinkedBanned: {"mobile"}},
			unnamed:  map[string][]string{links.CodeLinkedBanned: {"device", "e-mail", "13800130001", "138-0013-0001"}},
			signals: map[string]any{
				"links.banned": true, "links.banned_strong": true, "links.other_sellers": int64(1),
			},
		},
		{
			name: "shares only its device with a banned seller",
			seed: func(f *fixture) {
				f.banDecision(f.decide(seller(1), now.Add(-10*day)), now.Add(-5*day))
			},
			req:      with(newSeller, func(r *riskv1.CheckSellerRequest) { r.Client.DeviceId = "device-1" }),
			findings: map[string]int{links.CodeLinkedBanned: 30},
			names:    map[string][]string{links.CodeLinkedBanned: {"device"}},
			unnamed:  map[string][]string{links.CodeLinkedBanned: {"mobile", "device-1"}},
			signals: map[string]any{
				"links.banned": true, "links.banned_strong": false, "links.sellers_per_device": int64(1),
			},
		},
		{
			name: "shares device and payout account with a banned seller",
			seed: func(f *fixture) {
				f.banDecision(f.decide(seller(1), now.Add(-10*day)), now.Add(-5*day))
			},
			req: with(newSeller, func(r *riskv1.CheckSellerRequest) {
				r.Client.DeviceId = "device-1"
				r.Payout.AccountNumber = seller(1).GetPayout().GetAccountNumber()
			}),
			findings: map[string]int{links.CodeLinkedBanned: 60},
			names:    map[string][]string{links.CodeLinkedBanned: {"device", "payout account"}},
			signals:  map[string]any{"links.banned": true, "links.banned_strong": true},
		},
		{
			name: "shares its e-mail with a live seller",
			seed: func(f *fixture) { f.decide(seller(1), now.Add(-10*day)) },
			req: with(newSeller, func(r *riskv1.CheckSellerRequest) {
				r.Contact.Email = " Seller1@Example.COM"
			}),
			findings: map[string]int{links.CodeLinkedOther: 30},
			names:    map[string][]string{links.CodeLinkedOther: {"e-mail"}},
			unnamed:  map[string][]string{links.CodeLinkedOther: {"seller1", "Seller1", "example"}},
			signals: map[string]any{
				"links.banned": false, "links.banned_strong": false, "links.other_sellers": int64(1),
			},
		},
		{
			name: "an outcome other than a ban does not make a seller banned",
			seed: func(f *fixture) {
				id := f.decide(seller(1), now.Add(-10*day))
				f.markOther(id, riskv1.OutcomeLabel_OUTCOME_LABEL_LEGITIMATE, now.Add(-5*day))
				f.markOther(id, riskv1.OutcomeLabel_OUTCOME_LABEL_FRAUD_CONFIRMED, now.Add(-4*day))
			},
			req:      with(newSeller, func(r *riskv1.CheckSellerRequest) { r.Contact.Mobile = "13800130001" }),
			findings: map[string]int{links.CodeLinkedOther: 30},
			names:    map[string][]string{links.CodeLinkedOther: {"mobile"}},
			signals:  map[string]any{"links.banned": false},
		},
		{
			name: "a kind shared with a banned seller is not also shared with another",
			seed: func(f *fixture) {
				f.banDecision(f.decide(seller(1), now.Add(-10*day)), now.Add(-5*day))
				// Seller 2 is live and uses seller 1's mobile too.
				f.decide(with(2, func(r *riskv1.CheckSellerRequest) { r.Contact.Mobile = "13800130001" }), now.Add(-8*day))
			},
			req: with(newSeller, func(r *riskv1.CheckSellerRequest) {
				r.Contact.Mobile = "13800130001"
				r.Contact.Email = "seller2@example.com"
			}),
			findings: map[string]int{links.CodeLinkedBanned: 60, links.CodeLinkedOther: 30},
			names: map[string][]string{
				links.CodeLinkedBanned: {"mobile"},
				links.CodeLinkedOther:  {"e-mail"},
			},
			unnamed: map[string][]string{
				links.CodeLinkedBanned: {"e-mail"},
				links.CodeLinkedOther:  {"mobile"},
			},
			signals: map[string]any{"links.banned": true, "links.other_sellers": int64(2)},
		},
		{
			name: "only a banned seller shares the mobile: no other-seller finding",
			seed: func(f *fixture) {
				f.banDecision(f.decide(seller(1), now.Add(-10*day)), now.Add(-5*day))
			},
			req: with(newSeller, func(r *riskv1.CheckSellerRequest) {
				r.Contact.Mobile = "13800130001"
				r.Contact.Landline = "0591-87650001"
			}),
			findings: map[string]int{links.CodeLinkedBanned: 60},
			names:    map[string][]string{links.CodeLinkedBanned: {"mobile", "landline"}},
		},
		{
			name: "the seller's own earlier decision is not another seller",
			seed: func(f *fixture) { f.decide(seller(newSeller), now.Add(-3*day)) },
			req: with(newSeller, func(r *riskv1.CheckSellerRequest) {
				r.Contact.Email = "new-address@example.com"
			}),
			findings: map[string]int{},
			signals: map[string]any{
				"links.banned": false, "links.other_sellers": int64(0),
			},
		},
		{
			name: "the seller's own earlier decisions do not make many sellers on its device",
			seed: func(f *fixture) {
				f.decide(seller(newSeller), now.Add(-3*day))
				f.decide(seller(newSeller), now.Add(-2*day))
				f.decide(with(1, func(r *riskv1.CheckSellerRequest) { r.Client.DeviceId = "device-100" }), now.Add(-1*day))
			},
			req:      seller(newSeller),
			findings: map[string]int{links.CodeLinkedOther: 30},
			names:    map[string][]string{links.CodeLinkedOther: {"device"}},
			signals:  map[string]any{"links.other_sellers": int64(1)},
		},
		{
			name: "banned by an outcome recorded against the seller",
			seed: func(f *fixture) {
				f.decide(seller(1), now.Add(-10*day))
				f.banSeller("S-1", now.Add(-5*day))
			},
			req: with(newSeller, func(r *riskv1.CheckSellerRequest) {
				r.Payout.AccountNumber = "6222 0202 0000 0000 001"
			}),
			findings: map[string]int{links.CodeLinkedBanned: 60},
			names:    map[string][]string{links.CodeLinkedBanned: {"payout account"}},
			signals:  map[string]any{"links.banned": true, "links.banned_strong": true},
		},
		{
			name: "banned by an outcome recorded against the seller, device only",
			seed: func(f *fixture) {
				f.decide(seller(1), now.Add(-10*day))
				f.banSeller("S-1", now.Add(-5*day))
			},
			req:      with(newSeller, func(r *riskv1.CheckSellerRequest) { r.Client.DeviceId = "device-1" }),
			findings: map[string]int{links.CodeLinkedBanned: 30},
			names:    map[string][]string{links.CodeLinkedBanned: {"device"}},
			signals:  map[string]any{"links.banned": true, "links.banned_strong": false},
		},
		{
			name: "an identifier banned by itself",
			seed: func(f *fixture) {
				f.banIdentifier(store.KindMobile, "13800130001", now.Add(-5*day))
			},
			req:      with(newSeller, func(r *riskv1.CheckSellerRequest) { r.Contact.Mobile = "0086 138 0013 0001" }),
			findings: map[string]int{links.CodeLinkedBanned: 60},
			names:    map[string][]string{links.CodeLinkedBanned: {"mobile"}},
			signals:  map[string]any{"links.banned": true, "links.banned_strong": true, "links.other_sellers": int64(0)},
		},
		{
			name: "a buyer account on the same device is not another seller",
			seed: func(f *fixture) {
				f.buy("acct-1", "device-100", now.Add(-2*day))
				f.buy("acct-2", "device-100", now.Add(-1*day))
			},
			req:      seller(newSeller),
			findings: map[string]int{},
			signals: map[string]any{
				"links.other_sellers": int64(0), "links.sellers_per_device": int64(0),
			},
		},
		{
			name: "a ban recorded against an unrelated seller changes nothing",
			seed: func(f *fixture) {
				f.decide(seller(1), now.Add(-10*day))
				f.decide(seller(2), now.Add(-10*day))
				f.banSeller("S-2", now.Add(-5*day))
			},
			req:      with(newSeller, func(r *riskv1.CheckSellerRequest) { r.Contact.Mobile = "13800130001" }),
			findings: map[string]int{links.CodeLinkedOther: 30},
			names:    map[string][]string{links.CodeLinkedOther: {"mobile"}},
			signals:  map[string]any{"links.banned": false, "links.other_sellers": int64(1)},
		},
		{
			name: "two earlier sellers on one device",
			seed: func(f *fixture) {
				f.decide(with(1, func(r *riskv1.CheckSellerRequest) { r.Client.DeviceId = "shared-device" }), now.Add(-20*day))
				f.decide(with(2, func(r *riskv1.CheckSellerRequest) { r.Client.DeviceId = "shared-device" }), now.Add(-2*day))
			},
			req:      with(newSeller, func(r *riskv1.CheckSellerRequest) { r.Client.DeviceId = "shared-device" }),
			findings: map[string]int{links.CodeLinkedOther: 30, links.CodeManySellers: 30},
			names: map[string][]string{
				links.CodeLinkedOther: {"device"},
				links.CodeManySellers: {"device"},
			},
			unnamed: map[string][]string{links.CodeManySellers: {"payout", "shared-device"}},
			signals: map[string]any{
				"links.sellers_per_device": int64(2), "links.sellers_per_payout_account": int64(0), "links.other_sellers": int64(2),
			},
		},
		{
			name: "two earlier sellers on one payout account",
			seed: func(f *fixture) {
				f.decide(with(1, func(r *riskv1.CheckSellerRequest) { r.Payout.AccountNumber = "6222000011112222" }), now.Add(-3*day))
				f.decide(with(2, func(r *riskv1.CheckSellerRequest) { r.Payout.AccountNumber = "6222000011112222" }), now.Add(-2*day))
			},
			req:      with(newSeller, func(r *riskv1.CheckSellerRequest) { r.Payout.AccountNumber = "6222 0000 1111 2222" }),
			findings: map[string]int{links.CodeLinkedOther: 30, links.CodeManySellers: 30},
			names:    map[string][]string{links.CodeManySellers: {"payout account"}},
			unnamed:  map[string][]string{links.CodeManySellers: {"device"}},
			signals: map[string]any{
				"links.sellers_per_device": int64(0), "links.sellers_per_payout_account": int64(2),
			},
		},
		{
			name: "one earlier seller on the device is not many",
			seed: func(f *fixture) {
				f.decide(with(1, func(r *riskv1.CheckSellerRequest) { r.Client.DeviceId = "shared-device" }), now.Add(-2*day))
			},
			req:      with(newSeller, func(r *riskv1.CheckSellerRequest) { r.Client.DeviceId = "shared-device" }),
			findings: map[string]int{links.CodeLinkedOther: 30},
			signals:  map[string]any{"links.sellers_per_device": int64(1)},
		},
		{
			name: "two sellers on the device 40 days ago are outside the window",
			seed: func(f *fixture) {
				f.decide(with(1, func(r *riskv1.CheckSellerRequest) { r.Client.DeviceId = "shared-device" }), now.Add(-40*day))
				f.decide(with(2, func(r *riskv1.CheckSellerRequest) { r.Client.DeviceId = "shared-device" }), now.Add(-40*day))
			},
			req:      with(newSeller, func(r *riskv1.CheckSellerRequest) { r.Client.DeviceId = "shared-device" }),
			findings: map[string]int{links.CodeLinkedOther: 30},
			signals:  map[string]any{"links.sellers_per_device": int64(0)},
		},
		{
			name: "one seller inside the window and one outside are not many",
			seed: func(f *fixture) {
				f.decide(with(1, func(r *riskv1.CheckSellerRequest) { r.Client.DeviceId = "shared-device" }), now.Add(-31*day))
				f.decide(with(2, func(r *riskv1.CheckSellerRequest) { r.Client.DeviceId = "shared-device" }), now.Add(-29*day))
			},
			req:      with(newSeller, func(r *riskv1.CheckSellerRequest) { r.Client.DeviceId = "shared-device" }),
			findings: map[string]int{links.CodeLinkedOther: 30},
			signals:  map[string]any{"links.sellers_per_device": int64(1)},
		},
		{
			name: "blank identifiers never link strangers",
			seed: func(f *fixture) {
				f.decide(with(1, func(r *riskv1.CheckSellerRequest) {
					r.Contact.Landline = ""
					r.Contact.Email = ""
					r.Contact.Address = "  "
					r.Contact.ChatHandle = ""
					r.Client.DeviceId = ""
				}), now.Add(-2*day))
				f.decide(with(2, func(r *riskv1.CheckSellerRequest) {
					r.Contact.Landline = " - "
					r.Contact.Email = ""
					r.Contact.Address = "，"
					r.Contact.ChatHandle = "  "
					r.Client.DeviceId = ""
				}), now.Add(-1*day))
			},
			req: with(newSeller, func(r *riskv1.CheckSellerRequest) {
				r.Contact.Landline = ""
				r.Contact.Email = ""
				r.Contact.Address = ""
				r.Contact.ChatHandle = ""
				r.Client.DeviceId = ""
			}),
			findings: map[string]int{},
			signals:  map[string]any{"links.other_sellers": int64(0), "links.banned": false},
		},
		{
			name: "blank identifiers of a banned seller never link strangers",
			seed: func(f *fixture) {
				f.banDecision(f.decide(with(1, func(r *riskv1.CheckSellerRequest) {
					r.Contact.Landline = ""
					r.Client.DeviceId = ""
				}), now.Add(-2*day)), now.Add(-1*day))
			},
			req: with(newSeller, func(r *riskv1.CheckSellerRequest) {
				r.Contact.Landline = ""
				r.Client.DeviceId = ""
			}),
			findings: map[string]int{},
			signals:  map[string]any{"links.other_sellers": int64(0), "links.banned": false},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tt.seed(f)
			res, err := f.verify(tt.req)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			got := map[string]int{}
			messages := map[string]string{}
			for _, fd := range res.Findings {
				if _, dup := got[fd.Code]; dup {
					t.Errorf("finding %s reported twice", fd.Code)
				}
				got[fd.Code] = fd.Score
				messages[fd.Code] = fd.Message
				for _, raw := range rawValues(tt.req) {
					if strings.Contains(fd.Message, raw) {
						t.Errorf("finding %s message %q holds the raw value %q", fd.Code, fd.Message, raw)
					}
				}
			}
			if !maps.Equal(got, tt.findings) {
				t.Errorf("findings %v, want %v; messages %q", got, tt.findings, messages)
			}
			for code, words := range tt.names {
				for _, w := range words {
					if m, ok := messages[code]; ok && !strings.Contains(m, w) {
						t.Errorf("%s message %q does not name %q", code, m, w)
					}
				}
			}
			for code, words := range tt.unnamed {
				for _, w := range words {
					if m := messages[code]; strings.Contains(m, w) {
						t.Errorf("%s message %q names %q", code, m, w)
					}
				}
			}
			for name, want := range tt.signals {
				if got, ok := res.Signals[name]; !ok || got != want {
					t.Errorf("signal %s = %#v (present %v), want %#v", name, got, ok, want)
				}
			}
			for name, val := range res.Signals {
				switch val.(type) {
				case bool, int64, float64, string:
				default:
					t.Errorf("signal %s is %T, want bool, int64, float64 or string", name, val)
				}
			}
		})
	}
}

// rawValues lists a request's personal identifiers as typed, and their
// digits, none of which may appear in a reason.
func rawValues(r *riskv1.CheckSellerRequest) []string {
	var out []string
	for _, s := range []string{
		r.GetIdentity().GetNumber(), r.GetLicense().GetUscc(), r.GetContact().GetMobile(), r.GetContact().GetLandline(),
		r.GetContact().GetEmail(), r.GetContact().GetAddress(), r.GetContact().GetChatHandle(),
		r.GetClient().GetDeviceId(), r.GetPayout().GetAccountNumber(),
	} {
		s = strings.TrimSpace(s)
		if len(s) < 4 {
			continue
		}
		out = append(out, s)
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, s)
		if len(digits) >= 6 {
			out = append(out, digits)
		}
	}
	return slices.Compact(out)
}

// TestVerifyDoesNotWrite checks that looking up leaves the history as it
// was: the seller's own decision writes it, once.
func TestVerifyDoesNotWrite(t *testing.T) {
	f := newFixture(t)
	f.decide(with(1, func(r *riskv1.CheckSellerRequest) { r.Client.DeviceId = "shared-device" }), now.Add(-2*day))
	req := with(newSeller, func(r *riskv1.CheckSellerRequest) { r.Client.DeviceId = "shared-device" })
	before := proto.Clone(req)
	for range 3 {
		res, err := f.verify(req)
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Signals["links.sellers_per_device"]; got != int64(1) {
			t.Fatalf("links.sellers_per_device = %#v, want 1", got)
		}
	}
	if !proto.Equal(req, before) {
		t.Error("Verify modified the request")
	}
	dev, _ := f.keys.Identifier(store.KindDevice, "shared-device")
	linked, err := f.st.Linked(context.Background(), dev, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(linked) != 1 || linked[0].Subject != history.SubjectSeller+"S-1" {
		t.Errorf("device links after Verify: %v, want only seller S-1", linked)
	}
}

func TestVerifyWrongRequest(t *testing.T) {
	f := newFixture(t)
	v := links.New(f.st, f.keys)
	for _, in := range []verifier.Input{
		{Check: riskv1.Check_CHECK_UNSPECIFIED, Request: &riskv1.ReportOutcomeRequest{DecisionId: "d"}, Now: now},
		{Check: riskv1.Check_CHECK_UNSPECIFIED, Request: &riskv1.GetDecisionRequest{DecisionId: "d"}, Now: now},
		{Check: riskv1.Check_CHECK_SELLER, Request: nil, Now: now},
	} {
		if _, err := v.Verify(context.Background(), in); err == nil {
			t.Errorf("Verify(%T) succeeded, want an error", in.Request)
		}
	}
}

func TestVerifyClosedStore(t *testing.T) {
	f := newFixture(t)
	keys := f.keys
	st, err := pebblestore.Open(t.TempDir(), pebblestore.Options{KeyCheck: keys.Check()})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = links.New(st, keys).Verify(context.Background(), verifier.Input{
		Check: riskv1.Check_CHECK_SELLER, DecisionID: "d", Request: seller(newSeller), Now: now,
	})
	if err == nil {
		t.Error("Verify on a closed store succeeded, want its error")
	}
}
