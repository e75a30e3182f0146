package runstore

import (
	"slices"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/internal/verdict"
)

// MaxRunIDLength is the longest run id the store holds, in bytes. Run ids
// are label values on /metrics and names in CI statuses; CI run ids, commit
// SHAs and versions fit with room to spare. A longer key (or one that is
// not UTF-8) is refused, not cut: two runs cut to one key would share a
// verdict.
const MaxRunIDLength = 256

// Lengths of what a run keeps from spans, so that a span with huge
// attributes cannot make a run big.
const (
	// maxUnknownGates bounds the unknown gate names a run reports.
	maxUnknownGates = 10
	// maxExemplarName cuts the span names exemplars show, in bytes.
	maxExemplarName = 256
	// maxFact is the longest commit, repository or environment taken from
	// a span, in bytes; a longer value is ignored.
	maxFact = 512
)

// ValidRunKey reports whether the store holds runs of key: at most
// MaxRunIDLength bytes of UTF-8, which Prometheus needs of label values.
func ValidRunKey(key string) bool {
	return key != "" && len(key) <= MaxRunIDLength && utf8.ValidString(key)
}

// run is one run's gates and lifecycle.
type run struct {
	key          string
	seq          uint64 // opening order: newest first is highest first
	started      time.Time
	lastSpan     time.Time
	finished     time.Time // zero while open
	cause        verdict.FinishCause
	gates        []gate // indexed like config.Gates
	lateSpans    int
	unknownGates []string
	changed      bool      // spans arrived since the last fail-fast check
	announced    bool      // its RunStarted event went out
	unsaved      bool      // changed since it was last snapshot
	resumed      time.Time // when it was restored from storage, if it was
	facts        facts
	// series is the series it compares in ("" when its first span's was
	// not a valid one), baseline what it compares with (nil: none yet).
	series   string
	baseline *baseline
}

func newRun(key string, seq uint64, now time.Time, gates int) *run {
	r := &run{key: key, seq: seq, started: now, lastSpan: now, unsaved: true, gates: make([]gate, gates)}
	for i := range r.gates {
		r.gates[i].status = verdict.Pending
	}
	return r
}

func (r *run) isOpen() bool { return r.finished.IsZero() }

// baselineRun is the id of the run it compares with, or "none".
func (r *run) baselineRun() string {
	if r.baseline == nil {
		return "none"
	}
	return r.baseline.run
}

// idleSince is when the run's idle timeout started: its last span, or its
// restoring from storage when that came later.
func (r *run) idleSince() time.Time {
	if r.resumed.After(r.lastSpan) {
		return r.resumed
	}
	return r.lastSpan
}

func (r *run) elapsed(now time.Time) time.Duration {
	if !r.isOpen() {
		return r.finished.Sub(r.started)
	}
	return now.Sub(r.started)
}

// status is the run's worst gate's.
func (r *run) status() verdict.Status {
	worst := verdict.Passed
	for i := range r.gates {
		if verdict.Severity(r.gates[i].status) > verdict.Severity(worst) {
			worst = r.gates[i].status
		}
	}
	return worst
}

// addUnknownGate lists a gate name the gates document lacks, unless the run
// lists enough already or the name is longer than a gate name can be.
func (r *run) addUnknownGate(name string) {
	if len(r.unknownGates) < maxUnknownGates && len(name) <= config.MaxGateName && !slices.Contains(r.unknownGates, name) {
		r.unknownGates = append(r.unknownGates, name)
	}
}

// facts are what CI status sinks need to know of a run, read from its
// spans' resource or span attributes (OpenTelemetry semantic conventions).
type facts struct {
	revision    string // vcs.ref.head.revision: the commit to set statuses on
	repository  string // vcs.repository.url.full
	environment string // deployment.environment.name
}

var factKeys = [...]string{"vcs.ref.head.revision", "vcs.repository.url.full", "deployment.environment.name"}

// learn fills in the facts the run does not know yet from a resource's or
// a span's attributes.
func (f *facts) learn(attrs pcommon.Map) {
	for i, field := range [...]*string{&f.revision, &f.repository, &f.environment} {
		if *field != "" {
			continue
		}
		if v, ok := attrs.Get(factKeys[i]); ok && v.Type() == pcommon.ValueTypeStr && len(v.Str()) <= maxFact {
			*field = v.Str()
		}
	}
}

// cut shortens s to at most n bytes, cut at a character and ended with
// "…" when it had to be cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := max(n-len("…"), 0)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
