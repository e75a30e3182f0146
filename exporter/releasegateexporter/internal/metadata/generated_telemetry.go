package metadata

import (
	"errors"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/metric"
)

func Meter(settings component.TelemetrySettings) metric.Meter {
	return settings.MeterProvider.Meter("github.com/releasegate/releasegate/exporter/releasegateexporter")
}

// TelemetryBuilder provides an interface for components to report telemetry
// as defined in metadata and user config.
type TelemetryBuilder struct {
	meter                               metric.Meter
	mu                                  sync.Mutex
	registrations                       []metric.Registration
	ExporterReleasegateRunsEvicted      metric.Int64Counter
	ExporterReleasegateRunsFinished     metric.Int64Counter
	ExporterReleasegateRunsOpen         metric.Int64UpDownCounter
	ExporterReleasegateRunsSaved        metric.Int64Counter
	ExporterReleasegateSeriesEvicted    metric.Int64Counter
	ExporterReleasegateSinkDropped      metric.Int64Counter
	ExporterReleasegateSinkFailed       metric.Int64Counter
	ExporterReleasegateSinkRetried      metric.Int64Counter
	ExporterReleasegateSinkSent         metric.Int64Counter
	ExporterReleasegateSinkSkipped      metric.Int64Counter
	ExporterReleasegateSpansIgnored     metric.Int64Counter
	ExporterReleasegateSpansLate        metric.Int64Counter
	ExporterReleasegateSpansRefused     metric.Int64Counter
	ExporterReleasegateUnknownGates     metric.Int64Counter
	ExporterReleasegateTraceSpansLate   metric.Int64Counter
	ExporterReleasegateTracesBuffered   metric.Int64UpDownCounter
	ExporterReleasegateTracesJudged     metric.Int64Counter
	ExporterReleasegateTracesLate       metric.Int64Counter
	ExporterReleasegateTracesTooLarge   metric.Int64Counter
	ExporterReleasegateTracesWithoutRun metric.Int64Counter
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
	builder.ExporterReleasegateRunsEvicted, err = builder.meter.Int64Counter(
		"otelcol_exporter_releasegate_runs_evicted",
		metric.WithDescription("Finished runs removed before their retention ended, to stay within max_runs."),
		metric.WithUnit("{run}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterReleasegateRunsFinished, err = builder.meter.Int64Counter(
		"otelcol_exporter_releasegate_runs_finished",
		metric.WithDescription("Runs finished, by cause (api, idle_timeout, max_run_duration)."),
		metric.WithUnit("{run}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterReleasegateRunsOpen, err = builder.meter.Int64UpDownCounter(
		"otelcol_exporter_releasegate_runs_open",
		metric.WithDescription("Runs open now."),
		metric.WithUnit("{run}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterReleasegateRunsSaved, err = builder.meter.Int64Counter(
		"otelcol_exporter_releasegate_runs_saved",
		metric.WithDescription("Run records written to the storage extension."),
		metric.WithUnit("{run}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterReleasegateSeriesEvicted, err = builder.meter.Int64Counter(
		"otelcol_exporter_releasegate_series_evicted",
		metric.WithDescription("Series of runs forgotten with their baselines, least recently used first, to stay within max_series."),
		metric.WithUnit("{series}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterReleasegateSinkDropped, err = builder.meter.Int64Counter(
		"otelcol_exporter_releasegate_sink_dropped",
		metric.WithDescription("CI status messages dropped because the sink's queue was full, per sink."),
		metric.WithUnit("{message}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterReleasegateSinkFailed, err = builder.meter.Int64Counter(
		"otelcol_exporter_releasegate_sink_failed",
		metric.WithDescription("CI status messages that failed for good (permanent error, retries exhausted, or still queued at shutdown), per sink."),
		metric.WithUnit("{message}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterReleasegateSinkRetried, err = builder.meter.Int64Counter(
		"otelcol_exporter_releasegate_sink_retried",
		metric.WithDescription("CI status deliveries retried, per sink."),
		metric.WithUnit("{attempt}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterReleasegateSinkSent, err = builder.meter.Int64Counter(
		"otelcol_exporter_releasegate_sink_sent",
		metric.WithDescription("CI status messages delivered, per sink."),
		metric.WithUnit("{message}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterReleasegateSinkSkipped, err = builder.meter.Int64Counter(
		"otelcol_exporter_releasegate_sink_skipped",
		metric.WithDescription("Run events a sink could not address (a run without a commit or repository), per sink."),
		metric.WithUnit("{event}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterReleasegateSpansIgnored, err = builder.meter.Int64Counter(
		"otelcol_exporter_releasegate_spans_ignored",
		metric.WithDescription("Spans without usable releasegate annotations, by reason (no_run, malformed, invalid_run)."),
		metric.WithUnit("{span}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterReleasegateSpansLate, err = builder.meter.Int64Counter(
		"otelcol_exporter_releasegate_spans_late",
		metric.WithDescription("Spans that arrived after their run had finished; they do not change its verdict."),
		metric.WithUnit("{span}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterReleasegateSpansRefused, err = builder.meter.Int64Counter(
		"otelcol_exporter_releasegate_spans_refused",
		metric.WithDescription("Spans of new runs refused because max_runs runs were held and none had finished."),
		metric.WithUnit("{span}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterReleasegateUnknownGates, err = builder.meter.Int64Counter(
		"otelcol_exporter_releasegate_unknown_gates",
		metric.WithDescription("Gate names in span annotations that the gates document does not have."),
		metric.WithUnit("{gate}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterReleasegateTraceSpansLate, err = builder.meter.Int64Counter(
		"otelcol_exporter_releasegate_trace_spans_late",
		metric.WithDescription("Spans of traces already judged; they do not change a verdict."),
		metric.WithUnit("{span}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterReleasegateTracesBuffered, err = builder.meter.Int64UpDownCounter(
		"otelcol_exporter_releasegate_traces_buffered",
		metric.WithDescription("Traces buffered for trace gates now."),
		metric.WithUnit("{trace}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterReleasegateTracesJudged, err = builder.meter.Int64Counter(
		"otelcol_exporter_releasegate_traces_judged",
		metric.WithDescription("Traces judged by trace gates, by trigger (trace_idle, run_finished, buffer_full)."),
		metric.WithUnit("{trace}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterReleasegateTracesLate, err = builder.meter.Int64Counter(
		"otelcol_exporter_releasegate_traces_late",
		metric.WithDescription("Traces judged after their run had finished; they do not change its verdict."),
		metric.WithUnit("{trace}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterReleasegateTracesTooLarge, err = builder.meter.Int64Counter(
		"otelcol_exporter_releasegate_traces_too_large",
		metric.WithDescription("Traces with more spans than max_spans_per_trace, judged as violations of the trace gates they match."),
		metric.WithUnit("{trace}"),
	)
	errs = errors.Join(errs, err)
	builder.ExporterReleasegateTracesWithoutRun, err = builder.meter.Int64Counter(
		"otelcol_exporter_releasegate_traces_without_run",
		metric.WithDescription("Traces none of whose spans had a run key; no run judges them."),
		metric.WithUnit("{trace}"),
	)
	errs = errors.Join(errs, err)
	return &builder, errs
}
