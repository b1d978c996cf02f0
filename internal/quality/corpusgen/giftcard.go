package corpusgen

import (
	"fmt"
	"time"

	"github.com/riskd/riskd/internal/quality"
)

// buyer is a gift-card or refund customer with identifiers of its own.
type buyer struct {
	n                                  int
	account, device, instrument, email string
	created                            string
}

func (g *gen) buyer(minAge, maxAge time.Duration) buyer {
	n := g.next()
	return buyer{
		n:          n,
		account:    fmt.Sprintf("acct-%05d", n),
		device:     fmt.Sprintf("dev-b%05d", n),
		instrument: fmt.Sprintf("pi-%s-%05d", g.pick("debit", "credit", "wallet"), n),
		email:      fmt.Sprintf("%s%d@%s", g.pick("li", "wang", "zhang", "chen", "liu", "mei", "jun", "hao"), n, g.pick("163.com", "qq.com", "126.com", "outlook.com", "gmail.com")),
		created:    g.ago(minAge, maxAge),
	}
}

var brands = []string{"京东E卡", "天猫超市卡", "沃尔玛购物卡", "星巴克", "App Store", "Steam", "永辉超市卡", "盒马", "苏宁卡", "携程礼品卡"}

// cards splits a total (minor units) into card lines of one face value.
func (g *gen) cards(total int64) ([]any, int64) {
	faces := []int64{10000, 20000, 50000, 100000}
	face := faces[g.r.IntN(len(faces))]
	for face > total && face > 10000 {
		face /= 2
	}
	q := total / face
	if q < 1 {
		q = 1
	}
	if q > 10000 {
		q = 10000
	}
	return []any{obj{"faceValueMinor": face, "quantity": q}}, face * q
}

// order is a gift-card order of amount (minor units, rounded to cards).
type order struct {
	b         buyer
	amount    int64
	kind      string
	recipient obj
	session   obj
	credit    string // relative time a loan or credit line was drawn
	device    string // overrides the buyer's device
	instr     string // overrides the buyer's instrument
}

func (g *gen) orderReq(o order) obj {
	lines, total := g.cards(o.amount)
	pay := obj{"fingerprint": o.b.instrument, "kind": "INSTRUMENT_KIND_DEBIT_CARD"}
	if o.kind != "" {
		pay["kind"] = o.kind
	}
	if o.instr != "" {
		pay["fingerprint"] = o.instr
	}
	if o.credit != "" {
		pay["creditDrawnAt"] = o.credit
	}
	rec := o.recipient
	if rec == nil {
		rec = obj{"email": o.b.email, "ownedByAccount": true}
	}
	dev := o.b.device
	if o.device != "" {
		dev = o.device
	}
	req := obj{
		"orderId":          fmt.Sprintf("ord-%05d-%d", o.b.n, g.between(100, 999)),
		"accountId":        o.b.account,
		"accountCreatedAt": o.b.created,
		"client":           obj{"deviceId": dev, "ipAddress": g.ip()},
		"total":            obj{"amountMinor": total, "currency": "CNY"},
		"cards":            lines,
		"payment":          pay,
		"recipient":        rec,
		"brand":            g.pick(brands...),
	}
	s := o.session
	if s == nil {
		s = obj{}
	}
	if _, ok := s["checkoutDuration"]; !ok {
		s["checkoutDuration"] = fmt.Sprintf("%ds", g.between(25, 400))
	}
	req["session"] = s
	return req
}

// pastOrders are RecordEvents history: count orders around amount, spread
// between lo and hi ago.
func (g *gen) pastOrders(b buyer, count int, amount int64, lo, hi time.Duration, rec obj) []any {
	var evs []any
	for k := range count {
		a := amount * int64(g.between(70, 130)) / 100
		o := g.orderReq(order{b: b, amount: a, recipient: rec})
		o["requestId"] = fmt.Sprintf("legacy-%05d-%d", b.n, k)
		evs = append(evs, obj{"eventId": fmt.Sprintf("past-%05d-%d", b.n, k), "occurredAt": g.ago(lo, hi), "giftCardOrder": o})
	}
	return evs
}

func recordStep(evs []any) quality.RawStep {
	out := make([]obj, len(evs))
	for i, e := range evs {
		out[i] = e.(obj)
	}
	return quality.RawStep{Record: out}
}

func gcCase(name string, label quality.Label, threat, note string, req obj, history ...quality.RawStep) quality.RawCase {
	return quality.RawCase{Name: name, Label: label, Check: quality.CheckGiftCard, Threat: threat, Note: note, Request: req, History: history}
}

