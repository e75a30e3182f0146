package runstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/releasegate/releasegate/annotation"
	"github.com/releasegate/releasegate/internal/runstore/runstoretest"
	"github.com/releasegate/releasegate/internal/verdict"
)

func testLimits() Limits {
	return Limits{IdleTimeout: 30 * time.Second, MaxRunDuration: time.Hour, Retention: time.Hour, MaxRuns: 100}
}

func newTestStore(t testing.TB, gates string, l Limits) (*Store, *clockwork.FakeClock) {
	return newEventStore(t, gates, l, false)
}

// newEventStore is a test store that keeps events when events is set.
func newEventStore(t testing.TB, gates string, l Limits, events bool) (*Store, *clockwork.FakeClock) {
	t.Helper()
	c := runstoretest.NewClock()
	return New(runstoretest.Compile(t, gates), Settings{Limits: l, Now: c.Now, Events: events}), c
}

// finish finishes a run that the store can hold.
func finish(t testing.TB, s *Store, key string) verdict.Run {
	t.Helper()
	f, err := s.Finish(key)
	require.NoError(t, err)
	return f.Run
}

func TestRunLifecycleAndVerdicts(t *testing.T) {
	s, c := newTestStore(t, runstoretest.Gates, testLimits())

	// A run opens at its first annotated span; its gates are pending.
	var spans []runstoretest.Span
	for i := range 20 {
		spans = append(spans, runstoretest.Checkout("r-1", time.Duration(100+i)*time.Millisecond))
	}
	tally := s.Record(runstoretest.Traces(spans...))
	assert.Equal(t, int64(1), tally.Opened)
	v, ok := s.Get("r-1")
	require.True(t, ok)
	assert.Equal(t, verdict.Pending, v.Status)
	assert.False(t, v.Finished)
	assert.Equal(t, verdict.Pending, runstoretest.Gate(t, v, "checkout-latency").Status)
	assert.Equal(t, "pending: p95 118ms ≤ 250ms so far (0 of 20 spans violated duration < 300ms)", runstoretest.Gate(t, v, "checkout-latency").Reason)

	c.Advance(5 * time.Second)
	f, err := s.Finish("r-1")
	require.NoError(t, err)
	v, finishedNow := f.Run, f.Now
	require.True(t, ok)
	assert.True(t, finishedNow)
	assert.True(t, v.Finished)
	assert.Equal(t, verdict.FinishedByAPI, v.FinishCause)
	require.NotNil(t, v.FinishedAt)

	latency := runstoretest.Gate(t, v, "checkout-latency")
	assert.Equal(t, verdict.Passed, latency.Status)
	assert.Equal(t, "passed: p95 118ms ≤ 250ms; warn: p95 118ms ≤ 200ms (0 of 20 spans violated duration < 300ms)", latency.Reason,
		"a passed gate shows what it was checked against")
	assert.Equal(t, 20, latency.Spans)
	assert.InDelta(t, 119.0, latency.Observed.MaxMs, 0.001)
	assert.InDelta(t, 118.0, latency.Observed.P95Ms, 0.001)
	assert.InDelta(t, 109.0, latency.Observed.P50Ms, 0.001)
	assert.InDelta(t, 5000.0, latency.Observed.ElapsedMs, 0.001)
	assert.Equal(t, `p95 > duration("250ms")`, latency.Condition)

	assert.Equal(t, verdict.Passed, runstoretest.Gate(t, v, "no-errors").Status)
	assert.Equal(t, verdict.Passed, runstoretest.Gate(t, v, "ratio").Status)
	assert.Equal(t, "passed: violations 0 ≤ 2, error_ratio 0% ≤ 50% (20 spans matched)", runstoretest.Gate(t, v, "ratio").Reason)

	// A gate the run never matched still gets a verdict: no data.
	never := runstoretest.Gate(t, v, "never-matched")
	assert.Equal(t, verdict.Inconclusive, never.Status)
	assert.Equal(t, "inconclusive: no spans matched", never.Reason)
	assert.Equal(t, verdict.Inconclusive, v.Status, "a run's status is its worst gate's")

	// A final verdict never changes: later spans are late.
	tally = s.Record(runstoretest.Traces(runstoretest.Checkout("r-1", time.Second)))
	assert.Equal(t, int64(1), tally.Late)
	v, _ = s.Get("r-1")
	assert.Equal(t, 1, v.LateSpans)
	assert.Equal(t, verdict.Passed, runstoretest.Gate(t, v, "checkout-latency").Status)
	assert.Equal(t, 20, runstoretest.Gate(t, v, "checkout-latency").Spans)

	// Finishing again changes nothing.
	f, err = s.Finish("r-1")
	require.NoError(t, err)
	finishedNow = f.Now
	assert.False(t, finishedNow)
}

