package releasegateexporter

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/releasegate/releasegate/annotation"
	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/verdict"
)

const testGates = `
gates:
  - name: checkout-latency
    match: name == "POST /checkout"
    assert: duration < duration("300ms")
    fail: p95 > duration("250ms")
    warn: p95 > duration("200ms")
  - name: no-errors
    match: kind == "server"
    assert: status != "error"
  - name: ratio
    match: kind == "server"
    fail: violations > 2 || error_ratio > 0.5
    min_spans: 3
  - name: never-matched
    match: name == "none"
`

// clock is a settable time for the store.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock                   { return &clock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)} }
func testLimits() limits {
	return limits{idleTimeout: 30 * time.Second, maxRunDuration: time.Hour, retention: time.Hour, maxRuns: 100}
}

func newTestStore(t testing.TB, gates string, l limits) (*runStore, *clock) {
	t.Helper()
	doc, err := config.Parse([]byte(gates))
	require.NoError(t, err)
	compiled, err := config.Compile(doc)
	require.NoError(t, err)
	s := newRunStore(compiled, l)
	c := newClock()
	s.now = c.now
	return s, c
}

// span is an annotated span as the processor writes it.
type span struct {
	run                        string
	name                       string
	duration                   time.Duration
	status                     ptrace.StatusCode
	matched, violated, errored []string
}

func traces(spans ...span) ptrace.Traces {
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	for i, s := range spans {
		sp := ss.Spans().AppendEmpty()
		sp.SetName(s.name)
		sp.SetTraceID(pcommon.TraceID{15: byte(i + 1)})
		sp.SetSpanID(pcommon.SpanID{7: byte(i + 1)})
		start := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(s.duration)))
		sp.Status().SetCode(s.status)
		if s.run == "" {
			continue
		}
		var names []string
		idx := func(list []string) []int {
			var out []int
			for _, n := range list {
				out = append(out, indexOf(&names, n))
			}
			return out
		}
		m, v, e := idx(s.matched), idx(s.violated), idx(s.errored)
		annotation.Write(sp.Attributes(), s.run, names, m, v, e)
	}
	return td
}

func indexOf(names *[]string, n string) int {
	for i, v := range *names {
		if v == n {
			return i
		}
	}
	*names = append(*names, n)
	return len(*names) - 1
}

func checkout(run string, d time.Duration) span {
	s := span{run: run, name: "POST /checkout", duration: d, matched: []string{"checkout-latency", "no-errors", "ratio"}}
	if d >= 300*time.Millisecond {
		s.violated = []string{"checkout-latency"}
	}
	return s
}

func gate(t *testing.T, v verdict.Run, name string) verdict.Gate {
	t.Helper()
	for _, g := range v.Gates {
		if g.Name == name {
			return g
		}
	}
	t.Fatalf("no gate %s in %+v", name, v)
	return verdict.Gate{}
}

