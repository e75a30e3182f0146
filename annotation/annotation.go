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
	// ones included (string slice), present only when there are some.
	Violated = "releasegate.gates.violated"
	// Errored names the gates whose assert failed to evaluate (string slice),
	// present only when there are some.
	Errored = "releasegate.gates.errored"
)

// Write annotates a span's attributes. The gates are given as indices into
// names. Violated and Errored are left out when empty, which spares most
// spans an allocation or two; one left by an earlier evaluation is then
// removed, so the annotations always describe one evaluation.
func Write(attrs pcommon.Map, run string, names []string, matched, violated, errored []int) {
	attrs.EnsureCapacity(attrs.Len() + 4)
	attrs.PutStr(Run, run)
	putNames(attrs, Matched, names, matched)
	putNames(attrs, Violated, names, violated)
	putNames(attrs, Errored, names, errored)
}

// putNames writes the gates' names under key, or removes key when there are
// none.
func putNames(attrs pcommon.Map, key string, names []string, gates []int) {
	if len(gates) == 0 {
		attrs.Remove(key)
		return
	}
	s := attrs.PutEmptySlice(key)
	s.EnsureCapacity(len(gates))
	for _, i := range gates {
		s.AppendEmpty().SetStr(names[i])
	}
}
