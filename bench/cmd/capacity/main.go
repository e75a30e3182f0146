// Command capacity measures what one gateway holds. It starts the built
// distribution as the staging topology runs it: one gateway on
// examples/gateway.yaml (the releasegate exporter; 20 span gates and 5
// trace gates by default) and sidecars on examples/sidecar.yaml (the
// releasegate processor), and loads the sidecars' OTLP receivers with
// spans of 1,000 concurrent runs from its own generator. The span rate
// steps up until a step is not judged in full: a collector refuses or
// drops spans, the generator cannot keep the rate, or the gateway falls
// behind (it has not consumed every span, or its trace gates have not
// judged every trace, once the step's traces have gone idle). It reports
// the highest rate judged in full, and for each role at that rate its CPU
// seconds per million spans (from /proc) and its peak heap and resident
// memory (from its own telemetry, every half second), then the same for
// sidecars without the releasegate processor. It fails if a trace gate of
// the gates file judged no trace. `make bench-capacity` runs it.
package main

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/encoding/gzip" // the gateway's trace store exporter compresses

	"github.com/releasegate/releasegate/bench/internal/proc"
)

//go:embed gates.yaml
var defaultGates []byte

type options struct {
	collector, examples, gates string
	runs, sidecars, batch      int
	senders                    int
	rates                      []int
	step, drain, traceIdle     time.Duration
}

func main() {
	var o options
	var rates string
	flag.StringVar(&o.collector, "collector", "../bin/otelcol-releasegate", "the built distribution")
	flag.StringVar(&o.examples, "examples", "../examples", "the directory of gateway.yaml and sidecar.yaml")
	flag.StringVar(&o.gates, "gates", "", "the gates file of the sidecars and the gateway (default: 20 span gates and 5 trace gates written for the traffic, cmd/capacity/gates.yaml)")
	flag.IntVar(&o.runs, "runs", 1000, "concurrent runs the spans belong to")
	flag.IntVar(&o.sidecars, "sidecars", 2, "sidecars, each a pod of its own service (frontend, backend, ...)")
	flag.IntVar(&o.batch, "batch", 200, "spans per OTLP request, as an SDK's batch")
	flag.IntVar(&o.senders, "senders", 4, "concurrent OTLP clients per sidecar")
	flag.StringVar(&rates, "rates", "16000,32000,48000,64000,96000,128000,192000,256000", "offered span rates to step through, spans/s over all sidecars")
	flag.DurationVar(&o.step, "step", 10*time.Second, "duration of each step")
	flag.DurationVar(&o.drain, "drain", 5*time.Second, "time the gateway is given after a step to judge the spans sent in it, and after its traces have gone idle to judge them")
	flag.DurationVar(&o.traceIdle, "trace-idle", 10*time.Second, "the gateway's trace_idle_timeout (examples/gateway.yaml leaves the default)")
	flag.Parse()
	for r := range strings.SplitSeq(rates, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(r))
		if err != nil || n <= 0 {
			fail(fmt.Errorf("-rates: %q is not a positive rate", r))
		}
		o.rates = append(o.rates, n)
	}
	if o.runs < 1 || o.sidecars < 1 || o.batch < 5 || o.senders < 1 {
		fail(errors.New("-runs, -sidecars and -senders must be positive, -batch at least 5"))
	}
	for _, path := range []*string{&o.collector, &o.examples} {
		abs, err := filepath.Abs(*path)
		if err != nil {
			fail(err)
		}
		*path = abs
	}
	if err := run(o); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "capacity:", err)
	os.Exit(1)
}

