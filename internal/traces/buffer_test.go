package traces

import (
	"encoding/json"
	"fmt"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/goleak"

	"github.com/releasegate/releasegate/config"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var start = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

var limits = Limits{IdleTimeout: 10 * time.Second, MaxTraces: 10, MaxSpansPerTrace: 100, MaxSpans: 1000}

// structural are trace gates that walk the structure every way.
const structural = `
gates:
  - name: walk
    scope: trace
    match: root != nil || len(spans) > 0
    assert: all(spans, len(descendants(#)) >= len(children(#)) && len(ancestors(#)) < len(spans) + 1) && (root == nil || parent(root) == nil)
  - name: names
    scope: trace
    match: "true"
    assert: count(spans, .name == "x" && .attributes["k"] == 1 && .resource["service.name"] != nil) >= 0
`

func compile(t testing.TB, doc string) *config.Gates {
	t.Helper()
	d, err := config.Parse([]byte(doc))
	require.NoError(t, err)
	g, err := config.Compile(d)
	require.NoError(t, err)
	return g
}

func newSpan(trace byte, id, parent int) ptrace.Span {
	s := ptrace.NewSpan()
	s.SetTraceID(pcommon.TraceID{15: trace})
	s.SetSpanID(pcommon.SpanID{5: byte(id >> 16), 6: byte(id >> 8), 7: byte(id)})
	if parent != 0 {
		s.SetParentSpanID(pcommon.SpanID{5: byte(parent >> 16), 6: byte(parent >> 8), 7: byte(parent)})
	}
	s.SetName("x")
	s.Attributes().PutInt("k", 1)
	s.Attributes().PutStr("not read", "dropped")
	s.SetStartTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(id) * time.Millisecond)))
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(id)*time.Millisecond + 5*time.Millisecond)))
	return s
}

func resource(b *Buffer) *Resource {
	r := pcommon.NewResource()
	r.Attributes().PutStr("service.name", "checkout")
	r.Attributes().PutStr("host.name", "not read")
	return b.Resource(r)
}

// Only what the gates read is kept of a span.
func TestBufferKeepsWhatGatesRead(t *testing.T) {
	g := compile(t, structural)
	b := New(g.TraceFields(), limits)
	res := resource(b)
	b.Add(start, res, pcommon.NewInstrumentationScope(), newSpan(1, 1, 0), "r")
	tr := b.OfRun("r")[0].Trace()
	require.Len(t, tr.Spans, 1)
	s := tr.Spans[0]
	assert.Equal(t, "x", s.Name)
	assert.Equal(t, map[string]any{"k": 1}, s.Attributes)
	assert.Equal(t, map[string]any{"service.name": "checkout"}, s.Resource)
	assert.Equal(t, "0000000000000001", s.SpanID)
	assert.Empty(t, s.ParentSpanID)
	assert.True(t, s.IsRoot)
	assert.Equal(t, 5*time.Millisecond, s.Duration)
}

// What repeats across spans is kept once: resources alike, names, string
// and int values; each span still reads its own.
func TestBufferSharesWhatRepeats(t *testing.T) {
	b := New(compile(t, structural).TraceFields(), limits)
	assert.Same(t, resource(b), resource(b), "resources alike are one")
	other := pcommon.NewResource()
	other.Attributes().PutStr("service.name", "payments")
	assert.NotSame(t, resource(b), b.Resource(other))
	assert.Nil(t, b.Resource(pcommon.NewResource()), "nothing read of it")

	scope := pcommon.NewInstrumentationScope()
	for i := range 3 {
		s := newSpan(1, i+1, i)
		s.Attributes().PutInt("k", int64(i%2))
		if i == 2 {
			s.Attributes().Remove("k")
		}
		b.Add(start, resource(b), scope, s, "r")
	}
	tr := b.OfRun("r")[0].Trace()
	require.Len(t, tr.Spans, 3)
	assert.Equal(t, map[string]any{"k": 0}, tr.Spans[0].Attributes)
	assert.Equal(t, map[string]any{"k": 1}, tr.Spans[1].Attributes)
	assert.Nil(t, tr.Spans[2].Attributes, "none of the keys read")
	assert.Equal(t, unsafe.StringData(tr.Spans[0].Name), unsafe.StringData(tr.Spans[1].Name), "one copy of a name")
}

// A trace's run is its root's run key; without a root, the first key seen;
// and a trace is handed over once: its later spans are late.
func TestBufferRunsAndLateSpans(t *testing.T) {
	b := New(config.TraceFields{}, limits)
	res := resource(b)
	scope := pcommon.NewInstrumentationScope()
	assert.True(t, b.Add(start, res, scope, newSpan(1, 2, 1), "").New)
	b.Add(start, res, scope, newSpan(1, 3, 2), "r-child")
	b.Add(start, res, scope, newSpan(1, 1, 0), "r-root")
	b.Add(start, res, scope, newSpan(1, 4, 2), "r-other")
	taken := b.OfRun("r-root")
	require.Len(t, taken, 1)
	assert.Equal(t, 4, taken[0].Spans())
	assert.Zero(t, b.Len())
	assert.Zero(t, b.Spans())

	late := b.Add(start, res, scope, newSpan(1, 5, 2), "")
	assert.True(t, late.Late)
	assert.Equal(t, "r-root", late.Run)
	assert.Zero(t, b.Len(), "a late span does not start the trace again")

	b.Add(start, res, scope, newSpan(2, 2, 1), "")
	b.Add(start, res, scope, newSpan(2, 3, 1), "r-first")
	b.Add(start, res, scope, newSpan(2, 4, 1), "r-second")
	assert.Len(t, b.OfRun("r-first"), 1)
}

