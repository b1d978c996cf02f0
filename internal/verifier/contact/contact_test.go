package contact

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/verifier"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"golang.org/x/text/unicode/norm"
	"google.golang.org/protobuf/proto"
)

func TestNewLoadsTheList(t *testing.T) {
	v := New()
	if n := len(v.disposable); n <= 100000 {
		t.Fatalf("New loaded %d domains, want more than 100000", n)
	}
	if !slices.IsSorted(v.disposable) {
		t.Error("the domain list is not sorted; binary search would miss entries")
	}
	for _, d := range v.disposable {
		if d == "" || d != normalDomain(d) {
			t.Fatalf("list entry %q is not in the form Disposable looks up", d)
		}
	}
}

// normalDomain is the form Disposable looks a domain up in.
func normalDomain(d string) string {
	return strings.TrimSuffix(strings.ToLower(norm.NFKC.String(strings.TrimSpace(d))), ".")
}

func TestDisposable(t *testing.T) {
	v := New()
	// The list itself decides some cases below; check it holds what they
	// assume, so that a changed list fails here and not obscurely.
	for d, listed := range map[string]bool{
		"mailinator.com":               true,
		"yopmail.com":                  true,
		"notmailinator.com":            true,
		"tmailinator.com":              true,
		"xmailinator.com":              false,
		"fakeyopmail.com":              false,
		"example.com":                  false,
		"example.org":                  false,
		"mailinator.com.example.org":   false,
		"com":                          false,
		"org":                          false,
		"thepiratébay.org":             true,
		"xn--thepiratbay-ibb.org":      true,
		"mailinatorcom":                false,
		"mail.example.com":             false,
		"b.mailinator.com":             false,
		"a.b.mailinator.com":           false,
		"mailinator.com.":              false,
		"mailinator.com.mailinator.zz": false,
	} {
		if _, ok := slices.BinarySearch(v.disposable, d); ok != listed {
			t.Fatalf("list holds %q: %v, the test assumes %v", d, ok, listed)
		}
	}

	tests := []struct {
		name  string
		email string
		want  bool
	}{
		{"listed domain", "someone@mailinator.com", true},
		{"another listed domain", "someone@yopmail.com", true},
		{"subdomain", "someone@b.mailinator.com", true},
		{"deeper subdomain", "someone@a.b.mailinator.com", true},
		{"upper case", "Someone@MAILINATOR.COM", true},
		{"mixed case", "someone@YopMail.Com", true},
		{"trailing dot", "someone@mailinator.com.", true},
		{"trailing dot and upper case", "someone@A.Mailinator.COM.", true},
		{"spaces around the domain", "someone@ mailinator.com ", true},
		{"full-width domain", "someone@ｍａｉｌｉｎａｔｏｒ．ｃｏｍ", true},
		{"full-width letters only", "someone@ｙｏｐｍａｉｌ.com", true},
		{"internationalised domain", "someone@thepiratébay.org", true},
		{"internationalised domain, decomposed", "someone@thepirate\u0301bay.org", true},
		{"internationalised domain as punycode", "someone@xn--thepiratbay-ibb.org", true},
		{"last @ decides", "someone@example.com@mailinator.com", true},

		{"not listed", "someone@example.com", false},
		{"subdomain of a non-listed domain", "someone@mail.example.com", false},
		{"ends with a listed name but is another domain", "someone@xmailinator.com", false},
		{"ends with yopmail.com but is another domain", "someone@fakeyopmail.com", false},
		{"itself listed although it ends with a listed name", "someone@notmailinator.com", true},
		{"listed name as a leading label", "someone@mailinator.com.example.org", false},
		{"listed name inside the local part", "mailinator.com@example.com", false},
		{"listed domain without its dot", "someone@mailinatorcom", false},
		{"top-level domain alone", "someone@com", false},

		{"no @", "mailinator.com", false},
		{"no @, with subdomain", "a.b.mailinator.com", false},
		{"empty", "", false},
		{"only @", "@", false},
		{"nothing after @", "someone@", false},
		{"only a dot after @", "someone@.", false},
		{"invalid UTF-8 domain", "someone@\xff\xfe", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := v.Disposable(tt.email); got != tt.want {
				t.Errorf("Disposable(%q) = %v, want %v", tt.email, got, tt.want)
			}
		})
	}
}

func BenchmarkDisposable(b *testing.B) {
	v := New()
	emails := []string{
		"someone@example.com",
		"someone@a.b.mailinator.com",
		"Someone@YOPMAIL.COM.",
		"someone@ｍａｉｌｉｎａｔｏｒ．ｃｏｍ",
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		v.Disposable(emails[i%len(emails)])
	}
}

