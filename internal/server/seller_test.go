package server_test

// Scenario tests of CheckSeller through the real gRPC client, against the
// default policy and a real store: clean sellers, and the seller threats
// T1 (fake identity, phony licence), T2 (the banned come back) and T3 (thin,
// unverifiable contact details) of docs/fraud-patterns.md, and the story of seed 000.
//
// Every seller gets identifiers of its own (a global counter), so that a
// case links sellers only where it shares an identifier on purpose. Each
// licence of the pool is used by one seller per server.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/verifier/identity"
	"github.com/riskd/riskd/internal/verifier/license"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const (
	sellerApprove = riskv1.Outcome_OUTCOME_APPROVE
	sellerReview  = riskv1.Outcome_OUTCOME_REVIEW
	sellerDecline = riskv1.Outcome_OUTCOME_DECLINE

	actManualReview = riskv1.Action_ACTION_MANUAL_REVIEW
	actRequestDocs  = riskv1.Action_ACTION_REQUEST_DOCUMENTS

	codeIDInvalid      = "ID_NUMBER_INVALID"
	codeUnderage       = "ID_HOLDER_UNDERAGE"
	codeIDExpired      = "ID_DOCUMENT_EXPIRED"
	codeNotLegalRep    = "ID_HOLDER_NOT_LEGAL_REP"
	codeLicenseInvalid = "LICENSE_NUMBER_INVALID"
	codeBanned         = "LINKED_TO_BANNED_SELLER"
	codeOther          = "LINKED_TO_OTHER_SELLER"
	codeMany           = "MANY_SELLERS_ONE_DEVICE"
	codeThin           = "CONTACT_THIN"
	codeDisposable     = "EMAIL_DISPOSABLE"
	codePayout         = "PAYOUT_NAME_MISMATCH"
)

// sellerUSCCs are Unified Social Credit Codes of real organisations: valid
// by GB 32100. A licence shared by two sellers is itself a link, so each is
// handed to one seller per server.
var sellerUSCCs = []string{
	"91350100M000100Y43", "911100007109288314", "91110108551385082Q", "914403001922038216",
	"91440300708461136T", "12100000400000624D", "31310000425013819A", "911100006000650192",
}

// The ICAO Doc 9303 specimen passport: valid check digits, expired in 2012.
const (
	specimenMRZ1   = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<"
	specimenMRZ2   = "L898902C36UTO7408122F1204159ZE184226B<<<<<10"
	specimenNumber = "L898902C3"
)

// sellerKindWords are how reason sentences name identifiers (store.Kind names).
var sellerKindWords = []string{
	"identity number", "licence number", "mobile", "landline", "e-mail",
	"payout account", "device", "address", "chat handle",
}

var sellerSeq atomic.Int64

// sellerFixture is a fresh riskd server with its own pool of licences.
type sellerFixture struct {
	t        *testing.T
	h        *harness
	licences []string
}

func newSellerFixture(t *testing.T) *sellerFixture {
	t.Helper()
	return &sellerFixture{t: t, h: start(t, setup{}), licences: slices.Clone(sellerUSCCs)}
}

func (f *sellerFixture) licence() string {
	f.t.Helper()
	if len(f.licences) == 0 {
		f.t.Fatal("licence pool exhausted: use a fresh server")
	}
	l := f.licences[0]
	f.licences = f.licences[1:]
	return l
}

// sellerResidentID returns a valid resident identity number for a holder born on
// birth, found by trying every check character with the real parser.
func sellerResidentID(t *testing.T, birth time.Time, seq int) string {
	t.Helper()
	body := "110105" + birth.Format("20060102") + fmt.Sprintf("%03d", seq%1000)
	for _, c := range "0123456789X" {
		if _, err := identity.ParseResidentID(body+string(c), time.Now()); err == nil {
			return body + string(c)
		}
	}
	t.Fatalf("no check character makes %s… valid", body[:6])
	return ""
}

// sellerIDCheckChar is the ISO 7064 MOD 11-2 check character of a 17-digit body,
// for numbers the parser rejects for another reason (region, date).
func sellerIDCheckChar(body string) string {
	sum := 0
	for i := range 17 {
		w := 1
		for range 17 - i {
			w = w * 2 % 11
		}
		sum += int(body[i]-'0') * w
	}
	return string("10X98765432"[sum%11])
}

// sellerMRZCheck is the ICAO 9303 7-3-1 check digit of a field.
func sellerMRZCheck(s string) byte {
	weights := [3]int{7, 3, 1}
	sum := 0
	for i := 0; i < len(s); i++ {
		c, v := s[i], 0
		switch {
		case c >= '0' && c <= '9':
			v = int(c - '0')
		case c >= 'A' && c <= 'Z':
			v = int(c-'A') + 10
		}
		sum += v * weights[i%3]
	}
	return byte('0' + sum%10)
}

// sellerPassportMRZ returns the specimen's MRZ with another document number and
// an expiry date, check digits recomputed.
func sellerPassportMRZ(t *testing.T, number string, expiry time.Time) string {
	t.Helper()
	num := (number + "<<<<<<<<<")[:9]
	doc := num + string(sellerMRZCheck(num))
	birth := "740812" + string(sellerMRZCheck("740812"))
	exp := expiry.Format("060102")
	exp += string(sellerMRZCheck(exp))
	personal := "ZE184226B<<<<<"
	personal += string(sellerMRZCheck(personal))
	composite := sellerMRZCheck(doc + birth + exp + personal)
	line2 := doc + "UTO" + birth + "F" + exp + personal + string(composite)
	mrz := specimenMRZ1 + "\n" + line2
	if _, err := identity.ParseMRZText(mrz, time.Now()); err != nil {
		t.Fatalf("generated MRZ is invalid: %v", err)
	}
	return mrz
}

