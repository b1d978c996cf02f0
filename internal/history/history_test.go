package history_test

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/history"
	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/proto"
)

var at = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

func keyer(t *testing.T) *pseudonym.Keyer {
	t.Helper()
	k, err := pseudonym.New(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ident(t *testing.T, k *pseudonym.Keyer, kind store.Kind, raw string) store.Identifier {
	t.Helper()
	id, ok := k.Identifier(kind, raw)
	if !ok {
		t.Fatalf("Identifier(%v, %q) is blank", kind, raw)
	}
	return id
}

func derive(t *testing.T, k *pseudonym.Keyer, req proto.Message, prefix string) history.Entry {
	t.Helper()
	e, err := history.Derive(k, req, prefix, at)
	if err != nil {
		t.Fatalf("Derive(%T): %v", req, err)
	}
	return e
}

// Raw values used in the requests; none may appear in an Entry.
const (
	sellerID    = "S-100"
	idNumber    = "35010219900101123x"
	mrz         = "P<CHNZHANG<<SAN<<<<<<<<<<<<<<<<<<<<<<<<<<<<<\nE123456784CHN9001018M3001012<<<<<<<<<<<<<<02"
	passportNo  = "E12345678"
	uscc        = "91350100MA2XYZ1A2B"
	mobile      = "+86 138 0013 8000"
	landline    = "0591-87654321"
	email       = "Zhang.San@Example.com"
	address     = "福建省福州市鼓楼区五四路 100 号"
	chatHandle  = "zhangsan_wx_2024"
	sellerDev   = "device-seller-7f3a"
	payout      = "6222 0202 0000 1234 567"
	accountID   = "acct-4711"
	buyerDev    = "device-buyer-9c1e"
	fingerprint = "fp-card-b8d2e61"
	giftEmail   = "Gift.Recipient@Example.net"
	giftPhone   = "+86 139 0013 9000"
	refundDest  = "fp-wallet-55aa21"
)

func sellerRequest() *riskv1.CheckSellerRequest {
	return &riskv1.CheckSellerRequest{
		RequestId: "req-seller-1",
		SellerId:  sellerID,
		Client:    &riskv1.Client{DeviceId: sellerDev, IpAddress: "192.0.2.1"},
		Identity: &riskv1.IdentityDocument{
			Type:     riskv1.IdentityDocumentType_IDENTITY_DOCUMENT_TYPE_RESIDENT_ID,
			Number:   idNumber,
			FullName: "张三",
		},
		License: &riskv1.BusinessLicense{Uscc: uscc, CompanyName: "福州某某贸易有限公司", LegalRepresentative: "张三"},
		Contact: &riskv1.Contact{
			Mobile: mobile, Landline: landline, Email: email, Address: address, ChatHandle: chatHandle,
		},
		Payout: &riskv1.PayoutAccount{AccountNumber: payout, HolderName: "张三"},
	}
}

func giftCardRequest() *riskv1.ScoreGiftCardPurchaseRequest {
	return &riskv1.ScoreGiftCardPurchaseRequest{
		RequestId: "req-gift-1",
		OrderId:   "order-1",
		AccountId: accountID,
		Client:    &riskv1.Client{DeviceId: buyerDev},
		Total:     &riskv1.Money{AmountMinor: 150000, Currency: "CNY"},
		Cards: []*riskv1.GiftCardLine{
			{FaceValueMinor: 50000, Quantity: 2},
			{FaceValueMinor: 10000, Quantity: 5},
		},
		Payment:   &riskv1.PaymentInstrument{Fingerprint: fingerprint, Kind: riskv1.InstrumentKind_INSTRUMENT_KIND_CREDIT_CARD},
		Recipient: &riskv1.Recipient{Email: giftEmail},
	}
}

func refundRequest(kind riskv1.DestinationKind) *riskv1.EvaluateRefundRequest {
	return &riskv1.EvaluateRefundRequest{
		RequestId:       "req-refund-1",
		OrderId:         "order-2",
		BuyerAccountId:  accountID,
		SellerId:        sellerID,
		Client:          &riskv1.Client{DeviceId: buyerDev},
		AmountRequested: &riskv1.Money{AmountMinor: 8800, Currency: "CNY"},
		AmountPaid:      &riskv1.Money{AmountMinor: 9900, Currency: "CNY"},
		GoodsKind:       riskv1.GoodsKind_GOODS_KIND_PHYSICAL,
		Destination:     &riskv1.RefundDestination{Kind: kind, Fingerprint: refundDest},
	}
}

// sameSet reports whether a and b hold the same elements, ignoring order;
// duplicates count.
func sameSet[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	n := map[T]int{}
	for _, x := range a {
		n[x]++
	}
	for _, x := range b {
		n[x]--
	}
	for _, c := range n {
		if c != 0 {
			return false
		}
	}
	return true
}

func checkNoDuplicates(t *testing.T, ids []store.Identifier) {
	t.Helper()
	seen := map[store.Identifier]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Errorf("subject %v listed twice", id.Kind)
		}
		seen[id] = true
	}
}

