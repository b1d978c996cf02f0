package server_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/config"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// callLines are the "finished call" lines of the log, by method.
func callLines(t *testing.T, logs *logBuffer, method string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range logs.lines(t) {
		if l.attr["msg"] == "finished call" && l.attr["grpc.method"] == method {
			out = append(out, l.attr)
		}
	}
	return out
}

func bootLogging(t *testing.T, logs *logBuffer, okEvery int, slow time.Duration) riskv1.RiskServiceClient {
	t.Helper()
	b := boot(t, bootOptions{logs: logs, config: func(c *config.Config) {
		c.LogOKEvery, c.LogSlow = okEvery, slow
	}})
	return riskv1.NewRiskServiceClient(b.dial(t))
}

// A successful call logs one info line that an SRE can act on: who
// called, what was decided and why, under the call's trace; and nothing a
// person could be found by.
func TestCallLogLineSaysWhatWasDecided(t *testing.T) {
	var logs logBuffer
	c := bootLogging(t, &logs, 1, time.Minute)
	req := cleanSeller()
	resp, err := c.CheckSeller(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	d := resp.GetDecision()
	lines := callLines(t, &logs, "CheckSeller")
	if len(lines) != 1 {
		t.Fatalf("%d lines for one call, want 1", len(lines))
	}
	l := lines[0]
	var reasons []any
	for _, r := range d.GetReasons() {
		reasons = append(reasons, r.GetCode())
	}
	want := map[string]any{
		"level": "INFO", "caller": "anonymous", "check": d.GetCheck().String(), "outcome": d.GetOutcome().String(),
		"score": float64(d.GetScore()), "decision_id": d.GetDecisionId(), "grpc.code": "OK",
	}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("%s = %v, want %v", k, l[k], v)
		}
	}
	got, _ := l["reasons"].([]any)
	if !slices.Equal(got, reasons) {
		t.Errorf("reasons = %v, want %v", got, reasons)
	}
	if _, ok := l["trace_id"].(string); !ok {
		t.Error("no trace_id")
	}
	for _, raw := range []string{req.GetIdentity().GetNumber(), req.GetContact().GetMobile(), req.GetContact().GetEmail(),
		req.GetIdentity().GetFullName(), req.GetPayout().GetAccountNumber()} {
		for k, v := range l {
			if s, ok := v.(string); ok && raw != "" && strings.Contains(s, raw) {
				t.Errorf("field %s holds a raw identifier from the request", k)
			}
		}
	}
}

func TestCallLogSamplesSuccessButNeverRefusals(t *testing.T) {
	for _, tc := range []struct {
		every, calls, want int
	}{
		{every: 0, calls: 4, want: 0},
		{every: 3, calls: 9, want: 3},
		{every: 1, calls: 4, want: 4},
	} {
		var logs logBuffer
		c := bootLogging(t, &logs, tc.every, 0)
		for i := range tc.calls {
			req := cleanSeller()
			req.RequestId = req.GetRequestId() + "-" + string(rune('a'+i))
			if _, err := c.CheckSeller(context.Background(), req); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.CheckSeller(context.Background(), &riskv1.CheckSellerRequest{}); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("empty request: %v", err)
		}
		ok, refused := 0, 0
		for _, l := range callLines(t, &logs, "CheckSeller") {
			if l["grpc.code"] == "OK" {
				ok++
			} else {
				refused++
			}
		}
		if ok != tc.want || refused != 1 {
			t.Errorf("one in %d: %d successful lines of %d calls (want %d) and %d refused (want 1)", tc.every, ok, tc.calls, tc.want, refused)
		}
	}
}

func TestCallLogAlwaysLogsSlowCalls(t *testing.T) {
	var logs logBuffer
	// Every call takes longer than a nanosecond: this one is slow.
	c := bootLogging(t, &logs, 0, time.Nanosecond)
	if _, err := c.CheckSeller(context.Background(), cleanSeller()); err != nil {
		t.Fatal(err)
	}
	lines := callLines(t, &logs, "CheckSeller")
	if len(lines) != 1 || lines[0]["level"] != "WARN" || lines[0]["slow"] != true {
		t.Fatalf("a slow call with successful calls silenced: %v, want one WARN line marked slow", lines)
	}
}
