package config

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Gates is a compiled gates document. Its programs are compiled once and
// shared; it is safe for concurrent use.
type Gates struct {
	runSource string
	run       *vm.Program
	runChain  runChain // when the run expression has its shape
	// series computes a run's series (nil: every run is DefaultSeries);
	// minSamples is the fewest durations a side for a comparison.
	series       *vm.Program
	minSamples   int
	usesBaseline bool
	gates        []CompiledGate
	byName       map[string]int
	index        gateIndex
	// traceGates are the indices of the gates of scope trace, and
	// traceFields what they read of spans.
	traceGates  []int
	traceFields TraceFields
	// indexed is false to evaluate every gate and the run key with the VM,
	// to check the index and runChain against.
	indexed    bool
	evaluators sync.Pool
}

// CompiledGate is a gate with its expressions compiled. Its Gate has every
// default applied, Fail included, so it can be shown as written.
type CompiledGate struct {
	Gate
	match, assert *vm.Program
	fail, warn    runCondition
	// pins are the match's conjuncts that fix a span field to literals,
	// checked without the VM; when onlyPins, they are the whole match.
	pins     []pin
	onlyPins bool
	// observe is, for a trace gate whose assert compares a value with a
	// constant, that value: what a violating trace showed.
	observe *vm.Program
}

// Compile compiles and validates every expression of the document against its
// environment. The error lists every problem, one per line, each naming the
// gate, the field and the position in the expression.
func Compile(doc Document) (*Gates, error) {
	return compile(doc, true)
}

func compile(doc Document, indexed bool) (*Gates, error) {
	g := &Gates{runSource: doc.Run, byName: make(map[string]int, len(doc.Gates)), indexed: indexed, minSamples: doc.Baseline.MinSamples}
	if g.minSamples == 0 {
		g.minSamples = DefaultMinSamples
	}
	if g.runSource == "" {
		g.runSource = DefaultRun
	}
	var errs []error
	var err error
	if g.run, err = compileSpan(g.runSource, false); err != nil {
		errs = append(errs, fmt.Errorf("run: %w", err))
	}
	if indexed {
		g.runChain, _ = parseRunChain(g.runSource)
	}
	if doc.Baseline.Series != "" {
		if g.series, err = compileSpan(doc.Baseline.Series, false); err != nil {
			errs = append(errs, fmt.Errorf("baseline: series: %w", err))
		}
	}
	if len(doc.Gates) == 0 {
		errs = append(errs, errors.New("gates: at least one gate is required"))
	}
	errs = append(errs, checkNames(doc.Gates)...)
	for i, gate := range doc.Gates {
		cg, gateErrs := compileGate(i, gate)
		errs = append(errs, gateErrs...)
		g.gates = append(g.gates, cg)
		g.byName[gate.Name] = i
		g.usesBaseline = g.usesBaseline || cg.UsesBaseline()
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	g.index = newGateIndex(g.gates)
	var tracePrograms []*vm.Program
	for i := range g.gates {
		if cg := &g.gates[i]; cg.Scope == ScopeTrace {
			g.traceGates = append(g.traceGates, i)
			tracePrograms = append(tracePrograms, cg.match, cg.assert, cg.observe)
		}
	}
	g.traceFields = traceFieldsOf(slices.DeleteFunc(tracePrograms, func(p *vm.Program) bool { return p == nil }))
	g.evaluators.New = func() any {
		e := &Evaluator{gates: g, env: newSpanEnv(), seen: make([]uint64, len(g.gates))}
		e.vm.MemoryBudget = vmMemoryBudget
		return e
	}
	return g, nil
}

func compileGate(index int, gate Gate) (CompiledGate, []error) {
	cg := CompiledGate{Gate: gate}
	if cg.Fail == "" {
		cg.Fail = DefaultFail
	}
	ref := gateRef(index, gate.Name)
	var errs []error
	compile := func(field, src string, dst **vm.Program, compile func(string) (*vm.Program, error)) {
		if src == "" {
			return
		}
		program, err := compile(src)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", ref, field, err))
		}
		*dst = program
	}
	judged := func(src string) (*vm.Program, error) { return compileSpan(src, true) }
	what := "spans"
	if gate.Scope == ScopeTrace {
		judged = func(src string) (*vm.Program, error) { return compileTrace(src, true) }
		what = "traces"
	}
	if strings.TrimSpace(gate.Match) == "" {
		errs = append(errs, fmt.Errorf("%s: match: is required (an expression that selects the %s this gate judges)", ref, what))
	} else {
		compile("match", gate.Match, &cg.match, judged)
	}
	compile("assert", gate.Assert, &cg.assert, judged)
	runCondition := func(field, src string) runCondition {
		if src == "" {
			return runCondition{}
		}
		program, withoutBaseline, err := compileRun(src, gate.Scope)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", ref, field, err))
			return runCondition{}
		}
		return newRunCondition(program, withoutBaseline, gate.Scope)
	}
	cg.fail, cg.warn = runCondition("fail", cg.Fail), runCondition("warn", gate.Warn)
	if gate.Scope == ScopeTrace {
		cg.observe = observedSide(gate.Assert)
	} else {
		cg.pins, cg.onlyPins = pins(gate.Match)
	}
	return cg, errs
}

