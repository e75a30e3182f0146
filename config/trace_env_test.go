package config

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

var traceStart = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// tspan is a span of a test trace: id, parent id, name, service, start and
// duration in milliseconds, and its status.
func tspan(id, parent, name, service string, startMs, durMs int, status string) *TraceSpan {
	start := traceStart.Add(time.Duration(startMs) * time.Millisecond)
	d := time.Duration(durMs) * time.Millisecond
	return &TraceSpan{
		Name: name, Kind: "server", Status: status, Duration: d, StartTime: start, EndTime: start.Add(d),
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: id, ParentSpanID: parent, IsRoot: parent == "",
		Resource: map[string]any{"service.name": service}, Attributes: map[string]any{},
	}
}

// checkoutTrace is a checkout through the frontend, the orders service and
// its database, with an N+1 of SELECTs.
func checkoutTrace(selects int, insertStatus string) *Trace {
	spans := []*TraceSpan{
		tspan("a1", "", "POST /checkout", "frontend", 0, 900, "ok"),
		tspan("b1", "a1", "POST /orders", "orders", 10, 800, "ok"),
		tspan("c1", "b1", "INSERT orders", "orders", 20, 30, insertStatus),
	}
	for i := range selects {
		spans = append(spans, tspan(fmt.Sprint("d", i), "b1", "SELECT items", "orders", 60+i, 5, "unset"))
	}
	return &Trace{ID: "4bf92f3577b34da6a3ce929d0e0e4736", Spans: spans}
}

func traceGate(t *testing.T, match, assert string) *Gates {
	t.Helper()
	gates, err := Compile(Document{Gates: []Gate{{Name: "t", Scope: ScopeTrace, Match: match, Assert: assert, MinTraces: 1}}})
	require.NoError(t, err)
	return gates
}

// The examples, and the README's: structure, counts, duration,
// ordering, grouping and absence, on traces that keep or break them.
func TestJudgeTrace(t *testing.T) {
	for _, tt := range []struct {
		name, match, assert string
		trace               *Trace
		matched, violated   bool
		observed            string
	}{
		{"written once", `root != nil && root.name == "POST /checkout"`, `count(spans, .name == "INSERT orders") == 1`, checkoutTrace(3, "ok"), true, false, ""},
		{"no N+1", `root != nil`, `all(spans, len(children(#)) <= 10)`, checkoutTrace(12, "ok"), true, true, ""},
		{"N+1 counted", `root != nil`, `count(spans, .name == "SELECT items") <= 10`, checkoutTrace(14, "ok"), true, true, "14"},
		{"errors under the frontend", `any(spans, .resource["service.name"] == "frontend")`,
			`none(filter(spans, .resource["service.name"] == "frontend"), any(descendants(#), .status == "error"))`, checkoutTrace(1, "error"), true, true, ""},
		{"no errors under the frontend", `any(spans, .resource["service.name"] == "frontend")`,
			`none(filter(spans, .resource["service.name"] == "frontend"), any(descendants(#), .status == "error"))`, checkoutTrace(1, "ok"), true, false, ""},
		{"trace duration", `root != nil && root.name startsWith "POST"`, `duration < duration("1s")`, checkoutTrace(1, "ok"), true, false, ""},
		{"trace too slow", `true`, `duration < duration("500ms")`, checkoutTrace(1, "ok"), true, true, "900ms"},
		{"not matched", `root != nil && root.name == "GET /dispatch"`, `false`, checkoutTrace(1, "ok"), false, false, ""},
		{"ordering", `true`, `let s = sortBy(spans, .start_time); s[0].name == "POST /checkout" && last(s).name == "SELECT items"`, checkoutTrace(2, "ok"), true, false, ""},
		{"per service", `true`, `len(groupBy(spans, .resource["service.name"])["orders"]) == 4`, checkoutTrace(2, "ok"), true, false, ""},
		{"parent and ancestors", `true`, `all(filter(spans, .name == "SELECT items"), parent(#).name == "POST /orders" && len(ancestors(#)) == 2)`, checkoutTrace(2, "ok"), true, false, ""},
		{"trace id", `true`, `trace_id == "4bf92f3577b34da6a3ce929d0e0e4736" && len(spans) == 5`, checkoutTrace(2, "ok"), true, false, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := traceGate(t, tt.match, tt.assert).JudgeTrace(tt.trace)[0]
			assert.Equal(t, tt.matched, v.Matched)
			assert.Equal(t, tt.violated, v.Violated)
			assert.False(t, v.Errored)
			assert.False(t, v.MatchError)
			assert.Equal(t, tt.observed, v.Observed)
		})
	}
}

