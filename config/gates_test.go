package config

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

var spanStart = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// testSpan is a checkout server span of 120ms with attributes of every type,
// one event, and a resource that carries a run id.
func testSpan() (pcommon.Resource, pcommon.InstrumentationScope, ptrace.Span) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	rs.Resource().Attributes().PutStr("cicd.pipeline.run.id", "run-42")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("io.opentelemetry.http")
	span := ss.Spans().AppendEmpty()
	span.SetName("POST /checkout")
	span.SetKind(ptrace.SpanKindServer)
	span.Status().SetCode(ptrace.StatusCodeError)
	span.Status().SetMessage("card declined")
	span.SetTraceID(pcommon.TraceID{0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c})
	span.SetSpanID(pcommon.SpanID{0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74})
	span.SetParentSpanID(pcommon.SpanID{0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x73})
	span.SetStartTimestamp(pcommon.NewTimestampFromTime(spanStart))
	span.SetEndTimestamp(pcommon.NewTimestampFromTime(spanStart.Add(120 * time.Millisecond)))
	attrs := span.Attributes()
	attrs.PutStr("http.request.method", "POST")
	attrs.PutInt("http.response.status_code", 502)
	attrs.PutDouble("sample.ratio", 0.25)
	attrs.PutBool("retry", true)
	attrs.PutEmptyBytes("payload").FromRaw([]byte{1, 2})
	list := attrs.PutEmptySlice("tags")
	list.AppendEmpty().SetStr("a")
	list.AppendEmpty().SetInt(7)
	attrs.PutEmptyMap("user").PutStr("tier", "gold")
	event := span.Events().AppendEmpty()
	event.SetName("exception")
	event.SetTimestamp(pcommon.NewTimestampFromTime(spanStart.Add(100 * time.Millisecond)))
	event.Attributes().PutStr("exception.type", "CardDeclined")
	return rs.Resource(), ss.Scope(), span
}

func compileOne(t *testing.T, g Gate) *Gates {
	t.Helper()
	if g.Name == "" {
		g.Name = "g"
	}
	gates, err := Compile(Document{Gates: []Gate{g}})
	require.NoError(t, err)
	return gates
}

func evaluate(gates *Gates) Result {
	res, scope, span := testSpan()
	ev := gates.Evaluator()
	defer ev.Release()
	r := *ev.Evaluate(res, scope, span)
	// Copy the reused slices.
	r.Matched = append([]int(nil), r.Matched...)
	r.Violated = append([]int(nil), r.Violated...)
	r.Errored = append([]int(nil), r.Errored...)
	r.MatchErrors = append([]int(nil), r.MatchErrors...)
	return r
}

// Every name of the span environment reads the span, with its value typed.
func TestSpanEnvironment(t *testing.T) {
	for _, cond := range []string{
		`name == "POST /checkout"`,
		`kind == "server"`,
		`status == "error"`,
		`status_message == "card declined"`,
		`duration == duration("120ms")`,
		`duration < duration("300ms") && duration > duration("100ms")`,
		`start_time == date("2026-11-01T12:00:00Z")`,
		`end_time - start_time == duration("120ms")`,
		`trace_id == "5b8efff798038103d269b633813fc60c"`,
		`span_id == "eee19b7ec3c1b174"`,
		`parent_span_id == "eee19b7ec3c1b173"`,
		`!is_root`,
		`scope_name == "io.opentelemetry.http"`,
		`resource["service.name"] == "checkout"`,
		`resource.service?.name == nil`,
		`attributes["http.request.method"] == "POST"`,
		`attributes["http.response.status_code"] == 502`,
		`attributes["http.response.status_code"] >= 500`,
		`attributes["http.response.status_code"] + 1 == 503`,
		`type(attributes["http.response.status_code"]) == "int"`,
		`type(attributes["sample.ratio"]) == "float"`,
		`attributes["sample.ratio"] < 0.5`,
		`attributes["retry"] == true`,
		`attributes["retry"]`,
		`attributes["payload"] == nil == false`,
		`attributes["tags"] == ["a", 7]`,
		`"a" in attributes["tags"]`,
		`attributes["user"].tier == "gold"`,
		`attributes["missing"] == nil`,
		`(attributes["missing"] ?? 0) == 0`,
		`"retry" in attributes`,
		`len(attributes) == 7`,
		`len(keys(resource)) == 2`,
		`attributes[lower("RETRY")] == true`,
		`len(events) == 1`,
		`any(events, .name == "exception" && .attributes["exception.type"] == "CardDeclined")`,
		`events[0].time - start_time == duration("100ms")`,
		`let d = duration; d > duration("1ms")`,
		`duration(attributes["http.request.method"] == "POST" ? "1s" : "2s") == duration("1s")`,
	} {
		t.Run(cond, func(t *testing.T) {
			r := evaluate(compileOne(t, Gate{Match: "true", Assert: cond}))
			assert.Empty(t, r.Errored, "assert failed to evaluate")
			assert.Empty(t, r.Violated, "assert does not hold")
		})
	}
}