// MinCount is the gate's min_spans, or min_traces for a trace gate.
func (cg *CompiledGate) MinCount() int {
	if cg.Scope == ScopeTrace {
		return cg.MinTraces
	}
	return cg.MinSpans
}

// Len is the number of gates.
func (g *Gates) Len() int { return len(g.gates) }

// At returns the i-th gate, in document order. Evaluate reports gates by
// this index.
func (g *Gates) At(i int) *CompiledGate { return &g.gates[i] }

// Lookup returns the index of the gate with the given name.
func (g *Gates) Lookup(name string) (int, bool) {
	i, ok := g.byName[name]
	return i, ok
}

// Run is the run key expression in force.
func (g *Gates) Run() string { return g.runSource }

// Fails reports whether the gate's fail condition holds for stats. When
// stats are not compared with a baseline, the terms that use baseline names
// do not hold.
func (cg *CompiledGate) Fails(stats RunStats) (bool, error) {
	return evalRun(cg.fail.programFor(stats), stats)
}

// Warns reports whether the gate's warn condition holds for stats; false when
// the gate has none. Baseline terms: see Fails.
func (cg *CompiledGate) Warns(stats RunStats) (bool, error) {
	return evalRun(cg.warn.programFor(stats), stats)
}

// UsesBaseline reports whether the gate's fail or warn condition compares
// with a baseline run.
func (cg *CompiledGate) UsesBaseline() bool {
	return cg.fail.withoutBaseline != nil || cg.warn.withoutBaseline != nil
}

func evalRun(program *vm.Program, stats RunStats) (bool, error) {
	if program == nil {
		return false, nil
	}
	env := &runEnv{RunStats: stats}
	env.bind()
	machine := vm.VM{MemoryBudget: vmMemoryBudget}
	out, err := machine.Run(program, env)
	var fe *file.Error
	if errors.As(err, &fe) {
		return false, errors.New(fe.Message) // one line, without the snippet
	}
	if err != nil {
		return false, err
	}
	return out.(bool), nil
}

// Result is what evaluating one span found. Its slices hold gate indices
// (see Gates.At) and are reused by the evaluator's next call.
type Result struct {
	// Run is the span's run key: empty when no gate matched or when the span
	// has none, in which case no assert was evaluated.
	Run string
	// Matched are the gates whose match held.
	Matched []int
	// Violated are the matched gates whose assert did not hold, Errored
	// included.
	Violated []int
	// Errored are the matched gates whose assert failed to evaluate.
	Errored []int
	// MatchErrors are the gates whose match failed to evaluate; they count as
	// not matched.
	MatchErrors []int
}

// Evaluator evaluates spans against the gates with its own VM. Take one per
// goroutine with Gates.Evaluator and give it back with Release.
type Evaluator struct {
	gates  *Gates
	vm     vm.VM
	env    *spanEnv
	result Result
	// candidates of the current span, deduplicated with seen[i] == epoch.
	candidates []int
	seen       []uint64
	epoch      uint64
}

