package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
)

// A comparison is a term of a run condition that compares an aggregate with
// a constant, such as `p95 > duration("250ms")`, normalised so that the
// aggregate is on the left.
type comparison struct {
	name  string // "p95", "baseline.p95", "latency_ratio_low"
	op    string
	value float64 // durations in nanoseconds
}

// runCondition is a compiled `fail` or `warn` with what its tree says about
// it: the comparisons it is made of, and whether it is monotone.
type runCondition struct {
	program *vm.Program
	// withoutBaseline is the condition with each term that uses baseline
	// names made false, for a run not compared with a baseline; nil when it
	// uses none.
	withoutBaseline *vm.Program
	comparisons     []comparison
	// monotone: once the condition holds without its baseline terms, it
	// holds for good, because it is made with && and || of counts that only
	// grow compared with > or >=.
	monotone bool
	scope    Scope
}

func newRunCondition(program, withoutBaseline *vm.Program, scope Scope) runCondition {
	c := runCondition{program: program, withoutBaseline: withoutBaseline, scope: scope}
	if program == nil {
		return c
	}
	root := program.Node()
	ast.Walk(&root, visitFunc(func(node ast.Node) {
		if cmp, ok := asComparison(node); ok {
			c.comparisons = append(c.comparisons, cmp)
		}
	}))
	if withoutBaseline != nil {
		root = withoutBaseline.Node()
	}
	c.monotone = isMonotone(root)
	return c
}

// programFor is the program to evaluate for stats: without its baseline
// terms when the run is not compared with a baseline.
func (c runCondition) programFor(stats RunStats) *vm.Program {
	if c.withoutBaseline != nil && !stats.Compared {
		return c.withoutBaseline
	}
	return c.program
}

type visitFunc func(ast.Node)

func (f visitFunc) Visit(node *ast.Node) { f(*node) }

// growing are the aggregates that never decrease while a run is open.
var growing = map[string]bool{"spans": true, "traces": true, "violations": true, "errors": true, "elapsed": true}

// isMonotone: constants (baseline terms made false among them) never
// change; comparisons of growing counts with > or >= never stop holding.
func isMonotone(node ast.Node) bool {
	switch n := node.(type) {
	case *ast.BoolNode:
		return true
	case *ast.BinaryNode:
		if isLogical(n.Operator) {
			return isMonotone(n.Left) && isMonotone(n.Right)
		}
	}
	cmp, ok := asComparison(node)
	return ok && growing[cmp.name] && (cmp.op == ">" || cmp.op == ">=")
}

func isLogical(op string) bool {
	switch op {
	case "&&", "and", "||", "or":
		return true
	}
	return false
}

var flipped = map[string]string{">": "<", ">=": "<=", "<": ">", "<=": ">=", "==": "==", "!=": "!="}

func asComparison(node ast.Node) (comparison, bool) {
	b, ok := node.(*ast.BinaryNode)
	if !ok {
		return comparison{}, false
	}
	op, ok := flipped[b.Operator]
	if !ok {
		return comparison{}, false
	}
	if name, ok := aggregateName(b.Left); ok {
		if v, ok := constant(b.Right); ok {
			return comparison{name: name, op: b.Operator, value: v}, true
		}
	}
	if name, ok := aggregateName(b.Right); ok {
		if v, ok := constant(b.Left); ok {
			return comparison{name: name, op: op, value: v}, true
		}
	}
	return comparison{}, false
}

// aggregateName is the name of the run environment a node reads: an
// aggregate, one of the baseline's (baseline.p95) or a latency ratio.
func aggregateName(node ast.Node) (string, bool) {
	switch n := node.(type) {
	case *ast.IdentifierNode:
		_, known := readers[n.Value]
		return n.Value, known
	case *ast.MemberNode:
		base, ok := n.Node.(*ast.IdentifierNode)
		field, literal := n.Property.(*ast.StringNode)
		if !ok || !literal || base.Value != "baseline" {
			return "", false
		}
		_, known := aggregates[field.Value]
		return "baseline." + field.Value, known
	}
	return "", false
}

func constant(node ast.Node) (float64, bool) {
	switch n := node.(type) {
	case *ast.IntegerNode:
		return float64(n.Value), true
	case *ast.FloatNode:
		return n.Value, true
	case *ast.ConstantNode:
		switch v := n.Value.(type) {
		case time.Duration:
			return float64(v), true
		case int:
			return float64(v), true
		case float64:
			return v, true
		}
	}
	return 0, false
}

type aggregateKind int

const (
	kindCount aggregateKind = iota
	kindRatio
	kindDuration
	kindLatencyRatio
)

type aggregate struct {
	kind aggregateKind
	read func(*Aggregates) float64
}

