package engine

import (
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// metrics are the engine's own instruments. RPC latency comes from the
// otelgrpc stats handler; these add what only the engine knows.
type metrics struct {
	decisions        metric.Int64Counter
	decisionTime     metric.Float64Histogram
	verifierTime     metric.Float64Histogram
	verifierFailures metric.Int64Counter
	ruleErrors       metric.Int64Counter
	ruleHits         metric.Int64Counter
}

// latencyBuckets suit calls measured in milliseconds, in seconds.
var latencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

func newMetrics(m metric.Meter) (*metrics, error) {
	if m == nil {
		m = noop.NewMeterProvider().Meter("riskd")
	}
	var out metrics
	var err error
	if out.decisions, err = m.Int64Counter("riskd.decisions",
		metric.WithDescription("Decisions made, by check and outcome.")); err != nil {
		return nil, err
	}
	if out.decisionTime, err = m.Float64Histogram("riskd.decision.duration", metric.WithUnit("s"),
		metric.WithDescription("Time to decide, by check."), metric.WithExplicitBucketBoundaries(latencyBuckets...)); err != nil {
		return nil, err
	}
	if out.verifierTime, err = m.Float64Histogram("riskd.verifier.duration", metric.WithUnit("s"),
		metric.WithDescription("Time each verifier took, by verifier and status."), metric.WithExplicitBucketBoundaries(latencyBuckets...)); err != nil {
		return nil, err
	}
	if out.verifierFailures, err = m.Int64Counter("riskd.verifier.failures",
		metric.WithDescription("Verifier failures and timeouts, by verifier and status.")); err != nil {
		return nil, err
	}
	if out.ruleErrors, err = m.Int64Counter("riskd.policy.rule_errors",
		metric.WithDescription("Rules that could not be evaluated, by rule.")); err != nil {
		return nil, err
	}
	if out.ruleHits, err = m.Int64Counter("riskd.policy.rule_hits",
		metric.WithDescription("Rules that fired, by rule, check, the decision's outcome and whether the rule was shadow.")); err != nil {
		return nil, err
	}
	return &out, nil
}