func links(subject string, ids ...store.Identifier) []store.Link {
	var out []store.Link
	for _, id := range ids {
		out = append(out, store.Link{ID: id, Subject: subject, At: at})
	}
	return out
}

func TestDeriveSeller(t *testing.T) {
	k := keyer(t)
	e := derive(t, k, sellerRequest(), "dec-1")

	seller := ident(t, k, store.KindSeller, sellerID)
	idn := ident(t, k, store.KindIDNumber, idNumber)
	lic := ident(t, k, store.KindLicense, uscc)
	mob := ident(t, k, store.KindMobile, mobile)
	land := ident(t, k, store.KindLandline, landline)
	mail := ident(t, k, store.KindEmail, email)
	addr := ident(t, k, store.KindAddress, address)
	chat := ident(t, k, store.KindChatHandle, chatHandle)
	dev := ident(t, k, store.KindDevice, sellerDev)
	pay := ident(t, k, store.KindPayoutAccount, payout)

	wantSubjects := []store.Identifier{seller, idn, lic, mob, land, mail, addr, chat, dev, pay}
	if !sameSet(e.Subjects, wantSubjects) {
		t.Errorf("subjects:\n got %v\nwant %v", e.Subjects, wantSubjects)
	}
	checkNoDuplicates(t, e.Subjects)

	// Everything but the seller's own ID links to the seller.
	wantLinks := links("seller:"+sellerID, idn, lic, mob, land, mail, addr, chat, dev, pay)
	if !sameSet(e.Links, wantLinks) {
		t.Errorf("links:\n got %v\nwant %v", e.Links, wantLinks)
	}
	for _, l := range e.Links {
		if l.ID == seller {
			t.Error("the seller's own ID is linked")
		}
	}

	ref := k.Ref(sellerID)
	if ref == "" {
		t.Fatal("Ref is empty")
	}
	wantEvents := map[store.Identifier]bool{dev: true, pay: true}
	if len(e.Events) != len(wantEvents) {
		t.Fatalf("got %d events, want %d: %v", len(e.Events), len(wantEvents), e.Events)
	}
	for _, ev := range e.Events {
		if !wantEvents[ev.Key] {
			t.Errorf("event keyed by %v, want device or payout", ev.Key.Kind)
		}
		delete(wantEvents, ev.Key)
		if ev.Series != history.SeriesSeller || ev.Quantity != 1 || ev.Amount != 0 || ev.Ref != ref {
			t.Errorf("event = %+v, want series %q, quantity 1, amount 0, ref %q", ev, history.SeriesSeller, ref)
		}
	}
}

