package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func compiledGate(t *testing.T, fail, warn string) *CompiledGate {
	t.Helper()
	gates, err := Compile(Document{Gates: []Gate{{Name: "g", Match: "true", Fail: fail, Warn: warn}}})
	require.NoError(t, err)
	return gates.At(0)
}

// A gate fails fast only when its fail condition, once it holds, holds for
// good: counts that only grow, compared with > or >=, joined by && and ||.
func TestFailsFast(t *testing.T) {
	for fail, want := range map[string]bool{
		"violations > 0":                true,
		"violations >= 3":               true,
		"3 < violations":                true,
		"3 <= errors":                   true,
		"spans > 100 && violations > 0": true,
		"violations > 2 or elapsed > duration(\"10m\")": true,
		"violations > 0 and errors >= 1":                true,
		"violations < 3":                                false,
		"violations <= 3":                               false,
		"violations == 3":                               false,
		"violations != 0":                               false,
		"3 > violations":                                false,
		"3 >= violations":                               false,
		"p95 > duration(\"250ms\")":                     false,
		"violation_ratio > 0.01":                        false,
		"violations > 2 || error_ratio > 0.5":           false,
		"!(violations > 0)":                             false,
		"violations + 1 > 2":                            false,
		"violations > errors":                           false,
	} {
		assert.Equal(t, want, compiledGate(t, fail, "").FailsFast(), fail)
	}
	assert.True(t, compiledGate(t, "", "").FailsFast(), "the default, violations > 0")
}

var explainStats = RunStats{Aggregates: Aggregates{
	Spans: 40, Violations: 2, ViolationRatio: 0.05, Errors: 1, ErrorRatio: 0.025,
	P50: 120 * time.Millisecond, P95: 425 * time.Millisecond, P99: 1250 * time.Millisecond,
	Max: 2 * time.Second, Elapsed: 90 * time.Second,
}}

// ExplainFail shows the terms that hold, with the values observed;
// CompareFail shows every term, with the relation that holds.
func TestExplainAndCompare(t *testing.T) {
	for _, tt := range []struct {
		fail, explained, compared string
	}{
		{`p95 > duration("250ms")`, "p95 425ms > 250ms", "p95 425ms > 250ms"},
		{`p95 > duration("800ms")`, "", "p95 425ms ≤ 800ms"},
		{`p95 >= duration("425ms")`, "p95 425ms >= 425ms", "p95 425ms >= 425ms"},
		{`p99 >= duration("2s")`, "", "p99 1.25s < 2s"},
		{`p50 < duration("100ms")`, "", "p50 120ms ≥ 100ms"},
		{`p50 <= duration("100ms")`, "", "p50 120ms > 100ms"},
		{`violations == 3`, "", "violations 2 ≠ 3"},
		{`violations != 2`, "", "violations 2 = 2"},
		{`violation_ratio > 0.01 || p95 > duration("800ms")`, "violation_ratio 5% > 1%", "violation_ratio 5% > 1%, p95 425ms ≤ 800ms"},
		{`violations > 1 && errors > 0`, "violations 2 > 1 and errors 1 > 0", "violations 2 > 1, errors 1 > 0"},
		// The constant on the left reads the same way round.
		{`duration("250ms") < p95`, "p95 425ms > 250ms", "p95 425ms > 250ms"},
		{`0.1 <= error_ratio`, "", "error_ratio 2.5% < 10%"},
		{`1 > errors`, "", "errors 1 ≥ 1"},
		{`elapsed > duration("1m")`, "elapsed 1m30s > 1m0s", "elapsed 1m30s > 1m0s"},
		// At the boundary a strict comparison does not hold.
		{`p95 > duration("425ms")`, "", "p95 425ms ≤ 425ms"},
		{`p50 < duration("120ms")`, "", "p50 120ms ≥ 120ms"},
		{`p50 <= duration("120ms")`, "p50 120ms <= 120ms", "p50 120ms <= 120ms"},
		{`violations > 2`, "", "violations 2 ≤ 2"},
		{`violations >= 2`, "violations 2 >= 2", "violations 2 >= 2"},
		{`2 > violations`, "", "violations 2 ≥ 2"},
		// Terms that are not an aggregate against a constant are not shown.
		{`violations > errors`, "", ""},
		{`spans in [3, 4]`, "", ""},
	} {
		g := compiledGate(t, tt.fail, tt.fail)
		assert.Equal(t, tt.explained, g.ExplainFail(explainStats), tt.fail)
		assert.Equal(t, tt.compared, g.CompareFail(explainStats), tt.fail)
		assert.Equal(t, tt.explained, g.ExplainWarn(explainStats), tt.fail)
		assert.Equal(t, tt.compared, g.CompareWarn(explainStats), tt.fail)
	}
	none := compiledGate(t, "violations > 0", "")
	assert.Empty(t, none.ExplainWarn(explainStats), "no warn condition")
	assert.Empty(t, none.CompareWarn(explainStats))
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                         "0s",
		999 * time.Nanosecond:     "999ns",
		1500 * time.Nanosecond:    "2µs",
		850 * time.Microsecond:    "850µs",
		312*time.Millisecond + 44: "312ms",
		312460 * time.Microsecond: "312.5ms",
		time.Millisecond:          "1ms",
		1254 * time.Millisecond:   "1.25s",
		time.Second:               "1s",
		-425 * time.Millisecond:   "-425ms",
		-2 * time.Second:          "-2s",
		// A negative duration is rounded as its positive one is.
		-312460 * time.Microsecond: "-312.5ms",
		-1254 * time.Millisecond:   "-1.25s",
		-1500 * time.Nanosecond:    "-2µs",
		90 * time.Minute:           "1h30m0s",
	} {
		assert.Equal(t, want, FormatDuration(d), "%d", d)
	}
}

