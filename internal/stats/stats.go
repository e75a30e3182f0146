// Package stats compares the durations of a run with those of a baseline
// run: how much slower the run is, and how sure we are of it.
//
// It works on log-durations, so a slowdown is a ratio (the run takes 1.3
// times as long) at any latency, and it is rank-based: the Hodges–Lehmann
// estimate with its Mann-Whitney (Wilcoxon rank-sum) confidence interval.
// Latency is skewed and has outliers; ranks need no distribution assumed and
// a few slow requests do not move them. Either side may be exact durations
// or a DDSketch, as runstore keeps them.
package stats

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
)

// z is the standard normal quantile of a two-sided 95% interval.
const z = 1.959964

// Sample is one side of a comparison: durations as weighted points on a log
// scale. The zero Sample has no durations.
type Sample struct {
	x    []float64 // log nanoseconds, ascending, distinct
	w    []float64 // how many durations each x stands for, > 0
	tail []float64 // tail[j] is the weight of x[j:]; len(x)+1 entries
	// blur is how far, on the log scale, a point may be from the durations
	// it stands for: 0 when exact, a sketch's relative accuracy.
	blur float64
}

// Exact is a sample of exact durations, in any order. Durations ≤ 0 (a span
// shorter than the clock's resolution, or inverted timestamps, which runstore
// records as 0) count as 1ns: a log scale needs positive values, and 1ns is
// the shortest positive duration, so such a span stays the fastest of all
// without sending a ratio to zero or infinity.
func Exact(durations []time.Duration) Sample {
	n := len(durations)
	if n == 0 {
		return Sample{}
	}
	buf := make([]float64, 3*n+1) // x, w and tail in one allocation
	x, w := buf[:n], buf[n:n:2*n]
	for i, d := range durations {
		x[i] = logNanos(float64(d))
	}
	slices.Sort(x)
	// Merge ties: fewer points for each sweep of Compare.
	k := 0
	for i, v := range x {
		if i > 0 && v == x[k-1] {
			w[k-1]++
			continue
		}
		x[k] = v
		w = append(w, 1)
		k++
	}
	return newSample(x[:k], w, buf[2*n:2*n+k+1], 0)
}

// Sketch is a sample of the durations (in nanoseconds) a DDSketch holds: each
// bin's value with its count, the zero bin (and anything below 1ns) as 1ns,
// as in Exact. A nil sketch has no durations.
//
// A bin's value is within the sketch's relative accuracy (1% in runstore) of
// the durations it holds, and Compare widens its interval by as much (see
// Ratio): bins cannot say more.
func Sketch(s *ddsketch.DDSketch) Sample {
	if s == nil || s.IsEmpty() {
		return Sample{}
	}
	// One point per bin, and one for 1ns, which the zero bin (and any
	// negative values) share with the lowest bins.
	n := 1
	s.GetPositiveValueStore().ForEach(func(int, float64) bool { n++; return false })
	buf := make([]float64, 3*n+1)
	// Capacities keep x and w apart; negative values may append past them
	// (into new arrays), and are sorted below.
	x, w := buf[:0:n], buf[n:n:2*n]
	sorted := true
	s.ForEach(func(value, count float64) bool {
		if count <= 0 {
			return false
		}
		v := logNanos(value)
		if last := len(x) - 1; last >= 0 && v <= x[last] {
			if v == x[last] {
				w[last] += count
				return false
			}
			sorted = false
		}
		x, w = append(x, v), append(w, count)
		return false
	})
	// Dense stores iterate in index order, after the zero bin: x is sorted
	// unless the sketch holds negative values (or uses another store).
	if !sorted {
		x, w = sortMerge(x, w)
	}
	tail := buf[2*n:]
	if len(tail) < len(x)+1 {
		tail = make([]float64, len(x)+1)
	}
	return newSample(x, w, tail[:len(x)+1], -math.Log1p(-s.RelativeAccuracy()))
}

// sortMerge sorts the points (x[i], w[i]) by x, merging equal xs.
func sortMerge(x, w []float64) ([]float64, []float64) {
	type point struct{ x, w float64 }
	p := make([]point, len(x))
	for i := range p {
		p[i] = point{x[i], w[i]}
	}
	slices.SortFunc(p, func(a, b point) int { return cmp.Compare(a.x, b.x) })
	x, w = x[:0], w[:0]
	for i, q := range p {
		if i > 0 && q.x == x[len(x)-1] {
			w[len(w)-1] += q.w
			continue
		}
		x, w = append(x, q.x), append(w, q.w)
	}
	return x, w
}

// logNanos is the log of a duration in nanoseconds, below 1ns counting as 1ns.
func logNanos(ns float64) float64 {
	if ns < 1 {
		return 0
	}
	return math.Log(ns)
}

// newSample is the sample of the points (x[i], w[i]), x ascending and
// distinct; tail has room for len(x)+1 weights.
func newSample(x, w, tail []float64, blur float64) Sample {
	if len(x) == 0 {
		return Sample{}
	}
	// Summed from the end, so each tail is the exact count while counts are
	// whole numbers below 2^53.
	tail[len(x)] = 0
	for j := len(x) - 1; j >= 0; j-- {
		tail[j] = tail[j+1] + w[j]
	}
	return Sample{x: x, w: w, tail: tail, blur: blur}
}

// Count is the number of durations in s (the sum of its weights, rounded).
func (s Sample) Count() int {
	return int(math.Round(s.total()))
}

func (s Sample) total() float64 {
	if len(s.tail) == 0 {
		return 0
	}
	return s.tail[0]
}

