package config

import (
	"time"

	"github.com/expr-lang/expr/ast"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// spanEnv is the environment of span expressions (`run`, `match`,
// `assert`). Every name a user writes is rewritten into a call of one of its
// accessor fields (see spanPatcher), which read the span straight from pdata
// only when an expression needs them: no map is built per span. Accessors
// are typed function fields because expr calls those directly, without
// reflection or an argument buffer. The pdata handles are unexported, so
// expressions reach nothing but the accessors.
type spanEnv struct {
	Name          func() string         `expr:"$name"`
	Kind          func() string         `expr:"$kind"`
	Status        func() string         `expr:"$status"`
	StatusMessage func() string         `expr:"$status_message"`
	Duration      func() time.Duration  `expr:"$duration"`
	StartTime     func() time.Time      `expr:"$start_time"`
	EndTime       func() time.Time      `expr:"$end_time"`
	TraceID       func() string         `expr:"$trace_id"`
	SpanID        func() string         `expr:"$span_id"`
	ParentSpanID  func() string         `expr:"$parent_span_id"`
	IsRoot        func() bool           `expr:"$is_root"`
	Attributes    func() map[string]any `expr:"$attributes"`
	Resource      func() map[string]any `expr:"$resource"`
	ScopeName     func() string         `expr:"$scope_name"`
	Events        func() []Event        `expr:"$events"`
	// Attribute and ResourceAttribute look up one key: what
	// `attributes["k"]` and `resource["k"]` with a literal key become.
	Attribute         func(any) any `expr:"$attribute"`
	ResourceAttribute func(any) any `expr:"$resource_attribute"`
	meter

	span     ptrace.Span
	resource pcommon.Resource
	scope    pcommon.InstrumentationScope
}

// spanNames maps the names of the span environment to their accessors.
var spanNames = map[string]string{
	"name":           "$name",
	"kind":           "$kind",
	"status":         "$status",
	"status_message": "$status_message",
	"duration":       "$duration",
	"start_time":     "$start_time",
	"end_time":       "$end_time",
	"trace_id":       "$trace_id",
	"span_id":        "$span_id",
	"parent_span_id": "$parent_span_id",
	"is_root":        "$is_root",
	"attributes":     "$attributes",
	"resource":       "$resource",
	"scope_name":     "$scope_name",
	"events":         "$events",
}

// newSpanEnv binds the accessors to the returned environment; set reads a
// new span into it.
func newSpanEnv() *spanEnv {
	e := &spanEnv{}
	e.bind()
	e.Name = func() string { return e.span.Name() }
	e.Kind = func() string { return kindName(e.span.Kind()) }
	e.Status = func() string { return statusName(e.span.Status().Code()) }
	e.StatusMessage = func() string { return e.span.Status().Message() }
	e.Duration = func() time.Duration { return spanDuration(e.span) }
	e.StartTime = func() time.Time { return e.span.StartTimestamp().AsTime() }
	e.EndTime = func() time.Time { return e.span.EndTimestamp().AsTime() }
	e.TraceID = func() string { return e.span.TraceID().String() }
	e.SpanID = func() string { return e.span.SpanID().String() }
	e.ParentSpanID = func() string { return e.span.ParentSpanID().String() }
	e.IsRoot = func() bool { return e.span.ParentSpanID().IsEmpty() }
	// The meter is charged what converting pdata builds, before it is built.
	e.Attributes = func() map[string]any {
		e.spend(mapSize(e.span.Attributes()))
		return mapValue(e.span.Attributes())
	}
	e.Resource = func() map[string]any {
		e.spend(mapSize(e.resource.Attributes()))
		return mapValue(e.resource.Attributes())
	}
	e.ScopeName = func() string { return e.scope.Name() }
	e.Events = func() []Event {
		e.spend(eventsSize(e.span.Events()))
		return events(e.span.Events())
	}
	e.Attribute = func(key any) any { return e.lookup(e.span.Attributes(), key.(string)) }
	e.ResourceAttribute = func(key any) any { return e.lookup(e.resource.Attributes(), key.(string)) }
	return e
}

func (e *spanEnv) set(resource pcommon.Resource, scope pcommon.InstrumentationScope, span ptrace.Span) {
	e.resource, e.scope, e.span = resource, scope, span
}

// Event is an element of the span environment's `events`.
type Event struct {
	Name       string         `expr:"name"`
	Time       time.Time      `expr:"time"`
	Attributes map[string]any `expr:"attributes"`
}

// spanPatcher rewrites the names of the span environment into accessor
// calls, and `attributes["k"]` / `resource["k"]` with a literal key into a
// single attribute lookup. It also folds duration literals (see
// durationFolder).
type spanPatcher struct{ durationFolder }

func (p *spanPatcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		if accessor, ok := spanNames[n.Value]; ok {
			ast.Patch(node, accessorCall(accessor))
		} else if traceOnly[n.Value] {
			p.fail(n, "%s is a name of trace gates (scope: trace)", n.Value)
		}
	case *ast.MemberNode:
		// Children are visited first: the map operand is already an accessor call.
		key, ok := n.Property.(*ast.StringNode)
		if !ok {
			return
		}
		switch {
		case isCall(n.Node, "$attributes"):
			ast.Patch(node, accessorCall("$attribute", &ast.StringNode{Value: key.Value}))
		case isCall(n.Node, "$resource"):
			ast.Patch(node, accessorCall("$resource_attribute", &ast.StringNode{Value: key.Value}))
		}
	case *ast.VariableDeclaratorNode:
		if _, ok := spanNames[n.Name]; ok {
			p.fail(n, "%q is a name of the span environment and cannot be redeclared", n.Name)
		}
	case *ast.BuiltinNode:
		p.foldDuration(node, n)
	}
}