// Names used in the seller requests below.
const (
	company  = "福州某某贸易有限公司"
	legalRep = "张三"
	stranger = "李四"
)

// seller is a company seller whose identity holder is the legal
// representative and whose payout account is the company's.
func seller() *riskv1.CheckSellerRequest {
	return &riskv1.CheckSellerRequest{
		RequestId: "req-1",
		SellerId:  "S-1",
		Client:    &riskv1.Client{DeviceId: "dev-1"},
		Identity: &riskv1.IdentityDocument{
			Type:     riskv1.IdentityDocumentType_IDENTITY_DOCUMENT_TYPE_RESIDENT_ID,
			Number:   "11010519491231002X",
			FullName: legalRep,
		},
		License: &riskv1.BusinessLicense{Uscc: "91350100M000100Y43", CompanyName: company, LegalRepresentative: legalRep},
		Contact: &riskv1.Contact{Mobile: "13800138000", Email: "zhang.san@example.com"},
		Payout:  &riskv1.PayoutAccount{AccountNumber: "6222020200001234567", HolderName: company},
	}
}

// private is a private seller: no licence, paid to their own account.
func private(name, holder string) *riskv1.CheckSellerRequest {
	r := seller()
	r.License = nil
	r.Identity.FullName = name
	r.Payout.HolderName = holder
	return r
}

