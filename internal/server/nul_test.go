package server_test

// Issue 18, item 4: what every string of a request may hold. Identifiers
// a caller's systems choose refuse every control character (rule
// string.no_control), text people type refuses NUL (rule string.no_nul),
// and the rest are closed formats (an enumerated value, an e-mail or IP
// address); each refusal is INVALID_ARGUMENT naming the field, from both
// stores alike, before either sees the value: PostgreSQL text cannot hold
// NUL, and the embedded store must accept exactly what PostgreSQL does.
// strings_test.go sends hostile content to every one of these fields on
// both stores.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Text rules, as textRule names them.
const (
	ruleNoControl = "no_control" // an identifier: no control character
	ruleNoNUL     = "no_nul"     // text: no NUL
	ruleClosed    = "closed"     // an enumerated value, an e-mail or IP address
)

// textRules is the decision for every string field of every request, by
// the field's full name (a message used in several requests, such as
// Client, is decided once). A new string field fails
// TestEveryRequestStringHasATextRule until it has a rule and a line here.
var textRules = map[protoreflect.FullName]string{
	// Caller-side IDs: stored as text, in keys, links and event IDs, and
	// logged.
	"risk.v1.CheckSellerRequest.request_id":           ruleNoControl,
	"risk.v1.CheckSellerRequest.seller_id":            ruleNoControl,
	"risk.v1.ScoreGiftCardPurchaseRequest.request_id": ruleNoControl,
	"risk.v1.ScoreGiftCardPurchaseRequest.order_id":   ruleNoControl,
	"risk.v1.ScoreGiftCardPurchaseRequest.account_id": ruleNoControl,
	"risk.v1.EvaluateRefundRequest.request_id":        ruleNoControl,
	"risk.v1.EvaluateRefundRequest.order_id":          ruleNoControl,
	"risk.v1.EvaluateRefundRequest.buyer_account_id":  ruleNoControl,
	"risk.v1.EvaluateRefundRequest.seller_id":         ruleNoControl,
	"risk.v1.ReportOutcomeRequest.decision_id":        ruleNoControl,
	"risk.v1.GetDecisionRequest.decision_id":          ruleNoControl,
	"risk.v1.HistoryEvent.event_id":                   ruleNoControl,
	"risk.v1.OutcomeEvent.account_id":                 ruleNoControl,
	"risk.v1.OutcomeEvent.seller_id":                  ruleNoControl,
	"risk.v1.OutcomeEvent.decision_id":                ruleNoControl,
	"risk.v1.OutcomeEvent.order_event_id":             ruleNoControl,
	// Identifiers of devices, instruments and networks, and catalogue
	// labels: chosen by systems, never typed by a person.
	"risk.v1.Client.device_id":                    ruleNoControl,
	"risk.v1.Client.ip_address":                   ruleNoControl,
	"risk.v1.PaymentInstrument.fingerprint":       ruleNoControl,
	"risk.v1.RefundDestination.fingerprint":       ruleNoControl,
	"risk.v1.ScoreGiftCardPurchaseRequest.brand":  ruleNoControl,
	"risk.v1.EvaluateRefundRequest.item_category": ruleNoControl,
	// Text people type: names, addresses, notes and reasons (a line
	// break is ordinary in some), and the personal identifiers that are
	// normalised, white space and tabs removed, and hashed before any
	// store sees them (a number pasted with a tab is still the number).
	"risk.v1.IdentityDocument.number":              ruleNoNUL,
	"risk.v1.IdentityDocument.full_name":           ruleNoNUL,
	"risk.v1.IdentityDocument.mrz":                 ruleNoNUL,
	"risk.v1.BusinessLicense.uscc":                 ruleNoNUL,
	"risk.v1.BusinessLicense.company_name":         ruleNoNUL,
	"risk.v1.BusinessLicense.legal_representative": ruleNoNUL,
	"risk.v1.Contact.mobile":                       ruleNoNUL,
	"risk.v1.Contact.landline":                     ruleNoNUL,
	"risk.v1.Contact.address":                      ruleNoNUL,
	"risk.v1.Contact.chat_handle":                  ruleNoNUL,
	"risk.v1.PayoutAccount.account_number":         ruleNoNUL,
	"risk.v1.PayoutAccount.holder_name":            ruleNoNUL,
	"risk.v1.Recipient.phone":                      ruleNoNUL,
	"risk.v1.EvaluateRefundRequest.buyer_reason":   ruleNoNUL,
	"risk.v1.ReportOutcomeRequest.note":            ruleNoNUL,
	"risk.v1.OutcomeEvent.note":                    ruleNoNUL,
	// The review desk (review.proto): decision IDs, a policy version, a
	// reason code and page tokens are identifiers; notes are text, and so
	// is a subject's value, a personal identifier normalised and hashed
	// before anything keeps it.
	"risk.v1.ListDecisionsRequest.policy_version":     ruleNoControl,
	"risk.v1.ListDecisionsRequest.reason_code":        ruleNoControl,
	"risk.v1.ListDecisionsRequest.page_token":         ruleNoControl,
	"risk.v1.ListCasesRequest.page_token":             ruleNoControl,
	"risk.v1.GetCaseRequest.decision_id":              ruleNoControl,
	"risk.v1.ListRelatedDecisionsRequest.decision_id": ruleNoControl,
	"risk.v1.ClaimCaseRequest.decision_id":            ruleNoControl,
	"risk.v1.ReleaseClaimRequest.decision_id":         ruleNoControl,
	"risk.v1.ResolveCaseRequest.decision_id":          ruleNoControl,
	"risk.v1.AddCaseNoteRequest.decision_id":          ruleNoControl,
	"risk.v1.Subject.value":                           ruleNoNUL,
	"risk.v1.ResolveCaseRequest.note":                 ruleNoNUL,
	"risk.v1.AddCaseNoteRequest.note":                 ruleNoNUL,
	// Closed formats refuse every control character already.
	"risk.v1.Money.currency":                      ruleClosed,
	"risk.v1.Contact.email":                       ruleClosed,
	"risk.v1.Recipient.email":                     ruleClosed,
	"risk.v1.CheckSellerRequest.locale":           ruleClosed,
	"risk.v1.ScoreGiftCardPurchaseRequest.locale": ruleClosed,
	"risk.v1.EvaluateRefundRequest.locale":        ruleClosed,
}