func TestDeriveSellerSpellings(t *testing.T) {
	// The same seller typed differently derives the same history.
	k := keyer(t)
	a := sellerRequest()
	b := sellerRequest()
	b.Identity.Number = "350102 19900101 123X"
	b.Contact.Mobile = "13800138000"
	b.Contact.Landline = "059187654321"
	b.Contact.Email = " zhang.san@example.COM"
	b.Contact.Address = "福建省福州市鼓楼区五四路100号,"
	b.Payout.AccountNumber = "6222020200001234567"
	ea, eb := derive(t, k, a, "p"), derive(t, k, b, "p")
	if !reflect.DeepEqual(ea, eb) {
		t.Errorf("spellings of one seller derive different entries:\n%v\n%v", ea, eb)
	}
}

func TestDeriveSellerBlankFieldsOmitted(t *testing.T) {
	k := keyer(t)
	req := sellerRequest()
	req.License = nil
	req.Payout = nil
	req.Contact = &riskv1.Contact{Mobile: mobile, Landline: "  ", Email: "", Address: " , ", ChatHandle: "\t"}
	e := derive(t, k, req, "dec-2")

	seller := ident(t, k, store.KindSeller, sellerID)
	idn := ident(t, k, store.KindIDNumber, idNumber)
	mob := ident(t, k, store.KindMobile, mobile)
	dev := ident(t, k, store.KindDevice, sellerDev)
	if want := []store.Identifier{seller, idn, mob, dev}; !sameSet(e.Subjects, want) {
		t.Errorf("subjects:\n got %v\nwant %v", e.Subjects, want)
	}
	if want := links("seller:"+sellerID, idn, mob, dev); !sameSet(e.Links, want) {
		t.Errorf("links:\n got %v\nwant %v", e.Links, want)
	}
	if len(e.Events) != 1 || e.Events[0].Key != dev {
		t.Errorf("events = %v, want one keyed by the device", e.Events)
	}
	for _, id := range e.Subjects {
		if id.Hash == ([store.HashSize]byte{}) {
			t.Errorf("blank %v kept as a zero hash", id.Kind)
		}
	}
}

func TestDeriveSellerPassport(t *testing.T) {
	k := keyer(t)
	req := sellerRequest()
	req.Identity = &riskv1.IdentityDocument{
		Type:     riskv1.IdentityDocumentType_IDENTITY_DOCUMENT_TYPE_PASSPORT,
		Number:   passportNo,
		FullName: "ZHANG SAN",
		Mrz:      mrz,
	}
	e := derive(t, k, req, "dec-3")

	byMRZ := ident(t, k, store.KindIDNumber, mrz)
	byNumber := ident(t, k, store.KindIDNumber, passportNo)
	var found bool
	for _, id := range e.Subjects {
		if id == byMRZ {
			found = true
		}
		if id == byNumber {
			t.Error("a passport seller is keyed by the number field, want the MRZ")
		}
	}
	if !found {
		t.Error("the MRZ is not among the subjects as an identity number")
	}
	if want := (store.Link{ID: byMRZ, Subject: "seller:" + sellerID, At: at}); !contains(e.Links, want) {
		t.Error("the MRZ is not linked to the seller")
	}
	checkNoDuplicates(t, e.Subjects)
}

func TestDeriveGiftCard(t *testing.T) {
	k := keyer(t)
	e := derive(t, k, giftCardRequest(), "dec-4")

	acct := ident(t, k, store.KindAccount, accountID)
	dev := ident(t, k, store.KindDevice, buyerDev)
	inst := ident(t, k, store.KindInstrument, fingerprint)
	rcpt := ident(t, k, store.KindRecipient, giftEmail)

	if want := []store.Identifier{acct, dev, inst, rcpt}; !sameSet(e.Subjects, want) {
		t.Errorf("subjects:\n got %v\nwant %v", e.Subjects, want)
	}
	if want := links("account:"+accountID, dev, inst, rcpt); !sameSet(e.Links, want) {
		t.Errorf("links:\n got %v\nwant %v", e.Links, want)
	}
	for _, l := range e.Links {
		if l.ID == acct {
			t.Error("the account itself is linked")
		}
	}

	var keys []store.Identifier
	for _, ev := range e.Events {
		keys = append(keys, ev.Key)
		// The shared keys' events name the account that ordered (for
		// distinct-account counts); the account's own needs no ref.
		wantRef := k.Ref(accountID)
		if ev.Key == acct {
			wantRef = ""
		}
		if ev.Series != history.SeriesGiftCard || ev.Amount != 150000 || ev.Quantity != 7 || ev.Ref != wantRef {
			t.Errorf("event = %+v, want series %q, amount 150000 (the total), quantity 7 (2+5 cards), ref %q",
				ev, history.SeriesGiftCard, wantRef)
		}
	}
	if want := []store.Identifier{acct, dev, inst, rcpt}; !sameSet(keys, want) {
		t.Errorf("events keyed by %v, want account, device, instrument, recipient", keys)
	}
}

