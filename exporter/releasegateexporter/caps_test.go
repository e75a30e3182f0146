package releasegateexporter

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/releasegate/releasegate/internal/comptest"
)

func TestCut(t *testing.T) {
	assert.Equal(t, "passed", cut("passed", 6))
	assert.Equal(t, "pas…", cut("passed!", 6), "6 bytes")
	assert.Equal(t, "…", cut("passed", 3))
	// Never inside a character: é is 2 bytes.
	assert.Equal(t, "d…", cut("déjà vu", 5))
	assert.Equal(t, "dé…", cut("déjà vu", 6))
	long := cut(strings.Repeat("ü", 1000), 257)
	assert.LessOrEqual(t, len(long), 257)
	assert.True(t, utf8.ValidString(long))
}

// Run keys past MaxRunIDLength, or not UTF-8, are refused and counted; a
// key of MaxRunIDLength is held, and /metrics shows it whole.
func TestRunKeyLength(t *testing.T) {
	e, _, server, tel := newTestExporter(t, testLimits())
	longest := strings.Repeat("r", MaxRunIDLength)
	tooLong := strings.Repeat("r", MaxRunIDLength+1)
	require.NoError(t, e.consume(t.Context(), traces(
		checkout(longest, time.Millisecond),
		checkout(tooLong, time.Millisecond),
		checkout(strings.Repeat("k", 64<<10), time.Millisecond),
		checkout("r-\xff", time.Millisecond),
	)))
	assert.Len(t, e.store.runs, 1)
	_, ok := e.store.get(longest)
	assert.True(t, ok)
	assert.Equal(t, int64(3), comptest.Counter(t, tel, "otelcol_exporter_releasegate_spans_ignored", "reason", "invalid_run"))
	assert.Zero(t, comptest.Counter(t, tel, "otelcol_exporter_releasegate_spans_refused"))

	// The API's finish never opens a run of such a key either.
	_, _, _, ok = e.store.finishRun(tooLong)
	assert.False(t, ok)
	_, _, _, ok = e.store.finishRun("r-\xff")
	assert.False(t, ok)
	assert.Len(t, e.store.runs, 1)

	// Label values on /metrics are run ids (at most MaxRunIDLength bytes),
	// gate names (at most maxGateName) and states.
	families := scrape(t, server.URL)
	require.NotEmpty(t, families)
	for _, family := range families {
		for _, m := range family.GetMetric() {
			for _, l := range m.GetLabel() {
				assert.LessOrEqual(t, len(l.GetValue()), MaxRunIDLength, l.GetName())
				if l.GetName() == "run" {
					assert.Equal(t, longest, l.GetValue())
				}
			}
		}
	}
}

// Exemplars show at most maxExemplarName bytes of a span's name.
func TestExemplarNameLength(t *testing.T) {
	s, _ := newTestStore(t, testGates, testLimits())
	sp := checkout("r", 500*time.Millisecond)
	sp.name = strings.Repeat("ä", 32<<10) // 64 KiB
	td := traces(sp)
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetName(sp.name)
	s.record(td)
	v, _ := s.get("r")
	ex := gate(t, v, "checkout-latency").Exemplars
	require.Len(t, ex, 1)
	assert.LessOrEqual(t, len(ex[0].Name), maxExemplarName)
	assert.True(t, utf8.ValidString(ex[0].Name))
	assert.True(t, strings.HasSuffix(ex[0].Name, "ää…"))
}

// Unknown gate names longer than a gate name can be are counted, not
// listed.
func TestUnknownGateNameLength(t *testing.T) {
	s, _ := newTestStore(t, testGates, testLimits())
	longest, tooLong := strings.Repeat("g", maxGateName), strings.Repeat("g", 64<<10)
	tally := s.record(traces(span{run: "r", matched: []string{"checkout-latency", longest, tooLong}}))
	assert.Equal(t, int64(2), tally.unknownGates)
	v, _ := s.get("r")
	assert.Equal(t, []string{longest}, v.UnknownGates)
}

// Facts longer than maxFact are not taken: they are no commit.
func TestFactLength(t *testing.T) {
	s, _ := newTestStore(t, testGates, testLimits())
	td := traces(checkout("r", time.Millisecond), checkout("r", time.Millisecond))
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	spans.At(0).Attributes().PutStr("vcs.ref.head.revision", strings.Repeat("a", 64<<10))
	spans.At(1).Attributes().PutStr("vcs.ref.head.revision", "1a2b3c4")
	s.record(td)
	v, _ := s.get("r")
	assert.Equal(t, "1a2b3c4", v.Revision)
}

// A reason quotes the gate's expressions, as long as the gates file makes
// them, but stays within maxReason bytes, pending or final.
func TestReasonLength(t *testing.T) {
	literal := strings.Repeat("ö", 2000)
	s, _ := newTestStore(t, fmt.Sprintf("gates: [{name: long, match: 'true', assert: 'name != %q'}]", literal), testLimits())
	s.record(traces(span{run: "r", name: literal, matched: []string{"long"}, violated: []string{"long"}}))
	v, _ := s.get("r")
	for _, g := range v.Gates {
		assert.LessOrEqual(t, len(g.Reason), maxReason, g.Name)
		assert.True(t, utf8.ValidString(g.Reason))
	}
	v, _, _, _ = s.finishRun("r")
	for _, g := range v.Gates {
		assert.LessOrEqual(t, len(g.Reason), maxReason, g.Name)
		assert.True(t, utf8.ValidString(g.Reason))
		assert.True(t, strings.HasSuffix(g.Reason, "…"), g.Reason[:40])
	}
}
