package server_test

// Identity and licence documents through the real gRPC server and the
// default policy (issue 16, items 1-3): genuine numbers with historical or
// unusual region codes pass, residence permits of Hong Kong, Macao and
// Taiwan residents pass and say so, a licence whose embedded organisation
// code fails its own check is not declined, and a number typed in lower
// case, full width or in groups is the same number: accepted, and hashed
// (so linked) as its canonical form.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/pseudonym"
	"github.com/riskd/riskd/internal/store"
	"github.com/riskd/riskd/internal/verifier/identity"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// docID is a resident identity number with a real address code, a birth
// date and a sequence, completed with the identity package's own check
// character.
func docID(t *testing.T, code string, birth time.Time, seq int) string {
	t.Helper()
	body := code + birth.Format("20060102") + fmt.Sprintf("%03d", seq%1000)
	c, ok := identity.CheckCharacter(body)
	if !ok {
		t.Fatalf("docID: %q is not 17 digits", body)
	}
	return body + string(c)
}

// docIDEndingInX is docID with the first sequence from seq whose check
// character is X, for lower-case x cases.
func docIDEndingInX(t *testing.T, code string, birth time.Time, seq int) string {
	t.Helper()
	for i := range 1000 {
		if id := docID(t, code, birth, seq+i); strings.HasSuffix(id, "X") {
			return id
		}
	}
	t.Fatal("no sequence gives an X")
	return ""
}

// docUSCC completes a Unified Social Credit Code from an 8-character prefix
// (department, type, region), an 8-character organisation-code body and an
// organisation-code check character, with its GB 32100 MOD 31 check.
func docUSCC(prefix8, org8 string, orgCheck byte) string {
	const alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
	s := prefix8 + org8 + string(orgCheck)
	sum, w := 0, 1
	for i := range 17 {
		sum += strings.IndexByte(alphabet, s[i]) * w
		w = w * 3 % 31
	}
	return s + string(alphabet[(31-sum%31)%31])
}

// docOrgCheck is the GB 11714 check character of an organisation-code body.
func docOrgCheck(body8 string) byte {
	weights := [8]int{3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := range 8 {
		c := body8[i]
		v := int(c - '0')
		if c >= 'A' {
			v = int(c-'A') + 10
		}
		sum += v * weights[i]
	}
	switch r := 11 - sum%11; r {
	case 10:
		return 'X'
	case 11:
		return '0'
	default:
		return byte('0' + r)
	}
}

// docSignal returns the decision's signal of that name.
func docSignal(t *testing.T, d *riskv1.Decision, name string) *riskv1.Signal {
	t.Helper()
	for _, s := range d.GetSignals() {
		if s.GetName() == name {
			return s
		}
	}
	t.Fatalf("decision has no signal %s", name)
	return nil
}

// docFullWidth writes ASCII digits, letters and '-' in their full-width forms.
func docFullWidth(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '!' && r <= '~' {
			return r - '!' + '！'
		}
		return r
	}, s)
}

var docBirth = time.Date(1986, time.March, 2, 0, 0, 0, 0, time.UTC)

func TestDocumentsGenuineRegionCodesPass(t *testing.T) {
	t.Parallel()
	f := newSellerFixture(t)
	cases := []struct {
		name, code string
		current    bool
	}{
		{"historical 市辖区 of 深圳市", "440301", true},
		{"historical 市辖区 of 重庆市 while in Sichuan (1983-1996)", "510201", false},
		{"historical 市辖区 of 杭州市", "330101", true},
		{"东莞市, a city without counties", "441900", true},
		{"中山市, a city without counties", "442000", true},
		{"嘉峪关市, a city without counties", "620200", true},
		{"儋州市, a city without counties", "460400", true},
		{"三亚市, without districts until 2014", "460200", true},
		{"霸州市, 1990-1994 in the Ministry's list only", "139002", false},
		{"燕山区, 1981-1985", "110110", false},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.t = t
			req := f.individual("陈晓")
			req.Identity.Number = docID(t, tc.code, docBirth, 100+i)
			d := f.decide(t, req)
			assertSellerDecision(t, req, d, sellerExpect{outcome: sellerApprove})
			if s := docSignal(t, d, "identity.region_current"); s.GetBoolValue() != tc.current {
				t.Errorf("identity.region_current = %v, want %v", s.GetBoolValue(), tc.current)
			}
			if s := docSignal(t, d, "identity.residence_permit"); s.GetStringValue() != "" {
				t.Errorf("identity.residence_permit = %q on a resident identity card", s.GetStringValue())
			}
		})
	}
}

