package config

import (
	"strings"

	"github.com/expr-lang/expr/ast"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// UsesBaseline reports whether some gate compares runs with a baseline
// run: only then do runs need a series.
func (g *Gates) UsesBaseline() bool { return g.usesBaseline }

// MinSamples is the fewest durations each side of a baseline comparison
// needs.
func (g *Gates) MinSamples() int { return g.minSamples }

// Series is the series of the run a span opens: the baseline's series
// expression on it, or DefaultSeries when it gives nothing.
func (g *Gates) Series(resource pcommon.Resource, scope pcommon.InstrumentationScope, span ptrace.Span) string {
	if g.series == nil {
		return DefaultSeries
	}
	e := g.Evaluator()
	defer e.Release()
	e.env.set(resource, scope, span)
	if s := e.key(g.series); s != "" {
		return s
	}
	return DefaultSeries
}

// baselineNames are the names of the run environment that hold only when
// the run was compared with a baseline.
var baselineNames = map[string]bool{"baseline": true, "latency_ratio": true, "latency_ratio_low": true, "latency_ratio_high": true}

// baselineName: name, an identifier or a member path (baseline.p95), reads
// a baseline name.
func baselineName(name string) bool {
	root, _, _ := strings.Cut(name, ".")
	return baselineNames[root]
}

// usesBaseline reports whether the tree reads a baseline name.
func usesBaseline(node ast.Node) bool {
	uses := false
	ast.Walk(&node, visitFunc(func(n ast.Node) {
		if id, ok := n.(*ast.IdentifierNode); ok && baselineNames[id.Value] {
			uses = true
		}
	}))
	return uses
}

// baselineTermsFalse replaces each term of a condition built with && and
// || that uses baseline names with false: without a baseline, such a term
// does not hold, and the condition is judged on the rest. A term is what
// && and || join: a comparison, a negation, a call.
type baselineTermsFalse struct{}

func (baselineTermsFalse) Visit(node *ast.Node) {
	b, ok := (*node).(*ast.BinaryNode)
	if !ok || !isLogical(b.Operator) {
		return
	}
	for _, side := range []*ast.Node{&b.Left, &b.Right} {
		if inner, ok := (*side).(*ast.BinaryNode); ok && isLogical(inner.Operator) {
			continue // its own terms were visited first
		}
		if usesBaseline(*side) {
			ast.Patch(side, &ast.BoolNode{Value: false})
		}
	}
}