// sellerFullWidth writes ASCII digits and '-' as full-width characters, as typed
// on Chinese keyboards.
func sellerFullWidth(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r - '0' + '０')
		case r == '-':
			b.WriteRune('－')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// individual is a clean private seller: no licence, full contact details,
// paid into the identity holder's own account. Every identifier is its own.
func (f *sellerFixture) individual(name string) *riskv1.CheckSellerRequest {
	n := int(sellerSeq.Add(1))
	birth := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 37*(n%300))
	return &riskv1.CheckSellerRequest{
		RequestId: fmt.Sprintf("req-scenario-%d", n),
		SellerId:  fmt.Sprintf("seller-scenario-%d", n),
		Client:    &riskv1.Client{DeviceId: fmt.Sprintf("device-scenario-%d", n), IpAddress: fmt.Sprintf("2001:db8::%x", n)},
		Identity: &riskv1.IdentityDocument{
			Type:     riskv1.IdentityDocumentType_IDENTITY_DOCUMENT_TYPE_RESIDENT_ID,
			Number:   sellerResidentID(f.t, birth, n),
			FullName: name,
		},
		Contact: &riskv1.Contact{
			Mobile:   fmt.Sprintf("139%08d", n),
			Landline: fmt.Sprintf("0591-8%07d", n),
			Email:    fmt.Sprintf("seller%d@example.com", n),
			Address:  fmt.Sprintf("福建省福州市鼓楼区五四路 %d 号", n),
		},
		Payout: &riskv1.PayoutAccount{AccountNumber: fmt.Sprintf("622202%013d", n), HolderName: name},
	}
}

// company is a clean company seller: the identity holder is the legal
// representative and the payout account is the company's.
func (f *sellerFixture) company(name, company string) *riskv1.CheckSellerRequest {
	req := f.individual(name)
	req.License = &riskv1.BusinessLicense{Uscc: f.licence(), CompanyName: company, LegalRepresentative: name}
	req.Payout.HolderName = company
	return req
}

// passportHolder is a clean private seller with a valid, current passport.
func (f *sellerFixture) passportHolder() *riskv1.CheckSellerRequest {
	req := f.individual("Anna Maria Eriksson")
	number := fmt.Sprintf("X%08d", sellerSeq.Add(1))
	req.Identity = &riskv1.IdentityDocument{
		Type:     riskv1.IdentityDocumentType_IDENTITY_DOCUMENT_TYPE_PASSPORT,
		Number:   number,
		FullName: "Anna Maria Eriksson",
		Mrz:      sellerPassportMRZ(f.t, number, time.Now().AddDate(5, 0, 0)),
	}
	req.Payout.HolderName = "ANNA MARIA ERIKSSON"
	return req
}

func (f *sellerFixture) decide(t *testing.T, req *riskv1.CheckSellerRequest) *riskv1.Decision {
	t.Helper()
	resp, err := f.h.client.CheckSeller(context.Background(), req)
	if err != nil {
		t.Fatalf("CheckSeller %s: %v", req.GetSellerId(), err)
	}
	return resp.GetDecision()
}

// ban reports the seller of a decision as banned, as a platform does after
// a fraud report.
func (f *sellerFixture) ban(t *testing.T, d *riskv1.Decision) {
	t.Helper()
	_, err := f.h.client.ReportOutcome(context.Background(), &riskv1.ReportOutcomeRequest{
		DecisionId: d.GetDecisionId(), Label: riskv1.OutcomeLabel_OUTCOME_LABEL_SELLER_BANNED,
		Note: "delisted after buyers' fraud reports",
	})
	if err != nil {
		t.Fatal(err)
	}
}

// banByEvent bans a seller by its seller ID through RecordEvents, at a day ago.
func (f *sellerFixture) banByEvent(t *testing.T, sellerID string) {
	t.Helper()
	resp, err := f.h.client.RecordEvents(context.Background(), &riskv1.RecordEventsRequest{Events: []*riskv1.HistoryEvent{{
		EventId:    "ban-" + sellerID,
		OccurredAt: timestamppb.New(time.Now().Add(-24 * time.Hour)),
		Event: &riskv1.HistoryEvent_Outcome{Outcome: &riskv1.OutcomeEvent{
			SellerId: sellerID, Label: riskv1.OutcomeLabel_OUTCOME_LABEL_SELLER_BANNED, Note: "banned before riskd",
		}},
	}}})
	if err != nil || resp.GetRecorded() != 1 {
		t.Fatalf("RecordEvents: %v %v", resp, err)
	}
}

// decided decides a seller that must be approved cleanly: the history a
// scenario builds on.
func (f *sellerFixture) decided(t *testing.T, req *riskv1.CheckSellerRequest) *riskv1.Decision {
	t.Helper()
	d := f.decide(t, req)
	if d.GetOutcome() != sellerApprove || len(d.GetReasons()) != 0 {
		t.Fatalf("history seller %s: got %s %v, want a clean APPROVE", req.GetSellerId(), d.GetOutcome(), codes_(d))
	}
	return d
}

