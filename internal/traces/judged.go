package traces

import "go.opentelemetry.io/collector/pdata/pcommon"

// judgedSet remembers the traces handed over, with their runs, so that
// their late spans are known as late: the latest capacity of them, in a
// ring.
type judgedSet struct {
	entries map[pcommon.TraceID]judgedEntry
	ring    []pcommon.TraceID
	next    int
}

type judgedEntry struct {
	run  string
	slot int // in the ring
}

func newJudgedSet(capacity int) judgedSet {
	return judgedSet{entries: make(map[pcommon.TraceID]judgedEntry), ring: make([]pcommon.TraceID, 0, max(capacity, 1))}
}

func (j *judgedSet) add(id pcommon.TraceID, run string) {
	slot := len(j.ring)
	if slot < cap(j.ring) {
		j.ring = append(j.ring, id)
	} else {
		slot = j.next
		// The oldest leaves, unless it came again since: its entry is then
		// another slot's.
		if old := j.ring[slot]; j.entries[old].slot == slot {
			delete(j.entries, old)
		}
		j.ring[slot] = id
		j.next = (j.next + 1) % len(j.ring)
	}
	j.entries[id] = judgedEntry{run: run, slot: slot}
}

func (j *judgedSet) get(id pcommon.TraceID) (string, bool) {
	e, ok := j.entries[id]
	return e.run, ok
}
