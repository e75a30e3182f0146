package config

import (
	"fmt"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
)

// sandbox confines an expression to the data of its environment. The
// environments are structs of typed values and accessors, and expr-lang has
// no builtin that reaches the network or runs anything; sandbox refuses, at
// compile time, what is left:
//
//   - $env, the environment itself as a value, and every other $-name, the
//     accessors' and the evaluation meter's (`$attribute(1)`): through them
//     an expression would see the environment's internals (its pdata
//     handles print as memory addresses), call accessors with arguments
//     they do not take, or tamper with its own limits;
//   - timezone() and the time zone argument of date(), which read the
//     system's time zone database from disk, at every evaluation.
//
// It is the first visitor of every compilation, so it sees the expression as
// written, before the patchers turn names into accessor calls.
type sandbox struct{ err *file.Error }

func (s *sandbox) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		switch {
		case n.Value == "$env":
			s.fail(n, "$env is not available in gate expressions; use the names of the environment")
		case strings.HasPrefix(n.Value, "$"):
			s.fail(n, "unknown name %s", n.Value)
		}
	case *ast.BuiltinNode:
		switch n.Name {
		case "timezone":
			s.fail(n, "timezone() is not available in gate expressions: it reads the system's time zone database; compare times as they are (start_time and end_time are UTC)")
		case "date":
			// date(s, layout, zone) and date(location, s, layout, zone) load
			// the zone. Types are not known yet (the names are not patched),
			// so date(location, s, layout) goes too: span times are UTC.
			if len(n.Arguments) > 2 {
				s.fail(n, "date() takes a date and, optionally, its layout in gate expressions: a time zone would be read from the system's time zone database; give the offset in the date instead (2006-01-02T15:04:05+01:00)")
			}
		}
	}
}

func (s *sandbox) fail(node ast.Node, format string, args ...any) {
	if s.err == nil {
		s.err = &file.Error{Location: node.Location(), Message: fmt.Sprintf(format, args...)}
	}
}
