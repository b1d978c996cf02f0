package quality

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Options tune a run.
type Options struct {
	// RunID prefixes every request and event ID the run sends, so the same
	// corpus can run twice against one server without reusing an ID. Empty
	// means a time-based one.
	RunID string
	// Parallel is how many cases run at once (8 when zero). Cases do not
	// share identifiers, so their order does not matter.
	Parallel int
	// Now is the clock relative times are resolved against (time.Now when
	// nil).
	Now func() time.Time
	// Timeout bounds each call (10 s when zero).
	Timeout time.Duration
}

// Result is what one case got.
type Result struct {
	Case     *Case
	Decision *riskv1.Decision
	// Err is why the case could not be decided (a history step or the
	// request itself failed); a case with an error fails the gates.
	Err error
}

// Run sends every case to the server behind client: its history first
// (RecordEvents, earlier decisions and the outcomes reported on them),
// then its request. Results come back in the order of cases.
func Run(ctx context.Context, client riskv1.RiskServiceClient, cases []*Case, o Options) []Result {
	if o.RunID == "" {
		o.RunID = "quality-" + time.Now().UTC().Format("20060102T150405.000000000")
	}
	if o.Parallel <= 0 {
		o.Parallel = 8
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	out := make([]Result, len(cases))
	next := make(chan int)
	var wg sync.WaitGroup
	for range o.Parallel {
		wg.Go(func() {
			for i := range next {
				d, err := runCase(ctx, client, cases[i], o)
				out[i] = Result{Case: cases[i], Decision: d, Err: err}
			}
		})
	}
	for i := range cases {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

func runCase(ctx context.Context, client riskv1.RiskServiceClient, c *Case, o Options) (*riskv1.Decision, error) {
	steps, req, err := c.Build(o.Now())
	if err != nil {
		return nil, err
	}
	prefix := o.RunID + "/" + c.Name
	for i, s := range steps {
		if len(s.Events) > 0 {
			batch := &riskv1.RecordEventsRequest{}
			for _, ev := range s.Events {
				ev = proto.CloneOf(ev)
				ev.EventId = scopedID(prefix + "/" + ev.GetEventId())
				setRequestID(ev.GetGiftCardOrder(), ev.GetEventId())
				setRequestID(ev.GetRefund(), ev.GetEventId())
				batch.Events = append(batch.Events, ev)
			}
			cctx, cancel := context.WithTimeout(ctx, o.Timeout)
			_, err := client.RecordEvents(cctx, batch)
			cancel()
			if err != nil {
				return nil, fmt.Errorf("history[%d] RecordEvents: %s", i, message(err))
			}
			continue
		}
		d, err := decide(ctx, client, s.Check, s.Request, scopedID(fmt.Sprintf("%s/h%d", prefix, i)), o.Timeout)
		if err != nil {
			return nil, fmt.Errorf("history[%d] %s: %w", i, s.Check, err)
		}
		if s.Report != riskv1.OutcomeLabel_OUTCOME_LABEL_UNSPECIFIED {
			cctx, cancel := context.WithTimeout(ctx, o.Timeout)
			_, err := client.ReportOutcome(cctx, &riskv1.ReportOutcomeRequest{DecisionId: d.GetDecisionId(), Label: s.Report, Note: "quality corpus: " + c.Name})
			cancel()
			if err != nil {
				return nil, fmt.Errorf("history[%d] ReportOutcome: %s", i, message(err))
			}
		}
	}
	d, err := decide(ctx, client, c.Check, req, scopedID(prefix), o.Timeout)
	if err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	return d, nil
}

// maxID is the longest request or event ID the API takes.
const maxID = 128

// scopedID is id, or, when the run's prefix makes it too long for the
// API, a hash of it: still unique per run, case and step.
func scopedID(id string) string {
	if len(id) <= maxID {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return id[:maxID-33] + "~" + hex.EncodeToString(sum[:16])
}

// requestIDSetter is every request message: they all have request_id.
type requestIDSetter interface {
	proto.Message
	GetRequestId() string
}

func setRequestID(m requestIDSetter, id string) {
	switch r := m.(type) {
	case *riskv1.ScoreGiftCardPurchaseRequest:
		if r != nil {
			r.RequestId = id
		}
	case *riskv1.EvaluateRefundRequest:
		if r != nil {
			r.RequestId = id
		}
	case *riskv1.CheckSellerRequest:
		if r != nil {
			r.RequestId = id
		}
	}
}

// decide sends one evaluating request under requestID.
func decide(ctx context.Context, client riskv1.RiskServiceClient, check string, req proto.Message, requestID string, timeout time.Duration) (*riskv1.Decision, error) {
	req = proto.Clone(req)
	setRequestID(req.(requestIDSetter), requestID)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var (
		d   *riskv1.Decision
		err error
	)
	switch r := req.(type) {
	case *riskv1.CheckSellerRequest:
		var resp *riskv1.CheckSellerResponse
		resp, err = client.CheckSeller(ctx, r)
		d = resp.GetDecision()
	case *riskv1.ScoreGiftCardPurchaseRequest:
		var resp *riskv1.ScoreGiftCardPurchaseResponse
		resp, err = client.ScoreGiftCardPurchase(ctx, r)
		d = resp.GetDecision()
	case *riskv1.EvaluateRefundRequest:
		var resp *riskv1.EvaluateRefundResponse
		resp, err = client.EvaluateRefund(ctx, r)
		d = resp.GetDecision()
	default:
		return nil, fmt.Errorf("no RPC for check %q", check)
	}
	if err != nil {
		return nil, fmt.Errorf("%s", message(err))
	}
	return d, nil
}

// message is a gRPC error as code and message.
func message(err error) string {
	s := status.Convert(err)
	return s.Code().String() + ": " + s.Message()
}
