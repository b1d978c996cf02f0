package policy_test

import (
	"testing"
	"time"

	"github.com/riskd/riskd/internal/policy"
	"github.com/riskd/riskd/internal/verifier"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// BenchmarkEvaluateDefault times one decision of the embedded default policy
// per check, on the requests the README walks through: the policy's part of
// the hot path, without the verifiers themselves.
func BenchmarkEvaluateDefault(b *testing.B) {
	p, err := policy.Load(policy.DefaultBytes(), policy.DefaultSource, map[string]bool{"identity": true, "license": true, "contact": true, "links": true, "lists": true, "velocity": true, "spending": true, "returns": true})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	seller := p.Check(riskv1.Check_CHECK_SELLER)
	sellerRuns := make([]policy.VerifierRun, 0, len(seller.Verifiers))
	for _, spec := range seller.Verifiers {
		res := map[string]verifier.Result{
			"identity": {Signals: map[string]any{
				"identity.valid": true, "identity.age": int64(76),
				"identity.province": "11", "identity.region_current": true,
			}},
			"license": {Signals: map[string]any{
				"license.present": true, "license.valid": true,
				"license.org_type": "enterprise", "license.region": "350100",
			}},
		}[spec.Name]
		sellerRuns = append(sellerRuns, policy.VerifierRun{Spec: spec, Status: policy.StatusOK, Result: res})
	}

	cases := []struct {
		name  string
		check riskv1.Check
		req   proto.Message
		runs  []policy.VerifierRun
		want  riskv1.Outcome
	}{
		{"seller/clean", riskv1.Check_CHECK_SELLER, benchSeller(), sellerRuns, riskv1.Outcome_OUTCOME_APPROVE},
		{"gift_card_purchase/coached-seed-002", riskv1.Check_CHECK_GIFT_CARD_PURCHASE, benchCoachedGiftCard(now), nil, riskv1.Outcome_OUTCOME_DECLINE},
		{"gift_card_purchase/clean", riskv1.Check_CHECK_GIFT_CARD_PURCHASE, benchCleanGiftCard(now), nil, riskv1.Outcome_OUTCOME_APPROVE},
		{"refund/over-paid", riskv1.Check_CHECK_REFUND, benchOverPaidRefund(), nil, riskv1.Outcome_OUTCOME_DECLINE},
	}
	for _, bc := range cases {
		cp := p.Check(bc.check)
		facts := policy.Facts{Request: bc.req, Now: now, Runs: bc.runs}
		// A benchmark of the wrong decision measures nothing.
		if v := cp.Evaluate(facts); v.Outcome != bc.want || len(v.RuleErrors) > 0 {
			b.Fatalf("%s: got %s (rule errors %v), want %s", bc.name, v.Outcome, v.RuleErrors, bc.want)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				cp.Evaluate(facts)
			}
		})
	}
}

func benchSeller() *riskv1.CheckSellerRequest {
	return &riskv1.CheckSellerRequest{
		RequestId: "req-seller-1",
		SellerId:  "seller-1",
		Client:    &riskv1.Client{DeviceId: "device-1", IpAddress: "203.0.113.7"},
		Identity: &riskv1.IdentityDocument{
			Type:     riskv1.IdentityDocumentType_IDENTITY_DOCUMENT_TYPE_RESIDENT_ID,
			Number:   "11010519491231002X",
			FullName: "张三",
		},
		License: &riskv1.BusinessLicense{Uscc: "91350100M000100Y43", CompanyName: "福州某某贸易有限公司", LegalRepresentative: "张三"},
		Contact: &riskv1.Contact{
			Mobile: "13800138000", Landline: "0591-87654321", Email: "shop@example.com",
			Address: "福建省福州市鼓楼区五四路 100 号",
		},
		Payout: &riskv1.PayoutAccount{AccountNumber: "6222020200112233445", HolderName: "福州某某贸易有限公司"},
	}
}