func TestVerify(t *testing.T) {
	tests := []struct {
		name string
		req  func() *riskv1.CheckSellerRequest
		// codes are the findings expected, in order.
		codes []string
		// signals are the signals expected; absent ones must be missing.
		signals map[string]any
	}{
		{
			name:  "payout to the company",
			req:   seller,
			codes: nil,
			signals: map[string]any{
				"contact.email_disposable": false, "contact.payout_holder_matches": true, "contact.holder_is_legal_rep": true,
			},
		},
		{
			name: "payout to the company, typed with spaces and full-width",
			req: func() *riskv1.CheckSellerRequest {
				r := seller()
				r.Payout.HolderName = "福州 某某 贸易 有限公司"
				return r
			},
			signals: map[string]any{
				"contact.email_disposable": false, "contact.payout_holder_matches": true, "contact.holder_is_legal_rep": true,
			},
		},
		{
			name: "payout to the legal representative",
			req: func() *riskv1.CheckSellerRequest {
				r := seller()
				r.Payout.HolderName = "张 三"
				return r
			},
			signals: map[string]any{
				"contact.email_disposable": false, "contact.payout_holder_matches": true, "contact.holder_is_legal_rep": true,
			},
		},
		{
			name: "private seller paid to their own account",
			req:  func() *riskv1.CheckSellerRequest { return private("Chen Wei", "WEI CHEN") },
			signals: map[string]any{
				"contact.email_disposable": false, "contact.payout_holder_matches": true,
			},
		},
		{
			name:  "payout to a stranger",
			req:   func() *riskv1.CheckSellerRequest { r := seller(); r.Payout.HolderName = stranger; return r },
			codes: []string{CodePayoutNameMismatch},
			signals: map[string]any{
				"contact.email_disposable": false, "contact.payout_holder_matches": false, "contact.holder_is_legal_rep": true,
			},
		},
		{
			name:  "private seller paid to a stranger",
			req:   func() *riskv1.CheckSellerRequest { return private("Chen Wei", "Chen Wen") },
			codes: []string{CodePayoutNameMismatch},
			signals: map[string]any{
				"contact.email_disposable": false, "contact.payout_holder_matches": false,
			},
		},
		{
			name:  "identity holder is not the legal representative",
			req:   func() *riskv1.CheckSellerRequest { r := seller(); r.Identity.FullName = stranger; return r },
			codes: []string{CodeHolderNotLegalRep},
			signals: map[string]any{
				"contact.email_disposable": false, "contact.payout_holder_matches": true, "contact.holder_is_legal_rep": false,
			},
		},
		{
			name: "payout to the legal representative, who is not the identity holder",
			req: func() *riskv1.CheckSellerRequest {
				r := seller()
				r.Identity.FullName = stranger
				r.Payout.HolderName = legalRep
				return r
			},
			codes: []string{CodeHolderNotLegalRep},
			signals: map[string]any{
				"contact.email_disposable": false, "contact.payout_holder_matches": true, "contact.holder_is_legal_rep": false,
			},
		},
		{
			// Someone else's licence, their own ID and their own account:
			// the account is neither the company's nor the legal
			// representative's, whoever the identity belongs to.
			name: "identity holder is not the legal representative and is paid",
			req: func() *riskv1.CheckSellerRequest {
				r := seller()
				r.Identity.FullName = stranger
				r.Payout.HolderName = stranger
				return r
			},
			codes: []string{CodePayoutNameMismatch, CodeHolderNotLegalRep},
			signals: map[string]any{
				"contact.email_disposable": false, "contact.payout_holder_matches": false, "contact.holder_is_legal_rep": false,
			},
		},
		{
			name:  "no licence, no legal representative finding",
			req:   func() *riskv1.CheckSellerRequest { return private(stranger, stranger) },
			codes: nil,
			signals: map[string]any{
				"contact.email_disposable": false, "contact.payout_holder_matches": true,
			},
		},
		{
			name: "no payout account",
			req:  func() *riskv1.CheckSellerRequest { r := seller(); r.Payout = nil; return r },
			signals: map[string]any{
				"contact.email_disposable": false, "contact.holder_is_legal_rep": true,
			},
		},
		{
			name: "throwaway e-mail",
			req: func() *riskv1.CheckSellerRequest {
				r := seller()
				r.Contact.Email = "zhangsan@a.mailinator.com"
				return r
			},
			codes: []string{CodeEmailDisposable},
			signals: map[string]any{
				"contact.email_disposable": true, "contact.payout_holder_matches": true, "contact.holder_is_legal_rep": true,
			},
		},
		{
			name: "no e-mail",
			req:  func() *riskv1.CheckSellerRequest { r := seller(); r.Contact.Email = ""; return r },
			signals: map[string]any{
				"contact.email_disposable": false, "contact.payout_holder_matches": true, "contact.holder_is_legal_rep": true,
			},
		},
		{
			name: "everything wrong",
			req: func() *riskv1.CheckSellerRequest {
				r := seller()
				r.Contact.Email = "x@yopmail.com"
				r.Identity.FullName = "王五"
				r.Payout.HolderName = stranger
				return r
			},
			codes: []string{CodeEmailDisposable, CodePayoutNameMismatch, CodeHolderNotLegalRep},
			signals: map[string]any{
				"contact.email_disposable": true, "contact.payout_holder_matches": false, "contact.holder_is_legal_rep": false,
			},
		},
	}
	allSignals := []string{"contact.email_disposable", "contact.payout_holder_matches", "contact.holder_is_legal_rep"}
	wantScore := map[string]int{CodeEmailDisposable: 20, CodePayoutNameMismatch: 20, CodeHolderNotLegalRep: 25}
	v := New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req()
			before := proto.Clone(req)
			res, err := v.Verify(context.Background(), verifier.Input{
				Check: riskv1.Check_CHECK_SELLER, DecisionID: "d-1", Request: req, Now: time.Now(),
			})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !proto.Equal(req, before) {
				t.Error("Verify modified the request")
			}
			var codes []string
			for _, f := range res.Findings {
				codes = append(codes, f.Code)
				if want, ok := wantScore[f.Code]; !ok || f.Score != want {
					t.Errorf("finding %s has score %d, want %d", f.Code, f.Score, want)
				}
				if f.Message == "" {
					t.Errorf("finding %s has no message", f.Code)
				}
				for _, raw := range []string{req.GetPayout().GetHolderName(), req.GetIdentity().GetFullName(), req.GetContact().GetEmail()} {
					if raw != "" && strings.Contains(f.Message, raw) {
						t.Errorf("finding %s message %q holds personal data %q", f.Code, f.Message, raw)
					}
				}
			}
			if !slices.Equal(codes, tt.codes) {
				t.Errorf("findings %v, want %v", codes, tt.codes)
			}
			for _, name := range allSignals {
				got, ok := res.Signals[name]
				want, wantOK := tt.signals[name]
				switch {
				case ok != wantOK:
					t.Errorf("signal %s present %v, want %v", name, ok, wantOK)
				case !ok:
				default:
					if _, isBool := got.(bool); !isBool {
						t.Errorf("signal %s is %T, want bool", name, got)
					} else if got != want {
						t.Errorf("signal %s = %v, want %v", name, got, want)
					}
				}
			}
			for name, val := range res.Signals {
				if !slices.Contains(allSignals, name) {
					t.Errorf("unexpected signal %s = %v", name, val)
				}
			}
		})
	}
}

func TestVerifyWrongRequest(t *testing.T) {
	v := New()
	for _, in := range []verifier.Input{
		{Check: riskv1.Check_CHECK_REFUND, Request: &riskv1.EvaluateRefundRequest{RequestId: "r"}},
		{Check: riskv1.Check_CHECK_GIFT_CARD_PURCHASE, Request: &riskv1.ScoreGiftCardPurchaseRequest{RequestId: "r"}},
		{Check: riskv1.Check_CHECK_SELLER, Request: nil},
	} {
		if _, err := v.Verify(context.Background(), in); err == nil {
			t.Errorf("Verify(%T) succeeded, want an error", in.Request)
		}
	}
}
