package releasegateexporter

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/internal/runstore"
	"github.com/releasegate/releasegate/internal/verdict"
)

const metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

// gzipLevel trades ratio for speed: a scrape can be hundreds of MiB of
// text, which BestSpeed shrinks some twentyfold at five times the speed
// of the default level.
const gzipLevel = gzip.BestSpeed

// metricFamily is one family of /metrics; gate writes its series of one
// gate in one run, and is nil for releasegate_run_status. A family of a
// scope has the series of the gates of that scope only: span gates count
// spans, trace gates traces.
type metricFamily struct {
	name, help, kind string
	scope            config.Scope // "" for every gate
	gate             func(w textWriter, name, gate, run string, g *runstore.GateSample)
	// compared: the family has series of the gates compared with a
	// baseline only.
	compared bool
}

// counter is a family of one count of each gate.
func counter(name, help string, scope config.Scope, count func(*runstore.GateSample) int) metricFamily {
	return metricFamily{name: name, kind: "counter", help: help, scope: scope,
		gate: func(w textWriter, name, gate, run string, g *runstore.GateSample) {
			w.gateSample(name, gate, run, "", float64(count(g)))
		},
	}
}

// maxDuration is the family of the longest duration of each gate.
func maxDuration(name, help string, scope config.Scope) metricFamily {
	return metricFamily{name: name, kind: "gauge", help: help, scope: scope,
		gate: func(w textWriter, name, gate, run string, g *runstore.GateSample) {
			w.gateSample(name, gate, run, "", g.Max.Seconds())
		},
	}
}

// durations is the summary family of the durations of each gate.
func durations(name, help string, scope config.Scope) metricFamily {
	return metricFamily{name: name, kind: "summary", help: help, scope: scope,
		gate: func(w textWriter, name, gate, run string, g *runstore.GateSample) {
			w.summary(name, gate, run, &runstore.DurationSample{Count: g.Count, Sum: g.Sum, Quantiles: g.Quantiles})
		},
	}
}

func errorCount(g *runstore.GateSample) int     { return g.ErrorSpans }
func matchedCount(g *runstore.GateSample) int   { return g.Spans }
func violationCount(g *runstore.GateSample) int { return g.Violations }

// baselineDurations is the summary family of the durations of each gate's
// baseline, beside the gate's own.
var baselineDurations = metricFamily{
	name: "releasegate_gate_baseline_duration_seconds", kind: "summary", compared: true,
	help: "Durations of the spans (traces) the gate matched in the run's baseline.",
	gate: func(w textWriter, name, gate, run string, g *runstore.GateSample) {
		w.summary(name, gate, run, &g.Baseline)
	},
}

// latencyRatio is a family of the ratio of each gate's durations to its
// baseline's: which, the estimate (0) or a bound of its 95% interval (1,
// 2); the names are those of the run environment.
func latencyRatio(name, help string, which int) metricFamily {
	return metricFamily{name: name, kind: "gauge", help: help, compared: true,
		gate: func(w textWriter, name, gate, run string, g *runstore.GateSample) {
			w.gateSample(name, gate, run, "", g.LatencyRatio[which])
		},
	}
}

// metricFamilies are in the order /metrics writes them: by name.
var metricFamilies = []metricFamily{
	baselineDurations,
	counter("releasegate_gate_error_spans_total", "Matched spans with status error.", config.ScopeSpan, errorCount),
	counter("releasegate_gate_error_traces_total", "Matched traces with a span of status error.", config.ScopeTrace, errorCount),
	latencyRatio("releasegate_gate_latency_ratio", "The run's durations ÷ its baseline's: the Hodges–Lehmann estimate.", 0),
	latencyRatio("releasegate_gate_latency_ratio_high", "High bound of the 95% confidence interval of releasegate_gate_latency_ratio.", 2),
	latencyRatio("releasegate_gate_latency_ratio_low", "Low bound of the 95% confidence interval of releasegate_gate_latency_ratio.", 1),
	maxDuration("releasegate_gate_span_duration_max_seconds", "Longest span the gate matched in the run.", config.ScopeSpan),
	durations("releasegate_gate_span_duration_seconds", "Durations of the spans the gate matched in the run.", config.ScopeSpan),
	counter("releasegate_gate_spans_total", "Spans the gate matched in the run.", config.ScopeSpan, matchedCount),
	{
		name: "releasegate_gate_status", kind: "gauge",
		help: "State of a gate in a run: 1 for the current state, 0 for the others.",
		gate: func(w textWriter, name, gate, run string, g *runstore.GateSample) {
			for i, st := range sortedStatuses {
				w.gateSample(name, gate, run, statusLabels[i], oneIf(st == g.Status))
			}
		},
	},
	maxDuration("releasegate_gate_trace_duration_max_seconds", "Longest trace the gate matched in the run.", config.ScopeTrace),
	durations("releasegate_gate_trace_duration_seconds", "Durations of the traces the gate matched in the run.", config.ScopeTrace),
	counter("releasegate_gate_trace_violations_total", "Matched traces whose assert did not hold.", config.ScopeTrace, violationCount),
	counter("releasegate_gate_traces_total", "Traces the gate matched in the run.", config.ScopeTrace, matchedCount),
	counter("releasegate_gate_violations_total", "Matched spans whose assert did not hold.", config.ScopeSpan, violationCount),
	{
		name: "releasegate_run_status", kind: "gauge",
		help: "State of a run (its worst gate): 1 for the current state, 0 for the others.",
	},
}

