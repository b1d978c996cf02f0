package corpusgen

import (
	"fmt"
	"time"

	"github.com/riskd/riskd/internal/quality"
)

var categories = []struct {
	name       string
	lo, hi     int // item weight, grams
	priceLo    int // yuan
	priceHi    int
	electronic bool
}{
	{"clothing", 200, 900, 59, 899, false}, {"shoes", 600, 1400, 129, 1299, false}, {"books", 300, 1500, 25, 260, false},
	{"home", 500, 6000, 39, 1599, false}, {"toys", 200, 2500, 29, 699, false}, {"cosmetics", 80, 400, 49, 699, false},
	{"kitchen", 400, 4000, 49, 1299, false}, {"sports", 300, 8000, 59, 2999, false},
	{"electronics", 150, 2500, 199, 8999, true}, {"phones", 180, 260, 999, 9999, true}, {"computers", 1200, 2600, 2999, 14999, true},
}

type refund struct {
	b          buyer
	seller     string
	cat        int
	paid       int64
	requested  int64
	declared   int
	measured   int
	tracking   bool
	digital    obj
	dest       obj
	session    obj
	reason     string
	orders90   int
	confirmPre bool
}

func (g *gen) physical(b buyer) refund {
	c := g.r.IntN(len(categories))
	cat := categories[c]
	w := g.between(cat.lo, cat.hi)
	paid := yuan(g.between(cat.priceLo, cat.priceHi))
	return refund{
		b: b, seller: fmt.Sprintf("seller-r%05d", g.next()), cat: c, paid: paid, requested: paid,
		declared: w, measured: w * g.between(97, 103) / 100,
		reason:   g.pick("尺码不合适", "颜色与图片不符", "不想要了", "质量问题", "收到后发现有划痕", "买错了型号", "wrong size", "arrived damaged"),
		orders90: g.between(4, 40),
	}
}

func (g *gen) refundReq(r refund) obj {
	req := obj{
		"orderId":         fmt.Sprintf("ord-r%05d-%d", r.b.n, g.between(100, 999)),
		"buyerAccountId":  r.b.account,
		"sellerId":        r.seller,
		"client":          obj{"deviceId": r.b.device, "ipAddress": g.ip()},
		"amountRequested": obj{"amountMinor": r.requested, "currency": "CNY"},
		"amountPaid":      obj{"amountMinor": r.paid, "currency": "CNY"},
		"buyerReason":     r.reason,
		"buyerOrders90d":  r.orders90,
	}
	if r.dest != nil {
		req["destination"] = r.dest
	} else {
		req["destination"] = obj{"kind": "DESTINATION_KIND_ORIGINAL_METHOD"}
	}
	if r.digital != nil {
		req["goodsKind"] = "GOODS_KIND_DIGITAL"
		req["itemCategory"] = "gift cards"
		if len(r.digital) > 0 {
			req["digital"] = r.digital
		}
	} else {
		req["goodsKind"] = "GOODS_KIND_PHYSICAL"
		req["itemCategory"] = categories[r.cat].name
		ship := obj{"declaredWeightGrams": r.declared, "measuredWeightGrams": r.measured}
		if r.tracking {
			ship["trackingMismatch"] = true
		}
		req["returnShipment"] = ship
	}
	if r.confirmPre {
		req["receiptConfirmedBeforeDelivery"] = true
	}
	if r.session != nil {
		req["session"] = r.session
	}
	return req
}

// pastRefunds are RecordEvents history: count refunds by b, each to its own
// seller, between lo and hi ago.
func (g *gen) pastRefunds(b buyer, count int, lo, hi time.Duration) []any {
	var evs []any
	for k := range count {
		r := g.physical(b)
		req := g.refundReq(r)
		req["requestId"] = fmt.Sprintf("legacy-r%05d-%d", b.n, k)
		evs = append(evs, obj{"eventId": fmt.Sprintf("past-r%05d-%d", b.n, k), "occurredAt": g.ago(lo, hi), "refund": req})
	}
	return evs
}

func rfCase(name string, label quality.Label, threat, note string, req obj, history ...quality.RawStep) quality.RawCase {
	return quality.RawCase{Name: name, Label: label, Check: quality.CheckRefund, Threat: threat, Note: note, Request: req, History: history}
}