// textRule says which text rule a string field carries: no_control,
// no_nul, closed, or "" for none. A field with no_control needs no
// no_nul (NUL is a control character).
func textRule(fd protoreflect.FieldDescriptor) string {
	fr, _ := proto.GetExtension(fd.Options(), validate.E_Field).(*validate.FieldRules)
	sr := fr.GetString()
	if sr == nil {
		return ""
	}
	switch {
	case proto.GetExtension(sr, riskv1.E_NoControl).(bool):
		return ruleNoControl
	case proto.GetExtension(sr, riskv1.E_NoNul).(bool):
		return ruleNoNUL
	case len(sr.GetIn()) > 0 || sr.GetEmail() || sr.GetIp():
		return ruleClosed
	}
	return ""
}

// requestStringFields calls fn for every string field of every request
// message of every service in risk.v1, each once, with a path to it from
// its request.
func requestStringFields(fn func(path string, fd protoreflect.FieldDescriptor)) {
	seen := map[protoreflect.FullName]bool{}
	var walk func(md protoreflect.MessageDescriptor, prefix string, stack []protoreflect.FullName)
	walk = func(md protoreflect.MessageDescriptor, prefix string, stack []protoreflect.FullName) {
		if slices.Contains(stack, md.FullName()) {
			return
		}
		stack = append(stack, md.FullName())
		fields := md.Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			switch {
			case fd.Kind() == protoreflect.StringKind || fd.IsMap():
				if !seen[fd.FullName()] {
					seen[fd.FullName()] = true
					fn(prefix+string(fd.Name()), fd)
				}
			case fd.Message() != nil:
				walk(fd.Message(), prefix+string(fd.Name())+".", stack)
			}
		}
	}
	for _, file := range []protoreflect.FileDescriptor{riskv1.File_risk_v1_risk_proto, riskv1.File_risk_v1_review_proto} {
		services := file.Services()
		for i := range services.Len() {
			methods := services.Get(i).Methods()
			for j := range methods.Len() {
				walk(methods.Get(j).Input(), string(methods.Get(j).Input().Name())+".", nil)
			}
		}
	}
}

func TestEveryRequestStringHasATextRule(t *testing.T) {
	found := map[protoreflect.FullName]bool{}
	requestStringFields(func(path string, fd protoreflect.FieldDescriptor) {
		found[fd.FullName()] = true
		if fd.IsMap() || fd.IsList() {
			t.Errorf("%s (%s) is a map or a list of strings: give each element a text rule and teach strings_test.go to fill it", path, fd.FullName())
			return
		}
		want, ok := textRules[fd.FullName()]
		if !ok {
			t.Errorf("%s (%s) is a new string field: give it no_control (an identifier) or no_nul (text) in risk.proto, and a line in textRules", path, fd.FullName())
			return
		}
		if got := textRule(fd); got != want {
			t.Errorf("%s (%s) carries text rule %q, want %q", path, fd.FullName(), got, want)
		}
	})
	for name := range textRules {
		if !found[name] {
			t.Errorf("textRules names %s, which is no string field of a request", name)
		}
	}
}

// violated reports whether err is INVALID_ARGUMENT with a violation of
// rule on field.
func violated(err error, field, rule string) bool {
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		return false
	}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, fv := range br.GetFieldViolations() {
				if fv.GetField() == field && fv.GetReason() == rule {
					return true
				}
			}
		}
	}
	return false
}

