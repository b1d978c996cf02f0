// Package contact checks how a seller can be reached and paid (T3 of
// docs/fraud-patterns.md): a throwaway e-mail domain, and a payout account held by
// neither the company nor its legal representative. It also checks that
// the identity holder is the licence's legal representative (T1).
package contact

import (
	"bufio"
	"bytes"
	"context"
	_ "embed" // the disposable-domain list is compiled in
	"fmt"
	"slices"
	"strings"

	"github.com/riskd/riskd/internal/names"
	"github.com/riskd/riskd/internal/verifier"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"golang.org/x/text/unicode/norm"
)

// Reason codes this verifier finds.
const (
	CodeEmailDisposable    = "EMAIL_DISPOSABLE"
	CodePayoutNameMismatch = "PAYOUT_NAME_MISMATCH"
	// CodeHolderNotLegalRep is riskd's own code: the identity shown is not
	// the legal representative's on the licence.
	CodeHolderNotLegalRep = "ID_HOLDER_NOT_LEGAL_REP"
)

// Each adds score; the policy's thresholds make two of them, or one with
// any other finding, a REVIEW.
const (
	scoreDisposable = 20
	scorePayout     = 20
	scoreNotRep     = 25
)

//go:embed data/disposable_domains.txt
var disposableList []byte

// Verifier is the contact verifier. Build it with New.
type Verifier struct {
	disposable []string // sorted
}

var _ verifier.Verifier = (*Verifier)(nil)

// New loads the embedded domain list.
func New() *Verifier {
	v := &Verifier{}
	sc := bufio.NewScanner(bytes.NewReader(disposableList))
	for sc.Scan() {
		if d := strings.TrimSpace(sc.Text()); d != "" {
			v.disposable = append(v.disposable, d)
		}
	}
	slices.Sort(v.disposable) // the file is sorted; this keeps a hand edit safe
	return v
}

// Disposable reports whether an e-mail address's domain, or a domain it
// sits under (mx.mailinator.com), is a throwaway one.
func (v *Verifier) Disposable(email string) bool {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return false
	}
	domain := strings.TrimSuffix(strings.ToLower(norm.NFKC.String(strings.TrimSpace(email[at+1:]))), ".")
	for domain != "" {
		if _, ok := slices.BinarySearch(v.disposable, domain); ok {
			return true
		}
		dot := strings.IndexByte(domain, '.')
		if dot < 0 {
			break
		}
		domain = domain[dot+1:]
	}
	return false
}

// Verify checks a CheckSellerRequest's contact and payout details.
func (v *Verifier) Verify(_ context.Context, in verifier.Input) (verifier.Result, error) {
	req, ok := in.Request.(*riskv1.CheckSellerRequest)
	if !ok {
		return verifier.Result{}, fmt.Errorf("contact verifier applies to seller checks, not %s", in.Check)
	}
	res := verifier.Result{Signals: map[string]any{}}
	disposable := req.GetContact().GetEmail() != "" && v.Disposable(req.GetContact().GetEmail())
	res.Signals["contact.email_disposable"] = disposable
	if disposable {
		res.Findings = append(res.Findings, verifier.Finding{Code: CodeEmailDisposable, Score: scoreDisposable,
			Message: "The seller's e-mail address is at a throwaway e-mail service.", Messages: verifier.ZH("商家的邮箱属于一次性邮箱服务。")})
	}
	lic, id := req.GetLicense(), req.GetIdentity()
	if p := req.GetPayout(); p != nil {
		// The payout account must be the company's or its legal
		// representative's (not whichever employee applied); a private
		// seller's must be the seller's own.
		owners := []string{id.GetFullName()}
		if lic != nil {
			owners = []string{lic.GetCompanyName(), lic.GetLegalRepresentative()}
		}
		match := slices.ContainsFunc(owners, func(o string) bool { return names.Same(o, p.GetHolderName()) })
		res.Signals["contact.payout_holder_matches"] = match
		if !match {
			res.Findings = append(res.Findings, verifier.Finding{Code: CodePayoutNameMismatch, Score: scorePayout,
				Message: "The payout account holder is neither the company nor its legal representative.", Messages: verifier.ZH("收款账户户名既不是公司也不是其法定代表人。")})
		}
	}
	if lic != nil {
		same := names.Same(id.GetFullName(), lic.GetLegalRepresentative())
		res.Signals["contact.holder_is_legal_rep"] = same
		if !same {
			res.Findings = append(res.Findings, verifier.Finding{Code: CodeHolderNotLegalRep, Score: scoreNotRep,
				Message: "The identity shown is not that of the licence's legal representative.", Messages: verifier.ZH("提交的身份证件不属于营业执照上的法定代表人。")})
		}
	}
	return res, nil
}
