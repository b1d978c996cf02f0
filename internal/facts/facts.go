// Package facts is the one codec for what a decision was made of. The
// engine encodes each verifier's signals in wire form (for the decision the
// caller gets) and the facts it logs (the redacted request, each verifier's
// status, signals and findings, the rules that fired); replay decodes those
// facts to ask a candidate policy. Both directions live here, so a value
// written one way is read back as the same value: a time signal stays a
// time, and a rule comparing it decides the same on replay as it did live.
package facts

import (
	"fmt"
	"sort"
	"time"

	"github.com/riskd/riskd/internal/policy"
	"github.com/riskd/riskd/internal/redact"
	"github.com/riskd/riskd/internal/verifier"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var statusProto = map[policy.Status]riskv1.VerifierStatus{
	policy.StatusOK:       riskv1.VerifierStatus_VERIFIER_STATUS_OK,
	policy.StatusFailed:   riskv1.VerifierStatus_VERIFIER_STATUS_FAILED,
	policy.StatusTimedOut: riskv1.VerifierStatus_VERIFIER_STATUS_TIMED_OUT,
	policy.StatusSkipped:  riskv1.VerifierStatus_VERIFIER_STATUS_SKIPPED,
}

var statusPolicy = func() map[riskv1.VerifierStatus]policy.Status {
	m := make(map[riskv1.VerifierStatus]policy.Status, len(statusProto))
	for s, p := range statusProto {
		m[p] = s
	}
	return m
}()

// Status is a verifier status in wire form.
func Status(s policy.Status) riskv1.VerifierStatus { return statusProto[s] }

// Signals turns a verifier's signals into their wire form, sorted by name
// so that the same decision always has the same bytes. Values are bool,
// int64 (int too), float64, string or time.Time (verifier.Result); anything
// else is stored as its text.
func Signals(signals map[string]any) []*riskv1.Signal {
	names := make([]string, 0, len(signals))
	for n := range signals {
		names = append(names, n)
	}
	sort.Strings(names)
	// One allocation for the messages and one per kind of value, not two
	// per signal: a gift-card decision has some fifty.
	msgs := make([]riskv1.Signal, len(names))
	var ints []riskv1.Signal_IntValue
	out := make([]*riskv1.Signal, len(names))
	for i, n := range names {
		s := &msgs[i]
		s.Name = n
		switch v := signals[n].(type) {
		case bool:
			s.Value = &riskv1.Signal_BoolValue{BoolValue: v}
		case int:
			s.Value = intValue(&ints, len(names), int64(v))
		case int64:
			s.Value = intValue(&ints, len(names), v)
		case float64:
			s.Value = &riskv1.Signal_DoubleValue{DoubleValue: v}
		case string:
			s.Value = &riskv1.Signal_StringValue{StringValue: v}
		case time.Time:
			s.Value = &riskv1.Signal_TimeValue{TimeValue: timestamppb.New(v)}
		default:
			s.Value = &riskv1.Signal_StringValue{StringValue: fmt.Sprint(v)}
		}
		out[i] = s
	}
	return out
}

// intValue hands out the next of a lazily made block of n integer values
// (the most common kind of signal).
func intValue(block *[]riskv1.Signal_IntValue, n int, v int64) *riskv1.Signal_IntValue {
	if *block == nil {
		*block = make([]riskv1.Signal_IntValue, 0, n)
	}
	*block = append(*block, riskv1.Signal_IntValue{IntValue: v})
	return &(*block)[len(*block)-1]
}

// Value is a wire signal's value as verifiers give it (Signals' inverse):
// bool, int64, float64, string or time.Time; nil for a signal without one.
func Value(s *riskv1.Signal) any {
	switch v := s.GetValue().(type) {
	case *riskv1.Signal_BoolValue:
		return v.BoolValue
	case *riskv1.Signal_IntValue:
		return v.IntValue
	case *riskv1.Signal_DoubleValue:
		return v.DoubleValue
	case *riskv1.Signal_StringValue:
		return v.StringValue
	case *riskv1.Signal_TimeValue:
		return v.TimeValue.AsTime()
	}
	return nil
}

// Merge lists the signals of the verifiers that answered, sorted by name,
// as the policy merged them: where two verifiers give one name, the later
// one's value stands. perRun[i] are runs[i]'s signals from Signals.
func Merge(runs []policy.VerifierRun, perRun [][]*riskv1.Signal) []*riskv1.Signal {
	n := 0
	for i, r := range runs {
		if r.Status == policy.StatusOK {
			n += len(perRun[i])
		}
	}
	out := make([]*riskv1.Signal, 0, n)
	for i, r := range runs {
		if r.Status == policy.StatusOK {
			out = append(out, perRun[i]...)
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].GetName() < out[b].GetName() })
	// Keep the last of each name: stable sorting kept the run order.
	kept := out[:0]
	for i, sg := range out {
		if i+1 < len(out) && out[i+1].GetName() == sg.GetName() {
			continue
		}
		kept = append(kept, sg)
	}
	return kept
}