func TestDeriveGiftCardRecipient(t *testing.T) {
	k := keyer(t)
	tests := []struct {
		name      string
		recipient *riskv1.Recipient
		want      string
	}{
		{"e-mail only", &riskv1.Recipient{Email: giftEmail}, giftEmail},
		{"phone only", &riskv1.Recipient{Phone: giftPhone}, giftPhone},
		{"e-mail wins over phone", &riskv1.Recipient{Email: giftEmail, Phone: giftPhone}, giftEmail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := giftCardRequest()
			req.Recipient = tt.recipient
			e := derive(t, k, req, "dec-5")
			want := ident(t, k, store.KindRecipient, tt.want)
			var got []store.Identifier
			for _, id := range e.Subjects {
				if id.Kind == store.KindRecipient {
					got = append(got, id)
				}
			}
			if len(got) != 1 || got[0] != want {
				t.Errorf("recipient subjects = %v, want only the one for %q", got, tt.want)
			}
			var keyed bool
			for _, ev := range e.Events {
				keyed = keyed || ev.Key == want
			}
			if !keyed {
				t.Error("no gift-card event keyed by the recipient")
			}
			if !contains(e.Links, store.Link{ID: want, Subject: "account:" + accountID, At: at}) {
				t.Error("recipient not linked to the account")
			}
		})
	}

	// The phone recipient matches the same phone typed another way.
	a, b := giftCardRequest(), giftCardRequest()
	a.Recipient = &riskv1.Recipient{Phone: "+86 139 0013 9000"}
	b.Recipient = &riskv1.Recipient{Phone: "13900139000"}
	if ea, eb := derive(t, k, a, "p"), derive(t, k, b, "p"); !reflect.DeepEqual(ea, eb) {
		t.Error("one recipient phone typed two ways derives different entries")
	}
}

func TestDeriveRefund(t *testing.T) {
	k := keyer(t)
	acct := ident(t, k, store.KindAccount, accountID)
	dev := ident(t, k, store.KindDevice, buyerDev)
	dest := ident(t, k, store.KindInstrument, refundDest)

	tests := []struct {
		name     string
		kind     riskv1.DestinationKind
		subjects []store.Identifier
		links    []store.Link
	}{
		{
			"other destination", riskv1.DestinationKind_DESTINATION_KIND_OTHER,
			[]store.Identifier{acct, dev, dest}, links("account:"+accountID, dev, dest),
		},
		{
			"original method", riskv1.DestinationKind_DESTINATION_KIND_ORIGINAL_METHOD,
			[]store.Identifier{acct, dev}, links("account:"+accountID, dev),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := derive(t, k, refundRequest(tt.kind), "dec-6")
			if !sameSet(e.Subjects, tt.subjects) {
				t.Errorf("subjects:\n got %v\nwant %v", e.Subjects, tt.subjects)
			}
			if !sameSet(e.Links, tt.links) {
				t.Errorf("links:\n got %v\nwant %v", e.Links, tt.links)
			}
			if len(e.Events) != 1 {
				t.Fatalf("got %d events, want 1: %v", len(e.Events), e.Events)
			}
			ev := e.Events[0]
			want := store.Event{
				ID: ev.ID, Series: history.SeriesRefund, Key: acct, At: at,
				Amount: 8800, Quantity: 1, Ref: k.Ref(sellerID),
			}
			if ev != want {
				t.Errorf("event:\n got %+v\nwant %+v (amount requested, not paid; seller as ref)", ev, want)
			}
		})
	}

	// Two refunds from one buyer to two sellers have distinct refs.
	other := refundRequest(riskv1.DestinationKind_DESTINATION_KIND_ORIGINAL_METHOD)
	other.SellerId = "S-200"
	if a, b := derive(t, k, refundRequest(riskv1.DestinationKind_DESTINATION_KIND_ORIGINAL_METHOD), "x"),
		derive(t, k, other, "x"); a.Events[0].Ref == b.Events[0].Ref {
		t.Error("refunds to different sellers have the same ref")
	}
}