func TestRunLifecycleAndVerdicts(t *testing.T) {
	s, c := newTestStore(t, testGates, testLimits())

	// A run opens at its first annotated span; its gates are pending.
	var spans []span
	for i := range 20 {
		spans = append(spans, checkout("r-1", time.Duration(100+i)*time.Millisecond))
	}
	tally := s.record(traces(spans...))
	assert.Equal(t, int64(1), tally.opened)
	v, ok := s.get("r-1")
	require.True(t, ok)
	assert.Equal(t, verdict.Pending, v.Status)
	assert.False(t, v.Finished)
	assert.Equal(t, verdict.Pending, gate(t, v, "checkout-latency").Status)
	assert.Equal(t, "pending: 0 of 20 spans violated duration < 300ms so far", gate(t, v, "checkout-latency").Reason)

	c.advance(5 * time.Second)
	v, finishedNow, _, ok := s.finishRun("r-1")
	require.True(t, ok)
	assert.True(t, finishedNow)
	assert.True(t, v.Finished)
	assert.Equal(t, verdict.FinishedByAPI, v.FinishCause)
	require.NotNil(t, v.FinishedAt)

	latency := gate(t, v, "checkout-latency")
	assert.Equal(t, verdict.Passed, latency.Status)
	assert.Equal(t, "passed: 0 of 20 spans violated duration < 300ms", latency.Reason)
	assert.Equal(t, 20, latency.Spans)
	assert.InDelta(t, 119.0, latency.Observed.MaxMs, 0.001)
	assert.InDelta(t, 118.0, latency.Observed.P95Ms, 0.001)
	assert.InDelta(t, 109.0, latency.Observed.P50Ms, 0.001)
	assert.InDelta(t, 5000.0, latency.Observed.ElapsedMs, 0.001)
	assert.Equal(t, `p95 > duration("250ms")`, latency.Condition)

	assert.Equal(t, verdict.Passed, gate(t, v, "no-errors").Status)
	assert.Equal(t, verdict.Passed, gate(t, v, "ratio").Status)
	assert.Equal(t, "passed: 20 spans matched", gate(t, v, "ratio").Reason)

	// A gate the run never matched still gets a verdict: no data.
	never := gate(t, v, "never-matched")
	assert.Equal(t, verdict.Inconclusive, never.Status)
	assert.Equal(t, "inconclusive: no spans matched", never.Reason)
	assert.Equal(t, verdict.Inconclusive, v.Status, "a run's status is its worst gate's")

	// A final verdict never changes: later spans are late.
	tally = s.record(traces(checkout("r-1", time.Second)))
	assert.Equal(t, int64(1), tally.late)
	v, _ = s.get("r-1")
	assert.Equal(t, 1, v.LateSpans)
	assert.Equal(t, verdict.Passed, gate(t, v, "checkout-latency").Status)
	assert.Equal(t, 20, gate(t, v, "checkout-latency").Spans)

	// Finishing again changes nothing.
	_, finishedNow, _, _ = s.finishRun("r-1")
	assert.False(t, finishedNow)
}

func TestFailedVerdictExplainsItself(t *testing.T) {
	s, _ := newTestStore(t, testGates, testLimits())
	var spans []span
	for i := range 110 {
		spans = append(spans, checkout("r-42", time.Duration(100+i)*time.Millisecond))
	}
	for _, d := range []time.Duration{310, 311, 312, 320, 330, 340, 350, 360} {
		spans = append(spans, checkout("r-42", d*time.Millisecond))
	}
	s.record(traces(spans...))
	v, _, _, _ := s.finishRun("r-42")
	latency := gate(t, v, "checkout-latency")
	assert.Equal(t, verdict.Failed, latency.Status)
	assert.Equal(t, "failed: p95 312ms > 250ms (8 of 118 spans violated duration < 300ms)", latency.Reason)
}

