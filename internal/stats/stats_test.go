package stats

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newSketch is a sketch as runstore keeps durations past 128.
func newSketch(t testing.TB, durations ...time.Duration) *ddsketch.DDSketch {
	t.Helper()
	s, err := ddsketch.LogCollapsingLowestDenseDDSketch(0.01, 2048)
	require.NoError(t, err)
	for _, d := range durations {
		if err := s.Add(float64(d)); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// lognormal draws n durations whose log is normal: median median, log
// standard deviation sigma.
func lognormal(rng *rand.Rand, n int, median time.Duration, sigma float64) []time.Duration {
	d := make([]time.Duration, n)
	for i := range d {
		d[i] = time.Duration(float64(median) * math.Exp(sigma*rng.NormFloat64()))
	}
	return d
}

// bruteForce is Compare by the book: every pairwise log-difference listed
// and sorted. a and b are log-durations, one entry per duration.
func bruteForce(a, b []float64) Ratio {
	diffs := make([]float64, 0, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			diffs = append(diffs, x-y)
		}
	}
	slices.Sort(diffs)
	n, m := len(a), len(b)
	w := n * m
	r := Ratio{N: n, M: m, Low: 0, High: math.Inf(1)}
	c := int(math.Floor(float64(w)/2 - z*math.Sqrt(float64(w)*float64(n+m+1)/12)))
	if c >= 1 {
		r.Low, r.High = math.Exp(diffs[c-1]), math.Exp(diffs[w-c])
	}
	if w%2 == 1 {
		r.Estimate = math.Exp(diffs[w/2])
	} else {
		lo, hi := diffs[w/2-1], diffs[w/2]
		r.Estimate = math.Exp(lo + (hi-lo)/2)
	}
	return r
}

func logs(durations []time.Duration) []float64 {
	x := make([]float64, len(durations))
	for i, d := range durations {
		x[i] = math.Log(float64(max(d, 1)))
	}
	return x
}

// expand lists a sketch's durations one entry per duration, as Sketch sees
// them: each bin's value, count times.
func expand(s *ddsketch.DDSketch) []float64 {
	var x []float64
	s.ForEach(func(value, count float64) bool {
		for range int(count) {
			x = append(x, math.Log(max(value, 1)))
		}
		return false
	})
	return x
}

func assertRatio(t *testing.T, want, got Ratio, eps float64, msgAndArgs ...any) {
	t.Helper()
	assert.Equal(t, want.N, got.N, msgAndArgs...)
	assert.Equal(t, want.M, got.M, msgAndArgs...)
	assert.InEpsilon(t, want.Estimate, got.Estimate, eps, msgAndArgs...)
	if math.IsInf(want.High, 1) {
		assert.Zero(t, got.Low, msgAndArgs...)
		assert.True(t, math.IsInf(got.High, 1), msgAndArgs...)
		return
	}
	assert.InEpsilon(t, want.Low, got.Low, eps, msgAndArgs...)
	assert.InEpsilon(t, want.High, got.High, eps, msgAndArgs...)
}

// Compare finds the same order statistics as listing and sorting all n·m
// pairwise differences, ties (within and across sides), zeros and all.
func TestCompareBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for n := 1; n <= 40; n++ {
		for m := 1; m <= 40; m++ {
			run := lognormal(rng, n, 120*time.Millisecond, 0.6)
			base := lognormal(rng, m, 100*time.Millisecond, 0.6)
			// Ties: round some to 50ms (ties within and across sides), and
			// set a few to zero or below.
			for _, d := range [][]time.Duration{run, base} {
				for i := range d {
					switch rng.IntN(8) {
					case 0, 1, 2:
						d[i] = d[i].Round(50 * time.Millisecond)
					case 3:
						d[i] = -d[i] * time.Duration(rng.IntN(2))
					}
				}
			}
			got, ok := Compare(Exact(run), Exact(base))
			require.True(t, ok)
			assertRatio(t, bruteForce(logs(run), logs(base)), got, 1e-9, "n=%d m=%d", n, m)
		}
	}
}

// blur is how far a bin's value may be from the durations it holds, on the
// log scale, for runstore's sketches.
var blur = -math.Log1p(-0.01)

