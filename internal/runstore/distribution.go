package runstore

import (
	"math"
	"slices"
	"time"
)

// BucketsPerDoubling is how finely a Histogram splits durations: each
// bucket is 2^(1/8), about 9%, wider than the one below it, so that 100ms
// and 109ms share a bucket and a chart of milliseconds to seconds has a
// hundred bars at most.
const BucketsPerDoubling = 8

// Histogram is a gate's durations in one run, in log-spaced buckets that
// every histogram shares, so that two runs' histograms (a run and its
// baseline) line up bucket for bucket.
type Histogram struct {
	// Buckets are the buckets that hold durations, in rising order.
	Buckets []Bucket
	// Count, Min and Max are those of every duration counted.
	Count    int
	Min, Max time.Duration
	// Exact: counted from the durations themselves; otherwise from the
	// DDSketch they went into (each within 1% of its value).
	Exact bool
}

// Bucket counts the durations in [Lower(Index), Lower(Index+1)).
type Bucket struct {
	Index int
	Count int
}

// BucketIndex is the bucket of a duration. Durations under a nanosecond
// count in the bucket of one nanosecond, index 0.
func BucketIndex(d time.Duration) int {
	if d <= 1 {
		return 0
	}
	i := int(math.Floor(math.Log2(float64(d)) * BucketsPerDoubling))
	// Rounding can put a duration at a bucket's bound in its neighbour.
	switch {
	case Lower(i+1) <= d:
		i++
	case d < Lower(i):
		i--
	}
	return i
}

// Lower is the smallest duration of bucket i.
func Lower(i int) time.Duration {
	return time.Duration(math.Ceil(math.Exp2(float64(i) / BucketsPerDoubling)))
}

// Distribution is the histogram of the durations of gate (its index in the
// gates document) in run: of its matched spans, or traces for a trace
// gate. False when the store holds no such run or gate.
func (s *Store) Distribution(run string, gate int) (Histogram, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[run]
	if !ok || gate < 0 || gate >= len(r.gates) {
		return Histogram{}, false
	}
	return r.gates[gate].durations.histogram(), true
}

// BaselineDistribution is the histogram of the durations gate's baseline
// had, when run compares gate with one; false otherwise.
func (s *Store) BaselineDistribution(run string, gate int) (Histogram, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[run]
	if !ok || r.baseline == nil || gate < 0 || gate >= len(r.baseline.gates) || r.baseline.gates[gate] == nil {
		return Histogram{}, false
	}
	return r.baseline.gates[gate].durations.histogram(), true
}

func (d *durations) histogram() Histogram {
	h := Histogram{Count: d.count, Min: d.min, Max: d.max, Exact: d.sketch == nil}
	counts := map[int]float64{}
	if d.sketch != nil {
		// A bin's value is within 1% of the durations it holds.
		d.sketch.ForEach(func(value, count float64) bool {
			counts[BucketIndex(min(max(time.Duration(value), d.min), d.max))] += count
			return false
		})
	} else {
		for _, v := range d.exact {
			counts[BucketIndex(v)]++
		}
	}
	for i, n := range counts {
		h.Buckets = append(h.Buckets, Bucket{Index: i, Count: int(math.Round(n))})
	}
	slices.SortFunc(h.Buckets, func(a, b Bucket) int { return a.Index - b.Index })
	return h
}
