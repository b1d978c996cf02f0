package server_test

// Hostile inputs through the real client and a real riskd: Unicode edge
// cases, amounts at and over their bounds, timestamps at the ends of the
// proto range, repeated fields over their caps, a message over the server's
// size limit and required strings left empty. Every case names the exact
// gRPC code; an INVALID_ARGUMENT names the exact field paths of its
// google.rpc.BadRequest; an accepted call must give a sane decision (see
// checkDecision in fuzz_test.go).

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const (
	rtlOverride = "\u202e"     // RIGHT-TO-LEFT OVERRIDE
	zwj         = "\u200d"     // ZERO WIDTH JOINER
	family      = "👨‍👩‍👧‍👦"    // four emoji joined by three ZWJs: 7 code points
	rune4       = "\U00020000" // CJK Extension B: one character, four bytes in UTF-8
	eAcute      = "e\u0301"    // e + COMBINING ACUTE ACCENT: one grapheme, two code points
	maxAmount   = 1_000_000_000_000_000
	maxFace     = 1_000_000_000_000
)

var (
	yearOne  = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)                 // the proto Timestamp minimum
	year9999 = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC) // the proto Timestamp maximum
)

// hostileCase is one request and what riskd must answer to it.
type hostileCase[R proto.Message] struct {
	name   string
	mutate func(R)
	code   codes.Code
	// fields are the exact field paths of the BadRequest, for
	// INVALID_ARGUMENT.
	fields []string
	// decided, when set, checks an accepted call's decision further.
	decided func(*testing.T, *riskv1.Decision)
}

// approvedClean wants the clean seller's answer: APPROVE without reasons.
func approvedClean(t *testing.T, d *riskv1.Decision) {
	t.Helper()
	if d.GetOutcome() != riskv1.Outcome_OUTCOME_APPROVE || len(d.GetReasons()) != 0 {
		t.Errorf("got %s %v, want APPROVE without reasons", d.GetOutcome(), codes_(d))
	}
}

// withReason wants code among the decision's reasons.
func withReason(code string) func(*testing.T, *riskv1.Decision) {
	return func(t *testing.T, d *riskv1.Decision) {
		t.Helper()
		if !hasCode(d, code) {
			t.Errorf("got %s %v, want %s among the reasons", d.GetOutcome(), codes_(d), code)
		}
	}
}

// storedIntact wants the decision read back by its ID to be the one the
// caller got, every character of its request_id included.
func storedIntact(t *testing.T, h *harness, d *riskv1.Decision) {
	t.Helper()
	resp, err := h.client.GetDecision(context.Background(), &riskv1.GetDecisionRequest{DecisionId: d.GetDecisionId()})
	if err != nil {
		t.Fatalf("GetDecision %s: %v", d.GetDecisionId(), err)
	}
	if got := resp.GetDecision(); !proto.Equal(got, d) {
		t.Errorf("stored decision differs from the answer:\nstored %v\nanswer %v", got, d)
	}
}

// violations returns the field paths of err's BadRequest, sorted.
func violations(err error) []string {
	var out []string
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, fv := range br.GetFieldViolations() {
				out = append(out, fv.GetField())
			}
		}
	}
	slices.Sort(out)
	return out
}

// expectAnswer asserts the code, and the field paths or the decision.
func expectAnswer(t *testing.T, check riskv1.Check, requestID string, d *riskv1.Decision, err error, code codes.Code, fields []string) {
	t.Helper()
	if got := status.Code(err); got != code {
		t.Fatalf("got %s (%v), want %s", got, err, code)
	}
	switch code {
	case codes.OK:
		if check != riskv1.Check_CHECK_UNSPECIFIED { // RecordEvents decides nothing
			checkDecision(t, check, requestID, d)
		}
	case codes.InvalidArgument:
		want := slices.Clone(fields)
		slices.Sort(want)
		if got := violations(err); !slices.Equal(got, want) {
			t.Fatalf("field violations %q, want %q (%v)", got, want, err)
		}
	}
}

// runHostile sends each case's request, built from base, through call. A
// request whose request_id is still base's "hostile" gets one of its own.
func runHostile[R proto.Message](t *testing.T, check riskv1.Check, base func() R, cases []hostileCase[R],
	call func(context.Context, R) (*riskv1.Decision, error)) {
	t.Helper()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := base()
			tc.mutate(req)
			msg := req.ProtoReflect()
			idField := msg.Descriptor().Fields().ByName("request_id")
			if msg.Get(idField).String() == "hostile" {
				msg.Set(idField, protoreflect.ValueOfString(fmt.Sprintf("hostile-%d", i)))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			d, err := call(ctx, req)
			expectAnswer(t, check, msg.Get(idField).String(), d, err, tc.code, tc.fields)
			if tc.decided != nil {
				tc.decided(t, d)
			}
		})
	}
}

