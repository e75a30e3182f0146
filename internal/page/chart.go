package page

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/internal/runstore"
)

// The chart's box, in SVG user units; CSS scales it to the page's width.
const (
	chartWidth  = 480.0
	chartHeight = 150.0
	plotLeft    = 8.0
	plotRight   = chartWidth - 8
	plotTop     = 34.0
	plotBottom  = chartHeight - 22
	// maxBars merges neighbouring buckets past it, so bars stay wide
	// enough to see on a phone.
	maxBars = 48
)

// chart is a latency gate's duration distribution as inline SVG geometry,
// computed here so that the template only places numbers.
type chart struct {
	Title    string
	Width    string
	Height   string
	Bars     []bar
	Baseline string // a step path over the baseline's distribution; empty without one
	Marks    []mark
	Ticks    []tick
	AxisY    string
	Left     string
	Right    string
}

type bar struct{ X, Y, W, H string }

// mark is a vertical line across the plot, labelled above it: a threshold
// or an observed value.
type mark struct {
	Class          string // threshold or observed
	X, Y1, Y2      string
	Label          string
	LabelX, LabelY string
	Anchor         string // text-anchor
}

type tick struct{ X, Y, Label, Anchor string }

// marker is a duration to mark on a chart.
type marker struct {
	label string
	at    time.Duration
}

// newChart draws run's distribution, the baseline's over it when there is
// one (nil otherwise), each as a share of its own count so that runs of
// different sizes compare, with the fail thresholds and the values they
// were compared with marked. Nil when run has no duration.
func newChart(run runstore.Histogram, baseline *runstore.Histogram, unit string, thresholds, observed []marker) *chart {
	if run.Count == 0 || len(run.Buckets) == 0 {
		return nil
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	widen := func(pos float64) { lo, hi = math.Min(lo, pos), math.Max(hi, pos) }
	hists := []*runstore.Histogram{&run}
	if baseline != nil && baseline.Count > 0 && len(baseline.Buckets) > 0 {
		hists = append(hists, baseline)
	}
	for _, h := range hists {
		widen(float64(h.Buckets[0].Index))
		widen(float64(h.Buckets[len(h.Buckets)-1].Index + 1))
	}
	for _, m := range append(append([]marker{}, thresholds...), observed...) {
		widen(position(m.at))
	}
	// A bucket's room either side, and whole groups of k buckets.
	lo, hi = lo-1, hi+1
	k := math.Max(1, math.Ceil((hi-lo)/maxBars))
	lo, hi = math.Floor(lo/k)*k, math.Ceil(hi/k)*k
	x := func(pos float64) float64 { return plotLeft + (pos-lo)/(hi-lo)*(plotRight-plotLeft) }

	shares := func(h *runstore.Histogram) map[int]float64 {
		out := map[int]float64{}
		for _, b := range h.Buckets {
			out[int(math.Floor(float64(b.Index)/k))] += float64(b.Count) / float64(h.Count)
		}
		return out
	}
	runShares := shares(&run)
	var baseShares map[int]float64
	if len(hists) > 1 {
		baseShares = shares(baseline)
	}
	top := 0.0
	for _, m := range []map[int]float64{runShares, baseShares} {
		for _, s := range m {
			top = math.Max(top, s)
		}
	}
	y := func(share float64) float64 { return plotBottom - share/top*(plotBottom-plotTop) }

	c := &chart{Width: num(chartWidth), Height: num(chartHeight), AxisY: num(plotBottom), Left: num(plotLeft), Right: num(plotRight)}
	first, last := int(lo/k), int(hi/k)
	for g := first; g < last; g++ {
		s, ok := runShares[g]
		if !ok {
			continue
		}
		x0, x1 := x(float64(g)*k), x(float64(g+1)*k)
		c.Bars = append(c.Bars, bar{X: num(x0 + 0.5), Y: num(y(s)), W: num(math.Max(x1-x0-1, 1)), H: num(plotBottom - y(s))})
	}
	if baseShares != nil {
		var d strings.Builder
		fmt.Fprintf(&d, "M%s,%s", num(x(lo)), num(plotBottom))
		for g := first; g < last; g++ {
			yy := num(y(baseShares[g]))
			fmt.Fprintf(&d, " L%s,%s L%s,%s", num(x(float64(g)*k)), yy, num(x(float64(g+1)*k)), yy)
		}
		fmt.Fprintf(&d, " L%s,%s", num(x(hi)), num(plotBottom))
		c.Baseline = d.String()
	}
	addMarks := func(class string, ms []marker, labelY float64) {
		for _, m := range ms {
			at := x(position(m.at))
			mk := mark{Class: class, X: num(at), Y1: num(labelY + 3), Y2: num(plotBottom), Label: m.label, LabelY: num(labelY), Anchor: "start", LabelX: num(at + 3)}
			if at > chartWidth/2 {
				mk.Anchor, mk.LabelX = "end", num(at-3)
			}
			c.Marks = append(c.Marks, mk)
		}
	}
	addMarks("threshold", thresholds, 12)
	addMarks("observed", observed, 26)
	c.Ticks = ticks(lo, hi, x)
	c.Title = chartTitle(run, baseline != nil && len(hists) > 1, unit, thresholds, observed)
	return c
}

// position is where a duration falls on the bucket scale.
func position(d time.Duration) float64 {
	if d <= 1 {
		return 0
	}
	return math.Log2(float64(d)) * runstore.BucketsPerDoubling
}

func durationAt(pos float64) time.Duration {
	return time.Duration(math.Exp2(pos / runstore.BucketsPerDoubling))
}

// ticks label the axis at the powers of ten within it, or at its ends when
// it holds fewer than two.
func ticks(lo, hi float64, x func(float64) float64) []tick {
	from, to := durationAt(lo), durationAt(hi)
	var out []tick
	for p := time.Duration(1); p <= 100*time.Hour; p *= 10 {
		if p >= from && p <= to {
			out = append(out, tick{X: num(x(position(p))), Label: config.FormatDuration(p), Anchor: "middle"})
		}
	}
	if len(out) >= 2 {
		return out
	}
	return []tick{
		{X: num(plotLeft), Label: config.FormatDuration(round2(from)), Anchor: "start"},
		{X: num(plotRight), Label: config.FormatDuration(round2(to)), Anchor: "end"},
	}
}

// round2 keeps two significant digits: 61.5ms is 62ms, 585.5ms 590ms.
func round2(d time.Duration) time.Duration {
	if d < 100 {
		return d
	}
	unit := time.Duration(math.Pow(10, math.Floor(math.Log10(float64(d)))-1))
	return d.Round(unit)
}

// chartTitle says in words what the chart shows, for screen readers.
func chartTitle(run runstore.Histogram, withBaseline bool, unit string, thresholds, observed []marker) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Durations of %d %s, %s to %s", run.Count, unit, config.FormatDuration(run.Min), config.FormatDuration(run.Max))
	if withBaseline {
		b.WriteString(", over the baseline's")
	}
	for _, m := range observed {
		b.WriteString("; observed " + m.label)
	}
	for _, m := range thresholds {
		b.WriteString("; fails when " + m.label)
	}
	return b.String()
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
