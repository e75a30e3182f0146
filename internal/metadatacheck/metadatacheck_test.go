package metadatacheck

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// sampleBuilder is a TelemetryBuilder of testdata/metadata.yaml.
type sampleBuilder struct {
	meter                         metric.Meter
	ReceiverSampleHTTPIDCount     metric.Int64Gauge
	ReceiverSampleQueueLength     metric.Float64UpDownCounter
	ReceiverSampleRequestDuration metric.Int64Histogram
	ReceiverSampleRequests        metric.Int64Counter
}

const sampleScope = "github.com/releasegate/releasegate/internal/metadatacheck"

func newSampleBuilder(t testing.TB, tel *componenttest.Telemetry) *sampleBuilder {
	meter := tel.NewTelemetrySettings().MeterProvider.Meter(sampleScope)
	b := &sampleBuilder{meter: meter}
	var err, errs error
	b.ReceiverSampleHTTPIDCount, err = meter.Int64Gauge("otelcol_receiver_sample_http_id_count",
		metric.WithDescription("Distinct HTTP request ids seen."), metric.WithUnit("{id}"))
	errs = errors.Join(errs, err)
	b.ReceiverSampleQueueLength, err = meter.Float64UpDownCounter("otelcol_receiver_sample_queue_length",
		metric.WithDescription("Items queued now."), metric.WithUnit("{item}"))
	errs = errors.Join(errs, err)
	b.ReceiverSampleRequestDuration, err = meter.Int64Histogram("otelcol_receiver_sample_request_duration",
		metric.WithDescription("Time a request took."), metric.WithUnit("ms"),
		metric.WithExplicitBucketBoundaries(1, 10, 100))
	errs = errors.Join(errs, err)
	b.ReceiverSampleRequests, err = meter.Int64Counter("otelcol_receiver_sample_requests",
		metric.WithDescription("Requests received."), metric.WithUnit("{request}"))
	errs = errors.Join(errs, err)
	require.NoError(t, errs)
	return b
}

func newTelemetry(t *testing.T) *componenttest.Telemetry {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	return tel
}

func TestSample(t *testing.T) {
	md := Load(t, filepath.Join("testdata", "metadata.yaml"))
	md.CheckStatus(t, component.MustNewType("sample"), map[string]component.StabilityLevel{
		"traces": component.StabilityLevelAlpha,
		"logs":   component.StabilityLevelBeta,
	})
	tel := newTelemetry(t)
	md.CheckTelemetry(t, tel, sampleScope, newSampleBuilder(t, tel))
	// A disabled metric is left out of the documentation.
	md.CheckDocumentation(t, filepath.Join("testdata", "documentation.md"))
}

func TestCheckAttributes(t *testing.T) {
	md := Load(t, filepath.Join("testdata", "metadata.yaml"))
	tel := newTelemetry(t)
	b := newSampleBuilder(t, tel)
	b.ReceiverSampleRequests.Add(t.Context(), 1, metric.WithAttributes(attribute.String("queue", "q"), attribute.String("outcome", "ok")))
	b.ReceiverSampleQueueLength.Add(t.Context(), 1, metric.WithAttributes(attribute.String("queue", "q")))
	b.ReceiverSampleRequestDuration.Record(t.Context(), 5)
	md.CheckAttributes(t, tel, sampleScope)
}

func TestFieldName(t *testing.T) {
	assert.Equal(t, "ProcessorReleasegateSpansWithoutRun", fieldName("processor_releasegate_spans_without_run"))
	assert.Equal(t, "ReceiverSampleHTTPIDCount", fieldName("receiver_sample_http_id_count"))
	assert.Equal(t, "ExporterReleasegateSinkSent", fieldName("exporter_releasegate_sink_sent"))
}

func TestParseErrors(t *testing.T) {
	const status = "type: sample\nstatus:\n  class: receiver\n  stability:\n    alpha: [traces]\n"
	for _, tt := range []struct {
		name, yaml, err string
	}{
		{"unknown key", status + "telemetri: {}\n", "field telemetri not found"},
		{"no type", "status:\n  class: receiver\n  stability:\n    alpha: [traces]\n", "type: missing"},
		{"bad class", "type: sample\nstatus:\n  class: thing\n  stability:\n    alpha: [traces]\n", "status.class"},
		{"bad stability", "type: sample\nstatus:\n  class: receiver\n  stability:\n    solid: [traces]\n", "unsupported stability level"},
		{"incomplete metric", status + "telemetry:\n  metrics:\n    receiver_sample_x:\n      description: X.\n", "telemetry.metrics.receiver_sample_x: missing enabled"},
		{"no stability", status + "telemetry:\n  metrics:\n    receiver_sample_x:\n      enabled: true\n      description: X.\n      unit: \"1\"\n      sum: {value_type: int, monotonic: true}\n", "missing stability"},
		{"two types", status + "telemetry:\n  metrics:\n    receiver_sample_x:\n      enabled: true\n      stability: alpha\n      description: X.\n      unit: \"1\"\n      sum: {value_type: int}\n      gauge: {value_type: int}\n", "exactly one of sum, gauge and histogram"},
		{"bad value type", status + "telemetry:\n  metrics:\n    receiver_sample_x:\n      enabled: true\n      stability: alpha\n      description: X.\n      unit: \"1\"\n      sum: {value_type: long}\n", "value_type"},
		{"prefixed", status + "telemetry:\n  metrics:\n    otelcol_receiver_sample_x:\n      enabled: true\n      stability: alpha\n      description: X.\n      unit: \"1\"\n      sum: {value_type: int}\n", "leave it out"},
		{"undeclared attribute", status + "telemetry:\n  metrics:\n    receiver_sample_x:\n      enabled: true\n      stability: alpha\n      description: X.\n      unit: \"1\"\n      sum: {value_type: int}\n      attributes: [queue]\n", `attribute "queue" is not under attributes`},
		{"unused attribute", status + "attributes:\n  queue: {description: Q., type: string}\n", "attributes.queue: used by no metric"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse([]byte(tt.yaml))
			require.ErrorContains(t, err, tt.err)
		})
	}
}