func run(o options) error {
	gates := defaultGates
	if o.gates != "" {
		var err error
		if gates, err = os.ReadFile(o.gates); err != nil {
			return err
		}
	}
	dir, err := os.MkdirTemp("", "capacity")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// The examples read ${file:examples/gates.yaml} from where they start.
	if err := os.MkdirAll(filepath.Join(dir, "examples"), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "examples", "gates.yaml"), gates, 0o600); err != nil {
		return err
	}
	store, err := startTraceStore()
	if err != nil {
		return err
	}
	defer store.Stop()

	api := fmt.Sprintf("127.0.0.1:%d", proc.FreePort())
	gateway, err := start(o, dir, "gateway", fmt.Sprintf(`
extensions:
  health_check:
    endpoint: 127.0.0.1:%d
  file_storage:
    directory: %s
exporters:
  releasegate:
    server:
      endpoint: %s
`, proc.FreePort(), filepath.Join(dir, "storage"), api), "RELEASEGATE_TRACE_STORE="+store.addr)
	if err != nil {
		return err
	}
	defer gateway.stop()

	fmt.Printf("One gateway (examples/gateway.yaml) and %d sidecars (examples/sidecar.yaml), %d runs at once, "+
		"requests of %d spans from %d clients per sidecar, %s steps, on %d cores shared by all of them and the generator.\n\n",
		o.sidecars, o.runs, o.batch, o.senders, o.step, runtime.NumCPU())
	fmt.Println("| offered spans/s | sent spans/s | judged in full | runs open | traces judged (buffer full) | peak traces buffered | gateway CPU (cores) | gateway CPU s / M spans | gateway peak heap | sidecar CPU s / M spans | all collectors (cores) | generator (cores) |")
	fmt.Println("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

	sidecars, err := startSidecars(o, dir, gateway, "")
	if err != nil {
		return err
	}
	defer stopAll(sidecars)
	var best *stepResult
	var failed string
	load := newLoad(o)
	for _, rate := range o.rates {
		r, err := measure(o, load, rate, gateway, sidecars)
		if err != nil {
			return err
		}
		fmt.Println(r.row())
		if r.problem != "" {
			failed = fmt.Sprintf("%d spans/s: %s", rate, r.problem)
			for _, c := range append([]*collector{gateway}, sidecars...) {
				if line := firstError(c.log); line != "" {
					failed += fmt.Sprintf("\n  %s: %s", c.name, line)
				}
			}
			break
		}
		best = r
	}
	stopAll(sidecars)
	if best == nil {
		return fmt.Errorf("no rate was judged in full (%s)", failed)
	}
	if failed == "" {
		failed = "none: every rate offered was judged in full"
	}
	fmt.Printf("\nThe first rate not judged in full: %s.\n", failed)

	// The same sidecars without the releasegate processor, at the highest
	// rate judged in full.
	without, err := startSidecars(o, dir, gateway, `
service:
  pipelines:
    traces:
      processors: [batch]
`)
	if err != nil {
		return err
	}
	defer stopAll(without)
	bare, err := measure(o, load, best.rate, gateway, without)
	stopAll(without)
	if err != nil {
		return err
	}
	if bare.problem != "" {
		return fmt.Errorf("sidecars without the processor at %d spans/s: %s", best.rate, bare.problem)
	}

	fmt.Printf("\nHighest rate judged in full: %d spans/s offered, %.0f sent.\n\n", best.rate, best.sentRate)
	fmt.Println("| role | CPU s per million spans | spans/s per core | peak heap | peak RSS |")
	fmt.Println("|---|---:|---:|---:|---:|")
	role := func(name string, cpuPerM float64, heap, rss int64) {
		fmt.Printf("| %s | %.2f | %.0f | %d MiB | %d MiB |\n", name, cpuPerM, 1e6/cpuPerM, heap>>20, rss>>20)
	}
	role("gateway: releasegate exporter, trace store export", best.gatewayCPUPerM, best.gatewayHeap, best.gatewayRSS)
	role("sidecar with the releasegate processor", best.sidecarCPUPerM, best.sidecarHeap, best.sidecarRSS)
	role("sidecar without it (otlp → batch → otlp_grpc)", bare.sidecarCPUPerM, bare.sidecarHeap, bare.sidecarRSS)
	fmt.Printf("\nThe processor costs the sidecar %.2f× its CPU without it (%d spans/s through each).\n",
		best.sidecarCPUPerM/bare.sidecarCPUPerM, best.rate/o.sidecars)
	return checkTraceGates("http://" + api)
}

