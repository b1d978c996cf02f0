package engine

import (
	"sync"

	"github.com/riskd/riskd/internal/policy"
	riskv1 "github.com/riskd/riskd/proto/risk/v1"
	"go.opentelemetry.io/otel/attribute"
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
	// sets holds the attribute sets already built: a decision records
	// the same few combinations again and again, and building a set
	// (sorting, hashing, allocating) each time is wasted work.
	sets sync.Map // attrKey -> metric.MeasurementOption
}

// attrKey names one combination of attribute values.
type attrKey struct {
	kind    byte
	a, b    string
	check   riskv1.Check
	outcome riskv1.Outcome
	flag    bool
	// version and canary split decisions by the policy that decided.
	version string
	canary  bool
}

func (m *metrics) option(k attrKey, build func() []attribute.KeyValue) metric.MeasurementOption {
	if o, ok := m.sets.Load(k); ok {
		return o.(metric.MeasurementOption)
	}
	o := metric.WithAttributeSet(attribute.NewSet(build()...))
	m.sets.Store(k, o)
	return o
}

func (m *metrics) verifierAttrs(name string, status policy.Status) metric.MeasurementOption {
	return m.option(attrKey{kind: 'v', a: name, b: string(status)}, func() []attribute.KeyValue {
		return []attribute.KeyValue{attribute.String("verifier", name), attribute.String("status", string(status))}
	})
}

func (m *metrics) checkAttrs(check riskv1.Check, version string, canary bool) metric.MeasurementOption {
	return m.option(attrKey{kind: 'c', check: check, version: version, canary: canary}, func() []attribute.KeyValue {
		return []attribute.KeyValue{attribute.String("check", check.String()),
			attribute.String("policy_version", version), attribute.Bool("canary", canary)}
	})
}

func (m *metrics) outcomeAttrs(check riskv1.Check, outcome riskv1.Outcome, version string, canary bool) metric.MeasurementOption {
	return m.option(attrKey{kind: 'o', check: check, outcome: outcome, version: version, canary: canary}, func() []attribute.KeyValue {
		return []attribute.KeyValue{attribute.String("check", check.String()), attribute.String("outcome", outcome.String()),
			attribute.String("policy_version", version), attribute.Bool("canary", canary)}
	})
}

func (m *metrics) ruleHitAttrs(rule string, check riskv1.Check, outcome riskv1.Outcome, shadow bool, version string, canary bool) metric.MeasurementOption {
	return m.option(attrKey{kind: 'r', a: rule, check: check, outcome: outcome, flag: shadow, version: version, canary: canary}, func() []attribute.KeyValue {
		return []attribute.KeyValue{attribute.String("rule", rule), attribute.String("check", check.String()),
			attribute.String("outcome", outcome.String()), attribute.Bool("shadow", shadow),
			attribute.String("policy_version", version), attribute.Bool("canary", canary)}
	})
}

// Histogram buckets come from one view for every duration riskd records
// (telemetry.DurationView), not from each instrument.

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
		metric.WithDescription("Time to decide, by check.")); err != nil {
		return nil, err
	}
	if out.verifierTime, err = m.Float64Histogram("riskd.verifier.duration", metric.WithUnit("s"),
		metric.WithDescription("Time each verifier took, by verifier and status.")); err != nil {
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
