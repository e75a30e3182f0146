// Command load drives the releasegate processor and exporter together, in
// one process and through their factories as a collector pipeline would
// (processor → exporter), with many runs open at once, then lets the runs
// finish and their retention expire. It reports the throughput, the heap at
// start, at its peak and after expiry, and the series of /metrics; a second
// phase sends more runs than max_runs to show that the series stay bounded.
// It exits 1 when the heap does not return near its start, when a run lacks
// a verdict or when spans were lost. `make load` runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

type options struct {
	runs, gates, spans, batch, workers int
	match                              float64
	idle, retention, writeTimeout      time.Duration
	memProfile                         string
	maxRuns                            int
	heapSlackMiB                       int
	overflowRuns, overflowMaxRuns      int
	overflowSpans                      int
}

// distinctBatches is how many different batches the feed cycles through.
const distinctBatches = 8

func main() {
	var o options
	flag.IntVar(&o.runs, "runs", 10000, "runs open at once")
	flag.IntVar(&o.gates, "gates", 20, "gates: two broad ones, the others pinned on one operation each (at least 2)")
	flag.IntVar(&o.spans, "spans", 5_000_000, "spans to feed, rounded up to whole batches")
	flag.IntVar(&o.batch, "batch", 1000, "spans per batch")
	flag.Float64Var(&o.match, "match", 0.2, "share of the spans that are a pinned gate's operation")
	flag.IntVar(&o.workers, "workers", runtime.GOMAXPROCS(0), "goroutines feeding the pipeline at once")
	flag.DurationVar(&o.idle, "idle", 5*time.Second, "the exporter's run_idle_timeout")
	flag.DurationVar(&o.retention, "retention", 10*time.Second, "the exporter's retention")
	flag.DurationVar(&o.writeTimeout, "write-timeout", 2*time.Minute, "the exporter's server.write_timeout, which bounds a scrape (confighttp's default: 30s)")
	flag.IntVar(&o.maxRuns, "max-runs", 10000, "the exporter's max_runs (at least -runs, or spans are refused)")
	flag.IntVar(&o.heapSlackMiB, "heap-slack", 20, "MiB the heap may stay above its start once retention expired")
	flag.IntVar(&o.overflowRuns, "overflow-runs", 5000, "new runs in each wave of the phase past max_runs (0 skips it)")
	flag.IntVar(&o.overflowMaxRuns, "overflow-max-runs", 1000, "max_runs in the phase past max_runs")
	flag.IntVar(&o.overflowSpans, "overflow-spans", 250_000, "spans in each wave of the phase past max_runs")
	flag.StringVar(&o.memProfile, "memprofile", "", "write a heap profile to this file once retention expired")
	flag.Parse()
	if o.runs < 1 || o.gates < 2 || o.spans < 1 || o.batch < 1 || o.workers < 1 || o.maxRuns < 1 || o.overflowMaxRuns < 1 {
		fmt.Fprintln(os.Stderr, "load: -runs, -spans, -batch, -workers and the max_runs must be positive, -gates at least 2")
		os.Exit(2)
	}

	r := &report{}
	if err := run(o, r); err != nil {
		r.fail("%v", err)
	}
	if len(r.problems) > 0 {
		fmt.Fprintln(os.Stderr)
		for _, p := range r.problems {
			fmt.Fprintln(os.Stderr, "load: FAILED:", p)
		}
		os.Exit(1)
	}
	fmt.Println("\nAll checks passed.")
}

type report struct{ problems []string }

func (r *report) fail(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

func (r *report) check(ok bool, format string, args ...any) {
	if !ok {
		r.fail(format, args...)
	}
}

var started = time.Now()

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "load: %5.1fs: "+format+"\n", append([]any{time.Since(started).Seconds()}, args...)...)
}