// Of is what a later replay needs of a decision, without raw personal
// data: the redacted request, what each verifier returned (perRun[i] are
// runs[i]'s signals from Signals, shared with the decision) and which rules
// fired.
func Of(req proto.Message, runs []policy.VerifierRun, perRun [][]*riskv1.Signal, fired []policy.FiredRule) *riskv1.DecisionFacts {
	// Redacted while it is encoded: no copy of the request, one pass.
	anyReq := &anypb.Any{
		TypeUrl: "type.googleapis.com/" + string(req.ProtoReflect().Descriptor().FullName()),
		Value:   redact.Append(nil, req),
	}
	f := &riskv1.DecisionFacts{Request: anyReq, Verifiers: make([]*riskv1.VerifierFacts, 0, len(runs))}
	for i, r := range runs {
		vf := &riskv1.VerifierFacts{Name: r.Spec.Name, Status: statusProto[r.Status], Signals: perRun[i]}
		for _, fd := range r.Result.Findings {
			vf.Findings = append(vf.Findings, &riskv1.Reason{Code: fd.Code, Message: fd.Message, Source: r.Spec.Name, Score: int32(fd.Score)})
		}
		f.Verifiers = append(f.Verifiers, vf)
	}
	for _, fr := range fired {
		f.FiredRules = append(f.FiredRules, fr.Name)
	}
	return f
}

// Decoded is a decision's facts read back.
type Decoded struct {
	// Request is the redacted request, as its own message type.
	Request proto.Message
	// Verifiers are what each verifier did, by name.
	Verifiers map[string]Run
	// FiredRules are the rules that fired, in policy order.
	FiredRules []string
}

// Run is one verifier's status and result as the facts keep them.
type Run struct {
	Status policy.Status
	Result verifier.Result
}

// Decode reads facts written by Of (encoded with proto.Marshal).
func Decode(b []byte) (Decoded, error) {
	var f riskv1.DecisionFacts
	if err := proto.Unmarshal(b, &f); err != nil {
		return Decoded{}, fmt.Errorf("facts: %w", err)
	}
	req, err := f.GetRequest().UnmarshalNew()
	if err != nil {
		return Decoded{}, fmt.Errorf("facts: request: %w", err)
	}
	d := Decoded{Request: req, Verifiers: make(map[string]Run, len(f.GetVerifiers())), FiredRules: f.GetFiredRules()}
	for _, vf := range f.GetVerifiers() {
		status, ok := statusPolicy[vf.GetStatus()]
		if !ok {
			return Decoded{}, fmt.Errorf("facts: verifier %q has status %s", vf.GetName(), vf.GetStatus())
		}
		res := verifier.Result{Signals: make(map[string]any, len(vf.GetSignals()))}
		for _, s := range vf.GetSignals() {
			if v := Value(s); v != nil {
				res.Signals[s.GetName()] = v
			}
		}
		for _, fd := range vf.GetFindings() {
			res.Findings = append(res.Findings, verifier.Finding{Code: fd.GetCode(), Score: int(fd.GetScore()), Message: fd.GetMessage()})
		}
		d.Verifiers[vf.GetName()] = Run{Status: status, Result: res}
	}
	return d, nil
}