func accessorCall(accessor string, args ...ast.Node) *ast.CallNode {
	return &ast.CallNode{Callee: &ast.IdentifierNode{Value: accessor}, Arguments: args}
}

func isCall(node ast.Node, accessor string) bool {
	call, ok := node.(*ast.CallNode)
	if !ok {
		return false
	}
	id, ok := call.Callee.(*ast.IdentifierNode)
	return ok && id.Value == accessor
}

func (e *spanEnv) lookup(attrs pcommon.Map, key string) any {
	v, ok := attrs.Get(key)
	if !ok {
		return nil
	}
	e.spend(valueSize(v))
	return value(v)
}

// AttributeValue is an attribute value as expressions see it: ints stay
// ints, doubles floats, bools bools, slices lists, maps maps; empty is nil.
// Trace buffers keep attributes this way.
func AttributeValue(v pcommon.Value) any { return value(v) }

// AttributeMap is attributes as expressions see them: see AttributeValue.
func AttributeMap(attrs pcommon.Map) map[string]any { return mapValue(attrs) }

// value converts an attribute value to what expressions see.
func value(v pcommon.Value) any {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return v.Str()
	case pcommon.ValueTypeInt:
		return int(v.Int())
	case pcommon.ValueTypeDouble:
		return v.Double()
	case pcommon.ValueTypeBool:
		return v.Bool()
	case pcommon.ValueTypeBytes:
		return v.Bytes().AsRaw()
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		list := make([]any, s.Len())
		for i := range list {
			list[i] = value(s.At(i))
		}
		return list
	case pcommon.ValueTypeMap:
		return mapValue(v.Map())
	default:
		return nil
	}
}

func mapValue(attrs pcommon.Map) map[string]any {
	m := make(map[string]any, attrs.Len())
	for k, v := range attrs.All() {
		m[k] = value(v)
	}
	return m
}

func events(es ptrace.SpanEventSlice) []Event {
	out := make([]Event, es.Len())
	for i := range out {
		e := es.At(i)
		out[i] = Event{Name: e.Name(), Time: e.Timestamp().AsTime(), Attributes: mapValue(e.Attributes())}
	}
	return out
}

// valueSize is what value builds: strings are shared, not copied.
func valueSize(v pcommon.Value) int {
	switch v.Type() {
	case pcommon.ValueTypeBytes:
		return v.Bytes().Len()
	case pcommon.ValueTypeSlice:
		n := 0
		for _, e := range v.Slice().All() {
			n += elementSize + valueSize(e)
		}
		return n
	case pcommon.ValueTypeMap:
		return mapSize(v.Map())
	default:
		return 0
	}
}

func mapSize(attrs pcommon.Map) int {
	n := 0
	for _, v := range attrs.All() {
		n += elementSize + valueSize(v)
	}
	return n
}

func eventsSize(es ptrace.SpanEventSlice) int {
	n := 0
	for _, e := range es.All() {
		n += eventSize + mapSize(e.Attributes())
	}
	return n
}

// spanDuration is signed so that a span with inverted timestamps has a
// negative duration rather than an enormous one.
func spanDuration(s ptrace.Span) time.Duration {
	return time.Duration(int64(s.EndTimestamp()) - int64(s.StartTimestamp()))
}

// KindName and StatusName are a span's kind and status as expressions see
// them: "server", "error".
func KindName(k ptrace.SpanKind) string { return kindName(k) }

// StatusName: see KindName.
func StatusName(c ptrace.StatusCode) string { return statusName(c) }

func kindName(k ptrace.SpanKind) string {
	switch k {
	case ptrace.SpanKindServer:
		return "server"
	case ptrace.SpanKindClient:
		return "client"
	case ptrace.SpanKindInternal:
		return "internal"
	case ptrace.SpanKindProducer:
		return "producer"
	case ptrace.SpanKindConsumer:
		return "consumer"
	default:
		return "unspecified"
	}
}

func statusName(c ptrace.StatusCode) string {
	switch c {
	case ptrace.StatusCodeOk:
		return "ok"
	case ptrace.StatusCodeError:
		return "error"
	default:
		return "unset"
	}
}
