package license

import (
	"context"
	"testing"

	"github.com/riskd/riskd/internal/verifier"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

func TestVerifierSignals(t *testing.T) {
	tests := []struct {
		name         string
		uscc         string
		valid        bool
		orgCodeFails bool
		finding      string
	}{
		{"organisation code checks", "91350100M000100Y43", true, false, ""},
		{"organisation code fails its check", withBadOrgCheck("92330106", "L1234567"), true, true, ""},
		{"lower case and full width", "９１３５０１００ｍ０００１００ｙ４３", true, false, ""},
		{"MOD 31 check wrong", "91350100M000100Y44", false, false, CodeNumberInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Verifier{}.Verify(context.Background(), verifier.Input{
				Check:   riskv1.Check_CHECK_SELLER,
				Request: &riskv1.CheckSellerRequest{License: &riskv1.BusinessLicense{Uscc: tt.uscc}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Signals["license.valid"] != tt.valid {
				t.Errorf("license.valid = %v, want %v", res.Signals["license.valid"], tt.valid)
			}
			if got, ok := res.Signals["license.org_code_check_failed"]; tt.valid && got != tt.orgCodeFails || !tt.valid && ok {
				t.Errorf("license.org_code_check_failed = %v (present %v), want %v", got, ok, tt.orgCodeFails)
			}
			var codes []string
			for _, f := range res.Findings {
				codes = append(codes, f.Code)
			}
			if (tt.finding == "" && len(codes) != 0) || (tt.finding != "" && (len(codes) != 1 || codes[0] != tt.finding)) {
				t.Errorf("findings %v, want %q", codes, tt.finding)
			}
		})
	}
}
