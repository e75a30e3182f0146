package runstore

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/store"
)

// exactDurations is how many durations a gate keeps exactly (1 KiB), so the
// quantiles of a small run, such as a CI run of a hundred requests, are its
// true values. Past it they go into a DDSketch.
const exactDurations = 128

// sketchAccuracy is the DDSketch's relative accuracy: p95 312ms is reported
// within 309ms to 315ms. sketchBins bounds its memory (2048 bins cover
// nanoseconds to hours at that accuracy, about 16 KiB at most).
const (
	sketchAccuracy = 0.01
	sketchBins     = 2048
)

// durations summarises the durations of a gate's matched spans: exact while
// there are few, then a DDSketch (DataDog's sketches-go, 1% relative
// accuracy), so the memory of a run stays bounded however long it runs.
type durations struct {
	exact    []time.Duration // sorted; nil once sketch is in use
	sketch   *ddsketch.DDSketch
	count    int
	sum      float64
	min, max time.Duration
}

// add records one duration; negative ones (inverted timestamps) count as 0.
func (d *durations) add(v time.Duration) {
	v = max(v, 0)
	if d.count == 0 || v < d.min {
		d.min = v
	}
	if v > d.max {
		d.max = v
	}
	d.count++
	d.sum += float64(v)
	if d.sketch != nil {
		_ = d.sketch.Add(float64(v))
		return
	}
	if len(d.exact) < exactDurations {
		i, _ := slices.BinarySearch(d.exact, v)
		d.exact = slices.Insert(d.exact, i, v)
		return
	}
	// Too many to keep: move to the sketch.
	d.sketch, _ = ddsketch.LogCollapsingLowestDenseDDSketch(sketchAccuracy, sketchBins)
	for _, e := range d.exact {
		_ = d.sketch.Add(float64(e))
	}
	_ = d.sketch.Add(float64(v))
	d.exact = nil
}

// quantile is the q-quantile (0 < q ≤ 1) by the nearest-rank method while
// exact; 0 without durations.
func (d *durations) quantile(q float64) time.Duration {
	switch {
	case d.count == 0:
		return 0
	case d.sketch != nil:
		v, err := d.sketch.GetValueAtQuantile(q)
		if err != nil {
			return 0
		}
		// The sketch's estimate never leaves the observed range.
		return min(max(time.Duration(v), d.min), d.max)
	default:
		rank := int(math.Ceil(q*float64(len(d.exact)))) - 1
		return d.exact[max(rank, 0)]
	}
}

func (d *durations) mean() time.Duration {
	if d.count == 0 {
		return 0
	}
	return time.Duration(d.sum / float64(d.count))
}

// encode is what storage keeps of d: the exact durations, or the sketch in
// its own binary encoding, encoded in scratch then copied, which spares
// the encoder's growing of a new slice.
func (d *durations) encode(scratch *[]byte) (exact []time.Duration, sketch []byte) {
	if d.sketch != nil {
		*scratch = (*scratch)[:0]
		d.sketch.Encode(scratch, false)
		return nil, slices.Clone(*scratch)
	}
	return slices.Clone(d.exact), nil
}

// decodeSketch reads an encoded sketch into the store durations use, so
// that its memory stays bounded. Stored data may be corrupt: a panic of the
// decoder is an error.
func decodeSketch(b []byte) (s *ddsketch.DDSketch, err error) {
	defer func() {
		if p := recover(); p != nil {
			s, err = nil, fmt.Errorf("corrupt sketch: %v", p)
		}
	}()
	s, err = ddsketch.DecodeDDSketch(b, func() store.Store { return store.NewCollapsingLowestDenseStore(sketchBins) }, nil)
	if err != nil {
		return nil, fmt.Errorf("corrupt sketch: %w", err)
	}
	return s, nil
}
