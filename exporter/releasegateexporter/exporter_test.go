package releasegateexporter

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/metadata"
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/metadatatest"
	"github.com/releasegate/releasegate/internal/metadatacheck"
	"github.com/releasegate/releasegate/internal/runstore"
	"github.com/releasegate/releasegate/internal/runstore/runstoretest"
	"github.com/releasegate/releasegate/internal/traces"
	"github.com/releasegate/releasegate/internal/verdict"
)

func testLimits() runstore.Limits {
	return runstore.Limits{IdleTimeout: 30 * time.Second, MaxRunDuration: time.Hour, Retention: time.Hour, MaxRuns: 100}
}

// newTestStore is a store of gates on a fake clock.
func newTestStore(t testing.TB, gates string, l runstore.Limits) (*runstore.Store, *clockwork.FakeClock) {
	t.Helper()
	c := runstoretest.NewClock()
	return runstore.New(runstoretest.Compile(t, gates), runstore.Settings{Limits: l, Traces: testTraceLimits, Now: c.Now}), c
}

// testTraceLimits are those of the exporter's defaults, for fewer traces.
var testTraceLimits = traces.Limits{IdleTimeout: 10 * time.Second, MaxTraces: 1000, MaxSpansPerTrace: 1000, MaxSpans: 100_000}

// finish finishes a run that the store can hold.
func finish(t testing.TB, s *runstore.Store, key string) verdict.Run {
	t.Helper()
	f, err := s.Finish(key)
	require.NoError(t, err)
	return f.Run
}

// newTestExporter is an exporter on a fake clock, with its API served by an
// httptest server.
func newTestExporter(t *testing.T, l runstore.Limits) (*releasegateExporter, *clockwork.FakeClock, *httptest.Server, *componenttest.Telemetry) {
	t.Helper()
	return newTestExporterOf(t, runstoretest.Gates, l)
}

// newTestExporterOf is newTestExporter judging by the gates document given.
func newTestExporterOf(t *testing.T, gates string, l runstore.Limits) (*releasegateExporter, *clockwork.FakeClock, *httptest.Server, *componenttest.Telemetry) {
	t.Helper()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	cfg := createDefaultConfig().(*Config)
	cfg.RunIdleTimeout, cfg.MaxRunDuration, cfg.Retention, cfg.MaxRuns = l.IdleTimeout, l.MaxRunDuration, l.Retention, l.MaxRuns
	c := runstoretest.NewClock()
	e, err := newExporter(cfg, runstoretest.Compile(t, gates), tel.NewTelemetrySettings(), c)
	require.NoError(t, err)
	server := httptest.NewServer(e.api())
	t.Cleanup(server.Close)
	return e, c, server, tel
}

func call(t *testing.T, method, url string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, body
}

func getRun(t *testing.T, method, url string) verdict.Run {
	t.Helper()
	status, header, body := call(t, method, url)
	require.Equal(t, http.StatusOK, status, string(body))
	assert.Equal(t, "application/json", header.Get("Content-Type"))
	var v verdict.Run
	require.NoError(t, json.Unmarshal(body, &v))
	return v
}

