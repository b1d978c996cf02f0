package identity

import (
	"context"
	"testing"

	"github.com/riskd/riskd/internal/verifier"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

func TestVerifierResidentIDSignals(t *testing.T) {
	tests := []struct {
		name, number string
		valid        bool
		permit       string
		province     string
	}{
		{"mainland card", "11010519491231002X", true, "", "11"},
		{"historical 市辖区 code", withCheck("44030119800101001"), true, "", "44"},
		{"Hong Kong resident's permit", withCheck("81000019900101004"), true, "HK", "81"},
		{"Macao resident's permit", withCheck("82000019900101005"), true, "MO", "82"},
		{"Taiwan resident's permit", withCheck("83000019900101003"), true, "TW", "83"},
		{"bare province code", withCheck("44000019800101001"), false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Verifier{}.Verify(context.Background(), verifier.Input{
				Check: riskv1.Check_CHECK_SELLER, Now: refNow,
				Request: &riskv1.CheckSellerRequest{Identity: &riskv1.IdentityDocument{
					Type: riskv1.IdentityDocumentType_IDENTITY_DOCUMENT_TYPE_RESIDENT_ID, Number: tt.number,
				}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Signals["identity.valid"] != tt.valid {
				t.Fatalf("identity.valid = %v, want %v (findings %+v)", res.Signals["identity.valid"], tt.valid, res.Findings)
			}
			if !tt.valid {
				if len(res.Findings) != 1 || res.Findings[0].Code != CodeNumberInvalid {
					t.Errorf("findings %+v, want one %s", res.Findings, CodeNumberInvalid)
				}
				return
			}
			if got := res.Signals["identity.residence_permit"]; got != tt.permit {
				t.Errorf("identity.residence_permit = %v, want %q", got, tt.permit)
			}
			if got := res.Signals["identity.province"]; got != tt.province {
				t.Errorf("identity.province = %v, want %q", got, tt.province)
			}
		})
	}
}