func TestDocumentsProvinceAndPrefectureCodesRefused(t *testing.T) {
	t.Parallel()
	f := newSellerFixture(t)
	for i, code := range []string{"440000", "110000", "710000", "440300", "330100"} {
		t.Run(code, func(t *testing.T) {
			f.t = t
			req := f.individual("陈晓")
			req.Identity.Number = docID(t, code, docBirth, 200+i)
			assertSellerDecision(t, req, f.decide(t, req), sellerExpect{
				outcome: sellerDecline, reasons: []string{codeIDInvalid}, actions: []riskv1.Action{actRequestDocs},
			})
		})
	}
}

func TestDocumentsResidencePermitsPass(t *testing.T) {
	t.Parallel()
	f := newSellerFixture(t)
	for i, tc := range []struct{ code, permit string }{
		{"810000", "HK"}, {"820000", "MO"}, {"830000", "TW"},
	} {
		t.Run(tc.permit, func(t *testing.T) {
			f.t = t
			req := f.individual("陳大文")
			req.Identity.Number = docID(t, tc.code, docBirth, 300+i)
			d := f.decide(t, req)
			assertSellerDecision(t, req, d, sellerExpect{outcome: sellerApprove})
			if s := docSignal(t, d, "identity.residence_permit"); s.GetStringValue() != tc.permit {
				t.Errorf("identity.residence_permit = %q, want %q", s.GetStringValue(), tc.permit)
			}
			if s := docSignal(t, d, "identity.valid"); !s.GetBoolValue() {
				t.Error("identity.valid is false")
			}
		})
	}
}

func TestDocumentsLicenceOrgCodeCheck(t *testing.T) {
	t.Parallel()
	f := newSellerFixture(t)
	good := docOrgCheck("L1234567")
	bad := byte('0')
	if good == '0' {
		bad = '1'
	}
	cases := []struct {
		name, uscc string
		want       sellerExpect
		orgFails   bool
	}{
		{"individual business, organisation code fails its check", docUSCC("92330106", "L1234567", bad),
			sellerExpect{outcome: sellerApprove}, true},
		{"enterprise, organisation code fails its check", docUSCC("91440300", "MA5ABCDE", docOrgCheck("MA5ABCDE")^1),
			sellerExpect{outcome: sellerApprove}, true},
		{"individual business, organisation code checks", docUSCC("92330106", "L1234568", docOrgCheck("L1234568")),
			sellerExpect{outcome: sellerApprove}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.t = t
			req := f.individual("周敏")
			req.License = &riskv1.BusinessLicense{Uscc: tc.uscc, CompanyName: "杭州周敏服装店", LegalRepresentative: "周敏"}
			req.Payout.HolderName = "周敏"
			d := f.decide(t, req)
			assertSellerDecision(t, req, d, tc.want)
			if s := docSignal(t, d, "license.valid"); !s.GetBoolValue() {
				t.Error("license.valid is false")
			}
			if s := docSignal(t, d, "license.org_code_check_failed"); s.GetBoolValue() != tc.orgFails {
				t.Errorf("license.org_code_check_failed = %v, want %v", s.GetBoolValue(), tc.orgFails)
			}
		})
	}
	t.Run("the code's own MOD 31 check still declines", func(t *testing.T) {
		f.t = t
		uscc := docUSCC("92330106", "L1234569", bad)
		last := "0"
		if uscc[17] == '0' {
			last = "1"
		}
		req := f.individual("周敏")
		req.License = &riskv1.BusinessLicense{Uscc: uscc[:17] + last, CompanyName: "杭州周敏服装店", LegalRepresentative: "周敏"}
		req.Payout.HolderName = "周敏"
		assertSellerDecision(t, req, f.decide(t, req), sellerExpect{
			outcome: sellerDecline, reasons: []string{codeLicenseInvalid}, actions: []riskv1.Action{actRequestDocs},
		})
	})
}

