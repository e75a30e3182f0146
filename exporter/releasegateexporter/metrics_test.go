package releasegateexporter

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/proto"

	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/internal/runstore"
	"github.com/releasegate/releasegate/internal/runstore/runstoretest"
	"github.com/releasegate/releasegate/internal/verdict"
)

// referenceCollector is how /metrics was rendered before it was written
// directly: a client_golang collector. The tests hold the direct writer to
// its output.
type referenceCollector struct{ samples runstore.Samples }

var (
	gateStatusDesc = prometheus.NewDesc("releasegate_gate_status",
		"State of a gate in a run: 1 for the current state, 0 for the others.", []string{"run", "gate", "status"}, nil)
	runStatusDesc = prometheus.NewDesc("releasegate_run_status",
		"State of a run (its worst gate): 1 for the current state, 0 for the others.", []string{"run", "status"}, nil)
	baselineDurationsDesc = prometheus.NewDesc("releasegate_gate_baseline_duration_seconds",
		"Durations of the spans (traces) the gate matched in the run's baseline.", []string{"run", "gate"}, nil)
	latencyRatioDescs = [3]*prometheus.Desc{
		prometheus.NewDesc("releasegate_gate_latency_ratio", "The run's durations ÷ its baseline's: the Hodges–Lehmann estimate.", []string{"run", "gate"}, nil),
		prometheus.NewDesc("releasegate_gate_latency_ratio_low", "Low bound of the 95% confidence interval of releasegate_gate_latency_ratio.", []string{"run", "gate"}, nil),
		prometheus.NewDesc("releasegate_gate_latency_ratio_high", "High bound of the 95% confidence interval of releasegate_gate_latency_ratio.", []string{"run", "gate"}, nil),
	}
)

// scopeDescs are the families of the gates of one scope.
type scopeDescs struct{ matched, violations, errors, durations, max *prometheus.Desc }

var referenceDescs = map[config.Scope]scopeDescs{
	config.ScopeSpan: {
		matched:    prometheus.NewDesc("releasegate_gate_spans_total", "Spans the gate matched in the run.", []string{"run", "gate"}, nil),
		violations: prometheus.NewDesc("releasegate_gate_violations_total", "Matched spans whose assert did not hold.", []string{"run", "gate"}, nil),
		errors:     prometheus.NewDesc("releasegate_gate_error_spans_total", "Matched spans with status error.", []string{"run", "gate"}, nil),
		durations:  prometheus.NewDesc("releasegate_gate_span_duration_seconds", "Durations of the spans the gate matched in the run.", []string{"run", "gate"}, nil),
		max:        prometheus.NewDesc("releasegate_gate_span_duration_max_seconds", "Longest span the gate matched in the run.", []string{"run", "gate"}, nil),
	},
	config.ScopeTrace: {
		matched:    prometheus.NewDesc("releasegate_gate_traces_total", "Traces the gate matched in the run.", []string{"run", "gate"}, nil),
		violations: prometheus.NewDesc("releasegate_gate_trace_violations_total", "Matched traces whose assert did not hold.", []string{"run", "gate"}, nil),
		errors:     prometheus.NewDesc("releasegate_gate_error_traces_total", "Matched traces with a span of status error.", []string{"run", "gate"}, nil),
		durations:  prometheus.NewDesc("releasegate_gate_trace_duration_seconds", "Durations of the traces the gate matched in the run.", []string{"run", "gate"}, nil),
		max:        prometheus.NewDesc("releasegate_gate_trace_duration_max_seconds", "Longest trace the gate matched in the run.", []string{"run", "gate"}, nil),
	},
}

func (c referenceCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- gateStatusDesc
	ch <- runStatusDesc
	ch <- baselineDurationsDesc
	for _, desc := range latencyRatioDescs {
		ch <- desc
	}
	for _, d := range referenceDescs {
		for _, desc := range []*prometheus.Desc{d.matched, d.violations, d.errors, d.durations, d.max} {
			ch <- desc
		}
	}
}