func TestHostileCheckSeller(t *testing.T) {
	h := start(t, setup{})
	base := func() *riskv1.CheckSellerRequest {
		r := cleanSeller()
		r.RequestId = "hostile"
		return r
	}
	cases := []hostileCase[*riskv1.CheckSellerRequest]{
		// Unicode that is valid UTF-8 is the caller's data: accepted.
		// Names compare without invisible format characters (Cf): an RTL
		// override or a zero-width joiner neither breaks a match nor
		// makes one.
		{name: "RTL override and zero-width joiners inside matching names", code: codes.OK, decided: approvedClean,
			mutate: func(r *riskv1.CheckSellerRequest) {
				r.Identity.FullName = "张" + rtlOverride + "三"
				r.License.LegalRepresentative = "张" + zwj + "三"
				r.License.CompanyName = "福州" + zwj + "某某贸易有限公司"
				r.Payout.HolderName = "福州某某" + rtlOverride + "贸易有限公司"
				r.Contact.Address = "福建省福州市" + rtlOverride + "号 001 路四五区楼鼓"
			}},
		// The classic spoof: stored reversed behind an RTL override, the
		// holder's name displays as the company's. riskd compares the
		// characters in their stored order, so it is not the company.
		{name: "RTL override displaying a reversed name as the company", code: codes.OK, decided: withReason("PAYOUT_NAME_MISMATCH"),
			mutate: func(r *riskv1.CheckSellerRequest) {
				r.Payout.HolderName = rtlOverride + "司公限有易贸某某州福"
			}},
		{name: "combining marks in names", code: codes.OK, decided: approvedClean, mutate: func(r *riskv1.CheckSellerRequest) {
			r.Identity.FullName = "Zo" + "e\u0308" + " Ch" + eAcute + "vez"
			r.License.LegalRepresentative = r.Identity.FullName
		}},
		{name: "emoji in names and address", code: codes.OK, decided: withReason("ID_HOLDER_NOT_LEGAL_REP"), mutate: func(r *riskv1.CheckSellerRequest) {
			r.Identity.FullName = "张三" + family
			r.License.CompanyName = "🛒" + family + "有限公司"
			r.Contact.Address = strings.Repeat(family, 512/7)
			r.Contact.ChatHandle = "🙂"
		}},
		// Control characters (Cc) other than NUL are taken in a name, and
		// removed before names are compared (names.Canonical): the name is
		// the legal representative's.
		{name: "control characters in a name", code: codes.OK, decided: approvedClean, mutate: func(r *riskv1.CheckSellerRequest) {
			r.Identity.FullName = "张\x01三\x1b\u0085"
		}},
		// NUL is not: no store could keep it (see nul_test.go).
		{name: "NUL in a name", code: codes.InvalidArgument, fields: []string{"identity.full_name"}, mutate: func(r *riskv1.CheckSellerRequest) {
			r.Identity.FullName = "张\x00三"
		}},
		{name: "whitespace-only name is one or more characters", code: codes.OK, decided: withReason("ID_HOLDER_NOT_LEGAL_REP"), mutate: func(r *riskv1.CheckSellerRequest) {
			r.Identity.FullName = " \u3000"
		}},
		// max_len counts code points (characters), not bytes or graphemes.
		{name: "name of 128 four-byte characters (512 bytes)", code: codes.OK, decided: approvedClean, mutate: func(r *riskv1.CheckSellerRequest) {
			r.Identity.FullName = strings.Repeat(rune4, 128)
			r.License.LegalRepresentative = strings.Repeat(rune4, 128)
		}},
		{name: "name of 129 four-byte characters", code: codes.InvalidArgument, fields: []string{"identity.full_name"}, mutate: func(r *riskv1.CheckSellerRequest) {
			r.Identity.FullName = strings.Repeat(rune4, 129)
		}},
		{name: "64 graphemes of two code points each is 128 characters", code: codes.OK, decided: approvedClean, mutate: func(r *riskv1.CheckSellerRequest) {
			r.Identity.FullName = strings.Repeat(eAcute, 64)
			r.License.LegalRepresentative = r.Identity.FullName
		}},
		{name: "65 graphemes of two code points each is 130 characters", code: codes.InvalidArgument, fields: []string{"identity.full_name"}, mutate: func(r *riskv1.CheckSellerRequest) {
			r.Identity.FullName = strings.Repeat(eAcute, 65)
		}},
		{name: "18 ZWJ families are 126 characters, 19 are 133", code: codes.InvalidArgument, fields: []string{"license.legal_representative"}, mutate: func(r *riskv1.CheckSellerRequest) {
			r.Identity.FullName = strings.Repeat(family, 18)
			r.License.LegalRepresentative = strings.Repeat(family, 19)
		}},
		{name: "address of 512 four-byte characters", code: codes.OK, decided: approvedClean, mutate: func(r *riskv1.CheckSellerRequest) {
			r.Contact.Address = strings.Repeat(rune4, 512)
		}},
		{name: "address of 513 four-byte characters", code: codes.InvalidArgument, fields: []string{"contact.address"}, mutate: func(r *riskv1.CheckSellerRequest) {
			r.Contact.Address = strings.Repeat(rune4, 513)
		}},
		{name: "company name of 257 characters", code: codes.InvalidArgument, fields: []string{"license.company_name"}, mutate: func(r *riskv1.CheckSellerRequest) {
			r.License.CompanyName = strings.Repeat("公", 257)
		}},
		{name: "RTL override hides nothing from the e-mail rule", code: codes.InvalidArgument, fields: []string{"contact.email"}, mutate: func(r *riskv1.CheckSellerRequest) {
			r.Contact.Email = "shop" + rtlOverride + "@example.com"
		}},
		{name: "request_id of 128 four-byte characters", code: codes.OK, decided: func(t *testing.T, d *riskv1.Decision) {
			approvedClean(t, d)
			storedIntact(t, h, d)
		}, mutate: func(r *riskv1.CheckSellerRequest) {
			r.RequestId = strings.Repeat(rune4, 128)
		}},
		{name: "request_id of 129 characters", code: codes.InvalidArgument, fields: []string{"request_id"}, mutate: func(r *riskv1.CheckSellerRequest) {
			r.RequestId = strings.Repeat(rune4, 129)
		}},
		// Empty strings where a value is required.
		{name: "empty request_id", code: codes.InvalidArgument, fields: []string{"request_id"}, mutate: func(r *riskv1.CheckSellerRequest) {
			r.RequestId = ""
		}},
		{name: "empty seller_id, device_id and full_name", code: codes.InvalidArgument,
			fields: []string{"client.device_id", "identity.full_name", "seller_id"}, mutate: func(r *riskv1.CheckSellerRequest) {
				r.SellerId, r.Client.DeviceId, r.Identity.FullName = "", "", ""
			}},
		{name: "empty licence and payout fields", code: codes.InvalidArgument,
			fields: []string{"license.company_name", "license.legal_representative", "license.uscc", "payout.account_number", "payout.holder_name"},
			mutate: func(r *riskv1.CheckSellerRequest) {
				r.License = &riskv1.BusinessLicense{}
				r.Payout = &riskv1.PayoutAccount{}
			}},
		{name: "resident ID without its number", code: codes.InvalidArgument, fields: []string{"identity"}, mutate: func(r *riskv1.CheckSellerRequest) {
			r.Identity.Number = ""
		}},
		{name: "passport without its MRZ", code: codes.InvalidArgument, fields: []string{"identity"}, mutate: func(r *riskv1.CheckSellerRequest) {
			r.Identity.Type = riskv1.IdentityDocumentType_IDENTITY_DOCUMENT_TYPE_PASSPORT
		}},
		{name: "empty IP address", code: codes.InvalidArgument, fields: []string{"client.ip_address"}, mutate: func(r *riskv1.CheckSellerRequest) {
			r.Client.IpAddress = ""
		}},
		{name: "missing required messages", code: codes.InvalidArgument, fields: []string{"client", "contact", "identity"}, mutate: func(r *riskv1.CheckSellerRequest) {
			r.Client, r.Contact, r.Identity = nil, nil, nil
		}},
		{name: "locale not offered", code: codes.InvalidArgument, fields: []string{"locale"}, mutate: func(r *riskv1.CheckSellerRequest) {
			r.Locale = "zh-TW"
		}},
	}
	runHostile(t, riskv1.Check_CHECK_SELLER, base, cases, func(ctx context.Context, r *riskv1.CheckSellerRequest) (*riskv1.Decision, error) {
		resp, err := h.client.CheckSeller(ctx, r)
		return resp.GetDecision(), err
	})
}

