package runstore

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/releasegate/releasegate/internal/runstore/runstoretest"
	"github.com/releasegate/releasegate/internal/verdict"
)

// baselineGates compare checkouts with the series' baseline; "errors" is
// judged on its own; "slower" also fails on what needs no baseline.
const baselineGates = `
baseline:
  series: resource["deployment.environment.name"]
  min_samples: 20
gates:
  - name: latency
    match: name == "POST /checkout"
    fail: latency_ratio_low > 1.10
    warn: latency_ratio > 1.05
  - name: slower
    match: name == "POST /checkout"
    fail: violations > 0 || p95 > baseline.p95 * 1.2
  - name: errors
    match: name == "POST /checkout"
    assert: status != "error"
`

var baselineGateNames = []string{"latency", "slower", "errors"}

// checkouts records n checkouts of run in env, lognormal around median,
// then lets the run go idle and finish.
func checkouts(t *testing.T, s *Store, c *clockwork.FakeClock, run, env string, n int, median time.Duration, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	var spans []runstoretest.Span
	for range n {
		d := time.Duration(float64(median) * (1 + 0.1*rng.NormFloat64()))
		spans = append(spans, runstoretest.Span{Run: run, Name: "POST /checkout", Duration: d, Matched: baselineGateNames})
	}
	td := runstoretest.Traces(spans...)
	if env != "" {
		td.ResourceSpans().At(0).Resource().Attributes().PutStr("deployment.environment.name", env)
	}
	s.Record(td)
}

func newBaselineStore(t *testing.T, maxSeries int) (*Store, *clockwork.FakeClock) {
	t.Helper()
	l := testLimits()
	l.MaxSeries = maxSeries
	return newTestStore(t, baselineGates, l)
}

// A run compares with the last run of its series that passed: the first
// has none and is judged on the rest; a run 30% slower fails, naming its
// baseline and how sure the comparison is; a failed run never becomes the
// baseline.
func TestBaselineIsTheLastPassedRun(t *testing.T) {
	s, c := newBaselineStore(t, 10)
	checkouts(t, s, c, "r-1", "staging", 100, 200*time.Millisecond, 1)
	v := finish(t, s, "r-1")
	assert.Equal(t, "staging", v.Series)
	assert.Nil(t, v.Baseline)
	latency := runstoretest.Gate(t, v, "latency")
	assert.Equal(t, verdict.Passed, latency.Status)
	assert.Equal(t, `passed: not latency_ratio_low > 1.10; no baseline for series "staging" (100 spans matched)`, latency.Reason)
	assert.Nil(t, latency.Observed.LatencyRatio)
	assert.Equal(t, verdict.Passed, v.Status)

	checkouts(t, s, c, "r-2", "staging", 100, 260*time.Millisecond, 2)
	v = finish(t, s, "r-2")
	require.NotNil(t, v.Baseline)
	assert.Equal(t, "r-1", *v.Baseline)
	latency = runstoretest.Gate(t, v, "latency")
	assert.Equal(t, verdict.Failed, latency.Status)
	assert.Regexp(t, `^failed: latency 1\.3\d× baseline r-1 \(95% CI 1\.\d\d–1\.\d\d×, 100 vs 100 spans\) > 1\.10 \(100 spans matched\)$`, latency.Reason)
	require.NotNil(t, latency.Observed.LatencyRatio)
	assert.InDelta(t, 1.3, *latency.Observed.LatencyRatio, 0.06)
	assert.Less(t, *latency.Observed.LatencyRatioLow, *latency.Observed.LatencyRatio)
	assert.Greater(t, *latency.Observed.LatencyRatioHigh, *latency.Observed.LatencyRatio)
	require.NotNil(t, latency.Observed.Baseline)
	assert.Equal(t, "r-1", latency.Observed.Baseline.Run)
	assert.Equal(t, 100, latency.Observed.Baseline.Samples)
	assert.InDelta(t, 200, latency.Observed.Baseline.P50Ms, 10)
	assert.Equal(t, verdict.Failed, runstoretest.Gate(t, v, "slower").Status, "p95 over baseline.p95 × 1.2")
	assert.Equal(t, verdict.Passed, runstoretest.Gate(t, v, "errors").Status)

	// r-2 failed: r-3 still compares with r-1.
	checkouts(t, s, c, "r-3", "staging", 100, 205*time.Millisecond, 3)
	v = finish(t, s, "r-3")
	assert.Equal(t, "r-1", *v.Baseline)
	assert.Equal(t, verdict.Passed, v.Status, runstoretest.Gate(t, v, "latency").Reason)
	// r-3 passed: it is r-4's baseline.
	checkouts(t, s, c, "r-4", "staging", 100, 200*time.Millisecond, 4)
	assert.Equal(t, "r-3", *finish(t, s, "r-4").Baseline)
	assert.Equal(t, []verdict.Series{{Series: "staging", Baseline: ptr("r-4"), LastPassed: ptr("r-4")}}, s.Baselines())
}