func refundGenuine(g *gen) quality.File {
	f := quality.File{Family: "refund-genuine", About: "Ordinary refunds: the item returned at its weight to the original payment method, partial refunds, occasional returners, a new phone."}
	for i := range 22 {
		b := g.buyer(90*day, 8*year)
		r := g.physical(b)
		note := "physical item returned at the right weight, refund to the original method"
		if i%4 == 1 {
			r.requested = r.paid * int64(g.between(20, 80)) / 100
			note = "partial refund for a flaw, item kept or returned at the right weight"
		}
		if i%6 == 5 {
			r.session = obj{"newDevice": true}
			note += ", asked from a new phone"
		}
		f.Cases = append(f.Cases, rfCase(fmt.Sprintf("refund-ordinary-%02d", i+1), quality.Genuine, "R1", note, g.refundReq(r)))
	}
	for i := range 12 {
		b := g.buyer(year, 8*year)
		past := g.pastRefunds(b, 1+i%2, 35*day, 85*day)
		r := g.physical(b)
		r.orders90 = g.between(15, 60)
		f.Cases = append(f.Cases, rfCase(fmt.Sprintf("refund-occasional-returner-%02d", i+1), quality.Genuine, "R1",
			fmt.Sprintf("%d earlier refunds in 90 days among many orders", len(past)), g.refundReq(r), recordStep(past)))
	}
	for i := range 8 {
		b := g.buyer(year, 8*year)
		r := g.physical(b)
		// Light items in their original box and bag: the parcel weighs a
		// little more than the item's listed weight.
		r.cat = []int{0, 5, 2, 4}[i%4]
		cat := categories[r.cat]
		r.declared = g.between(cat.lo, min(cat.hi, 450))
		r.measured = r.declared + g.between(55, 90)
		r.paid = yuan(g.between(cat.priceLo, cat.priceHi))
		r.requested = r.paid
		f.Cases = append(f.Cases, rfCase(fmt.Sprintf("refund-packaging-weight-%02d", i+1), quality.Genuine, "R1",
			fmt.Sprintf("a %d g %s item returned in its packaging: %d g", r.declared, cat.name, r.measured), g.refundReq(r)))
	}
	for i := range 6 {
		b := g.buyer(year, 8*year)
		r := g.physical(b)
		r.digital = obj{}
		r.paid = yuan(g.between(50, 1000))
		r.requested = r.paid
		r.reason = g.pick("卖家一直未发卡密", "seller never sent the code", "付款后卖家失联")
		f.Cases = append(f.Cases, rfCase(fmt.Sprintf("refund-digital-undelivered-%02d", i+1), quality.Genuine, "R2",
			"digital code never delivered", g.refundReq(r)))
	}
	return f
}

func refundGenuineDigital(g *gen) quality.File {
	f := quality.File{Family: "refund-genuine-used-code", About: "R2, seed 001 (Mr. Guo): the seller sent a code that had been redeemed before it was delivered; the buyer asking for the money back is the victim."}
	for i := range 5 {
		b := g.buyer(year, 8*year)
		r := g.physical(b)
		delivered := 2*time.Hour + time.Duration(g.between(0, 72))*time.Hour
		redeemed := delivered + time.Duration(g.between(1, 240))*time.Hour
		r.digital = obj{"deliveredAt": quality.FormatRelative(-delivered), "redeemedAt": quality.FormatRelative(-redeemed)}
		r.paid = yuan(g.between(30, 500))
		r.requested = r.paid
		r.reason = g.pick("卡密发过来就已经被使用了", "the code was already used when I got it", "充值卡显示已被使用")
		r.confirmPre = i%2 == 0
		f.Cases = append(f.Cases, rfCase(fmt.Sprintf("refund-used-code-victim-%02d", i+1), quality.Genuine, "R2",
			"the code was redeemed before it was delivered to the buyer", g.refundReq(r)))
	}
	return f
}