// TestHostileInvalidUTF8NeverLeavesTheClient: proto3 strings must be valid
// UTF-8, and the Go client refuses to marshal one that is not; the call
// fails in the client with INTERNAL and the server never sees the message.
// A server that got the bytes would refuse them too, also with INTERNAL and
// also naming UTF-8, so the test tells the two apart by the client's own
// message and by the server's spans. grpc-go opens the stream before it
// marshals, so the server may see a stream that the client then resets:
// such a span ends CANCELLED, reached no handler and decided nothing.
func TestHostileInvalidUTF8NeverLeavesTheClient(t *testing.T) {
	h := start(t, setup{})
	const method = "risk.v1.RiskService/CheckSeller"
	for _, bad := range []string{"\xff", "张\xe4\xb8", "\xed\xa0\x80" /* a UTF-16 surrogate */, "\xc0\xaf" /* overlong '/' */} {
		req := cleanSeller()
		req.RequestId = "hostile-utf8"
		req.Identity.FullName = bad
		resp, err := h.client.CheckSeller(context.Background(), req)
		if resp != nil {
			t.Errorf("full_name %q: got a response %v", bad, resp)
		}
		st := status.Convert(err)
		if st.Code() != codes.Internal || !strings.HasPrefix(st.Message(), "grpc: error while marshaling: ") || !strings.Contains(st.Message(), "UTF-8") {
			t.Fatalf("full_name %q: got %v, want the client's INTERNAL \"grpc: error while marshaling: ... UTF-8\"", bad, err)
		}
	}
	// It reached no handler: the request ID is still free, and the valid
	// request is decided as the clean seller it is.
	req := cleanSeller()
	req.RequestId = "hostile-utf8"
	resp, err := h.client.CheckSeller(context.Background(), req)
	if err != nil {
		t.Fatalf("after refused marshalling: %v", err)
	}
	d := resp.GetDecision()
	checkDecision(t, riskv1.Check_CHECK_SELLER, "hostile-utf8", d)
	approvedClean(t, d)

	// Every server span of the method has ended (the valid call's comes
	// last on the connection), then: one answered OK with this decision,
	// any other was cancelled by the client before a message came.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && (!hasSpan(h.spans, method) || startedSpans(h.spans, method) != endedSpans(h.spans, method)) {
		time.Sleep(5 * time.Millisecond)
	}
	var answered int
	for _, s := range h.spans.Ended() {
		if s.Name() != method {
			continue
		}
		attrs := map[string]string{}
		for _, kv := range s.Attributes() {
			attrs[string(kv.Key)] = kv.Value.Emit()
		}
		switch code := attrs["rpc.response.status_code"]; code {
		case "OK":
			answered++
			if attrs["riskd.decision_id"] != d.GetDecisionId() {
				t.Errorf("the server answered CheckSeller with decision %q, want only the valid call's %q", attrs["riskd.decision_id"], d.GetDecisionId())
			}
		case "CANCELLED":
			if id, ok := attrs["riskd.decision_id"]; ok {
				t.Errorf("a cancelled CheckSeller call reached the engine and made decision %s", id)
			}
		default:
			t.Errorf("the server ended a CheckSeller call with %s: a request with invalid UTF-8 reached it (span %v)", code, attrs)
		}
	}
	if answered != 1 {
		t.Errorf("the server answered %d CheckSeller calls; want 1, the valid one", answered)
	}
}

