package remote_test

import (
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/verifier"
	"github.com/riskd/riskd/internal/verifier/remote"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	verifierv1 "github.com/riskd/riskd/proto/risk/verifier/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var (
	sellerMD = (&riskv1.CheckSellerRequest{}).ProtoReflect().Descriptor()
	giftMD   = (&riskv1.ScoreGiftCardPurchaseRequest{}).ProtoReflect().Descriptor()
	refundMD = (&riskv1.EvaluateRefundRequest{}).ProtoReflect().Descriptor()
)

func TestResolve(t *testing.T) {
	tests := []struct {
		md      protoreflect.MessageDescriptor
		path    string
		wantErr string // empty: the path resolves
	}{
		{sellerMD, "seller_id", ""},
		{sellerMD, "license.uscc", ""},
		{sellerMD, "identity.type", ""},
		{giftMD, "total.amount_minor", ""},
		{giftMD, "caller_history.past_gift_card_orders", ""},
		{giftMD, "caller_history.typical_order_value.currency", ""},
		{giftMD, "session.active_call", ""},
		{giftMD, "payment.kind", ""},
		{giftMD, "payment.credit_drawn_at", ""},
		{giftMD, "account_created_at", ""},
		{refundMD, "buyer_orders_90d", ""},
		{refundMD, "return_shipment.tracking_mismatch", ""},
		{refundMD, "digital.redeemed_at", ""},
		{refundMD, "destination.kind", ""},

		{sellerMD, "nope", `has no field "nope"`},
		{sellerMD, "license.nope", `risk.v1.BusinessLicense has no field "nope"`},
		{sellerMD, "license.USCC", `has no field "USCC"`},
		{sellerMD, "sellerId", `has no field "sellerId"`}, // proto names, not JSON names
		{sellerMD, "", `has no field ""`},
		{sellerMD, "license..uscc", `has no field ""`},
		{sellerMD, "license.uscc.", `is not a message`},
		{refundMD, "session", `is a whole message`},
		{giftMD, "session.active_call.x", `"session.active_call" is not a message`},
		{giftMD, "cards", "repeated"},
		{giftMD, "cards.quantity", "repeated"},
		{sellerMD, "seller_id.x", `"seller_id" is not a message`},
		{giftMD, "total.amount_minor.x", `"total.amount_minor" is not a message`},
		{sellerMD, "license", "whole message"},
		{giftMD, "session.checkout_duration", "whole message"}, // a Duration is not a timestamp
		{giftMD, "payment.credit_drawn_at.seconds", `"payment.credit_drawn_at" is a timestamp`},
		{refundMD, "digital.delivered_at.nanos", "is a timestamp"},
		{sellerMD, "session.active_call", `CheckSellerRequest has no field "session"`},
	}
	for _, tt := range tests {
		t.Run(string(tt.md.Name())+"/"+tt.path, func(t *testing.T) {
			f, err := remote.Resolve(tt.md, tt.path)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Resolve = %v, want the path resolved", err)
				}
				if f.Path != tt.path {
					t.Errorf("Path = %q, want %q", f.Path, tt.path)
				}
				return
			}
			if err == nil {
				t.Fatalf("Resolve succeeded, want an error containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Resolve error %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

// TestProto3ZeroIsUnset pins the protobuf behaviour the facts rely on: a
// proto3 scalar without presence is "set" only when it is not zero, while a
// message field is set when present, even empty.
func TestProto3ZeroIsUnset(t *testing.T) {
	req := &riskv1.ScoreGiftCardPurchaseRequest{
		Total:   &riskv1.Money{},
		Payment: &riskv1.PaymentInstrument{CreditDrawnAt: &timestamppb.Timestamp{}},
		Session: &riskv1.SessionFacts{ActiveCall: false},
	}
	has := func(m protoreflect.Message, name string) bool {
		return m.Has(m.Descriptor().Fields().ByName(protoreflect.Name(name)))
	}
	m := req.ProtoReflect()
	for _, tc := range []struct {
		m    protoreflect.Message
		name string
		want bool
	}{
		{m, "total", true},
		{m, "session", true},
		{m, "caller_history", false},
		{m, "brand", false},
		{req.Total.ProtoReflect(), "amount_minor", false},
		{req.Session.ProtoReflect(), "active_call", false},
		{req.Payment.ProtoReflect(), "kind", false},
		{req.Payment.ProtoReflect(), "credit_drawn_at", true},
	} {
		if got := has(tc.m, tc.name); got != tc.want {
			t.Errorf("Has(%s.%s) = %v, want %v", tc.m.Descriptor().Name(), tc.name, got, tc.want)
		}
	}
}

func TestFactsSent(t *testing.T) {
	drawn := time.Date(2026, 3, 14, 11, 58, 0, 500, time.UTC)
	created := time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		check  riskv1.Check
		req    proto.Message
		fields []string
		want   map[string]*verifierv1.Value
	}{
		{
			name:  "seller strings and enum",
			check: riskv1.Check_CHECK_SELLER,
			req:   sellerRequest(),
			fields: []string{
				"seller_id", "license.uscc", "identity.type",
				"identity.mrz",       // empty string
				"payout.holder_name", // payout unset
			},
			want: map[string]*verifierv1.Value{
				"seller_id":     strVal("seller-1"),
				"license.uscc":  strVal("91350100M000100Y43"),
				"identity.type": strVal("IDENTITY_DOCUMENT_TYPE_RESIDENT_ID"),
			},
		},
		{
			name:  "gift card kinds",
			check: riskv1.Check_CHECK_GIFT_CARD_PURCHASE,
			req: &riskv1.ScoreGiftCardPurchaseRequest{
				RequestId: "req-1", OrderId: "order-1", AccountId: "acct-1",
				AccountCreatedAt: timestamppb.New(created),
				Client:           &riskv1.Client{DeviceId: "device-1", IpAddress: "203.0.113.7"},
				Total:            &riskv1.Money{AmountMinor: 1_000_000_00, Currency: "CNY"},
				Cards:            []*riskv1.GiftCardLine{{FaceValueMinor: 1_000_00, Quantity: 1000}},
				Payment: &riskv1.PaymentInstrument{
					Fingerprint: "fp-1", Kind: riskv1.InstrumentKind_INSTRUMENT_KIND_CREDIT_LINE, CreditDrawnAt: timestamppb.New(drawn),
				},
				Recipient: &riskv1.Recipient{Email: "a@example.com"},
				Session:   &riskv1.SessionFacts{ActiveCall: true, NewDevice: false},
			},
			fields: []string{
				"total.amount_minor", "total.currency", "payment.kind", "payment.credit_drawn_at",
				"account_created_at", "session.active_call",
				"session.new_device",                              // false
				"session.password_changed_at",                     // unset timestamp
				"caller_history.past_gift_card_orders",            // message unset
				"caller_history.typical_order_value.amount_minor", // two messages unset
				"brand", // empty string
			},
			want: map[string]*verifierv1.Value{
				"total.amount_minor":      intVal(1_000_000_00),
				"total.currency":          strVal("CNY"),
				"payment.kind":            strVal("INSTRUMENT_KIND_CREDIT_LINE"),
				"payment.credit_drawn_at": timeVal(drawn),
				"account_created_at":      timeVal(created),
				"session.active_call":     boolVal(true),
			},
		},
		{
			name:  "refund kinds",
			check: riskv1.Check_CHECK_REFUND,
			req: &riskv1.EvaluateRefundRequest{
				RequestId: "req-1", OrderId: "order-1", BuyerAccountId: "buyer-1", SellerId: "seller-1",
				GoodsKind:       riskv1.GoodsKind_GOODS_KIND_DIGITAL,
				Digital:         &riskv1.DigitalDelivery{DeliveredAt: &timestamppb.Timestamp{}},
				ReturnShipment:  &riskv1.ReturnShipment{DeclaredWeightGrams: 0, MeasuredWeightGrams: 1250, TrackingMismatch: true},
				Destination:     &riskv1.RefundDestination{Kind: riskv1.DestinationKind_DESTINATION_KIND_ORIGINAL_METHOD},
				BuyerOrders_90D: 7,
			},
			fields: []string{
				"buyer_orders_90d", "goods_kind", "destination.kind",
				"return_shipment.measured_weight_grams", "return_shipment.tracking_mismatch",
				"return_shipment.declared_weight_grams", // zero
				"digital.delivered_at",                  // set, to the epoch
				"digital.redeemed_at",                   // unset
			},
			want: map[string]*verifierv1.Value{
				"buyer_orders_90d":                      intVal(7),
				"goods_kind":                            strVal("GOODS_KIND_DIGITAL"),
				"destination.kind":                      strVal("DESTINATION_KIND_ORIGINAL_METHOD"),
				"return_shipment.measured_weight_grams": intVal(1250),
				"return_shipment.tracking_mismatch":     boolVal(true),
				"digital.delivered_at":                  timeVal(time.Unix(0, 0)),
			},
		},
		{
			// proto3 cannot tell zero from unset: the verifier sees
			// neither false, 0, "" nor the zero enum.
			name:  "zero values are absent",
			check: riskv1.Check_CHECK_GIFT_CARD_PURCHASE,
			req: &riskv1.ScoreGiftCardPurchaseRequest{
				Total:   &riskv1.Money{},
				Payment: &riskv1.PaymentInstrument{},
				Session: &riskv1.SessionFacts{},
			},
			fields: []string{"total.amount_minor", "total.currency", "payment.kind", "session.active_call", "session.new_location"},
			want:   map[string]*verifierv1.Value{},
		},
		{
			name:   "enum number without a name",
			check:  riskv1.Check_CHECK_GIFT_CARD_PURCHASE,
			req:    &riskv1.ScoreGiftCardPurchaseRequest{Payment: &riskv1.PaymentInstrument{Kind: 42}},
			fields: []string{"payment.kind"},
			want:   map[string]*verifierv1.Value{"payment.kind": strVal("42")},
		},
	}
	tg := startTarget(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := dial(t, plainSpec(tg, tt.fields...), quiet())
			if _, err := verify(t, v, verifier.Input{Check: tt.check, DecisionID: "dec-1", Request: tt.req, Now: time.Now()}); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			got := tg.last(t).req.GetFacts()
			for path, w := range tt.want {
				if g, ok := got[path]; !ok {
					t.Errorf("fact %q missing", path)
				} else if !proto.Equal(g, w) {
					t.Errorf("fact %q = %v, want %v", path, g, w)
				}
			}
			for path, g := range got {
				if _, ok := tt.want[path]; !ok {
					t.Errorf("fact %q = %v sent, want it absent", path, g)
				}
			}
		})
	}
}

func TestFieldsResolvedPerRequestType(t *testing.T) {
	tg := startTarget(t)
	// One failure would open the circuit: a field error must not count.
	spec := plainSpec(tg, "client.ip_address", "session.active_call")
	spec.FailuresToOpen, spec.OpenFor = 1, time.Minute
	v := dial(t, spec, quiet())
	client := &riskv1.Client{IpAddress: "203.0.113.7"}
	session := &riskv1.SessionFacts{ActiveCall: true}
	want := map[string]*verifierv1.Value{"client.ip_address": strVal("203.0.113.7"), "session.active_call": boolVal(true)}

	check := func(t *testing.T, c riskv1.Check, req proto.Message) {
		t.Helper()
		if _, err := verify(t, v, verifier.Input{Check: c, DecisionID: "dec-1", Request: req}); err != nil {
			t.Fatalf("Verify(%s): %v", c, err)
		}
		got := tg.last(t).req.GetFacts()
		if len(got) != len(want) {
			t.Errorf("%s: facts %v, want %v", c, got, want)
		}
		for k, w := range want {
			if !proto.Equal(got[k], w) {
				t.Errorf("%s: fact %q = %v, want %v", c, k, got[k], w)
			}
		}
	}
	check(t, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, &riskv1.ScoreGiftCardPurchaseRequest{Client: client, Session: session})
	check(t, riskv1.Check_CHECK_REFUND, &riskv1.EvaluateRefundRequest{Client: client, Session: session})

	before := tg.count()
	for range 2 {
		_, err := verify(t, v, verifier.Input{Check: riskv1.Check_CHECK_SELLER, DecisionID: "dec-1", Request: &riskv1.CheckSellerRequest{Client: client}})
		if err == nil || !strings.Contains(err.Error(), `no field "session"`) {
			t.Errorf("Verify of a seller request = %v, want the missing session field named", err)
		}
	}
	if n := tg.count(); n != before {
		t.Errorf("the target saw %d calls for requests whose fields do not resolve", n-before)
	}
	check(t, riskv1.Check_CHECK_GIFT_CARD_PURCHASE, &riskv1.ScoreGiftCardPurchaseRequest{Client: client, Session: session})
}
