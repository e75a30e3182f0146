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
	// type), invalid_run (a run key over MaxRunIDLength or not UTF-8).
	SpansIgnored metric.Int64Counter
	// UnknownGates counts gate names in annotations that the gates document
	// does not have.
	UnknownGates metric.Int64Counter
	// Per CI status sink (attribute `sink`): messages sent, retried, failed
	// for good, dropped because the queue was full, and events skipped
	// because the sink could not address them (a run without a commit).
	SinkSent    metric.Int64Counter
	SinkRetried metric.Int64Counter
	SinkFailed  metric.Int64Counter
	SinkDropped metric.Int64Counter
	SinkSkipped metric.Int64Counter
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
	var err error
	t.RunsOpen, err = meter.Int64UpDownCounter("otelcol_exporter_releasegate_runs_open",
		metric.WithDescription("Runs open now."), metric.WithUnit("{run}"))
	errs = errors.Join(errs, err)
	t.RunsFinished = counter("otelcol_exporter_releasegate_runs_finished",
		"Runs finished, by cause (api, idle_timeout, max_run_duration).", "{run}")
	t.SpansRefused = counter("otelcol_exporter_releasegate_spans_refused",
		"Spans of new runs refused because max_runs runs were held and none had finished.", "{span}")
	t.RunsEvicted = counter("otelcol_exporter_releasegate_runs_evicted",
		"Finished runs removed before their retention ended, to stay within max_runs.", "{run}")
	t.SpansLate = counter("otelcol_exporter_releasegate_spans_late",
		"Spans that arrived after their run had finished; they do not change its verdict.", "{span}")
	t.SpansIgnored = counter("otelcol_exporter_releasegate_spans_ignored",
		"Spans without usable releasegate annotations, by reason (no_run, malformed, invalid_run).", "{span}")
	t.UnknownGates = counter("otelcol_exporter_releasegate_unknown_gates",
		"Gate names in span annotations that the gates document does not have.", "{gate}")
	t.SinkSent = counter("otelcol_exporter_releasegate_sink_sent",
		"CI status messages delivered, per sink.", "{message}")
	t.SinkRetried = counter("otelcol_exporter_releasegate_sink_retried",
		"CI status deliveries retried, per sink.", "{attempt}")
	t.SinkFailed = counter("otelcol_exporter_releasegate_sink_failed",
		"CI status messages that failed for good (permanent error, retries exhausted, or still queued at shutdown), per sink.", "{message}")
	t.SinkDropped = counter("otelcol_exporter_releasegate_sink_dropped",
		"CI status messages dropped because the sink's queue was full, per sink.", "{message}")
	t.SinkSkipped = counter("otelcol_exporter_releasegate_sink_skipped",
		"Run events a sink could not address (a run without a commit or repository), per sink.", "{event}")
	return &t, errs
}
