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
	var errs error
	counter := func(name, description, unit string) metric.Int64Counter {
		c, err := meter.Int64Counter(name, metric.WithDescription(description), metric.WithUnit(unit))
		errs = errors.Join(errs, err)
		return c
	}
	t.Spans = counter("otelcol_processor_releasegate_spans",
		"Spans the releasegate processor saw.", "{span}")
	t.SpansWithoutRun = counter("otelcol_processor_releasegate_spans_without_run",
		"Spans that matched a gate but had no run key; they pass on without annotations.", "{span}")
	t.GateMatches = counter("otelcol_processor_releasegate_gate_matches",
		"Spans annotated as matched, per gate.", "{span}")
	t.GateViolations = counter("otelcol_processor_releasegate_gate_violations",
		"Matched spans whose assert did not hold, per gate (errors included).", "{span}")
	t.GateErrors = counter("otelcol_processor_releasegate_gate_errors",
		"Gate expressions that failed to evaluate on a span, per gate and expression (match counts as no match, assert as a violation).", "{span}")
	return &t, errs
}
