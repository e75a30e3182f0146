package metadata

import (
	"errors"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/metric"
)

// Telemetry holds the exporter's instruments, created from the component's
// MeterProvider.
type Telemetry struct {
	// RunsOpen is the number of runs open now.
	RunsOpen metric.Int64UpDownCounter
	// RunsFinished counts finished runs by `cause`: api, idle_timeout,
	// max_run_duration.
	RunsFinished metric.Int64Counter
	// SpansRefused counts spans of new runs refused because max_runs runs
	// were held and none had finished; RunsEvicted counts finished runs
	// removed before their retention ended, to make room.
	SpansRefused metric.Int64Counter
	RunsEvicted  metric.Int64Counter
	// SpansLate counts spans of runs that had already finished.
	SpansLate metric.Int64Counter
	// SpansIgnored counts spans without a usable releasegate.run, by
	// `reason`: no_run (not annotated), malformed (annotations of the wrong
	// type).
	SpansIgnored metric.Int64Counter
	// UnknownGates counts gate names in annotations that the gates document
	// does not have.
	UnknownGates metric.Int64Counter
}

func NewTelemetry(settings component.TelemetrySettings) (*Telemetry, error) {
	meter := settings.MeterProvider.Meter(ScopeName)
	var t Telemetry
	var err, errs error
	t.RunsOpen, err = meter.Int64UpDownCounter("otelcol_exporter_releasegate_runs_open",
		metric.WithDescription("Runs open now."), metric.WithUnit("{run}"))
	errs = errors.Join(errs, err)
	t.RunsFinished, err = meter.Int64Counter("otelcol_exporter_releasegate_runs_finished",
		metric.WithDescription("Runs finished, by cause (api, idle_timeout, max_run_duration)."), metric.WithUnit("{run}"))
	errs = errors.Join(errs, err)
	t.SpansRefused, err = meter.Int64Counter("otelcol_exporter_releasegate_spans_refused",
		metric.WithDescription("Spans of new runs refused because max_runs runs were held and none had finished."), metric.WithUnit("{span}"))
	errs = errors.Join(errs, err)
	t.RunsEvicted, err = meter.Int64Counter("otelcol_exporter_releasegate_runs_evicted",
		metric.WithDescription("Finished runs removed before their retention ended, to stay within max_runs."), metric.WithUnit("{run}"))
	errs = errors.Join(errs, err)
	t.SpansLate, err = meter.Int64Counter("otelcol_exporter_releasegate_spans_late",
		metric.WithDescription("Spans that arrived after their run had finished; they do not change its verdict."), metric.WithUnit("{span}"))
	errs = errors.Join(errs, err)
	t.SpansIgnored, err = meter.Int64Counter("otelcol_exporter_releasegate_spans_ignored",
		metric.WithDescription("Spans without usable releasegate annotations, by reason (no_run, malformed)."), metric.WithUnit("{span}"))
	errs = errors.Join(errs, err)
	t.UnknownGates, err = meter.Int64Counter("otelcol_exporter_releasegate_unknown_gates",
		metric.WithDescription("Gate names in span annotations that the gates document does not have."), metric.WithUnit("{gate}"))
	errs = errors.Join(errs, err)
	return &t, errs
}