// The summary's quantile labels, and the states in label value order.
var (
	quantileLabels = func() []string {
		labels := make([]string, len(runstore.SummaryQuantiles))
		for i, q := range runstore.SummaryQuantiles {
			labels[i] = `,quantile="` + strconv.FormatFloat(q, 'g', -1, 64) + `"`
		}
		return labels
	}()
	sortedStatuses = slices.Sorted(slices.Values(verdict.Statuses))
	statusLabels   = func() []string {
		labels := make([]string, len(sortedStatuses))
		for i, st := range sortedStatuses {
			labels[i] = `,status="` + string(st) + `"`
		}
		return labels
	}()
)

func (e *releasegateExporter) metricsHandler() http.Handler { return metricsHandler(e.store.Samples) }

// metricsHandler serves GET /metrics: the runs held, in the Prometheus
// text format, rendered at scrape time. Nothing is updated per span, and a
// run leaves /metrics when the store forgets it (after retention, or to
// stay within max_runs).
//
// The text is written straight to the response rather than through
// client_golang's registry, which builds and sorts a message per series:
// at max_runs 10,000 runs of 20 gates, 3.3 million series, that took
// longer than Prometheus's scrape timeout and over a GiB of heap. The
// output is still the registry's, byte for byte: families sorted by name,
// series by label values (gate, run, status), as metrics_test.go checks.
// As with client_golang's handler, a scraper that accepts gzip (Prometheus
// does) gets it, and ?name[]= selects families.
//
// Label values are bounded where they come from, not cut here, where two
// runs cut alike would collide: run ids are UTF-8 of at most
// runstore.MaxRunIDLength bytes (the store refuses others), gate names at most
// config.MaxGateName bytes (the gates document), and states are fixed.
func metricsHandler(samplesOf func() runstore.Samples) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed; use GET", r.Method))
			return
		}
		w.Header().Set("Content-Type", metricsContentType)
		w.Header().Add("Vary", "Accept-Encoding")
		gzipped := acceptsGzip(r.Header)
		if gzipped {
			w.Header().Set("Content-Encoding", "gzip")
		}
		if r.Method == http.MethodHead {
			return
		}
		samples := samplesOf()
		var (
			dst io.Writer = w
			gz  *gzip.Writer
		)
		if gzipped {
			gz = gzipWriters.Get().(*gzip.Writer)
			defer gzipWriters.Put(gz)
			gz.Reset(w)
			dst = gz
		}
		out := &stickyWriter{w: dst}
		bw := bufio.NewWriterSize(out, 64<<10)
		writeMetrics(bw, samples, r.URL.Query()["name[]"], func() bool { return out.err != nil })
		if bw.Flush() == nil && gz != nil {
			_ = gz.Close()
		}
	})
}

var gzipWriters = sync.Pool{New: func() any {
	gz, _ := gzip.NewWriterLevel(nil, gzipLevel)
	return gz
}}

// acceptsGzip reports whether an Accept-Encoding header lists gzip, with
// a q-value other than 0.
func acceptsGzip(h http.Header) bool {
	for _, v := range h.Values("Accept-Encoding") {
		for coding := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(coding, ";")
			if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
				continue
			}
			q, ok := strings.CutPrefix(strings.TrimSpace(params), "q=")
			if !ok {
				return true
			}
			f, err := strconv.ParseFloat(q, 64)
			return err != nil || f > 0
		}
	}
	return false
}

