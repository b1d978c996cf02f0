package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/riskd/riskd/internal/verifier/identity"
	"github.com/riskd/riskd/internal/verifier/license"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// generator makes the i-th request of a check and sends it. Requests are
// varied the way a marketplace's traffic is: many accounts, devices and
// sellers, mostly ordinary, about one in ten risky. Each has its own
// request_id, so nothing is answered from the idempotency index.
type generator struct {
	name string
	call func(ctx context.Context, cc *grpc.ClientConn, i int) error
}

var generators = map[string]generator{
	"gift_card": {name: "ScoreGiftCardPurchase", call: func(ctx context.Context, cc *grpc.ClientConn, i int) error {
		_, err := riskv1.NewRiskServiceClient(cc).ScoreGiftCardPurchase(ctx, giftCard(i))
		return err
	}},
	"seller": {name: "CheckSeller", call: func(ctx context.Context, cc *grpc.ClientConn, i int) error {
		_, err := riskv1.NewRiskServiceClient(cc).CheckSeller(ctx, seller(i))
		return err
	}},
	"refund": {name: "EvaluateRefund", call: func(ctx context.Context, cc *grpc.ClientConn, i int) error {
		_, err := riskv1.NewRiskServiceClient(cc).EvaluateRefund(ctx, refund(i))
		return err
	}},
}

// run makes request IDs unique across riskbench runs on one data dir.
var runID = time.Now().UnixNano()

func rng(i int) *rand.Rand { return rand.New(rand.NewPCG(uint64(i), uint64(runID))) }

func ip(r *rand.Rand) string {
	return fmt.Sprintf("10.%d.%d.%d", r.IntN(256), r.IntN(256), 1+r.IntN(254))
}

func giftCard(i int) *riskv1.ScoreGiftCardPurchaseRequest {
	r := rng(i)
	now := time.Now()
	account := r.IntN(20000)
	risky := r.IntN(10) == 0
	cards := 1 + r.IntN(5)
	face := int64([]int{5000, 10000, 20000, 50000, 100000}[r.IntN(5)])
	req := &riskv1.ScoreGiftCardPurchaseRequest{
		RequestId:        fmt.Sprintf("bench-%d-gc-%d", runID, i),
		OrderId:          fmt.Sprintf("o-%d", i),
		AccountId:        fmt.Sprintf("acct-%d", account),
		AccountCreatedAt: timestamppb.New(now.AddDate(0, 0, -30-account%2000)),
		Client:           &riskv1.Client{DeviceId: fmt.Sprintf("dev-%d", account*3+r.IntN(3)), IpAddress: ip(r)},
		Total:            &riskv1.Money{AmountMinor: face * int64(cards), Currency: "CNY"},
		Cards:            []*riskv1.GiftCardLine{{FaceValueMinor: face, Quantity: int32(cards)}},
		Payment:          &riskv1.PaymentInstrument{Fingerprint: fmt.Sprintf("pi-%d", account*2+r.IntN(2)), Kind: riskv1.InstrumentKind_INSTRUMENT_KIND_DEBIT_CARD},
		Recipient:        &riskv1.Recipient{Email: fmt.Sprintf("user%d@example.com", account), OwnedByAccount: true},
		Session:          &riskv1.SessionFacts{CheckoutDuration: durationpb.New(time.Duration(20+r.IntN(200)) * time.Second)},
		Brand:            "apple",
		CallerHistory: &riskv1.PurchaseHistory{
			PastGiftCardOrders: int32(r.IntN(20)),
			TypicalOrderValue:  &riskv1.Money{AmountMinor: 20000, Currency: "CNY"},
		},
	}
	if risky {
		req.Session.ActiveCall = r.IntN(2) == 0
		req.Session.RemoteAccessApp = r.IntN(3) == 0
		req.Session.NewDevice = true
		req.Payment.Kind = riskv1.InstrumentKind_INSTRUMENT_KIND_LOAN
		req.Payment.CreditDrawnAt = timestamppb.New(now.Add(-time.Duration(r.IntN(180)) * time.Minute))
		req.Recipient = &riskv1.Recipient{Phone: fmt.Sprintf("139%08d", r.IntN(1e8)), AddedAt: timestamppb.New(now.Add(-5 * time.Minute))}
		req.Total.AmountMinor, req.Cards[0].Quantity = 100000*10, 10
		req.Cards[0].FaceValueMinor = 100000
	}
	return req
}