func refundFraudSerial(g *gen) quality.File {
	f := quality.File{Family: "refund-fraud-serial", About: "R1 (seed 001): serial returners across many sellers, returns already reported as not the item sold, parcels that weigh too little or do not match their tracking."}
	for i := range 8 {
		b := g.buyer(90*day, 3*year)
		past := g.pastRefunds(b, g.between(3, 6), 2*day, 28*day)
		r := g.physical(b)
		r.orders90 = g.between(4, 10)
		f.Cases = append(f.Cases, rfCase(fmt.Sprintf("refund-serial-%02d", i+1), quality.Fraud, "R1",
			fmt.Sprintf("%d refunds from %d sellers in a month", len(past)+1, len(past)+1), g.refundReq(r), recordStep(past)))
	}
	for i := range 8 {
		b := g.buyer(90*day, 3*year)
		past := g.pastRefunds(b, g.between(2, 4), 3*day, 25*day)
		earlier := g.physical(b)
		r := g.physical(b)
		r.orders90 = g.between(4, 12)
		f.Cases = append(f.Cases, rfCase(fmt.Sprintf("refund-serial-mismatch-%02d", i+1), quality.Fraud, "R1",
			"serial refunds, and an earlier return was reported as not the item sold", g.refundReq(r),
			recordStep(past), quality.RawStep{Check: quality.CheckRefund, Request: g.refundReq(earlier), Report: "RETURN_ITEM_MISMATCH"}))
	}
	for i := range 10 {
		b := g.buyer(60*day, 5*year)
		r := g.physical(b)
		note := ""
		switch i % 3 {
		case 0:
			r.cat = []int{8, 9, 10}[g.r.IntN(3)]
			cat := categories[r.cat]
			r.declared = g.between(cat.lo, cat.hi)
			r.measured = r.declared * g.between(30, 75) / 100
			r.paid = yuan(g.between(cat.priceLo, cat.priceHi))
			note = "electronics returned far lighter than sent: parts kept or a cheaper item swapped in"
		case 1:
			r.tracking = true
			note = "the return's tracking does not match the parcel sent"
		default:
			r.measured = max(1, r.declared*g.between(40, 70)/100-60)
			note = "returned parcel weighs far less than the item sold"
		}
		r.requested = r.paid
		f.Cases = append(f.Cases, rfCase(fmt.Sprintf("refund-swapped-item-%02d", i+1), quality.Fraud, "R1", note, g.refundReq(r)))
	}
	return f
}

func refundFraudDigital(g *gen) quality.File {
	f := quality.File{Family: "refund-fraud-redeemed", About: "R2: a buyer asks for the money back for a code delivered and then redeemed."}
	for i := range 10 {
		b := g.buyer(30*day, 4*year)
		r := g.physical(b)
		redeemed := time.Duration(g.between(1, 96)) * time.Hour
		delivered := redeemed + time.Duration(g.between(1, 60))*time.Minute
		r.digital = obj{"deliveredAt": quality.FormatRelative(-delivered), "redeemedAt": quality.FormatRelative(-redeemed)}
		r.paid = yuan(g.between(50, 2000))
		r.requested = r.paid
		r.reason = g.pick("不想要了", "卡密无效", "code does not work", "买错了")
		f.Cases = append(f.Cases, rfCase(fmt.Sprintf("refund-redeemed-code-%02d", i+1), quality.Fraud, "R2",
			"code delivered, then redeemed, then a refund asked for", g.refundReq(r)))
	}
	return f
}

func refundFraudPhishing(g *gen) quality.File {
	f := quality.File{Family: "refund-fraud-phishing", About: "R3 (seeds 002, 004): refunds steered to a new destination right after the account changed hands, and refunds larger than what was paid."}
	for i := range 10 {
		b := g.buyer(year, 6*year)
		r := g.physical(b)
		r.dest = obj{"kind": "DESTINATION_KIND_OTHER", "fingerprint": fmt.Sprintf("pi-new-%05d", b.n)}
		s := obj{}
		switch i % 3 {
		case 0:
			s["passwordChangedAt"] = g.ago(5*time.Minute, 5*time.Hour)
		case 1:
			s["phoneChangedAt"] = g.ago(5*time.Minute, 5*time.Hour)
			s["newDevice"] = true
		default:
			s["newDevice"] = true
		}
		r.session = s
		r.reason = g.pick("客服说要退款到新账户", "customer service told me to", "理赔退款")
		f.Cases = append(f.Cases, rfCase(fmt.Sprintf("refund-phishing-%02d", i+1), quality.Fraud, "R3",
			"refund to a new destination right after an account change or from a new device", g.refundReq(r)))
	}
	for i := range 4 {
		b := g.buyer(60*day, 3*year)
		r := g.physical(b)
		ban := obj{"eventId": fmt.Sprintf("cb-%05d", b.n), "occurredAt": g.ago(day, 40*day),
			"outcome": obj{"accountId": b.account, "label": []string{"OUTCOME_LABEL_CHARGEBACK", "OUTCOME_LABEL_FRAUD_CONFIRMED"}[i%2], "note": "card holder disputed the payment"}}
		f.Cases = append(f.Cases, rfCase(fmt.Sprintf("refund-after-chargeback-%02d", i+1), quality.Fraud, "R3",
			"an account with a chargeback on its payments asks for a refund too: paid back twice", g.refundReq(r), quality.RawStep{Record: []obj{ban}}))
	}
	for i := range 6 {
		b := g.buyer(year, 6*year)
		r := g.physical(b)
		r.requested = r.paid * int64(g.between(120, 400)) / 100
		f.Cases = append(f.Cases, rfCase(fmt.Sprintf("refund-over-paid-%02d", i+1), quality.Fraud, "R3",
			"asks for more than was paid", g.refundReq(r)))
	}
	return f
}
