package license

import (
	"context"
	"errors"
	"fmt"

	"github.com/riskd/riskd/internal/verifier"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// CodeNumberInvalid is the reason code for a licence number that fails its
// structure check.
const CodeNumberInvalid = "LICENSE_NUMBER_INVALID"

// scoreInvalid counts on its own under a policy without a declining rule.
const scoreInvalid = 60

// Verifier checks the structure of a seller's Unified Social Credit Code.
// Whether the registry knows the licence is another verifier's business.
type Verifier struct{}

var _ verifier.Verifier = Verifier{}

// Verify checks the licence of a CheckSellerRequest, if it has one.
func (Verifier) Verify(_ context.Context, in verifier.Input) (verifier.Result, error) {
	req, ok := in.Request.(*riskv1.CheckSellerRequest)
	if !ok {
		return verifier.Result{}, fmt.Errorf("license verifier applies to seller checks, not %s", in.Check)
	}
	if req.GetLicense() == nil {
		return verifier.Result{Signals: map[string]any{"license.present": false}}, nil
	}
	code, err := ParseUSCC(req.GetLicense().GetUscc())
	if err != nil {
		check := err.Error()
		var ce *CodeError
		if errors.As(err, &ce) {
			check = ce.Field + ": " + ce.Err.Error()
		}
		return verifier.Result{
			Signals: map[string]any{"license.present": true, "license.valid": false},
			Findings: []verifier.Finding{{Code: CodeNumberInvalid, Score: scoreInvalid,
				Message:  fmt.Sprintf("The Unified Social Credit Code fails its structure check (%s).", check),
				Messages: verifier.ZH("统一社会信用代码未通过格式校验。")}},
		}, nil
	}
	// A company's registering region and type are public facts, not
	// personal data. An embedded organisation code that fails its own
	// check is common on genuine codes (ParseUSCC), so it is a signal for
	// the policy to weigh, not a finding of this verifier.
	return verifier.Result{Signals: map[string]any{
		"license.present":               true,
		"license.valid":                 true,
		"license.org_type":              code.OrgTypeLabel,
		"license.region":                code.Region,
		"license.org_code_check_failed": !code.OrgCodeValid,
	}}, nil
}