// sellerExpect is what a decision must say.
type sellerExpect struct {
	outcome riskv1.Outcome
	reasons []string            // the exact set of reason codes
	actions []riskv1.Action     // the exact set of actions
	kinds   map[string][]string // reason code -> the identifier kinds its sentence names, and no others
	// anyActions leaves the actions unchecked, where they do not matter.
	anyActions bool
}

func (e sellerExpect) String() string {
	if e.anyActions {
		return fmt.Sprintf("%s %v (any actions)", e.outcome, e.reasons)
	}
	return fmt.Sprintf("%s %v %v", e.outcome, e.reasons, e.actions)
}

// assertSellerDecision checks a decision against want, that every
// verifier answered, and that the decision carries no raw identifier of the
// request (as typed, or phones as bare digits).
func assertSellerDecision(t *testing.T, req *riskv1.CheckSellerRequest, d *riskv1.Decision, want sellerExpect) {
	t.Helper()
	gotReasons := slices.Sorted(slices.Values(codes_(d)))
	wantReasons := slices.Sorted(slices.Values(want.reasons))
	gotActions := slices.Sorted(slices.Values(d.GetActions()))
	wantActions := slices.Sorted(slices.Values(want.actions))
	if d.GetOutcome() != want.outcome || !slices.Equal(gotReasons, wantReasons) ||
		(!want.anyActions && !slices.Equal(gotActions, wantActions)) {
		t.Errorf("got %s %v %v (score %d), want %s", d.GetOutcome(), gotReasons, gotActions, d.GetScore(), want)
		for _, r := range d.GetReasons() {
			t.Logf("  reason %s (%s, %d): %s", r.GetCode(), r.GetSource(), r.GetScore(), r.GetMessage())
		}
	}
	switch {
	case len(want.reasons) == 0 && d.GetScore() != 0:
		t.Errorf("a clean seller scored %d, want 0", d.GetScore())
	case len(want.reasons) > 0 && d.GetScore() == 0:
		t.Errorf("findings %v added no score", want.reasons)
	}
	for _, vr := range d.GetVerifierResults() {
		if vr.GetStatus() != riskv1.VerifierStatus_VERIFIER_STATUS_OK {
			t.Errorf("verifier %s: %s %s", vr.GetName(), vr.GetStatus(), vr.GetError())
		}
	}
	for code, kinds := range want.kinds {
		var msg string
		for _, r := range d.GetReasons() {
			if r.GetCode() == code {
				msg = r.GetMessage()
			}
		}
		for _, w := range sellerKindWords {
			if named := strings.Contains(msg, w); named != slices.Contains(kinds, w) {
				t.Errorf("%s sentence %q: names %q is %v, want %v", code, msg, w, named, !named)
			}
		}
	}
	raw := []string{
		req.GetIdentity().GetNumber(), req.GetLicense().GetUscc(), req.GetContact().GetMobile(),
		req.GetContact().GetLandline(), req.GetContact().GetEmail(), req.GetContact().GetAddress(),
		req.GetPayout().GetAccountNumber(), req.GetClient().GetDeviceId(),
	}
	for _, phone := range []string{req.GetContact().GetMobile(), req.GetContact().GetLandline()} {
		raw = append(raw, strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, phone))
	}
	if mrz := req.GetIdentity().GetMrz(); mrz != "" {
		raw = append(raw, strings.Split(mrz, "\n")...)
	}
	// Nothing the caller gets, and the store keeps, holds a raw identifier:
	// reason sentences, signals, verifier errors.
	encoded, err := proto.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range raw {
		if v = strings.TrimSpace(v); v != "" && strings.Contains(string(encoded), v) {
			t.Errorf("the decision holds a raw identifier of the request")
			for _, r := range d.GetReasons() {
				t.Logf("  reason %s: %s", r.GetCode(), r.GetMessage())
			}
		}
	}
}