func run(o options, r *report) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var peak heapPeak
	go peak.run(ctx)

	gates, err := gatesDocument(o.gates)
	if err != nil {
		return err
	}
	tmpls, err := templates(ctx, gates, distinctBatches, o.batch, o.match, o.gates-2)
	if err != nil {
		return err
	}
	// A scrape at max_runs takes long; the exporter's write timeout bounds it.
	client := &http.Client{Timeout: o.writeTimeout + 30*time.Second}

	m, err := loadPhase(ctx, o, r, gates, tmpls, client, &peak)
	if err != nil {
		return err
	}
	var waves []wave
	if o.overflowRuns > 0 {
		waves, err = overflowPhase(ctx, o, r, gates, tmpls, client)
	}
	printReport(o, m, waves)
	return err
}

// loaded is what the main phase measured.
type loaded struct {
	batches                                              int
	fed, annotated, matches                              int64
	feedTook, finishedAfter                              time.Duration
	openAtOnce                                           int64
	p50, p99, maxLatency                                 time.Duration // of ConsumeTraces
	startHeap, feedPeak, heldHeap, scrapePeak, afterHeap uint64
	scrape                                               scrape
	scraped                                              bool
	statuses                                             map[string]int
	refused, late, malformed, sendFailed                 int64
}

func loadPhase(ctx context.Context, o options, r *report, gates map[string]any, tmpls []template, client *http.Client, peak *heapPeak) (loaded, error) {
	var m loaded
	p, err := startPipeline(ctx, gates, o.maxRuns, o)
	if err != nil {
		return m, err
	}
	defer func() {
		if err := p.shutdown(context.Background()); err != nil {
			r.fail("shutdown: %v", err)
		}
	}()
	keys := runKeys("load", o.runs)
	m.batches = (o.spans + o.batch - 1) / o.batch
	m.fed = int64(m.batches * o.batch)
	var violations int64
	m.annotated, m.matches, violations = expected(tmpls, m.batches)

	m.startHeap = liveHeap()
	peak.take()
	progress("feeding %s spans of %s runs × %d gates, %d workers", thousands(m.fed), thousands(int64(o.runs)), o.gates, o.workers)
	var latencies []time.Duration
	m.feedTook, latencies, err = feed(ctx, p.proc, newSchedule(tmpls, keys), m.batches, o.workers)
	if err != nil {
		return m, fmt.Errorf("feed: %w", err)
	}
	fedAt := time.Now()
	m.p50, m.p99, m.maxLatency = quantile(latencies, 0.5), quantile(latencies, 0.99), quantile(latencies, 1)
	m.feedPeak = peak.take()
	tel, err := p.read()
	if err != nil {
		return m, err
	}
	m.openAtOnce = tel.sum("otelcol_exporter_releasegate_runs_open")
	m.heldHeap = liveHeap()
	progress("fed in %s; waiting for the runs to finish (run_idle_timeout %s)", m.feedTook.Round(time.Millisecond), o.idle)

	runs, err := waitRuns(client, p.base, o.idle+time.Minute, func(runs []runView) bool { return len(runs) > 0 && allFinished(runs) })
	if err != nil {
		return m, err
	}
	m.finishedAfter = time.Since(fedAt)
	m.statuses = map[string]int{}
	for _, run := range runs {
		m.statuses[run.Status]++
	}
	if len(runs) != o.runs {
		r.fail("%d runs held once they finished, want %d; missing: %s", len(runs), o.runs, missing(keys, runs, 5))
	}
	r.check(m.statuses["pending"] == 0, "%d finished runs are still pending", m.statuses["pending"])

	// Finished runs keep their series until retention ends, so this scrape
	// sees every run, and every gate's final verdict.
	progress("scraping /metrics")
	peak.take()
	m.scrape, err = scrapeMetrics(client, p.base)
	m.scrapePeak = peak.take()
	if sc := m.scrape; err != nil {
		r.fail("%v (after %s, %s; the exporter's server.write_timeout is %s)", err, sc.took.Round(time.Millisecond), mib(uint64(sc.bytes)), o.writeTimeout)
	} else {
		m.scraped = true
		r.check(sc.runs == o.runs, "/metrics shows %d runs, want %d (did retention end before the scrape? raise -retention)", sc.runs, o.runs)
		r.check(sc.series == seriesBound(sc.runs, o.gates), "/metrics has %d series for %d runs, want %d", sc.series, sc.runs, seriesBound(sc.runs, o.gates))
		r.check(sc.series <= seriesBound(o.maxRuns, o.gates), "/metrics has %d series, above the bound %d", sc.series, seriesBound(o.maxRuns, o.gates))
		r.check(sc.verdicts == o.runs*o.gates && sc.pending == 0, "/metrics shows %d gate verdicts (%d pending), want %d final ones", sc.verdicts, sc.pending, o.runs*o.gates)
		r.check(sc.spans == m.matches, "/metrics counts %d matched (span, gate) pairs, the processor annotated %d", sc.spans, m.matches)
		r.check(sc.violations == violations, "/metrics counts %d violations, the processor annotated %d", sc.violations, violations)
	}

	tel, err = p.read()
	if err != nil {
		return m, err
	}
	m.refused = tel.sum("otelcol_exporter_releasegate_spans_refused")
	m.late = tel.sum("otelcol_exporter_releasegate_spans_late")
	m.malformed = tel.sum("otelcol_exporter_releasegate_spans_ignored", attribute.String("reason", "malformed"))
	m.sendFailed = tel.sum("otelcol_exporter_send_failed_spans")
	noRun := tel.sum("otelcol_exporter_releasegate_spans_ignored", attribute.String("reason", "no_run"))
	r.check(m.openAtOnce == int64(o.runs), "%d runs open at the end of the feed, want %d", m.openAtOnce, o.runs)
	r.check(m.refused == 0 && m.late == 0 && m.malformed == 0 && m.sendFailed == 0,
		"spans lost: %d refused, %d late, %d malformed, %d failed to send", m.refused, m.late, m.malformed, m.sendFailed)
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"otelcol_processor_releasegate_spans", tel.sum("otelcol_processor_releasegate_spans"), m.fed},
		{"otelcol_processor_releasegate_spans_without_run", tel.sum("otelcol_processor_releasegate_spans_without_run"), 0},
		{"otelcol_exporter_sent_spans", tel.sum("otelcol_exporter_sent_spans"), m.fed},
		{`otelcol_exporter_releasegate_spans_ignored{reason="no_run"}`, noRun, m.fed - m.annotated},
		{"otelcol_exporter_releasegate_unknown_gates", tel.sum("otelcol_exporter_releasegate_unknown_gates"), 0},
		{"otelcol_exporter_releasegate_runs_evicted", tel.sum("otelcol_exporter_releasegate_runs_evicted"), 0},
		{"otelcol_exporter_releasegate_runs_finished", tel.sum("otelcol_exporter_releasegate_runs_finished"), int64(o.runs)},
		{"otelcol_exporter_releasegate_runs_open", tel.sum("otelcol_exporter_releasegate_runs_open"), 0},
	} {
		r.check(c.got == c.want, "%s is %d, want %d", c.name, c.got, c.want)
	}

	progress("waiting for retention (%s) to expire", o.retention)
	if _, err := waitRuns(client, p.base, o.retention+time.Minute, func(runs []runView) bool { return len(runs) == 0 }); err != nil {
		return m, err
	}
	// Idle keep-alive connections hold buffers that are not the exporter's.
	client.CloseIdleConnections()
	m.afterHeap = liveHeap()
	slack := uint64(o.heapSlackMiB) << 20
	r.check(m.afterHeap <= m.startHeap+slack, "heap after retention expired is %s, %s above its start %s (allowed: %d MiB)",
		mib(m.afterHeap), mib(m.afterHeap-m.startHeap), mib(m.startHeap), o.heapSlackMiB)
	if o.memProfile != "" {
		if err := writeHeapProfile(o.memProfile); err != nil {
			r.fail("%v", err)
		}
	}
	return m, nil
}

