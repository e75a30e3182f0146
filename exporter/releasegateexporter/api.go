package releasegateexporter

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// runView is a run as the API shows it.
type runView struct {
	Run          string      `json:"run"`
	Status       Status      `json:"status"`
	Finished     bool        `json:"finished"`
	FinishCause  FinishCause `json:"finish_cause,omitempty"`
	StartedAt    time.Time   `json:"started_at"`
	LastSpanAt   time.Time   `json:"last_span_at"`
	FinishedAt   *time.Time  `json:"finished_at,omitempty"`
	LateSpans    int         `json:"late_spans"`
	UnknownGates []string    `json:"unknown_gates,omitempty"`
	Gates        []gateView  `json:"gates,omitempty"`
}

type gateView struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Status      Status `json:"status"`
	Spans       int    `json:"spans"`
	Violations  int    `json:"violations"`
	// Errors counts matched spans with status error; EvalErrors, spans whose
	// assert could not be evaluated.
	Errors     int        `json:"errors"`
	EvalErrors int        `json:"eval_errors"`
	Observed   observed   `json:"observed"`
	Assert     string     `json:"assert,omitempty"`
	Condition  string     `json:"condition"`
	Warn       string     `json:"warn,omitempty"`
	MinSpans   int        `json:"min_spans"`
	Reason     string     `json:"reason"`
	Exemplars  []exemplar `json:"exemplars"`
}

type observed struct {
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
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// view renders a run; the caller holds the store's lock.
func (s *runStore) view(r *run, now time.Time, withGates bool) runView {
	v := runView{
		Run:          r.key,
		Status:       r.status(),
		Finished:     !r.open(),
		FinishCause:  r.cause,
		StartedAt:    r.started.UTC(),
		LastSpanAt:   r.lastSpan.UTC(),
		LateSpans:    r.lateSpans,
		UnknownGates: slices.Clone(r.unknownGates),
	}
	if !r.open() {
		finished := r.finished.UTC()
		v.FinishedAt = &finished
	}
	if !withGates {
		return v
	}
	elapsed := r.elapsed(now)
	for i := range r.gates {
		g, gate := &r.gates[i], s.gates.At(i)
		stats := g.stats(elapsed)
		reason := g.reason
		if g.status == StatusPending {
			reason = pendingReason(gate, g)
		}
		v.Gates = append(v.Gates, gateView{
			Name:        gate.Name,
			Description: gate.Description,
			Status:      g.status,
			Spans:       g.spans,
			Violations:  g.violations,
			Errors:      g.errorSpans,
			EvalErrors:  g.evalErrors,
			Observed: observed{
				P50Ms: ms(stats.P50), P90Ms: ms(stats.P90), P95Ms: ms(stats.P95), P99Ms: ms(stats.P99),
				MinMs: ms(stats.Min), MaxMs: ms(stats.Max), MeanMs: ms(stats.Mean),
				ViolationRatio: stats.ViolationRatio, ErrorRatio: stats.ErrorRatio,
				ElapsedMs: ms(stats.Elapsed),
			},
			Assert:    gate.Assert,
			Condition: gate.Fail,
			Warn:      gate.Warn,
			MinSpans:  gate.MinSpans,
			Reason:    reason,
			Exemplars: append([]exemplar{}, g.exemplars...),
		})
	}
	return v
}

// api serves the verdicts: GET /v1/runs, GET /v1/runs/{run} and
// POST /v1/runs/{run}/finish. Run ids are path segments, URL-escaped.
func (e *releasegateExporter) api() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/runs", method(http.MethodGet, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"runs": e.store.list()})
	}))
	mux.HandleFunc("/v1/runs/{run}", method(http.MethodGet, func(w http.ResponseWriter, r *http.Request) {
		key := r.PathValue("run")
		view, ok := e.store.get(key)
		if !ok {
			writeError(w, http.StatusNotFound, fmt.Sprintf("unknown run %q", key))
			return
		}
		writeJSON(w, http.StatusOK, view)
	}))
	mux.HandleFunc("/v1/runs/{run}/finish", method(http.MethodPost, func(w http.ResponseWriter, r *http.Request) {
		view, ok := e.finish(r.Context(), r.PathValue("run"))
		if !ok {
			writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("cannot hold run %q: max_runs runs are open", r.PathValue("run")))
			return
		}
		writeJSON(w, http.StatusOK, view)
	}))
	mux.Handle("/metrics", e.metricsHandler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint %s; see /v1/runs, /v1/runs/{run}, /v1/runs/{run}/finish and /metrics", r.URL.Path))
	})
	return mux
}

// method answers a request with another method with a JSON 405.
func method(allowed string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != allowed {
			w.Header().Set("Allow", allowed)
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed; use %s", r.Method, allowed))
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ") // examples/gate.sh reads the run's status by its indentation
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