// Past MaxTraces the oldest trace goes; past MaxSpansPerTrace spans are
// counted, not kept.
func TestBufferBounds(t *testing.T) {
	b := New(config.TraceFields{}, Limits{IdleTimeout: time.Second, MaxTraces: 2, MaxSpansPerTrace: 3, MaxSpans: 100})
	res := resource(b)
	scope := pcommon.NewInstrumentationScope()
	for id := 1; id <= 5; id++ {
		a := b.Add(start, res, scope, newSpan(1, id, 0), "r")
		assert.Equal(t, id > 3, a.Dropped, "span %d", id)
	}
	b.Add(start.Add(time.Second), res, scope, newSpan(2, 1, 0), "r")
	added := b.Add(start.Add(2*time.Second), res, scope, newSpan(3, 1, 0), "r")
	require.Len(t, added.Full, 1, "the oldest leaves")
	full := added.Full[0]
	assert.Equal(t, pcommon.TraceID{15: 1}, full.ID)
	assert.Equal(t, 5, full.Spans())
	assert.Equal(t, 2, full.Dropped)
	assert.Equal(t, 2, b.Len())

	idle := b.Idle(start.Add(2500 * time.Millisecond))
	require.Len(t, idle, 1, "trace 2 went idle, trace 3 not yet")
	assert.Equal(t, pcommon.TraceID{15: 2}, idle[0].ID)
}

// Past MaxSpans, all traces together, the oldest other traces go: never
// the one the span is for.
func TestBufferSpanBound(t *testing.T) {
	b := New(config.TraceFields{}, Limits{IdleTimeout: time.Second, MaxTraces: 10, MaxSpansPerTrace: 4, MaxSpans: 6})
	res := resource(b)
	scope := pcommon.NewInstrumentationScope()
	for trace := byte(1); trace <= 3; trace++ {
		for id := 1; id <= 2; id++ {
			require.Empty(t, b.Add(start, res, scope, newSpan(trace, id, 0), "r").Full)
		}
	}
	assert.Equal(t, 6, b.Spans())
	added := b.Add(start, res, scope, newSpan(1, 3, 0), "r")
	require.Len(t, added.Full, 1, "the oldest trace grows: the next oldest goes")
	assert.Equal(t, pcommon.TraceID{15: 2}, added.Full[0].ID)
	assert.Equal(t, 5, b.Spans())
	b.Add(start, res, scope, newSpan(1, 4, 0), "r")
	added = b.Add(start, res, scope, newSpan(4, 1, 0), "r")
	require.Len(t, added.Full, 1)
	assert.Equal(t, pcommon.TraceID{15: 1}, added.Full[0].ID)
	assert.Equal(t, 4, added.Full[0].Spans())
	assert.Equal(t, 3, b.Spans())
	assert.Equal(t, 2, b.Len())
}

// A trace of 100,000 spans spread over hundreds of batches, with cycles of
// parent ids, duplicate span ids and spans that are their own parent, is
// held to MaxSpansPerTrace and judged without end or panic; memory comes
// back once it is judged.
func TestHostileTrace(t *testing.T) {
	g := compile(t, structural)
	b := New(g.TraceFields(), Limits{IdleTimeout: time.Second, MaxTraces: 10, MaxSpansPerTrace: 10_000, MaxSpans: 10_000})
	scope := pcommon.NewInstrumentationScope()
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for batch := range 500 {
		res := resource(b)
		for i := range 200 {
			id := batch*200 + i + 1
			parent := id%100_000 + 1 // a cycle through every id
			switch {
			case i%7 == 0:
				parent = id // its own parent
			case i%11 == 0:
				id-- // the same id as the span before
			}
			b.Add(start, res, scope, newSpan(1, id, parent), "r")
		}
	}
	taken := b.OfRun("r")
	require.Len(t, taken, 1)
	assert.Equal(t, 100_000, taken[0].Spans())
	assert.Equal(t, 90_000, taken[0].Dropped)
	done := make(chan []config.TraceVerdict)
	go func() { done <- g.JudgeTrace(taken[0].Trace()) }()
	select {
	case v := <-done:
		assert.True(t, v[0].Matched)
		assert.True(t, v[0].Violated, "a span that is its own parent is its own child, not its own descendant")
	case <-time.After(time.Minute):
		t.Fatal("judging did not end")
	}
	taken = nil
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	assert.Less(t, int64(after.HeapAlloc)-int64(before.HeapAlloc), int64(4<<20))
}

