package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riskd/riskd/internal/config"
	"github.com/riskd/riskd/internal/policy"
	"github.com/riskd/riskd/internal/store"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
)

// BenchmarkDecide is one decision through the real server and its whole
// interceptor chain over bufconn, as riskd runs by default (no trace
// exported, one JSON log line per call, to io.Discard here), and with
// successful calls' log lines off (--log-ok-every 0), so the line's own
// cost shows as the difference. Allocations count the client's too; the
// store commits each decision (a group commit of one, so its fsync sets
// ns/op: read allocs/op and B/op).
func BenchmarkDecide(b *testing.B) {
	for _, bc := range []struct {
		name    string
		okEvery int
	}{{"log-every-call", 1}, {"log-no-success", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			h := boot(b, bootOptions{quiet: true, infoLogs: true, config: func(c *config.Config) { c.LogOKEvery = bc.okEvery }})
			c := riskv1.NewRiskServiceClient(h.dial(b))
			ctx := context.Background()
			now := time.Now()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				req := coachedGiftCardOrder(now)
				req.RequestId = fmt.Sprintf("bench-%d", i)
				if _, err := c.ScoreGiftCardPurchase(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecideWithLists is BenchmarkDecide's gift-card decision (logs
// of successful calls off) with the lists verifier out of the policy, and
// in it with 100,000 entries on a block list that the order does not
// match (the common case) or does (its device is listed). lists-µs is the
// lists verifier's own time, as the decision reports it.
//
//	go test -run '^$' -bench DecideWithLists -benchtime 2000x ./internal/server/
func BenchmarkDecideWithLists(b *testing.B) {
	var off strings.Builder
	for line := range strings.Lines(string(policy.DefaultBytes())) {
		if !strings.Contains(line, "{name: lists,") {
			off.WriteString(line)
		}
	}
	for _, bc := range []struct {
		name    string
		policy  string
		entries int
		listed  bool
	}{
		{"lists-off", off.String(), 0, false},
		{"lists-on-100000-miss", "", 100_000, false},
		{"lists-on-100000-hit", "", 100_000, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := boot(b, bootOptions{setup: setup{policyYAML: bc.policy}, quiet: true, infoLogs: true,
				config: func(c *config.Config) { c.LogOKEvery = 0 }})
			ctx := context.Background()
			if bc.entries > 0 {
				if _, _, err := h.store.CreateList(ctx, store.List{Name: "bench", Purpose: store.PurposeReview, CreatedAt: time.Now()}); err != nil {
					b.Fatal(err)
				}
				entries := make([]store.ListEntry, bc.entries)
				for i := range entries {
					id, _ := h.keys.Identifier(store.KindDevice, fmt.Sprintf("listed-device-%d", i))
					entries[i] = store.ListEntry{ID: uuid.Must(uuid.NewV7()).String(), Value: store.ListValue{ID: id}, AddedAt: time.Now()}
				}
				if _, err := h.store.AddListEntries(ctx, "bench", entries); err != nil {
					b.Fatal(err)
				}
			}
			c := riskv1.NewRiskServiceClient(h.dial(b))
			now := time.Now()
			var listsTime time.Duration
			b.ReportAllocs()
			n := 0
			for i := 0; b.Loop(); i++ {
				req := coachedGiftCardOrder(now)
				req.RequestId = fmt.Sprintf("bench-%d", i)
				if bc.listed {
					req.Client.DeviceId = fmt.Sprintf("listed-device-%d", i%bc.entries)
				}
				resp, err := c.ScoreGiftCardPurchase(ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				for _, vr := range resp.GetDecision().GetVerifierResults() {
					if vr.GetName() == "lists" {
						listsTime += vr.GetDuration().AsDuration()
					}
				}
				if bc.listed && !hasCode(resp.GetDecision(), "ON_REVIEW_LIST") {
					b.Fatalf("listed device not matched: %v", codes_(resp.GetDecision()))
				}
				n++
			}
			if bc.entries > 0 {
				b.ReportMetric(float64(listsTime.Microseconds())/float64(n), "lists-µs/op")
			}
		})
	}
}