// A root that never arrived is nil, and the names that read it are safe.
func TestJudgeTraceWithoutRoot(t *testing.T) {
	trace := checkoutTrace(1, "ok")
	trace.Spans = trace.Spans[1:]
	v := traceGate(t, `root == nil`, `parent(spans[0]) == nil && len(children(root)) == 0 && len(descendants(root)) == 0`).JudgeTrace(trace)[0]
	assert.True(t, v.Matched)
	assert.False(t, v.Violated)
	v = traceGate(t, `true`, `root.name == "x"`).JudgeTrace(trace)[0]
	assert.True(t, v.Violated, "nil has no name")
	assert.True(t, v.Errored)
}

// Hostile structure: cycles of parent ids, a span that is its own parent,
// duplicate span ids. The structural functions end, and list each span
// once.
func TestStructureOfHostileTraces(t *testing.T) {
	spans := []*TraceSpan{
		tspan("a", "c", "a", "s", 0, 1, "ok"), // a → c → b → a: a cycle
		tspan("b", "a", "b", "s", 1, 1, "ok"),
		tspan("c", "b", "c", "s", 2, 1, "ok"),
		tspan("d", "d", "d", "s", 3, 1, "ok"), // its own parent
		tspan("e", "", "e", "s", 4, 1, "ok"),
		tspan("e", "", "e again", "s", 5, 1, "ok"), // the same id
	}
	trace := &Trace{ID: "t", Spans: spans}
	for assert_, want := range map[string]bool{
		`root.name == "e"`: true,
		`len(descendants(spans[0])) == 2 && len(ancestors(spans[0])) == 2`:  true,
		`map(ancestors(spans[1]), .name) == ["a", "c"]`:                     true,
		`len(children(spans[3])) == 1 && children(spans[3])[0] == spans[3]`: true,
		`len(descendants(spans[3])) == 0 && len(ancestors(spans[3])) == 0`:  true,
		`parent(spans[3]) == spans[3]`:                                      true,
	} {
		v := traceGate(t, `true`, assert_).JudgeTrace(trace)[0]
		assert.Equal(t, !want, v.Violated, assert_)
		assert.False(t, v.Errored, assert_)
	}
}

// A structural loop over a large trace is bounded by the evaluation's
// meter: it errors, and so violates, rather than running for long.
func TestStructureIsMetered(t *testing.T) {
	var spans []*TraceSpan
	for i := range 2000 {
		parent := ""
		if i > 0 {
			parent = fmt.Sprint(i - 1)
		}
		spans = append(spans, tspan(fmt.Sprint(i), parent, "s", "s", i, 1, "ok"))
	}
	v := traceGate(t, `true`, `all(spans, len(descendants(#)) >= 0)`).JudgeTrace(&Trace{ID: "chain", Spans: spans})[0]
	assert.True(t, v.Errored, "2,000 spans deep: two million steps")
	v = traceGate(t, `true`, `all(spans, len(children(#)) <= 1)`).JudgeTrace(&Trace{ID: "chain", Spans: spans})[0]
	assert.False(t, v.Violated)
}

