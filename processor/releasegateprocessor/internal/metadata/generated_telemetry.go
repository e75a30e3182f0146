package metadata

import (
	"errors"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/metric"
)

func Meter(settings component.TelemetrySettings) metric.Meter {
	return settings.MeterProvider.Meter("github.com/releasegate/releasegate/processor/releasegateprocessor")
}

// TelemetryBuilder provides an interface for components to report telemetry
// as defined in metadata and user config.
type TelemetryBuilder struct {
	meter                               metric.Meter
	mu                                  sync.Mutex
	registrations                       []metric.Registration
	ProcessorReleasegateGateErrors      metric.Int64Counter
	ProcessorReleasegateGateMatches     metric.Int64Counter
	ProcessorReleasegateGateViolations  metric.Int64Counter
	ProcessorReleasegateSpans           metric.Int64Counter
	ProcessorReleasegateSpansWithoutRun metric.Int64Counter
}

// TelemetryBuilderOption applies changes to default builder.
type TelemetryBuilderOption interface {
	apply(*TelemetryBuilder)
}

type telemetryBuilderOptionFunc func(mb *TelemetryBuilder)

func (tbof telemetryBuilderOptionFunc) apply(mb *TelemetryBuilder) {
	tbof(mb)
}

// Shutdown unregister all registered callbacks for async instruments.
func (builder *TelemetryBuilder) Shutdown() {
	builder.mu.Lock()
	defer builder.mu.Unlock()
	for _, reg := range builder.registrations {
		reg.Unregister()
	}
}

// NewTelemetryBuilder provides a struct with methods to update all internal telemetry
// for a component
func NewTelemetryBuilder(settings component.TelemetrySettings, options ...TelemetryBuilderOption) (*TelemetryBuilder, error) {
	builder := TelemetryBuilder{}
	for _, op := range options {
		op.apply(&builder)
	}
	builder.meter = Meter(settings)
	var err, errs error
	builder.ProcessorReleasegateGateErrors, err = builder.meter.Int64Counter(
		"otelcol_processor_releasegate_gate_errors",
		metric.WithDescription("Gate expressions that failed to evaluate on a span, per gate and expression (match counts as no match, assert as a violation)."),
		metric.WithUnit("{span}"),
	)
	errs = errors.Join(errs, err)
	builder.ProcessorReleasegateGateMatches, err = builder.meter.Int64Counter(
		"otelcol_processor_releasegate_gate_matches",
		metric.WithDescription("Spans annotated as matched, per gate."),
		metric.WithUnit("{span}"),
	)
	errs = errors.Join(errs, err)
	builder.ProcessorReleasegateGateViolations, err = builder.meter.Int64Counter(
		"otelcol_processor_releasegate_gate_violations",
		metric.WithDescription("Matched spans whose assert did not hold, per gate (errors included)."),
		metric.WithUnit("{span}"),
	)
	errs = errors.Join(errs, err)
	builder.ProcessorReleasegateSpans, err = builder.meter.Int64Counter(
		"otelcol_processor_releasegate_spans",
		metric.WithDescription("Spans the releasegate processor saw."),
		metric.WithUnit("{span}"),
	)
	errs = errors.Join(errs, err)
	builder.ProcessorReleasegateSpansWithoutRun, err = builder.meter.Int64Counter(
		"otelcol_processor_releasegate_spans_without_run",
		metric.WithDescription("Spans that matched a gate but had no run key; they pass on without annotations."),
		metric.WithUnit("{span}"),
	)
	errs = errors.Join(errs, err)
	return &builder, errs
}
