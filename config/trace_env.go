package config

import (
	"cmp"
	"slices"
	"time"

	"github.com/expr-lang/expr/ast"
)

// TraceSpan is a span of an assembled trace as trace gates see it: an
// element of `spans`, `root`, and what the structural functions take and
// give. It has every name of the span environment. Fields the gates do not
// read may be left empty (see Gates.TraceFields).
type TraceSpan struct {
	Name          string         `expr:"name"`
	Kind          string         `expr:"kind"`
	Status        string         `expr:"status"`
	StatusMessage string         `expr:"status_message"`
	Duration      time.Duration  `expr:"duration"`
	StartTime     time.Time      `expr:"start_time"`
	EndTime       time.Time      `expr:"end_time"`
	TraceID       string         `expr:"trace_id"`
	SpanID        string         `expr:"span_id"`
	ParentSpanID  string         `expr:"parent_span_id"`
	IsRoot        bool           `expr:"is_root"`
	Attributes    map[string]any `expr:"attributes"`
	Resource      map[string]any `expr:"resource"`
	ScopeName     string         `expr:"scope_name"`
	Events        []Event        `expr:"events"`
}

// Trace is an assembled trace: its spans, in no particular order. Evaluate
// puts them in a canonical order (by start, then span id) and links them.
type Trace struct {
	ID    string // lowercase hex
	Spans []*TraceSpan
}

// traceEnv is the environment of trace gates' match and assert. Its names
// are $-names that tracePatcher writes for the names users write, so that
// `duration` does not shadow expr's builtin duration(). The structure is
// indexed once per trace.
type traceEnv struct {
	Spans       []*TraceSpan                  `expr:"$spans"`
	Root        *TraceSpan                    `expr:"$root"`
	Duration    time.Duration                 `expr:"$trace_duration"`
	TraceID     string                        `expr:"$trace_id"`
	Children    func(*TraceSpan) []*TraceSpan `expr:"$children"`
	Parent      func(*TraceSpan) *TraceSpan   `expr:"$parent"`
	Descendants func(*TraceSpan) []*TraceSpan `expr:"$descendants"`
	Ancestors   func(*TraceSpan) []*TraceSpan `expr:"$ancestors"`
	meter

	byID     map[string]*TraceSpan // the first span of each id
	children map[string][]*TraceSpan
}

// traceNames maps the names of the trace environment to its fields;
// traceFunctions are those that are called.
var (
	traceNames = map[string]string{
		"spans":    "$spans",
		"root":     "$root",
		"duration": "$trace_duration",
		"trace_id": "$trace_id",
	}
	traceFunctions = map[string]string{
		"children":    "$children",
		"parent":      "$parent",
		"descendants": "$descendants",
		"ancestors":   "$ancestors",
	}
)

// newTraceEnv links the trace's spans, in their canonical order: by start
// time, then span id, so that `spans[0]` and ties mean the same wherever a
// trace is judged.
func newTraceEnv(t *Trace) *traceEnv {
	e := &traceEnv{TraceID: t.ID, Spans: slices.Clone(t.Spans)}
	e.bind()
	slices.SortStableFunc(e.Spans, func(a, b *TraceSpan) int {
		return cmp.Or(a.StartTime.Compare(b.StartTime), cmp.Compare(a.SpanID, b.SpanID))
	})
	e.byID = make(map[string]*TraceSpan, len(e.Spans))
	e.children = make(map[string][]*TraceSpan)
	var first, last time.Time
	for i, s := range e.Spans {
		if _, dup := e.byID[s.SpanID]; !dup {
			e.byID[s.SpanID] = s
		}
		if s.ParentSpanID != "" {
			e.children[s.ParentSpanID] = append(e.children[s.ParentSpanID], s)
		} else if e.Root == nil {
			e.Root = s // the earliest of the spans without a parent
		}
		if i == 0 || s.StartTime.Before(first) {
			first = s.StartTime
		}
		if i == 0 || s.EndTime.After(last) {
			last = s.EndTime
		}
	}
	if len(e.Spans) > 0 {
		e.Duration = max(last.Sub(first), 0)
	}
	e.Children = e.childrenOf
	e.Parent = e.parentOf
	e.Descendants = e.descendantsOf
	e.Ancestors = e.ancestorsOf
	return e
}

// childrenOf is the spans whose parent is s's id; a span that is its own
// parent is among its children. The list is the index's own: expressions
// do not change lists.
func (e *traceEnv) childrenOf(s *TraceSpan) []*TraceSpan {
	if s == nil {
		return nil
	}
	return e.children[s.SpanID]
}

// parentOf is the span of s's parent id; nil for a root, or a parent that
// never arrived.
func (e *traceEnv) parentOf(s *TraceSpan) *TraceSpan {
	if s == nil || s.ParentSpanID == "" {
		return nil
	}
	return e.byID[s.ParentSpanID]
}

// descendantsOf is every span below s, each once, breadth first, s
// excluded, cycles of parent ids included. Each span visited is a step of
// the evaluation's meter, and the list built is charged.
func (e *traceEnv) descendantsOf(s *TraceSpan) []*TraceSpan {
	if s == nil {
		return nil
	}
	seen := map[*TraceSpan]bool{s: true}
	var out []*TraceSpan
	for queue := []*TraceSpan{s}; len(queue) > 0; queue = queue[1:] {
		for _, c := range e.children[queue[0].SpanID] {
			e.Step()
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
				queue = append(queue, c)
			}
		}
	}
	e.spend(len(out) * elementSize)
	return out
}

// ancestorsOf is s's parent, its parent's, and so on up to the root,
// nearest first, each once: a cycle of parent ids ends the chain.
func (e *traceEnv) ancestorsOf(s *TraceSpan) []*TraceSpan {
	if s == nil {
		return nil
	}
	seen := map[*TraceSpan]bool{s: true}
	var out []*TraceSpan
	for p := e.parentOf(s); p != nil && !seen[p]; p = e.parentOf(p) {
		e.Step()
		seen[p] = true
		out = append(out, p)
	}
	e.spend(len(out) * elementSize)
	return out
}

// tracePatcher rewrites the names of the trace environment into its
// fields, and refuses what trace gates do not have. It also folds duration
// literals (see durationFolder).
type tracePatcher struct{ durationFolder }

func (p *tracePatcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		if field, ok := traceNames[n.Value]; ok {
			ast.Patch(node, &ast.IdentifierNode{Value: field})
		}
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok {
			if field, ok := traceFunctions[id.Value]; ok {
				n.Callee = &ast.IdentifierNode{Value: field}
			}
		}
	case *ast.VariableDeclaratorNode:
		if _, ok := traceNames[n.Name]; ok {
			p.fail(n, "%q is a name of the trace environment and cannot be redeclared", n.Name)
		}
	case *ast.BuiltinNode:
		p.foldDuration(node, n)
	}
}

// traceOnly are names of the trace environment that span gates do not
// have, to say so when a span gate uses one.
var traceOnly = map[string]bool{"spans": true, "root": true, "children": true, "parent": true, "descendants": true, "ancestors": true}
