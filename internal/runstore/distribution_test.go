package runstore

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/releasegate/releasegate/internal/runstore/runstoretest"
)

// Every duration falls in the bucket whose bounds hold it, and the buckets
// are log-spaced: eight per doubling.
func TestBuckets(t *testing.T) {
	for _, d := range []time.Duration{-5, 0, 1, 2, 3, 999, time.Microsecond, 100 * time.Millisecond, 109 * time.Millisecond, time.Second, time.Hour} {
		i := BucketIndex(d)
		if d <= 1 {
			assert.Equal(t, 0, i)
			continue
		}
		assert.LessOrEqual(t, Lower(i), d, "%s", d)
		assert.Less(t, d, Lower(i+1), "%s", d)
	}
	// From a microsecond up, where buckets are wider than a nanosecond.
	for i := 10 * BucketsPerDoubling; i < 42*BucketsPerDoubling; i++ {
		assert.Equal(t, i, BucketIndex(Lower(i)), "a bucket's lower bound is in it: %d", i)
	}
	assert.Equal(t, BucketIndex(time.Second)+BucketsPerDoubling, BucketIndex(2*time.Second))
}

func TestDistributionExact(t *testing.T) {
	s, _ := newTestStore(t, runstoretest.Gates, testLimits())
	var spans []runstoretest.Span
	for _, ms := range []int{100, 101, 102, 200, 400} {
		spans = append(spans, runstoretest.Checkout("r-1", time.Duration(ms)*time.Millisecond))
	}
	s.Record(runstoretest.Traces(spans...))

	h, ok := s.Distribution("r-1", 0)
	require.True(t, ok)
	assert.True(t, h.Exact)
	assert.Equal(t, 5, h.Count)
	assert.Equal(t, 100*time.Millisecond, h.Min)
	assert.Equal(t, 400*time.Millisecond, h.Max)
	assert.Equal(t, []Bucket{
		{Index: BucketIndex(100 * time.Millisecond), Count: 3},
		{Index: BucketIndex(200 * time.Millisecond), Count: 1},
		{Index: BucketIndex(400 * time.Millisecond), Count: 1},
	}, h.Buckets)

	h, ok = s.Distribution("r-1", 3) // never-matched
	require.True(t, ok)
	assert.Zero(t, h.Count)
	assert.Empty(t, h.Buckets)

	_, ok = s.Distribution("r-2", 0)
	assert.False(t, ok, "unknown run")
	_, ok = s.Distribution("r-1", 4)
	assert.False(t, ok, "unknown gate")
	_, ok = s.Distribution("r-1", -1)
	assert.False(t, ok)
}

// Past the exact durations, the histogram comes from the sketch: the same
// count, and each bucket within a bin's 1% of what the durations give.
func TestDistributionSketch(t *testing.T) {
	var d, exact durations
	rng := rand.New(rand.NewPCG(3, 4))
	want := map[int]int{}
	for range 10_000 {
		v := time.Duration(rng.ExpFloat64()*float64(50*time.Millisecond)) + 10*time.Millisecond
		d.add(v)
		want[BucketIndex(v)]++
	}
	exact.add(time.Millisecond)
	require.Nil(t, d.exact)

	h := d.histogram()
	assert.False(t, h.Exact)
	assert.True(t, exact.histogram().Exact)
	assert.Equal(t, 10_000, h.Count)
	total := 0
	for i, b := range h.Buckets {
		total += b.Count
		if i > 0 {
			assert.Less(t, h.Buckets[i-1].Index, b.Index, "rising")
		}
		// A bin straddling a bucket's bound counts on one side of it.
		assert.InDelta(t, want[b.Index], b.Count, 0.15*float64(want[b.Index])+20, "bucket %d", b.Index)
	}
	assert.InDelta(t, 10_000, total, 10)
	assert.Equal(t, BucketIndex(h.Min), h.Buckets[0].Index)
	assert.Equal(t, BucketIndex(h.Max), h.Buckets[len(h.Buckets)-1].Index)
}

// From a microsecond to days, every bucket's lower bound is in it and the
// duration just under it in the bucket below, even where floating point
// puts them in a neighbour (17h55m28.422926153s, just under bucket 367,
// is one).
func TestBucketBounds(t *testing.T) {
	for i := 10 * BucketsPerDoubling; i < 50*BucketsPerDoubling; i++ {
		assert.Equal(t, i, BucketIndex(Lower(i)), "bucket %d: %s", i, Lower(i))
		assert.Equal(t, i-1, BucketIndex(Lower(i)-1), "just under bucket %d: %s", i, Lower(i)-1)
	}
	assert.Equal(t, 366, BucketIndex(17*time.Hour+55*time.Minute+28422926153))
}

// The durations of a gate's baseline, bucket for bucket with the run's:
// only for a run compared with one, and a gate that compares.
func TestBaselineDistribution(t *testing.T) {
	s, c := newBaselineStore(t, 10)
	checkouts(t, s, c, "r-1", "staging", 30, 200*time.Millisecond, 1)
	finish(t, s, "r-1")
	checkouts(t, s, c, "r-2", "staging", 30, 200*time.Millisecond, 2)
	_, ok := s.BaselineDistribution("r-1", 0)
	assert.False(t, ok, "r-1 compared with no baseline")
	own, ok := s.Distribution("r-1", 0)
	require.True(t, ok)
	base, ok := s.BaselineDistribution("r-2", 0)
	require.True(t, ok)
	assert.Equal(t, own, base, "r-2's baseline is r-1")
	_, ok = s.BaselineDistribution("r-2", 2)
	assert.False(t, ok, "errors compares with no baseline")
	for _, gate := range []int{-1, 3} {
		_, ok = s.BaselineDistribution("r-2", gate)
		assert.False(t, ok, "no gate %d", gate)
	}
	_, ok = s.BaselineDistribution("r-none", 0)
	assert.False(t, ok)
}
