package page

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/internal/runstore"
	"github.com/releasegate/releasegate/internal/verdict"
)

// Refresh intervals, in seconds, of pages that still change: an open run's,
// and the list while a run is open.
const (
	runRefresh  = 5
	listRefresh = 10
)

// maxListed bounds the rows of the list; a filter by status shows others.
const maxListed = 500

// status is a state as people read it: a word, an icon of its own shape,
// and a class that colours both.
type status struct {
	Word, Icon, Class string
}

var icons = map[verdict.Status]string{
	verdict.Passed:       "✓",
	verdict.Warning:      "⚠",
	verdict.Pending:      "…",
	verdict.Inconclusive: "?",
	verdict.Error:        "!",
	verdict.Failed:       "✗",
}

func statusOf(s verdict.Status) status {
	return status{Word: string(s), Icon: icons[s], Class: "s-" + string(s)}
}

type runPage struct {
	Root    string
	Refresh int
	Run     runView
}

type runView struct {
	ID          string
	Status      status
	Summary     string
	Open        bool
	FinishCause string
	StartedAt   string
	LastSpanAt  string
	FinishedAt  string
	Elapsed     string
	Revision    string
	Repository  string
	Environment string
	Series      string
	Baseline    string
	LateSpans   int
	Unknown     []string
	Gates       []gateView
}

type gateView struct {
	Anchor      string
	Name        string
	Description string
	Trace       bool
	Unit        string
	Status      status
	Match       string
	Assert      string
	Fail        string
	Warn        string
	Count       int
	MinCount    int
	Violations  int
	Errors      int
	EvalErrors  int
	// Checks are the fail and warn conditions' comparisons with the values
	// observed: "p95 312ms > 250ms".
	FailChecks []string
	WarnChecks []string
	Latencies  string
	Ratio      string // against the baseline
	Reason     string
	FailedAt   string
	Exemplars  []exemplar
	Chart      *chart
}

type exemplar struct {
	TraceID, SpanID, Name, Condition string
	// Link is the trace in the trace UI; empty without trace_url. A
	// string, so that html/template checks its scheme once more.
	Link string
}

// extras are what the API's JSON holds beyond verdict's fields when runs
// have a baseline: read from the JSON, so that the page shows them as soon
// as the API carries them, and nothing when it does not.
type extras struct {
	Series   string  `json:"series"`
	Baseline *string `json:"baseline"`
	Gates    []struct {
		Observed map[string]*float64 `json:"observed"`
	} `json:"gates"`
}

func readExtras(v verdict.Run) extras {
	var x extras
	if data, err := json.Marshal(v); err == nil {
		_ = json.Unmarshal(data, &x)
	}
	return x
}

func (p *Pages) runPage(v verdict.Run) runPage { return p.runPageWith(v, readExtras(v)) }

func (p *Pages) runPageWith(v verdict.Run, x extras) runPage {
	rv := runView{
		ID:          v.Run,
		Status:      statusOf(v.Status),
		Summary:     v.Summary(),
		Open:        !v.Finished,
		FinishCause: finishCause(v.FinishCause),
		StartedAt:   stamp(v.StartedAt),
		LastSpanAt:  stamp(v.LastSpanAt),
		Elapsed:     config.FormatDuration(v.Elapsed(p.set.Now()).Round(time.Second)),
		Revision:    v.Revision,
		Repository:  v.Repository,
		Environment: v.Environment,
		Series:      x.Series,
		LateSpans:   v.LateSpans,
		Unknown:     v.UnknownGates,
	}
	if x.Baseline != nil {
		rv.Baseline = *x.Baseline
	}
	if v.FinishedAt != nil {
		rv.FinishedAt = stamp(*v.FinishedAt)
	}
	for i := range v.Gates {
		var observed map[string]*float64
		if i < len(x.Gates) {
			observed = x.Gates[i].Observed
		}
		rv.Gates = append(rv.Gates, p.gateView(v.Run, &v.Gates[i], observed, rv.Baseline))
	}
	page := runPage{Root: "../", Run: rv}
	if rv.Open {
		page.Refresh = runRefresh
	}
	return page
}

func (p *Pages) gateView(run string, g *verdict.Gate, observed map[string]*float64, baseline string) gateView {
	gv := gateView{
		Anchor:      verdict.GateAnchor(g.Name),
		Name:        g.Name,
		Description: g.Description,
		Trace:       g.Scope == verdict.ScopeTrace,
		Unit:        g.Unit(),
		Status:      statusOf(g.Status),
		Assert:      g.Assert,
		Fail:        g.Condition,
		Warn:        g.Warn,
		Count:       g.Spans,
		MinCount:    g.MinSpans,
		Violations:  g.Violations,
		Errors:      g.Errors,
		EvalErrors:  g.EvalErrors,
		Reason:      g.Reason,
		Ratio:       ratio(observed, baseline),
	}
	if g.FailedAt != nil {
		gv.FailedAt = stamp(*g.FailedAt)
	}
	if g.Spans > 0 {
		o := g.Observed
		gv.Latencies = fmt.Sprintf("p50 %s · p90 %s · p95 %s · p99 %s · max %s",
			msDuration(o.P50Ms), msDuration(o.P90Ms), msDuration(o.P95Ms), msDuration(o.P99Ms), msDuration(o.MaxMs))
	}
	for _, e := range g.Exemplars {
		gv.Exemplars = append(gv.Exemplars, exemplar{
			TraceID: e.TraceID, SpanID: e.SpanID, Name: e.Name, Condition: e.Condition,
			Link: p.set.TraceURL.Link(e.TraceID, e.SpanID),
		})
	}
	if p.set.Gates == nil {
		return gv
	}
	i, ok := p.set.Gates.Lookup(g.Name)
	if !ok {
		return gv
	}
	cg := p.set.Gates.At(i)
	gv.Match = cg.Match
	gv.FailChecks = checks(cg.FailThresholds(), g, observed)
	gv.WarnChecks = checks(cg.WarnThresholds(), g, observed)

	var thresholds, seen []marker
	for _, t := range cg.FailThresholds() {
		at, ok := t.Latency()
		if !ok {
			continue
		}
		thresholds = append(thresholds, marker{label: t.String(), at: at})
		if v, ok := value(t.Aggregate(), g, observed); ok {
			seen = append(seen, marker{label: t.Aggregate() + " " + config.FormatDuration(time.Duration(v)), at: time.Duration(v)})
		}
	}
	// A latency gate: one with a duration threshold, or compared with a
	// baseline, whose durations are drawn behind the run's.
	base, compared := p.src.BaselineDistribution(run, i)
	if len(thresholds) > 0 || compared {
		if h, ok := p.src.Distribution(run, i); ok {
			var b *runstore.Histogram
			if compared {
				b = &base
			}
			gv.Chart = newChart(h, b, gv.Unit, thresholds, seen)
		}
	}
	return gv
}