// The same with weighted points: small sketches, whose bins each stand for
// several durations, against their durations listed one by one.
func TestCompareBruteForceWeighted(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for n := 1; n <= 40; n += 3 {
		for m := 1; m <= 40; m += 3 {
			run := newSketch(t, lognormal(rng, n, 100*time.Millisecond, 0.05)...)
			base := newSketch(t, lognormal(rng, m, 100*time.Millisecond, 0.05)...)
			_ = base.Add(0)
			want := bruteForce(expand(run), expand(base))
			// Widened by both sides' blur (see Ratio).
			want.Low *= math.Exp(-2 * blur)
			want.High *= math.Exp(2 * blur)
			got, ok := Compare(Sketch(run), Sketch(base))
			require.True(t, ok)
			assertRatio(t, want, got, 1e-9, "n=%d m=%d", n, m+1)
		}
	}
}

// From sketches (1% relative accuracy), and with one side a sketch, Compare
// is within 2% of the exact durations' comparison. Its interval holds the
// exact one, and is wider by at most twice the blur (1% per sketched side,
// each way): the widening, and at most as much again for the bins' error,
// which the widening covers.
func TestCompareSketchAccuracy(t *testing.T) {
	var mu sync.Mutex
	var worstEstimate, worstBound float64
	t.Cleanup(func() {
		t.Logf("worst relative error against exact: estimate %.3f%%, bounds %.3f%% (wider)", 100*worstEstimate, 100*worstBound)
	})
	for _, sigma := range []float64{0.1, 0.5, 1, 2} {
		t.Run(fmt.Sprint("sigma=", sigma), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(3, uint64(100*sigma)))
			for _, ratio := range []float64{1.0, 1.3, 0.8} {
				run := lognormal(rng, 10000, time.Duration(ratio*float64(200*time.Millisecond)), sigma)
				base := lognormal(rng, 10000, 200*time.Millisecond, sigma)
				runSketch, baseSketch := Sketch(newSketch(t, run...)), Sketch(newSketch(t, base...))
				runExact, baseExact := Exact(run), Exact(base)
				// As runstore keeps a short run exactly.
				run128, base128 := Exact(run[:128]), Exact(base[:128])
				want, _ := Compare(runExact, baseExact)
				want128, _ := Compare(run128, baseExact)
				wantBase128, _ := Compare(runExact, base128)
				for _, c := range []struct {
					name      string
					run, base Sample
					want      Ratio
					sketched  float64
				}{
					{"sketch/sketch", runSketch, baseSketch, want, 2},
					{"sketch/exact", runSketch, baseExact, want, 1},
					{"exact/sketch", runExact, baseSketch, want, 1},
					{"exact128/sketch", run128, baseSketch, want128, 1},
					{"sketch/exact128", runSketch, base128, wantBase128, 1},
				} {
					msg := fmt.Sprintf("%s sigma=%v ratio=%v", c.name, sigma, ratio)
					want := c.want
					// Sanity: the exact estimate is within 4 standard errors
					// of the true ratio (about 1.02σ·√(1/n+1/m)).
					se := 1.02 * sigma * math.Sqrt(1/float64(want.N)+1/float64(want.M))
					assert.Less(t, math.Abs(math.Log(want.Estimate/ratio)), 4*se, msg)

					got, ok := Compare(c.run, c.base)
					require.True(t, ok)
					assert.Equal(t, want.N, got.N, msg)
					assert.Equal(t, want.M, got.M, msg)
					assert.InEpsilon(t, want.Estimate, got.Estimate, 0.02, msg)
					b := c.sketched * blur
					assert.LessOrEqual(t, got.Low, want.Low, msg)
					assert.GreaterOrEqual(t, got.Low, want.Low*math.Exp(-2*b), msg)
					assert.GreaterOrEqual(t, got.High, want.High, msg)
					assert.LessOrEqual(t, got.High, want.High*math.Exp(2*b), msg)

					mu.Lock()
					worstEstimate = max(worstEstimate, math.Abs(got.Estimate/want.Estimate-1))
					worstBound = max(worstBound, 1-got.Low/want.Low, got.High/want.High-1)
					mu.Unlock()
				}
			}
		})
	}
}