// missing lists up to n of the keys that runs lacks.
func missing(keys []string, runs []runView, n int) string {
	held := make(map[string]bool, len(runs))
	for _, run := range runs {
		held[run.Run] = true
	}
	var out []string
	for _, k := range keys {
		if !held[k] && len(out) < n {
			out = append(out, k)
		}
	}
	return strings.Join(out, ", ")
}

// writeHeapProfile writes what is live now, by allocation site: after
// expiry, whatever the exporter still holds shows up under its code.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	return errors.Join(pprof.Lookup("heap").WriteTo(f, 0), f.Close())
}

// wave is one wave of new runs in the phase past max_runs.
type wave struct {
	name             string
	runs             int
	spans            int64
	held             int
	series, bound    int
	refused, evicted int64
	heap             uint64
}

// overflowPhase sends two waves of more new runs than max_runs: in the
// first, max_runs runs are open and the rest are refused; once those
// finish, the second evicts them (oldest finished first) and is refused
// past max_runs again. The series of /metrics must stay within the bound.
func overflowPhase(ctx context.Context, o options, r *report, gates map[string]any, tmpls []template, client *http.Client) ([]wave, error) {
	p, err := startPipeline(ctx, gates, o.overflowMaxRuns, o)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := p.shutdown(context.Background()); err != nil {
			r.fail("shutdown: %v", err)
		}
	}()
	batches := (o.overflowSpans + o.batch - 1) / o.batch
	var waves []wave
	var refused, evicted int64
	for i, name := range []string{"a", "b"} {
		if i > 0 {
			// The runs held finish, but stay within their retention.
			if _, err := waitRuns(client, p.base, o.idle+time.Minute, allFinished); err != nil {
				return nil, err
			}
		}
		progress("past max_runs: wave %s, %s new runs, max_runs %s", name, thousands(int64(o.overflowRuns)), thousands(int64(o.overflowMaxRuns)))
		if _, _, err := feed(ctx, p.proc, newSchedule(tmpls, runKeys("overflow-"+name, o.overflowRuns)), batches, o.workers); err != nil {
			return nil, fmt.Errorf("feed: %w", err)
		}
		// The list first: it is quick, and the runs are still open.
		runs, err := listRuns(client, p.base)
		if err != nil {
			return nil, err
		}
		sc, err := scrapeMetrics(client, p.base)
		if err != nil {
			return nil, err
		}
		tel, err := p.read()
		if err != nil {
			return nil, err
		}
		w := wave{
			name: name, runs: o.overflowRuns, spans: int64(batches * o.batch), held: len(runs),
			series: sc.series, bound: seriesBound(o.overflowMaxRuns, o.gates),
			refused: tel.sum("otelcol_exporter_releasegate_spans_refused") - refused,
			evicted: tel.sum("otelcol_exporter_releasegate_runs_evicted") - evicted,
			heap:    liveHeap(),
		}
		refused += w.refused
		evicted += w.evicted
		waves = append(waves, w)

		r.check(w.series <= w.bound, "wave %s: /metrics has %d series, above the bound %d", name, w.series, w.bound)
		r.check(w.held <= o.overflowMaxRuns, "wave %s: %d runs held, above max_runs %d", name, w.held, o.overflowMaxRuns)
		if o.overflowRuns > o.overflowMaxRuns {
			r.check(w.refused > 0, "wave %s: no span refused with %d new runs past max_runs %d", name, o.overflowRuns, o.overflowMaxRuns)
		}
		if i > 0 {
			want := int64(min(o.overflowRuns, o.overflowMaxRuns))
			r.check(w.evicted == want, "wave %s: %d finished runs evicted, want %d", name, w.evicted, want)
		}
	}
	return waves, nil
}