func ptr[T any](v T) *T { return &v }

// A run that passes with a warning, or with fewer than min_samples in a gate
// that compares, is no baseline.
func TestBaselineNeedsAPassWithEnoughSamples(t *testing.T) {
	s, c := newBaselineStore(t, 10)
	checkouts(t, s, c, "r-1", "staging", 100, 200*time.Millisecond, 1)
	finish(t, s, "r-1")
	checkouts(t, s, c, "r-warned", "staging", 100, 215*time.Millisecond, 2)
	v := finish(t, s, "r-warned")
	require.Equal(t, verdict.Warning, v.Status, runstoretest.Gate(t, v, "latency").Reason)
	checkouts(t, s, c, "r-few", "staging", 12, 200*time.Millisecond, 3)
	v = finish(t, s, "r-few")
	few := runstoretest.Gate(t, v, "latency")
	assert.Equal(t, verdict.Inconclusive, few.Status)
	assert.Equal(t, "inconclusive: too few samples to compare with baseline r-1: 12 < 20 (12 spans matched)", few.Reason)
	assert.Equal(t, verdict.Inconclusive, runstoretest.Gate(t, v, "slower").Status)
	checkouts(t, s, c, "r-next", "staging", 100, 200*time.Millisecond, 4)
	assert.Equal(t, "r-1", *finish(t, s, "r-next").Baseline)
}

// Too few samples, yet the terms without baseline names fail the gate: it
// fails, and says why it could not compare.
func TestTooFewSamplesStillFailsOnTheRest(t *testing.T) {
	s, c := newBaselineStore(t, 10)
	checkouts(t, s, c, "r-1", "staging", 100, 200*time.Millisecond, 1)
	finish(t, s, "r-1")
	s.Record(runstoretest.Traces(runstoretest.Span{Run: "r-2", Name: "POST /checkout", Duration: time.Second, Matched: baselineGateNames, Violated: []string{"slower"}}))
	// r-2 has no environment: series "default", no baseline there.
	v := finish(t, s, "r-2")
	slower := runstoretest.Gate(t, v, "slower")
	assert.Equal(t, verdict.Failed, slower.Status)
	assert.Equal(t, `failed: violations 1 > 0; no baseline for series "default" (1 spans matched)`, slower.Reason)
}

// A pinned run is the series' baseline over the last passed run, until it
// is unpinned; only a passed run held of the same series can be pinned.
func TestPinnedBaseline(t *testing.T) {
	s, c := newBaselineStore(t, 10)
	checkouts(t, s, c, "r-1", "staging", 100, 200*time.Millisecond, 1)
	finish(t, s, "r-1")
	checkouts(t, s, c, "r-2", "staging", 100, 150*time.Millisecond, 2) // faster: passes
	require.Equal(t, verdict.Passed, finish(t, s, "r-2").Status)
	checkouts(t, s, c, "r-fail", "staging", 100, 400*time.Millisecond, 3)
	require.Equal(t, verdict.Failed, finish(t, s, "r-fail").Status)
	checkouts(t, s, c, "r-prod", "production", 100, 200*time.Millisecond, 4)
	finish(t, s, "r-prod")
	checkouts(t, s, c, "r-open", "staging", 10, 200*time.Millisecond, 5)

	for key, want := range map[string]error{"r-none": ErrUnknownBaseline, "r-fail": ErrNotPassed, "r-open": ErrNotPassed, "r-prod": ErrOtherSeries} {
		_, _, err := s.Pin("staging", key)
		assert.ErrorIs(t, err, want, key)
	}
	view, _, err := s.Pin("staging", "r-1")
	require.NoError(t, err)
	assert.Equal(t, verdict.Series{Series: "staging", Baseline: ptr("r-1"), Pinned: ptr("r-1"), LastPassed: ptr("r-2")}, view)

	checkouts(t, s, c, "r-3", "staging", 100, 200*time.Millisecond, 6)
	assert.Equal(t, "r-1", *finish(t, s, "r-3").Baseline, "the pin, not the last passed run")
	view, err = s.Unpin("staging")
	require.NoError(t, err)
	assert.Equal(t, "r-3", *view.Baseline)
	_, err = s.Unpin("nowhere")
	assert.ErrorIs(t, err, ErrUnknownSeries)
}

