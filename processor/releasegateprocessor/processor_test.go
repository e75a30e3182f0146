package releasegateprocessor

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/releasegate/releasegate/annotation"
	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/internal/metadatacheck"
	"github.com/releasegate/releasegate/processor/releasegateprocessor/internal/metadata"
	"github.com/releasegate/releasegate/processor/releasegateprocessor/internal/metadatatest"
)

const testGates = `
gates:
  - name: checkout-latency
    match: name == "POST /checkout"
    assert: duration < duration("300ms")
  - name: checkout-status
    match: resource["service.name"] == "checkout" && kind == "server"
    assert: attributes["http.response.status_code"] < 500
  - name: broken-match
    match: (attributes["retries"] ?? 0) > 2
`

type testSpan struct {
	name     string
	kind     ptrace.SpanKind
	duration time.Duration
	status   int64 // http.response.status_code; 0 leaves it out
	retries  bool  // sets a string "retries" attribute that breaks broken-match
}

// newTraces makes one resource per service, with a run id unless run is "".
func newTraces(service, run string, spans ...testSpan) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	if run != "" {
		rs.Resource().Attributes().PutStr("cicd.pipeline.run.id", run)
	}
	ss := rs.ScopeSpans().AppendEmpty()
	start := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for _, s := range spans {
		span := ss.Spans().AppendEmpty()
		span.SetName(s.name)
		span.SetKind(s.kind)
		span.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		span.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(s.duration)))
		span.Attributes().PutStr("original", "kept")
		if s.status != 0 {
			span.Attributes().PutInt("http.response.status_code", s.status)
		}
		if s.retries {
			span.Attributes().PutStr("retries", "many")
		}
	}
	return td
}

