package corpusgen

import (
	"fmt"
	"time"

	"github.com/riskd/riskd/internal/quality"
)

func giftCardFraudCoached(g *gen) quality.File {
	f := quality.File{Family: "giftcard-fraud-coached", About: "G1 (seeds 002, 004): a victim coached by fake customer service takes out a loan and buys cards within the hour, on a call or with a remote-control app running."}
	for i := range 14 {
		b := g.buyer(90*day, 6*year)
		s := obj{}
		switch i % 3 {
		case 0:
			s["activeCall"] = true
		case 1:
			s["remoteAccessApp"] = true
		default:
			s["activeCall"], s["remoteAccessApp"] = true, true
		}
		o := order{b: b, amount: yuan(g.between(5, 100) * 1000), kind: g.pick("INSTRUMENT_KIND_LOAN", "INSTRUMENT_KIND_CREDIT_LINE"),
			credit: g.ago(10*time.Minute, 5*time.Hour), session: s}
		var hist []quality.RawStep
		note := "first gift-card order ever, paid with a loan drawn just now, during a call or screen share"
		if i%4 == 3 {
			typical := yuan(g.between(1, 3) * 100)
			hist = append(hist, recordStep(g.pastOrders(b, g.between(2, 4), typical, 20*day, 150*day, nil)))
			o.amount = typical * int64(g.between(30, 200))
			note = "far above the account's small earlier orders, paid with fresh credit during a call"
		}
		f.Cases = append(f.Cases, gcCase(fmt.Sprintf("gc-coached-%02d", i+1), quality.Fraud, "G1", note, g.orderReq(o), hist...))
	}
	for i := range 4 {
		b := g.buyer(90*day, 6*year)
		rec := obj{"phone": fmt.Sprintf("+86 17%09d", 100000000+b.n*31), "ownedByAccount": false, "addedAt": g.ago(3*time.Minute, 50*time.Minute)}
		o := order{b: b, amount: yuan(g.between(3, 40) * 1000), kind: g.pick("INSTRUMENT_KIND_LOAN", "INSTRUMENT_KIND_CREDIT_LINE"),
			credit: g.ago(20*time.Minute, 6*time.Hour), recipient: rec}
		f.Cases = append(f.Cases, gcCase(fmt.Sprintf("gc-coached-by-chat-%02d", i+1), quality.Fraud, "G1",
			"coached over chat, not a call: first order, loan just drawn, codes to a phone added minutes ago", g.orderReq(o)))
	}
	for i := range 6 {
		b := g.buyer(180*day, 5*year)
		credit := g.ago(30*time.Minute, 3*time.Hour)
		s := obj{"activeCall": true}
		first := g.orderReq(order{b: b, amount: yuan(g.between(5, 30) * 1000), kind: "INSTRUMENT_KIND_LOAN", credit: credit, session: obj{"activeCall": true}})
		o := order{b: b, amount: yuan(g.between(5, 30) * 1000), kind: "INSTRUMENT_KIND_LOAN", credit: credit, session: s}
		f.Cases = append(f.Cases, gcCase(fmt.Sprintf("gc-coached-repeat-%02d", i+1), quality.Fraud, "G1",
			"second loan-funded order during the same call, minutes after the first", g.orderReq(o),
			quality.RawStep{Check: quality.CheckGiftCard, Request: first}))
	}
	return f
}

func giftCardFraudTakeover(g *gen) quality.File {
	f := quality.File{Family: "giftcard-fraud-takeover", About: "G2: someone else in the account: password or phone just changed, a new device, codes to an address added minutes ago, checkout faster than a person."}
	for i := range 14 {
		b := g.buyer(year, 6*year)
		typical := yuan(g.between(1, 5) * 100)
		past := g.pastOrders(b, g.between(2, 6), typical, 10*day, 160*day, nil)
		s := obj{"newDevice": true, "checkoutDuration": fmt.Sprintf("%ds", g.between(1, 4))}
		switch i % 3 {
		case 0:
			s["passwordChangedAt"] = g.ago(10*time.Minute, 6*time.Hour)
		case 1:
			s["phoneChangedAt"] = g.ago(10*time.Minute, 6*time.Hour)
		default:
			s["emailChangedAt"] = g.ago(10*time.Minute, 6*time.Hour)
			s["newLocation"] = true
		}
		rec := obj{"email": fmt.Sprintf("cards%d@%s", b.n, g.pick("gmail.com", "outlook.com", "proton.me")), "ownedByAccount": false, "addedAt": g.ago(2*time.Minute, 40*time.Minute)}
		amount := typical * int64(g.between(3, 20))
		note := "new device, credentials just changed, codes to an address added minutes ago"
		if i%5 == 4 {
			// Only the session shows it: the amount is ordinary.
			amount = typical
			note += "; the amount itself is ordinary"
		}
		o := order{b: b, amount: amount, recipient: rec, session: s}
		f.Cases = append(f.Cases, gcCase(fmt.Sprintf("gc-takeover-%02d", i+1), quality.Fraud, "G2", note, g.orderReq(o), recordStep(past)))
	}
	return f
}

