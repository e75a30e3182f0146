package runstore

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/internal/runstore/runstoretest"
)

func TestCut(t *testing.T) {
	assert.Equal(t, "passed", cut("passed", 6))
	assert.Equal(t, "pas…", cut("passed!", 6), "6 bytes")
	assert.Equal(t, "…", cut("passed", 3))
	// Never inside a character: é is 2 bytes.
	assert.Equal(t, "d…", cut("déjà vu", 5))
	assert.Equal(t, "dé…", cut("déjà vu", 6))
	// Bytes that start no character are cut whole.
	assert.Equal(t, "…", cut(strings.Repeat("\x80", 10), 4))
	long := cut(strings.Repeat("ü", 1000), 257)
	assert.LessOrEqual(t, len(long), 257)
	assert.True(t, utf8.ValidString(long))
}

// Run keys past MaxRunIDLength, or not UTF-8, are refused and counted; a
// key of MaxRunIDLength is held.
func TestRunKeyLength(t *testing.T) {
	s, _ := newTestStore(t, runstoretest.Gates, testLimits())
	longest := strings.Repeat("r", MaxRunIDLength)
	tooLong := strings.Repeat("r", MaxRunIDLength+1)
	tally := s.Record(runstoretest.Traces(
		runstoretest.Checkout(longest, time.Millisecond),
		runstoretest.Checkout(tooLong, time.Millisecond),
		runstoretest.Checkout(strings.Repeat("k", 64<<10), time.Millisecond),
		runstoretest.Checkout("r-\xff", time.Millisecond),
	))
	assert.Equal(t, int64(3), tally.InvalidRun)
	assert.Zero(t, tally.Refused)
	assert.Len(t, s.List(), 1)
	_, ok := s.Get(longest)
	assert.True(t, ok)

	// Finish never opens a run of such a key either.
	for _, key := range []string{tooLong, "r-\xff", ""} {
		_, err := s.Finish(key)
		assert.ErrorIs(t, err, ErrInvalidRunKey)
	}
	assert.Len(t, s.List(), 1)
}

// Exemplars show at most maxExemplarName bytes of a span's name.
func TestExemplarNameLength(t *testing.T) {
	s, _ := newTestStore(t, runstoretest.Gates, testLimits())
	sp := runstoretest.Checkout("r", 500*time.Millisecond)
	sp.Name = strings.Repeat("ä", 32<<10) // 64 KiB
	td := runstoretest.Traces(sp)
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetName(sp.Name)
	s.Record(td)
	v, _ := s.Get("r")
	ex := runstoretest.Gate(t, v, "checkout-latency").Exemplars
	require.Len(t, ex, 1)
	assert.LessOrEqual(t, len(ex[0].Name), maxExemplarName)
	assert.True(t, utf8.ValidString(ex[0].Name))
	assert.True(t, strings.HasSuffix(ex[0].Name, "ää…"))
}

// Unknown gate names longer than a gate name can be are counted, not
// listed.
func TestUnknownGateNameLength(t *testing.T) {
	s, _ := newTestStore(t, runstoretest.Gates, testLimits())
	longest, tooLong := strings.Repeat("g", config.MaxGateName), strings.Repeat("g", 64<<10)
	tally := s.Record(runstoretest.Traces(runstoretest.Span{Run: "r", Matched: []string{"checkout-latency", longest, tooLong}}))
	assert.Equal(t, int64(2), tally.UnknownGates)
	v, _ := s.Get("r")
	assert.Equal(t, []string{longest}, v.UnknownGates)
}

// Facts longer than maxFact are not taken: they are no commit.
func TestFactLength(t *testing.T) {
	s, _ := newTestStore(t, runstoretest.Gates, testLimits())
	td := runstoretest.Traces(runstoretest.Checkout("r", time.Millisecond), runstoretest.Checkout("r", time.Millisecond))
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	spans.At(0).Attributes().PutStr("vcs.ref.head.revision", strings.Repeat("a", 64<<10))
	spans.At(1).Attributes().PutStr("vcs.ref.head.revision", "1a2b3c4")
	spans.At(0).Attributes().PutStr("vcs.repository.url.full", strings.Repeat("u", maxFact+1))
	spans.At(1).Attributes().PutStr("vcs.repository.url.full", strings.Repeat("u", maxFact))
	s.Record(td)
	v, _ := s.Get("r")
	assert.Equal(t, "1a2b3c4", v.Revision)
	assert.Equal(t, strings.Repeat("u", maxFact), v.Repository, "maxFact bytes are a fact")
}

// A run lists at most maxUnknownGates unknown gate names, and counts them
// all.
func TestUnknownGatesAreBounded(t *testing.T) {
	s, _ := newTestStore(t, runstoretest.Gates, testLimits())
	var names []string
	for i := range maxUnknownGates + 2 {
		names = append(names, fmt.Sprint("newer-", i))
	}
	tally := s.Record(runstoretest.Traces(runstoretest.Span{Run: "r", Matched: names}))
	assert.Equal(t, int64(maxUnknownGates+2), tally.UnknownGates)
	v, _ := s.Get("r")
	assert.Len(t, v.UnknownGates, maxUnknownGates)
}

// A reason quotes the gate's expressions, as long as the gates file makes
// them, but stays within maxReason bytes, pending or final.
func TestReasonLength(t *testing.T) {
	literal := strings.Repeat("ö", 2000)
	s, _ := newTestStore(t, fmt.Sprintf("gates: [{name: long, match: 'true', assert: 'name != %q'}]", literal), testLimits())
	s.Record(runstoretest.Traces(runstoretest.Span{Run: "r", Name: literal, Matched: []string{"long"}, Violated: []string{"long"}}))
	v, _ := s.Get("r")
	for _, g := range v.Gates {
		assert.LessOrEqual(t, len(g.Reason), maxReason, g.Name)
		assert.True(t, utf8.ValidString(g.Reason))
	}
	v = finish(t, s, "r")
	for _, g := range v.Gates {
		assert.LessOrEqual(t, len(g.Reason), maxReason, g.Name)
		assert.True(t, utf8.ValidString(g.Reason))
		assert.True(t, strings.HasSuffix(g.Reason, "…"), g.Reason[:40])
	}
}
