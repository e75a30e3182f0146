package config

import (
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// compileSpan compiles an expression of the span environment (`run`, `match`,
// `assert`).
func compileSpan(src string, asBool bool) (*vm.Program, error) {
	guard, patcher := &sandbox{}, &spanPatcher{}
	opts := []expr.Option{expr.Env(spanEnv{}), expr.Patch(guard), expr.Patch(patcher), expr.Patch(&meterPatcher{}), expr.MaxNodes(maxNodes)}
	if asBool {
		opts = append(opts, expr.AsBool())
	}
	program, err := expr.Compile(src, opts...)
	return program, describe(src, cmp.Or(guard.err, patcher.err), err)
}

// compileTrace compiles an expression of the trace environment (a trace
// gate's `match`, `assert`, and what its assert compares).
func compileTrace(src string, asBool bool) (*vm.Program, error) {
	guard, patcher := &sandbox{}, &tracePatcher{}
	opts := []expr.Option{expr.Env(traceEnv{}), expr.Patch(guard), expr.Patch(patcher), expr.Patch(&meterPatcher{}), expr.MaxNodes(maxNodes)}
	if asBool {
		opts = append(opts, expr.AsBool())
	}
	program, err := expr.Compile(src, opts...)
	return program, describe(src, cmp.Or(guard.err, patcher.err), err)
}

// compileRun compiles an expression of the run environment (`fail`,
// `warn`) of a gate of the given scope; and, when it uses baseline names,
// the same condition with each term that uses them made false, for runs
// not compared with a baseline.
func compileRun(src string, scope Scope) (program, withoutBaseline *vm.Program, err error) {
	compile := func(src string, patchers ...expr.Option) (*vm.Program, error) {
		guard, patcher := &sandbox{}, &runPatcher{scope: scope}
		opts := append([]expr.Option{expr.Env(runEnv{}), scale, expr.Patch(guard), expr.Patch(patcher)}, patchers...)
		program, err := expr.Compile(src, append(opts, expr.Patch(&meterPatcher{}), expr.MaxNodes(maxNodes), expr.AsBool())...)
		return program, describe(src, cmp.Or(guard.err, patcher.err), err)
	}
	if program, err = compile(src); err != nil || !usesBaseline(program.Node()) {
		return program, nil, err
	}
	// Within `true && (…)` every term has a logical parent to be patched
	// in, the whole condition included; the newline ends a // comment.
	withoutBaseline, err = compile("true && ("+src+"\n)", expr.Patch(baselineTermsFalse{}))
	return program, withoutBaseline, err
}

// runEnv is the environment of `fail` and `warn`: the run's aggregates, and
// the meter of their evaluation.
type runEnv struct {
	RunStats
	meter
}

// runPatcher folds duration literals, and refuses the count of the other
// scope: a span gate counts spans, a trace gate traces.
type runPatcher struct {
	durationFolder
	scope Scope
}

func (p *runPatcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.BinaryNode:
		scaleDurations(node, n)
	case *ast.BuiltinNode:
		p.foldDuration(node, n)
	case *ast.IdentifierNode:
		p.checkCount(n, n.Value, "")
	case *ast.MemberNode:
		if base, ok := n.Node.(*ast.IdentifierNode); ok && base.Value == "baseline" {
			if field, ok := n.Property.(*ast.StringNode); ok {
				p.checkCount(n, field.Value, "baseline.")
			}
		}
	}
}

// checkCount refuses the count of the other scope, as name or as
// baseline.name.
func (p *runPatcher) checkCount(node ast.Node, name, prefix string) {
	switch {
	case name == "spans" && p.scope == ScopeTrace:
		p.fail(node, "a trace gate counts traces: use %straces", prefix)
	case name == "traces" && p.scope != ScopeTrace:
		p.fail(node, "a span gate counts spans: use %sspans, or scope: trace", prefix)
	}
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	floatType    = reflect.TypeFor[float64]()
	intType      = reflect.TypeFor[int]()
)

// scaleDurations makes a duration times a number a duration,
// `p95 > baseline.p95 * 1.2`: the type checker accepts the product as a
// duration, but the VM makes a float of it that it cannot compare with one.
// The product becomes a call to $scale, which no expression can name.
func scaleDurations(node *ast.Node, n *ast.BinaryNode) {
	if n.Operator != "*" {
		return
	}
	for _, sides := range [][2]ast.Node{{n.Left, n.Right}, {n.Right, n.Left}} {
		if t := sides[1].Type(); sides[0].Type() == durationType && (t == floatType || t == intType) {
			ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: "$scale"}, Arguments: []ast.Node{sides[0], sides[1]}})
			return
		}
	}
}

// scale is $scale: a duration times a number.
var scale = expr.Function("$scale", func(args ...any) (any, error) {
	d := args[0].(time.Duration)
	switch f := args[1].(type) {
	case int:
		return d * time.Duration(f), nil
	default:
		return time.Duration(float64(d) * f.(float64)), nil
	}
}, new(func(time.Duration, float64) time.Duration), new(func(time.Duration, int) time.Duration))

// durationFolder turns `duration("300ms")` into a constant at compile time, so
// a bad literal is a load-time error with its column and a span pays nothing
// to parse it.
type durationFolder struct{ err *file.Error }

func (f *durationFolder) foldDuration(node *ast.Node, n *ast.BuiltinNode) {
	if n.Name != "duration" || len(n.Arguments) != 1 {
		return
	}
	literal, ok := n.Arguments[0].(*ast.StringNode)
	if !ok {
		return
	}
	d, err := time.ParseDuration(literal.Value)
	if err != nil {
		f.fail(literal, "invalid duration %q (use a number and a unit: ns, us, ms, s, m, h)", literal.Value)
		return
	}
	ast.Patch(node, &ast.ConstantNode{Value: d})
}

func (f *durationFolder) fail(node ast.Node, format string, args ...any) {
	if f.err == nil {
		f.err = &file.Error{Location: node.Location(), Message: fmt.Sprintf(format, args...)}
	}
}

// describe turns a compile error into one line that gives the position within
// the expression: "column 12: unknown name duraton". A patcher's error comes
// first: the compiler's error after it is a consequence.
func describe(src string, patchErr *file.Error, err error) error {
	if patchErr != nil {
		err = patchErr.Bind(file.NewSource(src))
	}
	if err == nil {
		return nil
	}
	var fe *file.Error
	if !errors.As(err, &fe) {
		// Errors about the whole expression, such as its result type.
		return fmt.Errorf("column 1: %w", err)
	}
	message := fe.Message
	if strings.HasSuffix(message, tooManyNodes) {
		message = fmt.Sprintf("the expression is too large: more than %d operators, names and literals", maxNodes)
	}
	if fe.Line > 1 {
		return fmt.Errorf("line %d, column %d: %s", fe.Line, fe.Column+1, message)
	}
	return fmt.Errorf("column %d: %s", fe.Column+1, message)
}

// tooManyNodes ends expr's error for an expression past MaxNodes.
const tooManyNodes = "expression exceeds maximum allowed nodes"