// checkTraceGates prints what each trace gate judged over every run, and
// fails if one judged no trace: a trace gate that never matched measured
// nothing.
func checkTraceGates(api string) error {
	var list struct {
		Runs []struct {
			Run string `json:"run"`
		} `json:"runs"`
	}
	if err := getJSON(api+"/v1/runs", &list); err != nil {
		return err
	}
	if len(list.Runs) == 0 {
		return errors.New("the gateway holds no run")
	}
	var run struct {
		Gates []struct {
			Name  string `json:"name"`
			Scope string `json:"scope"`
		} `json:"gates"`
	}
	if err := getJSON(api+"/v1/runs/"+url.PathEscape(list.Runs[0].Run), &run); err != nil {
		return err
	}
	m, err := scrape(api + "/metrics?name[]=releasegate_gate_traces_total&name[]=releasegate_gate_trace_violations_total")
	if err != nil {
		return err
	}
	var traceGates, idle []string
	for _, g := range run.Gates {
		if g.Scope == "trace" {
			traceGates = append(traceGates, g.Name)
		}
	}
	if len(traceGates) == 0 {
		return nil
	}
	fmt.Printf("\nTrace gates, over the %d runs:\n\n", len(list.Runs))
	fmt.Println("| trace gate | traces judged | violating |")
	fmt.Println("|---|---:|---:|")
	for _, name := range traceGates {
		traces := m.sum("releasegate_gate_traces_total", "gate", name)
		fmt.Printf("| %s | %.0f | %.0f |\n", name, traces, m.sum("releasegate_gate_trace_violations_total", "gate", name))
		if traces == 0 {
			idle = append(idle, name)
		}
	}
	if len(idle) > 0 {
		return fmt.Errorf("trace gates judged no trace: %s", strings.Join(idle, ", "))
	}
	return nil
}

