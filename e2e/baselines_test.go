package e2e

import (
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// checkoutRun is n POST /checkout spans of run in staging, their durations
// spread ±10% around median.
func checkoutRun(run string, n int, median time.Duration, seed uint64) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	rs.Resource().Attributes().PutStr("cicd.pipeline.run.id", run)
	rs.Resource().Attributes().PutStr("deployment.environment.name", "staging")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	rng := rand.New(rand.NewPCG(seed, 13))
	start := time.Now().Add(-time.Minute)
	for i := range n {
		sp := spans.AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{0: byte(seed), 14: byte(i >> 8), 15: byte(i)})
		sp.SetSpanID(pcommon.SpanID{0: byte(seed), 6: byte(i >> 8), 7: byte(i)})
		sp.SetName("POST /checkout")
		sp.SetKind(ptrace.SpanKindServer)
		d := time.Duration(float64(median) * (0.9 + 0.2*rng.Float64()))
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(d)))
	}
	return td
}

// baselineVerdict is what the test reads of a run's verdict.
type baselineVerdict struct {
	Status   string  `json:"status"`
	Series   string  `json:"series"`
	Baseline *string `json:"baseline"`
	Gates    []struct {
		Name     string `json:"name"`
		Status   string `json:"status"`
		Spans    int    `json:"spans"`
		Reason   string `json:"reason"`
		Observed struct {
			LatencyRatio     *float64 `json:"latency_ratio"`
			LatencyRatioLow  *float64 `json:"latency_ratio_low"`
			LatencyRatioHigh *float64 `json:"latency_ratio_high"`
			Baseline         *struct {
				Run     string `json:"run"`
				Samples int    `json:"samples"`
			} `json:"baseline"`
		} `json:"observed"`
	} `json:"gates"`
}

// Baselines through the built distribution: a passing run becomes its
// environment's baseline; a run 30% slower fails with a reason that names
// it; a run with too few spans is inconclusive; a pinned run overrides
// the last passed one; /metrics has the ratio.
func TestBaselines(t *testing.T) {
	sink := newOTLPSink(t)
	col := startCollector(t, collectorFiles(t, "baseline-gates.yaml"), sink.URL)
	col.waitReady(t)
	api := "http://" + col.apiAddr
	run := func(key string, n int, median time.Duration, seed uint64) baselineVerdict {
		t.Helper()
		exportTraces(t, col.otlpGRPC, checkoutRun(key, n, median, seed))
		// Every span reached the exporter: the run can finish.
		require.Eventually(t, func() bool {
			var v baselineVerdict
			return getJSON(t, http.MethodGet, api+"/v1/runs/"+key, &v) == http.StatusOK && len(v.Gates) > 0 && v.Gates[0].Spans == n
		}, 30*time.Second, 50*time.Millisecond, key)
		var v baselineVerdict
		require.Equal(t, http.StatusOK, getJSON(t, http.MethodPost, api+"/v1/runs/"+key+"/finish", &v))
		return v
	}
	latency := func(v baselineVerdict) (status, reason string) {
		for _, g := range v.Gates {
			if g.Name == "checkout-latency" {
				return g.Status, g.Reason
			}
		}
		t.Fatalf("no checkout-latency gate in %+v", v)
		return "", ""
	}

	first := run("r-40", 200, 200*time.Millisecond, 1)
	assert.Equal(t, "passed", first.Status)
	assert.Equal(t, "staging", first.Series)
	assert.Nil(t, first.Baseline)
	_, reason := latency(first)
	assert.Equal(t, `passed: not latency_ratio_low > 1.10; no baseline for series "staging" (200 spans matched)`, reason)

	slow := run("r-41", 200, 260*time.Millisecond, 2)
	assert.Equal(t, "failed", slow.Status)
	require.NotNil(t, slow.Baseline)
	assert.Equal(t, "r-40", *slow.Baseline)
	status, reason := latency(slow)
	assert.Equal(t, "failed", status)
	assert.Regexp(t, `^failed: latency 1\.\d\d× baseline r-40 \(95% CI 1\.\d\d–1\.\d\d×, 200 vs 200 spans\) > 1\.10 \(200 spans matched\)$`, reason)
	g := slow.Gates[0]
	require.NotNil(t, g.Observed.LatencyRatio)
	assert.InDelta(t, 1.3, *g.Observed.LatencyRatio, 0.05)
	assert.Equal(t, "r-40", g.Observed.Baseline.Run)
	assert.Equal(t, 200, g.Observed.Baseline.Samples)

	few := run("r-42", 12, 200*time.Millisecond, 3)
	status, reason = latency(few)
	assert.Equal(t, "inconclusive", status)
	assert.Equal(t, "inconclusive: too few samples to compare with baseline r-40: 12 < 30 (12 spans matched)", reason)
	assert.Equal(t, "inconclusive", few.Status)

	// r-43 passes and becomes the last passed run; a pin of r-40 wins.
	assert.Equal(t, "passed", run("r-43", 200, 190*time.Millisecond, 4).Status)
	put := func(method, path, body string) (int, []byte) {
		req, err := http.NewRequest(method, api+path, strings.NewReader(body))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, data
	}
	status2, body := put(http.MethodPut, "/v1/baselines/staging", `{"run": "r-40"}`)
	require.Equal(t, http.StatusOK, status2, string(body))
	var series struct {
		Series []map[string]*string `json:"series"`
	}
	require.Equal(t, http.StatusOK, getJSON(t, http.MethodGet, api+"/v1/baselines", &series))
	require.Len(t, series.Series, 1)
	assert.Equal(t, "r-40", *series.Series[0]["pinned"])
	assert.Equal(t, "r-43", *series.Series[0]["last_passed"])
	pinned := run("r-44", 200, 200*time.Millisecond, 5)
	assert.Equal(t, "r-40", *pinned.Baseline, "the pin, not the last passed run")

	// Prometheus scrapes the ratios and the baseline's durations, and the
	// Grafana dashboard's every query has data.
	prometheus := startPrometheus(t, col.apiAddr)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Greater(c, promQuery(c, prometheus, `releasegate_gate_latency_ratio{run="r-41",gate="checkout-latency"}`), 1.1)
		assert.Greater(c, promQuery(c, prometheus, `releasegate_gate_baseline_duration_seconds{run="r-44",gate="checkout-latency",quantile="0.95"}`), 0.0)
	}, 30*time.Second, 500*time.Millisecond)
	checkDashboard(t, prometheus)

	// The ratio on /metrics.
	metrics, err := http.Get(api + "/metrics?name[]=releasegate_gate_latency_ratio")
	require.NoError(t, err)
	text, err := io.ReadAll(metrics.Body)
	metrics.Body.Close()
	require.NoError(t, err)
	assert.Regexp(t, `releasegate_gate_latency_ratio\{gate="checkout-latency",run="r-41"\} 1\.\d+`, string(text))
	assert.NotContains(t, string(text), `run="r-40"`, "no ratio without a baseline")

}
