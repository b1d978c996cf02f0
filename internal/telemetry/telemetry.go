// Package telemetry sets up traces, metrics and logs from the standard OTEL_*
// environment variables only, the way every OpenTelemetry SDK reads them.
//
// With no OTLP endpoint set nothing is exported, but a real SDK tracer still
// runs, so every decision and log line carries a trace ID an SRE can search
// for in the caller's traces.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// ServiceName is the default service.name; OTEL_SERVICE_NAME overrides it.
const ServiceName = "riskd"

// defaultSampleRatio applies when OTEL_TRACES_SAMPLER is unset: a sampled
// caller's trace is always followed (parent-based), and a tenth of the
// unsampled roots are kept, because tracing every call in production is
// cost nobody asked for.
const defaultSampleRatio = 0.1

// Providers are what the rest of riskd instruments itself with.
type Providers struct {
	Tracer      trace.TracerProvider
	Meter       metric.MeterProvider
	Propagators propagation.TextMapPropagator
	// Exporting says whether OTLP export is on, for the start-up log.
	Exporting bool
	// Metrics serves every metric in the Prometheus exposition format,
	// for the admin listener's /metrics, whether or not OTLP pushes them.
	Metrics http.Handler
}

// durationBuckets are the histogram bounds, in seconds, of every duration
// riskd records: a decision takes a fraction of a millisecond on the
// embedded store and up to its deadline (seconds) when a verifier or the
// database is slow, so the bounds run from 100 µs to 10 s. The SDK's
// default bounds (0 to 10,000, made for milliseconds) would put every
// decision in its first bucket.
var durationBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// DurationView gives every histogram in seconds durationBuckets; tests
// that read metrics through their own reader use it too.
func DurationView() sdkmetric.View {
	return sdkmetric.NewView(sdkmetric.Instrument{Kind: sdkmetric.InstrumentKindHistogram, Unit: "s"},
		sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: durationBuckets}})
}

// Setup builds the providers from the environment and installs them as the
// OpenTelemetry globals. shutdown flushes and stops the exporters.
func Setup(ctx context.Context, getenv func(string) string) (p Providers, shutdown func(context.Context) error, err error) {
	var shutdowns []func(context.Context) error
	shutdown = func(ctx context.Context) error {
		var errs []error
		for i := len(shutdowns) - 1; i >= 0; i-- {
			errs = append(errs, shutdowns[i](ctx))
		}
		return errors.Join(errs...)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(ServiceName)))
	if err != nil {
		return p, shutdown, fmt.Errorf("telemetry resource: %w", err)
	}
	// Let OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over our default.
	if envRes, err := resource.New(ctx, resource.WithFromEnv()); err == nil {
		if merged, err := resource.Merge(res, envRes); err == nil {
			res = merged
		}
	}

	endpoint := getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	httpProto := getenv("OTEL_EXPORTER_OTLP_PROTOCOL") == "http/protobuf"

	topts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	exportTraces := on(getenv, "OTEL_TRACES_EXPORTER", endpoint, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	switch {
	case getenv("OTEL_TRACES_SAMPLER") != "":
	case !exportTraces:
		// Nothing would receive a span: none is recorded, on the
		// decision path's CPU. Spans still carry their trace IDs (the
		// caller's, or new ones), so log lines stay joinable.
		topts = append(topts, sdktrace.WithSampler(sdktrace.NeverSample()))
	default:
		topts = append(topts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(defaultSampleRatio))))
	}
	if exportTraces {
		var exp sdktrace.SpanExporter
		if httpProto {
			exp, err = otlptracehttp.New(ctx)
		} else {
			exp, err = otlptracegrpc.New(ctx)
		}
		if err != nil {
			return p, shutdown, fmt.Errorf("OTLP trace exporter: %w", err)
		}
		topts = append(topts, sdktrace.WithBatcher(exp))
		p.Exporting = true
	}
	tp := sdktrace.NewTracerProvider(topts...)
	shutdowns = append(shutdowns, tp.Shutdown)

	// Prometheus pulls from a registry of riskd's own, never the global
	// one that any imported package could add to.
	reg := prometheus.NewRegistry()
	prom, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return p, shutdown, fmt.Errorf("prometheus exporter: %w", err)
	}
	p.Metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	mopts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(prom), sdkmetric.WithView(DurationView())}
	if on(getenv, "OTEL_METRICS_EXPORTER", endpoint, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") {
		var exp sdkmetric.Exporter
		if httpProto {
			exp, err = otlpmetrichttp.New(ctx)
		} else {
			exp, err = otlpmetricgrpc.New(ctx)
		}
		if err != nil {
			return p, shutdown, fmt.Errorf("OTLP metric exporter: %w", err)
		}
		mopts = append(mopts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)))
		p.Exporting = true
	}
	mp := sdkmetric.NewMeterProvider(mopts...)
	shutdowns = append(shutdowns, mp.Shutdown)

	p.Tracer, p.Meter = tp, mp
	p.Propagators = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)
	otel.SetTextMapPropagator(p.Propagators)
	return p, shutdown, nil
}

// LogErrors sends the OpenTelemetry SDK's own errors (an exporter that
// cannot reach its collector) to log, at warn. Without it the SDK prints
// them to stderr as plain text, among riskd's JSON lines.
func LogErrors(log *slog.Logger) {
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("telemetry: the OpenTelemetry SDK reports an error", "error", err)
	}))
}

// on says whether a signal exports: an endpoint is set (general or for this
// signal) and its exporter is not switched off.
func on(getenv func(string) string, exporterVar, endpoint, signalEndpointVar string) bool {
	if getenv(exporterVar) == "none" {
		return false
	}
	return endpoint != "" || getenv(signalEndpointVar) != ""
}

// NewLogger returns a JSON slog logger to w at level that adds trace_id and
// span_id from the context to every record.
func NewLogger(w *os.File, level slog.Level) *slog.Logger {
	return slog.New(TraceHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})})
}

// TraceHandler adds the span context's IDs to each record.
type TraceHandler struct{ slog.Handler }

// Handle adds trace_id and span_id when the context has a span.
func (h TraceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs keeps the wrapper around the derived handler.
func (h TraceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return TraceHandler{h.Handler.WithAttrs(attrs)}
}

// WithGroup keeps the wrapper around the derived handler.
func (h TraceHandler) WithGroup(name string) slog.Handler {
	return TraceHandler{h.Handler.WithGroup(name)}
}