func (c referenceCollector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.samples.Runs {
		for _, st := range verdict.Statuses {
			ch <- prometheus.MustNewConstMetric(runStatusDesc, prometheus.GaugeValue, oneIf(st == r.Status), r.Key, string(st))
		}
		for i, g := range r.Gates {
			name, d := c.samples.Gates[i], referenceDescs[c.samples.Scopes[i]]
			for _, st := range verdict.Statuses {
				ch <- prometheus.MustNewConstMetric(gateStatusDesc, prometheus.GaugeValue, oneIf(st == g.Status), r.Key, name, string(st))
			}
			ch <- prometheus.MustNewConstMetric(d.matched, prometheus.CounterValue, float64(g.Spans), r.Key, name)
			ch <- prometheus.MustNewConstMetric(d.violations, prometheus.CounterValue, float64(g.Violations), r.Key, name)
			ch <- prometheus.MustNewConstMetric(d.errors, prometheus.CounterValue, float64(g.ErrorSpans), r.Key, name)
			quantiles := make(map[float64]float64, len(runstore.SummaryQuantiles))
			for j, q := range runstore.SummaryQuantiles {
				quantiles[q] = g.Quantiles[j].Seconds()
			}
			ch <- prometheus.MustNewConstSummary(d.durations, uint64(g.Count), g.Sum/1e9, quantiles, r.Key, name)
			ch <- prometheus.MustNewConstMetric(d.max, prometheus.GaugeValue, g.Max.Seconds(), r.Key, name)
			if g.Compared {
				quantiles := make(map[float64]float64, len(runstore.SummaryQuantiles))
				for j, q := range runstore.SummaryQuantiles {
					quantiles[q] = g.Baseline.Quantiles[j].Seconds()
				}
				ch <- prometheus.MustNewConstSummary(baselineDurationsDesc, uint64(g.Baseline.Count), g.Baseline.Sum/1e9, quantiles, r.Key, name)
				for j, desc := range latencyRatioDescs {
					ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, g.LatencyRatio[j], r.Key, name)
				}
			}
		}
	}
}

func referenceRegistry(s runstore.Samples) *prometheus.Registry {
	registry := prometheus.NewRegistry()
	registry.MustRegister(referenceCollector{samples: s})
	return registry
}

