package server_test

// Issue 16, items 5 and 6, through the real server: one recipient fed by
// many accounts, one card or device used by many, and bursts of large
// orders within minutes are held; a family's two accounts and an ordinary
// shopper's pace are not.

import (
	"fmt"
	"testing"
	"time"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestGiftCardMulesAndBursts(t *testing.T) {
	now := gcBase
	clock := newGCClock(now)
	h := gcStart(t, clock)
	// Each account's own small first card: FIRST_GIFT_CARD_PURCHASE only.
	fresh := func(name string) *riskv1.ScoreGiftCardPurchaseRequest {
		r := gcOrder(name, clock.Now())
		gcCards(r, 100*yuan, 1)
		return r
	}
	at := func(d time.Duration) { clock.Set(now.Add(d)) }

	t.Run("one recipient fed by three accounts within the hour", func(t *testing.T) {
		for i := range 3 {
			at(time.Duration(i) * 15 * time.Minute)
			r := fresh(fmt.Sprintf("mule-%d", i))
			r.Recipient = &riskv1.Recipient{Email: "collector@example.net", AddedAt: timestamppb.New(clock.Now().AddDate(0, -2, 0))}
			d := gcScore(t, h, r)
			if i < 2 {
				gcExpect(t, fmt.Sprintf("account %d", i+1), d, gcApprove, []string{gcFirst})
				continue
			}
			gcExpect(t, "third account", d, gcReview, []string{gcFirst, gcVelRecip}, gcHold, gcConfirm)
			if n, _ := gcSignal(d, "velocity.recipient.1h.accounts"); n != 3 {
				t.Errorf("velocity.recipient.1h.accounts = %d, want 3", n)
			}
		}
	})

	t.Run("a family's two accounts send to grandmother", func(t *testing.T) {
		for i, who := range []string{"family-daughter", "family-son"} {
			at(2*time.Hour + time.Duration(i)*10*time.Minute)
			r := fresh(who)
			r.Recipient = &riskv1.Recipient{Phone: "+8613900000777", AddedAt: timestamppb.New(clock.Now().AddDate(-1, 0, 0))}
			gcExpect(t, who, gcScore(t, h, r), gcApprove, []string{gcFirst})
		}
	})

	t.Run("one card pays for three accounts in a day", func(t *testing.T) {
		for i := range 3 {
			at(4*time.Hour + time.Duration(i)*3*time.Hour)
			r := fresh(fmt.Sprintf("card-sharer-%d", i))
			r.Payment.Fingerprint = "fp-lent-card"
			d := gcScore(t, h, r)
			if i < 2 {
				gcExpect(t, fmt.Sprintf("account %d", i+1), d, gcApprove, []string{gcFirst})
				continue
			}
			gcExpect(t, "third account", d, gcReview, []string{gcFirst, gcVelInstr}, gcHold, gcConfirm)
		}
	})

	t.Run("accounts on one device: three add risk, four is a farm", func(t *testing.T) {
		for i := range 4 {
			at(20*time.Hour + time.Duration(i)*time.Hour)
			r := fresh(fmt.Sprintf("farm-%d", i))
			r.Client.DeviceId = "dev-farm"
			d := gcScore(t, h, r)
			switch i {
			case 0, 1:
				gcExpect(t, fmt.Sprintf("account %d", i+1), d, gcApprove, []string{gcFirst})
			case 2:
				// 10 + 20: the review threshold, from two findings.
				gcExpect(t, "third account", d, gcReview, []string{gcFirst, gcVelDevice}, gcHold, gcConfirm)
			case 3:
				gcExpect(t, "fourth account", d, gcReview, []string{gcFirst, gcVelDevice}, gcHold, gcConfirm)
			}
		}
	})

	// Three 1,200-yuan orders within six minutes from one device and one
	// card, on an account that buys 1,500-yuan cards every month (so no
	// single order is above its history).
	for _, key := range []string{"device", "instrument"} {
		t.Run("burst from one "+key, func(t *testing.T) {
			base := 30 * time.Hour
			if key == "instrument" {
				base = 40 * time.Hour
			}
			for i := range 3 {
				at(base + time.Duration(i)*3*time.Minute)
				r := gcOrder(fmt.Sprintf("burst-%s-%d", key, i), clock.Now())
				if i == 0 {
					gcRecord(t, h, clock.Now(), gcAs(r, r.GetOrderId()+"-hist"), 1500*yuan, gcMonths...)
				}
				r.CallerHistory = &riskv1.PurchaseHistory{PastGiftCardOrders: 6}
				switch key {
				case "device":
					r.Client.DeviceId = "dev-burst"
				case "instrument":
					r.Payment.Fingerprint = "fp-burst"
				}
				gcCards(r, 600*yuan, 2)
				d := gcScore(t, h, r)
				code := map[string]string{"device": gcVelDevice, "instrument": gcVelInstr}[key]
				switch i {
				case 0, 1:
					gcExpect(t, fmt.Sprintf("order %d", i+1), d, gcApprove, nil)
				case 2:
					// Three accounts on one device in a day would add the
					// shared-device score too (one code, merged); the burst
					// alone holds the codes.
					gcExpect(t, "third order", d, gcReview, []string{code}, gcHold, gcConfirm)
				}
			}
		})
	}

	t.Run("an account's own three large orders within minutes", func(t *testing.T) {
		for i := range 3 {
			at(50*time.Hour + time.Duration(i)*2*time.Minute)
			r := gcAs(gcOrder("burst-account", clock.Now()), fmt.Sprintf("burst-account-%d", i))
			r.CallerHistory = &riskv1.PurchaseHistory{PastGiftCardOrders: 4}
			gcCards(r, 1100*yuan, 1)
			d := gcScore(t, h, r)
			if i < 2 {
				gcExpect(t, fmt.Sprintf("order %d", i+1), d, gcApprove, nil)
				continue
			}
			// One account on its one device and card: all three bursts.
			gcExpect(t, "third order", d, gcReview, []string{gcVelAccount, gcVelDevice, gcVelInstr}, gcHold, gcConfirm)
		}
	})

	t.Run("an ordinary shopper's three small cards within minutes", func(t *testing.T) {
		for i := range 3 {
			at(60*time.Hour + time.Duration(i)*2*time.Minute)
			r := gcAs(gcOrder("three-small", clock.Now()), fmt.Sprintf("three-small-%d", i))
			r.CallerHistory = &riskv1.PurchaseHistory{PastGiftCardOrders: 4}
			gcExpect(t, fmt.Sprintf("order %d", i+1), gcScore(t, h, r), gcApprove, nil)
		}
	})
}