func TestTraceGateErrors(t *testing.T) {
	for _, tt := range []struct {
		gate Gate
		want string
	}{
		{Gate{Name: "g", Scope: ScopeTrace, Match: "true", Fail: "spans > 3"}, `gate "g": fail: column 1: a trace gate counts traces: use traces`},
		{Gate{Name: "g", Match: "true", Fail: "traces > 3"}, `gate "g": fail: column 1: a span gate counts spans: use spans, or scope: trace`},
		{Gate{Name: "g", Match: "root != nil"}, `gate "g": match: column 1: root is a name of trace gates (scope: trace)`},
		{Gate{Name: "g", Match: "true", Assert: "len(children(x)) > 0"}, `gate "g": assert: column 5: children is a name of trace gates (scope: trace)`},
		{Gate{Name: "g", Scope: ScopeTrace, Match: `name == "x"`}, `gate "g": match: column 1: unknown name name`},
		{Gate{Name: "g", Scope: ScopeTrace, Match: "true", Assert: `duraton < duration("1s")`}, `gate "g": assert: column 1: unknown name duraton`},
		{Gate{Name: "g", Scope: ScopeTrace, Match: "true", Assert: `duration < duration("1x")`}, `gate "g": assert: column 21: invalid duration "1x"`},
		{Gate{Name: "g", Scope: ScopeTrace, Match: "let root = 1; true"}, `gate "g": match: column 5: "root" is a name of the trace environment and cannot be redeclared`},
		{Gate{Name: "g", Scope: ScopeTrace, Match: "$spans != nil"}, `gate "g": match: column 1: unknown name $spans`},
		{Gate{Name: "g", Scope: ScopeTrace, Match: "  "}, `gate "g": match: is required (an expression that selects the traces this gate judges)`},
	} {
		_, err := Compile(Document{Gates: []Gate{tt.gate}})
		require.Error(t, err, tt.want)
		assert.Contains(t, err.Error(), tt.want)
	}
}

func TestTraceGateKeys(t *testing.T) {
	for src, want := range map[string]string{
		"gates: [{name: g, scope: trace, match: 'true', min_spans: 3}]":    `gate "g": min_spans: a trace gate counts traces: use min_traces`,
		"gates: [{name: g, match: 'true', min_traces: 3}]":                 `gate "g": min_traces: a span gate counts spans: use min_spans, or scope: trace`,
		"gates: [{name: g, scope: traces, match: 'true'}]":                 `gate "g": scope: must be span or trace; got traces`,
		"gates: [{name: g, scope: trace, match: 'true', min_traces: -1}]":  `gate "g": min_traces: must not be negative, got -1`,
		"gates: [{name: g, scope: trace, match: 'true', min_traces: two}]": `gate "g": min_traces: must be a whole number, got a string`,
	} {
		_, err := Parse([]byte(src))
		require.Error(t, err, src)
		assert.Contains(t, err.Error(), want)
	}
	doc, err := Parse([]byte("gates: [{name: g, scope: trace, match: 'true'}, {name: h, match: 'true'}]"))
	require.NoError(t, err)
	assert.Equal(t, Gate{Name: "g", Scope: ScopeTrace, Match: "true", MinTraces: 1, OnNoData: NoDataInconclusive, OnNoBaseline: NoBaselineIgnore}, doc.Gates[0])
	assert.Equal(t, Gate{Name: "h", Scope: ScopeSpan, Match: "true", MinSpans: 1, OnNoData: NoDataInconclusive, OnNoBaseline: NoBaselineIgnore}, doc.Gates[1])
	gates, err := Compile(doc)
	require.NoError(t, err)
	assert.Equal(t, 1, gates.At(0).MinCount())
	assert.True(t, gates.HasTraceGates())
}

// A trace buffer keeps what the trace gates read, worked out from their
// expressions.
func TestTraceFields(t *testing.T) {
	fields := func(asserts ...string) TraceFields {
		var doc Document
		for i, a := range asserts {
			doc.Gates = append(doc.Gates, Gate{Name: fmt.Sprint("g", i), Scope: ScopeTrace, Match: "true", Assert: a})
		}
		gates, err := Compile(doc)
		require.NoError(t, err)
		return gates.TraceFields()
	}
	assert.Equal(t, TraceFields{}, fields(`duration < duration("1s")`, `len(spans) < 100`, `all(spans, len(children(#)) < 5)`))
	assert.Equal(t, TraceFields{Name: true, Attributes: []string{"db.system"}, Resource: []string{"service.name"}},
		fields(`count(spans, .name == "SELECT" && .attributes["db.system"] == "mysql") < 3`, `root.resource["service.name"] == "frontend"`))
	assert.Equal(t, TraceFields{AllAttributes: true, Attributes: []string{"k"}},
		fields(`all(spans, "retry" in .attributes)`, `root.attributes["k"] == 1`))
	assert.Equal(t, TraceFields{StatusMessage: true, ScopeName: true, Events: true, AllResource: true},
		fields(`root.status_message == "" && root.scope_name != "x" && len(root.events) == 0 && len(keys(root.resource)) > 0`))
	everything := TraceFields{Name: true, StatusMessage: true, ScopeName: true, Events: true, AllAttributes: true, AllResource: true}
	assert.Equal(t, everything, fields(`len(toJSON(root)) > 0`))
	assert.Equal(t, everything, fields(`string(spans) != ""`))
	spanOnly, err := Compile(Document{Gates: []Gate{{Name: "g", Match: "true"}}})
	require.NoError(t, err)
	assert.Equal(t, TraceFields{}, spanOnly.TraceFields(), "no trace gate: nothing")
	assert.False(t, spanOnly.HasTraceGates())
}