func TestCheckSellerCleanSellersApproved(t *testing.T) {
	// One server for all: distinct sellers, even with blank fields in
	// common (no licence, no landline), must never link to each other.
	f := newSellerFixture(t)
	cases := []struct {
		name  string
		build func() *riskv1.CheckSellerRequest
	}{
		{"individual, Chinese name, landline and address", func() *riskv1.CheckSellerRequest {
			return f.individual("王芳")
		}},
		{"individual without landline, with an address", func() *riskv1.CheckSellerRequest {
			req := f.individual("刘洋")
			req.Contact.Landline = ""
			return req
		}},
		{"individual with a landline, without an address", func() *riskv1.CheckSellerRequest {
			req := f.individual("陈静")
			req.Contact.Address = ""
			return req
		}},
		{"individual whose number ends in a lower-case x", func() *riskv1.CheckSellerRequest {
			req := f.individual("赵敏")
			for seq := 0; ; seq++ {
				id := sellerResidentID(t, time.Date(1988, 6, 1, 0, 0, 0, 0, time.UTC), 500+seq)
				if strings.HasSuffix(id, "X") {
					req.Identity.Number = strings.ToLower(id)
					return req
				}
			}
		}},
		{"individual who turned 18 yesterday", func() *riskv1.CheckSellerRequest {
			req := f.individual("吴霞")
			req.Identity.Number = sellerResidentID(t, time.Now().AddDate(-18, 0, -1), int(sellerSeq.Add(1)))
			return req
		}},
		{"individual with a passport, name in another case on the payout", func() *riskv1.CheckSellerRequest {
			return f.passportHolder()
		}},
		{"company, Chinese names, landline and address", func() *riskv1.CheckSellerRequest {
			return f.company("杨磊", "福州杨磊贸易有限公司")
		}},
		{"company without landline, with an address", func() *riskv1.CheckSellerRequest {
			req := f.company("黄伟", "北京黄伟科技有限公司")
			req.Contact.Landline = ""
			return req
		}},
		{"company paid into its legal representative's account", func() *riskv1.CheckSellerRequest {
			req := f.company("周杰", "杭州周杰电子商务有限公司")
			req.Payout.HolderName = "周杰"
			return req
		}},
		{"company, Latin names with other spacing and case", func() *riskv1.CheckSellerRequest {
			req := f.company("Chen Wei", "Chen Wei Trading Co., Ltd.")
			req.License.LegalRepresentative = "CHEN  WEI"
			req.Payout.HolderName = "CHEN WEI TRADING CO LTD"
			return req
		}},
		{"company, Latin names in the other order", func() *riskv1.CheckSellerRequest {
			req := f.company("Li Na", "Li Na Imports Ltd")
			req.License.LegalRepresentative = "NA LI"
			return req
		}},
		{"company, transcribed name with and without the middle dot", func() *riskv1.CheckSellerRequest {
			req := f.company("买买提·艾力", "乌鲁木齐买买提商贸有限公司")
			req.License.LegalRepresentative = "买买提艾力"
			return req
		}},
		{"company, full-width digits in mobile, landline and licence", func() *riskv1.CheckSellerRequest {
			req := f.company("徐明", "深圳徐明科技有限公司")
			req.Contact.Mobile = sellerFullWidth(req.Contact.Mobile)
			req.Contact.Landline = sellerFullWidth(req.Contact.Landline)
			req.License.Uscc = sellerFullWidth(req.License.Uscc)
			req.Payout.HolderName = "深圳 徐明科技 有限公司"
			return req
		}},
		{"company, mobile with the country code, passport holder as legal representative", func() *riskv1.CheckSellerRequest {
			req := f.passportHolder()
			req.License = &riskv1.BusinessLicense{Uscc: f.licence(), CompanyName: "Eriksson Handel AB", LegalRepresentative: "ERIKSSON ANNA MARIA"}
			req.Payout.HolderName = "Eriksson Handel AB"
			req.Contact.Mobile = "+86 " + req.Contact.Mobile[:3] + " " + req.Contact.Mobile[3:7] + " " + req.Contact.Mobile[7:]
			return req
		}},
		{"individual with an e-mail domain that only ends like a disposable one", func() *riskv1.CheckSellerRequest {
			req := f.individual("孙丽")
			req.Contact.Email = strings.Replace(req.Contact.Email, "example.com", "xmailinator.com", 1)
			return req
		}},
	}
	if len(cases) < 10 {
		t.Fatal("fewer than 10 clean sellers")
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.t = t // subtests run one after another; failures belong to this one
			req := tc.build()
			assertSellerDecision(t, req, f.decide(t, req), sellerExpect{outcome: sellerApprove})
		})
	}
}