func TestAPI(t *testing.T) {
	e, c, server, _ := newTestExporter(t, testLimits())
	ctx := t.Context()
	require.NoError(t, e.consume(ctx, runstoretest.Traces(runstoretest.Checkout("r-good", 100*time.Millisecond), runstoretest.Checkout("r-good", 120*time.Millisecond))))
	c.Advance(time.Second)
	require.NoError(t, e.consume(ctx, runstoretest.Traces(runstoretest.Checkout("r-bad", 500*time.Millisecond))))

	// Recent runs, newest first, with their status.
	status, _, body := call(t, http.MethodGet, server.URL+"/v1/runs")
	require.Equal(t, http.StatusOK, status)
	var list struct{ Runs []verdict.Run }
	require.NoError(t, json.Unmarshal(body, &list))
	require.Len(t, list.Runs, 2)
	assert.Equal(t, "r-bad", list.Runs[0].Run)
	assert.Equal(t, "r-good", list.Runs[1].Run)
	assert.Equal(t, verdict.Pending, list.Runs[0].Status)

	v := getRun(t, http.MethodGet, server.URL+"/v1/runs/r-good")
	assert.Equal(t, "r-good", v.Run)
	assert.False(t, v.Finished)
	assert.Len(t, v.Gates, 4)

	// Finishing returns the verdict.
	v = getRun(t, http.MethodPost, server.URL+"/v1/runs/r-bad/finish")
	assert.True(t, v.Finished)
	assert.Equal(t, verdict.FinishedByAPI, v.FinishCause)
	assert.Equal(t, verdict.Failed, v.Status)
	latency := runstoretest.Gate(t, v, "checkout-latency")
	assert.Equal(t, verdict.Failed, latency.Status)
	assert.Equal(t, "failed: p95 500ms > 250ms (1 of 1 spans violated duration < 300ms)", latency.Reason)
	assert.InDelta(t, 500.0, latency.Observed.P95Ms, 0.001)
	require.Len(t, latency.Exemplars, 1)
	assert.Equal(t, "POST /checkout", latency.Exemplars[0].Name)

	// The JSON is shaped as documented.
	_, _, body = call(t, http.MethodGet, server.URL+"/v1/runs/r-bad")
	var raw map[string]any
	require.NoError(t, json.Unmarshal(body, &raw))
	for _, key := range []string{"run", "status", "finished", "started_at", "finished_at", "gates"} {
		assert.Contains(t, raw, key)
	}
	g := raw["gates"].([]any)[0].(map[string]any)
	for _, key := range []string{"name", "status", "spans", "violations", "errors", "observed", "condition", "reason", "exemplars"} {
		assert.Contains(t, g, key)
	}
	for _, key := range []string{"p50_ms", "p95_ms", "p99_ms", "max_ms", "violation_ratio"} {
		assert.Contains(t, g["observed"], key)
	}
	passed := raw["gates"].([]any)[1].(map[string]any)
	assert.Equal(t, []any{}, passed["exemplars"], "a list, empty, not null")
}

func TestAPIErrors(t *testing.T) {
	e, _, server, _ := newTestExporter(t, testLimits())
	key := "team/a b/ü?x=1"
	require.NoError(t, e.consume(t.Context(), runstoretest.Traces(runstoretest.Checkout(key, time.Millisecond))))

	// Any run id, URL-escaped into one path segment.
	v := getRun(t, http.MethodGet, server.URL+"/v1/runs/"+url.PathEscape(key))
	assert.Equal(t, key, v.Run)
	v = getRun(t, http.MethodPost, server.URL+"/v1/runs/"+url.PathEscape(key)+"/finish")
	assert.Equal(t, key, v.Run)
	assert.True(t, v.Finished)

	for _, tt := range []struct {
		method, path string
		status       int
		message      string
	}{
		{http.MethodGet, "/v1/runs/nope", http.StatusNotFound, `unknown run "nope"`},
		{http.MethodGet, "/v1/runs/a/b", http.StatusNotFound, "no such endpoint /v1/runs/a/b"},
		{http.MethodPost, "/v1/runs", http.StatusMethodNotAllowed, "method POST not allowed; use GET"},
		{http.MethodDelete, "/v1/runs/x", http.StatusMethodNotAllowed, "method DELETE not allowed; use GET"},
		{http.MethodGet, "/v1/runs/x/finish", http.StatusMethodNotAllowed, "method GET not allowed; use POST"},
		{http.MethodGet, "/nope", http.StatusNotFound, "no such endpoint /nope"},
		{http.MethodGet, "/runs/", http.StatusNotFound, "no such endpoint /runs/"},
		{http.MethodGet, "/static/page-0.css", http.StatusNotFound, "no such endpoint /static/page-0.css"},
	} {
		status, header, body := call(t, tt.method, server.URL+tt.path)
		assert.Equal(t, tt.status, status, "%s %s", tt.method, tt.path)
		assert.Equal(t, "application/json", header.Get("Content-Type"))
		var msg map[string]string
		require.NoError(t, json.Unmarshal(body, &msg), string(body))
		assert.Contains(t, msg["error"], tt.message)
	}
}

func TestAPIFinishRefusedAtMaxRuns(t *testing.T) {
	l := testLimits()
	l.MaxRuns = 1
	e, _, server, _ := newTestExporter(t, l)
	require.NoError(t, e.consume(t.Context(), runstoretest.Traces(runstoretest.Checkout("a", time.Millisecond))))
	status, _, body := call(t, http.MethodPost, server.URL+"/v1/runs/b/finish")
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Contains(t, string(body), `cannot hold run \"b\": max_runs runs are open`)
}