func TestDeriveEventIDsAndTime(t *testing.T) {
	k := keyer(t)
	reqs := []proto.Message{
		sellerRequest(),
		giftCardRequest(),
		refundRequest(riskv1.DestinationKind_DESTINATION_KIND_OTHER),
	}
	for _, req := range reqs {
		t.Run(fmt.Sprintf("%T", req), func(t *testing.T) {
			e1 := derive(t, k, req, "01990000-aaaa")
			if len(e1.Events) == 0 {
				t.Fatal("no events")
			}
			ids := map[string]bool{}
			for _, ev := range e1.Events {
				if ids[ev.ID] {
					t.Errorf("event ID %q used twice", ev.ID)
				}
				ids[ev.ID] = true
				if !strings.HasPrefix(ev.ID, "01990000-aaaa") {
					t.Errorf("event ID %q does not start with the prefix", ev.ID)
				}
				if !ev.At.Equal(at) {
					t.Errorf("event at %v, want %v", ev.At, at)
				}
			}
			for _, l := range e1.Links {
				if !l.At.Equal(at) {
					t.Errorf("link at %v, want %v", l.At, at)
				}
			}

			// Deterministic: a decision and its replay through RecordEvents
			// must write the same events.
			e2 := derive(t, k, req, "01990000-aaaa")
			if !reflect.DeepEqual(e1, e2) {
				t.Errorf("two derivations differ:\n%v\n%v", e1, e2)
			}

			e3 := derive(t, k, req, "01990000-bbbb")
			if len(e3.Events) != len(e1.Events) {
				t.Fatalf("another prefix changed the number of events")
			}
			for i := range e3.Events {
				if ids[e3.Events[i].ID] {
					t.Errorf("event ID %q is the same under another prefix", e3.Events[i].ID)
				}
				a, b := e1.Events[i], e3.Events[i]
				a.ID, b.ID = "", ""
				if a != b {
					t.Errorf("another prefix changed more than the ID: %+v vs %+v", a, b)
				}
			}
		})
	}
}

// EventPrefix gives back the prefix every event was derived with, though
// the caller's part of it holds the separators Derive writes.
func TestEventPrefixInvertsDerive(t *testing.T) {
	k := keyer(t)
	for _, prefix := range []string{"01990000-aaaa", "event:shop/2026/order:7/giftcard/0", "event:/", "event:a//b/"} {
		for _, req := range []proto.Message{sellerRequest(), giftCardRequest(), refundRequest(riskv1.DestinationKind_DESTINATION_KIND_OTHER)} {
			for _, ev := range derive(t, k, req, prefix).Events {
				if got := history.EventPrefix(ev.ID); got != prefix {
					t.Errorf("EventPrefix(%q) = %q, want %q", ev.ID, got, prefix)
				}
			}
		}
	}
}

func TestDeriveUnknownMessage(t *testing.T) {
	k := keyer(t)
	for _, req := range []proto.Message{
		&riskv1.ReportOutcomeRequest{DecisionId: "d"},
		&riskv1.HistoryEvent{},
		nil,
	} {
		e, err := history.Derive(k, req, "p", at)
		if err == nil {
			t.Errorf("Derive(%T) succeeded", req)
		}
		if !reflect.DeepEqual(e, history.Entry{}) {
			t.Errorf("Derive(%T) returned a non-empty entry with its error", req)
		}
	}
}

