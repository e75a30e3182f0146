// Package traces assembles the spans of traces, as they arrive over many
// batches and resources, for trace gates to judge whole. A Buffer keeps of
// each span only what the gates read (config.TraceFields), holds at most
// MaxTraces traces of at most MaxSpansPerTrace spans and MaxSpans spans in
// all, and hands a trace
// over to be judged once it has been idle, once its run finishes, or, when
// the buffer is full, oldest first. A trace is handed over once: spans that
// arrive for a trace already handed over are late.
//
// A Buffer is not safe for concurrent use: the run store holds it under
// its lock.
package traces

import (
	"container/list"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/releasegate/releasegate/config"
)

// Limits bound a buffer.
type Limits struct {
	// IdleTimeout hands over a trace that received no span for this long.
	IdleTimeout time.Duration
	// MaxTraces bounds the traces held; past it the oldest is handed over.
	MaxTraces int
	// MaxSpansPerTrace bounds a trace's spans; past it the trace is too
	// large, and its further spans are counted, not kept.
	MaxSpansPerTrace int
	// MaxSpans bounds the spans held, all traces together; past it the
	// oldest traces are handed over. At least MaxSpansPerTrace.
	MaxSpans int
}

// Buffer holds the traces being assembled.
type Buffer struct {
	fields config.TraceFields
	limits Limits

	traces map[pcommon.TraceID]*trace
	order  *list.List // of *trace, oldest first: the first to go when full
	judged judgedSet
	intern interner
	spans  int // held, for self-telemetry
}

// New returns an empty buffer that keeps the fields given of spans.
func New(fields config.TraceFields, limits Limits) *Buffer {
	limits.MaxTraces, limits.MaxSpansPerTrace = max(limits.MaxTraces, 1), max(limits.MaxSpansPerTrace, 1)
	limits.MaxSpans = max(limits.MaxSpans, limits.MaxSpansPerTrace)
	return &Buffer{
		fields: fields,
		limits: limits,
		traces: make(map[pcommon.TraceID]*trace),
		order:  list.New(),
		judged: newJudgedSet(limits.MaxTraces),
		intern: newInterner(),
	}
}

// trace is a trace being assembled.
type trace struct {
	id       pcommon.TraceID
	spans    []span
	values   []any     // its spans' kept attribute values: see span.attrs
	last     time.Time // when its last span arrived
	run      string    // its root's run key, or else the first seen
	rootSeen bool
	dropped  int // spans past MaxSpansPerTrace
	unsaved  bool
	elem     *list.Element
}

// Added is what Add made of a span.
type Added struct {
	// Late: the span's trace was handed over already; the span is not
	// kept. Run is the run that trace was judged for, when known.
	Late bool
	Run  string
	// New: the span started a trace. Dropped: it was not kept, its trace
	// being over MaxSpansPerTrace.
	New, Dropped bool
	// Full are the traces handed over to make room, oldest first.
	Full []*Assembled
}

// Resource is what the buffer keeps of a resource, shared by its spans
// and by those of every resource alike in what the gates read of it: make
// one per ResourceSpans with Resource.
type Resource struct {
	attributes map[string]any
}

// Resource reads what the gates use of a resource's attributes; nil when
// they use none.
func (b *Buffer) Resource(r pcommon.Resource) *Resource {
	return b.intern.resource(b.keep(r.Attributes(), b.fields.AllResource, b.fields.Resource))
}

// Add buffers a span of the resource and scope given, whose own run key is
// run ("" when it has none).
func (b *Buffer) Add(now time.Time, res *Resource, scope pcommon.InstrumentationScope, s ptrace.Span, run string) Added {
	id := s.TraceID()
	var a Added
	t := b.traces[id]
	if t == nil {
		if r, judged := b.judged.get(id); judged {
			return Added{Late: true, Run: r}
		}
		if len(b.traces) >= b.limits.MaxTraces {
			a.Full = append(a.Full, b.take(b.order.Front().Value.(*trace)))
		}
		t = &trace{id: id}
		t.elem = b.order.PushBack(t)
		b.traces[id] = t
		a.New = true
	}
	t.last, t.unsaved = now, true
	isRoot := s.ParentSpanID().IsEmpty()
	switch {
	case isRoot && run != "" && !t.rootSeen:
		t.run, t.rootSeen = run, true
	case t.run == "":
		t.run = run
	}
	if len(t.spans) >= b.limits.MaxSpansPerTrace {
		t.dropped++
		a.Dropped = true
		return a
	}
	// Room for the span: the oldest other traces go. This one alone holds
	// fewer than MaxSpansPerTrace ≤ MaxSpans.
	for e := b.order.Front(); b.spans >= b.limits.MaxSpans; {
		old := e.Value.(*trace)
		e = e.Next()
		if old != t {
			a.Full = append(a.Full, b.take(old))
		}
	}
	t.spans = append(t.spans, b.span(t, res, scope, s))
	b.spans++
	return a
}

// Len is the number of traces held, and Spans their spans.
func (b *Buffer) Len() int   { return len(b.traces) }
func (b *Buffer) Spans() int { return b.spans }

// Idle hands over the traces that received no span for IdleTimeout.
func (b *Buffer) Idle(now time.Time) []*Assembled {
	var out []*Assembled
	for _, t := range b.traces {
		if now.Sub(t.last) >= b.limits.IdleTimeout {
			out = append(out, b.take(t))
		}
	}
	return out
}

// OfRun hands over the traces of a run, whose verdict is about to be
// decided.
func (b *Buffer) OfRun(run string) []*Assembled {
	var out []*Assembled
	for _, t := range b.traces {
		if t.run == run {
			out = append(out, b.take(t))
		}
	}
	return out
}

// take removes a trace from the buffer, remembers it was handed over, and
// returns it to be judged.
func (b *Buffer) take(t *trace) *Assembled {
	delete(b.traces, t.id)
	b.order.Remove(t.elem)
	b.spans -= len(t.spans)
	b.judged.add(t.id, t.run)
	return &Assembled{ID: t.id, Run: t.run, Dropped: t.dropped, spans: t.spans, keys: b.fields.Attributes, values: t.values}
}

// keep is what the gates read of attributes: all, or the keys given.
func (b *Buffer) keep(attrs pcommon.Map, all bool, keys []string) map[string]any {
	if all {
		out := make(map[string]any, attrs.Len())
		for k, v := range attrs.All() {
			out[k] = config.AttributeValue(v)
		}
		return out
	}
	var out map[string]any
	for _, k := range keys {
		if v, ok := attrs.Get(k); ok {
			if out == nil {
				out = make(map[string]any, len(keys))
			}
			out[k] = config.AttributeValue(v)
		}
	}
	return out
}
