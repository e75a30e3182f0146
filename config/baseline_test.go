package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// The baseline block: its defaults, and every mistake named.
func TestBaselineBlock(t *testing.T) {
	doc, err := Parse([]byte(`gates: [{name: a, match: "true"}]`))
	require.NoError(t, err)
	assert.Equal(t, Baseline{MinSamples: DefaultMinSamples}, doc.Baseline)
	assert.Equal(t, NoBaselineIgnore, doc.Gates[0].OnNoBaseline)

	doc, err = Parse([]byte(`
baseline:
  series: resource["deployment.environment.name"] ?? "default"
  min_samples: 20
gates: [{name: a, match: "true", on_no_baseline: inconclusive}]`))
	require.NoError(t, err)
	assert.Equal(t, Baseline{Series: `resource["deployment.environment.name"] ?? "default"`, MinSamples: 20}, doc.Baseline)
	assert.Equal(t, NoBaselineInconclusive, doc.Gates[0].OnNoBaseline)

	for doc, want := range map[string][]string{
		`{baseline: {min_samples: 4}, gates: [{name: a, match: "true"}]}`: {
			"baseline: min_samples: must be at least 5 (with fewer a side, a 95% confidence interval has no bounds), got 4"},
		`{baseline: {min_samples: ten, serie: x}, gates: [{name: a, match: "true"}]}`: {
			"baseline: min_samples: must be a whole number, got a string", "baseline: serie: unknown key (baseline has series and min_samples)"},
		`{baseline: [x], gates: [{name: a, match: "true"}]}`:                            {"baseline: must be a mapping, got a list"},
		`{baseline: {series: 'resorce["x"]'}, gates: [{name: a, match: "true"}]}`:       {"baseline: series: column 1: unknown name resorce"},
		`{gates: [{name: a, match: "true", on_no_baseline: pass}]}`:                     {`gate "a": on_no_baseline: must be ignore or inconclusive; got pass`},
		`{gates: [{name: a, scope: trace, match: "true", fail: "baseline.spans > 3"}]}`: {`gate "a": fail: column 10: a trace gate counts traces: use baseline.traces`},
		`{gates: [{name: a, match: "true", warn: "baseline.traces > 3"}]}`:              {`gate "a": warn: column 10: a span gate counts spans: use baseline.spans, or scope: trace`},
		`{gates: [{name: a, match: "true", fail: "baseline.latency_ratio > 1"}]}`:       {`gate "a": fail: column 10: type config.Aggregates has no field latency_ratio`},
	} {
		d, err := Parse([]byte(doc))
		if err == nil {
			_, err = Compile(d)
		}
		require.Error(t, err, doc)
		for _, w := range want {
			assert.Contains(t, err.Error(), w, doc)
		}
		assert.Len(t, strings.Split(err.Error(), "\n"), len(want), err.Error())
	}
}

// A run's series is the series expression on its first span, or "default".
func TestSeries(t *testing.T) {
	span := ptrace.NewSpan()
	res := pcommon.NewResource()
	gates, err := Compile(Document{Gates: []Gate{{Name: "a", Match: "true"}}})
	require.NoError(t, err)
	assert.Equal(t, DefaultSeries, gates.Series(res, pcommon.NewInstrumentationScope(), span), "no series expression")

	gates, err = Compile(Document{Baseline: Baseline{Series: `resource["deployment.environment.name"]`}, Gates: []Gate{{Name: "a", Match: "true"}}})
	require.NoError(t, err)
	assert.Equal(t, DefaultSeries, gates.Series(res, pcommon.NewInstrumentationScope(), span), "absent is default")
	res.Attributes().PutStr("deployment.environment.name", "staging")
	assert.Equal(t, "staging", gates.Series(res, pcommon.NewInstrumentationScope(), span))
	res.Attributes().PutInt("deployment.environment.name", 7)
	assert.Equal(t, "7", gates.Series(res, pcommon.NewInstrumentationScope(), span), "a number reads as its text, as run keys do")
}

