// Package annotation is the contract between the releasegate processor and
// the releasegate exporter: the span attributes the processor writes on every
// span that matched at least one gate, and that the exporter reads. The two
// components share nothing else, so they can run in different collectors.
//
// Each gate a span matched is one attribute, releasegate.gate.<name>, whose
// value is the outcome, so that a trace store finds the spans of a gate with
// one tag: releasegate.gate.checkout-latency=violated in Jaeger,
// { span."releasegate.gate.checkout-latency" = "violated" } in Tempo.
package annotation

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

const (
	// Run is the span's run key (string).
	Run = "releasegate.run"
	// GatePrefix starts the key of each gate the span matched:
	// releasegate.gate.<name>, whose value (string) is an Outcome.
	GatePrefix = "releasegate.gate."
)

// Outcome is what a matched gate's assert made of the span.
type Outcome string

const (
	// Passed: the assert held, or the gate has none.
	Passed Outcome = "passed"
	// Violated: the assert did not hold.
	Violated Outcome = "violated"
	// Error: the assert could not be evaluated; a violation too.
	Error Outcome = "error"
)

// Keys are the attribute keys of a document's gates, in its order, built
// once so that annotating a span builds no key.
func Keys(names []string) []string {
	keys := make([]string, len(names))
	for i, name := range names {
		keys[i] = GatePrefix + name
	}
	return keys
}

// Write annotates a span's attributes: its run key, and the outcome of each
// matched gate. Gates are given as indices into keys, violated and errored
// in the order of matched, as the evaluator lists them. Gate annotations
// the span came with (an earlier evaluation, or a client's) are removed
// first, so the annotations always describe this evaluation.
func Write(attrs pcommon.Map, run string, keys []string, matched, violated, errored []int) {
	attrs.RemoveIf(isGateKey)
	attrs.EnsureCapacity(attrs.Len() + 1 + len(matched))
	attrs.PutStr(Run, run)
	for _, i := range matched {
		outcome := Passed
		switch {
		case len(errored) > 0 && errored[0] == i:
			outcome, errored = Error, errored[1:]
			if len(violated) > 0 && violated[0] == i { // errored gates are violated too
				violated = violated[1:]
			}
		case len(violated) > 0 && violated[0] == i:
			outcome, violated = Violated, violated[1:]
		}
		attrs.PutStr(keys[i], string(outcome))
	}
}

func isGateKey(k string, _ pcommon.Value) bool { return strings.HasPrefix(k, GatePrefix) }

// Gate reads a gate annotation: the gate's name and its outcome, when key
// is one. ok is false for other attributes; valid is false for a gate
// annotation whose value is not an outcome.
func Gate(key string, v pcommon.Value) (name string, outcome Outcome, ok, valid bool) {
	name, ok = strings.CutPrefix(key, GatePrefix)
	if !ok {
		return "", "", false, false
	}
	if v.Type() != pcommon.ValueTypeStr {
		return name, "", true, false
	}
	switch outcome = Outcome(v.Str()); outcome {
	case Passed, Violated, Error:
		return name, outcome, true, true
	}
	return name, "", true, false
}
