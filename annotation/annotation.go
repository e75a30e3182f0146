// Package annotation is the contract between the releasegate processor and
// the releasegate exporter: the span attributes the processor writes on every
// span that matched at least one gate, and that the exporter reads. The two
// components share nothing else, so they can run in different collectors.
package annotation

import "go.opentelemetry.io/collector/pdata/pcommon"

const (
	// Run is the span's run key (string).
	Run = "releasegate.run"
	// Matched names the gates whose match held (string slice).
	Matched = "releasegate.gates.matched"
	// Violated names the matched gates whose assert did not hold, errored
	// ones included (string slice).
	Violated = "releasegate.gates.violated"
	// Errored names the gates whose assert failed to evaluate (string slice),
	// present only when there are some.
	Errored = "releasegate.gates.errored"
)

// Write annotates a span's attributes. The gates are given as indices into
// names. An Errored attribute left by an earlier evaluation is removed when
// this one has none, so the annotations always describe one evaluation.
func Write(attrs pcommon.Map, run string, names []string, matched, violated, errored []int) {
	attrs.PutStr(Run, run)
	putNames(attrs, Matched, names, matched)
	putNames(attrs, Violated, names, violated)
	if len(errored) == 0 {
		attrs.Remove(Errored)
		return
	}
	putNames(attrs, Errored, names, errored)
}

func putNames(attrs pcommon.Map, key string, names []string, gates []int) {
	s := attrs.PutEmptySlice(key)
	s.EnsureCapacity(len(gates))
	for _, i := range gates {
		s.AppendEmpty().SetStr(names[i])
	}
}