func TestMetrics(t *testing.T) {
	l := testLimits()
	l.Retention = time.Minute
	e, c, server, _ := newTestExporter(t, l)
	require.NoError(t, e.consume(t.Context(), runstoretest.Traces(runstoretest.Checkout("r-bad", 500*time.Millisecond), runstoretest.Checkout("r-bad", 100*time.Millisecond))))
	_, _, _ = call(t, http.MethodPost, server.URL+"/v1/runs/r-bad/finish")
	require.NoError(t, e.consume(t.Context(), runstoretest.Traces(runstoretest.Checkout("r-open", 100*time.Millisecond))))

	families := scrape(t, server.URL)
	status := families["releasegate_gate_status"]
	require.NotNil(t, status)
	value := func(name string, labels map[string]string) (float64, bool) {
		for _, m := range families[name].GetMetric() {
			match := 0
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] == lp.GetValue() {
					match++
				}
			}
			if match == len(labels) {
				switch {
				case m.GetGauge() != nil:
					return m.GetGauge().GetValue(), true
				case m.GetCounter() != nil:
					return m.GetCounter().GetValue(), true
				}
			}
		}
		return 0, false
	}
	for _, st := range verdict.Statuses {
		v, ok := value("releasegate_gate_status", map[string]string{"run": "r-bad", "gate": "checkout-latency", "status": string(st)})
		require.True(t, ok, st)
		assert.Equal(t, oneIf(st == verdict.Failed), v, st)
		v, _ = value("releasegate_gate_status", map[string]string{"run": "r-open", "gate": "checkout-latency", "status": string(st)})
		assert.Equal(t, oneIf(st == verdict.Pending), v, st)
	}
	v, _ := value("releasegate_run_status", map[string]string{"run": "r-bad", "status": "failed"})
	assert.Equal(t, 1.0, v)
	v, _ = value("releasegate_gate_spans_total", map[string]string{"run": "r-bad", "gate": "checkout-latency"})
	assert.Equal(t, 2.0, v)
	v, _ = value("releasegate_gate_violations_total", map[string]string{"run": "r-bad", "gate": "checkout-latency"})
	assert.Equal(t, 1.0, v)
	v, _ = value("releasegate_gate_span_duration_max_seconds", map[string]string{"run": "r-bad", "gate": "checkout-latency"})
	assert.Equal(t, 0.5, v)
	summary := families["releasegate_gate_span_duration_seconds"].GetMetric()
	require.NotEmpty(t, summary)
	assert.Equal(t, uint64(2), summary[0].GetSummary().GetSampleCount())

	// Finished runs leave /metrics after retention.
	c.Advance(2 * time.Minute)
	require.NoError(t, e.consume(t.Context(), runstoretest.Traces(runstoretest.Checkout("r-open", 100*time.Millisecond))))
	e.store.Sweep()
	families = scrape(t, server.URL)
	for _, m := range families["releasegate_gate_status"].GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == "run" {
				assert.Equal(t, "r-open", lp.GetValue())
			}
		}
	}
}

func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	status, header, body := call(t, http.MethodGet, base+"/metrics")
	require.Equal(t, http.StatusOK, status)
	assert.True(t, strings.HasPrefix(header.Get("Content-Type"), "text/plain"))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	require.NoError(t, err)
	return families
}