func TestVerdictStates(t *testing.T) {
	tests := []struct {
		name   string
		gates  string
		spans  []span
		status verdict.Status
		reason string
	}{
		{
			name:   "failed",
			gates:  "gates: [{name: g, match: 'true', assert: 'duration < duration(\"300ms\")', fail: 'p95 > duration(\"250ms\")'}]",
			spans:  repeat(10, span{run: "r", duration: 400 * time.Millisecond, matched: []string{"g"}, violated: []string{"g"}}),
			status: verdict.Failed,
			reason: "failed: p95 400ms > 250ms (10 of 10 spans violated duration < 300ms)",
		},
		{
			name:   "warning",
			gates:  "gates: [{name: g, match: 'true', fail: 'p95 > duration(\"250ms\")', warn: 'p95 > duration(\"200ms\")'}]",
			spans:  repeat(10, span{run: "r", duration: 220 * time.Millisecond, matched: []string{"g"}}),
			status: verdict.Warning,
			reason: "warning: p95 220ms > 200ms (10 spans matched)",
		},
		{
			name:   "condition without comparisons shows itself",
			gates:  "gates: [{name: g, match: 'true', fail: 'spans in [3, 4]'}]",
			spans:  repeat(3, span{run: "r", matched: []string{"g"}}),
			status: verdict.Failed,
			reason: "failed: spans in [3, 4] (3 spans matched)",
		},
		{
			name:   "ratio",
			gates:  "gates: [{name: g, match: 'true', assert: 'status != \"error\"', fail: 'violation_ratio > 0.01'}]",
			spans:  append(repeat(29, span{run: "r", matched: []string{"g"}}), span{run: "r", matched: []string{"g"}, violated: []string{"g"}}),
			status: verdict.Failed,
			reason: `failed: violation_ratio 3.333% > 1% (1 of 30 spans violated status != "error")`,
		},
		{
			name:   "min_spans not reached",
			gates:  "gates: [{name: g, match: 'true', min_spans: 20}]",
			spans:  repeat(3, span{run: "r", matched: []string{"g"}}),
			status: verdict.Inconclusive,
			reason: "inconclusive: 3 spans matched, fewer than min_spans 20",
		},
		{
			name:   "no data fails",
			gates:  "gates: [{name: g, match: 'true', on_no_data: fail}, {name: h, match: 'true'}]",
			spans:  []span{{run: "r", matched: []string{"h"}}},
			status: verdict.Failed,
			reason: "failed: no spans matched (on_no_data: fail)",
		},
		{
			name:   "no data passes",
			gates:  "gates: [{name: g, match: 'true', on_no_data: pass}, {name: h, match: 'true'}]",
			spans:  []span{{run: "r", matched: []string{"h"}}},
			status: verdict.Passed,
			reason: "passed: no spans matched (on_no_data: pass)",
		},
		{
			name:   "min_spans 0 judges an empty run",
			gates:  "gates: [{name: g, match: 'true', min_spans: 0}, {name: h, match: 'true'}]",
			spans:  []span{{run: "r", matched: []string{"h"}}},
			status: verdict.Passed,
			reason: "passed: 0 spans matched",
		},
		{
			name:   "error",
			gates:  "gates: [{name: g, match: 'true', fail: 'spans % violations == 1'}]",
			spans:  []span{{run: "r", matched: []string{"g"}}},
			status: verdict.Error,
			reason: "error: fail condition spans % violations == 1 could not be evaluated: runtime error: integer divide by zero",
		},
		{
			name:  "assert errors count as violations",
			gates: "gates: [{name: g, match: 'true', assert: 'attributes[\"code\"] < 500'}]",
			spans: []span{
				{run: "r", matched: []string{"g"}, violated: []string{"g"}, errored: []string{"g"}},
				{run: "r", matched: []string{"g"}},
			},
			status: verdict.Failed,
			reason: `failed: violations 1 > 0 (1 of 2 spans violated attributes["code"] < 500, 1 could not be evaluated)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestStore(t, tt.gates, testLimits())
			s.record(traces(tt.spans...))
			v, _, _, _ := s.finishRun("r")
			g := gate(t, v, "g")
			assert.Equal(t, tt.status, g.Status)
			assert.Contains(t, g.Reason, tt.reason)
		})
	}
}

func repeat(n int, s span) []span {
	out := make([]span, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestFailFast(t *testing.T) {
	s, _ := newTestStore(t, testGates, testLimits())
	s.record(traces(checkout("r", 100*time.Millisecond), checkout("r", 500*time.Millisecond)))
	s.sweep()
	v, _ := s.get("r")
	assert.False(t, v.Finished)
	// checkout-latency fails on p95, which can still fall: it waits.
	assert.Equal(t, verdict.Pending, gate(t, v, "checkout-latency").Status)

	// The default `violations > 0` can never become false again: the gate
	// fails at once, while the run is open.
	s.record(traces(span{run: "r", name: "GET /", matched: []string{"no-errors"}, violated: []string{"no-errors"}, status: ptrace.StatusCodeError}))
	s.sweep()
	v, _ = s.get("r")
	assert.False(t, v.Finished)
	noErrors := gate(t, v, "no-errors")
	assert.Equal(t, verdict.Failed, noErrors.Status)
	assert.Equal(t, `failed: violations 1 > 0 (1 of 3 spans violated status != "error")`, noErrors.Reason)
	assert.Equal(t, verdict.Failed, v.Status)
	require.Len(t, noErrors.Exemplars, 1)
	assert.Equal(t, verdict.Exemplar{TraceID: "00000000000000000000000000000001", SpanID: "0000000000000001", Name: "GET /", Condition: `status != "error"`}, noErrors.Exemplars[0])

	// ratio fails on `violations > 2 || error_ratio > 0.5`: the first term
	// alone is monotone, the second is not, so the gate waits for the run.
	assert.Equal(t, verdict.Pending, gate(t, v, "ratio").Status)

	// The failed verdict stands whatever comes next.
	s.record(traces(repeat(50, span{run: "r", name: "GET /", matched: []string{"no-errors"}})...))
	v, _, _, _ = s.finishRun("r")
	assert.Equal(t, verdict.Failed, gate(t, v, "no-errors").Status)
	assert.Equal(t, `failed: violations 1 > 0 (1 of 3 spans violated status != "error")`, gate(t, v, "no-errors").Reason)
	assert.Equal(t, 53, gate(t, v, "no-errors").Spans)
}

func TestFailFastWaitsForMinSpans(t *testing.T) {
	s, _ := newTestStore(t, "gates: [{name: g, match: 'true', fail: 'violations >= 1', min_spans: 3}]", testLimits())
	bad := span{run: "r", matched: []string{"g"}, violated: []string{"g"}}
	s.record(traces(bad, bad))
	s.sweep()
	v, _ := s.get("r")
	assert.Equal(t, verdict.Pending, gate(t, v, "g").Status)
	s.record(traces(bad))
	s.sweep()
	v, _ = s.get("r")
	assert.Equal(t, verdict.Failed, gate(t, v, "g").Status)
}

func TestIdleTimeoutAndMaxDuration(t *testing.T) {
	s, c := newTestStore(t, testGates, testLimits())
	s.record(traces(checkout("idle", time.Millisecond)))
	s.record(traces(checkout("busy", time.Millisecond)))
	for range 7 {
		c.advance(10 * time.Minute)
		s.record(traces(checkout("busy", time.Millisecond)))
		finished, _ := s.sweep()
		if len(finished) > 0 && finished[0] == verdict.FinishedAtMaxDuration {
			break
		}
	}
	idle, _ := s.get("idle")
	assert.True(t, idle.Finished)
	assert.Equal(t, verdict.FinishedIdle, idle.FinishCause)
	assert.Equal(t, idle.StartedAt.Add(10*time.Minute), *idle.FinishedAt, "noticed at the first sweep after 30s idle")
	busy, _ := s.get("busy")
	assert.True(t, busy.Finished)
	assert.Equal(t, verdict.FinishedAtMaxDuration, busy.FinishCause)
	assert.Equal(t, busy.StartedAt.Add(time.Hour), *busy.FinishedAt)
}

func TestRetention(t *testing.T) {
	l := testLimits()
	l.retention = 10 * time.Minute
	s, c := newTestStore(t, testGates, l)
	s.record(traces(checkout("r", time.Millisecond)))
	s.finishRun("r")
	c.advance(9 * time.Minute)
	_, expired := s.sweep()
	assert.Equal(t, 0, expired)
	_, ok := s.get("r")
	assert.True(t, ok)
	c.advance(time.Minute)
	_, expired = s.sweep()
	assert.Equal(t, 1, expired)
	_, ok = s.get("r")
	assert.False(t, ok)
	assert.Empty(t, s.list())

	// A span of a forgotten run opens a new run.
	s.record(traces(checkout("r", time.Millisecond)))
	v, _ := s.get("r")
	assert.False(t, v.Finished)
}

func TestMaxRuns(t *testing.T) {
	l := testLimits()
	l.maxRuns = 2
	s, c := newTestStore(t, testGates, l)
	s.record(traces(checkout("a", time.Millisecond)))
	c.advance(time.Second)
	s.record(traces(checkout("b", time.Millisecond)))

	// Both open: a third run is refused.
	tally := s.record(traces(checkout("c", time.Millisecond), checkout("c", time.Millisecond)))
	assert.Equal(t, int64(2), tally.refused)
	_, ok := s.get("c")
	assert.False(t, ok)
	_, _, _, ok = s.finishRun("c")
	assert.False(t, ok)

	// Once one has finished, it makes room: the oldest finished goes first.
	s.finishRun("b")
	c.advance(time.Second)
	s.finishRun("a")
	tally = s.record(traces(checkout("c", time.Millisecond)))
	assert.Equal(t, int64(1), tally.evicted)
	_, ok = s.get("b")
	assert.False(t, ok, "b finished first and was evicted")
	_, ok = s.get("a")
	assert.True(t, ok)
	assert.Len(t, s.list(), 2)
}

func TestFinishUnknownRun(t *testing.T) {
	s, _ := newTestStore(t, testGates, testLimits())
	v, finishedNow, tally, ok := s.finishRun("never-seen")
	require.True(t, ok)
	assert.True(t, finishedNow)
	assert.Equal(t, int64(1), tally.opened)
	assert.Equal(t, verdict.Inconclusive, v.Status, "no traffic is never a silent pass")
	for _, g := range v.Gates {
		assert.Equal(t, verdict.Inconclusive, g.Status, g.Name)
	}
}

func TestUnknownAndMalformedAnnotations(t *testing.T) {
	s, _ := newTestStore(t, testGates, testLimits())
	td := traces(
		span{run: "r", matched: []string{"checkout-latency", "from-a-newer-file"}, violated: []string{"from-a-newer-file"}},
		span{name: "not annotated"},
	)
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	bad := spans.AppendEmpty()
	bad.Attributes().PutInt(annotation.Run, 42)
	bad2 := spans.AppendEmpty()
	bad2.Attributes().PutStr(annotation.Run, "r")
	bad2.Attributes().PutStr(annotation.Matched, "checkout-latency")

	tally := s.record(td)
	assert.Equal(t, int64(1), tally.unknownGates)
	assert.Equal(t, int64(1), tally.noRun)
	assert.Equal(t, int64(2), tally.malformed)
	v, _ := s.get("r")
	assert.Equal(t, []string{"from-a-newer-file"}, v.UnknownGates)
	assert.Equal(t, 1, gate(t, v, "checkout-latency").Spans)
}

func TestExemplarsAreBounded(t *testing.T) {
	s, _ := newTestStore(t, testGates, testLimits())
	var spans []span
	for i := range 20 {
		spans = append(spans, checkout("r", time.Duration(400+i)*time.Millisecond))
	}
	s.record(traces(spans...))
	v, _ := s.get("r")
	ex := gate(t, v, "checkout-latency").Exemplars
	require.Len(t, ex, maxExemplars)
	for i, e := range ex {
		assert.Equal(t, fmt.Sprintf("%016x", i+1), e.SpanID, "the first violating spans are kept")
		assert.Equal(t, `duration < duration("300ms")`, e.Condition)
	}
}

func TestListNewestFirst(t *testing.T) {
	s, c := newTestStore(t, testGates, testLimits())
	for _, r := range []string{"first", "second", "third"} {
		s.record(traces(checkout(r, time.Millisecond)))
		c.advance(time.Second)
	}
	var keys []string
	for _, v := range s.list() {
		keys = append(keys, v.Run)
		assert.Empty(t, v.Gates)
	}
	assert.Equal(t, []string{"third", "second", "first"}, keys)
}

func TestEvents(t *testing.T) {
	s, c := newTestStore(t, testGates, testLimits())
	s.publishing = true
	kinds := func() []string {
		var out []string
		for _, e := range s.takeEvents() {
			out = append(out, string(e.Kind)+" "+e.Run.Run+" "+string(e.Run.Status))
		}
		return out
	}

	// A run is announced by the sweep, with the commit its spans carry.
	td := traces(checkout("a", time.Millisecond))
	td.ResourceSpans().At(0).Resource().Attributes().PutStr("vcs.ref.head.revision", "1a2b3c4")
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().PutStr("deployment.environment.name", "staging")
	s.record(td)
	assert.Empty(t, kinds(), "nothing is emitted on the span path")
	s.sweep()
	events := s.takeEvents()
	require.Len(t, events, 1)
	assert.Equal(t, verdict.RunStarted, events[0].Kind)
	assert.Equal(t, "1a2b3c4", events[0].Run.Revision)
	assert.Equal(t, "staging", events[0].Run.Environment)
	require.Len(t, events[0].Run.Gates, 4)
	assert.Equal(t, verdict.Pending, events[0].Run.Gates[0].Status)

	// Finishing emits the final verdicts; a run finished before any sweep is
	// announced first.
	s.finishRun("a")
	s.record(traces(checkout("b", time.Millisecond)))
	s.finishRun("b")
	assert.Equal(t, []string{"run.finished a inconclusive", "run.started b pending", "run.finished b inconclusive"}, kinds())

	// Idle runs finish in the sweep; runs open at shutdown are abandoned.
	s.record(traces(checkout("idle", time.Millisecond)))
	s.sweep()
	c.advance(time.Minute)
	s.record(traces(checkout("open", time.Millisecond)))
	s.sweep()
	// One sweep takes the runs in no particular order: only each run's own
	// events are ordered.
	assert.ElementsMatch(t, []string{"run.started idle pending", "run.finished idle inconclusive", "run.started open pending"}, kinds())
	s.abandon()
	assert.Equal(t, []string{"run.abandoned open pending"}, kinds())

	// Without sinks, nothing is kept.
	s.publishing = false
	s.finishRun("c")
	assert.Empty(t, s.takeEvents())
}