// Thresholds show a page what a gate compared, and how an observed value
// stands against each.
func TestThresholds(t *testing.T) {
	cg := compiledGate(t, `p95 > duration("250ms") || violation_ratio > 0.01 || duration("1s") < max || elapsed > duration("10m")`, `p50 >= duration("200ms")`)
	fail := cg.FailThresholds()
	require.Len(t, fail, 4)
	var names []string
	for _, th := range fail {
		names = append(names, th.String())
	}
	assert.Equal(t, []string{"p95 > 250ms", "violation_ratio > 1%", "max > 1s", "elapsed > 10m0s"}, names)

	d, ok := fail[0].Latency()
	assert.True(t, ok)
	assert.Equal(t, 250*time.Millisecond, d)
	d, ok = fail[2].Latency()
	assert.True(t, ok, "turned: the aggregate on the left")
	assert.Equal(t, time.Second, d)
	_, ok = fail[1].Latency()
	assert.False(t, ok)
	_, ok = fail[3].Latency()
	assert.False(t, ok, "elapsed is the run's age, not a latency")

	assert.Equal(t, "p95 312ms > 250ms", fail[0].Compare(float64(312*time.Millisecond)))
	assert.Equal(t, "p95 212ms ≤ 250ms", fail[0].Compare(float64(212*time.Millisecond)))
	assert.Equal(t, "violation_ratio 0.5% ≤ 1%", fail[1].Compare(0.005))
	assert.Equal(t, "p95", fail[0].Aggregate())

	warn := cg.WarnThresholds()
	require.Len(t, warn, 1)
	assert.Equal(t, "p50 150ms < 200ms", warn[0].Compare(float64(150*time.Millisecond)))

	assert.Empty(t, compiledGate(t, "violations > errors", "").FailThresholds())

	// A latency ratio reads as one.
	ratio := compiledGate(t, "latency_ratio_low > 1.1", "").FailThresholds()
	require.Len(t, ratio, 1)
	assert.Equal(t, "latency_ratio_low > 1.10×", ratio[0].String())
	assert.Equal(t, "latency_ratio_low 1.10× ≤ 1.10×", ratio[0].Compare(1.1), "at the boundary a strict comparison does not hold")
	assert.Equal(t, "latency_ratio_low 1.25× > 1.10×", ratio[0].Compare(1.25))
}

// Fail fast decides on the exact counts: a gate that fails past a count
// fails once the count passes it, not when it reaches it.
func TestFailsFastAtTheBoundary(t *testing.T) {
	for _, tt := range []struct {
		fail       string
		violations int
		fails      bool
	}{
		{"violations > 2", 2, false},
		{"violations > 2", 3, true},
		{"violations >= 3", 2, false},
		{"violations >= 3", 3, true},
		{"3 < violations", 3, false},
		{"3 <= violations", 3, true},
	} {
		g := compiledGate(t, tt.fail, "")
		require.True(t, g.FailsFast(), tt.fail)
		fails, err := g.Fails(RunStats{Aggregates: Aggregates{Spans: 10, Violations: tt.violations}})
		require.NoError(t, err)
		assert.Equal(t, tt.fails, fails, "%s with %d violations", tt.fail, tt.violations)
		explained := g.ExplainFail(RunStats{Aggregates: Aggregates{Spans: 10, Violations: tt.violations}})
		assert.Equal(t, tt.fails, explained != "", "%s with %d violations: %q", tt.fail, tt.violations, explained)
	}
}
