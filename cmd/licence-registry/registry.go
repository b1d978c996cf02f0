package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/riskd/riskd/internal/names"
	"github.com/riskd/riskd/internal/verifier/license"
	verifierv1 "github.com/riskd/riskd/proto/risk/verifier/v1"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Status is a licence's registration status.
type Status string

// Statuses a registry file may hold.
const (
	Active    Status = "active"
	Revoked   Status = "revoked"
	Cancelled Status = "cancelled"
)

// Licence is one registry entry.
type Licence struct {
	USCC                string
	CompanyName         string
	LegalRepresentative string
	Status              Status
}

// maxRows bounds a registry file: this is an example service, and an
// unbounded file would be an unbounded start-up.
const maxRows = 1_000_000

// loadCSV reads "uscc,company_name,legal_representative,status" rows with
// a header. Every row is checked; the first bad one stops the load with its
// line, so a registry never serves half a file.
func loadCSV(r io.Reader) (map[string]Licence, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 4
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	want := []string{"uscc", "company_name", "legal_representative", "status"}
	for i, h := range header {
		if strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")) != want[i] {
			return nil, fmt.Errorf("header: column %d is %q, want %q", i+1, h, want[i])
		}
	}
	out := map[string]Licence{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			return nil, err
		}
		if len(out) >= maxRows {
			return nil, fmt.Errorf("line %d: more than %d licences", line, maxRows)
		}
		code, err := license.ParseUSCC(rec[0])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		st := Status(strings.ToLower(strings.TrimSpace(rec[3])))
		if st != Active && st != Revoked && st != Cancelled {
			return nil, fmt.Errorf("line %d: status %q must be active, revoked or cancelled", line, rec[3])
		}
		if strings.TrimSpace(rec[1]) == "" || strings.TrimSpace(rec[2]) == "" {
			return nil, fmt.Errorf("line %d: company name and legal representative are required", line)
		}
		if _, dup := out[code.Code]; dup {
			return nil, fmt.Errorf("line %d: licence listed twice", line)
		}
		out[code.Code] = Licence{USCC: code.Code, CompanyName: rec[1], LegalRepresentative: rec[2], Status: st}
	}
}

// registry answers Verify from the loaded file.
type registry struct {
	verifierv1.UnimplementedVerifierServiceServer
	licences map[string]Licence
	log      *slog.Logger
}

// Reason codes this registry finds, and what each adds to the score.
const (
	codeNotFound = "LICENSE_NOT_FOUND"
	codeMismatch = "LICENSE_HOLDER_MISMATCH"
	codeRevoked  = "LICENSE_REVOKED"
)

func str(facts map[string]*verifierv1.Value, k string) string { return facts[k].GetStringValue() }

// Verify checks the licence in a seller check against the registry. It is
// a pure lookup, so the same decision asked twice gets the same answer.
func (r *registry) Verify(ctx context.Context, req *verifierv1.VerifyRequest) (*verifierv1.VerifyResponse, error) {
	resp := &verifierv1.VerifyResponse{Signals: map[string]*verifierv1.Value{}}
	// The trace ID this process saw, so a caller can tell its trace
	// reached here (and an SRE can find this call in the registry's logs).
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		resp.Signals["trace_id"] = &verifierv1.Value{Kind: &verifierv1.Value_StringValue{StringValue: sc.TraceID().String()}}
	}
	if req.GetCheck() != verifierv1.Check_CHECK_SELLER {
		return resp, nil
	}
	raw := str(req.GetFacts(), "license.uscc")
	if raw == "" {
		resp.Signals["status"] = strValue("no_licence")
		return resp, nil
	}
	code, err := license.ParseUSCC(raw)
	if err != nil {
		// A riskd whose policy waits for its own structure check never
		// sends one (see examples/policy-with-registry.yaml); logged, so a
		// caller that does can be found.
		r.log.WarnContext(ctx, "licence number refused", "decision_id", req.GetDecisionId())
		return nil, status.Error(codes.InvalidArgument, "license.uscc is not a valid Unified Social Credit Code")
	}
	lic, ok := r.licences[code.Code]
	r.log.InfoContext(ctx, "licence looked up", "decision_id", req.GetDecisionId(), "found", ok, "status", string(lic.Status))
	if !ok {
		resp.Signals["status"] = strValue("not_found")
		resp.Findings = append(resp.Findings, &verifierv1.Finding{Code: codeNotFound, Score: 40,
			Message: "The business registry has no licence with this number."})
		return resp, nil
	}
	resp.Signals["status"] = strValue(string(lic.Status))
	if lic.Status != Active {
		resp.Findings = append(resp.Findings, &verifierv1.Finding{Code: codeRevoked, Score: 80,
			Message: fmt.Sprintf("The business registry lists this licence as %s.", lic.Status)})
	}
	company, rep := str(req.GetFacts(), "license.company_name"), str(req.GetFacts(), "license.legal_representative")
	if (company != "" && !names.Same(company, lic.CompanyName)) || (rep != "" && !names.Same(rep, lic.LegalRepresentative)) {
		resp.Findings = append(resp.Findings, &verifierv1.Finding{Code: codeMismatch, Score: 80,
			Message: "The business registry names another company or legal representative for this licence."})
	}
	return resp, nil
}

func strValue(s string) *verifierv1.Value {
	return &verifierv1.Value{Kind: &verifierv1.Value_StringValue{StringValue: s}}
}