func TestRootSpan(t *testing.T) {
	gates := compileOne(t, Gate{Match: `is_root && parent_span_id == ""`})
	res, scope, span := testSpan()
	span.SetParentSpanID(pcommon.SpanID{})
	ev := gates.Evaluator()
	defer ev.Release()
	assert.Equal(t, []int{0}, ev.Evaluate(res, scope, span).Matched)
}

func TestMatchAndAssert(t *testing.T) {
	doc, err := Parse([]byte(`
gates:
  - {name: checkout-fast, match: 'name == "POST /checkout"', assert: 'duration < duration("100ms")'}
  - {name: checkout-ok, match: 'resource["service.name"] == "checkout"', assert: 'status != "error"'}
  - {name: other-service, match: 'resource["service.name"] == "cart"'}
  - {name: no-assert, match: 'kind == "server"'}
  - {name: checkout-5xx, match: 'name == "POST /checkout"', assert: 'attributes["http.response.status_code"] < 500'}
  - {name: holds, match: 'true', assert: 'duration < duration("1s")'}
`))
	require.NoError(t, err)
	gates, err := Compile(doc)
	require.NoError(t, err)
	r := evaluate(gates)
	assert.Equal(t, "run-42", r.Run)
	assert.Equal(t, []int{0, 1, 3, 4, 5}, r.Matched)
	assert.Equal(t, []int{0, 1, 4}, r.Violated)
	assert.Empty(t, r.Errored)
	assert.Empty(t, r.MatchErrors)
}

// A runtime error in assert is a violation and an error, so the gate fails
// safe; a runtime error in match is no match.
func TestRuntimeErrors(t *testing.T) {
	doc := Document{Gates: []Gate{
		{Name: "assert-errors", Match: "true", Assert: `attributes["missing"] < 500`},
		{Name: "match-errors", Match: `attributes["missing"] > 1`},
		{Name: "fine", Match: "true", Assert: "true"},
	}}
	gates, err := Compile(doc)
	require.NoError(t, err)
	r := evaluate(gates)
	assert.Equal(t, []int{0, 2}, r.Matched)
	assert.Equal(t, []int{0}, r.Violated)
	assert.Equal(t, []int{0}, r.Errored)
	assert.Equal(t, []int{1}, r.MatchErrors)
}

