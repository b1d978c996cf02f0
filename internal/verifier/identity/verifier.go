package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/riskd/riskd/internal/verifier"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// Reason codes this verifier finds.
const (
	CodeNumberInvalid = "ID_NUMBER_INVALID"
	CodeUnderage      = "ID_HOLDER_UNDERAGE"
	CodeExpired       = "ID_DOCUMENT_EXPIRED"
)

// Scores of the findings. The default policy declines an invalid number or
// an under-age holder by rule; the scores make the finding count on its own
// under a policy that does not.
const (
	scoreInvalid  = 60
	scoreUnderage = 60
	scoreExpired  = 40
)

// Verifier checks the structure of a seller's identity document: a resident
// identity number (checksum, region, birth date) or a passport's MRZ (ICAO
// check digits). It answers from the document alone, so it never fails.
type Verifier struct{}

var _ verifier.Verifier = Verifier{}

// Verify checks the identity document of a CheckSellerRequest.
func (Verifier) Verify(_ context.Context, in verifier.Input) (verifier.Result, error) {
	req, ok := in.Request.(*riskv1.CheckSellerRequest)
	if !ok {
		return verifier.Result{}, fmt.Errorf("identity verifier applies to seller checks, not %s", in.Check)
	}
	doc := req.GetIdentity()
	switch doc.GetType() {
	case riskv1.IdentityDocumentType_IDENTITY_DOCUMENT_TYPE_RESIDENT_ID:
		id, err := ParseResidentID(doc.GetNumber(), in.Now)
		if err != nil {
			return invalid("resident identity number", err), nil
		}
		// identity.residence_permit is "HK", "MO" or "TW" for a residence
		// permit of a Hong Kong, Macao or Taiwan resident (a genuine
		// document, which a policy may want to treat on its own terms) and
		// "" for a resident identity card.
		res := verifier.Result{Signals: map[string]any{
			"identity.valid":            true,
			"identity.age":              int64(id.Age(in.Now)),
			"identity.province":         id.Region[:2],
			"identity.region_current":   id.RegionCurrent,
			"identity.residence_permit": id.Permit,
		}}
		if id.Underage(in.Now) {
			res.Findings = append(res.Findings, underage())
		}
		return res, nil
	case riskv1.IdentityDocumentType_IDENTITY_DOCUMENT_TYPE_PASSPORT:
		p, err := ParseMRZText(doc.GetMrz(), in.Now)
		if err != nil {
			return invalid("passport machine-readable zone", err), nil
		}
		if n := normaliseDocNumber(doc.GetNumber()); n != "" && n != p.Number {
			return invalid("passport number", errors.New("does not match the machine-readable zone")), nil
		}
		res := verifier.Result{Signals: map[string]any{
			"identity.valid":       true,
			"identity.age":         int64(p.Age(in.Now)),
			"identity.nationality": p.Nationality,
			"identity.expired":     p.Expired(in.Now),
		}}
		if p.Age(in.Now) < 18 {
			res.Findings = append(res.Findings, underage())
		}
		if p.Expired(in.Now) {
			res.Findings = append(res.Findings, verifier.Finding{Code: CodeExpired, Score: scoreExpired,
				Message: "The passport has expired.", Messages: verifier.ZH("护照已过期。")})
		}
		return res, nil
	default:
		return verifier.Result{}, fmt.Errorf("identity document type %s is not supported", doc.GetType())
	}
}

// invalid reports a document that fails its structure check. The error
// names the check, never the number, so it is safe in a reason sentence.
func invalid(what string, err error) verifier.Result {
	check := err.Error()
	var de *DocumentError
	if errors.As(err, &de) {
		check = de.Field + ": " + de.Err.Error()
		if de.Detail != "" {
			check += ", " + de.Detail
		}
	}
	return verifier.Result{
		Signals: map[string]any{"identity.valid": false},
		Findings: []verifier.Finding{{Code: CodeNumberInvalid, Score: scoreInvalid,
			Message: fmt.Sprintf("The %s fails its structure check (%s).", what, check), Messages: verifier.ZH("身份证件号码未通过格式校验。")}},
	}
}

func underage() verifier.Finding {
	return verifier.Finding{Code: CodeUnderage, Score: scoreUnderage, Message: "The identity holder is younger than 18.", Messages: verifier.ZH("证件持有人未满18周岁。")}
}

// normaliseDocNumber makes a printed passport number comparable with the MRZ's.
func normaliseDocNumber(s string) string {
	return strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))
}