func TestDeriveKeepsNoRawValues(t *testing.T) {
	k := keyer(t)
	passport := sellerRequest()
	passport.Identity = &riskv1.IdentityDocument{
		Type: riskv1.IdentityDocumentType_IDENTITY_DOCUMENT_TYPE_PASSPORT, Number: passportNo, FullName: "ZHANG SAN", Mrz: mrz,
	}
	phoneGift := giftCardRequest()
	phoneGift.Recipient = &riskv1.Recipient{Phone: giftPhone}

	sellerRaw := []string{idNumber, uscc, mobile, landline, email, address, chatHandle, sellerDev, payout}
	giftRaw := []string{buyerDev, fingerprint, giftEmail, giftPhone}
	tests := []struct {
		name string
		req  proto.Message
		raw  []string
	}{
		{"seller", sellerRequest(), sellerRaw},
		{"passport seller", passport, append([]string{mrz, passportNo, "CHNZHANG", "E123456784"}, sellerRaw...)},
		{"gift card", giftCardRequest(), giftRaw},
		{"gift card to phone", phoneGift, giftRaw},
		// The refund's seller is referred to only by its keyed hash.
		{"refund", refundRequest(riskv1.DestinationKind_DESTINATION_KIND_OTHER), []string{buyerDev, refundDest, sellerID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := derive(t, k, tt.req, "dec-7")
			text := fmt.Sprintf("%v", e) + fmt.Sprintf("%+v", e)
			for _, raw := range tt.raw {
				for _, kind := range []store.Kind{
					store.KindIDNumber, store.KindMobile, store.KindEmail, store.KindAddress, store.KindDevice,
				} {
					for _, v := range []string{raw, pseudonym.Normalise(kind, raw)} {
						if len(v) >= 6 && strings.Contains(text, v) {
							t.Errorf("entry contains %q (from %q):\n%s", v, raw, text)
						}
					}
				}
			}
		})
	}
}

func contains[T comparable](s []T, x T) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

// Guards: a declined order's events keep the account they name, and the
// marker is recognised on old refs ("declined") and new ones alike.
func TestDeclinedRefs(t *testing.T) {
	for _, tc := range []struct {
		ref, declined, account string
	}{
		{"", "declined", ""},
		{"abc", "declined:abc", "abc"},
		{"declined", "declined", ""},
		{"declined:abc", "declined:abc", "abc"},
	} {
		got := history.Declined(tc.ref)
		if got != tc.declined || !history.IsDeclined(got) {
			t.Errorf("Declined(%q) = %q, want %q (declined)", tc.ref, got, tc.declined)
		}
		if a := history.AccountRef(got); a != tc.account {
			t.Errorf("AccountRef(%q) = %q, want %q", got, a, tc.account)
		}
		if history.IsDeclined(tc.account) {
			t.Errorf("%q counts as declined", tc.account)
		}
	}
}

// Guards: Entry.Event finds the request's own event by series and kind
// (the key the commit writes, the seller ref a refund carries), and
// reports none for a series or kind the entry lacks.
func TestEntryEvent(t *testing.T) {
	k := keyer(t)
	e := derive(t, k, &riskv1.EvaluateRefundRequest{
		BuyerAccountId: "buyer-1", SellerId: "seller-9",
		AmountRequested: &riskv1.Money{AmountMinor: 100, Currency: "CNY"},
	}, "d1")
	ev, ok := e.Event(history.SeriesRefund, store.KindAccount)
	if !ok || ev.Key != ident(t, k, store.KindAccount, "buyer-1") || ev.Ref != k.Ref("seller-9") {
		t.Fatalf("refund event %+v, %v; want the buyer's, with the seller's ref", ev, ok)
	}
	if _, ok := e.Event(history.SeriesGiftCard, store.KindAccount); ok {
		t.Error("a refund has a gift-card event")
	}
	if _, ok := e.Event(history.SeriesRefund, store.KindDevice); ok {
		t.Error("a refund event keyed by device")
	}
}
