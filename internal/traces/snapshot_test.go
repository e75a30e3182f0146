package traces

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/releasegate/releasegate/config"
)

// everything reads every field of spans.
const everything = `
gates:
  - name: all
    scope: trace
    match: "true"
    assert: len(toJSON(spans)) > 0
`

// restored saves the buffer's traces and restores them into a new buffer.
func restored(t *testing.T, b *Buffer, g *config.Gates) *Buffer {
	t.Helper()
	changed, _ := b.Snapshot(true)
	data, err := json.Marshal(changed)
	require.NoError(t, err)
	var saved []StoredTrace
	require.NoError(t, json.Unmarshal(data, &saved))
	b2 := New(g.TraceFields(), limits)
	require.Empty(t, b2.Restore(start, saved))
	return b2
}

// The fields few gates read come back from storage each on its own: a
// span with a status message only, one with a scope name only, one with
// events only, one with no attribute at all.
func TestRestoreRarelyNeededFields(t *testing.T) {
	g := compile(t, everything)
	b := New(g.TraceFields(), limits)
	res := resource(b)
	withMessage := newSpan(1, 2, 1)
	withMessage.Status().SetMessage("card declined")
	withEvent := newSpan(1, 3, 1)
	withEvent.Attributes().Clear()
	withEvent.Events().AppendEmpty().SetName("exception")
	bare := newSpan(1, 4, 1)
	bare.Attributes().Clear()
	withScope := newSpan(1, 1, 0)
	withScope.Attributes().Clear()
	scope := pcommon.NewInstrumentationScope()
	scope.SetName("io.opentelemetry.http")
	b.Add(start, res, pcommon.NewInstrumentationScope(), withMessage, "r")
	b.Add(start, res, scope, withScope, "r")
	b.Add(start, res, pcommon.NewInstrumentationScope(), withEvent, "r")
	b.Add(start, res, pcommon.NewInstrumentationScope(), bare, "r")

	b2 := restored(t, b, g)
	want, got := b.OfRun("r")[0].Trace(), b2.OfRun("r")[0].Trace()
	require.Len(t, got.Spans, 4)
	for i := range want.Spans {
		assert.Equal(t, *want.Spans[i], *got.Spans[i], "span %d", i)
	}
	assert.Equal(t, "card declined", got.Spans[0].StatusMessage)
	assert.Equal(t, map[string]any{"k": 1, "not read": "dropped"}, got.Spans[0].Attributes, "every attribute, when a gate reads them all")
	assert.Equal(t, "io.opentelemetry.http", got.Spans[1].ScopeName)
	require.Len(t, got.Spans[2].Events, 1)
	assert.Equal(t, "exception", got.Spans[2].Events[0].Name)
	assert.Nil(t, got.Spans[3].Attributes, "none")
	assert.Nil(t, want.Spans[3].Attributes, "none")
}

// A span keeps every attribute key the gates read, whatever else is kept
// of it.
func TestKeysReadAreKept(t *testing.T) {
	g := compile(t, `
gates:
  - name: keys
    scope: trace
    match: "true"
    assert: all(spans, .attributes["k"] == 1 && .attributes["j"] != nil && .status_message != "x")
`)
	b := New(g.TraceFields(), limits)
	res := resource(b)
	first := newSpan(1, 1, 0)
	first.Attributes().PutStr("j", "jay")
	first.Status().SetMessage("fine")
	second := newSpan(1, 2, 1)
	second.Attributes().PutBool("j", true)
	b.Add(start, res, pcommon.NewInstrumentationScope(), first, "r")
	b.Add(start, res, pcommon.NewInstrumentationScope(), second, "r")
	b2 := restored(t, b, g)
	for name, buffer := range map[string]*Buffer{"buffered": b, "restored": b2} {
		tr := buffer.OfRun("r")[0].Trace()
		require.Len(t, tr.Spans, 2, name)
		assert.Equal(t, map[string]any{"k": 1, "j": "jay"}, tr.Spans[0].Attributes, name)
		assert.Equal(t, "fine", tr.Spans[0].StatusMessage, name)
		assert.Equal(t, map[string]any{"k": 1, "j": true}, tr.Spans[1].Attributes, name)
	}
}