// A run's baseline is fixed when it opens: a run that passes meanwhile
// becomes the baseline of runs that open after it, not of those open.
func TestConcurrentRunsDoNotCompareWithEachOther(t *testing.T) {
	s, c := newBaselineStore(t, 10)
	checkouts(t, s, c, "r-a", "staging", 100, 200*time.Millisecond, 1)
	checkouts(t, s, c, "r-b", "staging", 100, 260*time.Millisecond, 2)
	require.Equal(t, verdict.Passed, finish(t, s, "r-a").Status)
	v := finish(t, s, "r-b")
	assert.Nil(t, v.Baseline, "r-b opened before r-a passed")
	assert.Equal(t, verdict.Passed, v.Status)
}

// Series keep apart: a staging run never compares with a production run.
func TestSeriesIsolation(t *testing.T) {
	s, c := newBaselineStore(t, 10)
	checkouts(t, s, c, "r-prod", "production", 100, 100*time.Millisecond, 1)
	finish(t, s, "r-prod")
	checkouts(t, s, c, "r-staging", "staging", 100, 300*time.Millisecond, 2)
	v := finish(t, s, "r-staging")
	assert.Nil(t, v.Baseline)
	assert.Equal(t, verdict.Passed, v.Status)
}

// Past max_series, the least recently used series is forgotten, with its
// baselines, and counted.
func TestMaxSeries(t *testing.T) {
	s, c := newBaselineStore(t, 2)
	var evicted int64
	for i, env := range []string{"a", "b", "a", "c"} {
		run := fmt.Sprintf("r-%d", i)
		checkouts(t, s, c, run, env, 30, 200*time.Millisecond, uint64(i))
		f, err := s.Finish(run)
		require.NoError(t, err)
		evicted += f.Tally.SeriesEvicted
	}
	assert.Equal(t, int64(1), evicted)
	names := []string{}
	for _, sr := range s.Baselines() {
		names = append(names, sr.Series)
	}
	assert.Equal(t, []string{"a", "c"}, names, "b was used least recently")
}

// on_no_baseline: inconclusive makes the first run of a series
// inconclusive rather than judged on the rest.
func TestOnNoBaselineInconclusive(t *testing.T) {
	s, c := newTestStore(t, `
gates:
  - name: latency
    match: name == "POST /checkout"
    fail: latency_ratio_low > 1.10
    on_no_baseline: inconclusive
`, testLimits())
	checkouts(t, s, c, "r-1", "", 100, 200*time.Millisecond, 1)
	g := runstoretest.Gate(t, finish(t, s, "r-1"), "latency")
	assert.Equal(t, verdict.Inconclusive, g.Status)
	assert.Equal(t, `inconclusive: no baseline for series "default" (on_no_baseline: inconclusive) (100 spans matched)`, g.Reason)
}

// finish?baseline= compares with another run as it stands, open or
// finished; not with one the store does not hold, and not once the run
// finished.
func TestFinishComparedWith(t *testing.T) {
	s, c := newBaselineStore(t, 10)
	checkouts(t, s, c, "r-baseline", "staging", 100, 200*time.Millisecond, 1) // still open
	checkouts(t, s, c, "r-canary", "staging", 100, 260*time.Millisecond, 2)
	_, err := s.FinishComparedWith("r-canary", "r-gone")
	assert.ErrorIs(t, err, ErrUnknownBaseline)
	f, err := s.FinishComparedWith("r-canary", "r-baseline")
	require.NoError(t, err)
	assert.Equal(t, "r-baseline", *f.Run.Baseline)
	assert.Equal(t, verdict.Failed, runstoretest.Gate(t, f.Run, "latency").Status)
	_, err = s.FinishComparedWith("r-canary", "r-baseline")
	assert.ErrorIs(t, err, ErrFinished)
}