// yuan is an amount in minor units.
func yuan(y int) int64 { return int64(y) * 100 }

func giftCardGenuine(g *gen) quality.File {
	f := quality.File{Family: "giftcard-genuine", About: "Returning buyers doing what they always do: amounts like their own past orders, their own device, their own e-mail; first small purchases; a new phone or a trip on an old account."}
	for i := range 14 {
		b := g.buyer(300*day, 6*year)
		typical := yuan(g.between(1, 20) * 100)
		past := g.pastOrders(b, g.between(3, 9), typical, 3*day, 170*day, nil)
		o := order{b: b, amount: typical * int64(g.between(60, 180)) / 100}
		if i%3 == 0 {
			o.kind = g.pick("INSTRUMENT_KIND_CREDIT_CARD", "INSTRUMENT_KIND_WALLET", "INSTRUMENT_KIND_BALANCE")
		}
		f.Cases = append(f.Cases, gcCase(fmt.Sprintf("gc-returning-%02d", i+1), quality.Genuine, "G1",
			fmt.Sprintf("%d earlier orders around %d yuan; this one alike", len(past), typical/100), g.orderReq(o), recordStep(past)))
	}
	for i := range 8 {
		b := g.buyer(60*day, 8*year)
		o := order{b: b, amount: yuan(g.between(1, 8) * 50)}
		f.Cases = append(f.Cases, gcCase(fmt.Sprintf("gc-first-small-%02d", i+1), quality.Genuine, "G1",
			"first gift card ever, small, to the account's own e-mail", g.orderReq(o)))
	}
	for i := range 4 {
		b := g.buyer(180*day, 8*year)
		o := order{b: b, amount: yuan(g.between(8, 19) * 100)}
		f.Cases = append(f.Cases, gcCase(fmt.Sprintf("gc-first-medium-%02d", i+1), quality.Genuine, "G1",
			"first gift card on an old account, under 2,000 yuan, own e-mail, no other sign", g.orderReq(o)))
	}
	for i := range 4 {
		b := g.buyer(year, 6*year)
		typical := yuan(g.between(2, 8) * 100)
		past := g.pastOrders(b, g.between(3, 7), typical, 5*day, 160*day, nil)
		o := order{b: b, amount: typical, session: obj{"activeCall": true}}
		f.Cases = append(f.Cases, gcCase(fmt.Sprintf("gc-on-a-call-%02d", i+1), quality.Genuine, "G1",
			"a regular buyer on the phone to family while ordering as usual, own card, no credit drawn", g.orderReq(o), recordStep(past)))
	}
	for i := range 3 {
		b := g.buyer(year, 6*year)
		typical := yuan(g.between(2, 8) * 100)
		past := g.pastOrders(b, g.between(2, 5), typical, 5*day, 160*day, nil)
		o := order{b: b, amount: typical, kind: "INSTRUMENT_KIND_CREDIT_LINE", credit: g.ago(20*day, 80*day)}
		f.Cases = append(f.Cases, gcCase(fmt.Sprintf("gc-old-credit-line-%02d", i+1), quality.Genuine, "G1",
			"pays with a pay-later line drawn weeks ago, as usual", g.orderReq(o), recordStep(past)))
	}
	for i := range 5 {
		b := g.buyer(year, 5*year)
		typical := yuan(g.between(2, 10) * 100)
		past := g.pastOrders(b, g.between(3, 6), typical, 5*day, 150*day, nil)
		o := order{b: b, amount: typical, session: obj{"newDevice": true, "deviceFirstSeenAt": g.ago(10*time.Minute, 5*time.Hour)}}
		note := "a new phone set up today, nothing else new"
		if i%2 == 1 {
			o.session = obj{"newLocation": true}
			note = "on a trip: login from a new city, own device"
		}
		f.Cases = append(f.Cases, gcCase(fmt.Sprintf("gc-new-phone-or-trip-%02d", i+1), quality.Genuine, "G2", note, g.orderReq(o), recordStep(past)))
	}
	for i := range 4 {
		b := g.buyer(year, 5*year)
		typical := yuan(g.between(2, 10) * 100)
		past := g.pastOrders(b, g.between(2, 5), typical, 10*day, 160*day, nil)
		o := order{b: b, amount: typical, session: obj{"passwordChangedAt": g.ago(20*time.Hour, 60*time.Hour)}}
		f.Cases = append(f.Cases, gcCase(fmt.Sprintf("gc-password-reset-%02d", i+1), quality.Genuine, "G2",
			"changed the password a day or two ago on the usual device, buys as usual", g.orderReq(o), recordStep(past)))
	}
	for i := range 4 {
		b := g.buyer(2*year, 7*year)
		typical := yuan(g.between(3, 15) * 100)
		req := g.orderReq(order{b: b, amount: typical})
		req["callerHistory"] = obj{"pastGiftCardOrders": g.between(4, 40), "pastGiftCardValue": obj{"amountMinor": typical * 12, "currency": "CNY"},
			"typicalOrderValue": obj{"amountMinor": typical, "currency": "CNY"}}
		f.Cases = append(f.Cases, gcCase(fmt.Sprintf("gc-caller-history-%02d", i+1), quality.Genuine, "G1",
			"new to riskd, but the caller's own history shows years of orders like this", req))
	}
	return f
}