func getJSON(addr string, v any) error {
	resp, err := http.Get(addr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", addr, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// firstError is the first line a collector logged at level error.
func firstError(log string) string {
	data, err := os.ReadFile(log)
	if err != nil {
		return ""
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if strings.Contains(line, "\terror\t") {
			return line
		}
	}
	return ""
}

// collector is a running otelcol-releasegate on a configuration of
// examples/ with an overlay merged over it.
type collector struct {
	name       string
	cmd        *exec.Cmd
	log        string // its output
	otlp       string // OTLP/gRPC endpoint
	metricsURL string // its own telemetry
	// The highest heap, resident memory and traces buffered for trace
	// gates since the step began, sampled from its own telemetry.
	heap, rss, buffered atomic.Int64
	done                chan struct{}
	stopped             sync.Once
}

// start starts the collector on examples/<name>.yaml, with overlays
// merged over it: one that moves it onto loopback ports, then the given
// one, if any. It waits until the collector receives OTLP.
func start(o options, dir, name, overlay string, env ...string) (*collector, error) {
	otlp, metrics := proc.FreePort(), proc.FreePort()
	c := &collector{
		name:       name,
		otlp:       fmt.Sprintf("127.0.0.1:%d", otlp),
		metricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", metrics),
		done:       make(chan struct{}),
	}
	args := []string{"--config", filepath.Join(o.examples, name+".yaml")}
	for i, text := range []string{fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%d
      http:
        endpoint: 127.0.0.1:%d
service:
  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: %d
`, otlp, proc.FreePort(), metrics), overlay} {
		if text == "" {
			continue
		}
		file := filepath.Join(dir, fmt.Sprintf("%s-%d-%d.yaml", name, otlp, i))
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			return nil, err
		}
		args = append(args, "--config", file)
	}
	log, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%d.log", name, otlp)))
	if err != nil {
		return nil, err
	}
	defer log.Close() // the collector writes to its own copy
	c.log = log.Name()
	c.cmd = exec.Command(o.collector, args...)
	c.cmd.Dir = dir
	c.cmd.Env = append(os.Environ(), env...)
	c.cmd.Stdout, c.cmd.Stderr = log, log
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	if err := proc.WaitListening(c.otlp, 30*time.Second); err != nil {
		c.stop()
		out, _ := os.ReadFile(log.Name())
		return nil, fmt.Errorf("%s: %w\n%s", name, err, out)
	}
	go c.watchMemory()
	return c, nil
}

// watchMemory keeps the collector's highest heap and resident memory,
// from its own telemetry every half second.
func (c *collector) watchMemory() {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-tick.C:
			if m, err := scrape(c.metricsURL); err == nil {
				keepMax(&c.heap, int64(m.sum("otelcol_process_runtime_heap_alloc_bytes")))
				keepMax(&c.rss, int64(m.sum("otelcol_process_memory_rss")))
				keepMax(&c.buffered, int64(m.sum("otelcol_exporter_releasegate_traces_buffered")))
			}
		}
	}
}

func keepMax(v *atomic.Int64, x int64) {
	for {
		old := v.Load()
		if x <= old || v.CompareAndSwap(old, x) {
			return
		}
	}
}

// stop stops the collector, once.
func (c *collector) stop() {
	c.stopped.Do(func() {
		close(c.done)
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		_ = c.cmd.Wait()
	})
}

func startSidecars(o options, dir string, gateway *collector, overlay string) ([]*collector, error) {
	var sidecars []*collector
	for range o.sidecars {
		c, err := start(o, dir, "sidecar", overlay, "RELEASEGATE_GATEWAY="+gateway.otlp)
		if err != nil {
			stopAll(sidecars)
			return nil, err
		}
		sidecars = append(sidecars, c)
	}
	return sidecars, nil
}

func stopAll(cs []*collector) {
	for _, c := range cs {
		c.stop()
	}
}

// memory is the highest heap and resident memory of any of the
// collectors since the step began.
func memory(cs []*collector) (heap, rss int64) {
	for _, c := range cs {
		heap, rss = max(heap, c.heap.Load()), max(rss, c.rss.Load())
	}
	return heap, rss
}

// counters are what a step reads of the collectors before and after it.
type counters struct {
	cpu             map[*collector]float64 // CPU seconds
	generatorCPU    float64
	runsOpen        float64
	sidecarAccepted float64
	sidecarDropped  float64 // refused by the receiver, failed or not queued by the exporter
	gatewayDropped  float64 // refused by the receiver or by the releasegate exporter, failed by it
	judged          float64 // consumed by the releasegate exporter
	traceBuffered   float64 // traces buffered for trace gates now
	tracesJudged    float64 // traces judged by trace gates
	bufferFull      float64 // of which judged early, the buffer full
	traceSpansLate  float64 // spans of traces already judged
	storeFailed     float64 // the trace store exporter's failures, reported apart
}

func read(gateway *collector, sidecars []*collector) (counters, error) {
	c := counters{cpu: map[*collector]float64{}}
	var err error
	if c.generatorCPU, err = proc.CPUSeconds(os.Getpid()); err != nil {
		return c, err
	}
	for _, s := range append([]*collector{gateway}, sidecars...) {
		cpu, err := proc.CPUSeconds(s.cmd.Process.Pid)
		if err != nil {
			return c, err
		}
		c.cpu[s] = cpu
	}
	for _, s := range sidecars {
		m, err := scrape(s.metricsURL)
		if err != nil {
			return c, err
		}
		c.sidecarAccepted += m.sum("otelcol_receiver_accepted_spans")
		c.sidecarDropped += m.sum("otelcol_receiver_refused_spans") + m.sum("otelcol_exporter_send_failed_spans") +
			m.sum("otelcol_exporter_enqueue_failed_spans")
	}
	m, err := scrape(gateway.metricsURL)
	if err != nil {
		return c, err
	}
	c.gatewayDropped = m.sum("otelcol_receiver_refused_spans") + m.sum("otelcol_exporter_releasegate_spans_refused") +
		m.sum("otelcol_exporter_send_failed_spans", "exporter", "releasegate") +
		m.sum("otelcol_exporter_enqueue_failed_spans", "exporter", "releasegate")
	c.judged = m.sum("otelcol_exporter_sent_spans", "exporter", "releasegate")
	c.runsOpen = m.sum("otelcol_exporter_releasegate_runs_open")
	c.traceBuffered = m.sum("otelcol_exporter_releasegate_traces_buffered")
	c.tracesJudged = m.sum("otelcol_exporter_releasegate_traces_judged")
	c.bufferFull = m.sum("otelcol_exporter_releasegate_traces_judged", "trigger", "buffer_full")
	c.traceSpansLate = m.sum("otelcol_exporter_releasegate_trace_spans_late")
	c.storeFailed = m.sum("otelcol_exporter_send_failed_spans", "exporter", "otlp_grpc") +
		m.sum("otelcol_exporter_enqueue_failed_spans", "exporter", "otlp_grpc")
	return c, nil
}

// stepResult is one step: a rate offered for the step's duration.
type stepResult struct {
	rate                           int
	sentRate                       float64
	gatewayCores, allCores         float64
	gatewayHeap, gatewayRSS        int64
	sidecarHeap, sidecarRSS        int64
	generatorCores                 float64
	runsOpen                       float64
	tracesJudged, bufferFull       float64
	peakBuffered                   int64
	gatewayCPUPerM, sidecarCPUPerM float64
	drained                        time.Duration
	problem                        string // why the step was not judged in full
}

func (r *stepResult) row() string {
	judged := "yes"
	if r.problem != "" {
		judged = "no: " + r.problem
	} else {
		judged += fmt.Sprintf(" (%.1f s after)", r.drained.Seconds())
	}
	return fmt.Sprintf("| %d | %.0f | %s | %.0f | %.0f (%.0f) | %d | %.2f | %.2f | %d MiB | %.2f | %.2f | %.2f |",
		r.rate, r.sentRate, judged, r.runsOpen, r.tracesJudged, r.bufferFull, r.peakBuffered,
		r.gatewayCores, r.gatewayCPUPerM, r.gatewayHeap>>20, r.sidecarCPUPerM, r.allCores, r.generatorCores)
}

// measure offers rate spans/s through the sidecars for one step, waits for
// the gateway to judge what was sent, and reads what it cost.
func measure(o options, l *load, rate int, gateway *collector, sidecars []*collector) (*stepResult, error) {
	for _, c := range append([]*collector{gateway}, sidecars...) {
		c.heap.Store(0)
		c.rss.Store(0)
		c.buffered.Store(0)
	}
	before, err := read(gateway, sidecars)
	if err != nil {
		return nil, err
	}
	begin := time.Now()
	sent, errs, err := l.offer(sidecars, rate, o.step)
	if err != nil {
		return nil, err
	}
	r := &stepResult{rate: rate, sentRate: float64(sent) / o.step.Seconds()}

	// The gateway has judged the step when its exporter has consumed every
	// span the sidecars accepted in it and its trace gates have judged
	// every trace, which they do once the trace has gone idle.
	stopped := time.Now()
	var after counters
	for {
		if after, err = read(gateway, sidecars); err != nil {
			return nil, err
		}
		consumed := after.judged-before.judged >= after.sidecarAccepted-before.sidecarAccepted
		if consumed && after.traceBuffered == 0 || time.Since(stopped) > o.traceIdle+o.drain {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.drained = time.Since(stopped)
	r.gatewayHeap, r.gatewayRSS = memory([]*collector{gateway})
	r.sidecarHeap, r.sidecarRSS = memory(sidecars)
	wall := time.Since(begin).Seconds()

	gatewayCPU := after.cpu[gateway] - before.cpu[gateway]
	var sidecarCPU float64
	for _, s := range sidecars {
		sidecarCPU += after.cpu[s] - before.cpu[s]
	}
	accepted := after.sidecarAccepted - before.sidecarAccepted
	judged := after.judged - before.judged
	r.gatewayCores, r.allCores = gatewayCPU/wall, (gatewayCPU+sidecarCPU)/wall
	r.generatorCores = (after.generatorCPU - before.generatorCPU) / wall
	r.runsOpen = after.runsOpen
	r.tracesJudged, r.bufferFull = after.tracesJudged-before.tracesJudged, after.bufferFull-before.bufferFull
	r.peakBuffered = gateway.buffered.Load()
	if judged > 0 {
		r.gatewayCPUPerM = gatewayCPU / judged * 1e6
	}
	if accepted > 0 {
		r.sidecarCPUPerM = sidecarCPU / accepted * 1e6 // each sidecar, per span through it
	}

	switch {
	case errs > 0:
		r.problem = fmt.Sprintf("sidecars answered %d requests with an error", errs)
	case after.sidecarDropped > before.sidecarDropped:
		r.problem = fmt.Sprintf("sidecars refused or dropped %.0f spans", after.sidecarDropped-before.sidecarDropped)
	case after.gatewayDropped > before.gatewayDropped:
		r.problem = fmt.Sprintf("the gateway refused or dropped %.0f spans", after.gatewayDropped-before.gatewayDropped)
	case judged < accepted:
		r.problem = fmt.Sprintf("the gateway had judged %.0f of %.0f spans %s after the step", judged, accepted, o.traceIdle+o.drain)
	case after.traceBuffered > 0:
		r.problem = fmt.Sprintf("the gateway's trace gates had not judged %.0f traces %s after the step", after.traceBuffered, o.traceIdle+o.drain)
	case after.traceSpansLate > before.traceSpansLate:
		r.problem = fmt.Sprintf("the gateway judged traces before %.0f of their spans arrived", after.traceSpansLate-before.traceSpansLate)
	case r.sentRate < 0.95*float64(rate):
		r.problem = fmt.Sprintf("the generator sent %.0f spans/s, the machine's cores are taken", r.sentRate)
	case after.storeFailed > before.storeFailed:
		r.problem = fmt.Sprintf("the gateway dropped %.0f spans bound for the trace store", after.storeFailed-before.storeFailed)
	}
	return r, nil
}

// metrics is a scrape of a collector's own telemetry.
type metrics []string

func scrape(url string) (metrics, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var lines metrics
	s := bufio.NewScanner(resp.Body)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		if line := s.Text(); !strings.HasPrefix(line, "#") {
			lines = append(lines, line)
		}
	}
	return lines, s.Err()
}

// sum adds up the series of a metric (a counter with or without its
// _total) whose labels include the given name/value pairs.
func (m metrics) sum(name string, labels ...string) float64 {
	var total float64
	for _, line := range m {
		series, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		metric, rest, _ := strings.Cut(series, "{")
		if metric != name && metric != name+"_total" {
			continue
		}
		matches := true
		for i := 0; i+1 < len(labels); i += 2 {
			matches = matches && strings.Contains(rest, labels[i]+`="`+labels[i+1]+`"`)
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil && matches {
			total += v
		}
	}
	return total
}

// traceStore is an OTLP/gRPC endpoint that takes the gateway's spans and
// keeps nothing.
type traceStore struct {
	ptraceotlp.UnimplementedGRPCServer
	*grpc.Server
	addr string
}

func startTraceStore() (*traceStore, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &traceStore{Server: grpc.NewServer(), addr: l.Addr().String()}
	ptraceotlp.RegisterGRPCServer(s.Server, s)
	go func() { _ = s.Serve(l) }()
	return s, nil
}

func (*traceStore) Export(context.Context, ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	return ptraceotlp.NewExportResponse(), nil
}

// load generates the spans: each sidecar is a pod of one service, each of
// its clients sends requests of whole traces of five spans, four runs per
// request, cycling through every run.
type load struct {
	o     options
	epoch string // makes run ids differ between invocations
	runs  atomic.Uint64
	ids   atomic.Uint64
}

func newLoad(o options) *load {
	return &load{o: o, epoch: strconv.FormatInt(time.Now().Unix(), 36)}
}

const runsPerRequest = 4

// offer sends rate spans/s, spread over the sidecars and their clients,
// for d; it returns the spans sent and the requests refused.
func (l *load) offer(sidecars []*collector, rate int, d time.Duration) (sent, refused int64, err error) {
	var wg sync.WaitGroup
	var sentN, refusedN atomic.Int64
	clients := len(sidecars) * l.o.senders
	interval := time.Duration(float64(time.Second) * float64(l.o.batch) * float64(clients) / float64(rate))
	deadline := time.Now().Add(d)
	for i, s := range sidecars {
		conn, err := grpc.NewClient(s.otlp, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return 0, 0, err
		}
		defer conn.Close()
		client := ptraceotlp.NewGRPCClient(conn)
		for k := range l.o.senders {
			wg.Go(func() {
				batch := newBatch(pods[i%len(pods)], l.o.batch, uint64(i*l.o.senders+k))
				// Clients start spread over one interval.
				next := time.Now().Add(interval * time.Duration(k) / time.Duration(l.o.senders))
				for next.Before(deadline) {
					time.Sleep(time.Until(next))
					next = next.Add(interval)
					l.refresh(batch)
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(batch.td))
					cancel()
					if err != nil {
						refusedN.Add(1)
						continue
					}
					sentN.Add(int64(batch.td.SpanCount()))
				}
			})
		}
	}
	wg.Wait()
	return sentN.Load(), refusedN.Load(), nil
}

// batch is a request a client sends again and again, with new runs, ids
// and times each time.
type batch struct {
	td        ptrace.Traces
	durations []time.Duration // of each span, in order
}

// refresh gives the batch's resources the next runs, its traces new ids,
// and its spans times ending now.
func (l *load) refresh(b *batch) {
	now := time.Now()
	i := 0
	for _, rs := range b.td.ResourceSpans().All() {
		run := l.runs.Add(1) % uint64(l.o.runs)
		rs.Resource().Attributes().PutStr("cicd.pipeline.run.id", fmt.Sprintf("capacity-%s-%d", l.epoch, run))
		var traceID pcommon.TraceID
		var parent pcommon.SpanID
		for _, span := range rs.ScopeSpans().At(0).Spans().All() {
			id := l.ids.Add(1)
			var spanID pcommon.SpanID
			putUint64(spanID[:], id)
			if span.ParentSpanID().IsEmpty() {
				putUint64(traceID[:8], id)
				putUint64(traceID[8:], id^0x5bd1e995)
				parent = spanID
			} else {
				span.SetParentSpanID(parent)
			}
			span.SetTraceID(traceID)
			span.SetSpanID(spanID)
			span.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
			span.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-b.durations[i])))
			i++
		}
	}
}

func putUint64(b []byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (56 - 8*i))
	}
}

// pod is a service's traces: a server span and four children.
type pod struct {
	service string
	roots   []string // server span names, drawn at random
	child   func(span ptrace.Span, k int)
}

var pods = []pod{
	{"frontend", []string{"GET /", "GET /product/{id}", "GET /product/{id}", "GET /product/{id}", "POST /checkout"}, frontendChild},
	{"backend", []string{"GET /api/cart", "GET /api/cart", "POST /api/cart", "GET /api/inventory"}, backendChild},
}

func frontendChild(span ptrace.Span, k int) {
	switch k {
	case 1:
		span.SetName("GET /api/cart")
		span.SetKind(ptrace.SpanKindClient)
		span.Attributes().PutStr("server.address", "backend")
		span.Attributes().PutStr("http.request.method", "GET")
	case 2:
		span.SetName("GET /api/recommendations")
		span.SetKind(ptrace.SpanKindClient)
		span.Attributes().PutStr("server.address", "recommendations")
		span.Attributes().PutStr("http.request.method", "GET")
	case 3:
		span.SetName("render")
		span.SetKind(ptrace.SpanKindInternal)
	default:
		span.SetName("GET /api/prices")
		span.SetKind(ptrace.SpanKindClient)
		span.Attributes().PutStr("server.address", "prices")
		span.Attributes().PutStr("http.request.method", "GET")
	}
}

func backendChild(span ptrace.Span, k int) {
	switch k {
	case 1:
		span.SetName("SELECT cart")
		span.SetKind(ptrace.SpanKindClient)
		span.Attributes().PutStr("db.system.name", "postgresql")
		span.Attributes().PutStr("db.query.text", "SELECT * FROM cart WHERE id = $1")
	case 2:
		span.SetName("UPDATE cart")
		span.SetKind(ptrace.SpanKindClient)
		span.Attributes().PutStr("db.system.name", "postgresql")
		span.Attributes().PutStr("db.query.text", "UPDATE cart SET items = $2 WHERE id = $1")
	case 3:
		span.SetName("publish cart.updated")
		span.SetKind(ptrace.SpanKindProducer)
		span.Attributes().PutStr("messaging.system", "kafka")
		span.Attributes().PutStr("messaging.destination.name", "cart")
	default:
		span.SetName("GET /api/prices")
		span.SetKind(ptrace.SpanKindClient)
		span.Attributes().PutStr("server.address", "prices")
		span.Attributes().PutStr("http.request.method", "GET")
	}
}

// newBatch builds a request of n spans (rounded down to whole traces) of
// the pod's service, in runsPerRequest resources: durations of 5–80ms,
// one span in fifty slow (400ms–2s), one server span in a hundred failed.
func newBatch(p pod, n int, seed uint64) *batch {
	rng := rand.New(rand.NewPCG(seed, 7))
	b := &batch{td: ptrace.NewTraces()}
	traces := max(n/5/runsPerRequest, 1)
	for range runsPerRequest {
		rs := b.td.ResourceSpans().AppendEmpty()
		res := rs.Resource().Attributes()
		res.PutStr("service.name", p.service)
		res.PutStr("service.version", "1.4.2")
		res.PutStr("deployment.environment.name", "staging")
		res.PutStr("k8s.pod.name", fmt.Sprintf("%s-7d9f8b6c5-%05d", p.service, seed))
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("io.opentelemetry.http")
		for range traces {
			for k := range 5 {
				span := ss.Spans().AppendEmpty()
				d := time.Duration(5+rng.IntN(75)) * time.Millisecond
				if rng.IntN(50) == 0 {
					d = time.Duration(400+rng.IntN(1600)) * time.Millisecond
				}
				if k == 0 {
					span.SetName(p.roots[rng.IntN(len(p.roots))])
					span.SetKind(ptrace.SpanKindServer)
					code := int64(200)
					if rng.IntN(100) == 0 {
						span.Status().SetCode(ptrace.StatusCodeError)
						code = 503
					}
					span.Attributes().PutInt("http.response.status_code", code)
					span.Attributes().PutStr("http.request.method", strings.Fields(span.Name())[0])
					span.Attributes().PutStr("http.route", strings.Fields(span.Name())[1])
				} else {
					span.SetParentSpanID(pcommon.SpanID{1}) // set to the root's in refresh
					p.child(span, k)
				}
				b.durations = append(b.durations, d)
			}
		}
	}
	return b
}