// Trace gates compare trace durations: one sample per trace.
func TestTraceGateBaseline(t *testing.T) {
	c := runstoretest.NewClock()
	s := New(runstoretest.Compile(t, `
baseline:
  min_samples: 5
gates:
  - name: checkout-trace
    scope: trace
    match: root != nil
    fail: latency_ratio_low > 1.2
`), Settings{Limits: testLimits(), Traces: traceLimits, Now: c.Now})
	checkouts := func(run string, first byte, d time.Duration) {
		for n := range byte(10) {
			s.Record(batch(checkout(first+n, run, 1, d+time.Duration(n)*time.Millisecond)...))
		}
	}
	checkouts("r-1", 1, 100*time.Millisecond)
	finish(t, s, "r-1")
	checkouts("r-2", 11, 200*time.Millisecond)
	v := finish(t, s, "r-2")
	g := runstoretest.Gate(t, v, "checkout-trace")
	assert.Equal(t, verdict.Failed, g.Status, g.Reason)
	assert.Regexp(t, `^failed: latency 1\.9\d× baseline r-1 \(95% CI \d\.\d\d–\d\.\d\d×, 10 vs 10 traces\) > 1\.20`, g.Reason)
	require.NotNil(t, g.Observed.Baseline)
	assert.Equal(t, 10, g.Observed.Baseline.Samples, "traces")
	samples := s.Samples()
	require.Len(t, samples.Runs, 2)
	assert.Equal(t, 10, samples.Runs[1].Gates[0].Baseline.Count, "traces")

	// A trace gate's baseline, counted in traces, survives a restart.
	snap := s.SnapshotBaselines(true)
	s2 := New(s.gates, Settings{Limits: testLimits(), Traces: traceLimits, Now: c.Now})
	require.Empty(t, s2.RestoreBaselines(snap.Baselines, snap.Series))
	assert.Equal(t, s.Baselines(), s2.Baselines())
	s = s2
	checkouts("r-3", 21, 200*time.Millisecond)
	g = runstoretest.Gate(t, finish(t, s, "r-3"), "checkout-trace")
	assert.Regexp(t, `^failed: latency 1\.9\d× baseline r-1 \(95% CI \d\.\d\d–\d\.\d\d×, 10 vs 10 traces\) > 1\.20`, g.Reason)
}

// Baselines and pins survive a restart with the runs: an open run keeps
// the baseline it opened with, the series their pins and last passed runs.
func TestBaselinesSurviveARestart(t *testing.T) {
	s, c := newBaselineStore(t, 10)
	checkouts(t, s, c, "r-1", "staging", 100, 200*time.Millisecond, 1)
	finish(t, s, "r-1")
	checkouts(t, s, c, "r-2", "staging", 100, 190*time.Millisecond, 2)
	finish(t, s, "r-2")
	_, _, err := s.Pin("staging", "r-1")
	require.NoError(t, err)
	checkouts(t, s, c, "r-open", "staging", 100, 260*time.Millisecond, 3)

	runs, _ := s.Snapshot(true)
	snap := s.SnapshotBaselines(true)
	assert.Len(t, snap.HeldBaselines, 2, "the pin (also r-open's) and the last passed")
	data, err := json.Marshal(snap)
	require.NoError(t, err)
	var saved BaselineSnapshot
	require.NoError(t, json.Unmarshal(data, &saved))

	s2, _ := newBaselineStore(t, 10)
	assert.Empty(t, s2.RestoreBaselines(saved.Baselines, saved.Series))
	assert.Empty(t, s2.Restore(runs).Skipped)
	assert.Equal(t, s.Baselines(), s2.Baselines())
	v := finish(t, s2, "r-open")
	assert.Equal(t, "r-1", *v.Baseline)
	assert.Equal(t, verdict.Failed, runstoretest.Gate(t, v, "latency").Status)
	v, _ = s2.Get("r-1")
	assert.Nil(t, v.Baseline, "finished before any")
	v, _ = s2.Get("r-2")
	assert.Equal(t, "r-1", *v.Baseline)
	assert.NotNil(t, runstoretest.Gate(t, v, "latency").Observed.LatencyRatio, "its comparison was saved with it")

	// Nothing refers to r-2's baseline once r-open finished and r-1 is
	// pinned... r-2 is the last passed run, so both stay held.
	again := s2.SnapshotBaselines(false)
	assert.Empty(t, again.Baselines, "baselines are saved once")
	assert.Len(t, again.HeldBaselines, 2)
}

