package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/riskd/riskd/internal/config"
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
