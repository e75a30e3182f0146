package traces

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/releasegate/releasegate/config"
)

// StoredVersion is the version of the records below.
const StoredVersion = 1

// StoredTrace is a buffered trace as saved: its spans as the buffer keeps
// them, so that a restart loses no trace evidence.
type StoredTrace struct {
	Version  int          `json:"v"`
	ID       string       `json:"id"`
	Run      string       `json:"run,omitempty"`
	RootSeen bool         `json:"root_seen,omitempty"`
	Dropped  int          `json:"dropped,omitempty"`
	Last     time.Time    `json:"last"`
	Spans    []StoredSpan `json:"spans"`
}

// StoredSpan is a buffered span as saved. Attribute values keep their
// types (an int stays an int) through Value.
type StoredSpan struct {
	ID            string           `json:"id"`
	Parent        string           `json:"parent,omitempty"`
	Start         int64            `json:"start"`
	End           int64            `json:"end"`
	Kind          int32            `json:"kind,omitempty"`
	Status        int32            `json:"status,omitempty"`
	Name          string           `json:"name,omitempty"`
	Attributes    map[string]Value `json:"attributes,omitempty"`
	Resource      map[string]Value `json:"resource,omitempty"`
	StatusMessage string           `json:"status_message,omitempty"`
	ScopeName     string           `json:"scope_name,omitempty"`
	Events        []StoredEvent    `json:"events,omitempty"`
}

// StoredEvent is a span event as saved.
type StoredEvent struct {
	Name       string           `json:"name"`
	Time       time.Time        `json:"time"`
	Attributes map[string]Value `json:"attributes,omitempty"`
}

// Value is an attribute value as saved, with its type.
type Value struct {
	Str    *string          `json:"s,omitempty"`
	Int    *int             `json:"i,omitempty"`
	Double *float64         `json:"d,omitempty"`
	Bool   *bool            `json:"b,omitempty"`
	Bytes  []byte           `json:"x,omitempty"`
	List   []Value          `json:"l,omitempty"`
	Map    map[string]Value `json:"m,omitempty"`
	// IsList and IsMap tell an empty list or map from nil.
	IsList bool `json:"il,omitempty"`
	IsMap  bool `json:"im,omitempty"`
}

func toValue(v any) Value {
	switch v := v.(type) {
	case string:
		return Value{Str: &v}
	case int:
		return Value{Int: &v}
	case float64:
		return Value{Double: &v}
	case bool:
		return Value{Bool: &v}
	case []byte:
		return Value{Bytes: v}
	case []any:
		out := Value{IsList: true, List: make([]Value, len(v))}
		for i, e := range v {
			out.List[i] = toValue(e)
		}
		return out
	case map[string]any:
		return Value{IsMap: true, Map: toValues(v)}
	}
	return Value{}
}

func (v Value) value() any {
	switch {
	case v.Str != nil:
		return *v.Str
	case v.Int != nil:
		return *v.Int
	case v.Double != nil:
		return *v.Double
	case v.Bool != nil:
		return *v.Bool
	case v.Bytes != nil:
		return v.Bytes
	case v.IsList:
		out := make([]any, len(v.List))
		for i, e := range v.List {
			out[i] = e.value()
		}
		return out
	case v.IsMap:
		return fromValues(v.Map)
	}
	return nil
}

func toValues(m map[string]any) map[string]Value {
	if m == nil {
		return nil
	}
	out := make(map[string]Value, len(m))
	for k, v := range m {
		out[k] = toValue(v)
	}
	return out
}

func fromValues(m map[string]Value) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v.value()
	}
	return out
}

// Snapshot copies the traces changed since the last snapshot (every trace
// with all), and lists the ids of every trace held.
func (b *Buffer) Snapshot(all bool) (changed []StoredTrace, held []string) {
	held = make([]string, 0, len(b.traces))
	for _, t := range b.traces {
		id := t.id.String()
		held = append(held, id)
		if !t.unsaved && !all {
			continue
		}
		t.unsaved = false
		st := StoredTrace{Version: StoredVersion, ID: id, Run: t.run, RootSeen: t.rootSeen, Dropped: t.dropped, Last: t.last,
			Spans: make([]StoredSpan, len(t.spans))}
		for i := range t.spans {
			st.Spans[i] = t.spans[i].stored(b.fields.Attributes, t.values)
		}
		changed = append(changed, st)
	}
	return changed, held
}