func TestRunKey(t *testing.T) {
	tests := []struct {
		name     string
		run      string
		resource map[string]any
		span     map[string]any
		want     string
	}{
		{name: "resource run id", resource: map[string]any{"cicd.pipeline.run.id": "r-1", "service.version": "1.2"}, want: "r-1"},
		{name: "span run id", resource: map[string]any{"service.version": "1.2"}, span: map[string]any{"cicd.pipeline.run.id": "r-2"}, want: "r-2"},
		{name: "service version is not a run", resource: map[string]any{"service.version": "1.2", "service.name": "jaeger"}, want: ""},
		{name: "service version, asked for", run: `resource["cicd.pipeline.run.id"] ?? resource["service.version"]`, resource: map[string]any{"service.version": "1.2"}, want: "1.2"},
		{name: "none", want: ""},
		{name: "empty", resource: map[string]any{"cicd.pipeline.run.id": ""}, want: ""},
		{name: "integer", resource: map[string]any{"cicd.pipeline.run.id": 1234}, want: "1234"},
		{name: "not a scalar", resource: map[string]any{"cicd.pipeline.run.id": []any{"a"}}, want: ""},
		{name: "custom", run: `resource["k8s.namespace.name"] + "/" + attributes["build"]`, resource: map[string]any{"k8s.namespace.name": "staging"}, span: map[string]any{"build": "b7"}, want: "staging/b7"},
		{name: "custom failing", run: `resource["k8s.namespace.name"] + 1`, resource: map[string]any{"k8s.namespace.name": "staging"}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gates, err := Compile(Document{Run: tt.run, Gates: []Gate{{Name: "g", Match: "true", Assert: "false"}}})
			require.NoError(t, err)
			td := ptrace.NewTraces()
			rs := td.ResourceSpans().AppendEmpty()
			require.NoError(t, rs.Resource().Attributes().FromRaw(tt.resource))
			ss := rs.ScopeSpans().AppendEmpty()
			span := ss.Spans().AppendEmpty()
			require.NoError(t, span.Attributes().FromRaw(tt.span))
			ev := gates.Evaluator()
			defer ev.Release()
			r := ev.Evaluate(rs.Resource(), ss.Scope(), span)
			assert.Equal(t, tt.want, r.Run)
			assert.Equal(t, []int{0}, r.Matched)
			if tt.want == "" {
				assert.Empty(t, r.Violated, "no assert runs for a span without a run key")
			} else {
				assert.Equal(t, []int{0}, r.Violated)
			}
		})
	}
}

func TestRunConditions(t *testing.T) {
	doc, err := Parse([]byte(`
gates:
  - name: latency
    match: "true"
    fail: p95 > duration("250ms") || violation_ratio > 0.01
    warn: p95 > duration("200ms") && elapsed > duration("1m")
  - name: defaults
    match: "true"
`))
	require.NoError(t, err)
	gates, err := Compile(doc)
	require.NoError(t, err)
	latency, defaults := gates.At(0), gates.At(1)

	stats := RunStats{Aggregates: Aggregates{Spans: 100, P95: 220 * time.Millisecond, Elapsed: 2 * time.Minute}}
	fails, err := latency.Fails(stats)
	require.NoError(t, err)
	assert.False(t, fails)
	warns, err := latency.Warns(stats)
	require.NoError(t, err)
	assert.True(t, warns)

	stats.P95 = 312 * time.Millisecond
	fails, _ = latency.Fails(stats)
	assert.True(t, fails)
	stats.P95, stats.ViolationRatio = 100*time.Millisecond, 0.02
	fails, _ = latency.Fails(stats)
	assert.True(t, fails)

	// Default fail: violations > 0; no warn.
	fails, _ = defaults.Fails(RunStats{Aggregates: Aggregates{Spans: 3}})
	assert.False(t, fails)
	fails, _ = defaults.Fails(RunStats{Aggregates: Aggregates{Spans: 3, Violations: 1}})
	assert.True(t, fails)
	warns, err = defaults.Warns(RunStats{Aggregates: Aggregates{Spans: 3, Violations: 1}})
	require.NoError(t, err)
	assert.False(t, warns)
}

// Programs are shared and evaluators pooled: concurrent evaluation gives
// every goroutine its own, correct results (run with -race).
func TestConcurrentEvaluation(t *testing.T) {
	gates := compileOne(t, Gate{Match: `kind == "server"`, Assert: `attributes["n"] % 2 == 0`})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			td := ptrace.NewTraces()
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("cicd.pipeline.run.id", fmt.Sprint("v", w))
			ss := rs.ScopeSpans().AppendEmpty()
			span := ss.Spans().AppendEmpty()
			span.SetKind(ptrace.SpanKindServer)
			for n := range 500 {
				span.Attributes().PutInt("n", int64(n))
				ev := gates.Evaluator()
				r := ev.Evaluate(rs.Resource(), ss.Scope(), span)
				assert.Equal(t, fmt.Sprint("v", w), r.Run)
				assert.Equal(t, n%2 == 1, len(r.Violated) == 1)
				ev.Release()
			}
		})
	}
	wg.Wait()
}
