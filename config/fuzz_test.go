package config

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// FuzzGatesDocument feeds any YAML document, and any expressions in the
// fields of one gate, to Parse and Compile: they load or are refused with
// errors that name the field, and never panic or hang. Gates that load are
// evaluated on spans and judged on run aggregates, within the limits.
func FuzzGatesDocument(f *testing.F) {
	f.Fuzz(func(t *testing.T, yaml []byte, run, match, assertion, fail, warn string) {
		defer time.AfterFunc(hang, func() { panic("no result after " + hang.String()) }).Stop()
		if doc, err := Parse(yaml); err == nil {
			if gates, err := Compile(doc); err == nil {
				exercise(t, gates)
			}
		}

		// The same fields as a span gate, and as a trace gate.
		for _, scope := range []Scope{ScopeSpan, ScopeTrace} {
			doc := Document{Run: run, Gates: []Gate{{
				Name: "fuzz", Scope: scope, Match: match, Assert: assertion, Fail: fail, Warn: warn,
				MinSpans: DefaultMinSpans, MinTraces: DefaultMinTraces, OnNoData: NoDataInconclusive, OnNoBaseline: NoBaselineIgnore,
			}}}
			gates, err := Compile(doc)
			if err != nil {
				for line := range strings.SplitSeq(err.Error(), "\n") {
					require.Regexp(t, `^(run|gate "fuzz": (match|assert|fail|warn)): \S`, line)
				}
				continue
			}
			exercise(t, gates)
		}
	})
}

// hang is how long one input may take. Go's fuzzing has no such limit: an
// input that hangs would stall it without a trace, where a crash saves it.
const hang = 20 * time.Second

// exercise evaluates compiled gates on spans of every shape and judges them
// on run aggregates, checking what the results promise.
func exercise(t *testing.T, gates *Gates) {
	for _, s := range fuzzSpans() {
		ev := gates.Evaluator()
		r := ev.Evaluate(s.resource, s.scope, s.span)
		inRange := func(i int) bool { return i >= 0 && i < gates.Len() }
		require.True(t, slices.IsSorted(r.Matched) && len(slices.Compact(slices.Clone(r.Matched))) == len(r.Matched), "matched %v", r.Matched)
		require.False(t, slices.ContainsFunc(r.Matched, func(i int) bool { return !inRange(i) }), "matched %v", r.Matched)
		for _, i := range r.Violated {
			require.Contains(t, r.Matched, i, "violated but not matched")
		}
		for _, i := range r.Errored {
			require.Contains(t, r.Violated, i, "errored but not violated")
		}
		for _, i := range r.MatchErrors {
			require.True(t, inRange(i))
			require.NotContains(t, r.Matched, i, "matched although its match errored")
		}
		if r.Run == "" {
			require.Empty(t, r.Violated, "asserts evaluated without a run key")
		}
		ev.Release()
	}

	// Trace gates on traces of every shape: empty, rootless, a cycle.
	for _, tr := range fuzzTraces() {
		verdicts := gates.JudgeTrace(tr)
		require.Len(t, verdicts, gates.Len())
		for i, v := range verdicts {
			if gates.At(i).Scope != ScopeTrace {
				require.Zero(t, v, "a span gate judged a trace")
			}
			require.False(t, v.Violated && !v.Matched, "violated but not matched")
			require.False(t, v.Errored && !v.Violated, "errored but not violated")
		}
	}

	before := RunStats{Aggregates: Aggregates{Spans: 10, Violations: 3, ViolationRatio: 0.3, Errors: 1, ErrorRatio: 0.1,
		P50: time.Millisecond, P90: 2 * time.Millisecond, P95: 3 * time.Millisecond, P99: time.Second,
		Max: time.Second, Mean: 10 * time.Millisecond, Elapsed: time.Minute}}
	later := before
	later.Spans, later.Violations, later.Errors, later.Elapsed = 20, 8, 6, time.Hour
	for i := range gates.Len() {
		g := gates.At(i)
		for _, stats := range []RunStats{{}, before} {
			fails, err := g.Fails(stats)
			if err == nil && fails && g.FailsFast() {
				// A gate that fails fast fails for good.
				failsLater, err := g.Fails(later)
				require.NoError(t, err)
				require.True(t, failsLater, "fail %q held for %+v, not for %+v", g.Fail, stats, later)
			}
			_, _ = g.Warns(stats)
			_ = g.ExplainFail(stats)
			_ = g.ExplainWarn(stats)
			_ = g.CompareFail(stats)
			_ = g.CompareWarn(stats)
		}
		// Compared with a baseline: evaluated and explained whole.
		compared := later
		compared.Baseline, compared.Compared, compared.BaselineRun = before.Aggregates, true, "r-40"
		compared.LatencyRatio, compared.LatencyRatioLow, compared.LatencyRatioHigh = 1.3, 1.2, 1.4
		_, _ = g.Fails(compared)
		_, _ = g.Warns(compared)
		_ = g.ExplainFail(compared)
		_ = g.CompareWarn(compared)
	}
}

// fuzzTraces are an empty trace, the test checkout, one without a root
// whose parent ids make a cycle, and one of odd spans.
func fuzzTraces() []*Trace {
	rootless := checkoutTrace(2, "ok")
	rootless.Spans[0].ParentSpanID = rootless.Spans[len(rootless.Spans)-1].SpanID
	odd := &Trace{ID: "t", Spans: []*TraceSpan{{}, {SpanID: "a", ParentSpanID: "a", Attributes: map[string]any{"k": []any{map[string]any{}}}}}}
	return []*Trace{{ID: "empty"}, checkoutTrace(3, "error"), rootless, odd}
}

type fuzzSpan struct {
	resource pcommon.Resource
	scope    pcommon.InstrumentationScope
	span     ptrace.Span
}

// fuzzSpans are the test span, an empty span of an empty resource, and one
// with inverted timestamps, an unknown kind and status and odd attributes.
func fuzzSpans() []fuzzSpan {
	res, scope, span := testSpan()
	spans := []fuzzSpan{{res, scope, span}}

	rs := ptrace.NewResourceSpans()
	ss := rs.ScopeSpans().AppendEmpty()
	spans = append(spans, fuzzSpan{rs.Resource(), ss.Scope(), ss.Spans().AppendEmpty()})

	rs = ptrace.NewResourceSpans()
	rs.Resource().Attributes().PutInt("cicd.pipeline.run.id", -1)
	ss = rs.ScopeSpans().AppendEmpty()
	odd := ss.Spans().AppendEmpty()
	odd.SetStartTimestamp(pcommon.Timestamp(time.Hour))
	odd.SetKind(ptrace.SpanKind(42))
	odd.Status().SetCode(ptrace.StatusCode(9))
	attrs := odd.Attributes()
	attrs.PutEmpty("empty")
	attrs.PutStr("", strings.Repeat("é", 1000))
	attrs.PutEmptyMap("nested").PutEmptySlice("list").AppendEmpty().SetEmptyMap().PutEmptyBytes("b")
	odd.Events().AppendEmpty()
	return append(spans, fuzzSpan{rs.Resource(), ss.Scope(), odd})
}