func TestFailedVerdictExplainsItself(t *testing.T) {
	s, _ := newTestStore(t, runstoretest.Gates, testLimits())
	var spans []runstoretest.Span
	for i := range 110 {
		spans = append(spans, runstoretest.Checkout("r-42", time.Duration(100+i)*time.Millisecond))
	}
	for _, d := range []time.Duration{310, 311, 312, 320, 330, 340, 350, 360} {
		spans = append(spans, runstoretest.Checkout("r-42", d*time.Millisecond))
	}
	s.Record(runstoretest.Traces(spans...))
	v := finish(t, s, "r-42")
	latency := runstoretest.Gate(t, v, "checkout-latency")
	assert.Equal(t, verdict.Failed, latency.Status)
	assert.Equal(t, "failed: p95 312ms > 250ms (8 of 118 spans violated duration < 300ms)", latency.Reason)
}

func TestVerdictStates(t *testing.T) {
	tests := []struct {
		name   string
		gates  string
		spans  []runstoretest.Span
		status verdict.Status
		reason string
	}{
		{
			name:   "failed",
			gates:  "gates: [{name: g, match: 'true', assert: 'duration < duration(\"300ms\")', fail: 'p95 > duration(\"250ms\")'}]",
			spans:  repeat(10, runstoretest.Span{Run: "r", Duration: 400 * time.Millisecond, Matched: []string{"g"}, Violated: []string{"g"}}),
			status: verdict.Failed,
			reason: "failed: p95 400ms > 250ms (10 of 10 spans violated duration < 300ms)",
		},
		{
			name:   "warning",
			gates:  "gates: [{name: g, match: 'true', fail: 'p95 > duration(\"250ms\")', warn: 'p95 > duration(\"200ms\")'}]",
			spans:  repeat(10, runstoretest.Span{Run: "r", Duration: 220 * time.Millisecond, Matched: []string{"g"}}),
			status: verdict.Warning,
			reason: "warning: p95 220ms > 200ms; fail: p95 220ms ≤ 250ms (10 spans matched)",
		},
		{
			name:   "condition without comparisons shows itself",
			gates:  "gates: [{name: g, match: 'true', fail: 'spans in [3, 4]'}]",
			spans:  repeat(3, runstoretest.Span{Run: "r", Matched: []string{"g"}}),
			status: verdict.Failed,
			reason: "failed: spans in [3, 4] (3 spans matched)",
		},
		{
			name:   "ratio",
			gates:  "gates: [{name: g, match: 'true', assert: 'status != \"error\"', fail: 'violation_ratio > 0.01'}]",
			spans:  append(repeat(29, runstoretest.Span{Run: "r", Matched: []string{"g"}}), runstoretest.Span{Run: "r", Matched: []string{"g"}, Violated: []string{"g"}}),
			status: verdict.Failed,
			reason: `failed: violation_ratio 3.333% > 1% (1 of 30 spans violated status != "error")`,
		},
		{
			name:   "min_spans not reached",
			gates:  "gates: [{name: g, match: 'true', min_spans: 20}]",
			spans:  repeat(3, runstoretest.Span{Run: "r", Matched: []string{"g"}}),
			status: verdict.Inconclusive,
			reason: "inconclusive: 3 spans matched, fewer than min_spans 20",
		},
		{
			name:   "no data fails",
			gates:  "gates: [{name: g, match: 'true', on_no_data: fail}, {name: h, match: 'true'}]",
			spans:  []runstoretest.Span{{Run: "r", Matched: []string{"h"}}},
			status: verdict.Failed,
			reason: "failed: no spans matched (on_no_data: fail)",
		},
		{
			name:   "no data passes",
			gates:  "gates: [{name: g, match: 'true', on_no_data: pass}, {name: h, match: 'true'}]",
			spans:  []runstoretest.Span{{Run: "r", Matched: []string{"h"}}},
			status: verdict.Passed,
			reason: "passed: no spans matched (on_no_data: pass)",
		},
		{
			name:   "min_spans 0 judges an empty run",
			gates:  "gates: [{name: g, match: 'true', min_spans: 0}, {name: h, match: 'true'}]",
			spans:  []runstoretest.Span{{Run: "r", Matched: []string{"h"}}},
			status: verdict.Passed,
			reason: "passed: violations 0 ≤ 0 (0 spans matched)",
		},
		{
			name:   "error",
			gates:  "gates: [{name: g, match: 'true', fail: 'spans % violations == 1'}]",
			spans:  []runstoretest.Span{{Run: "r", Matched: []string{"g"}}},
			status: verdict.Error,
			reason: "error: fail condition spans % violations == 1 could not be evaluated: runtime error: integer divide by zero",
		},
		{
			name:  "assert errors count as violations",
			gates: "gates: [{name: g, match: 'true', assert: 'attributes[\"code\"] < 500'}]",
			spans: []runstoretest.Span{
				{Run: "r", Matched: []string{"g"}, Violated: []string{"g"}, Errored: []string{"g"}},
				{Run: "r", Matched: []string{"g"}},
			},
			status: verdict.Failed,
			reason: `failed: violations 1 > 0 (1 of 2 spans violated attributes["code"] < 500, 1 could not be evaluated)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestStore(t, tt.gates, testLimits())
			s.Record(runstoretest.Traces(tt.spans...))
			v := finish(t, s, "r")
			g := runstoretest.Gate(t, v, "g")
			assert.Equal(t, tt.status, g.Status)
			assert.Contains(t, g.Reason, tt.reason)
		})
	}
}

func repeat(n int, s runstoretest.Span) []runstoretest.Span {
	out := make([]runstoretest.Span, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestFailFast(t *testing.T) {
	s, c := newTestStore(t, runstoretest.Gates, testLimits())
	s.Record(runstoretest.Traces(runstoretest.Checkout("r", 100*time.Millisecond), runstoretest.Checkout("r", 500*time.Millisecond)))
	s.Sweep()
	v, _ := s.Get("r")
	assert.False(t, v.Finished)
	// checkout-latency fails on p95, which can still fall: it waits.
	assert.Equal(t, verdict.Pending, runstoretest.Gate(t, v, "checkout-latency").Status)

	// The default `violations > 0` can never become false again: the gate
	// fails at once, while the run is open.
	s.Record(runstoretest.Traces(runstoretest.Span{Run: "r", Name: "GET /", Matched: []string{"no-errors"}, Violated: []string{"no-errors"}, Status: ptrace.StatusCodeError}))
	s.Sweep()
	v, _ = s.Get("r")
	assert.False(t, v.Finished)
	noErrors := runstoretest.Gate(t, v, "no-errors")
	assert.Equal(t, verdict.Failed, noErrors.Status)
	assert.Equal(t, `failed: violations 1 > 0 (1 of 3 spans violated status != "error")`, noErrors.Reason)
	require.NotNil(t, noErrors.FailedAt)
	failedAt := *noErrors.FailedAt
	assert.Equal(t, verdict.Failed, v.Status)
	require.Len(t, noErrors.Exemplars, 1)
	assert.Equal(t, verdict.Exemplar{TraceID: runstoretest.TraceID("r", 0), SpanID: runstoretest.TraceID("r", 0)[16:], Name: "GET /", Condition: `status != "error"`}, noErrors.Exemplars[0])

	// ratio fails on `violations > 2 || error_ratio > 0.5`: the first term
	// alone is monotone, the second is not, so the gate waits for the run.
	assert.Equal(t, verdict.Pending, runstoretest.Gate(t, v, "ratio").Status)

	// The failed verdict stands whatever comes next, and describes the run
	// as it goes on, and as it finally stands: counts, reason, exemplars.
	c.Advance(time.Second)
	s.Record(runstoretest.Traces(repeat(50, runstoretest.Span{Run: "r", Name: "GET /", Matched: []string{"no-errors"}})...))
	s.Record(runstoretest.Traces(runstoretest.Span{Run: "r", Name: "GET /late", Matched: []string{"no-errors"}, Violated: []string{"no-errors"}}))
	v, _ = s.Get("r")
	noErrors = runstoretest.Gate(t, v, "no-errors")
	assert.Equal(t, `failed: violations 2 > 0 (2 of 54 spans violated status != "error")`, noErrors.Reason, "while the run is open")
	v = finish(t, s, "r")
	noErrors = runstoretest.Gate(t, v, "no-errors")
	assert.Equal(t, verdict.Failed, noErrors.Status)
	assert.Equal(t, `failed: violations 2 > 0 (2 of 54 spans violated status != "error")`, noErrors.Reason)
	assert.Equal(t, 54, noErrors.Spans)
	assert.Equal(t, 2, noErrors.Violations)
	require.Len(t, noErrors.Exemplars, 2)
	assert.Equal(t, "GET /late", noErrors.Exemplars[1].Name)
	require.NotNil(t, noErrors.FailedAt)
	assert.Equal(t, failedAt, *noErrors.FailedAt, "the moment it failed is kept")
	assert.Less(t, *noErrors.FailedAt, *v.FinishedAt)
}

func TestFailFastWaitsForMinSpans(t *testing.T) {
	s, _ := newTestStore(t, "gates: [{name: g, match: 'true', fail: 'violations >= 1', min_spans: 3}]", testLimits())
	bad := runstoretest.Span{Run: "r", Matched: []string{"g"}, Violated: []string{"g"}}
	s.Record(runstoretest.Traces(bad, bad))
	s.Sweep()
	v, _ := s.Get("r")
	assert.Equal(t, verdict.Pending, runstoretest.Gate(t, v, "g").Status)
	s.Record(runstoretest.Traces(bad))
	s.Sweep()
	v, _ = s.Get("r")
	assert.Equal(t, verdict.Failed, runstoretest.Gate(t, v, "g").Status)
}

func TestIdleTimeoutAndMaxDuration(t *testing.T) {
	s, c := newTestStore(t, runstoretest.Gates, testLimits())
	s.Record(runstoretest.Traces(runstoretest.Checkout("idle", time.Millisecond)))
	s.Record(runstoretest.Traces(runstoretest.Checkout("busy", time.Millisecond)))
	for range 7 {
		c.Advance(10 * time.Minute)
		s.Record(runstoretest.Traces(runstoretest.Checkout("busy", time.Millisecond)))
		finished := s.Sweep().Finished
		if len(finished) > 0 && finished[0] == verdict.FinishedAtMaxDuration {
			break
		}
	}
	idle, _ := s.Get("idle")
	assert.True(t, idle.Finished)
	assert.Equal(t, verdict.FinishedIdle, idle.FinishCause)
	assert.Equal(t, idle.StartedAt.Add(10*time.Minute), *idle.FinishedAt, "noticed at the first sweep after 30s idle")
	busy, _ := s.Get("busy")
	assert.True(t, busy.Finished)
	assert.Equal(t, verdict.FinishedAtMaxDuration, busy.FinishCause)
	assert.Equal(t, busy.StartedAt.Add(time.Hour), *busy.FinishedAt)
}

// A run finishes once it has been idle for IdleTimeout, not later.
func TestIdleAtTheTimeout(t *testing.T) {
	s, c := newTestStore(t, runstoretest.Gates, testLimits())
	s.Record(runstoretest.Traces(runstoretest.Checkout("r", time.Millisecond)))
	c.Advance(testLimits().IdleTimeout - time.Nanosecond)
	assert.Empty(t, s.Sweep().Finished)
	c.Advance(time.Nanosecond)
	assert.Equal(t, []verdict.FinishCause{verdict.FinishedIdle}, s.Sweep().Finished)
}

func TestRetention(t *testing.T) {
	l := testLimits()
	l.Retention = 10 * time.Minute
	s, c := newTestStore(t, runstoretest.Gates, l)
	s.Record(runstoretest.Traces(runstoretest.Checkout("r", time.Millisecond)))
	finish(t, s, "r")
	c.Advance(9 * time.Minute)
	s.Sweep()
	_, ok := s.Get("r")
	assert.True(t, ok)
	c.Advance(time.Minute)
	s.Sweep()
	_, ok = s.Get("r")
	assert.False(t, ok)
	assert.Empty(t, s.List())

	// A span of a forgotten run opens a new run.
	s.Record(runstoretest.Traces(runstoretest.Checkout("r", time.Millisecond)))
	v, _ := s.Get("r")
	assert.False(t, v.Finished)
}

func TestMaxRuns(t *testing.T) {
	l := testLimits()
	l.MaxRuns = 2
	s, c := newTestStore(t, runstoretest.Gates, l)
	s.Record(runstoretest.Traces(runstoretest.Checkout("a", time.Millisecond)))
	c.Advance(time.Second)
	s.Record(runstoretest.Traces(runstoretest.Checkout("b", time.Millisecond)))

	// Both open: a third run is refused.
	tally := s.Record(runstoretest.Traces(runstoretest.Checkout("c", time.Millisecond), runstoretest.Checkout("c", time.Millisecond)))
	assert.Equal(t, int64(2), tally.Refused)
	_, ok := s.Get("c")
	assert.False(t, ok)
	_, err := s.Finish("c")
	assert.ErrorIs(t, err, ErrFull)

	// Once one has finished, it makes room: the oldest finished goes first.
	finish(t, s, "b")
	c.Advance(time.Second)
	finish(t, s, "a")
	tally = s.Record(runstoretest.Traces(runstoretest.Checkout("c", time.Millisecond)))
	assert.Equal(t, int64(1), tally.Evicted)
	_, ok = s.Get("b")
	assert.False(t, ok, "b finished first and was evicted")
	_, ok = s.Get("a")
	assert.True(t, ok)
	assert.Len(t, s.List(), 2)
}

func TestFinishUnknownRun(t *testing.T) {
	s, _ := newTestStore(t, runstoretest.Gates, testLimits())
	f, err := s.Finish("never-seen")
	require.NoError(t, err)
	v := f.Run
	assert.True(t, f.Now)
	assert.Equal(t, int64(1), f.Tally.Opened)
	assert.Equal(t, verdict.Inconclusive, v.Status, "no traffic is never a silent pass")
	for _, g := range v.Gates {
		assert.Equal(t, verdict.Inconclusive, g.Status, g.Name)
	}
}

func TestUnknownAndMalformedAnnotations(t *testing.T) {
	s, _ := newTestStore(t, runstoretest.Gates, testLimits())
	td := runstoretest.Traces(
		runstoretest.Span{Run: "r", Matched: []string{"checkout-latency", "from-a-newer-file"}, Violated: []string{"from-a-newer-file"}},
		runstoretest.Span{Name: "not annotated"},
	)
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	bad := spans.AppendEmpty()
	bad.Attributes().PutInt(annotation.Run, 42)
	bad2 := spans.AppendEmpty()
	bad2.Attributes().PutStr(annotation.Run, "r")
	bad2.Attributes().PutStr(annotation.GatePrefix+"checkout-latency", "slow")
	bad3 := spans.AppendEmpty()
	bad3.Attributes().PutStr(annotation.Run, "r") // and no gate

	tally := s.Record(td)
	assert.Equal(t, int64(1), tally.UnknownGates)
	assert.Equal(t, int64(1), tally.NoRun)
	assert.Equal(t, int64(3), tally.Malformed)
	v, _ := s.Get("r")
	assert.Equal(t, []string{"from-a-newer-file"}, v.UnknownGates)
	assert.Equal(t, 1, runstoretest.Gate(t, v, "checkout-latency").Spans)
}

func TestExemplarsAreBounded(t *testing.T) {
	s, _ := newTestStore(t, runstoretest.Gates, testLimits())
	var spans []runstoretest.Span
	for i := range 20 {
		spans = append(spans, runstoretest.Checkout("r", time.Duration(400+i)*time.Millisecond))
	}
	s.Record(runstoretest.Traces(spans...))
	v, _ := s.Get("r")
	ex := runstoretest.Gate(t, v, "checkout-latency").Exemplars
	require.Len(t, ex, maxExemplars)
	for i, e := range ex {
		assert.Equal(t, fmt.Sprintf("%016x", i+1), e.SpanID, "the first violating spans are kept")
		assert.Equal(t, `duration < duration("300ms")`, e.Condition)
	}
}

func TestListNewestFirst(t *testing.T) {
	s, c := newTestStore(t, runstoretest.Gates, testLimits())
	for _, r := range []string{"first", "second", "third"} {
		s.Record(runstoretest.Traces(runstoretest.Checkout(r, time.Millisecond)))
		c.Advance(time.Second)
	}
	var keys []string
	for _, v := range s.List() {
		keys = append(keys, v.Run)
		assert.Empty(t, v.Gates)
	}
	assert.Equal(t, []string{"third", "second", "first"}, keys)
}

func TestEvents(t *testing.T) {
	s, c := newEventStore(t, runstoretest.Gates, testLimits(), true)
	kinds := func() []string {
		var out []string
		for _, e := range s.TakeEvents() {
			out = append(out, string(e.Kind)+" "+e.Run.Run+" "+string(e.Run.Status))
		}
		return out
	}

	// A run is announced by the sweep, with the commit its spans carry.
	td := runstoretest.Traces(runstoretest.Checkout("a", time.Millisecond))
	td.ResourceSpans().At(0).Resource().Attributes().PutStr("vcs.ref.head.revision", "1a2b3c4")
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().PutStr("deployment.environment.name", "staging")
	s.Record(td)
	assert.Empty(t, kinds(), "nothing is emitted on the span path")
	s.Sweep()
	events := s.TakeEvents()
	require.Len(t, events, 1)
	assert.Equal(t, verdict.RunStarted, events[0].Kind)
	assert.Equal(t, "1a2b3c4", events[0].Run.Revision)
	assert.Equal(t, "staging", events[0].Run.Environment)
	require.Len(t, events[0].Run.Gates, 4)
	assert.Equal(t, verdict.Pending, events[0].Run.Gates[0].Status)

	// Finishing emits the final verdicts; a run finished before any sweep is
	// announced first.
	finish(t, s, "a")
	s.Record(runstoretest.Traces(runstoretest.Checkout("b", time.Millisecond)))
	finish(t, s, "b")
	assert.Equal(t, []string{"run.finished a inconclusive", "run.started b pending", "run.finished b inconclusive"}, kinds())

	// Idle runs finish in the sweep; runs open at shutdown are abandoned.
	s.Record(runstoretest.Traces(runstoretest.Checkout("idle", time.Millisecond)))
	s.Sweep()
	c.Advance(time.Minute)
	s.Record(runstoretest.Traces(runstoretest.Checkout("open", time.Millisecond)))
	s.Sweep()
	// One sweep takes the runs in no particular order: only each run's own
	// events are ordered.
	assert.ElementsMatch(t, []string{"run.started idle pending", "run.finished idle inconclusive", "run.started open pending"}, kinds())
	s.Abandon()
	assert.Equal(t, []string{"run.abandoned open pending"}, kinds())

	// Without sinks, nothing is kept.
	s, _ = newTestStore(t, runstoretest.Gates, testLimits())
	s.Record(runstoretest.Traces(runstoretest.Checkout("c", time.Millisecond)))
	s.Sweep()
	finish(t, s, "c")
	assert.Empty(t, s.TakeEvents())
}
