package config

import (
	"slices"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// pinField is a field of the span that a match can pin to literals.
type pinField int

const (
	pinName pinField = iota
	pinKind
	pinStatus
	pinResource  // resource["key"]
	pinAttribute // attributes["key"]
)

// A pin is a top-level conjunct of a gate's match that fixes a field of the
// span to one of a few string literals (`name == "GET /"`,
// `resource["service.name"] in ["a", "b"]`): no span whose field has another
// value can match, so the gate need not be evaluated for it.
type pin struct {
	field  pinField
	key    string // the attribute key of pinResource and pinAttribute
	values []string
}

// pins returns the pins of a match expression, and whether the expression
// is nothing but pins (then checking them is evaluating it).
func pins(src string) ([]pin, bool) {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, false
	}
	var (
		found []pin
		only  = true
	)
	var walk func(ast.Node)
	walk = func(node ast.Node) {
		if b, ok := node.(*ast.BinaryNode); ok && (b.Operator == "&&" || b.Operator == "and") {
			walk(b.Left)
			walk(b.Right)
			return
		}
		if p, ok := asPin(node); ok {
			found = append(found, p)
		} else {
			only = false
		}
	}
	walk(tree.Node)
	return found, only && len(found) > 0
}

func asPin(node ast.Node) (pin, bool) {
	b, ok := node.(*ast.BinaryNode)
	if !ok {
		return pin{}, false
	}
	var values []string
	field, key, ok := pinnable(b.Left)
	switch {
	case !ok:
		// `"GET /" == name`
		if b.Operator != "==" {
			return pin{}, false
		}
		if field, key, ok = pinnable(b.Right); !ok {
			return pin{}, false
		}
		values, ok = literals(b.Left, false)
	case b.Operator == "==":
		values, ok = literals(b.Right, false)
	case b.Operator == "in":
		values, ok = literals(b.Right, true)
	default:
		ok = false
	}
	if !ok {
		return pin{}, false
	}
	slices.Sort(values)
	return pin{field: field, key: key, values: slices.Compact(values)}, true
}

// pinnable recognises a field a pin can fix.
func pinnable(node ast.Node) (pinField, string, bool) {
	switch n := node.(type) {
	case *ast.IdentifierNode:
		switch n.Value {
		case "name":
			return pinName, "", true
		case "kind":
			return pinKind, "", true
		case "status":
			return pinStatus, "", true
		}
	case *ast.MemberNode:
		id, ok := n.Node.(*ast.IdentifierNode)
		key, isKey := n.Property.(*ast.StringNode)
		if !ok || !isKey || n.Optional {
			break
		}
		switch id.Value {
		case "resource":
			return pinResource, key.Value, true
		case "attributes":
			return pinAttribute, key.Value, true
		}
	}
	return 0, "", false
}

// literals reads a string literal, or with list a list of them.
func literals(node ast.Node, list bool) ([]string, bool) {
	if s, ok := node.(*ast.StringNode); ok && !list {
		return []string{s.Value}, true
	}
	arr, ok := node.(*ast.ArrayNode)
	if !ok || !list || len(arr.Nodes) == 0 {
		return nil, false
	}
	values := make([]string, 0, len(arr.Nodes))
	for _, n := range arr.Nodes {
		s, ok := n.(*ast.StringNode)
		if !ok {
			return nil, false
		}
		values = append(values, s.Value)
	}
	return values, true
}

// value reads the pinned field of a span, straight from pdata; ok is false
// when the span has no string there.
func (p *pin) value(resource pcommon.Resource, span ptrace.Span) (string, bool) {
	switch p.field {
	case pinName:
		return span.Name(), true
	case pinKind:
		return kindName(span.Kind()), true
	case pinStatus:
		return statusName(span.Status().Code()), true
	case pinResource:
		return stringAttribute(resource.Attributes(), p.key)
	default:
		return stringAttribute(span.Attributes(), p.key)
	}
}

func stringAttribute(attrs pcommon.Map, key string) (string, bool) {
	v, ok := attrs.Get(key)
	if !ok || v.Type() != pcommon.ValueTypeStr {
		return "", false
	}
	return v.Str(), true
}

func (p *pin) holds(resource pcommon.Resource, span ptrace.Span) bool {
	v, ok := p.value(resource, span)
	return ok && slices.Contains(p.values, v)
}

// selectivity ranks the fields a gate is indexed by: the one that tells
// gates apart best first.
var selectivity = [...]pinField{pinName, pinResource, pinAttribute, pinStatus, pinKind}

// gateIndex finds the gates a span can match without evaluating the others:
// each gate is filed under the values of its most selective pin; gates
// without pins are always candidates.
type gateIndex struct {
	always []int
	// lookups, one per field (and key) some gate is filed under.
	lookups []pinLookup
}

type pinLookup struct {
	pin   pin              // field and key; values unused
	gates map[string][]int // value → gates
}

func newGateIndex(gates []CompiledGate) gateIndex {
	var idx gateIndex
	for i := range gates {
		g := &gates[i]
		if g.Scope == ScopeTrace {
			continue // judged on whole traces, not here
		}
		if len(g.pins) == 0 {
			idx.always = append(idx.always, i)
			continue
		}
		best := g.pins[0]
		for _, p := range g.pins[1:] {
			if slices.Index(selectivity[:], p.field) < slices.Index(selectivity[:], best.field) {
				best = p
			}
		}
		l := idx.lookupFor(best)
		for _, v := range best.values {
			l.gates[v] = append(l.gates[v], i)
		}
	}
	return idx
}

func (idx *gateIndex) lookupFor(p pin) *pinLookup {
	for i := range idx.lookups {
		if l := &idx.lookups[i]; l.pin.field == p.field && l.pin.key == p.key {
			return l
		}
	}
	idx.lookups = append(idx.lookups, pinLookup{pin: pin{field: p.field, key: p.key}, gates: map[string][]int{}})
	return &idx.lookups[len(idx.lookups)-1]
}