// aggregates are the names of the run environment that are a gate's
// figures, readable as numbers: the run's, and the baseline's under
// baseline.
var aggregates = map[string]aggregate{
	"spans":           {kindCount, func(a *Aggregates) float64 { return float64(a.Spans) }},
	"traces":          {kindCount, func(a *Aggregates) float64 { return float64(a.Traces) }},
	"violations":      {kindCount, func(a *Aggregates) float64 { return float64(a.Violations) }},
	"errors":          {kindCount, func(a *Aggregates) float64 { return float64(a.Errors) }},
	"violation_ratio": {kindRatio, func(a *Aggregates) float64 { return a.ViolationRatio }},
	"error_ratio":     {kindRatio, func(a *Aggregates) float64 { return a.ErrorRatio }},
	"p50":             {kindDuration, func(a *Aggregates) float64 { return float64(a.P50) }},
	"p90":             {kindDuration, func(a *Aggregates) float64 { return float64(a.P90) }},
	"p95":             {kindDuration, func(a *Aggregates) float64 { return float64(a.P95) }},
	"p99":             {kindDuration, func(a *Aggregates) float64 { return float64(a.P99) }},
	"min":             {kindDuration, func(a *Aggregates) float64 { return float64(a.Min) }},
	"max":             {kindDuration, func(a *Aggregates) float64 { return float64(a.Max) }},
	"mean":            {kindDuration, func(a *Aggregates) float64 { return float64(a.Mean) }},
	"elapsed":         {kindDuration, func(a *Aggregates) float64 { return float64(a.Elapsed) }},
}

// readers read every name a comparison may have, from the run environment.
var readers = func() map[string]func(*RunStats) (aggregateKind, float64) {
	m := map[string]func(*RunStats) (aggregateKind, float64){
		"latency_ratio":      func(s *RunStats) (aggregateKind, float64) { return kindLatencyRatio, s.LatencyRatio },
		"latency_ratio_low":  func(s *RunStats) (aggregateKind, float64) { return kindLatencyRatio, s.LatencyRatioLow },
		"latency_ratio_high": func(s *RunStats) (aggregateKind, float64) { return kindLatencyRatio, s.LatencyRatioHigh },
	}
	for name, a := range aggregates {
		m[name] = func(s *RunStats) (aggregateKind, float64) { return a.kind, a.read(&s.Aggregates) }
		m["baseline."+name] = func(s *RunStats) (aggregateKind, float64) { return a.kind, a.read(&s.Baseline) }
	}
	return m
}()

// usesBaseline: the comparison reads a baseline name, which holds nothing
// without a comparison.
func (c comparison) usesBaseline() bool { return baselineName(c.name) }

func (c comparison) holds(stats *RunStats) bool {
	_, v := readers[c.name](stats)
	return c.holdsFor(v)
}

func (c comparison) holdsFor(observed float64) bool {
	switch c.op {
	case ">":
		return observed > c.value
	case ">=":
		return observed >= c.value
	case "<":
		return observed < c.value
	case "<=":
		return observed <= c.value
	case "==":
		return observed == c.value
	default:
		return observed != c.value
	}
}

// kindOf is the kind of a name a comparison may have.
func kindOf(name string) aggregateKind {
	if a, ok := aggregates[strings.TrimPrefix(name, "baseline.")]; ok {
		return a.kind
	}
	return kindLatencyRatio
}

// shown are the comparisons a reason can show for stats: those of baseline
// names only when the run was compared with a baseline.
func (c runCondition) shown(stats *RunStats) []comparison {
	out := make([]comparison, 0, len(c.comparisons))
	for _, cmp := range c.comparisons {
		if stats.Compared || !cmp.usesBaseline() {
			out = append(out, cmp)
		}
	}
	return out
}

// explain renders the comparisons that hold for stats with the observed
// values, "p95 312ms > 250ms and violation_ratio 3.4% > 1%"; empty when the
// condition has none to show.
func (c runCondition) explain(stats RunStats) string {
	var terms []string
	for _, cmp := range c.shown(&stats) {
		if cmp.holds(&stats) {
			terms = append(terms, cmp.render(&stats, cmp.op, c.scope))
		}
	}
	return strings.Join(terms, " and ")
}

// negated is the relation that holds when a comparison does not.
var negated = map[string]string{">": "≤", ">=": "<", "<": "≥", "<=": ">", "==": "≠", "!=": "="}

// compare renders every comparison with the observed value and the
// relation that holds between them, "p95 425ms ≤ 800ms, violation_ratio 0%
// ≤ 5%"; empty when the condition has none to show.
func (c runCondition) compare(stats RunStats) string {
	shown := c.shown(&stats)
	terms := make([]string, len(shown))
	for i, cmp := range shown {
		op := cmp.op
		if !cmp.holds(&stats) {
			op = negated[op]
		}
		terms[i] = cmp.render(&stats, op, c.scope)
	}
	return strings.Join(terms, ", ")
}

// render is "p95 312ms > 250ms": the aggregate, its value for stats, op and
// the constant. A latency ratio shows the comparison it comes from:
// "latency 1.34× baseline r-40 (95% CI 1.29–1.39×, 412 vs 398 spans) > 1.10".
func (c comparison) render(stats *RunStats, op string, scope Scope) string {
	kind, v := readers[c.name](stats)
	if kind == kindLatencyRatio {
		unit := "spans"
		if scope == ScopeTrace {
			unit = "traces"
		}
		return fmt.Sprintf("latency %s× baseline %s (95%% CI %s–%s×, %d vs %d %s) %s %s",
			formatRatio(stats.LatencyRatio), stats.BaselineRun, formatRatio(stats.LatencyRatioLow), formatRatio(stats.LatencyRatioHigh),
			stats.Spans+stats.Traces, stats.Baseline.Spans+stats.Baseline.Traces, unit, op, formatRatio(c.value))
	}
	return c.renderValue(v, op)
}

