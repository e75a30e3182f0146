package traces

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/releasegate/releasegate/config"
)

// span is what a buffer keeps of a span: its place in the trace, its
// times, kind and status always; its name, attributes and the rest only
// when a gate reads them.
type span struct {
	id, parent   pcommon.SpanID
	start, end   pcommon.Timestamp
	kind         ptrace.SpanKind
	status       ptrace.StatusCode
	name         string
	attributes   map[string]any
	resource     *Resource
	rarelyNeeded *rarelyNeeded
}

// rarelyNeeded are the fields few gates read, kept apart so that a span
// without them costs a pointer.
type rarelyNeeded struct {
	statusMessage, scopeName string
	events                   []config.Event
}

func (b *Buffer) span(res *Resource, scope pcommon.InstrumentationScope, s ptrace.Span) span {
	f := &b.fields
	out := span{
		id: s.SpanID(), parent: s.ParentSpanID(),
		start: s.StartTimestamp(), end: s.EndTimestamp(),
		kind: s.Kind(), status: s.Status().Code(),
		resource:   res,
		attributes: b.keep(s.Attributes(), f.AllAttributes, f.Attributes),
	}
	if f.Name {
		out.name = s.Name()
	}
	if f.StatusMessage || f.ScopeName || f.Events {
		out.rarelyNeeded = &rarelyNeeded{}
		if f.StatusMessage {
			out.rarelyNeeded.statusMessage = s.Status().Message()
		}
		if f.ScopeName {
			out.rarelyNeeded.scopeName = scope.Name()
		}
		if f.Events {
			for _, e := range s.Events().All() {
				var attrs map[string]any
				for k, v := range e.Attributes().All() {
					if attrs == nil {
						attrs = make(map[string]any, e.Attributes().Len())
					}
					attrs[k] = config.AttributeValue(v)
				}
				out.rarelyNeeded.events = append(out.rarelyNeeded.events, config.Event{Name: e.Name(), Time: e.Timestamp().AsTime(), Attributes: attrs})
			}
		}
	}
	return out
}

// traceSpan is the span as trace gates see it.
func (s *span) traceSpan(traceID string) *config.TraceSpan {
	start, end := s.start.AsTime(), s.end.AsTime()
	ts := &config.TraceSpan{
		Name:         s.name,
		Kind:         config.KindName(s.kind),
		Status:       config.StatusName(s.status),
		Duration:     time.Duration(int64(s.end) - int64(s.start)),
		StartTime:    start,
		EndTime:      end,
		TraceID:      traceID,
		SpanID:       s.id.String(),
		ParentSpanID: s.parent.String(),
		IsRoot:       s.parent.IsEmpty(),
		Attributes:   s.attributes,
	}
	if s.parent.IsEmpty() {
		ts.ParentSpanID = ""
	}
	if s.resource != nil {
		ts.Resource = s.resource.attributes
	}
	if r := s.rarelyNeeded; r != nil {
		ts.StatusMessage, ts.ScopeName, ts.Events = r.statusMessage, r.scopeName, r.events
	}
	return ts
}
