package runstore

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestDurationsExact(t *testing.T) {
	var d durations
	assert.Equal(t, time.Duration(0), d.quantile(0.95), "no durations")
	for _, ms := range []int{50, 10, 40, 20, 30} {
		d.add(time.Duration(ms) * time.Millisecond)
	}
	d.add(-time.Second) // inverted timestamps count as 0
	assert.Equal(t, 6, d.count)
	assert.Equal(t, time.Duration(0), d.min)
	assert.Equal(t, 50*time.Millisecond, d.max)
	assert.Equal(t, 20*time.Millisecond, d.quantile(0.5), "nearest rank: 3rd of 6")
	assert.Equal(t, 50*time.Millisecond, d.quantile(0.95))
	assert.Equal(t, 25*time.Millisecond, d.mean())
}

// Past exactDurations the quantiles come from the sketch, within its 1%
// relative accuracy of the true values.
func TestDurationsSketch(t *testing.T) {
	var d durations
	rng := rand.New(rand.NewPCG(1, 2))
	var all []time.Duration
	for range 100000 {
		v := time.Duration(rng.ExpFloat64() * float64(80*time.Millisecond))
		all = append(all, v)
		d.add(v)
	}
	assert.Nil(t, d.exact)
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.9, 0.95, 0.99} {
		want := all[int(q*float64(len(all)))-1]
		assert.InEpsilon(t, float64(want), float64(d.quantile(q)), 0.011, "p%v", q*100)
	}
	assert.Equal(t, all[0], d.min)
	assert.Equal(t, all[len(all)-1], d.max)
}

// exactDurations are kept exactly, the quantiles their true values; the
// next goes into the sketch.
func TestDurationsExactUpTo(t *testing.T) {
	var d durations
	for i := range exactDurations {
		d.add(time.Duration(i+1) * time.Millisecond)
	}
	assert.True(t, d.histogram().Exact)
	assert.Equal(t, 122*time.Millisecond, d.quantile(0.95), "the 122nd of 128")
	d.add(time.Second)
	assert.False(t, d.histogram().Exact)
	assert.Equal(t, exactDurations+1, d.count)
	assert.Equal(t, time.Second, d.max)
	assert.Equal(t, time.Millisecond, d.min)
}