// The 95% interval holds the true ratio at least 93% of the time, from exact
// durations and from sketches, with and without a slowdown; from exact
// durations it is not so wide as to hold it nearly always. Sketches' intervals
// are wider (see Ratio), and must stay honest where their bins are coarse
// beside the interval: thousands of durations, or durations that barely vary
// (the interval from exact durations is then a fraction of a bin).
func TestCompareCoverage(t *testing.T) {
	for _, c := range []struct {
		sims, n      int
		sigma, ratio float64
		exact        bool // also from exact durations
	}{
		{1000, 300, 0.5, 1.2, true},
		{1000, 300, 0.5, 1.0, true},
		{200, 300, 0.02, 1.2, true},
		{200, 3000, 0.2, 1.2, false},
		{200, 3000, 0.2, 1.0, false},
	} {
		name := fmt.Sprintf("%d pairs of %d, sigma %v, ratio %v", c.sims, c.n, c.sigma, c.ratio)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(4, uint64(c.n)+uint64(1000*c.sigma)+uint64(10*c.ratio)))
			var exact, sketched int
			for range c.sims {
				run := lognormal(rng, c.n, time.Duration(c.ratio*float64(80*time.Millisecond)), c.sigma)
				base := lognormal(rng, c.n, 80*time.Millisecond, c.sigma)
				if c.exact {
					r, ok := Compare(Exact(run), Exact(base))
					require.True(t, ok)
					if r.Low <= c.ratio && c.ratio <= r.High {
						exact++
					}
				}
				r, ok := Compare(Sketch(newSketch(t, run...)), Sketch(newSketch(t, base...)))
				require.True(t, ok)
				if r.Low <= c.ratio && c.ratio <= r.High {
					sketched++
				}
			}
			if c.exact {
				p := float64(exact) / float64(c.sims)
				t.Logf("exact: %.1f%% of intervals hold the ratio", 100*p)
				assert.GreaterOrEqual(t, p, 0.93)
				assert.LessOrEqual(t, p, 0.99)
			}
			p := float64(sketched) / float64(c.sims)
			t.Logf("sketches: %.1f%% of intervals hold the ratio", 100*p)
			assert.GreaterOrEqual(t, p, 0.93)
		})
	}
	// Durations that do not vary at all: the sketches' interval still holds
	// the true ratio, though all are in one bin a side.
	t.Run("constant", func(t *testing.T) {
		r, ok := Compare(Sketch(newSketch(t, slices.Repeat([]time.Duration{480 * time.Millisecond}, 1000)...)),
			Sketch(newSketch(t, slices.Repeat([]time.Duration{400 * time.Millisecond}, 1000)...)))
		require.True(t, ok)
		assert.InEpsilon(t, 1.2, r.Estimate, 0.02)
		assert.LessOrEqual(t, r.Low, 1.2)
		assert.GreaterOrEqual(t, r.High, 1.2)
	})
}

func TestCompareEmpty(t *testing.T) {
	some := Exact([]time.Duration{time.Millisecond})
	for name, empty := range map[string]Sample{
		"zero":         {},
		"exact nil":    Exact(nil),
		"sketch nil":   Sketch(nil),
		"sketch empty": Sketch(newSketch(t)),
	} {
		assert.Zero(t, empty.Count(), name)
		for _, pair := range [][2]Sample{{empty, some}, {some, empty}, {empty, empty}} {
			r, ok := Compare(pair[0], pair[1])
			assert.False(t, ok, name)
			assert.Zero(t, r, name)
		}
	}
}

// Durations ≤ 0 count as 1ns, exact or in a sketch's zero bin (or its
// negative store).
func TestCompareZeroAndNegative(t *testing.T) {
	ns := Exact([]time.Duration{1, 1, 1})
	for name, s := range map[string]Sample{
		"exact":  Exact([]time.Duration{0, -time.Second, 1}),
		"sketch": Sketch(newSketch(t, 0, 0, -5)),
	} {
		assert.Equal(t, 3, s.Count(), name)
		r, ok := Compare(s, ns)
		require.True(t, ok, name)
		assert.InDelta(t, 1, r.Estimate, 1e-12, name)
		r, ok = Compare(Exact([]time.Duration{10, 10, 10}), s)
		require.True(t, ok, name)
		assert.InDelta(t, 10, r.Estimate, 1e-9, name)
	}
	// A sketch with a zero bin and a negative value: sorted into place.
	s := Sketch(newSketch(t, 100, 0, -3, 1000))
	assert.Equal(t, 4, s.Count())
	assert.True(t, slices.IsSorted(s.x))
	assert.Equal(t, []float64{2, 1, 1}, s.w, "two durations as 1ns, one bin each for 100 and 1000")
}