// startedSpans counts the spans named name that were started, ended or not.
func startedSpans(r *tracetest.SpanRecorder, name string) int {
	var n int
	for _, s := range r.Started() {
		if s.Name() == name {
			n++
		}
	}
	return n
}

// endedSpans counts the spans named name that have ended.
func endedSpans(r *tracetest.SpanRecorder, name string) int {
	var n int
	for _, s := range r.Ended() {
		if s.Name() == name {
			n++
		}
	}
	return n
}

// plainOrder is an ordinary gift-card order, for cases to break.
func plainOrder() *riskv1.ScoreGiftCardPurchaseRequest {
	r := pastOrder("hostile", 20_000)
	r.OrderId = "order-hostile"
	r.Cards = []*riskv1.GiftCardLine{{FaceValueMinor: 20_000, Quantity: 1}}
	return r
}

func TestHostileScoreGiftCardPurchase(t *testing.T) {
	h := start(t, setup{})
	lines := func(n int, face int64, qty int32) []*riskv1.GiftCardLine {
		out := make([]*riskv1.GiftCardLine, n)
		for i := range out {
			out[i] = &riskv1.GiftCardLine{FaceValueMinor: face, Quantity: qty}
		}
		return out
	}
	cases := []hostileCase[*riskv1.ScoreGiftCardPurchaseRequest]{
		{name: "negative total", code: codes.InvalidArgument, fields: []string{"total.amount_minor"}, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.Total.AmountMinor = -1
		}},
		{name: "most negative total", code: codes.InvalidArgument, fields: []string{"total.amount_minor"}, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.Total.AmountMinor = math.MinInt64
		}},
		{name: "total at the 1e15 bound", code: codes.OK, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.Total.AmountMinor = maxAmount
			r.Cards = []*riskv1.GiftCardLine{{FaceValueMinor: maxFace, Quantity: 1_000}}
		}},
		{name: "total one over the bound", code: codes.InvalidArgument, fields: []string{"total.amount_minor"}, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.Total.AmountMinor = maxAmount + 1
		}},
		{name: "largest int64 total", code: codes.InvalidArgument, fields: []string{"total.amount_minor"}, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.Total.AmountMinor = math.MaxInt64
		}},
		{name: "caller history at and over the bound", code: codes.InvalidArgument,
			fields: []string{"caller_history.past_gift_card_value.amount_minor", "caller_history.past_gift_card_orders"},
			mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
				r.CallerHistory = &riskv1.PurchaseHistory{
					PastGiftCardOrders: math.MaxInt32,
					PastGiftCardValue:  &riskv1.Money{AmountMinor: maxAmount + 1, Currency: "CNY"},
					TypicalOrderValue:  &riskv1.Money{AmountMinor: maxAmount, Currency: "CNY"},
				}
			}},
		{name: "caller history at every bound", code: codes.OK, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.CallerHistory = &riskv1.PurchaseHistory{
				PastGiftCardOrders: 10_000_000,
				PastGiftCardValue:  &riskv1.Money{AmountMinor: maxAmount, Currency: "CNY"},
				TypicalOrderValue:  &riskv1.Money{AmountMinor: maxAmount, Currency: "CNY"},
			}
		}},
		// The bounds keep quantity × face value summed over the lines
		// inside an int64: 100 × 10 000 × 1e12 = 1e18 < 9.22e18, which
		// is above any total (1e15), so it is refused as a mismatch.
		{name: "every line at its bounds (1e18 in cards)", code: codes.InvalidArgument, fields: []string{"total"}, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.Cards = lines(100, maxFace, 10_000)
			r.Total.AmountMinor = maxAmount
		}},
		{name: "cards summing exactly to the 1e15 bound", code: codes.OK, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.Cards = lines(100, 1_000_000_000, 10_000)
			r.Total.AmountMinor = maxAmount
		}},
		{name: "total one fen below the cards", code: codes.InvalidArgument, fields: []string{"total"}, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.Total.AmountMinor--
		}},
		{name: "total one fen above the cards", code: codes.InvalidArgument, fields: []string{"total"}, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.Total.AmountMinor++
		}},
		{name: "total of zero for real cards", code: codes.InvalidArgument, fields: []string{"total"}, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.Total.AmountMinor = 0
		}},
		{name: "total matching two lines", code: codes.OK, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.Cards = []*riskv1.GiftCardLine{{FaceValueMinor: 10_000, Quantity: 3}, {FaceValueMinor: 5_000, Quantity: 2}}
			r.Total.AmountMinor = 40_000
		}},
		{name: "currency not in ISO 4217", code: codes.InvalidArgument, fields: []string{"total.currency"}, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.Total.Currency = "ZZZ"
		}},
		{name: "withdrawn currency (BYR, withdrawn 2017)", code: codes.InvalidArgument, fields: []string{"total.currency"}, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.Total.Currency = "BYR"
		}},
		{name: "ISO code without a minor unit (XXX, no currency)", code: codes.InvalidArgument, fields: []string{"total.currency"}, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.Total.Currency = "XXX"
		}},
		{name: "caller history in an unknown currency", code: codes.InvalidArgument, fields: []string{"caller_history.typical_order_value.currency"}, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.CallerHistory = &riskv1.PurchaseHistory{TypicalOrderValue: &riskv1.Money{AmountMinor: 1, Currency: "RMB"}}
		}},
		{name: "another active currency", code: codes.OK, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.Total.Currency = "HKD"
		}},
		{name: "face value one over its bound", code: codes.InvalidArgument, fields: []string{"cards[0].face_value_minor"}, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.Cards[0].FaceValueMinor = maxFace + 1
		}},
		{name: "quantity one over its bound", code: codes.InvalidArgument, fields: []string{"cards[0].quantity"}, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.Cards[0].Quantity = 10_001
		}},
		{name: "int64 overflow of quantity × face value", code: codes.InvalidArgument,
			fields: []string{"cards[1].face_value_minor", "cards[1].quantity"}, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
				r.Cards = append(r.Cards, &riskv1.GiftCardLine{FaceValueMinor: math.MaxInt64, Quantity: math.MaxInt32})
			}},
		{name: "product that wraps negative", code: codes.InvalidArgument, fields: []string{"cards[0].face_value_minor"}, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.Cards[0] = &riskv1.GiftCardLine{FaceValueMinor: 1 << 62, Quantity: 4} // 2^64: wraps to 0
		}},
		{name: "zero and negative lines", code: codes.InvalidArgument,
			fields: []string{"cards[0].face_value_minor", "cards[0].quantity", "cards[1].face_value_minor", "cards[1].quantity"},
			mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
				r.Cards = []*riskv1.GiftCardLine{{}, {FaceValueMinor: -1, Quantity: -1}}
			}},
		{name: "101 card lines", code: codes.InvalidArgument, fields: []string{"cards"}, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.Cards = lines(101, 100, 1)
		}},
		{name: "no card lines", code: codes.InvalidArgument, fields: []string{"cards"}, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.Cards = nil
		}},
		{name: "currency in lower case", code: codes.InvalidArgument, fields: []string{"total.currency"}, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.Total.Currency = "cny"
		}},
		// Timestamps are refused outside [2000-01-01, the server's now +
		// 24 h] (risk.proto, "Time ranges"), naming each field, so no
		// value can make a time rule read nonsense or fail to evaluate.
		{name: "account created in year 1", code: codes.InvalidArgument, fields: []string{"account_created_at"}, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.AccountCreatedAt = timestamppb.New(yearOne)
		}},
		{name: "account created in year 9999", code: codes.InvalidArgument, fields: []string{"account_created_at"}, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.AccountCreatedAt = timestamppb.New(year9999)
		}},
		{name: "account created a second before 2000", code: codes.InvalidArgument, fields: []string{"account_created_at"}, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.AccountCreatedAt = timestamppb.New(time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC))
		}},
		{name: "account created at the start of 2000", code: codes.OK, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.AccountCreatedAt = timestamppb.New(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))
		}},
		{name: "credit drawn in year 1", code: codes.InvalidArgument, fields: []string{"payment.credit_drawn_at"}, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.Payment.CreditDrawnAt = timestamppb.New(yearOne)
		}},
		{name: "credit drawn in year 9999", code: codes.InvalidArgument, fields: []string{"payment.credit_drawn_at"}, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.Payment.CreditDrawnAt = timestamppb.New(year9999)
		}},
		{name: "credit drawn a day ahead (clock skew)", code: codes.OK, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.Payment.CreditDrawnAt = timestamppb.New(time.Now().Add(24*time.Hour - time.Minute))
		}},
		{name: "credit drawn a day and a minute ahead", code: codes.InvalidArgument, fields: []string{"payment.credit_drawn_at"}, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.Payment.CreditDrawnAt = timestamppb.New(time.Now().Add(24*time.Hour + time.Minute))
		}},
		{name: "session times at both ends", code: codes.InvalidArgument,
			fields: []string{"recipient.added_at", "session.device_first_seen_at", "session.email_changed_at", "session.password_changed_at", "session.phone_changed_at"},
			mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
				r.Session = &riskv1.SessionFacts{
					PasswordChangedAt: timestamppb.New(yearOne), PhoneChangedAt: timestamppb.New(year9999),
					EmailChangedAt: timestamppb.New(yearOne), DeviceFirstSeenAt: timestamppb.New(year9999),
				}
				r.Recipient.AddedAt = timestamppb.New(year9999)
			}},
		// Timestamps outside the proto range (not valid Timestamps at all)
		// are refused the same way.
		{name: "timestamps outside the proto range", code: codes.InvalidArgument, fields: []string{"account_created_at", "payment.credit_drawn_at"}, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.AccountCreatedAt = &timestamppb.Timestamp{Seconds: math.MaxInt64, Nanos: -5}
			r.Payment.CreditDrawnAt = &timestamppb.Timestamp{Seconds: math.MinInt64, Nanos: 2_000_000_000}
		}},
		{name: "negative checkout duration in denormal form", code: codes.InvalidArgument, fields: []string{"session.checkout_duration"},
			mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
				r.Session = &riskv1.SessionFacts{CheckoutDuration: &durationpb.Duration{Seconds: 1, Nanos: -2_000_000_000}}
			}},
		{name: "account_created_at missing", code: codes.InvalidArgument, fields: []string{"account_created_at"}, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.AccountCreatedAt = nil
		}},
		{name: "empty strings where required", code: codes.InvalidArgument,
			fields: []string{"account_id", "order_id", "payment.fingerprint", "request_id"}, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
				r.RequestId, r.OrderId, r.AccountId, r.Payment.Fingerprint = "", "", "", ""
			}},
		{name: "recipient with neither e-mail nor phone", code: codes.InvalidArgument, fields: []string{"recipient"}, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.Recipient = &riskv1.Recipient{OwnedByAccount: true}
		}},
		{name: "recipient e-mail with an RTL override", code: codes.InvalidArgument, fields: []string{"recipient.email"}, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.Recipient.Email = "victim" + rtlOverride + "@example.com"
		}},
		{name: "emoji brand at and over its length", code: codes.InvalidArgument, fields: []string{"brand"}, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.Brand = strings.Repeat("🎁", 65)
		}},
		{name: "emoji brand of 64 characters", code: codes.OK, mutate: func(r *riskv1.ScoreGiftCardPurchaseRequest) {
			r.Brand = strings.Repeat("🎁", 64)
			r.Client.DeviceId = strings.Repeat(rune4, 128)
		}},
	}
	runHostile(t, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, plainOrder, cases, func(ctx context.Context, r *riskv1.ScoreGiftCardPurchaseRequest) (*riskv1.Decision, error) {
		resp, err := h.client.ScoreGiftCardPurchase(ctx, r)
		return resp.GetDecision(), err
	})
}