func (s *span) stored(keys []string, values []any) StoredSpan {
	out := StoredSpan{
		ID: s.id.String(), Start: int64(s.start), End: int64(s.end),
		Kind: int32(s.kind), Status: int32(s.status), Name: s.name,
		Attributes: toValues(s.attributes(keys, values)),
	}
	if !s.parent.IsEmpty() {
		out.Parent = s.parent.String()
	}
	if s.resource != nil {
		out.Resource = toValues(s.resource.attributes)
	}
	if m := s.more; m != nil {
		out.StatusMessage, out.ScopeName = m.statusMessage, m.scopeName
		for _, e := range m.events {
			out.Events = append(out.Events, StoredEvent{Name: e.Name, Time: e.Time, Attributes: toValues(e.Attributes)})
		}
	}
	return out
}

// Restore puts saved traces back into the buffer; their idle timeout
// starts again at now. A trace that cannot be read is skipped, and returned
// with why.
func (b *Buffer) Restore(now time.Time, saved []StoredTrace) (skipped map[string]error) {
	for i := range saved {
		st := &saved[i]
		t, err := b.fromStored(st, now)
		switch {
		case err != nil:
		case len(b.traces) >= b.limits.MaxTraces:
			err = errors.New("max_traces traces are buffered")
		case b.spans+len(t.spans) > b.limits.MaxSpans:
			err = errors.New("max_buffered_spans spans are buffered")
		}
		if err != nil {
			if skipped == nil {
				skipped = make(map[string]error)
			}
			skipped[st.ID] = err
			continue
		}
		t.elem = b.order.PushBack(t)
		b.traces[t.id] = t
		b.spans += len(t.spans)
	}
	return skipped
}

func (b *Buffer) fromStored(st *StoredTrace, now time.Time) (*trace, error) {
	var id pcommon.TraceID
	if err := parseID(id[:], st.ID); err != nil || id.IsEmpty() {
		return nil, fmt.Errorf("trace id %q", st.ID)
	}
	if b.traces[id] != nil {
		return nil, errors.New("a trace of the same id is buffered")
	}
	if len(st.Spans) > b.limits.MaxSpansPerTrace || st.Dropped < 0 {
		return nil, errors.New("spans out of range")
	}
	t := &trace{id: id, run: st.Run, rootSeen: st.RootSeen, dropped: st.Dropped, last: now, spans: make([]span, len(st.Spans))}
	for i := range st.Spans {
		ss := &st.Spans[i]
		s := &t.spans[i]
		if err := parseID(s.id[:], ss.ID); err != nil {
			return nil, fmt.Errorf("span id %q", ss.ID)
		}
		if ss.Parent != "" {
			if err := parseID(s.parent[:], ss.Parent); err != nil {
				return nil, fmt.Errorf("parent span id %q", ss.Parent)
			}
		}
		if ss.Kind < 0 || ss.Kind > math.MaxUint8 || ss.Status < 0 || ss.Status > math.MaxUint8 {
			return nil, fmt.Errorf("span %s: kind or status out of range", ss.ID)
		}
		s.start, s.end = pcommon.Timestamp(ss.Start), pcommon.Timestamp(ss.End)
		s.kind, s.status, s.name = uint8(ss.Kind), uint8(ss.Status), b.intern.str(ss.Name)
		s.resource = b.intern.resource(fromValues(ss.Resource))
		attrs := fromValues(ss.Attributes)
		if !b.fields.AllAttributes {
			s.attrs = t.appendValues(len(b.fields.Attributes), func(i int) (any, bool) {
				v, ok := attrs[b.fields.Attributes[i]]
				return v, ok
			})
		}
		if ss.StatusMessage != "" || ss.ScopeName != "" || ss.Events != nil || b.fields.AllAttributes && attrs != nil {
			s.more = &rarelyNeeded{statusMessage: ss.StatusMessage, scopeName: ss.ScopeName}
			for _, e := range ss.Events {
				s.more.events = append(s.more.events, config.Event{Name: e.Name, Time: e.Time, Attributes: fromValues(e.Attributes)})
			}
			if b.fields.AllAttributes {
				s.more.attributes = attrs
			}
		}
	}
	return t, nil
}

// parseID reads a trace or span id in lowercase hex into id, which it
// fills exactly.
func parseID(id []byte, s string) error {
	if len(s) != 2*len(id) {
		return errors.New("wrong length")
	}
	_, err := hex.Decode(id, []byte(s))
	return err
}