// A gate that compares with a baseline never fails fast on its baseline
// terms, but still on the rest.
func TestNoFailFastFromBaselineTerms(t *testing.T) {
	s, c := newBaselineStore(t, 10)
	checkouts(t, s, c, "r-1", "staging", 100, 200*time.Millisecond, 1)
	finish(t, s, "r-1")
	checkouts(t, s, c, "r-2", "staging", 100, 400*time.Millisecond, 2)
	s.Record(runstoretest.Traces(runstoretest.Span{Run: "r-2", Name: "POST /checkout", Duration: time.Second, Matched: baselineGateNames, Violated: []string{"slower"}, Status: ptrace.StatusCodeUnset}))
	s.Sweep()
	v, _ := s.Get("r-2")
	assert.Equal(t, verdict.Pending, runstoretest.Gate(t, v, "latency").Status, "a ratio can still fall")
	assert.Equal(t, verdict.Failed, runstoretest.Gate(t, v, "slower").Status, "violations > 0 holds for good")
}

// min_samples is the fewest, not one fewer than the fewest: a run that
// passed with exactly min_samples is a baseline, and a run with exactly
// min_samples compares with it.
func TestMinSamplesExactly(t *testing.T) {
	s, c := newBaselineStore(t, 10)
	checkouts(t, s, c, "r-1", "staging", 20, 200*time.Millisecond, 1)
	require.Equal(t, verdict.Passed, finish(t, s, "r-1").Status)
	assert.Equal(t, []verdict.Series{{Series: "staging", Baseline: ptr("r-1"), LastPassed: ptr("r-1")}}, s.Baselines())
	checkouts(t, s, c, "r-2", "staging", 20, 200*time.Millisecond, 2)
	v := finish(t, s, "r-2")
	g := runstoretest.Gate(t, v, "latency")
	assert.Regexp(t, `^passed: latency [\d.]+× baseline r-1 \(95% CI [\d.]+–[\d.]+×, 20 vs 20 spans\) ≤ 1\.10`, g.Reason)
	checkouts(t, s, c, "r-3", "staging", 19, 200*time.Millisecond, 3)
	g = runstoretest.Gate(t, finish(t, s, "r-3"), "latency")
	assert.Equal(t, "inconclusive: too few samples to compare with baseline r-2: 19 < 20 (19 spans matched)", g.Reason)
}

// restart saves a store's runs and baselines and restores them into a new
// store of the same gates.
func restart(t *testing.T, s *Store, maxSeries int) *Store {
	t.Helper()
	runs, _ := s.Snapshot(true)
	data, err := json.Marshal(s.SnapshotBaselines(true))
	require.NoError(t, err)
	var saved BaselineSnapshot
	require.NoError(t, json.Unmarshal(data, &saved))
	s2, _ := newBaselineStore(t, maxSeries)
	require.Empty(t, s2.RestoreBaselines(saved.Baselines, saved.Series))
	require.Empty(t, s2.Restore(roundTrip(t, runs)).Skipped)
	return s2
}

// Baselines taken after a restart are saved apart from those restored:
// two restarts later, the pin and the last passed run are both there.
func TestBaselinesTakenAfterARestart(t *testing.T) {
	s, c := newBaselineStore(t, 10)
	checkouts(t, s, c, "r-1", "staging", 30, 200*time.Millisecond, 1)
	finish(t, s, "r-1")
	checkouts(t, s, c, "r-2", "staging", 30, 200*time.Millisecond, 2)
	finish(t, s, "r-2")
	_, _, err := s.Pin("staging", "r-1")
	require.NoError(t, err)

	s = restart(t, s, 10)
	checkouts(t, s, c, "r-3", "staging", 30, 180*time.Millisecond, 3)
	require.Equal(t, verdict.Passed, finish(t, s, "r-3").Status)
	want := []verdict.Series{{Series: "staging", Baseline: ptr("r-1"), Pinned: ptr("r-1"), LastPassed: ptr("r-3")}}
	assert.Equal(t, want, s.Baselines())
	assert.Len(t, s.SnapshotBaselines(true).HeldBaselines, 2)

	s = restart(t, s, 10)
	assert.Equal(t, want, s.Baselines())
	_, err = s.Unpin("staging")
	require.NoError(t, err)
	checkouts(t, s, c, "r-4", "staging", 30, 200*time.Millisecond, 4)
	assert.Equal(t, "r-3", *finish(t, s, "r-4").Baseline)
}