// stickyWriter keeps the first error of its writer, so that a scrape the
// client gave up on stops rather than rendering the rest for nothing.
type stickyWriter struct {
	w   io.Writer
	err error
}

func (s *stickyWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(p)
	s.err = err
	return n, err
}

// writeMetrics writes the families named (all without names), one at a
// time, until failed reports that the output failed.
func writeMetrics(bw *bufio.Writer, m runstore.Samples, names []string, failed func() bool) {
	if len(m.Runs) == 0 {
		return // no series, so no families
	}
	w := textWriter{bw}
	byName := make([]int, len(m.Gates)) // gates in label value order
	escaped := make([]string, len(m.Gates))
	for i, name := range m.Gates {
		byName[i], escaped[i] = i, escapeLabelValue(name)
	}
	slices.SortFunc(byName, func(a, b int) int { return strings.Compare(m.Gates[a], m.Gates[b]) })
	runs := make([]string, len(m.Runs))
	for i := range m.Runs {
		runs[i] = escapeLabelValue(m.Runs[i].Key)
	}
	scoped := map[config.Scope][]int{"": byName}
	for _, g := range byName {
		scoped[m.Scopes[g]] = append(scoped[m.Scopes[g]], g)
	}
	anyCompared := slices.ContainsFunc(m.Runs, func(r runstore.RunSample) bool {
		return slices.ContainsFunc(r.Gates, func(g runstore.GateSample) bool { return g.Compared })
	})
	for _, f := range metricFamilies {
		gates := scoped[f.scope]
		if (len(names) > 0 && !slices.Contains(names, f.name)) || (f.gate != nil && len(gates) == 0) || (f.compared && !anyCompared) {
			continue
		}
		w.header(f.name, f.help, f.kind)
		if f.gate == nil {
			for i := range m.Runs {
				for j, st := range sortedStatuses {
					w.runSample(f.name, runs[i], statusLabels[j], oneIf(st == m.Runs[i].Status))
				}
			}
			continue
		}
		for _, g := range gates {
			for i := range m.Runs {
				if sample := &m.Runs[i].Gates[g]; sample.Compared || !f.compared {
					f.gate(w, f.name, escaped[g], runs[i], sample)
				}
			}
			if failed() {
				return
			}
		}
	}
}

// textWriter writes the text exposition format, as client_golang's expfmt
// does. Label values are given escaped.
type textWriter struct{ *bufio.Writer }

func (w textWriter) header(name, help, kind string) {
	_, _ = w.WriteString("# HELP " + name + " " + help + "\n# TYPE " + name + " " + kind + "\n")
}

// gateSample writes name{gate="gate",run="run"extra} v.
func (w textWriter) gateSample(name, gate, run, extra string, v float64) {
	_, _ = w.WriteString(name)
	_, _ = w.WriteString(`{gate="`)
	_, _ = w.WriteString(gate)
	_, _ = w.WriteString(`",run="`)
	_, _ = w.WriteString(run)
	w.end(extra, v)
}

// summary writes the series of a summary of durations.
func (w textWriter) summary(name, gate, run string, d *runstore.DurationSample) {
	for i, q := range d.Quantiles {
		w.gateSample(name, gate, run, quantileLabels[i], q.Seconds())
	}
	w.gateSample(name+"_sum", gate, run, "", d.Sum/1e9)
	w.gateSample(name+"_count", gate, run, "", float64(d.Count))
}

// runSample writes name{run="run"extra} v.
func (w textWriter) runSample(name, run, extra string, v float64) {
	_, _ = w.WriteString(name)
	_, _ = w.WriteString(`{run="`)
	_, _ = w.WriteString(run)
	w.end(extra, v)
}

func (w textWriter) end(extra string, v float64) {
	_ = w.WriteByte('"')
	_, _ = w.WriteString(extra)
	_, _ = w.WriteString("} ")
	switch {
	case v == 0: // and -0
		_ = w.WriteByte('0')
	case v == 1:
		_ = w.WriteByte('1')
	default: // NaN, +Inf and -Inf as Prometheus spells them
		_, _ = w.Write(strconv.AppendFloat(w.AvailableBuffer(), v, 'g', -1, 64))
	}
	_ = w.WriteByte('\n')
}

var labelValueEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)

func escapeLabelValue(v string) string { return labelValueEscaper.Replace(v) }

func oneIf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