// renderValue is render with the observed value given.
func (c comparison) renderValue(observed float64, op string) string {
	kind := kindOf(c.name)
	return fmt.Sprintf("%s %s %s %s", c.name, formatValue(kind, observed), op, formatValue(kind, c.value))
}

func formatRatio(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

func formatValue(kind aggregateKind, v float64) string {
	switch kind {
	case kindRatio:
		return strconv.FormatFloat(v*100, 'g', 4, 64) + "%"
	case kindDuration:
		return FormatDuration(time.Duration(v))
	case kindLatencyRatio:
		return formatRatio(v) + "×"
	default:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
}

// FormatDuration rounds a duration for people: 312ms, 1.25s, 850µs.
func FormatDuration(d time.Duration) string {
	switch abs := max(d, -d); {
	case abs >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case abs >= time.Millisecond:
		return d.Round(time.Millisecond / 10).String()
	case abs >= time.Microsecond:
		return d.Round(time.Microsecond).String()
	default:
		return d.String()
	}
}

// FailsFast reports whether the gate's fail condition, once it holds, holds
// for good while the run goes on, so the gate can fail before the run
// finishes. True for conditions built with && and || from spans (traces),
// violations, errors or elapsed compared with > or >= to a constant, the
// default `violations > 0` included. Terms that use baseline names count as
// false: a ratio can still fall, so they never decide a fail fast.
func (cg *CompiledGate) FailsFast() bool { return cg.fail.monotone }

// ExplainFail renders the terms of the fail condition that hold for stats,
// with their observed values: "p95 312ms > 250ms". Empty when the condition
// has no comparison of an aggregate with a constant that holds.
func (cg *CompiledGate) ExplainFail(stats RunStats) string { return cg.fail.explain(stats) }

// ExplainWarn does for the warn condition what ExplainFail does for fail.
func (cg *CompiledGate) ExplainWarn(stats RunStats) string { return cg.warn.explain(stats) }

// CompareFail renders every term of the fail condition that compares an
// aggregate with a constant, with its observed value and the relation that
// holds: "p95 425ms ≤ 800ms, violation_ratio 0% ≤ 5%". It shows what a
// gate that did not fail was checked against.
func (cg *CompiledGate) CompareFail(stats RunStats) string { return cg.fail.compare(stats) }

// CompareWarn does for the warn condition what CompareFail does for fail.
func (cg *CompiledGate) CompareWarn(stats RunStats) string { return cg.warn.compare(stats) }

// Threshold is one term of a gate's fail or warn condition that compares an
// aggregate of the run environment with a constant, such as
// `p95 > duration("250ms")`, turned so that the aggregate is on the left.
// It is what a verdict page shows next to the value observed.
type Threshold struct{ c comparison }

// FailThresholds are the terms of the fail condition that compare an
// aggregate with a constant, in the order written.
func (cg *CompiledGate) FailThresholds() []Threshold { return thresholds(cg.fail) }

// WarnThresholds does for the warn condition what FailThresholds does for
// fail.
func (cg *CompiledGate) WarnThresholds() []Threshold { return thresholds(cg.warn) }

func thresholds(c runCondition) []Threshold {
	out := make([]Threshold, len(c.comparisons))
	for i, cmp := range c.comparisons {
		out[i] = Threshold{cmp}
	}
	return out
}

// Aggregate is the name compared: "p95", "violation_ratio".
func (t Threshold) Aggregate() string { return t.c.name }

// latencies are the aggregates of the matched spans' (traces') durations;
// elapsed, a duration too, is the run's age.
var latencies = map[string]bool{"p50": true, "p90": true, "p95": true, "p99": true, "min": true, "max": true, "mean": true}

// Latency is the constant, when the aggregate is one of the durations of
// the matched spans (traces): p50 … p99, min, max or mean.
func (t Threshold) Latency() (time.Duration, bool) {
	if !latencies[t.c.name] {
		return 0, false
	}
	return time.Duration(t.c.value), true
}

// Compare renders the comparison with an observed value of the aggregate
// (nanoseconds for a duration) and the relation that holds between them:
// "p95 312ms > 250ms", or "p95 212ms ≤ 250ms" when it does not hold.
func (t Threshold) Compare(observed float64) string {
	op := t.c.op
	if !t.c.holdsFor(observed) {
		op = negated[op]
	}
	return t.c.renderValue(observed, op)
}

// String is the comparison as written, readably: "p95 > 250ms".
func (t Threshold) String() string {
	return fmt.Sprintf("%s %s %s", t.c.name, t.c.op, formatValue(kindOf(t.c.name), t.c.value))
}