// Evaluator returns an evaluator from the gates' pool.
func (g *Gates) Evaluator() *Evaluator { return g.evaluators.Get().(*Evaluator) }

// Release returns the evaluator to its pool.
func (e *Evaluator) Release() {
	e.env.set(pcommon.Resource{}, pcommon.InstrumentationScope{}, ptrace.Span{})
	e.gates.evaluators.Put(e)
}

// Evaluate matches one span against every gate, computes its run key when a
// gate matched, and then evaluates the asserts of the matched gates. It is
// the one place spans meet gates.
func (e *Evaluator) Evaluate(resource pcommon.Resource, scope pcommon.InstrumentationScope, span ptrace.Span) *Result {
	r := &e.result
	r.Run = ""
	r.Matched, r.Violated, r.Errored, r.MatchErrors = r.Matched[:0], r.Violated[:0], r.Errored[:0], r.MatchErrors[:0]
	e.env.set(resource, scope, span)

	for _, i := range e.candidatesFor(resource, span) {
		g := &e.gates.gates[i]
		if e.gates.indexed {
			if !g.pinsHold(resource, span) {
				continue
			}
			if g.onlyPins {
				r.Matched = append(r.Matched, i)
				continue
			}
		}
		holds, err := e.holds(g.match)
		switch {
		case err != nil:
			r.MatchErrors = append(r.MatchErrors, i)
		case holds:
			r.Matched = append(r.Matched, i)
		}
	}
	if len(r.Matched) == 0 {
		return r
	}
	if r.Run = e.runKey(resource, span); r.Run == "" {
		return r
	}
	for _, i := range r.Matched {
		assert := e.gates.gates[i].assert
		if assert == nil {
			continue
		}
		holds, err := e.holds(assert)
		if err != nil {
			r.Errored = append(r.Errored, i)
		}
		if !holds {
			r.Violated = append(r.Violated, i)
		}
	}
	return r
}

// candidatesFor lists, in document order, the gates the span may match:
// those the index files under the span's values, and those without pins.
// Spans that match no gate cost a few map look-ups and no allocation.
func (e *Evaluator) candidatesFor(resource pcommon.Resource, span ptrace.Span) []int {
	e.candidates = e.candidates[:0]
	if !e.gates.indexed {
		for i := range e.gates.gates {
			if e.gates.gates[i].Scope != ScopeTrace {
				e.candidates = append(e.candidates, i)
			}
		}
		return e.candidates
	}
	e.epoch++
	idx := &e.gates.index
	e.add(idx.always)
	for i := range idx.lookups {
		l := &idx.lookups[i]
		if v, ok := l.pin.value(resource, span); ok {
			e.add(l.gates[v])
		}
	}
	slices.Sort(e.candidates)
	return e.candidates
}

func (e *Evaluator) add(gates []int) {
	for _, i := range gates {
		if e.seen[i] != e.epoch {
			e.seen[i] = e.epoch
			e.candidates = append(e.candidates, i)
		}
	}
}

// pinsHold checks the gate's pins natively: a span that fails one cannot
// match, and is spared the VM.
func (cg *CompiledGate) pinsHold(resource pcommon.Resource, span ptrace.Span) bool {
	for i := range cg.pins {
		if !cg.pins[i].holds(resource, span) {
			return false
		}
	}
	return true
}

func (e *Evaluator) holds(program *vm.Program) (bool, error) {
	e.env.reset()
	out, err := e.vm.Run(program, e.env)
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("expected a boolean, got %T", out)
	}
	return b, nil
}

// runKey evaluates the run expression. A value that is not a string or a
// number, and an error, mean the span has no run key.
func (e *Evaluator) runKey(resource pcommon.Resource, span ptrace.Span) string {
	if c := &e.gates.runChain; len(c.lookups) > 0 {
		return c.key(resource, span)
	}
	return e.key(e.gates.run)
}

// key evaluates a run or series expression: its value when a string or a
// number, else "" (an error included).
func (e *Evaluator) key(program *vm.Program) string {
	e.env.reset()
	out, err := e.vm.Run(program, e.env)
	if err != nil {
		return ""
	}
	switch v := out.(type) {
	case string:
		return v
	case int:
		return strconv.Itoa(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return ""
	}
}