func printReport(o options, m loaded, waves []wave) {
	command := "cd bench && go run ./cmd/load"
	if len(os.Args) > 1 {
		command += " " + strings.Join(os.Args[1:], " ")
	}
	fmt.Printf("\n%s (%s, GOMAXPROCS %d; run_idle_timeout %s, retention %s, max_runs %s)\n\n",
		command, runtime.Version(), runtime.GOMAXPROCS(0), o.idle, o.retention, thousands(int64(o.maxRuns)))

	fmt.Printf("%s runs open at once × %d gates:\n\n", thousands(int64(o.runs)), o.gates)
	fmt.Println("| measure | value |")
	fmt.Println("|---|---:|")
	row := func(name, format string, args ...any) {
		fmt.Printf("| %s | %s |\n", name, fmt.Sprintf(format, args...))
	}
	row(fmt.Sprintf("spans fed (batches of %s, %d workers)", thousands(int64(o.batch)), o.workers), "%s", thousands(m.fed))
	row("spans annotated (matched a gate)", "%s", thousands(m.annotated))
	row("(span, gate) matches aggregated", "%s", thousands(m.matches))
	row("runs open at the end of the feed", "%s", thousands(m.openAtOnce))
	row("throughput, processor → exporter", "%s spans/s (%.1f s)", thousands(int64(float64(m.fed)/m.feedTook.Seconds())), m.feedTook.Seconds())
	row("ConsumeTraces of a batch: p50 / p99 / max", "%s / %s / %s", ms(m.p50), ms(m.p99), ms(m.maxLatency))
	row("heap at start (after GC)", "%s", mib(m.startHeap))
	row("peak heap during the feed (sampled)", "%s", mib(m.feedPeak))
	row(fmt.Sprintf("live heap, %s runs held (after GC)", thousands(int64(o.runs))), "%s", mib(m.heldHeap))
	if m.scraped {
		row("/metrics: series", "%s (bound %s)", thousands(int64(m.scrape.series)), thousands(int64(seriesBound(o.maxRuns, o.gates))))
		row("/metrics: one scrape", "%s in %.1f s", mib(uint64(m.scrape.bytes)), m.scrape.took.Seconds())
	} else {
		row("/metrics: one scrape", "failed after %s in %.1f s", mib(uint64(m.scrape.bytes)), m.scrape.took.Seconds())
	}
	row("peak heap during the scrape (sampled)", "%s", mib(m.scrapePeak))
	row("runs finished, after the last span", "%s (%.1f s)", thousands(int64(sum(m.statuses))), m.finishedAfter.Seconds())
	row("run verdicts", "%s", statusList(m.statuses))
	row("spans lost: refused / late / malformed / failed", "%d / %d / %d / %d", m.refused, m.late, m.malformed, m.sendFailed)
	row("heap after retention expired (after GC)", "%s (start %+.1f MiB)", mib(m.afterHeap), (float64(m.afterHeap)-float64(m.startHeap))/(1<<20))

	if len(waves) > 0 {
		fmt.Printf("\nPast max_runs (max_runs %s, two waves of new runs; the first wave's runs finish before the second):\n\n", thousands(int64(o.overflowMaxRuns)))
		fmt.Println("| wave | new runs | spans | runs held | /metrics series | bound | spans refused | runs evicted | live heap |")
		fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, w := range waves {
			fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", w.name, thousands(int64(w.runs)), thousands(w.spans),
				thousands(int64(w.held)), thousands(int64(w.series)), thousands(int64(w.bound)), thousands(w.refused), thousands(w.evicted), mib(w.heap))
		}
	}
	fmt.Printf("\nSeries bound (metrics.go): max_runs × (gates × %d + %d); per gate %d releasegate_gate_status, 3 counters,\n", seriesPerGate, seriesPerRun, statuses)
	fmt.Printf("6 of the duration summary (4 quantiles, _sum, _count) and the max; per run %d releasegate_run_status.\n", statuses)
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func statusList(m map[string]int) string {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool { return m[names[i]] > m[names[j]] })
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = thousands(int64(m[name])) + " " + name
	}
	return strings.Join(parts, ", ")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// thousands writes n with comma separators, as the tables in the docs do.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