func referenceHandler(s runstore.Samples) http.Handler {
	return promhttp.HandlerFor(referenceRegistry(s), promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Gate names in neither alphabetical nor any other order, so that the
// order of the series is checked.
const equivalenceGates = `
gates:
  - name: z-last
    match: name == "POST /checkout"
    assert: duration < duration("300ms")
    fail: p95 > duration("250ms")
    warn: p95 > duration("200ms")
  - name: a.first
    match: kind == "server"
    assert: status != "error"
  - name: m_0
    match: kind == "server"
    fail: violations > 2 || error_ratio > 0.5
    min_spans: 3
  - name: "9"
    match: name == "none"
  - name: t.trace
    scope: trace
    match: root != nil
    assert: duration < duration("100ms")
`

// equivalenceSamples are those of runs of every state, exact and sketched
// durations, run ids that need escaping and values at the edges of float
// formatting.
func equivalenceSamples(t testing.TB) runstore.Samples {
	s, c := newTestStore(t, equivalenceGates, testLimits())
	all := []string{"z-last", "a.first", "m_0"}
	spans := func(run string, n int, d func(i int) time.Duration) {
		var batch []runstoretest.Span
		for i := range n {
			sp := runstoretest.Span{Run: run, Name: "POST /checkout", Duration: d(i), Matched: all}
			if sp.Duration >= 300*time.Millisecond {
				sp.Violated = all[:1]
			}
			if i%7 == 3 {
				sp.Status = ptrace.StatusCodeError
			}
			batch = append(batch, sp)
		}
		s.Record(runstoretest.Traces(batch...))
	}
	ms := func(v int) func(int) time.Duration {
		return func(i int) time.Duration { return time.Duration(v*(i+1)) * time.Millisecond }
	}
	// Finished first: their verdicts are final.
	spans("r-passed", 5, ms(10))
	spans("r-failed", 4, ms(150))
	spans("r-sketch", 1000, func(i int) time.Duration { return time.Duration(i*7919%2000+1) * 137 * time.Microsecond })
	spans(`quote"d`, 2, ms(3))
	spans(`back\slash\`, 2, ms(3))
	spans("new\nline\n", 2, ms(3))
	spans("ünïcödé ✓ 日本", 2, ms(3))
	spans(`{run="x",gate="y"} 1`+"\t\r", 2, ms(3))
	spans(strings.Repeat("ß", runstore.MaxRunIDLength/2), 1, ms(1))
	c.Advance(time.Minute)
	s.Sweep()
	finish(t, s, "r-never-spanned")
	// Still open.
	spans("r-open", 3, ms(100))
	spans("r-open-sketch", 300, func(i int) time.Duration { return time.Duration(i) * time.Millisecond })
	s.Record(runstoretest.Traces(runstoretest.Span{Run: "r-unmatched", Name: "GET /"}))

	// Every state, and values past what a test run records.
	samples := s.Samples()
	run := func(key string) []runstore.GateSample {
		i := slices.IndexFunc(samples.Runs, func(r runstore.RunSample) bool { return r.Key == key })
		require.GreaterOrEqual(t, i, 0, key)
		return samples.Runs[i].Gates
	}
	edge := run("r-passed")
	for i, st := range verdict.Statuses[:4] {
		edge[i].Status = st
	}
	edge = run("r-failed")
	edge[0].Status, edge[1].Status = verdict.Inconclusive, verdict.Error
	g := &edge[0]
	g.Spans, g.Violations, g.ErrorSpans = 1_000_000, 123_456, 1_234_567
	g.Count, g.Sum = 999_999_999, math.MaxFloat64
	g.Max = math.MaxInt64
	g = &edge[1]
	g.Spans, g.Sum, g.Max = 1<<53+1, math.Inf(1), 1
	edge[2].Sum = math.NaN()
	edge[3].Sum = math.Inf(-1)
	edge[4].Sum, edge[4].Max = math.Inf(1), math.MaxInt64
	// Gates compared with a baseline, of both scopes.
	for _, g := range []*runstore.GateSample{&run("r-passed")[0], &run("r-sketch")[2], &run("r-passed")[4]} {
		g.Compared = true
		g.LatencyRatio = [3]float64{1.3412, 1.29, 1.39}
		g.Baseline = runstore.DurationSample{Count: 398, Sum: 1.25e11, Quantiles: [4]time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 250 * time.Millisecond, time.Second}}
	}
	return samples
}

// samplesOf serves fixed samples, as a store would.
func samplesOf(s runstore.Samples) func() runstore.Samples {
	return func() runstore.Samples { return s }
}

func serve(t testing.TB, h http.Handler, target string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	return rec
}

// /metrics shows what client_golang's registry showed of the same runs:
// the same families, and the same text.
func TestMetricsAsClientGolang(t *testing.T) {
	s := equivalenceSamples(t)
	want, err := referenceRegistry(s).Gather()
	require.NoError(t, err)
	require.Len(t, want, len(metricFamilies))

	rec := serve(t, metricsHandler(samplesOf(s)), "/metrics")
	assert.Equal(t, "text/plain; version=0.0.4; charset=utf-8", rec.Header().Get("Content-Type"))
	assert.Empty(t, rec.Header().Get("Content-Encoding"))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	got, err := parser.TextToMetricFamilies(bytes.NewReader(rec.Body.Bytes()))
	require.NoError(t, err)
	assert.Len(t, got, len(want))
	series := 0
	for _, w := range want {
		g := got[w.GetName()]
		require.NotNil(t, g, w.GetName())
		require.Len(t, g.GetMetric(), len(w.GetMetric()), w.GetName())
		for i := range w.GetMetric() {
			assert.True(t, proto.Equal(w.GetMetric()[i], g.GetMetric()[i]), "%s\nwant %v\ngot  %v", w.GetName(), w.GetMetric()[i], g.GetMetric()[i])
		}
		assert.True(t, proto.Equal(w, g), w.GetName())
		series += len(w.GetMetric())
	}
	// Per gate: 6 states, 3 counters, the summary and the maximum; per gate
	// compared with a baseline, its summary and 3 ratios; per run, 6 states.
	assert.Equal(t, len(s.Runs)*(len(s.Gates)*11+6)+3*4, series, "summaries counted once")
	assert.Contains(t, rec.Body.String(), `releasegate_gate_traces_total{gate="t.trace",run="r-passed"} 5`)

	// Byte for byte, so in the same order too.
	var text bytes.Buffer
	for _, w := range want {
		_, err := expfmt.MetricFamilyToText(&text, w)
		require.NoError(t, err)
	}
	assert.Equal(t, text.String(), rec.Body.String())
	assert.Equal(t, serve(t, referenceHandler(s), "/metrics", "Accept-Encoding", "identity").Body.String(), rec.Body.String())
}

// Values are spelled as expfmt spells them.
func TestMetricsValues(t *testing.T) {
	for _, v := range []float64{
		0, math.Copysign(0, -1), 1, -1, 2, 0.5, 0.95, 1e-3, 1e-4, 1e-5, 123456, 999999, 1e6, 1234567, 1 << 53, 1<<53 + 2,
		1e21, 1e22, math.MaxInt64, math.MaxFloat64, math.SmallestNonzeroFloat64, 0.1 + 0.2, 9.223372036854776e9,
		math.NaN(), math.Inf(1), math.Inf(-1),
	} {
		var want bytes.Buffer
		_, err := expfmt.MetricFamilyToText(&want, &dto.MetricFamily{
			Name: proto.String("m"), Type: dto.MetricType_GAUGE.Enum(),
			Metric: []*dto.Metric{{Label: []*dto.LabelPair{{Name: proto.String("run"), Value: proto.String("r")}}, Gauge: &dto.Gauge{Value: proto.Float64(v)}}},
		})
		require.NoError(t, err)
		var got bytes.Buffer
		w := textWriter{bufio.NewWriter(&got)}
		w.header("m", "", "gauge")
		w.runSample("m", "r", "", v)
		require.NoError(t, w.Flush())
		_, wantLine, _ := strings.Cut(want.String(), "\n")
		_, gotLine, _ := strings.Cut(got.String(), "\n")
		_, gotLine, _ = strings.Cut(gotLine, "\n")
		assert.Equal(t, wantLine, gotLine, "%v", v)
	}
}

func TestMetricsHandler(t *testing.T) {
	s := equivalenceSamples(t)
	h, ref := metricsHandler(samplesOf(s)), referenceHandler(s)
	plain := serve(t, h, "/metrics").Body.String()

	t.Run("gzip", func(t *testing.T) {
		for header, gzipped := range map[string]bool{
			"gzip": true, "GZIP": true, "br, gzip;q=0.5": true, "deflate, gzip ; q=1.0": true, "gzip;q=x": true,
			"": false, "identity": false, "gzip;q=0": false, "gzip; q=0.000": false, "br, zstd": false, "gzipped": false,
		} {
			rec := serve(t, h, "/metrics", "Accept-Encoding", header)
			assert.Equal(t, "Accept-Encoding", rec.Header().Get("Vary"), header)
			if !gzipped {
				assert.Empty(t, rec.Header().Get("Content-Encoding"), header)
				assert.Equal(t, plain, rec.Body.String(), header)
				continue
			}
			assert.Equal(t, "gzip", rec.Header().Get("Content-Encoding"), header)
			zr, err := gzip.NewReader(rec.Body)
			require.NoError(t, err)
			body, err := io.ReadAll(zr)
			require.NoError(t, err)
			assert.Equal(t, plain, string(body), header)
		}
	})

	t.Run("name[]", func(t *testing.T) {
		for _, query := range []string{
			"name[]=releasegate_run_status",
			"name[]=releasegate_gate_span_duration_seconds&name[]=releasegate_gate_status",
			"name[]=releasegate_gate_span_duration_seconds_sum",
			"name[]=nothing",
			"other=releasegate_run_status",
		} {
			want := serve(t, ref, "/metrics?"+query, "Accept-Encoding", "identity").Body.String()
			assert.Equal(t, want, serve(t, h, "/metrics?"+query).Body.String(), query)
		}
	})

	t.Run("HEAD", func(t *testing.T) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/metrics", nil))
		assert.Equal(t, http.StatusOK, rec.Code)
		assert.Equal(t, metricsContentType, rec.Header().Get("Content-Type"))
		assert.Empty(t, rec.Body.String())
	})

	t.Run("other methods", func(t *testing.T) {
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(method, "/metrics", nil))
			assert.Equal(t, http.StatusMethodNotAllowed, rec.Code, method)
			assert.Equal(t, "GET, HEAD", rec.Header().Get("Allow"))
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			var body map[string]string
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
			assert.Equal(t, "method "+method+" not allowed; use GET", body["error"])
		}
	})

	t.Run("no runs", func(t *testing.T) {
		empty, _ := newTestStore(t, equivalenceGates, testLimits())
		assert.Empty(t, serve(t, metricsHandler(empty.Samples), "/metrics").Body.String())
		assert.Empty(t, serve(t, referenceHandler(empty.Samples()), "/metrics").Body.String())
	})
}

// A scrape the client left stops early, instead of rendering the rest.
func TestMetricsStopWhenTheClientLeaves(t *testing.T) {
	s := scrapeStore(t, 100, 20)
	w := &failingWriter{after: 100 << 10}
	sticky := &stickyWriter{w: w}
	bw := bufio.NewWriterSize(sticky, 64<<10)
	checks, late := 0, 0
	writeMetrics(bw, s.Samples(), nil, func() bool {
		checks++
		if sticky.err != nil {
			late++
		}
		return sticky.err != nil
	})
	assert.Error(t, bw.Flush())
	assert.Equal(t, 2, w.calls, "one write that went through, one that failed")
	assert.Equal(t, 1, late, "stopped at the first check after the failure")
	assert.Less(t, checks, 6*20, "checked once per gate of the gate families")
}

type failingWriter struct {
	after, written int64
	calls          int
}

func (f *failingWriter) Write(p []byte) (int, error) {
	f.calls++
	if f.written+int64(len(p)) > f.after {
		return 0, io.ErrClosedPipe
	}
	f.written += int64(len(p))
	return len(p), nil
}

var scrapeLarge = flag.Bool("scrape.large", false, "BenchmarkScrape: also 10,000 runs × 20 gates (minutes and GiBs for the reference)")

// BenchmarkScrape compares one scrape of /metrics as client_golang's
// registry rendered it (reference) and as written now, with and without
// gzip. bytes/op is the response body; heap-MiB the heap's peak over its
// size before the scrapes, garbage included.
func BenchmarkScrape(b *testing.B) {
	sizes := []int{1000}
	if *scrapeLarge {
		sizes = append(sizes, 10_000)
	}
	for _, runs := range sizes {
		s := scrapeStore(b, runs, 20)
		for _, h := range []struct {
			name    string
			handler http.Handler
		}{{"reference", referenceHandler(s.Samples())}, {"direct", metricsHandler(s.Samples)}} {
			for _, encoding := range []string{"identity", "gzip"} {
				b.Run(fmt.Sprintf("runs=%d/%s/%s", runs, h.name, encoding), func(b *testing.B) {
					req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
					req.Header.Set("Accept-Encoding", encoding)
					var w countingResponse
					b.ReportAllocs()
					peak := watchHeap()
					for b.Loop() {
						w = countingResponse{header: http.Header{}}
						h.handler.ServeHTTP(&w, req)
					}
					b.ReportMetric(float64(peak())/(1<<20), "heap-MiB")
					b.ReportMetric(float64(w.n), "bytes/op")
				})
			}
		}
		b.Run(fmt.Sprintf("runs=%d/copy", runs), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.Samples()
			}
		})
	}
}

// scrapeStore holds runs × gates: half finished, half open, one run in a
// hundred with its durations in sketches.
func scrapeStore(t testing.TB, runs, gates int) *runstore.Store {
	t.Helper()
	var doc strings.Builder
	doc.WriteString("gates:\n")
	all := make([]string, gates)
	for i := range gates {
		all[i] = fmt.Sprint("gate-", i)
		fmt.Fprintf(&doc, "  - {name: %s, match: 'true', assert: 'duration < duration(\"100ms\")', fail: 'p95 > duration(\"250ms\")'}\n", all[i])
	}
	s, c := newTestStore(t, doc.String(), runstore.Limits{IdleTimeout: time.Minute, MaxRunDuration: time.Hour, Retention: time.Hour, MaxRuns: runs})
	for r := range runs {
		n := 5
		if r%100 == 0 {
			n = 200
		}
		spans := make([]runstoretest.Span, n)
		for i := range spans {
			spans[i] = runstoretest.Span{Run: fmt.Sprintf("load-%05d", r), Duration: time.Duration((r+i)*7919%300) * time.Millisecond, Matched: all}
			if spans[i].Duration >= 100*time.Millisecond {
				spans[i].Violated = all[:1+i%gates]
			}
		}
		s.Record(runstoretest.Traces(spans...))
		if r == runs/2 {
			c.Advance(2 * time.Minute)
			s.Sweep()
		}
	}
	require.Len(t, s.List(), runs)
	return s
}

type countingResponse struct {
	header http.Header
	n      int64
}

func (c *countingResponse) Header() http.Header { return c.header }
func (c *countingResponse) WriteHeader(int)     {}
func (c *countingResponse) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// watchHeap samples the heap's objects until the returned function is
// called, which returns their peak over the heap at the start.
func watchHeap() func() uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	start := read()
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if v := read(); v > peak.Load() {
					peak.Store(v)
				}
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		return max(peak.Load(), start) - start
	}
}