// checks are thresholds with the values observed; a threshold on a value
// the verdict does not carry is shown as written.
func checks(ts []config.Threshold, g *verdict.Gate, observed map[string]*float64) []string {
	var out []string
	for _, t := range ts {
		if v, ok := value(t.Aggregate(), g, observed); ok {
			out = append(out, t.Compare(v))
		} else {
			out = append(out, t.String())
		}
	}
	return out
}

// value is an aggregate's observed value as config compares it (durations
// in nanoseconds), from the gate's counts or its observed values in the
// API's JSON, where durations are in milliseconds (p95 is p95_ms).
func value(aggregate string, g *verdict.Gate, observed map[string]*float64) (float64, bool) {
	switch aggregate {
	case "spans":
		return float64(g.Spans), g.Scope != verdict.ScopeTrace
	case "violations":
		return float64(g.Violations), true
	case "errors":
		return float64(g.Errors), true
	}
	if v := observed[aggregate]; v != nil {
		return *v, true
	}
	if v := observed[aggregate+"_ms"]; v != nil {
		return *v * float64(time.Millisecond), true
	}
	return 0, false
}

// ratio is how the run's durations compare with the baseline's: "1.34×
// baseline r-40 (95% CI 1.29–1.39×)"; empty without a baseline.
func ratio(observed map[string]*float64, baseline string) string {
	r := observed["latency_ratio"]
	if baseline == "" || r == nil {
		return ""
	}
	s := fmt.Sprintf("%s× baseline %s", factor(*r), baseline)
	if lo, hi := observed["latency_ratio_low"], observed["latency_ratio_high"]; lo != nil && hi != nil {
		s += fmt.Sprintf(" (95%% CI %s–%s×)", factor(*lo), factor(*hi))
	}
	return s
}

func factor(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

func msDuration(ms float64) string {
	return config.FormatDuration(time.Duration(ms * float64(time.Millisecond)))
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func finishCause(c verdict.FinishCause) string {
	switch c {
	case verdict.FinishedByAPI:
		return "finished by the CI job"
	case verdict.FinishedIdle:
		return "finished after run_idle_timeout without spans"
	case verdict.FinishedAtMaxDuration:
		return "finished at max_run_duration"
	}
	return string(c)
}

type listPage struct {
	Root    string
	Refresh int
	Filter  string
	Filters []filter
	Runs    []listRow
	Total   int // runs that pass the filter, listed or not
}

type filter struct {
	Label, Link string
	Count       int
	Current     bool
	Status      status
}

type listRow struct {
	Link        string
	ID          string
	Status      status
	Revision    string
	Environment string
	StartedAt   string
	Elapsed     string
	Open        bool
}

func (p *Pages) listPage(runs []verdict.Run, only verdict.Status) listPage {
	page := listPage{Root: "./", Filter: string(only)}
	counts := map[verdict.Status]int{}
	now := p.set.Now()
	for _, v := range runs {
		counts[v.Status]++
		if !v.Finished {
			page.Refresh = listRefresh
		}
		if only != "" && v.Status != only {
			continue
		}
		page.Total++
		if len(page.Runs) == maxListed {
			continue
		}
		page.Runs = append(page.Runs, listRow{
			Link:        verdict.PagePath(v.Run),
			ID:          v.Run,
			Status:      statusOf(v.Status),
			Revision:    short(v.Revision),
			Environment: v.Environment,
			StartedAt:   stamp(v.StartedAt),
			Elapsed:     config.FormatDuration(v.Elapsed(now).Round(time.Second)),
			Open:        !v.Finished,
		})
	}
	page.Filters = append(page.Filters, filter{Label: "all", Link: "?", Count: len(runs), Current: only == ""})
	// Worst first, as people look for failures.
	for i := len(verdict.Statuses) - 1; i >= 0; i-- {
		s := verdict.Statuses[i]
		page.Filters = append(page.Filters, filter{Label: string(s), Link: "?status=" + string(s), Count: counts[s], Current: only == s, Status: statusOf(s)})
	}
	return page
}

// short is a commit as people name it: its first 12 characters.
func short(sha string) string {
	if r := []rune(sha); len(r) > 12 {
		return string(r[:12])
	}
	return sha
}

// keep the interface honest: the run store is a Source.
var _ Source = (*runstore.Store)(nil)
