package traces

import (
	"fmt"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/releasegate/releasegate/config"
)

// take buffers the spans, as one trace of run "r", and hands it over.
func take(t *testing.T, b *Buffer, spans ...ptrace.Span) *Assembled {
	t.Helper()
	res := resource(b)
	for _, s := range spans {
		b.Add(start, res, pcommon.NewInstrumentationScope(), s, "r")
	}
	taken := b.OfRun("r")
	require.Len(t, taken, 1)
	return taken[0]
}

// What a judged trace reports of itself: its duration, from its earliest
// start to its latest end, whatever order its spans came in; whether a span
// has status error; its root, the earliest span without a parent.
func TestAssembledTrace(t *testing.T) {
	b := New(compile(t, structural).TraceFields(), limits)
	late := newSpan(1, 50, 1) // 50ms to 55ms
	late.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(80 * time.Millisecond)))
	secondRoot := newSpan(1, 7, 0) // a second span without a parent, later
	secondRoot.SetName("second root")
	failed := newSpan(1, 3, 1)
	failed.Status().SetCode(ptrace.StatusCodeError)
	a := take(t, b, late, newSpan(1, 2, 1), secondRoot, newSpan(1, 1, 0), failed)
	assert.Equal(t, 79*time.Millisecond, a.Duration(), "1ms to 80ms")
	assert.True(t, a.HasError())
	id, name := a.Root()
	assert.Equal(t, "0000000000000001", id)
	assert.Equal(t, "x", name)
	assert.Equal(t, 5, a.Spans())

	ok := take(t, b, newSpan(2, 2, 1), newSpan(2, 3, 1))
	assert.False(t, ok.HasError())
	id, name = ok.Root()
	assert.Empty(t, id, "no root arrived")
	assert.Empty(t, name)
	assert.Equal(t, 6*time.Millisecond, ok.Duration())

	// Of roots that start together, the first to arrive.
	first, second := newSpan(4, 2, 0), newSpan(4, 1, 0)
	second.SetStartTimestamp(first.StartTimestamp())
	second.SetName("second")
	id, name = take(t, b, first, second).Root()
	assert.Equal(t, "0000000000000002", id)
	assert.Equal(t, "x", name)

	inverted := newSpan(3, 10, 0)
	inverted.SetEndTimestamp(pcommon.NewTimestampFromTime(start))
	assert.Zero(t, take(t, b, inverted).Duration(), "inverted timestamps are no time")

	assert.Zero(t, (&Assembled{}).Duration(), "no spans")
}

// A trace goes idle IdleTimeout after its last span, not later.
func TestIdleAtTheTimeout(t *testing.T) {
	b := New(config.TraceFields{}, limits)
	b.Add(start, resource(b), pcommon.NewInstrumentationScope(), newSpan(1, 1, 0), "r")
	assert.Empty(t, b.Idle(start.Add(limits.IdleTimeout-time.Nanosecond)))
	assert.Len(t, b.Idle(start.Add(limits.IdleTimeout)), 1)
}

// The buffer remembers the latest MaxTraces traces it handed over: their
// spans are late; a trace handed over before those is forgotten, and its
// spans start it again.
func TestJudgedTracesAreBounded(t *testing.T) {
	b := New(config.TraceFields{}, Limits{IdleTimeout: time.Second, MaxTraces: 2, MaxSpansPerTrace: 10, MaxSpans: 100})
	res, scope := resource(b), pcommon.NewInstrumentationScope()
	for trace := byte(1); trace <= 5; trace++ {
		b.Add(start, res, scope, newSpan(trace, 1, 0), fmt.Sprint("r", trace))
		require.Len(t, b.OfRun(fmt.Sprint("r", trace)), 1)
	}
	for _, trace := range []byte{5, 4} {
		a := b.Add(start, res, scope, newSpan(trace, 2, 1), "")
		assert.True(t, a.Late, "trace %d is remembered", trace)
		assert.Equal(t, fmt.Sprint("r", trace), a.Run)
	}
	for _, trace := range []byte{1, 2} {
		a := b.Add(start, res, scope, newSpan(trace, 2, 1), "")
		assert.True(t, a.New, "trace %d is forgotten", trace)
		assert.False(t, a.Late, "trace %d", trace)
	}
	assert.Equal(t, 2, b.Len())
	assert.LessOrEqual(t, len(b.judged.entries), 2)
	assert.Equal(t, 2, cap(b.judged.ring))
}

// What repeats is kept once, in an interner that remembers maxInterned
// values of each kind: past that it starts again, so that values that
// drift cannot grow it.
func TestInternerIsBounded(t *testing.T) {
	in := newInterner()
	first := in.str("GET /")
	in.str("POST /")
	assert.Equal(t, unsafe.StringData(first), unsafe.StringData(in.str("GET /")), "a string seen is shared")
	for i := range maxInterned - 2 {
		in.str(fmt.Sprint("name ", i))
	}
	require.Len(t, in.strs, maxInterned)
	assert.Equal(t, unsafe.StringData(first), unsafe.StringData(in.str("GET /")), "still shared at maxInterned")
	in.str("one more")
	assert.Len(t, in.strs, 1, "past maxInterned it starts again")

	v := pcommon.NewValueInt(7)
	seven := in.value(v)
	for i := range maxInterned - 1 {
		in.value(pcommon.NewValueInt(int64(1000 + i)))
	}
	require.Len(t, in.ints, maxInterned)
	assert.Equal(t, 7, in.value(v))
	assert.Equal(t, boxed(seven), boxed(in.value(v)), "an int seen is shared")
	in.value(pcommon.NewValueInt(-1))
	assert.Len(t, in.ints, 1)

	cart := in.resource(map[string]any{"service.name": "cart"})
	for i := range maxInterned - 1 {
		in.resource(map[string]any{"service.name": fmt.Sprint("s", i)})
	}
	require.Len(t, in.resources, maxInterned)
	assert.Same(t, cart, in.resource(map[string]any{"service.name": "cart"}))
	in.resource(map[string]any{"service.name": "new"})
	assert.Len(t, in.resources, 1)
}

// boxed is where an interface value's data is.
func boxed(v any) unsafe.Pointer { return (*[2]unsafe.Pointer)(unsafe.Pointer(&v))[1] }