func TestCheckSellerT1FakeIdentityPhonyLicence(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		build func(f *sellerFixture) *riskv1.CheckSellerRequest
		want  sellerExpect
	}{
		{"resident ID with a wrong check character", func(f *sellerFixture) *riskv1.CheckSellerRequest {
			req := f.company("王强", "福州王强贸易有限公司")
			n := req.Identity.Number
			for _, c := range "0123456789X" {
				if string(c) != n[17:] {
					req.Identity.Number = n[:17] + string(c)
					break
				}
			}
			return req
		}, sellerExpect{outcome: sellerDecline, reasons: []string{codeIDInvalid}, actions: []riskv1.Action{actRequestDocs}}},
		{"resident ID with an unknown region code", func(f *sellerFixture) *riskv1.CheckSellerRequest {
			req := f.individual("王强")
			body := "990105" + req.Identity.Number[6:17]
			req.Identity.Number = body + sellerIDCheckChar(body)
			return req
		}, sellerExpect{outcome: sellerDecline, reasons: []string{codeIDInvalid}, actions: []riskv1.Action{actRequestDocs}}},
		{"resident ID born on 30 February", func(f *sellerFixture) *riskv1.CheckSellerRequest {
			req := f.individual("王强")
			body := "11010519900230" + req.Identity.Number[14:17]
			req.Identity.Number = body + sellerIDCheckChar(body)
			return req
		}, sellerExpect{outcome: sellerDecline, reasons: []string{codeIDInvalid}, actions: []riskv1.Action{actRequestDocs}}},
		{"holder turns 18 tomorrow", func(f *sellerFixture) *riskv1.CheckSellerRequest {
			req := f.company("李小明", "福州李小明贸易有限公司")
			req.Identity.Number = sellerResidentID(f.t, time.Now().AddDate(-18, 0, 1), int(sellerSeq.Add(1)))
			return req
		}, sellerExpect{outcome: sellerDecline, reasons: []string{codeUnderage}}},
		{"holder aged 12", func(f *sellerFixture) *riskv1.CheckSellerRequest {
			req := f.individual("李小明")
			req.Identity.Number = sellerResidentID(f.t, time.Now().AddDate(-12, 0, 0), int(sellerSeq.Add(1)))
			return req
		}, sellerExpect{outcome: sellerDecline, reasons: []string{codeUnderage}}},
		{"licence with a wrong check character", func(f *sellerFixture) *riskv1.CheckSellerRequest {
			req := f.company("张伟", "福州张伟贸易有限公司")
			u := req.License.Uscc
			for _, c := range "0123456789ABCDEFGHJKLMNPQRTUWXY" {
				if string(c) != u[17:] {
					req.License.Uscc = u[:17] + string(c)
					break
				}
			}
			return req
		}, sellerExpect{outcome: sellerDecline, reasons: []string{codeLicenseInvalid}, actions: []riskv1.Action{actRequestDocs}}},
		{"licence one character short", func(f *sellerFixture) *riskv1.CheckSellerRequest {
			req := f.company("张伟", "福州张伟贸易有限公司")
			req.License.Uscc = req.License.Uscc[:17]
			return req
		}, sellerExpect{outcome: sellerDecline, reasons: []string{codeLicenseInvalid}, actions: []riskv1.Action{actRequestDocs}}},
		{"identity holder is not the legal representative", func(f *sellerFixture) *riskv1.CheckSellerRequest {
			req := f.company("王芳", "福州李娜贸易有限公司")
			req.License.LegalRepresentative = "李娜"
			return req
		}, sellerExpect{outcome: sellerReview, reasons: []string{codeNotLegalRep}, actions: []riskv1.Action{actManualReview, actRequestDocs}}},
		{"passport MRZ with a wrong check digit", func(f *sellerFixture) *riskv1.CheckSellerRequest {
			req := f.passportHolder()
			req.Identity.Mrz = strings.Replace(req.Identity.Mrz, "7408122F", "7408123F", 1)
			return req
		}, sellerExpect{outcome: sellerDecline, reasons: []string{codeIDInvalid}, actions: []riskv1.Action{actRequestDocs}}},
		{"passport number not the one in the MRZ", func(f *sellerFixture) *riskv1.CheckSellerRequest {
			req := f.passportHolder()
			req.Identity.Number = "X99999999"
			return req
		}, sellerExpect{outcome: sellerDecline, reasons: []string{codeIDInvalid}, actions: []riskv1.Action{actRequestDocs}}},
		{"ICAO specimen passport, expired in 2012", func(f *sellerFixture) *riskv1.CheckSellerRequest {
			if p, err := identity.ParseMRZ(specimenMRZ1, specimenMRZ2, time.Now()); err != nil || !p.Expired(time.Now()) {
				f.t.Fatalf("specimen: %v expired=%v, want a valid, expired passport", err, p.Expired(time.Now()))
			}
			req := f.passportHolder()
			req.Identity.Number = specimenNumber
			req.Identity.Mrz = specimenMRZ1 + "\n" + specimenMRZ2
			return req
		}, sellerExpect{outcome: sellerReview, reasons: []string{codeIDExpired}, actions: []riskv1.Action{actManualReview, actRequestDocs}}},
	}
	// One server for the table: no case shares an identifier with another.
	f := newSellerFixture(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.t = t
			req := tc.build(f)
			assertSellerDecision(t, req, f.decide(t, req), tc.want)
		})
	}
}