// What a violating trace showed: the side of the assert that is not the
// constant, whichever side the constant is on, cut at 64 bytes.
func TestObservedValue(t *testing.T) {
	long := func(n int) *Trace {
		tr := checkoutTrace(1, "ok")
		tr.Spans[0].Name = strings.Repeat("n", n)
		return tr
	}
	for _, tt := range []struct {
		assert   string
		trace    *Trace
		observed string
	}{
		{`count(spans, .name == "SELECT items") <= 10`, checkoutTrace(14, "ok"), "14"},
		{`10 >= count(spans, .name == "SELECT items")`, checkoutTrace(14, "ok"), "14"},
		{`len(spans) < -1`, checkoutTrace(2, "ok"), "5"},
		{`-1 > len(spans)`, checkoutTrace(2, "ok"), "5"},
		{`duration("500ms") > duration`, checkoutTrace(1, "ok"), "900ms"},
		{`root.duration < duration`, checkoutTrace(1, "ok"), ""}, // no constant
		// 62 bytes quoted are 64: shown whole; one more is cut.
		{`root.name == "x"`, long(62), `"` + strings.Repeat("n", 62) + `"`},
		{`root.name == "x"`, long(63), `"` + strings.Repeat("n", 63) + "…"},
	} {
		v := traceGate(t, "true", tt.assert).JudgeTrace(tt.trace)[0]
		assert.True(t, v.Violated, tt.assert)
		assert.False(t, v.Errored, tt.assert)
		assert.Equal(t, tt.observed, v.Observed, tt.assert)
	}
}

// The lists the structural functions build are charged to the
// evaluation's memory, 16 bytes an element: with the budget all but spent,
// ten descendants or ancestors fit in 160 bytes, not in 159.
func TestStructureIsCharged(t *testing.T) {
	var spans []*TraceSpan
	for i := range 11 {
		parent := ""
		if i > 0 {
			parent = fmt.Sprint(i - 1)
		}
		spans = append(spans, tspan(fmt.Sprint(i), parent, "s", "s", i, 1, "ok"))
	}
	chain := &Trace{ID: "chain", Spans: spans}
	for _, tt := range []struct {
		left    int
		errored bool
	}{{160, false}, {159, true}} {
		for _, list := range []string{"descendants(root)", "ancestors(spans[10])"} {
			assertion := allBut(tt.left) + fmt.Sprintf("len(%s) == 10", list)
			v := traceGate(t, "true", assertion).JudgeTrace(chain)[0]
			assert.Equal(t, tt.errored, v.Errored, "%s with %d bytes left", list, tt.left)
			assert.Equal(t, tt.errored, v.Violated, "%s with %d bytes left", list, tt.left)
		}
	}
}

// The run key of a span that no gate annotated, for trace gates: by the
// document's run expression, read straight from the span or evaluated.
func TestRunKeyOfAnySpan(t *testing.T) {
	span := ptrace.NewSpan()
	span.Attributes().PutStr("cicd.pipeline.run.id", "r-7")
	span.Attributes().PutInt("build", 12)
	res := pcommon.NewResource()
	scope := pcommon.NewInstrumentationScope()
	for run, want := range map[string]string{
		"":                                   "r-7", // the default, read straight from the span
		`attributes["build"] ?? "x"`:         "12",
		`"b-" + string(attributes["build"])`: "b-12",
		`attributes["missing"]`:              "",
	} {
		gates, err := Compile(Document{Run: run, Gates: []Gate{{Name: "g", Scope: ScopeTrace, Match: "true"}}})
		require.NoError(t, err)
		assert.Equal(t, want, gates.RunKey(res, scope, span), run)
	}
}
