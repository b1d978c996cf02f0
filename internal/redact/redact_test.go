package redact_test

import (
	"strings"
	"testing"

	"github.com/riskd/riskd/internal/redact"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestRequestKeepsFactsAndDropsIdentifiers(t *testing.T) {
	seller := &riskv1.CheckSellerRequest{
		RequestId: "req-secret-1", SellerId: "seller-secret",
		Client:   &riskv1.Client{DeviceId: "device-secret", IpAddress: "203.0.113.7"},
		Identity: &riskv1.IdentityDocument{Type: riskv1.IdentityDocumentType_IDENTITY_DOCUMENT_TYPE_RESIDENT_ID, Number: "11010519491231002X", FullName: "张三"},
		Contact:  &riskv1.Contact{Mobile: "13800138000", Email: "someone@example.com"}, // no landline, no address
		Locale:   "zh-CN",
	}
	got := redact.Request(seller).(*riskv1.CheckSellerRequest)
	text := prototext.Format(got)
	for _, raw := range []string{"req-secret-1", "seller-secret", "device-secret", "203.0.113.7", "11010519491231002X", "张三", "13800138000", "someone@example.com"} {
		if strings.Contains(text, raw) {
			t.Errorf("redacted request still holds %q", raw)
		}
	}
	if got.GetContact().GetLandline() != "" || got.GetContact().GetAddress() != "" {
		t.Error("an empty field became non-empty: rules testing for it would change their answer")
	}
	if got.GetContact().GetMobile() != redact.Placeholder {
		t.Errorf("mobile = %q, want the placeholder: it was set", got.GetContact().GetMobile())
	}
	if got.GetIdentity().GetType() != seller.GetIdentity().GetType() || got.GetLocale() != "zh-CN" {
		t.Error("enums and the locale must be kept")
	}
	if seller.GetIdentity().GetNumber() != "11010519491231002X" {
		t.Fatal("the original request was changed")
	}

	order := &riskv1.ScoreGiftCardPurchaseRequest{
		Total:   &riskv1.Money{AmountMinor: 1_000_000, Currency: "CNY"},
		Cards:   []*riskv1.GiftCardLine{{FaceValueMinor: 100_000, Quantity: 10}},
		Payment: &riskv1.PaymentInstrument{Fingerprint: "fp-secret", CreditDrawnAt: timestamppb.New(timestamppb.Now().AsTime())},
		Session: &riskv1.SessionFacts{ActiveCall: true},
		Brand:   "apple",
	}
	g := redact.Request(order).(*riskv1.ScoreGiftCardPurchaseRequest)
	if !proto.Equal(g.GetTotal(), order.GetTotal()) || !proto.Equal(g.GetCards()[0], order.GetCards()[0]) ||
		!proto.Equal(g.GetPayment().GetCreditDrawnAt(), order.GetPayment().GetCreditDrawnAt()) ||
		!g.GetSession().GetActiveCall() || g.GetBrand() != "apple" {
		t.Errorf("facts rules weigh were lost: %v", g)
	}
	if g.GetPayment().GetFingerprint() == "fp-secret" {
		t.Error("instrument fingerprint kept")
	}
}
