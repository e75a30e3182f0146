package config

import (
	"fmt"
	"reflect"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm/runtime"
)

// Limits on one expression, so that no gate, however written, can take the
// collector's memory or stall its pipeline. An expression larger than
// maxNodes is refused when the gates load. An evaluation that goes past
// maxSteps or maxMemory stops with an error, which counts as any evaluation
// error does: an assert that errors is a violation, a match that errors is
// no match, a run key that errors is none, a fail or warn condition that
// errors gives the gate the verdict error.
const (
	// maxNodes bounds an expression's syntax tree (operators, names and
	// literals). Gates have a few dozen; ten thousand is expr's default,
	// set here so that it is ours.
	maxNodes = 10_000
	// maxSteps bounds the loop iterations of one evaluation: every turn of
	// all, any, filter, map, reduce and the others, nested ones included.
	// A loop over a span's events with one over each event's attributes
	// inside takes 16,384 at the SDKs' default limits (128 of each); a
	// hundred thousand take tens of milliseconds.
	maxSteps = 100_000
	// maxMemory bounds, in bytes, the strings, lists and maps one
	// evaluation builds.
	maxMemory = 16 << 20
	// elementSize is what an element of a list or an entry of a map is
	// counted: an interface value, the least one takes.
	elementSize = 16
	// vmMemoryBudget is the budget of expr's VM, which counts the elements
	// of the ranges, lists and maps it builds itself: the same 16 MiB.
	vmMemoryBudget = maxMemory / elementSize
	// eventSize is what an element of `events` takes: a string, a time
	// and a map.
	eventSize = 48
	// jsonDecodeFactor bounds what fromJSON builds per byte of its input
	// (`{}` is two bytes and a map).
	jsonDecodeFactor = 64
)

var (
	errTooManySteps = fmt.Errorf("too many loop iterations (at most %d per evaluation)", maxSteps)
	errMemory       = fmt.Errorf("memory budget exceeded (at most %d MiB per evaluation)", maxMemory>>20)
)

// meter counts what one evaluation spends. Both environments embed one; the
// calls meterPatcher adds to every expression reach it through its function
// fields. Going past a limit panics, which the VM turns into the
// evaluation's error.
type meter struct {
	Step     func() bool               `expr:"$step"`
	Charge   func(any) bool            `expr:"$charge"`
	Estimate func(string, ...any) bool `expr:"$estimate"`

	steps, memory int
}

func (m *meter) bind() {
	m.Step = func() bool {
		if m.steps++; m.steps > maxSteps {
			panic(errTooManySteps)
		}
		return true
	}
	m.Charge = func(v any) bool {
		m.spend(memoryCosts.of(v, m.left()))
		return true
	}
	m.Estimate = func(builtin string, args ...any) bool {
		m.spend(estimators[builtin](args, m.left()))
		return true
	}
}

func (m *meter) reset() { m.steps, m.memory = 0, 0 }

func (m *meter) left() int { return maxMemory - m.memory }

// spend counts n bytes built.
func (m *meter) spend(n int) {
	if n > m.left() {
		panic(errMemory)
	}
	m.memory += n
}

// meterPatcher makes an expression count what it spends. It runs after the
// type check, so that what builds nothing (arithmetic, comparisons, logic)
// is left as it is:
//
//   - the body of every loop first takes a step: `($step(); body)`;
//   - a builtin that may build far more than it is given (repeat, join,
//     toJSON, ...) runs only once the budget has room for what its
//     arguments say it would build;
//   - any other builtin, and `+`, that may build a string, a list or a map
//     is charged what it built.
//
// The span accessors charge the maps and lists they build themselves.
type meterPatcher struct {
	declared int // variables declared so far, to name the next ones
}

func (p *meterPatcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.PredicateNode:
		loc := n.Node.Location()
		n.Node = at(loc, &ast.SequenceNode{Nodes: []ast.Node{at(loc, accessorCall("$step")), n.Node}})
	case *ast.BinaryNode:
		if n.Operator == "+" && mayBuild(n.Type()) {
			ast.Patch(node, charged(n))
		}
	case *ast.BuiltinNode:
		switch {
		case isLoop(n):
			// Its turns take steps; the VM counts the list it builds.
		case estimators[n.Name] != nil:
			ast.Patch(node, p.estimated(n))
		case mayBuild(n.Type()):
			ast.Patch(node, charged(n))
		}
	}
}

