// Package verdict is the shape in which the releasegate exporter publishes
// runs: the verdict API's JSON, and what every CI status sink is given.
package verdict

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Status is the state of a gate in a run, or of a run (its worst gate).
type Status string

const (
	Pending      Status = "pending"
	Passed       Status = "passed"
	Warning      Status = "warning"
	Failed       Status = "failed"
	Inconclusive Status = "inconclusive"
	Error        Status = "error"
)

// Statuses lists every state in rising severity: a run's status is its
// worst gate's.
var Statuses = []Status{Passed, Warning, Pending, Inconclusive, Error, Failed}

// Severity is the status's rank in Statuses.
func Severity(s Status) int {
	for i, v := range Statuses {
		if v == s {
			return i
		}
	}
	return 0
}

// FinishCause says why a run finished.
type FinishCause string

const (
	FinishedByAPI         FinishCause = "api"
	FinishedIdle          FinishCause = "idle_timeout"
	FinishedAtMaxDuration FinishCause = "max_run_duration"
)

// Run is a run with its gates' verdicts.
type Run struct {
	Run         string      `json:"run"`
	Status      Status      `json:"status"`
	Finished    bool        `json:"finished"`
	FinishCause FinishCause `json:"finish_cause,omitempty"`
	StartedAt   time.Time   `json:"started_at"`
	LastSpanAt  time.Time   `json:"last_span_at"`
	FinishedAt  *time.Time  `json:"finished_at,omitempty"`
	// Revision, Repository and Environment come from the run's spans
	// (vcs.ref.head.revision, vcs.repository.url.full,
	// deployment.environment.name), as resource or span attributes.
	Revision     string   `json:"revision,omitempty"`
	Repository   string   `json:"repository,omitempty"`
	Environment  string   `json:"environment,omitempty"`
	LateSpans    int      `json:"late_spans"`
	UnknownGates []string `json:"unknown_gates,omitempty"`
	// Series is the series the run compares in, Baseline the id of the run
	// it compares with (null: none).
	Series   string  `json:"series"`
	Baseline *string `json:"baseline"`
	Gates    []Gate  `json:"gates,omitempty"`
	// URL is the run's page, when the exporter knows the address people
	// reach it at (its public_url).
	URL string `json:"url,omitempty"`
}

// Series is a series of runs and its baselines: the run its runs compare
// with now (the pinned one, else the last passed), and each.
type Series struct {
	Series     string  `json:"series"`
	Baseline   *string `json:"baseline"`
	Pinned     *string `json:"pinned"`
	LastPassed *string `json:"last_passed"`
}

// Elapsed is how long the run has lasted: until it finished, or until now.
func (r *Run) Elapsed(now time.Time) time.Duration {
	if r.FinishedAt != nil {
		return r.FinishedAt.Sub(r.StartedAt)
	}
	return now.Sub(r.StartedAt)
}

// Gate is one gate's verdict in a run, with its evidence.
type Gate struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Scope is what the gate judges one at a time: "span" or "trace".
	Scope  string `json:"scope"`
	Status Status `json:"status"`
	// Spans counts the matched spans of a span gate, the matched traces of
	// a trace gate; in JSON, "spans" or "traces". Violations, Errors and
	// EvalErrors count the same things.
	Spans      int `json:"spans"`
	Violations int `json:"violations"`
	// Errors counts matched spans with status error; EvalErrors, spans whose
	// assert could not be evaluated.
	Errors     int      `json:"errors"`
	EvalErrors int      `json:"eval_errors"`
	Observed   Observed `json:"observed"`
	Assert     string   `json:"assert,omitempty"`
	Condition  string   `json:"condition"`
	Warn       string   `json:"warn,omitempty"`
	MinSpans   int      `json:"min_spans"`
	Reason     string   `json:"reason"`
	// FailedAt is when the gate failed fast, before its run finished; its
	// counts and reason go on to describe the whole run.
	FailedAt  *time.Time `json:"failed_at,omitempty"`
	Exemplars []Exemplar `json:"exemplars"`
}

// ScopeTrace is the scope of trace gates.
const ScopeTrace = "trace"

// Unit is what the gate counts: "spans", or "traces".
func (g *Gate) Unit() string {
	if g.Scope == ScopeTrace {
		return "traces"
	}
	return "spans"
}

// MarshalJSON writes a trace gate's counts as "traces" and "min_traces".
// Like the rest of the API's JSON, it leaves <, > and & as they are:
// reasons quote conditions.
func (g Gate) MarshalJSON() ([]byte, error) {
	type plain Gate
	if g.Scope != ScopeTrace {
		return marshal(plain(g))
	}
	// The outer fields, empty, hide the embedded ones of the same names.
	return marshal(struct {
		plain
		Spans     *int `json:"spans,omitempty"`
		MinSpans  *int `json:"min_spans,omitempty"`
		Traces    int  `json:"traces"`
		MinTraces int  `json:"min_traces"`
	}{plain: plain(g), Traces: g.Spans, MinTraces: g.MinSpans})
}

