package runstore

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/releasegate/releasegate/internal/runstore/runstoretest"
	"github.com/releasegate/releasegate/internal/verdict"
)

// roundTrip is what storage gives back of runs saved.
func roundTrip(t *testing.T, runs []StoredRun) []StoredRun {
	t.Helper()
	data, err := json.Marshal(runs)
	require.NoError(t, err)
	var out []StoredRun
	require.NoError(t, json.Unmarshal(data, &out))
	return out
}

// savedRuns are a store's runs as saved: "done" finished, "fast" open with
// a gate that failed fast, "open" open with a gate that matched nothing and
// a span of no duration, "big" open with sketched durations; by key.
func savedRuns(t *testing.T) map[string]StoredRun {
	t.Helper()
	s, c := newTestStore(t, runstoretest.Gates, testLimits())
	s.Record(runstoretest.Traces(runstoretest.Checkout("done", 100*time.Millisecond)))
	finish(t, s, "done")
	c.Advance(time.Minute)
	s.Record(runstoretest.Traces(runstoretest.Span{Run: "fast", Name: "GET /", Matched: []string{"no-errors"}, Violated: []string{"no-errors"}}))
	td := runstoretest.Traces(runstoretest.Checkout("open", 0))
	td.ResourceSpans().At(0).Resource().Attributes().PutStr("vcs.ref.head.revision", strings.Repeat("a", maxFact))
	s.Record(td)
	s.Record(runstoretest.Traces(repeat(200, runstoretest.Checkout("big", 120*time.Millisecond))...))
	s.Sweep()
	runs, held := s.Snapshot(true)
	require.Len(t, held, 4)
	byKey := map[string]StoredRun{}
	for _, r := range roundTrip(t, runs) {
		byKey[r.Key] = r
	}
	return byKey
}

// Runs come back from storage as they were: open ones resume, finished
// ones keep their verdicts, a gate that failed fast stays failed, counts
// of nothing and durations of zero are counts and durations.
func TestRestore(t *testing.T) {
	saved := savedRuns(t)
	s, _ := newTestStore(t, runstoretest.Gates, testLimits())
	var all []StoredRun
	for _, r := range saved {
		all = append(all, r)
	}
	assert.Equal(t, Restored{Open: 3, Finished: 1}, s.Restore(all))

	fast, _ := s.Get("fast")
	g := runstoretest.Gate(t, fast, "no-errors")
	assert.Equal(t, verdict.Failed, g.Status)
	require.NotNil(t, g.FailedAt)
	assert.Equal(t, runstoretest.Start.Add(time.Minute), *g.FailedAt)
	open, _ := s.Get("open")
	assert.Equal(t, strings.Repeat("a", maxFact), open.Revision, "a fact of maxFact bytes is one")
	assert.Zero(t, runstoretest.Gate(t, open, "never-matched").Spans)
	assert.Equal(t, 1, runstoretest.Gate(t, open, "checkout-latency").Spans)
	h, ok := s.Distribution("open", 0)
	require.True(t, ok)
	assert.Equal(t, []Bucket{{Index: 0, Count: 1}}, h.Buckets, "a span of no duration")
	h, _ = s.Distribution("big", 0)
	assert.Equal(t, 200, h.Count)
	assert.False(t, h.Exact)
	done, _ := s.Get("done")
	assert.True(t, done.Finished)
	assert.Equal(t, "passed: p95 100ms ≤ 250ms; warn: p95 100ms ≤ 200ms (0 of 1 spans violated duration < 300ms)", runstoretest.Gate(t, done, "checkout-latency").Reason)
}

// A finished run comes back until its retention ends, not at the moment
// it does.
func TestRestoreUntilRetentionEnds(t *testing.T) {
	done := savedRuns(t)["done"]
	for _, tt := range []struct {
		after time.Duration
		want  Restored
	}{
		{time.Hour - time.Nanosecond, Restored{Finished: 1}},
		{time.Hour, Restored{Expired: 1}},
	} {
		s, c := newTestStore(t, runstoretest.Gates, testLimits())
		c.Advance(done.Finished.Sub(runstoretest.Start) + tt.after)
		assert.Equal(t, tt.want, s.Restore([]StoredRun{done}), "%s after it finished", tt.after)
	}
}