// Ratio is how a run's durations compare with a baseline's.
type Ratio struct {
	// Estimate is the Hodges–Lehmann estimate of run ÷ baseline: the median
	// of the ratios of every run duration to every baseline duration. Low
	// and High bound it with 95% confidence (Mann-Whitney, normal
	// approximation). With too few durations for that (a single one on
	// either side, or three a side) the interval is unbounded: Low 0, High
	// +Inf.
	//
	// A side given as a sketch widens Low and High by the sketch's relative
	// accuracy (1% each way per sketched side) so that they hold the
	// interval its exact durations would give. Without it, the ratios of
	// two sketches' bins are whole numbers of bins (2% steps), and once a
	// run has thousands of durations its interval, narrower than a step,
	// would miss the true ratio about half the time (every time for
	// durations that barely vary).
	Estimate, Low, High float64
	N, M                int // durations compared: the run's, the baseline's
}

// Compare estimates how many times longer the run's durations are than the
// baseline's; false when either side is empty.
//
// On the log scale a ratio is a shift: Estimate is exp of the median of the
// n·m differences run_i − baseline_j, and the interval is the Moses
// (distribution-free) interval on them: exp of the C-th smallest and the
// C-th largest, C = ⌊nm/2 − z·√(nm(n+m+1)/12)⌋, the Mann-Whitney critical
// value. It leaves out the ties correction, which narrows the variance; with
// ties (sketch bins are ties) the interval is, if anything, a little wide.
func Compare(run, baseline Sample) (Ratio, bool) {
	if run.total() <= 0 || baseline.total() <= 0 {
		return Ratio{}, false
	}
	a, b := &run, &baseline
	n, m := run.total(), baseline.total()
	w := n * m
	r := Ratio{N: run.Count(), M: baseline.Count()}

	// The smallest and the largest difference bracket every order statistic.
	lo := a.x[0] - b.x[len(b.x)-1]
	hi := a.x[len(a.x)-1] - b.x[0]
	if c := math.Floor(w/2 - z*math.Sqrt(w*(n+m+1)/12)); c >= 1 {
		lo = kth(a, b, c, lo, hi)
		hi = kth(a, b, w-c+1, lo, hi)
		// Each difference is within a.blur+b.blur of the one between the
		// durations the points stand for, and so is each order statistic
		// (they cannot move further than the values they order).
		blur := a.blur + b.blur
		r.Low, r.High = math.Exp(lo-blur), math.Exp(hi+blur)
	} else {
		r.Low, r.High = 0, math.Inf(1)
	}

	// The median lies within the interval: the ⌈w/2⌉-th, averaged with the
	// next when w is even.
	k1, k2 := math.Floor((w+1)/2), math.Floor(w/2)+1
	med := kth(a, b, k1, lo, hi)
	if k2 > k1 {
		// The next is med itself (a tie) or, with whole counts, the next
		// difference up: a sweep or two tells, rather than a bisection.
		next := med
		if atOrBelow, _, above := rank(a, b, med); atOrBelow < k2 {
			next = above
			if atOrBelow, _, _ := rank(a, b, above); atOrBelow < k2 {
				next = kth(a, b, k2, above, hi) // fractional counts
			}
		}
		med += (next - med) / 2
	}
	r.Estimate = math.Exp(med)
	return r, true
}

// kth is the k-th smallest difference a_i − b_j, each pair weighing w_i·w_j,
// that is the smallest difference d with at least weight k of the pairs at or
// below it. lo and hi are differences of pairs, and bracket it.
//
// A sketch has thousands of bins and may hold millions of durations, so the
// n·m pairs are never listed: kth bisects on d, counting the pairs at or
// below d in one sweep over the two sorted sides (rank). Each sweep also
// finds the nearest differences either side of d, and the bracket snaps to
// them, so it stays on pairs' differences and closes on the exact order
// statistic (the same float64 a sort of all the differences would give),
// in about as many steps as it takes halving to separate the differences
// near it: a few dozen at most, since they are float64s of bounded range.
//
// When both sides are sketches with the same mapping, each difference is a
// difference of bin indices times the bin width (to float rounding), so the
// weights of the differences are the correlation of the two bin histograms;
// the sweep over weighted points computes exactly that, no special case.
func kth(a, b *Sample, k, lo, hi float64) float64 {
	// The cap is for safety only: each step shrinks the bracket to
	// differences strictly inside it, and ends within ~60 steps.
	for range 200 {
		if lo >= hi {
			return lo
		}
		d := lo + (hi-lo)/2
		if d >= hi { // lo and hi are adjacent float64s
			d = lo
		}
		if atOrBelow, below, above := rank(a, b, d); atOrBelow >= k {
			hi = below
		} else {
			lo = above
		}
	}
	return hi
}

// rank is the weight of the pairs with a_i − b_j ≤ d, the largest difference
// ≤ d and the smallest > d (−Inf and +Inf when there is none).
//
// For each a_i, in ascending order, the b_j with a_i − b_j ≤ d are a suffix
// of b, b[p:], whose weight is tail[p]; as a_i grows p only moves right, so
// one sweep of both sides counts all pairs. The difference is computed as a
// float64, as a sort of the differences would compare them; rounding is
// monotonic, so the suffix property holds for the rounded differences too.
func rank(a, b *Sample, d float64) (atOrBelow, below, above float64) {
	below, above = math.Inf(-1), math.Inf(1)
	bx, nb := b.x, len(b.x)
	p := 0
	for i, ax := range a.x {
		for p < nb && ax-bx[p] > d {
			p++
		}
		if p == nb {
			// Every later a_i is larger still: no more pairs at or below d,
			// and a_i − b_last is the smallest difference above d among
			// the rest.
			above = min(above, ax-bx[nb-1])
			break
		}
		atOrBelow += a.w[i] * b.tail[p]
		below = max(below, ax-bx[p])
		if p > 0 {
			above = min(above, ax-bx[p-1])
		}
	}
	return atOrBelow, below, above
}
