package metadata

import (
	"errors"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/metric"
)

// Telemetry holds the processor's instruments, created from the component's
// MeterProvider.
type Telemetry struct {
	// Spans counts every span the processor saw.
	Spans metric.Int64Counter
	// SpansWithoutRun counts spans that matched a gate but had no run key;
	// they pass on without annotations.
	SpansWithoutRun metric.Int64Counter
	// GateMatches, GateViolations and GateErrors count per gate (attribute
	// `gate`); GateErrors also says which expression failed (`expression`:
	// match or assert).
	GateMatches    metric.Int64Counter
	GateViolations metric.Int64Counter
	GateErrors     metric.Int64Counter
}

func NewTelemetry(settings component.TelemetrySettings) (*Telemetry, error) {
	meter := settings.MeterProvider.Meter(ScopeName)
	var t Telemetry
	var err, errs error
	t.Spans, err = meter.Int64Counter("otelcol_processor_releasegate_spans",
		metric.WithDescription("Spans the releasegate processor saw."), metric.WithUnit("{span}"))
	errs = errors.Join(errs, err)
	t.SpansWithoutRun, err = meter.Int64Counter("otelcol_processor_releasegate_spans_without_run",
		metric.WithDescription("Spans that matched a gate but had no run key; they pass on without annotations."), metric.WithUnit("{span}"))
	errs = errors.Join(errs, err)
	t.GateMatches, err = meter.Int64Counter("otelcol_processor_releasegate_gate_matches",
		metric.WithDescription("Spans annotated as matched, per gate."), metric.WithUnit("{span}"))
	errs = errors.Join(errs, err)
	t.GateViolations, err = meter.Int64Counter("otelcol_processor_releasegate_gate_violations",
		metric.WithDescription("Matched spans whose assert did not hold, per gate (errors included)."), metric.WithUnit("{span}"))
	errs = errors.Join(errs, err)
	t.GateErrors, err = meter.Int64Counter("otelcol_processor_releasegate_gate_errors",
		metric.WithDescription("Gate expressions that failed to evaluate on a span, per gate and expression (match counts as no match, assert as a violation)."), metric.WithUnit("{span}"))
	errs = errors.Join(errs, err)
	return &t, errs
}