func TestSelfTelemetry(t *testing.T) {
	l := testLimits()
	l.MaxRuns = 2
	e, c, server, tel := newTestExporter(t, l)
	ctx := t.Context()
	require.NoError(t, e.consume(ctx, runstoretest.Traces(runstoretest.Checkout("a", time.Millisecond), runstoretest.Span{Name: "plain"}, runstoretest.Span{Run: "a", Matched: []string{"from-the-future"}})))
	require.NoError(t, e.consume(ctx, runstoretest.Traces(runstoretest.Checkout("b", time.Millisecond))))
	require.NoError(t, e.consume(ctx, runstoretest.Traces(runstoretest.Checkout("c", time.Millisecond))))
	metadatatest.AssertEqualExporterReleasegateRunsOpen(t, tel, points(2), metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualExporterReleasegateSpansRefused(t, tel, points(1), metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualExporterReleasegateSpansIgnored(t, tel, points(1, "reason", "no_run"), metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualExporterReleasegateUnknownGates(t, tel, points(1), metricdatatest.IgnoreTimestamp())

	_, _, _ = call(t, http.MethodPost, server.URL+"/v1/runs/a/finish")
	c.Advance(time.Minute)
	finished := e.store.Sweep().Finished
	for _, cause := range finished {
		e.recordFinished(ctx, cause)
	}
	require.NoError(t, e.consume(ctx, runstoretest.Traces(runstoretest.Checkout("a", time.Millisecond))))
	metadatatest.AssertEqualExporterReleasegateRunsOpen(t, tel, points(0), metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualExporterReleasegateRunsFinished(t, tel,
		append(points(1, "cause", "api"), points(1, "cause", "idle_timeout")...), metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualExporterReleasegateSpansLate(t, tel, points(1), metricdatatest.IgnoreTimestamp())
	metadatacheck.Load(t, "metadata.yaml").CheckAttributes(t, tel, metadata.ScopeName)
}

// The component runs its own server and sweeps runs in the background: an
// idle run finishes by itself.
func TestComponent(t *testing.T) {
	factory := NewFactory()
	assert.Equal(t, metadata.Type, factory.Type())
	assert.Equal(t, metadata.TracesStability, factory.TracesStability())
	doc, err := config.Parse([]byte(runstoretest.Gates))
	require.NoError(t, err)
	cfg := factory.CreateDefaultConfig().(*Config)
	cfg.Gates = doc
	cfg.RunIdleTimeout = 200 * time.Millisecond
	port := freePort(t)
	cfg.Server.NetAddr.Endpoint = fmt.Sprintf("127.0.0.1:%d", port)

	exp, err := factory.CreateTraces(t.Context(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(t.Context(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()
	assert.False(t, exp.Capabilities().MutatesData)

	require.NoError(t, exp.ConsumeTraces(t.Context(), runstoretest.Traces(runstoretest.Checkout("r", 500*time.Millisecond))))
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		v := getRun(t, http.MethodGet, base+"/v1/runs/r")
		assert.True(c, v.Finished)
		assert.Equal(c, verdict.FinishedIdle, v.FinishCause)
		assert.Equal(c, verdict.Failed, v.Status)
	}, 5*time.Second, 50*time.Millisecond)
}

func TestStartFailsOnBusyPort(t *testing.T) {
	l, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	doc, err := config.Parse([]byte(runstoretest.Gates))
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	cfg.Gates = doc
	cfg.Server.NetAddr.Endpoint = l.Addr().String()
	exp, err := NewFactory().CreateTraces(t.Context(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	assert.Error(t, exp.Start(t.Context(), componenttest.NewNopHost()))
	require.NoError(t, exp.Shutdown(context.Background()))
}

func TestShutdownWithoutStart(t *testing.T) {
	doc, err := config.Parse([]byte(runstoretest.Gates))
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	cfg.Gates = doc
	var exp exporter.Traces
	exp, err = NewFactory().CreateTraces(t.Context(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Shutdown(context.Background()))
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Spans of run keys the store refuses are counted as invalid_run; label
// values on /metrics are run ids (at most runstore.MaxRunIDLength bytes),
// gate names (at most config.MaxGateName) and states.
func TestRunKeyLength(t *testing.T) {
	e, _, server, tel := newTestExporter(t, testLimits())
	longest := strings.Repeat("r", runstore.MaxRunIDLength)
	require.NoError(t, e.consume(t.Context(), runstoretest.Traces(
		runstoretest.Checkout(longest, time.Millisecond),
		runstoretest.Checkout(longest+"r", time.Millisecond),
		runstoretest.Checkout("r-\xff", time.Millisecond),
	)))
	metadatatest.AssertEqualExporterReleasegateSpansIgnored(t, tel, points(2, "reason", "invalid_run"), metricdatatest.IgnoreTimestamp())
	_, err := tel.GetMetric("otelcol_exporter_releasegate_spans_refused")
	assert.Error(t, err, "nothing refused")

	families := scrape(t, server.URL)
	require.NotEmpty(t, families)
	for _, family := range families {
		for _, m := range family.GetMetric() {
			for _, l := range m.GetLabel() {
				assert.LessOrEqual(t, len(l.GetValue()), runstore.MaxRunIDLength, l.GetName())
				if l.GetName() == "run" {
					assert.Equal(t, longest, l.GetValue())
				}
			}
		}
	}
}

// The sweep loop runs on the exporter's clock: a run that received no span
// for run_idle_timeout finishes at the next sweep, without waiting for it.
func TestSweepLoopFinishesIdleRuns(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	cfg := createDefaultConfig().(*Config)
	cfg.Server.NetAddr.Endpoint = "127.0.0.1:0"
	c := runstoretest.NewClock()
	e, err := newExporter(cfg, runstoretest.Compile(t, runstoretest.Gates), tel.NewTelemetrySettings(), c)
	require.NoError(t, err)
	require.NoError(t, e.start(t.Context(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, e.shutdown(context.Background())) }()

	// Waiting: on its ticker; after a sweep, also on the pause after it.
	require.NoError(t, c.BlockUntilContext(t.Context(), 1))
	require.NoError(t, e.consume(t.Context(), runstoretest.Traces(runstoretest.Checkout("r", 500*time.Millisecond))))
	require.NoError(t, c.BlockUntilContext(t.Context(), 2))
	v, _ := e.store.Get("r")
	require.False(t, v.Finished)

	c.Advance(cfg.RunIdleTimeout)
	require.NoError(t, c.BlockUntilContext(t.Context(), 2))
	v, _ = e.store.Get("r")
	assert.True(t, v.Finished)
	assert.Equal(t, verdict.FinishedIdle, v.FinishCause)
	assert.Equal(t, runstoretest.Start.Add(cfg.RunIdleTimeout), *v.FinishedAt)
	metadatatest.AssertEqualExporterReleasegateRunsFinished(t, tel, points(1, "cause", "idle_timeout"), metricdatatest.IgnoreTimestamp())
}

// points is one data point of value v with the attributes given as
// key/value pairs.
func points(v int64, kv ...string) []metricdata.DataPoint[int64] {
	attrs := make([]attribute.KeyValue, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		attrs = append(attrs, attribute.String(kv[i], kv[i+1]))
	}
	return []metricdata.DataPoint[int64]{{Value: v, Attributes: attribute.NewSet(attrs...)}}
}

// Trace gates through the component: spans of one trace in several
// requests, from services tagged with the run and one that is not; the
// CI job finishes the run at once, and the verdict has every trace.
func TestTraceGatesThroughTheComponent(t *testing.T) {
	doc, err := config.Parse([]byte(`
gates:
  - name: no-n-plus-one
    scope: trace
    match: root != nil
    assert: all(spans, len(children(#)) <= 3)
  - name: no-errors-under-frontend
    scope: trace
    match: any(spans, .resource["service.name"] == "frontend")
    assert: none(filter(spans, .resource["service.name"] == "frontend"), any(descendants(#), .status == "error"))
`))
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	cfg.Gates = doc
	cfg.Server.NetAddr.Endpoint = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	require.NoError(t, cfg.Validate())
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	exp, err := NewFactory().CreateTraces(t.Context(), metadatatest.NewSettings(tel), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(t.Context(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()

	// Trace n: frontend → orders → selects SELECTs in db (not tagged with
	// the run); trace 2 ends in an error in db.
	send := func(n byte, service, run string, ids ...[2]byte) {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", service)
		if run != "" {
			rs.Resource().Attributes().PutStr("cicd.pipeline.run.id", run)
		}
		for _, id := range ids {
			sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
			sp.SetTraceID(pcommon.TraceID{15: n})
			sp.SetSpanID(pcommon.SpanID{7: id[0]})
			if id[1] != 0 {
				sp.SetParentSpanID(pcommon.SpanID{7: id[1]})
			}
			if n == 2 && service == "db" {
				sp.Status().SetCode(ptrace.StatusCodeError)
			}
		}
		require.NoError(t, exp.ConsumeTraces(t.Context(), td))
	}
	for n := byte(1); n <= 3; n++ {
		send(n, "frontend", "r", [2]byte{1, 0})
		send(n, "orders", "r", [2]byte{2, 1})
	}
	send(1, "db", "", [2]byte{3, 2}, [2]byte{4, 2})
	send(2, "db", "", [2]byte{3, 2})
	send(3, "db", "", [2]byte{3, 2}, [2]byte{4, 2}, [2]byte{5, 2}, [2]byte{6, 2})

	v := getRun(t, http.MethodPost, "http://"+cfg.Server.NetAddr.Endpoint+"/v1/runs/r/finish")
	n1 := runstoretest.Gate(t, v, "no-n-plus-one")
	assert.Equal(t, 3, n1.Spans, "three traces")
	assert.Equal(t, 1, n1.Violations)
	assert.Equal(t, verdict.Failed, n1.Status)
	errs := runstoretest.Gate(t, v, "no-errors-under-frontend")
	assert.Equal(t, 1, errs.Violations)
	assert.Equal(t, 1, errs.Errors, "one trace with an error span")
	require.Len(t, errs.Exemplars, 1)
	assert.Equal(t, pcommon.TraceID{15: 2}.String(), errs.Exemplars[0].TraceID)

	_, _, body := call(t, http.MethodGet, "http://"+cfg.Server.NetAddr.Endpoint+"/v1/runs/r")
	assert.Contains(t, string(body), `"traces": 3`)
	assert.Contains(t, string(body), `"scope": "trace"`)
	metadatatest.AssertEqualExporterReleasegateTracesJudged(t, tel, points(3, "trigger", "run_finished"), metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
	metadatatest.AssertEqualExporterReleasegateTracesBuffered(t, tel, points(0), metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
}