// Saved and restored, a trace is the same trace.
func TestSnapshotRestore(t *testing.T) {
	for name, doc := range map[string]string{"every field": `
gates:
  - name: all
    scope: trace
    match: "true"
    assert: len(toJSON(spans)) > 0
`, "keys read": structural} {
		t.Run(name, func(t *testing.T) { testSnapshotRestore(t, compile(t, doc)) })
	}
}

func testSnapshotRestore(t *testing.T, g *config.Gates) {
	b := New(g.TraceFields(), limits)
	res := resource(b)
	s := newSpan(1, 2, 1)
	s.Attributes().PutDouble("ratio", 0.5)
	s.Attributes().PutEmptySlice("list").AppendEmpty().SetBool(true)
	s.Attributes().PutEmptyMap("map").PutEmptyBytes("raw").FromRaw([]byte{1, 2})
	s.Attributes().PutEmptySlice("empty")
	s.Status().SetMessage("boom")
	s.Events().AppendEmpty().SetName("exception")
	b.Add(start, res, pcommon.NewInstrumentationScope(), s, "r")
	b.Add(start, res, pcommon.NewInstrumentationScope(), newSpan(1, 1, 0), "r")
	changed, held := b.Snapshot(false)
	require.Len(t, changed, 1)
	assert.Equal(t, []string{pcommon.TraceID{15: 1}.String()}, held)
	again, _ := b.Snapshot(false)
	assert.Empty(t, again, "nothing changed since")
	data, err := json.Marshal(changed)
	require.NoError(t, err)
	var saved []StoredTrace
	require.NoError(t, json.Unmarshal(data, &saved))

	b2 := New(g.TraceFields(), limits)
	assert.Empty(t, b2.Restore(start, saved))
	want, got := b.OfRun("r")[0].Trace(), b2.OfRun("r")[0].Trace()
	require.Len(t, got.Spans, len(want.Spans))
	for i := range want.Spans {
		assert.Equal(t, *want.Spans[i], *got.Spans[i])
	}

	for name, change := range map[string]func(*StoredTrace){
		"bad trace id":  func(s *StoredTrace) { s.ID = "xyz" },
		"bad span id":   func(s *StoredTrace) { s.Spans[0].ID = "12" },
		"bad parent":    func(s *StoredTrace) { s.Spans[0].Parent = "zz" },
		"too many":      func(s *StoredTrace) { s.Spans = make([]StoredSpan, 101) },
		"negative drop": func(s *StoredTrace) { s.Dropped = -1 },
		"bad kind":      func(s *StoredTrace) { s.Spans[0].Kind = 256 },
	} {
		var bad []StoredTrace
		require.NoError(t, json.Unmarshal(data, &bad))
		change(&bad[0])
		b3 := New(g.TraceFields(), limits)
		assert.Len(t, b3.Restore(start, bad), 1, name)
		assert.Zero(t, b3.Len(), name)
	}
}

// FuzzTraceAssembly feeds spans whose trace ids, span ids and parents come
// from the input, over many batches and resources, runs from the input,
// and judges what the buffer hands over with gates that walk the
// structure: no panic, no trace over its bounds, every span accounted for.
func FuzzTraceAssembly(f *testing.F) {
	f.Add([]byte{1, 1, 0, 1, 1, 2, 1, 1, 2, 1, 1, 3, 3, 2, 2})
	f.Add([]byte{1, 1, 1, 1, 1, 1, 1, 1, 1})
	f.Add([]byte{5, 9, 9, 5, 9, 9, 200, 0, 255})
	g := compile(f, structural)
	f.Fuzz(func(t *testing.T, data []byte) {
		b := New(g.TraceFields(), Limits{IdleTimeout: time.Second, MaxTraces: 4, MaxSpansPerTrace: 16, MaxSpans: 40})
		scope := pcommon.NewInstrumentationScope()
		res := resource(b)
		now := start
		added, handed := 0, 0
		judge := func(taken ...*Assembled) {
			for _, a := range taken {
				require.LessOrEqual(t, len(a.spans), 16)
				handed += a.Spans()
				v := g.JudgeTrace(a.Trace())
				require.Len(t, v, 2)
			}
		}
		for i := 0; i+2 < len(data); i += 3 {
			trace, id, parent := data[i]%8, int(data[i+1]), int(data[i+2])
			if trace == 0 {
				now = now.Add(time.Duration(id) * 10 * time.Millisecond)
				judge(b.Idle(now)...)
				res = resource(b)
				continue
			}
			a := b.Add(now, res, scope, newSpan(trace, id, parent), fmt.Sprint("r", parent%3))
			if !a.Late {
				added++
			}
			judge(a.Full...)
			require.LessOrEqual(t, b.Len(), 4)
			require.LessOrEqual(t, b.Spans(), 40)
		}
		for r := range 3 {
			judge(b.OfRun(fmt.Sprint("r", r))...)
		}
		judge(b.Idle(now.Add(time.Hour))...)
		assert.Equal(t, added, handed, "every span kept or counted")
		assert.Zero(t, b.Len())
		assert.Zero(t, b.Spans())
	})
}