// One duration a side, or three, is too few for a 95% interval; four a side
// is enough.
func TestCompareFew(t *testing.T) {
	r, ok := Compare(Exact([]time.Duration{2 * time.Millisecond}), Exact([]time.Duration{time.Millisecond}))
	require.True(t, ok)
	assert.Equal(t, Ratio{Estimate: 2, Low: 0, High: math.Inf(1), N: 1, M: 1}, r)

	ms := func(v ...int) []time.Duration {
		d := make([]time.Duration, len(v))
		for i, x := range v {
			d[i] = time.Duration(x) * time.Millisecond
		}
		return d
	}
	r, _ = Compare(Exact(ms(20, 21, 22)), Exact(ms(10, 11, 12)))
	assert.True(t, math.IsInf(r.High, 1), "three a side")
	assert.Zero(t, r.Low)
	r, _ = Compare(Exact(ms(20, 21, 22, 23)), Exact(ms(10, 11, 12, 13)))
	assert.InDelta(t, 20.0/13, r.Low, 1e-12, "four a side: the smallest ratio")
	assert.InDelta(t, 23.0/10, r.High, 1e-12, "four a side: the largest ratio")
	r, _ = Compare(Exact(ms(5)), Exact(lognormal(rand.New(rand.NewPCG(5, 5)), 1000, time.Millisecond, 1)))
	assert.True(t, math.IsInf(r.High, 1), "a single run duration against a thousand")
}

// All ties: every pairwise ratio is the same, and so are the estimate and
// both bounds, exact or sketched.
func TestCompareTies(t *testing.T) {
	run, base := slices.Repeat([]time.Duration{30 * time.Millisecond}, 50), slices.Repeat([]time.Duration{10 * time.Millisecond}, 40)
	r, ok := Compare(Exact(run), Exact(base))
	require.True(t, ok)
	assert.Equal(t, 50, r.N)
	assert.Equal(t, 40, r.M)
	assert.InDelta(t, 3, r.Estimate, 1e-12)
	assert.Equal(t, r.Estimate, r.Low)
	assert.Equal(t, r.Estimate, r.High)

	// From sketches, as wide as the bins' blur.
	r, ok = Compare(Sketch(newSketch(t, run...)), Sketch(newSketch(t, run...)))
	require.True(t, ok)
	assert.Equal(t, 1.0, r.Estimate)
	assert.InDelta(t, 0.99*0.99, r.Low, 1e-12)
	assert.InDelta(t, 1/(0.99*0.99), r.High, 1e-12)
}

// The median of an even number of pairs averages the middle two, on the log
// scale: their geometric mean.
func TestCompareEvenMedian(t *testing.T) {
	r, ok := Compare(Exact([]time.Duration{100, 400}), Exact([]time.Duration{100}))
	require.True(t, ok)
	assert.InDelta(t, 2, r.Estimate, 1e-12)
}

func BenchmarkCompare(b *testing.B) {
	rng := rand.New(rand.NewPCG(6, 6))
	// Uniform in log over nanoseconds to beyond hours: every one of the
	// 2048 bins populated.
	wide := func() *ddsketch.DDSketch {
		s := newSketch(b)
		for range 1000000 {
			_ = s.Add(math.Exp(rng.Float64() * 42))
		}
		return s
	}
	runSketch, baseSketch := wide(), wide()
	run128 := lognormal(rng, 128, 120*time.Millisecond, 1)
	base128 := lognormal(rng, 128, 100*time.Millisecond, 1)
	for _, c := range []struct {
		name      string
		run, base func() Sample
	}{
		{"sketches", func() Sample { return Sketch(runSketch) }, func() Sample { return Sketch(baseSketch) }},
		{"exact128", func() Sample { return Exact(run128) }, func() Sample { return Exact(base128) }},
	} {
		run, base := c.run(), c.base()
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Compare(run, base)
			}
			b.ReportMetric(float64(len(run.x)+len(base.x)), "points")
		})
		b.Run(c.name+"+samples", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Compare(c.run(), c.base())
			}
		})
	}
}