// residentID returns a valid resident identity number for seller i, its
// check character found by the real parser; sellers do not share them
// (a few do below, as the risky share).
func residentID(i int) string {
	body := fmt.Sprintf("110105%04d%02d%02d%03d", 1960+i%40, 1+i%12, 1+i%28, i%1000)
	for _, c := range "0123456789X" {
		if _, err := identity.ParseResidentID(body+string(c), time.Now()); err == nil {
			return body + string(c)
		}
	}
	return body + "0"
}

var validUSCCs = func() []string {
	var out []string
	for _, c := range []string{"91350100M000100Y43", "911100007109288314", "91110108551385082Q", "914403001922038216",
		"91440300708461136T", "12100000400000624D", "31310000425013819A", "911100006000650192"} {
		if _, err := license.ParseUSCC(c); err == nil {
			out = append(out, c)
		}
	}
	return out
}()

func seller(i int) *riskv1.CheckSellerRequest {
	r := rng(i)
	id := residentID(i)
	if r.IntN(20) == 0 {
		id = id[:17] + "0" // usually a wrong check character
	}
	company := fmt.Sprintf("商户%d贸易有限公司", i)
	req := &riskv1.CheckSellerRequest{
		RequestId: fmt.Sprintf("bench-%d-seller-%d", runID, i),
		SellerId:  fmt.Sprintf("seller-%d", i),
		Client:    &riskv1.Client{DeviceId: fmt.Sprintf("dev-s-%d", r.IntN(50000)), IpAddress: ip(r)},
		Identity:  &riskv1.IdentityDocument{Type: riskv1.IdentityDocumentType_IDENTITY_DOCUMENT_TYPE_RESIDENT_ID, Number: id, FullName: "张三"},
		License:   &riskv1.BusinessLicense{Uscc: validUSCCs[r.IntN(len(validUSCCs))], CompanyName: company, LegalRepresentative: "张三"},
		Contact: &riskv1.Contact{Mobile: fmt.Sprintf("138%08d", r.IntN(1e8)), Landline: fmt.Sprintf("010-%08d", r.IntN(1e8)),
			Email: fmt.Sprintf("shop%d@example.com", i), Address: fmt.Sprintf("北京市东城区 %d 号", r.IntN(5000))},
		Payout: &riskv1.PayoutAccount{AccountNumber: fmt.Sprintf("6222%015d", r.IntN(1e9)), HolderName: company},
	}
	if r.IntN(10) == 0 {
		req.Contact.Address, req.Contact.Landline = "", ""
	}
	return req
}

func refund(i int) *riskv1.EvaluateRefundRequest {
	r := rng(i)
	paid := int64(1000 + r.IntN(100000))
	req := &riskv1.EvaluateRefundRequest{
		RequestId:       fmt.Sprintf("bench-%d-refund-%d", runID, i),
		OrderId:         fmt.Sprintf("ro-%d", i),
		BuyerAccountId:  fmt.Sprintf("acct-%d", r.IntN(20000)),
		SellerId:        fmt.Sprintf("seller-%d", r.IntN(3000)),
		Client:          &riskv1.Client{DeviceId: fmt.Sprintf("dev-%d", r.IntN(60000)), IpAddress: ip(r)},
		AmountRequested: &riskv1.Money{AmountMinor: paid, Currency: "CNY"},
		AmountPaid:      &riskv1.Money{AmountMinor: paid, Currency: "CNY"},
		GoodsKind:       riskv1.GoodsKind_GOODS_KIND_PHYSICAL,
		ItemCategory:    "electronics",
		Destination:     &riskv1.RefundDestination{Kind: riskv1.DestinationKind_DESTINATION_KIND_ORIGINAL_METHOD},
		BuyerOrders_90D: int32(r.IntN(50)),
	}
	switch r.IntN(10) {
	case 0:
		req.AmountRequested.AmountMinor = paid * 2
	case 1:
		req.Destination = &riskv1.RefundDestination{Kind: riskv1.DestinationKind_DESTINATION_KIND_OTHER, Fingerprint: fmt.Sprintf("acct-x-%d", i)}
		req.Session = &riskv1.SessionFacts{NewDevice: true}
	}
	return req
}
