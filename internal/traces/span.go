package traces

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/releasegate/releasegate/config"
)

// span is what a buffer keeps of a span: its place in the trace, its
// times, kind and status always; its name, attributes and the rest only
// when a gate reads them. It is kept small: a buffer holds many.
type span struct {
	id, parent pcommon.SpanID
	start, end pcommon.Timestamp
	name       string
	resource   *Resource
	more       *rarelyNeeded
	// attrs is 1 + where the values of the attribute keys the gates read
	// start in the trace's values, one per key; 0 when the span has none.
	attrs  int32
	kind   uint8
	status uint8
}

// rarelyNeeded are the fields few gates read, kept apart so that a span
// without them costs a pointer.
type rarelyNeeded struct {
	statusMessage, scopeName string
	events                   []config.Event
	attributes               map[string]any // all of them, when a gate reads the map whole
}

func (b *Buffer) span(t *trace, res *Resource, scope pcommon.InstrumentationScope, s ptrace.Span) span {
	f := &b.fields
	out := span{
		id: s.SpanID(), parent: s.ParentSpanID(),
		start: s.StartTimestamp(), end: s.EndTimestamp(),
		kind: uint8(s.Kind()), status: uint8(s.Status().Code()),
		resource: res,
	}
	if f.Name {
		out.name = b.intern.str(s.Name())
	}
	if !f.AllAttributes {
		out.attrs = b.keepAttributes(t, s.Attributes())
	}
	if f.StatusMessage || f.ScopeName || f.Events || f.AllAttributes {
		more := &rarelyNeeded{}
		if f.StatusMessage {
			more.statusMessage = s.Status().Message()
		}
		if f.ScopeName {
			more.scopeName = b.intern.str(scope.Name())
		}
		if f.Events {
			for _, e := range s.Events().All() {
				var attrs map[string]any
				if e.Attributes().Len() > 0 {
					attrs = config.AttributeMap(e.Attributes())
				}
				more.events = append(more.events, config.Event{Name: e.Name(), Time: e.Timestamp().AsTime(), Attributes: attrs})
			}
		}
		if f.AllAttributes && s.Attributes().Len() > 0 {
			more.attributes = make(map[string]any, s.Attributes().Len())
			for k, v := range s.Attributes().All() {
				more.attributes[k] = b.intern.value(v)
			}
		}
		out.more = more
	}
	return out
}

// keepAttributes appends to the trace's values those of the attribute keys
// the gates read, when the span has any of them.
func (b *Buffer) keepAttributes(t *trace, attrs pcommon.Map) int32 {
	return t.appendValues(len(b.fields.Attributes), func(i int) (any, bool) {
		v, ok := attrs.Get(b.fields.Attributes[i])
		if !ok {
			return nil, false
		}
		return b.intern.value(v), true
	})
}

// appendValues appends a span's values of n keys to the trace's, value
// giving the i-th and whether the span has it, and returns the span's
// attrs: 0, and nothing appended, when it has none.
func (t *trace) appendValues(n int, value func(i int) (any, bool)) int32 {
	at := -1
	for i := range n {
		v, ok := value(i)
		if !ok {
			continue
		}
		if at < 0 {
			at = len(t.values)
			t.values = append(t.values, make([]any, n)...)
		}
		t.values[at+i] = v
	}
	return int32(at + 1)
}

// traceSpan is the span as trace gates see it; keys are the attribute keys
// kept, values the trace's.
func (s *span) traceSpan(traceID string, keys []string, values []any) *config.TraceSpan {
	start, end := s.start.AsTime(), s.end.AsTime()
	ts := &config.TraceSpan{
		Name:       s.name,
		Kind:       config.KindName(ptrace.SpanKind(s.kind)),
		Status:     config.StatusName(ptrace.StatusCode(s.status)),
		Duration:   time.Duration(int64(s.end) - int64(s.start)),
		StartTime:  start,
		EndTime:    end,
		TraceID:    traceID,
		SpanID:     s.id.String(),
		IsRoot:     s.parent.IsEmpty(),
		Attributes: s.attributes(keys, values),
	}
	if !s.parent.IsEmpty() {
		ts.ParentSpanID = s.parent.String()
	}
	if s.resource != nil {
		ts.Resource = s.resource.attributes
	}
	if m := s.more; m != nil {
		ts.StatusMessage, ts.ScopeName, ts.Events = m.statusMessage, m.scopeName, m.events
	}
	return ts
}

// attributes are the span's attributes kept, as a map.
func (s *span) attributes(keys []string, values []any) map[string]any {
	if s.more != nil && s.more.attributes != nil {
		return s.more.attributes
	}
	if s.attrs == 0 {
		return nil
	}
	at := int(s.attrs - 1)
	m := make(map[string]any, len(keys))
	for i, v := range values[at : at+len(keys)] {
		if v != nil {
			m[keys[i]] = v
		}
	}
	return m
}