// The fields issue 18 named, with NUL and with another control character:
// identifiers refuse both, text refuses NUL and takes the rest.
func TestControlCharactersRefusedNamingTheField(t *testing.T) {
	h := start(t, setup{})
	ctx := context.Background()
	outcome := func(o *riskv1.OutcomeEvent) error {
		o.Label = riskv1.OutcomeLabel_OUTCOME_LABEL_CHARGEBACK
		_, err := h.client.RecordEvents(ctx, &riskv1.RecordEventsRequest{Events: []*riskv1.HistoryEvent{{
			EventId: "nul-outcome", OccurredAt: timestamppb.New(time.Now().Add(-time.Hour)),
			Event: &riskv1.HistoryEvent_Outcome{Outcome: o}}}})
		return err
	}
	seller, err := h.client.CheckSeller(ctx, cleanSeller())
	if err != nil {
		t.Fatal(err)
	}
	decided := seller.GetDecision().GetDecisionId()
	for _, tc := range []struct {
		field string
		text  bool // no_nul; else no_control
		call  func(v string) error
	}{
		{"request_id", false, func(v string) error {
			r := cleanSeller()
			r.RequestId = v
			_, err := h.client.CheckSeller(ctx, r)
			return err
		}},
		{"seller_id", false, func(v string) error {
			r := cleanSeller()
			r.RequestId, r.SellerId = fmt.Sprintf("ctl-seller-%x", v), v
			_, err := h.client.CheckSeller(ctx, r)
			return err
		}},
		{"account_id", false, func(v string) error {
			r := coachedGiftCardOrder(time.Now())
			r.AccountId = v
			_, err := h.client.ScoreGiftCardPurchase(ctx, r)
			return err
		}},
		{"buyer_account_id", false, func(v string) error {
			r := overPaidRefund()
			r.BuyerAccountId = v
			_, err := h.client.EvaluateRefund(ctx, r)
			return err
		}},
		{"decision_id", false, func(v string) error {
			_, err := h.client.GetDecision(ctx, &riskv1.GetDecisionRequest{DecisionId: v})
			return err
		}},
		{"note", true, func(v string) error {
			_, err := h.client.ReportOutcome(ctx, &riskv1.ReportOutcomeRequest{DecisionId: decided, Label: riskv1.OutcomeLabel_OUTCOME_LABEL_LEGITIMATE, Note: v})
			return err
		}},
		{"events[0].event_id", false, func(v string) error {
			_, err := h.client.RecordEvents(ctx, &riskv1.RecordEventsRequest{Events: []*riskv1.HistoryEvent{{
				EventId: v, OccurredAt: timestamppb.New(time.Now().Add(-time.Hour)),
				Event: &riskv1.HistoryEvent_Outcome{Outcome: &riskv1.OutcomeEvent{AccountId: "acct-1", Label: riskv1.OutcomeLabel_OUTCOME_LABEL_CHARGEBACK}}}}})
			return err
		}},
		{"events[0].outcome.account_id", false, func(v string) error { return outcome(&riskv1.OutcomeEvent{AccountId: v}) }},
		{"events[0].outcome.note", true, func(v string) error { return outcome(&riskv1.OutcomeEvent{AccountId: "acct-1", Note: v}) }},
	} {
		t.Run(tc.field, func(t *testing.T) {
			for _, v := range []string{"a\x00b", "a\x1bb", "a\u0085b"} {
				err := tc.call(v)
				switch {
				case strings.Contains(v, "\x00") && tc.text:
					if !violated(err, tc.field, "string.no_nul") {
						t.Errorf("%+q: got %v, want INVALID_ARGUMENT naming %s with rule string.no_nul", v, err, tc.field)
					}
				case tc.text:
					if err != nil {
						t.Errorf("%+q in text: got %v, want it accepted", v, err)
					}
				default:
					if !violated(err, tc.field, "string.no_control") {
						t.Errorf("%+q: got %v, want INVALID_ARGUMENT naming %s with rule string.no_control", v, err, tc.field)
					}
				}
			}
		})
	}
}

// Issue 18, item 5, through the server: the identity holder's name with a
// zero-width joiner and the payout holder's with a right-to-left override
// are the legal representative's and the company's names.
func TestInvisibleCharactersInNames(t *testing.T) {
	h := start(t, setup{})
	r := cleanSeller()
	r.Identity.FullName = "张\u200d三"
	r.Payout.HolderName = "\u202e福州某某贸易有限公司\u202c"
	resp, err := h.client.CheckSeller(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	for _, reason := range resp.GetDecision().GetReasons() {
		if reason.GetCode() == "ID_HOLDER_NOT_LEGAL_REP" || reason.GetCode() == "PAYOUT_NAME_MISMATCH" {
			t.Errorf("invisible characters made a name differ: %s %s", reason.GetCode(), reason.GetMessage())
		}
	}
	if resp.GetDecision().GetOutcome() != riskv1.Outcome_OUTCOME_APPROVE {
		t.Errorf("outcome %s, want APPROVE", resp.GetDecision().GetOutcome())
	}
}