func TestCheckSellerT2TheBannedComeBack(t *testing.T) {
	t.Parallel()
	bannedStrong := func(kinds ...string) sellerExpect {
		return sellerExpect{outcome: sellerDecline, reasons: []string{codeBanned}, actions: []riskv1.Action{actRequestDocs},
			kinds: map[string][]string{codeBanned: kinds}}
	}
	cases := []struct {
		name string
		// run builds the history on f and returns the new seller.
		run  func(t *testing.T, f *sellerFixture) *riskv1.CheckSellerRequest
		want sellerExpect
	}{
		{"same mobile as a banned seller", func(t *testing.T, f *sellerFixture) *riskv1.CheckSellerRequest {
			old := f.company("王某", "合肥王某电子有限公司")
			f.ban(t, f.decided(t, old))
			req := f.company("王某某", "合肥某某数码有限公司")
			req.Contact.Mobile = old.Contact.Mobile
			return req
		}, bannedStrong("mobile")},
		{"same mobile, typed full-width with the country code", func(t *testing.T, f *sellerFixture) *riskv1.CheckSellerRequest {
			old := f.individual("王某")
			f.ban(t, f.decided(t, old))
			req := f.individual("王某某")
			req.Contact.Mobile = sellerFullWidth("+86-" + old.Contact.Mobile)
			return req
		}, bannedStrong("mobile")},
		{"same payout account as a banned seller", func(t *testing.T, f *sellerFixture) *riskv1.CheckSellerRequest {
			old := f.company("王某", "合肥王某电子有限公司")
			f.ban(t, f.decided(t, old))
			req := f.company("王某某", "合肥某某数码有限公司")
			req.Payout.AccountNumber = old.Payout.AccountNumber
			return req
		}, bannedStrong("payout account")},
		{"same identity number under a new company", func(t *testing.T, f *sellerFixture) *riskv1.CheckSellerRequest {
			old := f.company("王某", "合肥王某电子有限公司")
			f.ban(t, f.decided(t, old))
			req := f.company("王某", "合肥某某数码有限公司")
			req.Identity = proto.Clone(old.Identity).(*riskv1.IdentityDocument)
			return req
		}, bannedStrong("identity number")},
		{"same licence as a banned seller", func(t *testing.T, f *sellerFixture) *riskv1.CheckSellerRequest {
			old := f.company("王某", "合肥王某电子有限公司")
			f.ban(t, f.decided(t, old))
			req := f.company("王某某", "合肥王某电子有限公司")
			req.License.Uscc = old.License.Uscc
			req.License.LegalRepresentative = "王某某"
			return req
		}, bannedStrong("licence number")},
		{"same address as a banned seller, spaced differently", func(t *testing.T, f *sellerFixture) *riskv1.CheckSellerRequest {
			old := f.individual("王某")
			f.ban(t, f.decided(t, old))
			req := f.individual("王某某")
			req.Contact.Address = strings.ReplaceAll(old.Contact.Address, " ", "") + "。"
			return req
		}, bannedStrong("address")},
		{"same device only as a banned seller", func(t *testing.T, f *sellerFixture) *riskv1.CheckSellerRequest {
			old := f.company("王某", "合肥王某电子有限公司")
			f.ban(t, f.decided(t, old))
			req := f.company("王某某", "合肥某某数码有限公司")
			req.Client.DeviceId = old.Client.DeviceId
			return req
		}, sellerExpect{outcome: sellerReview, reasons: []string{codeBanned}, actions: []riskv1.Action{actManualReview, actRequestDocs},
			kinds: map[string][]string{codeBanned: {"device"}}}},
		{"same e-mail as a live seller", func(t *testing.T, f *sellerFixture) *riskv1.CheckSellerRequest {
			old := f.company("王某", "合肥王某电子有限公司")
			f.decided(t, old)
			req := f.company("李某", "合肥李某数码有限公司")
			req.Contact.Email = strings.ToUpper(old.Contact.Email)
			return req
		}, sellerExpect{outcome: sellerReview, reasons: []string{codeOther}, actions: []riskv1.Action{actManualReview},
			kinds: map[string][]string{codeOther: {"e-mail"}}}},
		{"same mobile as a banned seller and e-mail as a live one", func(t *testing.T, f *sellerFixture) *riskv1.CheckSellerRequest {
			banned := f.individual("王某")
			f.ban(t, f.decided(t, banned))
			live := f.individual("李某")
			f.decided(t, live)
			req := f.individual("赵某")
			req.Contact.Mobile = banned.Contact.Mobile
			req.Contact.Email = live.Contact.Email
			return req
		}, sellerExpect{outcome: sellerDecline, reasons: []string{codeBanned, codeOther}, actions: []riskv1.Action{actRequestDocs},
			kinds: map[string][]string{codeBanned: {"mobile"}, codeOther: {"e-mail"}}}},
		{"third seller from one device", func(t *testing.T, f *sellerFixture) *riskv1.CheckSellerRequest {
			first := f.individual("王某")
			f.decided(t, first)
			second := f.individual("李某")
			second.Client.DeviceId = first.Client.DeviceId
			assertSellerDecision(t, second, f.decide(t, second), sellerExpect{outcome: sellerReview, reasons: []string{codeOther},
				actions: []riskv1.Action{actManualReview}, kinds: map[string][]string{codeOther: {"device"}}})
			req := f.individual("赵某")
			req.Client.DeviceId = first.Client.DeviceId
			return req
		}, sellerExpect{outcome: sellerReview, reasons: []string{codeOther, codeMany}, actions: []riskv1.Action{actManualReview},
			kinds: map[string][]string{codeOther: {"device"}, codeMany: {"device"}}}},
		{"third seller paid into one payout account, holder typed to match", func(t *testing.T, f *sellerFixture) *riskv1.CheckSellerRequest {
			first := f.individual("王某")
			f.decided(t, first)
			second := f.individual("李某")
			second.Payout.AccountNumber = first.Payout.AccountNumber
			f.decide(t, second)
			req := f.individual("赵某")
			req.Payout.AccountNumber = first.Payout.AccountNumber
			return req
		}, sellerExpect{outcome: sellerReview, reasons: []string{codeOther, codeMany}, actions: []riskv1.Action{actManualReview},
			kinds: map[string][]string{codeOther: {"payout account"}, codeMany: {"payout account"}}}},
		// Three findings of 20 + 30 + 30 reach the decline threshold of 80,
		// but the rules that fired (linked-to-other-seller,
		// many-sellers-one-device) say review, and a review rule caps the
		// outcome (issue 16): T2 declines a link to a banned seller, and
		// sends one to live sellers to a person.
		{"third seller paid into the first one's account", func(t *testing.T, f *sellerFixture) *riskv1.CheckSellerRequest {
			first := f.individual("王某")
			f.decided(t, first)
			second := f.individual("李某")
			second.Payout = proto.Clone(first.Payout).(*riskv1.PayoutAccount)
			assertSellerDecision(t, second, f.decide(t, second), sellerExpect{outcome: sellerReview,
				reasons: []string{codeOther, codePayout}, actions: []riskv1.Action{actManualReview, actRequestDocs},
				kinds: map[string][]string{codeOther: {"payout account"}}})
			req := f.individual("赵某")
			req.Payout = proto.Clone(first.Payout).(*riskv1.PayoutAccount)
			return req
		}, sellerExpect{outcome: sellerReview, reasons: []string{codeOther, codeMany, codePayout},
			actions: []riskv1.Action{actManualReview, actRequestDocs},
			kinds:   map[string][]string{codeOther: {"payout account"}, codeMany: {"payout account"}}}},
		{"same landline as a seller banned through RecordEvents", func(t *testing.T, f *sellerFixture) *riskv1.CheckSellerRequest {
			old := f.company("王某", "合肥王某电子有限公司")
			f.decided(t, old)
			f.banByEvent(t, old.SellerId)
			req := f.company("王某某", "合肥某某数码有限公司")
			req.Contact.Landline = old.Contact.Landline
			return req
		}, bannedStrong("landline")},
		// The banned seller itself asks again under its own seller ID. Its
		// own ban must count at least as much as a ban of a seller it
		// shares a phone with.
		{"seller banned through ReportOutcome checked again, same details", func(t *testing.T, f *sellerFixture) *riskv1.CheckSellerRequest {
			old := f.company("王某", "合肥王某电子有限公司")
			f.ban(t, f.decided(t, old))
			req := proto.Clone(old).(*riskv1.CheckSellerRequest)
			req.RequestId += "-again"
			return req
		}, sellerExpect{outcome: sellerDecline, reasons: []string{codeBanned}, actions: []riskv1.Action{actRequestDocs}}},
		{"seller banned through RecordEvents checked again, same details", func(t *testing.T, f *sellerFixture) *riskv1.CheckSellerRequest {
			old := f.company("王某", "合肥王某电子有限公司")
			f.decided(t, old)
			f.banByEvent(t, old.SellerId)
			req := proto.Clone(old).(*riskv1.CheckSellerRequest)
			req.RequestId += "-again"
			return req
		}, sellerExpect{outcome: sellerDecline, reasons: []string{codeBanned}, anyActions: true}},
		{"banned seller checked again under its own ID, every identifier new", func(t *testing.T, f *sellerFixture) *riskv1.CheckSellerRequest {
			old := f.company("王某", "合肥王某电子有限公司")
			f.ban(t, f.decided(t, old))
			req := f.company("王某", "合肥王某电子有限公司")
			req.SellerId = old.SellerId
			return req
		}, sellerExpect{outcome: sellerDecline, reasons: []string{codeBanned}, anyActions: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSellerFixture(t)
			req := tc.run(t, f)
			assertSellerDecision(t, req, f.decide(t, req), tc.want)
		})
	}
}

