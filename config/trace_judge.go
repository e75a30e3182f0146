package config

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// HasTraceGates reports whether the document has gates of scope trace.
func (g *Gates) HasTraceGates() bool { return len(g.traceGates) > 0 }

// RunKey is the span's run key by the document's run expression, as the
// processor computes it: the key of spans that were not annotated.
func (g *Gates) RunKey(resource pcommon.Resource, scope pcommon.InstrumentationScope, span ptrace.Span) string {
	if c := &g.runChain; len(c.lookups) > 0 {
		return c.key(resource, span)
	}
	e := g.Evaluator()
	defer e.Release()
	e.env.set(resource, scope, span)
	return e.runKey(resource, span)
}

// TraceVerdict is what a trace gate made of one trace.
type TraceVerdict struct {
	// Matched: its match held. MatchError: its match failed to evaluate,
	// which counts as no match.
	Matched, MatchError bool
	// Violated: its assert did not hold, or failed to evaluate (Errored).
	Violated, Errored bool
	// Observed is, when the assert compares a value with a constant, the
	// value this trace had: "14", "1.25s". Only worked out for a violation.
	Observed string
}

// JudgeTrace evaluates the trace gates on a trace. The verdicts are
// indexed like the gates; those of span gates are left zero.
func (g *Gates) JudgeTrace(t *Trace) []TraceVerdict {
	out := make([]TraceVerdict, len(g.gates))
	if len(g.traceGates) == 0 {
		return out
	}
	env := newTraceEnv(t)
	machine := vm.VM{MemoryBudget: vmMemoryBudget}
	run := func(program *vm.Program) (any, error) {
		env.reset()
		return machine.Run(program, env)
	}
	holds := func(program *vm.Program) (bool, error) {
		v, err := run(program)
		if err != nil {
			return false, err
		}
		b, ok := v.(bool)
		if !ok {
			return false, fmt.Errorf("expected a boolean, got %T", v)
		}
		return b, nil
	}
	for _, i := range g.traceGates {
		cg, v := &g.gates[i], &out[i]
		matched, err := holds(cg.match)
		v.Matched, v.MatchError = matched && err == nil, err != nil
		if !v.Matched || cg.assert == nil {
			continue
		}
		ok, err := holds(cg.assert)
		v.Violated, v.Errored = !ok, err != nil
		if v.Violated && !v.Errored && cg.observe != nil {
			if value, err := run(cg.observe); err == nil {
				v.Observed = formatObserved(value)
			}
		}
	}
	return out
}

// observedSide compiles the side of an assert that compares a value with a
// constant, `count(spans, .name == "SELECT") <= 10`, that is not the
// constant; nil for other asserts.
func observedSide(assert string) *vm.Program {
	tree, err := parser.Parse(assert)
	if err != nil {
		return nil
	}
	b, ok := tree.Node.(*ast.BinaryNode)
	if !ok || flipped[b.Operator] == "" {
		return nil
	}
	// The operator's place splits the source in its two sides.
	at := b.Location().From
	if at <= 0 || at >= len(assert) || !strings.HasPrefix(assert[at:], b.Operator) {
		return nil
	}
	var side string
	switch {
	case isLiteral(b.Right):
		side = assert[:at]
	case isLiteral(b.Left):
		side = assert[at+len(b.Operator):]
	default:
		return nil
	}
	program, err := compileTrace(strings.TrimSpace(side), false)
	if err != nil {
		return nil
	}
	return program
}

func isLiteral(n ast.Node) bool {
	switch n := n.(type) {
	case *ast.IntegerNode, *ast.FloatNode, *ast.StringNode, *ast.BoolNode, *ast.NilNode:
		return true
	case *ast.UnaryNode:
		return n.Operator == "-" && isLiteral(n.Node)
	case *ast.BuiltinNode:
		_, literal := n.Arguments[0].(*ast.StringNode)
		return n.Name == "duration" && len(n.Arguments) == 1 && literal
	}
	return false
}

// maxObserved cuts what a reason shows of an observed value, in bytes.
const maxObserved = 64

// formatObserved renders a value for a reason: durations as people read
// them, numbers as they are, strings quoted.
func formatObserved(v any) string {
	var s string
	switch v := v.(type) {
	case time.Duration:
		s = FormatDuration(v)
	case float64:
		s = strconv.FormatFloat(v, 'g', 6, 64)
	case string:
		s = strconv.Quote(v)
	case nil:
		s = "nil"
	default:
		s = fmt.Sprint(v)
	}
	if len(s) > maxObserved {
		s = s[:maxObserved] + "…"
	}
	return s
}

// TraceFields are the fields of buffered spans that the trace gates read,
// worked out from their expressions: a trace buffer keeps those only.
// Ids, kind, status and times are always kept: the structure, the trace's
// duration and its errors need them.
type TraceFields struct {
	Name, StatusMessage, ScopeName, Events bool
	// AllAttributes and AllResource: an expression uses the map itself
	// (`keys(.attributes)`, `.attributes[k]`); else Attributes and Resource
	// are the keys it reads.
	AllAttributes, AllResource bool
	Attributes, Resource       []string
}

// TraceFields reports what the document's trace gates read of spans.
func (g *Gates) TraceFields() TraceFields { return g.traceFields }

var (
	traceSpanType = reflect.TypeFor[*TraceSpan]()
	traceListType = reflect.TypeFor[[]*TraceSpan]()
)

// traceFieldsOf works out what programs read of spans.
func traceFieldsOf(programs []*vm.Program) TraceFields {
	var f TraceFields
	keyed := map[ast.Node]bool{} // attributes/resource members indexed by a literal
	attrs, res := map[string]bool{}, map[string]bool{}
	everything := false
	for _, p := range programs {
		root := p.Node()
		ast.Walk(&root, visitFunc(func(node ast.Node) {
			switch n := node.(type) {
			case *ast.MemberNode:
				key, literal := n.Property.(*ast.StringNode)
				inner, ok := n.Node.(*ast.MemberNode)
				if !literal || !ok {
					return
				}
				field, _ := inner.Property.(*ast.StringNode)
				switch {
				case field == nil:
				case field.Value == "attributes":
					keyed[inner], attrs[key.Value] = true, true
				case field.Value == "resource":
					keyed[inner], res[key.Value] = true, true
				}
			case *ast.BuiltinNode:
				if n.Name == "toJSON" || n.Name == "string" {
					for _, a := range n.Arguments {
						everything = everything || a.Type() == traceSpanType || a.Type() == traceListType
					}
				}
			}
		}))
		ast.Walk(&root, visitFunc(func(node ast.Node) {
			n, ok := node.(*ast.MemberNode)
			if !ok || n.Node.Type() != traceSpanType {
				return
			}
			field, ok := n.Property.(*ast.StringNode)
			if !ok {
				everything = true // span[k]
				return
			}
			switch field.Value {
			case "name":
				f.Name = true
			case "status_message":
				f.StatusMessage = true
			case "scope_name":
				f.ScopeName = true
			case "events":
				f.Events = true
			case "attributes":
				f.AllAttributes = f.AllAttributes || !keyed[n]
			case "resource":
				f.AllResource = f.AllResource || !keyed[n]
			}
		}))
	}
	if everything {
		return TraceFields{Name: true, StatusMessage: true, ScopeName: true, Events: true, AllAttributes: true, AllResource: true}
	}
	f.Attributes = slices.Sorted(maps.Keys(attrs))
	f.Resource = slices.Sorted(maps.Keys(res))
	return f
}