// builtVariable is the variable of charged. The names of the variables
// meterPatcher declares hold a space, so no expression can write them.
const builtVariable = "$ built"

// charged is `let v = n; $charge(v); v`.
func charged(n ast.Node) ast.Node {
	loc := n.Location()
	v := func() ast.Node { return at(loc, &ast.IdentifierNode{Value: builtVariable}) }
	return &ast.VariableDeclaratorNode{Name: builtVariable, Value: n, Expr: at(loc, &ast.SequenceNode{
		Nodes: []ast.Node{at(loc, accessorCall("$charge", v())), v()},
	})}
}

// estimated is `let a0 = x; let a1 = y; $estimate("join", a0, a1); join(a0, a1)`:
// every argument is evaluated once, before the estimate. Its variables have
// names of their own: expr refuses to shadow one, and the arguments may hold
// other estimated builtins.
func (p *meterPatcher) estimated(n *ast.BuiltinNode) ast.Node {
	loc := n.Location()
	names := make([]string, len(n.Arguments))
	args := make([]ast.Node, len(n.Arguments))
	for i, a := range n.Arguments {
		p.declared++
		names[i] = fmt.Sprint("$ arg", p.declared)
		// At the argument's place, for the builtin's errors about it.
		args[i] = at(a.Location(), &ast.IdentifierNode{Value: names[i]})
	}
	call := *n
	call.Arguments = args
	estimate := accessorCall("$estimate", append([]ast.Node{at(loc, &ast.StringNode{Value: n.Name})}, args...)...)
	out := at(loc, &ast.SequenceNode{Nodes: []ast.Node{at(loc, estimate), &call}})
	for i := len(args) - 1; i >= 0; i-- {
		out = at(loc, &ast.VariableDeclaratorNode{Name: names[i], Value: n.Arguments[i], Expr: out})
	}
	return out
}

// at places a node that meterPatcher adds where the source has what it
// stands for, so that errors point there.
func at(loc file.Location, node ast.Node) ast.Node {
	node.SetLocation(loc)
	return node
}

func isLoop(n *ast.BuiltinNode) bool {
	for _, arg := range n.Arguments {
		if _, ok := arg.(*ast.PredicateNode); ok {
			return true
		}
	}
	return false
}

// mayBuild tells the types whose values may be large: strings, lists, maps
// and what is not known until the expression runs.
func mayBuild(t reflect.Type) bool {
	if t == nil {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Slice, reflect.Array, reflect.Map, reflect.Interface:
		return true
	default:
		return false
	}
}

// estimators bound, from its arguments, what a builtin builds, for the
// builtins whose result may be far larger than their arguments. An argument
// of the wrong type estimates nothing: the builtin then fails on it.
var estimators = map[string]func(args []any, limit int) int{
	"repeat": func(args []any, limit int) int {
		s, _ := arg(args, 0).(string)
		return product(len(s), runtime.ToInt(arg(args, 1)), limit)
	},
	"join": func(args []any, limit int) int {
		glue, _ := arg(args, 1).(string)
		return memoryCosts.of(arg(args, 0), limit) + product(length(arg(args, 0)), len(glue), limit)
	},
	"replace": func(args []any, limit int) int {
		s, _ := arg(args, 0).(string)
		replacement, _ := arg(args, 2).(string)
		// At most one replacement per byte, and one more.
		return len(s) + product(len(s)+1, len(replacement), limit)
	},
	"split":      splitEstimate,
	"splitAfter": splitEstimate,
	"fromJSON": func(args []any, limit int) int {
		s, _ := arg(args, 0).(string)
		return product(len(s), jsonDecodeFactor, limit)
	},
	"toJSON": func(args []any, limit int) int { return jsonCosts.of(arg(args, 0), limit) },
	"string": func(args []any, limit int) int { return printCosts.of(arg(args, 0), limit) },
	"concat": func(args []any, limit int) int {
		n := 0
		for _, a := range args {
			n += product(length(a), elementSize, limit)
		}
		return n
	},
	"flatten": func(args []any, limit int) int { return flattenCosts.of(arg(args, 0), limit) },
}