func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (g *Gate) UnmarshalJSON(data []byte) error {
	type plain Gate
	var v struct {
		plain
		Traces    *int `json:"traces"`
		MinTraces *int `json:"min_traces"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*g = Gate(v.plain)
	if v.Traces != nil {
		g.Spans = *v.Traces
	}
	if v.MinTraces != nil {
		g.MinSpans = *v.MinTraces
	}
	return nil
}

// Observed are the aggregates a verdict was decided on.
type Observed struct {
	P50Ms          float64 `json:"p50_ms"`
	P90Ms          float64 `json:"p90_ms"`
	P95Ms          float64 `json:"p95_ms"`
	P99Ms          float64 `json:"p99_ms"`
	MinMs          float64 `json:"min_ms"`
	MaxMs          float64 `json:"max_ms"`
	MeanMs         float64 `json:"mean_ms"`
	ViolationRatio float64 `json:"violation_ratio"`
	ErrorRatio     float64 `json:"error_ratio"`
	ElapsedMs      float64 `json:"elapsed_ms"`
	// LatencyRatio is the Hodges–Lehmann estimate of this run's durations ÷
	// the baseline's, LatencyRatioLow and LatencyRatioHigh its 95%
	// confidence interval, and Baseline the baseline's aggregates: present
	// when the gate was compared with a baseline.
	LatencyRatio     *float64          `json:"latency_ratio,omitempty"`
	LatencyRatioLow  *float64          `json:"latency_ratio_low,omitempty"`
	LatencyRatioHigh *float64          `json:"latency_ratio_high,omitempty"`
	Baseline         *BaselineObserved `json:"baseline,omitempty"`
}

// BaselineObserved are the baseline run's aggregates for a gate: Samples
// is how many spans (traces) it matched.
type BaselineObserved struct {
	Run     string `json:"run"`
	Samples int    `json:"samples"`
	Observed
}

// Exemplar is a violating span, evidence to look up in a trace store.
type Exemplar struct {
	TraceID   string `json:"trace_id"`
	SpanID    string `json:"span_id"`
	Name      string `json:"name"`
	Condition string `json:"condition"`
}

// Summary sums a run up in one line: its status, how many gates share it,
// then the other states but passed, worst first: "failed: 2 of 5 gates
// failed, 1 inconclusive".
func (r *Run) Summary() string {
	counts := make(map[Status]int, len(Statuses))
	for _, g := range r.Gates {
		counts[g.Status]++
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d of %d gates %s", r.Status, counts[r.Status], len(r.Gates), r.Status)
	for _, s := range slices.Backward(Statuses) {
		if s != r.Status && s != Passed && counts[s] > 0 {
			fmt.Fprintf(&b, ", %d %s", counts[s], s)
		}
	}
	return b.String()
}

// FirstTraceID is the trace id of the gate's first violating span, if any.
func (g *Gate) FirstTraceID() string {
	if len(g.Exemplars) == 0 {
		return ""
	}
	return g.Exemplars[0].TraceID
}

// EventKind says what happened to a run.
type EventKind string

const (
	// RunStarted: the run opened; its gates are pending.
	RunStarted EventKind = "run.started"
	// RunFinished: the run finished; every gate has its final verdict.
	RunFinished EventKind = "run.finished"
	// RunAbandoned: the collector is shutting down while the run is open;
	// its pending gates will not be decided by this collector.
	RunAbandoned EventKind = "run.abandoned"
)

// Event is what happened to a run, as the exporter publishes it to CI
// status sinks.
type Event struct {
	Kind EventKind
	Time time.Time
	Run  Run
}

// PagePath is the path of a run's page relative to the exporter's root:
// runs/<run> with the run id one escaped path segment ("." and ".." too,
// which a browser would otherwise resolve away).
func PagePath(run string) string {
	escaped := url.PathEscape(run)
	if run == "." || run == ".." {
		escaped = strings.ReplaceAll(run, ".", "%2E")
	}
	return "runs/" + escaped
}

// PageURL is the address of a run's page under base, the address people
// reach the exporter at: <base>/runs/<run>.
func PageURL(base, run string) string {
	return strings.TrimSuffix(base, "/") + "/" + PagePath(run)
}

// GateAnchor is the id of a gate's row on its run's page.
func GateAnchor(gate string) string { return "gate-" + gate }

// GateURL links the gate's row on the run's page; empty when the run has
// no URL. Gate names need no escaping in a fragment: [a-z0-9._-].
func (r *Run) GateURL(gate string) string {
	if r.URL == "" {
		return ""
	}
	return r.URL + "#" + GateAnchor(gate)
}