func giftCardGenuineOffice(g *gen) quality.File {
	f := quality.File{Family: "giftcard-genuine-office", About: "Office managers buying cards for staff before holidays: many cards and large totals, but like the company account's own earlier orders."}
	for i := range 14 {
		b := g.buyer(2*year, 8*year)
		staff := g.between(8, 40)
		face := []int{200, 300, 500, 1000}[g.r.IntN(4)]
		if i >= 11 {
			staff, face = g.between(60, 90), 1000 // a big company's festival order
		}
		typical := yuan(staff * face)
		past := g.pastOrders(b, g.between(3, 6), typical, 20*day, 175*day, nil)
		o := order{b: b, amount: typical * int64(g.between(90, 115)) / 100, kind: g.pick("INSTRUMENT_KIND_BANK_TRANSFER", "INSTRUMENT_KIND_CREDIT_CARD", "INSTRUMENT_KIND_DEBIT_CARD")}
		f.Cases = append(f.Cases, gcCase(fmt.Sprintf("gc-office-%02d", i+1), quality.Genuine, "G1",
			fmt.Sprintf("about %d cards of %d yuan for staff, as in %d earlier orders", staff, face, len(past)), g.orderReq(o), recordStep(past)))
	}
	return f
}

func giftCardGenuineFamily(g *gen) quality.File {
	f := quality.File{Family: "giftcard-genuine-family", About: "Gift cards for relatives: the recipient is not the account's own but was added months ago and has had cards before."}
	rel := []string{"mum", "dad", "sister", "brother", "grandma", "son", "daughter", "aunt"}
	for i := range 14 {
		b := g.buyer(year, 9*year)
		added := g.ago(60*day, 170*day)
		var rec obj
		if i%3 == 0 {
			rec = obj{"phone": fmt.Sprintf("+86 139%08d", 10000000+b.n*37), "ownedByAccount": false, "addedAt": added}
		} else {
			rec = obj{"email": fmt.Sprintf("%s.%d@%s", rel[i%len(rel)], b.n, g.pick("163.com", "qq.com", "126.com")), "ownedByAccount": false, "addedAt": added}
		}
		typical := yuan(g.between(1, 10) * 100)
		past := g.pastOrders(b, g.between(2, 6), typical, 10*day, 55*day, rec)
		o := order{b: b, amount: typical * int64(g.between(80, 150)) / 100, recipient: rec}
		f.Cases = append(f.Cases, gcCase(fmt.Sprintf("gc-family-%02d", i+1), quality.Genuine, "G1",
			"cards for a relative added months ago, as before", g.orderReq(o), recordStep(past)))
	}
	return f
}

func giftCardGenuineLookback(g *gen) quality.File {
	f := quality.File{Family: "giftcard-genuine-yearly", About: "Customers who buy gift cards once or twice a year (Spring Festival, Mid-Autumn): their history lies 6 to 13 months back, so a look-back shorter than 400 days calls a loyal customer's order a first purchase."}
	for i := range 6 {
		b := g.buyer(3*year, 9*year)
		typical := yuan(g.between(20, 60) * 100)
		past := g.pastOrders(b, 2, typical, 190*day, 390*day, nil)
		o := order{b: b, amount: typical * int64(g.between(90, 110)) / 100}
		f.Cases = append(f.Cases, gcCase(fmt.Sprintf("gc-yearly-%02d", i+1), quality.Genuine, "G1",
			fmt.Sprintf("festival order of about %d yuan, like the last two, 6 to 13 months ago", typical/100), g.orderReq(o), recordStep(past)))
	}
	return f
}