func TestCheckSellerT3ThinContactDetails(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		build func(t *testing.T, f *sellerFixture) *riskv1.CheckSellerRequest
		want  sellerExpect
	}{
		{"no address and no landline", func(t *testing.T, f *sellerFixture) *riskv1.CheckSellerRequest {
			req := f.company("王芳", "福州王芳贸易有限公司")
			req.Contact.Address, req.Contact.Landline = "", ""
			return req
		}, sellerExpect{outcome: sellerApprove, reasons: []string{codeThin}}},
		{"only a chat handle and a mobile", func(t *testing.T, f *sellerFixture) *riskv1.CheckSellerRequest {
			req := f.individual("王芳")
			req.Contact = &riskv1.Contact{Mobile: req.Contact.Mobile, ChatHandle: "wx_" + req.SellerId}
			return req
		}, sellerExpect{outcome: sellerApprove, reasons: []string{codeThin}}},
		{"address and landline of blanks only", func(t *testing.T, f *sellerFixture) *riskv1.CheckSellerRequest {
			req := f.individual("王芳")
			req.Contact.Address, req.Contact.Landline = "   ", " \t "
			return req
		}, sellerExpect{outcome: sellerApprove, reasons: []string{codeThin}}},
		{"disposable e-mail", func(t *testing.T, f *sellerFixture) *riskv1.CheckSellerRequest {
			req := f.company("王芳", "福州王芳贸易有限公司")
			req.Contact.Email = req.SellerId + "@mailinator.com"
			return req
		}, sellerExpect{outcome: sellerApprove, reasons: []string{codeDisposable}}},
		{"disposable e-mail at a subdomain, in capitals", func(t *testing.T, f *sellerFixture) *riskv1.CheckSellerRequest {
			req := f.individual("王芳")
			req.Contact.Email = req.SellerId + "@X.Mailinator.COM"
			return req
		}, sellerExpect{outcome: sellerApprove, reasons: []string{codeDisposable}}},
		{"payout account held by a stranger", func(t *testing.T, f *sellerFixture) *riskv1.CheckSellerRequest {
			req := f.company("王芳", "福州王芳贸易有限公司")
			req.Payout.HolderName = "赵六"
			return req
		}, sellerExpect{outcome: sellerApprove, reasons: []string{codePayout}, actions: []riskv1.Action{actRequestDocs}}},
		{"private seller paid into a stranger's account", func(t *testing.T, f *sellerFixture) *riskv1.CheckSellerRequest {
			req := f.individual("王芳")
			req.Payout.HolderName = "赵六"
			return req
		}, sellerExpect{outcome: sellerApprove, reasons: []string{codePayout}, actions: []riskv1.Action{actRequestDocs}}},
		{"thin contact and a disposable e-mail", func(t *testing.T, f *sellerFixture) *riskv1.CheckSellerRequest {
			req := f.individual("王芳")
			req.Contact.Address, req.Contact.Landline = "", ""
			req.Contact.Email = req.SellerId + "@mailinator.com"
			return req
		}, sellerExpect{outcome: sellerReview, reasons: []string{codeThin, codeDisposable}, actions: []riskv1.Action{actManualReview}}},
		{"thin contact and a stranger's payout account", func(t *testing.T, f *sellerFixture) *riskv1.CheckSellerRequest {
			req := f.company("王芳", "福州王芳贸易有限公司")
			req.Contact.Address, req.Contact.Landline = "", ""
			req.Payout.HolderName = "赵六"
			return req
		}, sellerExpect{outcome: sellerReview, reasons: []string{codeThin, codePayout}, actions: []riskv1.Action{actManualReview, actRequestDocs}}},
		{"disposable e-mail and a stranger's payout account", func(t *testing.T, f *sellerFixture) *riskv1.CheckSellerRequest {
			req := f.company("王芳", "福州王芳贸易有限公司")
			req.Contact.Email = req.SellerId + "@mailinator.com"
			req.Payout.HolderName = "赵六"
			return req
		}, sellerExpect{outcome: sellerReview, reasons: []string{codeDisposable, codePayout}, actions: []riskv1.Action{actManualReview, actRequestDocs}}},
		{"all three T3 findings", func(t *testing.T, f *sellerFixture) *riskv1.CheckSellerRequest {
			req := f.individual("王芳")
			req.Contact = &riskv1.Contact{ChatHandle: "wx_" + req.SellerId, Email: req.SellerId + "@mailinator.com"}
			req.Payout.HolderName = "赵六"
			return req
		}, sellerExpect{outcome: sellerReview, reasons: []string{codeThin, codeDisposable, codePayout}, actions: []riskv1.Action{actManualReview, actRequestDocs}}},
		{"disposable e-mail shared with a live seller", func(t *testing.T, f *sellerFixture) *riskv1.CheckSellerRequest {
			old := f.individual("李娜")
			old.Contact.Email = old.SellerId + "@mailinator.com"
			assertSellerDecision(t, old, f.decide(t, old), sellerExpect{outcome: sellerApprove, reasons: []string{codeDisposable}})
			req := f.individual("王芳")
			req.Contact.Email = old.Contact.Email
			return req
		}, sellerExpect{outcome: sellerReview, reasons: []string{codeDisposable, codeOther}, actions: []riskv1.Action{actManualReview},
			kinds: map[string][]string{codeOther: {"e-mail"}}}},
		{"thin contact and a mobile shared with a live seller", func(t *testing.T, f *sellerFixture) *riskv1.CheckSellerRequest {
			old := f.individual("李娜")
			f.decided(t, old)
			req := f.individual("王芳")
			req.Contact.Address, req.Contact.Landline = "", ""
			req.Contact.Mobile = old.Contact.Mobile
			return req
		}, sellerExpect{outcome: sellerReview, reasons: []string{codeThin, codeOther}, actions: []riskv1.Action{actManualReview},
			kinds: map[string][]string{codeOther: {"mobile"}}}},
		{"stranger's payout account shared with a live seller", func(t *testing.T, f *sellerFixture) *riskv1.CheckSellerRequest {
			old := f.individual("李娜")
			f.decided(t, old)
			req := f.individual("王芳")
			req.Payout = proto.Clone(old.Payout).(*riskv1.PayoutAccount)
			return req
		}, sellerExpect{outcome: sellerReview, reasons: []string{codePayout, codeOther}, actions: []riskv1.Action{actManualReview, actRequestDocs},
			kinds: map[string][]string{codeOther: {"payout account"}}}},
	}
	// One server for the table: a case shares an identifier only with the
	// history it builds itself.
	f := newSellerFixture(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.t = t
			req := tc.build(t, f)
			assertSellerDecision(t, req, f.decide(t, req), tc.want)
		})
	}
}