func giftCardFraudMule(g *gen) quality.File {
	f := quality.File{Family: "giftcard-fraud-mule", About: "G1/G3: one collector's e-mail receives codes bought by many different accounts (each victim's own order looks small)."}
	for i := range 10 {
		mule := fmt.Sprintf("collect%d@%s", g.next(), g.pick("gmail.com", "outlook.com", "163.com"))
		feeders := 3 + i%5 // 3 to 7 other accounts today
		var evs []any
		for k := range feeders {
			v := g.buyer(90*day, 5*year)
			rec := obj{"email": mule, "ownedByAccount": false, "addedAt": g.ago(time.Hour, 20*time.Hour)}
			o := g.orderReq(order{b: v, amount: yuan(g.between(5, 30) * 100), recipient: rec})
			o["requestId"] = fmt.Sprintf("feeder-%05d", v.n)
			evs = append(evs, obj{"eventId": fmt.Sprintf("feed-%05d-%d", v.n, k), "occurredAt": g.ago(20*time.Minute, 20*time.Hour), "giftCardOrder": o})
		}
		b := g.buyer(90*day, 5*year)
		rec := obj{"email": mule, "ownedByAccount": false, "addedAt": g.ago(5*time.Minute, 3*time.Hour)}
		o := order{b: b, amount: yuan(g.between(5, 30) * 100), recipient: rec}
		f.Cases = append(f.Cases, gcCase(fmt.Sprintf("gc-mule-%02d", i+1), quality.Fraud, "G1",
			fmt.Sprintf("%d other accounts sent codes to this recipient in the last day", feeders), g.orderReq(o), recordStep(evs)))
	}
	return f
}

func giftCardFraudBursts(g *gen) quality.File {
	f := quality.File{Family: "giftcard-fraud-bursts", About: "Bursts from one device or one card across accounts, and orders that share a device, card or recipient with an order reported as fraud (G3)."}
	for i := range 8 {
		shared := fmt.Sprintf("dev-burst-%05d", g.next())
		what := "device"
		if i%2 == 1 {
			shared = fmt.Sprintf("pi-burst-%05d", g.next())
			what = "payment card"
		}
		var evs []any
		n := 4 + i%3
		for k := range n {
			v := g.buyer(30*day, 3*year)
			o := order{b: v, amount: yuan(g.between(10, 50) * 100)}
			if what == "device" {
				o.device = shared
			} else {
				o.instr = shared
			}
			req := g.orderReq(o)
			req["requestId"] = fmt.Sprintf("burst-%05d", v.n)
			evs = append(evs, obj{"eventId": fmt.Sprintf("burst-%05d-%d", v.n, k), "occurredAt": g.ago(time.Minute, 8*time.Minute), "giftCardOrder": req})
		}
		b := g.buyer(30*day, 3*year)
		o := order{b: b, amount: yuan(g.between(10, 50) * 100)}
		if what == "device" {
			o.device = shared
		} else {
			o.instr = shared
		}
		f.Cases = append(f.Cases, gcCase(fmt.Sprintf("gc-burst-%02d", i+1), quality.Fraud, "G1",
			fmt.Sprintf("one %s used by %d other accounts in the last ten minutes", what, n), g.orderReq(o), recordStep(evs)))
	}
	for i := range 6 {
		thief := g.buyer(10*day, 2*year)
		stolen := g.orderReq(order{b: thief, amount: yuan(g.between(10, 50) * 100)})
		b := g.buyer(5*day, 2*year)
		o := order{b: b, amount: yuan(g.between(5, 30) * 100)}
		what := []string{"device", "payment card", "recipient"}[i%3]
		switch what {
		case "device":
			o.device = thief.device
		case "payment card":
			o.instr = thief.instrument
		case "recipient":
			o.recipient = obj{"email": thief.email, "ownedByAccount": false, "addedAt": g.ago(time.Hour, 10*day)}
		}
		f.Cases = append(f.Cases, gcCase(fmt.Sprintf("gc-linked-fraud-%02d", i+1), quality.Fraud, "G3",
			"shares its "+what+" with an order reported as fraud", g.orderReq(o),
			quality.RawStep{Check: quality.CheckGiftCard, Request: stolen, Report: []string{"FRAUD_CONFIRMED", "CHARGEBACK"}[i%2]}))
	}
	return f
}