// Which gates compare with a baseline, and what their conditions become
// without one: each term that uses a baseline name does not hold, and the
// gate is judged on the rest.
func TestConditionsWithoutBaseline(t *testing.T) {
	compared := RunStats{
		Aggregates:   Aggregates{Spans: 412, Violations: 0, ErrorRatio: 0.03, P95: 400 * time.Millisecond},
		Baseline:     Aggregates{Spans: 398, ErrorRatio: 0.01, P95: 300 * time.Millisecond},
		LatencyRatio: 1.34, LatencyRatioLow: 1.29, LatencyRatioHigh: 1.39, Compared: true, BaselineRun: "r-40",
	}
	alone := compared
	alone.Compared = false
	for _, tt := range []struct {
		fail                string
		withBaseline, alone bool
		failsFast           bool
	}{
		{"latency_ratio_low > 1.10", true, false, true},
		{"latency_ratio_low > 1.50", false, false, true},
		{"latency_ratio > 1.05 || error_ratio > baseline.error_ratio + 0.01", true, false, true},
		{"errors > 3 || latency_ratio_low > 1.10", true, false, true},
		{"spans > 400 || latency_ratio_low > 1.50", true, true, true},
		{"spans > 400 && latency_ratio_low > 1.10", true, false, true},
		{"!(latency_ratio < 1.10)", true, false, true},
		{"p95 > baseline.p95 * 1.2", true, false, true},
		{"p95 > 1.5 * baseline.p95", false, false, true},
		{"p95 > baseline.p95 * 1", true, false, true},
		{"p95 > 2 * baseline.p95", false, false, true},
		{"p95 > duration(\"350ms\") || (spans > 10 && latency_ratio_high > 1.2)", true, true, false},
		{"violations > 0 or latency_ratio_low > 1.1", true, false, true},
		{"latency_ratio_low > 1.1 // 95% sure it is slower", true, false, true},
	} {
		gates, err := Compile(Document{Gates: []Gate{{Name: "g", Match: "true", Fail: tt.fail}, {Name: "h", Match: "true"}}})
		require.NoError(t, err, tt.fail)
		g := gates.At(0)
		assert.True(t, g.UsesBaseline(), tt.fail)
		assert.True(t, gates.UsesBaseline(), tt.fail)
		assert.False(t, gates.At(1).UsesBaseline())
		fails, err := g.Fails(compared)
		require.NoError(t, err)
		assert.Equal(t, tt.withBaseline, fails, "%s, compared", tt.fail)
		fails, err = g.Fails(alone)
		require.NoError(t, err)
		assert.Equal(t, tt.alone, fails, "%s, without a baseline", tt.fail)
		assert.Equal(t, tt.failsFast, g.FailsFast(), "%s: baseline terms never decide a fail fast", tt.fail)
	}
	gates, err := Compile(Document{Gates: []Gate{{Name: "g", Match: "true"}}})
	require.NoError(t, err)
	assert.False(t, gates.UsesBaseline())
}

// The fewest samples a side: the document's min_samples, or the default
// when a document built in Go leaves it zero.
func TestMinSamples(t *testing.T) {
	gates, err := Compile(Document{Gates: []Gate{{Name: "g", Match: "true"}}})
	require.NoError(t, err)
	assert.Equal(t, DefaultMinSamples, gates.MinSamples())
	gates, err = Compile(Document{Baseline: Baseline{MinSamples: 7}, Gates: []Gate{{Name: "g", Match: "true"}}})
	require.NoError(t, err)
	assert.Equal(t, 7, gates.MinSamples())
	doc, err := Parse([]byte("baseline: {min_samples: 5}\ngates: [{name: g, match: 'true'}]"))
	require.NoError(t, err)
	gates, err = Compile(doc)
	require.NoError(t, err)
	assert.Equal(t, MinMinSamples, gates.MinSamples())
}

// Reasons show a latency comparison whole, and leave out the terms of a
// baseline the run was not compared with.
func TestExplainBaseline(t *testing.T) {
	stats := RunStats{
		Aggregates:   Aggregates{Spans: 412, P95: 400 * time.Millisecond},
		Baseline:     Aggregates{Spans: 398, P95: 300 * time.Millisecond},
		LatencyRatio: 1.34, LatencyRatioLow: 1.29, LatencyRatioHigh: 1.39, Compared: true, BaselineRun: "r-40",
	}
	g := compiledGate(t, "latency_ratio_low > 1.10 || p95 > duration(\"1s\")", "baseline.p95 < p95")
	assert.Equal(t, "latency 1.34× baseline r-40 (95% CI 1.29–1.39×, 412 vs 398 spans) > 1.10", g.ExplainFail(stats))
	assert.Equal(t, "latency 1.34× baseline r-40 (95% CI 1.29–1.39×, 412 vs 398 spans) > 1.10, p95 400ms ≤ 1s", g.CompareFail(stats))
	stats.Compared = false
	assert.Equal(t, "p95 400ms ≤ 1s", g.CompareFail(stats), "no baseline to show")
	assert.Empty(t, g.ExplainFail(stats))

	gates, err := Compile(Document{Gates: []Gate{{Name: "t", Scope: ScopeTrace, Match: "true", Fail: "baseline.p95 > duration(\"1s\") || latency_ratio > 2", MinTraces: 1}}})
	require.NoError(t, err)
	traces := RunStats{Aggregates: Aggregates{Traces: 12}, Baseline: Aggregates{Traces: 50, P95: 2 * time.Second}, LatencyRatio: 2.5, LatencyRatioLow: 2.1, LatencyRatioHigh: 3, Compared: true, BaselineRun: "r-1"}
	assert.Equal(t, "baseline.p95 2s > 1s and latency 2.50× baseline r-1 (95% CI 2.10–3.00×, 12 vs 50 traces) > 2.00", gates.At(0).ExplainFail(traces))
}