// splitEstimate bounds split and splitAfter: a piece per separator, each a
// string header.
func splitEstimate(args []any, limit int) int {
	s, _ := arg(args, 0).(string)
	sep, _ := arg(args, 1).(string)
	return product(len(s)/max(len(sep), 1)+1, elementSize, limit)
}

func arg(args []any, i int) any {
	if i < len(args) {
		return args[i]
	}
	return nil
}

// length is the number of elements of a list, 0 for anything else.
func length(v any) int {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
		return rv.Len()
	}
	return 0
}

// product is a·b, or limit+1 when that is larger than limit.
func product(a, b, limit int) int {
	if a <= 0 || b <= 0 {
		return 0
	}
	if a > (limit+1)/b {
		return limit + 1
	}
	return a * b
}

// costs weigh a value: what it takes in memory, or what rendering it as
// text makes.
type costs struct {
	perByte    int // of a string
	perRawByte int // of a byte slice
	perScalar  int // of a number, a boolean, a time, nil
	perElement int // of an element, a map entry or a struct field
	perDepth   int // of an element, per level of nesting above it
}

var (
	// memoryCosts are about what a value takes in memory.
	memoryCosts = costs{perByte: 1, perRawByte: 1, perElement: elementSize}
	// printCosts bound what string() makes of a value (fmt's %v): a byte
	// is at most "255 ", a scalar at most a time with its zone, an element
	// at most its brackets and a separator.
	printCosts = costs{perByte: 1, perRawByte: 4, perScalar: 80, perElement: 4}
	// jsonCosts bound what toJSON makes of a value, indented: a byte of a
	// string is at most `\u00XX`, an element a separator and two lines'
	// breaks and indents (its own and its closing bracket's).
	jsonCosts = costs{perByte: 6, perRawByte: 2, perScalar: 80, perElement: 8, perDepth: 4}
	// flattenCosts bound what flatten builds: each level of nesting copies
	// the elements below it again.
	flattenCosts = costs{perElement: elementSize, perDepth: elementSize}
)

var timeType = reflect.TypeFor[time.Time]()

// of weighs v, stopping as soon as the weight passes limit.
func (c costs) of(v any, limit int) int {
	if s, ok := v.(string); ok {
		return c.perByte*len(s) + c.perScalar
	}
	w := 0
	c.add(reflect.ValueOf(v), 0, limit, &w)
	return w
}

func (c costs) add(v reflect.Value, depth, limit int, w *int) {
	switch v.Kind() {
	case reflect.String:
		*w += c.perByte*v.Len() + c.perScalar
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			*w += c.perRawByte*v.Len() + c.perScalar
			return
		}
		for i := 0; i < v.Len() && *w <= limit; i++ {
			*w += c.perElement + c.perDepth*depth
			c.add(v.Index(i), depth+1, limit, w)
		}
	case reflect.Map:
		for it := v.MapRange(); *w <= limit && it.Next(); {
			*w += c.perElement + c.perDepth*depth
			c.add(it.Key(), depth+1, limit, w)
			c.add(it.Value(), depth+1, limit, w)
		}
	case reflect.Interface, reflect.Pointer: // the trace environment's spans hold no cycle
		if v.IsNil() {
			*w += c.perScalar // printed as <nil> or null
			return
		}
		c.add(v.Elem(), depth, limit, w)
	case reflect.Struct:
		if v.Type() == timeType {
			*w += c.perScalar
			return
		}
		for i := 0; i < v.NumField() && *w <= limit; i++ {
			*w += c.perElement + c.perDepth*depth + c.perByte*len(v.Type().Field(i).Name)
			c.add(v.Field(i), depth+1, limit, w)
		}
	default:
		*w += c.perScalar
	}
}