func newProcessor(t *testing.T, gates string, next *consumertest.TracesSink) (processor.Traces, *componenttest.Telemetry) {
	t.Helper()
	doc, err := config.Parse([]byte(gates))
	require.NoError(t, err)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	p, err := NewFactory().CreateTraces(t.Context(), metadatatest.NewSettings(tel), &Config{Gates: doc}, next)
	require.NoError(t, err)
	require.NoError(t, p.Start(t.Context(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	return p, tel
}

// gateOutcomes are a span's gate annotations: gate name to outcome.
func gateOutcomes(t *testing.T, attrs pcommon.Map) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range attrs.All() {
		if name, ok := strings.CutPrefix(k, annotation.GatePrefix); ok {
			require.Equal(t, pcommon.ValueTypeStr, v.Type(), k)
			out[name] = v.Str()
		}
	}
	return out
}

func TestAnnotatesMatchedSpans(t *testing.T) {
	sink := new(consumertest.TracesSink)
	p, _ := newProcessor(t, testGates, sink)

	td := newTraces("checkout", "run-42",
		testSpan{name: "POST /checkout", kind: ptrace.SpanKindServer, duration: 120 * time.Millisecond, status: 200},
		testSpan{name: "POST /checkout", kind: ptrace.SpanKindServer, duration: 450 * time.Millisecond, status: 503},
		testSpan{name: "GET /health", kind: ptrace.SpanKindServer, duration: time.Millisecond},
		testSpan{name: "SELECT orders", kind: ptrace.SpanKindClient, duration: time.Second},
	)
	require.NoError(t, p.ConsumeTraces(t.Context(), td))
	require.Len(t, sink.AllTraces(), 1)
	spans := sink.AllTraces()[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	require.Equal(t, 4, spans.Len(), "every span is passed on")

	fast := spans.At(0).Attributes()
	run, _ := fast.Get(annotation.Run)
	assert.Equal(t, "run-42", run.Str())
	assert.Equal(t, map[string]string{"checkout-latency": "passed", "checkout-status": "passed"}, gateOutcomes(t, fast))
	gate, _ := fast.Get("releasegate.gate.checkout-latency")
	assert.Equal(t, "passed", gate.Str(), "one attribute per gate, named after it")

	slow := spans.At(1).Attributes()
	assert.Equal(t, map[string]string{"checkout-latency": "violated", "checkout-status": "violated"}, gateOutcomes(t, slow))

	// The health check lacks the status attribute: checkout-status's assert
	// errors, which is a violation that says so.
	health := spans.At(2).Attributes()
	assert.Equal(t, map[string]string{"checkout-status": "error"}, gateOutcomes(t, health))

	// A span that matches no gate is not touched.
	query := spans.At(3).Attributes()
	assert.Equal(t, map[string]any{"original": "kept"}, query.AsRaw())
	for i := range 3 {
		v, _ := spans.At(i).Attributes().Get("original")
		assert.Equal(t, "kept", v.Str(), "annotations add to a span's attributes")
	}
}

// A span whose run key is missing is passed on un-gated and counted.
func TestSpanWithoutRunKey(t *testing.T) {
	sink := new(consumertest.TracesSink)
	p, tel := newProcessor(t, testGates, sink)

	td := newTraces("checkout", "", testSpan{name: "POST /checkout", kind: ptrace.SpanKindServer, duration: time.Second, status: 500})
	want := ptrace.NewTraces()
	td.CopyTo(want)
	require.NoError(t, p.ConsumeTraces(t.Context(), td))
	assert.Equal(t, want, sink.AllTraces()[0])

	metadatatest.AssertEqualProcessorReleasegateSpans(t, tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorReleasegateSpansWithoutRun(t, tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
	assert.Equal(t, 2, recordedMetrics(t, tel), "no gate match, violation or error is recorded")
}

// Annotations describe one evaluation: a span that comes through a second
// time keeps no stale error.
func TestReannotation(t *testing.T) {
	sink := new(consumertest.TracesSink)
	p, _ := newProcessor(t, testGates, sink)
	td := newTraces("checkout", "run-1", testSpan{name: "POST /checkout", kind: ptrace.SpanKindServer, duration: time.Millisecond})
	require.NoError(t, p.ConsumeTraces(t.Context(), td))
	attrs := sink.AllTraces()[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes()
	assert.Equal(t, map[string]string{"checkout-latency": "passed", "checkout-status": "error"}, gateOutcomes(t, attrs))

	// Seen again, with its status code and renamed: it now matches only
	// checkout-status, and keeps no annotation of checkout-latency.
	attrs.PutInt("http.response.status_code", 200)
	sink.AllTraces()[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetName("POST /cart")
	require.NoError(t, p.ConsumeTraces(t.Context(), sink.AllTraces()[0]))
	attrs = sink.AllTraces()[1].ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes()
	assert.Equal(t, map[string]string{"checkout-status": "passed"}, gateOutcomes(t, attrs))
}

func TestSelfTelemetry(t *testing.T) {
	sink := new(consumertest.TracesSink)
	p, tel := newProcessor(t, testGates, sink)
	for range 2 {
		require.NoError(t, p.ConsumeTraces(t.Context(), newTraces("checkout", "run-7",
			testSpan{name: "POST /checkout", kind: ptrace.SpanKindServer, duration: 100 * time.Millisecond, status: 200},
			testSpan{name: "POST /checkout", kind: ptrace.SpanKindServer, duration: 400 * time.Millisecond, status: 200, retries: true},
			testSpan{name: "GET /health", kind: ptrace.SpanKindServer},
			testSpan{name: "other", kind: ptrace.SpanKindInternal},
		)))
	}
	metadatatest.AssertEqualProcessorReleasegateSpans(t, tel, []metricdata.DataPoint[int64]{{Value: 8}}, metricdatatest.IgnoreTimestamp())
	// broken-match never matches, so it has no count of its own.
	metadatatest.AssertEqualProcessorReleasegateGateMatches(t, tel, []metricdata.DataPoint[int64]{
		gatePoint(4, "checkout-latency"),
		gatePoint(6, "checkout-status"),
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorReleasegateGateViolations(t, tel, []metricdata.DataPoint[int64]{
		gatePoint(2, "checkout-latency"),
		gatePoint(2, "checkout-status"),
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorReleasegateGateErrors(t, tel, []metricdata.DataPoint[int64]{
		gatePoint(2, "checkout-status", attribute.String("expression", "assert")),
		// "retries" is a string on one span: broken-match fails to evaluate there.
		gatePoint(2, "broken-match", attribute.String("expression", "match")),
	}, metricdatatest.IgnoreTimestamp())
	// Every span had a run key: spans_without_run is the one not recorded.
	assert.Equal(t, 4, recordedMetrics(t, tel))
	metadatacheck.Load(t, "metadata.yaml").CheckAttributes(t, tel, metadata.ScopeName)
}

// gatePoint is a data point of a per-gate count.
func gatePoint(n int64, gate string, attrs ...attribute.KeyValue) metricdata.DataPoint[int64] {
	return metricdata.DataPoint[int64]{
		Attributes: attribute.NewSet(append(attrs, attribute.String("gate", gate))...),
		Value:      n,
	}
}

// recordedMetrics is the number of the processor's metrics that recorded
// anything.
func recordedMetrics(t *testing.T, tel *componenttest.Telemetry) int {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, tel.Reader.Collect(t.Context(), &rm))
	n := 0
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name == metadata.ScopeName {
			n += len(sm.Metrics)
		}
	}
	return n
}

func TestLifecycle(t *testing.T) {
	doc, err := config.Parse([]byte(testGates))
	require.NoError(t, err)
	processortest.VerifyShutdown(t, NewFactory(), &Config{Gates: doc})

	factory := NewFactory()
	assert.Equal(t, metadata.Type, factory.Type())
	assert.Equal(t, metadata.TracesStability, factory.TracesStability())
	p, err := factory.CreateTraces(t.Context(), processortest.NewNopSettings(metadata.Type), &Config{Gates: doc}, consumertest.NewNop())
	require.NoError(t, err)
	assert.True(t, p.Capabilities().MutatesData)
	require.NoError(t, p.Start(t.Context(), componenttest.NewNopHost()))
	require.NoError(t, p.Shutdown(t.Context()))

	_, err = factory.CreateTraces(t.Context(), processortest.NewNopSettings(metadata.Type), factory.CreateDefaultConfig(), consumertest.NewNop())
	require.ErrorContains(t, err, "at least one gate is required")
}