func TestHostileEvaluateRefund(t *testing.T) {
	h := start(t, setup{})
	base := func() *riskv1.EvaluateRefundRequest {
		r := overPaidRefund()
		r.RequestId = "hostile"
		r.AmountRequested.AmountMinor = 20_000
		return r
	}
	cases := []hostileCase[*riskv1.EvaluateRefundRequest]{
		{name: "negative amounts", code: codes.InvalidArgument, fields: []string{"amount_paid.amount_minor", "amount_requested.amount_minor"},
			mutate: func(r *riskv1.EvaluateRefundRequest) {
				r.AmountRequested.AmountMinor, r.AmountPaid.AmountMinor = -1, math.MinInt64
			}},
		{name: "both amounts at the 1e15 bound", code: codes.OK, mutate: func(r *riskv1.EvaluateRefundRequest) {
			r.AmountRequested.AmountMinor, r.AmountPaid.AmountMinor = maxAmount, maxAmount
		}},
		{name: "requested at the bound, paid nothing", code: codes.OK, mutate: func(r *riskv1.EvaluateRefundRequest) {
			r.AmountRequested.AmountMinor, r.AmountPaid.AmountMinor = maxAmount, 0
		}},
		{name: "requested one over the bound", code: codes.InvalidArgument, fields: []string{"amount_requested.amount_minor"}, mutate: func(r *riskv1.EvaluateRefundRequest) {
			r.AmountRequested.AmountMinor = maxAmount + 1
		}},
		{name: "largest int64 paid", code: codes.InvalidArgument, fields: []string{"amount_paid.amount_minor"}, mutate: func(r *riskv1.EvaluateRefundRequest) {
			r.AmountPaid.AmountMinor = math.MaxInt64
		}},
		// A message-level rule: protovalidate reports it against the
		// request itself, so its field path is empty.
		{name: "currencies differ", code: codes.InvalidArgument, fields: []string{"refund.same_currency"}, mutate: func(r *riskv1.EvaluateRefundRequest) {
			r.AmountPaid.Currency = "USD"
		}},
		{name: "digital delivery at both ends of time", code: codes.InvalidArgument, fields: []string{"digital.delivered_at", "digital.redeemed_at"}, mutate: func(r *riskv1.EvaluateRefundRequest) {
			r.GoodsKind = riskv1.GoodsKind_GOODS_KIND_DIGITAL
			r.Digital = &riskv1.DigitalDelivery{DeliveredAt: timestamppb.New(yearOne), RedeemedAt: timestamppb.New(year9999)}
		}},
		{name: "buyer reason of 2000 emoji", code: codes.OK, mutate: func(r *riskv1.EvaluateRefundRequest) {
			r.BuyerReason = strings.Repeat("😡", 2000)
		}},
		{name: "buyer reason of 2001 characters", code: codes.InvalidArgument, fields: []string{"buyer_reason"}, mutate: func(r *riskv1.EvaluateRefundRequest) {
			r.BuyerReason = strings.Repeat(rtlOverride, 2001)
		}},
		{name: "weights and counts out of range", code: codes.InvalidArgument,
			fields: []string{"buyer_orders_90d", "return_shipment.declared_weight_grams", "return_shipment.measured_weight_grams"},
			mutate: func(r *riskv1.EvaluateRefundRequest) {
				r.ReturnShipment = &riskv1.ReturnShipment{DeclaredWeightGrams: -1, MeasuredWeightGrams: math.MaxInt32}
				r.BuyerOrders_90D = math.MaxInt32
			}},
		{name: "weights and counts at their bounds", code: codes.OK, mutate: func(r *riskv1.EvaluateRefundRequest) {
			r.ReturnShipment = &riskv1.ReturnShipment{DeclaredWeightGrams: 10_000_000, MeasuredWeightGrams: 0}
			r.BuyerOrders_90D = 10_000_000
		}},
		{name: "empty strings where required", code: codes.InvalidArgument,
			fields: []string{"buyer_account_id", "client.device_id", "order_id", "request_id", "seller_id"},
			mutate: func(r *riskv1.EvaluateRefundRequest) {
				r.RequestId, r.OrderId, r.BuyerAccountId, r.SellerId, r.Client.DeviceId = "", "", "", "", ""
			}},
		{name: "other destination without its fingerprint", code: codes.InvalidArgument, fields: []string{"destination"}, mutate: func(r *riskv1.EvaluateRefundRequest) {
			r.Destination = &riskv1.RefundDestination{Kind: riskv1.DestinationKind_DESTINATION_KIND_OTHER}
		}},
		{name: "seller ID of ZWJ sequences", code: codes.OK, mutate: func(r *riskv1.EvaluateRefundRequest) {
			r.SellerId = strings.Repeat(family, 18)
		}},
	}
	runHostile(t, riskv1.Check_CHECK_REFUND, base, cases, func(ctx context.Context, r *riskv1.EvaluateRefundRequest) (*riskv1.Decision, error) {
		resp, err := h.client.EvaluateRefund(ctx, r)
		return resp.GetDecision(), err
	})
}