// An open run keeps the baseline it opened with across a restart, even
// when no series refers to it any more; a run of a series without a
// baseline is saved without one.
func TestOpenRunKeepsItsBaselineAcrossARestart(t *testing.T) {
	s, c := newBaselineStore(t, 10)
	checkouts(t, s, c, "r-1", "staging", 30, 200*time.Millisecond, 1)
	finish(t, s, "r-1")
	checkouts(t, s, c, "r-open", "staging", 30, 300*time.Millisecond, 2)
	checkouts(t, s, c, "r-2", "staging", 30, 180*time.Millisecond, 3)
	require.Equal(t, verdict.Passed, finish(t, s, "r-2").Status) // the series' baseline is r-2 now
	checkouts(t, s, c, "r-first", "production", 30, 200*time.Millisecond, 4)
	assert.Len(t, s.SnapshotBaselines(true).HeldBaselines, 2, "r-2 for the series, r-1 for r-open")

	s = restart(t, s, 10)
	v := finish(t, s, "r-open")
	require.NotNil(t, v.Baseline)
	assert.Equal(t, "r-1", *v.Baseline)
	assert.Equal(t, verdict.Failed, runstoretest.Gate(t, v, "latency").Status)
	v = finish(t, s, "r-first")
	assert.Nil(t, v.Baseline)
	assert.Equal(t, `passed: not latency_ratio_low > 1.10; no baseline for series "production" (30 spans matched)`, runstoretest.Gate(t, v, "latency").Reason)
}

// A restart keeps max_series series, the others are left out with why.
func TestRestoreMaxSeries(t *testing.T) {
	s, c := newBaselineStore(t, 10)
	for i, env := range []string{"a", "b", "c"} {
		run := fmt.Sprintf("r-%d", i)
		checkouts(t, s, c, run, env, 30, 200*time.Millisecond, uint64(i))
		finish(t, s, run)
	}
	snap := s.SnapshotBaselines(true)
	s2, _ := newBaselineStore(t, 2)
	skipped := s2.RestoreBaselines(snap.Baselines, snap.Series)
	require.Len(t, skipped, 1)
	assert.Regexp(t, `^series "[abc]": max_series series are held$`, skipped[0].Error())
	assert.Len(t, s2.Baselines(), 2)
}

// finish?baseline= takes another run's figures as they stand, or a
// baseline a series holds after its run was forgotten; a run finished
// already says what it was compared with.
func TestFinishComparedWithAForgottenRun(t *testing.T) {
	l := testLimits()
	l.MaxSeries, l.MaxRuns = 10, 2
	s, c := newTestStore(t, baselineGates, l)
	checkouts(t, s, c, "r-1", "staging", 30, 200*time.Millisecond, 1)
	finish(t, s, "r-1")
	checkouts(t, s, c, "r-2", "staging", 30, 200*time.Millisecond, 2)
	finish(t, s, "r-2")
	checkouts(t, s, c, "r-3", "staging", 30, 300*time.Millisecond, 3) // r-1 makes room
	_, held := s.Get("r-1")
	require.False(t, held)
	f, err := s.FinishComparedWith("r-3", "r-1")
	require.NoError(t, err)
	assert.Equal(t, "r-1", *f.Run.Baseline)
	assert.Equal(t, verdict.Failed, runstoretest.Gate(t, f.Run, "latency").Status)
	_, err = s.FinishComparedWith("r-3", "r-2")
	assert.EqualError(t, err, "the run finished already (api): it was compared with r-1")
	_, err = s.FinishComparedWith("r-2", "r-3")
	assert.EqualError(t, err, "the run finished already (api): it was compared with r-1")
	checkouts(t, s, c, "r-4", "other", 30, 300*time.Millisecond, 4) // r-2 makes room
	finish(t, s, "r-4")
	_, err = s.FinishComparedWith("r-4", "r-3")
	assert.EqualError(t, err, "the run finished already (api): it was compared with none")
}
