package config

import (
	"strconv"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// runChain is a run expression of the usual shape, attribute look-ups
// chained with `??` and perhaps a string literal last
// (`resource["cicd.pipeline.run.id"] ?? attributes["cicd.pipeline.run.id"]`).
// It is read straight from pdata, without the VM and without boxing the
// value, and gives the key the VM would.
type runChain struct {
	lookups  []runLookup
	fallback string // the trailing literal, or "" (no run key)
}

type runLookup struct {
	resource bool
	key      string
}

// parseRunChain recognises a run expression as a runChain.
func parseRunChain(src string) (runChain, bool) {
	tree, err := parser.Parse(src)
	if err != nil {
		return runChain{}, false
	}
	var (
		chain runChain
		walk  func(node ast.Node, last bool) bool
	)
	walk = func(node ast.Node, last bool) bool {
		if b, ok := node.(*ast.BinaryNode); ok && b.Operator == "??" {
			return walk(b.Left, false) && walk(b.Right, last)
		}
		if s, ok := node.(*ast.StringNode); ok && last {
			chain.fallback = s.Value
			return true
		}
		field, key, ok := pinnable(node)
		if !ok || (field != pinResource && field != pinAttribute) {
			return false
		}
		chain.lookups = append(chain.lookups, runLookup{resource: field == pinResource, key: key})
		return true
	}
	if !walk(tree.Node, true) || len(chain.lookups) == 0 {
		return runChain{}, false
	}
	return chain, true
}

// key follows the expression's semantics: the first attribute present and
// not empty (`??` skips only nil) decides, and it is a key when it is a
// string or a number.
func (c *runChain) key(resource pcommon.Resource, span ptrace.Span) string {
	for _, l := range c.lookups {
		attrs := span.Attributes()
		if l.resource {
			attrs = resource.Attributes()
		}
		v, ok := attrs.Get(l.key)
		if !ok {
			continue
		}
		switch v.Type() {
		case pcommon.ValueTypeEmpty:
			continue
		case pcommon.ValueTypeBytes:
			if v.Bytes().Len() == 0 { // seen by expressions as a nil []byte
				continue
			}
		case pcommon.ValueTypeStr:
			return v.Str()
		case pcommon.ValueTypeInt:
			return strconv.FormatInt(v.Int(), 10)
		case pcommon.ValueTypeDouble:
			return strconv.FormatFloat(v.Double(), 'f', -1, 64)
		}
		return ""
	}
	return c.fallback
}