// TestCheckSellerSeed000 is the story of seed 000: a seller with fake
// companies is delisted after fraud reports and comes right back by setting
// up a new fake company, reachable on the same phone and paid into the same
// account; then with everything new but the computer it works from.
func TestCheckSellerSeed000(t *testing.T) {
	t.Parallel()
	f := newSellerFixture(t)

	first := f.company("王某", "合肥王某电子科技有限公司")
	first.Contact.Email = "sales@wang-memory.example.com"
	d := f.decide(t, first)
	assertSellerDecision(t, first, d, sellerExpect{outcome: sellerApprove})

	// Overseas buyers report orders never filled; the platform delists it.
	f.ban(t, d)

	t.Run("new company, new licence, new identity, same mobile and payout account", func(t *testing.T) {
		again := f.company("王小某", "合肥新某数码有限公司")
		again.Contact.Mobile = first.Contact.Mobile
		again.Payout.AccountNumber = first.Payout.AccountNumber
		assertSellerDecision(t, again, f.decide(t, again), sellerExpect{outcome: sellerDecline, reasons: []string{codeBanned},
			actions: []riskv1.Action{actRequestDocs},
			kinds:   map[string][]string{codeBanned: {"mobile", "payout account"}}})
	})

	t.Run("every identifier new but the device", func(t *testing.T) {
		again := f.company("李某", "合肥又某贸易有限公司")
		again.Client.DeviceId = first.Client.DeviceId
		assertSellerDecision(t, again, f.decide(t, again), sellerExpect{outcome: sellerReview, reasons: []string{codeBanned},
			actions: []riskv1.Action{actManualReview, actRequestDocs},
			kinds:   map[string][]string{codeBanned: {"device"}}})
	})
}

// The licences of the pool must all be valid, or the clean cases test
// nothing.
func TestCheckSellerLicencePoolIsValid(t *testing.T) {
	for _, u := range sellerUSCCs {
		if _, err := license.ParseUSCC(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	if got := sellerIDCheckChar("11010519491231002"); got != "X" {
		t.Errorf("idCheckChar of the GB 11643 example: %s, want X", got)
	}
}