// A saved trace restores within the buffer's bounds: MaxSpansPerTrace
// spans and not one more, kinds and statuses that fit a byte.
func TestRestoreBounds(t *testing.T) {
	g := compile(t, structural)
	full := New(g.TraceFields(), limits)
	res := resource(full)
	for id := 1; id <= limits.MaxSpansPerTrace; id++ {
		full.Add(start, res, pcommon.NewInstrumentationScope(), newSpan(1, id, 0), "r")
	}
	saved, _ := full.Snapshot(true)
	require.Len(t, saved[0].Spans, limits.MaxSpansPerTrace)
	b := New(g.TraceFields(), limits)
	assert.Empty(t, b.Restore(start, saved))
	assert.Equal(t, limits.MaxSpansPerTrace, b.Spans())

	for _, tt := range []struct {
		name         string
		kind, status int32
		ok           bool
	}{
		{"a byte", 255, 255, true},
		{"kind past a byte", 256, 0, false},
		{"status past a byte", 0, 256, false},
		{"negative kind", -1, 0, false},
		{"negative status", 0, -1, false},
	} {
		one := []StoredTrace{{Version: StoredVersion, ID: pcommon.TraceID{15: 2}.String(), Run: "r", Spans: []StoredSpan{
			{ID: pcommon.SpanID{7: 1}.String(), Kind: tt.kind, Status: tt.status}}}}
		b := New(g.TraceFields(), limits)
		skipped := b.Restore(start, one)
		assert.Equal(t, tt.ok, len(skipped) == 0, "%s: %v", tt.name, skipped)
		if tt.ok {
			tr := b.OfRun("r")[0].Trace()
			assert.Equal(t, config.KindName(ptrace.SpanKind(255)), tr.Spans[0].Kind)
		}
	}
}

// Restored traces fill the buffer up to MaxTraces traces and MaxSpans
// spans, not past them.
func TestRestoreFillsTheBuffer(t *testing.T) {
	g := compile(t, structural)
	small := Limits{IdleTimeout: time.Second, MaxTraces: 2, MaxSpansPerTrace: 3, MaxSpans: 5}
	b := New(g.TraceFields(), Limits{IdleTimeout: time.Second, MaxTraces: 10, MaxSpansPerTrace: 3, MaxSpans: 100})
	res := resource(b)
	for trace := byte(1); trace <= 3; trace++ {
		for id := 1; id <= 3; id++ {
			b.Add(start, res, pcommon.NewInstrumentationScope(), newSpan(trace, id, 0), "r")
		}
	}
	saved, _ := b.Snapshot(true)
	require.Len(t, saved, 3)

	byTraces := New(g.TraceFields(), Limits{IdleTimeout: time.Second, MaxTraces: 2, MaxSpansPerTrace: 3, MaxSpans: 100})
	skipped := byTraces.Restore(start, saved)
	assert.Len(t, skipped, 1)
	for _, err := range skipped {
		assert.EqualError(t, err, "max_traces traces are buffered")
	}
	assert.Equal(t, 2, byTraces.Len())

	bySpans := New(g.TraceFields(), small)
	skipped = bySpans.Restore(start, saved[:2])
	assert.Len(t, skipped, 1, "3 and 3 spans are more than 5")
	for _, err := range skipped {
		assert.EqualError(t, err, "max_buffered_spans spans are buffered")
	}
	exactly := New(g.TraceFields(), Limits{IdleTimeout: time.Second, MaxTraces: 2, MaxSpansPerTrace: 3, MaxSpans: 6})
	assert.Empty(t, exactly.Restore(start, saved[:2]), "3 and 3 spans fill 6")
	assert.Equal(t, 6, exactly.Spans())
}