func TestHostileRecordEvents(t *testing.T) {
	h := start(t, setup{})
	now := time.Now()
	event := func(id string, at time.Time) *riskv1.HistoryEvent {
		o := plainOrder()
		o.RequestId, o.OrderId = id, id
		return &riskv1.HistoryEvent{EventId: id, OccurredAt: timestamppb.New(at),
			Event: &riskv1.HistoryEvent_GiftCardOrder{GiftCardOrder: o}}
	}
	many := func(prefix string, n int) []*riskv1.HistoryEvent {
		out := make([]*riskv1.HistoryEvent, n)
		for i := range out {
			out[i] = event(fmt.Sprintf("%s-%d", prefix, i), now.Add(-time.Hour))
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		events   []*riskv1.HistoryEvent
		code     codes.Code
		fields   []string
		recorded int32
	}{
		{name: "occurred in year 1", code: codes.InvalidArgument, fields: []string{"events[0].occurred_at"},
			events: []*riskv1.HistoryEvent{event("year-1", yearOne)}},
		{name: "occurred in year 9999", code: codes.InvalidArgument, fields: []string{"events[0].occurred_at"},
			events: []*riskv1.HistoryEvent{event("year-9999", year9999)}},
		{name: "occurred at the largest int64 second", code: codes.InvalidArgument, fields: []string{"events[0].occurred_at"},
			events: func() []*riskv1.HistoryEvent {
				e := event("max-seconds", now)
				e.OccurredAt = &timestamppb.Timestamp{Seconds: math.MaxInt64}
				return []*riskv1.HistoryEvent{e}
			}()},
		{name: "occurred at the smallest int64 second", code: codes.InvalidArgument, fields: []string{"events[0].occurred_at"},
			events: func() []*riskv1.HistoryEvent {
				e := event("min-seconds", now)
				e.OccurredAt = &timestamppb.Timestamp{Seconds: math.MinInt64}
				return []*riskv1.HistoryEvent{e}
			}()},
		{name: "occurred_at missing", code: codes.InvalidArgument, fields: []string{"events[0].occurred_at"},
			events: []*riskv1.HistoryEvent{{EventId: "no-time",
				Event: &riskv1.HistoryEvent_Outcome{Outcome: &riskv1.OutcomeEvent{AccountId: "a", Label: riskv1.OutcomeLabel_OUTCOME_LABEL_CHARGEBACK}}}}},
		{name: "a past order with times at both ends inside it", code: codes.InvalidArgument,
			fields: []string{"events[0].gift_card_order.account_created_at", "events[0].gift_card_order.payment.credit_drawn_at"},
			events: func() []*riskv1.HistoryEvent {
				e := event("inner-times", now.Add(-time.Hour))
				e.GetGiftCardOrder().AccountCreatedAt = timestamppb.New(yearOne)
				e.GetGiftCardOrder().Payment.CreditDrawnAt = timestamppb.New(year9999)
				return []*riskv1.HistoryEvent{e}
			}()},
		{name: "a past order with a negative total", code: codes.InvalidArgument, fields: []string{"events[0].gift_card_order.total.amount_minor"},
			events: func() []*riskv1.HistoryEvent {
				e := event("negative", now.Add(-time.Hour))
				e.GetGiftCardOrder().Total.AmountMinor = -1
				return []*riskv1.HistoryEvent{e}
			}()},
		{name: "a past order whose total is not its cards", code: codes.InvalidArgument, fields: []string{"events[1].gift_card_order.total"},
			events: func() []*riskv1.HistoryEvent {
				e := event("mismatch", now.Add(-time.Hour))
				e.GetGiftCardOrder().Total.AmountMinor++
				return []*riskv1.HistoryEvent{event("fine", now.Add(-2*time.Hour)), e}
			}()},
		{name: "empty event_id and no event", code: codes.InvalidArgument, fields: []string{"events[0].event", "events[0].event_id"},
			events: []*riskv1.HistoryEvent{{OccurredAt: timestamppb.New(now)}}},
		{name: "outcome about nobody", code: codes.InvalidArgument, fields: []string{"events[0].outcome"},
			events: []*riskv1.HistoryEvent{{EventId: "nobody", OccurredAt: timestamppb.New(now),
				Event: &riskv1.HistoryEvent_Outcome{Outcome: &riskv1.OutcomeEvent{Label: riskv1.OutcomeLabel_OUTCOME_LABEL_CHARGEBACK}}}}},
		{name: "event_id of 128 four-byte characters", code: codes.OK, recorded: 1,
			events: []*riskv1.HistoryEvent{event(strings.Repeat(rune4, 128), now.Add(-time.Minute))}},
		{name: "no events", code: codes.InvalidArgument, fields: []string{"events"}},
		{name: "1000 events, the cap", code: codes.OK, recorded: 1000, events: many("cap", 1000)},
		{name: "1001 events", code: codes.InvalidArgument, fields: []string{"events"}, events: many("over", 1001)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			resp, err := h.client.RecordEvents(ctx, &riskv1.RecordEventsRequest{Events: tc.events})
			expectAnswer(t, 0, "", nil, err, tc.code, tc.fields)
			if err == nil && (resp.GetRecorded() != tc.recorded || resp.GetDuplicates() != 0) {
				t.Fatalf("recorded %d, duplicates %d; want %d recorded", resp.GetRecorded(), resp.GetDuplicates(), tc.recorded)
			}
		})
	}
}