// A saved run that does not add up is left out, with why; the others come
// back.
func TestRestoreSkipsWhatDoesNotAddUp(t *testing.T) {
	for _, tt := range []struct {
		name, run string
		change    func(*StoredRun)
		err       string
	}{
		{"invalid series", "open", func(r *StoredRun) { r.Series = strings.Repeat("s", MaxRunIDLength+1) }, "invalid series"},
		{"unknown status", "open", func(r *StoredRun) { r.Gates[0].Status = "bogus" }, `gate checkout-latency: unknown status "bogus"`},
		{"negative spans", "open", func(r *StoredRun) { r.Gates[0].Spans = -1 }, "gate checkout-latency: counts do not add up"},
		{"negative violations", "open", func(r *StoredRun) { r.Gates[0].Violations = -1 }, "gate checkout-latency: counts do not add up"},
		{"negative errors", "open", func(r *StoredRun) { r.Gates[0].EvalErrors = -1 }, "gate checkout-latency: counts do not add up"},
		{"negative error spans", "open", func(r *StoredRun) { r.Gates[0].ErrorSpans = -1 }, "gate checkout-latency: counts do not add up"},
		{"durations not counted", "open", func(r *StoredRun) { r.Gates[0].Spans = 2 }, "gate checkout-latency: counts do not add up"},
		{"failed fast, but pending", "fast", func(r *StoredRun) { r.Gates[1].Status = verdict.Pending }, "gate no-errors: failed fast, but pending"},
		{"negative duration", "open", func(r *StoredRun) { r.Gates[0].Exact = []time.Duration{-1} }, "gate checkout-latency: durations: negative duration"},
		{"corrupt sketch", "big", func(r *StoredRun) { r.Gates[0].Sketch = []byte{0xff, 1, 2} }, "gate checkout-latency: durations: corrupt sketch"},
		{"sketch miscounted", "big", func(r *StoredRun) {
			r.Gates[0].Count, r.Gates[0].Spans = 201, 201
		}, "gate checkout-latency: durations: sketch holds 200 durations, not 201"},
		{"pending when finished", "done", func(r *StoredRun) { r.Gates[0].Status = verdict.Pending }, "gate checkout-latency: pending in a finished run"},
		{"unknown cause", "done", func(r *StoredRun) { r.Cause = "bored" }, `unknown finish cause "bored"`},
		{"negative late spans", "done", func(r *StoredRun) { r.LateSpans = -1 }, "negative count"},
		{"no start", "done", func(r *StoredRun) { r.Started = time.Time{} }, "no sequence number or start"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			saved := savedRuns(t)
			bad := saved[tt.run]
			tt.change(&bad)
			s, _ := newTestStore(t, runstoretest.Gates, testLimits())
			other := saved["fast"]
			if tt.run == "fast" {
				other = saved["open"]
			}
			got := s.Restore([]StoredRun{bad, other})
			require.Len(t, got.Skipped, 1)
			assert.Equal(t, bad.Seq, got.Skipped[0].Seq)
			assert.ErrorContains(t, got.Skipped[0].Err, tt.err)
			assert.Len(t, s.List(), 1, "the other run comes back")
		})
	}
}

// Facts longer than maxFact that storage holds are dropped, as they are
// from spans.
func TestRestoredFactsAreBounded(t *testing.T) {
	open := savedRuns(t)["open"]
	open.Revision, open.Repository = strings.Repeat("a", maxFact+1), strings.Repeat("r", maxFact)
	s, _ := newTestStore(t, runstoretest.Gates, testLimits())
	assert.Equal(t, Restored{Open: 1}, s.Restore([]StoredRun{open}))
	v, _ := s.Get("open")
	assert.Empty(t, v.Revision)
	assert.Equal(t, strings.Repeat("r", maxFact), v.Repository)
}

// A restart keeps max_runs runs, the newest; the others are left out.
func TestRestoreMaxRuns(t *testing.T) {
	saved := savedRuns(t)
	l := testLimits()
	l.MaxRuns = 2
	s, _ := newTestStore(t, runstoretest.Gates, l)
	got := s.Restore([]StoredRun{saved["done"], saved["fast"], saved["open"]})
	assert.Equal(t, 2, got.Open+got.Finished, "two of three")
	require.Len(t, got.Skipped, 1)
	assert.Equal(t, saved["done"].Seq, got.Skipped[0].Seq, "the oldest")
	assert.EqualError(t, got.Skipped[0].Err, "max_runs newer runs are held")
}

// exactDurations durations are kept exact through a restart; a sketch of
// no more than that many is no saved state.
func TestRestoreExactDurationsUpTo(t *testing.T) {
	s, _ := newTestStore(t, runstoretest.Gates, testLimits())
	s.Record(runstoretest.Traces(repeat(exactDurations, runstoretest.Checkout("r", 120*time.Millisecond))...))
	runs, _ := s.Snapshot(true)
	require.Len(t, runs[0].Gates[0].Exact, exactDurations)
	s2, _ := newTestStore(t, runstoretest.Gates, testLimits())
	assert.Equal(t, Restored{Open: 1}, s2.Restore(roundTrip(t, runs)))
	h, _ := s2.Distribution("r", 0)
	assert.True(t, h.Exact)

	sketch, err := ddsketch.LogCollapsingLowestDenseDDSketch(sketchAccuracy, sketchBins)
	require.NoError(t, err)
	for range exactDurations {
		require.NoError(t, sketch.Add(float64(120*time.Millisecond)))
	}
	var encoded []byte
	sketch.Encode(&encoded, false)
	g := &runs[0].Gates[0]
	g.Exact, g.Sketch = nil, encoded
	got := s2.Restore(roundTrip(t, runs))
	require.Len(t, got.Skipped, 1)
	assert.ErrorContains(t, got.Skipped[0].Err, "sketch and exact durations mixed")
}
