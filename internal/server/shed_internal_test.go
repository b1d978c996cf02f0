package server

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// TestShedRefusalAllocatesNothing: between two lines, a refusal is an
// atomic add or two and a count in the metric, with nothing allocated:
// under a flood it runs thousands of times a second.
func TestShedRefusalAllocatesNothing(t *testing.T) {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	now := time.Unix(1_700_000_000, 0)
	s, err := newShedder(mp.Meter("riskd/server"), slog.New(slog.NewJSONHandler(io.Discard, nil)), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := s.caller(shedRateLimit, "checkout")
	c.refuse(ctx) // the first is logged
	c.refuse(ctx) // arms the timer for the rest
	t.Cleanup(s.close)
	if a := testing.AllocsPerRun(1000, func() { _ = c.refuse(ctx) }); a != 0 {
		t.Errorf("a refusal allocates %.1f times", a)
	}
}