// benchCoachedGiftCard is seed 002: 100,000 yuan of gift cards bought
// during a call with a remote-control app running, paid by a loan drawn an
// hour ago.
func benchCoachedGiftCard(now time.Time) *riskv1.ScoreGiftCardPurchaseRequest {
	return &riskv1.ScoreGiftCardPurchaseRequest{
		RequestId:        "demo-gc-1",
		OrderId:          "order-5521",
		AccountId:        "acct-311",
		AccountCreatedAt: timestamppb.New(now.AddDate(-3, 0, 0)),
		Client:           &riskv1.Client{DeviceId: "dev-91c2", IpAddress: "198.51.100.23"},
		Total:            &riskv1.Money{AmountMinor: 10_000_000, Currency: "CNY"},
		Cards:            []*riskv1.GiftCardLine{{FaceValueMinor: 100_000, Quantity: 100}},
		Payment: &riskv1.PaymentInstrument{
			Fingerprint:   "pi-loan-88",
			Kind:          riskv1.InstrumentKind_INSTRUMENT_KIND_LOAN,
			CreditDrawnAt: timestamppb.New(now.Add(-time.Hour)),
		},
		Recipient: &riskv1.Recipient{Email: "buyer@example.com", OwnedByAccount: true},
		Session:   &riskv1.SessionFacts{ActiveCall: true, RemoteAccessApp: true},
	}
}

// benchCleanGiftCard is an ordinary order from a known device and account
// history, so that every rule is evaluated and none fires.
func benchCleanGiftCard(now time.Time) *riskv1.ScoreGiftCardPurchaseRequest {
	return &riskv1.ScoreGiftCardPurchaseRequest{
		RequestId:        "req-gc-clean",
		OrderId:          "order-7",
		AccountId:        "acct-7",
		AccountCreatedAt: timestamppb.New(now.AddDate(-5, 0, 0)),
		Client:           &riskv1.Client{DeviceId: "dev-7", IpAddress: "198.51.100.7"},
		Total:            &riskv1.Money{AmountMinor: 20_000, Currency: "CNY"},
		Cards:            []*riskv1.GiftCardLine{{FaceValueMinor: 10_000, Quantity: 2}},
		Payment: &riskv1.PaymentInstrument{
			Fingerprint: "pi-card-7",
			Kind:        riskv1.InstrumentKind_INSTRUMENT_KIND_DEBIT_CARD,
		},
		Recipient: &riskv1.Recipient{Email: "me@example.com", OwnedByAccount: true, AddedAt: timestamppb.New(now.AddDate(-1, 0, 0))},
		Session: &riskv1.SessionFacts{
			DeviceFirstSeenAt: timestamppb.New(now.AddDate(0, -6, 0)),
			CheckoutDuration:  durationpb.New(90 * time.Second),
		},
		CallerHistory: &riskv1.PurchaseHistory{
			PastGiftCardOrders: 4,
			TypicalOrderValue:  &riskv1.Money{AmountMinor: 15_000, Currency: "CNY"},
		},
	}
}

func benchOverPaidRefund() *riskv1.EvaluateRefundRequest {
	return &riskv1.EvaluateRefundRequest{
		RequestId:       "req-refund-1",
		OrderId:         "order-9",
		BuyerAccountId:  "buyer-1",
		SellerId:        "seller-1",
		Client:          &riskv1.Client{DeviceId: "device-3", IpAddress: "198.51.100.4"},
		AmountRequested: &riskv1.Money{AmountMinor: 50_000, Currency: "CNY"},
		AmountPaid:      &riskv1.Money{AmountMinor: 20_000, Currency: "CNY"},
		GoodsKind:       riskv1.GoodsKind_GOODS_KIND_PHYSICAL,
		Destination:     &riskv1.RefundDestination{Kind: riskv1.DestinationKind_DESTINATION_KIND_ORIGINAL_METHOD},
	}
}