// TestHostileMessageOverMaxSize: the server takes messages up to 1 MiB;
// one byte more is refused by gRPC with RESOURCE_EXHAUSTED before any
// interceptor, and one of exactly 1 MiB reaches validation.
func TestHostileMessageOverMaxSize(t *testing.T) {
	h := start(t, setup{})
	sized := func(size int) *riskv1.CheckSellerRequest {
		req := cleanSeller()
		req.RequestId = fmt.Sprintf("hostile-size-%d", size)
		req.Contact.ChatHandle = ""
		pad := size - proto.Size(req)
		for range 8 { // the length prefix grows with the padding
			req.Contact.ChatHandle = strings.Repeat("x", pad)
			pad += size - proto.Size(req)
		}
		if proto.Size(req) != size {
			t.Fatalf("built %d bytes, want %d", proto.Size(req), size)
		}
		return req
	}
	_, err := h.client.CheckSeller(context.Background(), sized(maxMessageBytes+1))
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("1 MiB + 1: got %v, want RESOURCE_EXHAUSTED", err)
	}
	_, err = h.client.CheckSeller(context.Background(), sized(maxMessageBytes))
	expectAnswer(t, 0, "", nil, err, codes.InvalidArgument, []string{"contact.chat_handle"})

	// A batch over the limit is refused whole, like any message.
	events := make([]*riskv1.HistoryEvent, 1000)
	for i := range events {
		r := overPaidRefund()
		r.BuyerReason = strings.Repeat("退", 400) // 1200 bytes each
		events[i] = &riskv1.HistoryEvent{EventId: fmt.Sprintf("big-%d", i), OccurredAt: timestamppb.Now(),
			Event: &riskv1.HistoryEvent_Refund{Refund: r}}
	}
	big := &riskv1.RecordEventsRequest{Events: events}
	if proto.Size(big) <= maxMessageBytes {
		t.Fatalf("batch is only %d bytes", proto.Size(big))
	}
	if _, err := h.client.RecordEvents(context.Background(), big); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("batch of %d bytes: got %v, want RESOURCE_EXHAUSTED", proto.Size(big), err)
	}
	// The connection survives the refusals.
	resp, err := h.client.CheckSeller(context.Background(), cleanSeller())
	if err != nil {
		t.Fatal(err)
	}
	checkDecision(t, riskv1.Check_CHECK_SELLER, cleanSeller().GetRequestId(), resp.GetDecision())
}