// TestDocumentsNormalisedAndHashedAsCanonical: a number typed in lower case,
// full width, or grouped with spaces and hyphens is accepted, and is the same
// identifier as its canonical form: the second seller links to the first,
// whichever of the two was typed canonically.
func TestDocumentsNormalisedAndHashedAsCanonical(t *testing.T) {
	t.Parallel()
	id := docIDEndingInX(t, "440301", docBirth, 400)
	grouped := func(s string, sep string) string { return s[:6] + sep + s[6:14] + sep + s[14:] }
	idSpellings := []string{
		strings.ToLower(id),
		docFullWidth(strings.ToLower(id)),
		grouped(id, " "),
		grouped(strings.ToLower(id), "-"),
		"\u3000" + docFullWidth(grouped(id, "-")) + " ",
	}
	const uscc = "91350100M000100Y43"
	usccSpellings := []string{
		strings.ToLower(uscc),
		docFullWidth(uscc),
		docFullWidth(strings.ToLower(uscc)),
		"9135-0100-M000-100Y-43",
		" 91350100 m000100y43\t",
	}

	keys, err := pseudonym.New(make([]byte, pseudonym.MinKeyBytes))
	if err != nil {
		t.Fatal(err)
	}
	for kind, spellings := range map[store.Kind][]string{store.KindIDNumber: idSpellings, store.KindLicense: usccSpellings} {
		canonical := map[store.Kind]string{store.KindIDNumber: id, store.KindLicense: uscc}[kind]
		want, _ := keys.Identifier(kind, canonical)
		for _, s := range spellings {
			if got, ok := keys.Identifier(kind, s); !ok || got != want {
				t.Errorf("%v %+q hashes differently from its canonical form", kind, s)
			}
		}
	}

	linked := func(kind string) sellerExpect {
		return sellerExpect{outcome: sellerReview, reasons: []string{codeOther}, actions: []riskv1.Action{actManualReview},
			kinds: map[string][]string{codeOther: {kind}}}
	}
	for i, s := range idSpellings {
		t.Run("identity number "+fmt.Sprintf("%+q", s), func(t *testing.T) {
			f := newSellerFixture(t)
			first, second := f.individual("林芳"), f.individual("林芳")
			first.Identity.Number, second.Identity.Number = id, s
			if i%2 == 1 { // the typed spelling first, the canonical one second
				first.Identity.Number, second.Identity.Number = s, id
			}
			assertSellerDecision(t, first, f.decide(t, first), sellerExpect{outcome: sellerApprove})
			assertSellerDecision(t, second, f.decide(t, second), linked("identity number"))
		})
	}
	for i, s := range usccSpellings {
		t.Run("licence "+fmt.Sprintf("%+q", s), func(t *testing.T) {
			f := newSellerFixture(t)
			first, second := f.company("林芳", "福州林芳贸易有限公司"), f.company("林芳", "福州林芳贸易有限公司")
			first.License.Uscc, second.License.Uscc = uscc, s
			if i%2 == 1 {
				first.License.Uscc, second.License.Uscc = s, uscc
			}
			// The second seller has an identity number of its own, so the
			// licence is the only thing the two share.
			second.Identity.Number = docID(t, "440301", docBirth, 500+i)
			assertSellerDecision(t, first, f.decide(t, first), sellerExpect{outcome: sellerApprove})
			assertSellerDecision(t, second, f.decide(t, second), linked("licence number"))
		})
	}
}
