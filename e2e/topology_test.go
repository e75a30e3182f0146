package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/encoding/gzip" // the collector's OTLP exporters compress with gzip

	"github.com/releasegate/releasegate/annotation"
)

// The staging topology of deploy/kubernetes/: in each pod a sidecar on
// examples/sidecar.yaml annotates the spans, one gateway on
// examples/gateway.yaml judges the runs over every pod's spans and passes
// them on to the trace store. The verdicts of the gateway must be those of
// one collector that runs the processor and the exporter together and sees
// every span itself; and a sidecar restarted, or the gateway away for a
// moment, must lose no span.

// shippedCollector is the built distribution on a configuration of
// examples/, with a second configuration merged over it (the collector
// merges its --config files in order) that moves its endpoints onto
// loopback ports. It starts in a directory whose examples/gates.yaml holds
// the test's gates.
type shippedCollector struct {
	dir, config, overlay string
	env                  []string
	otlpGRPC             string
	metricsURL           string
	*collector
}

// newShippedCollector prepares a collector on examples/<name>.yaml, with
// an overlay that receives OTLP on loopback ports, OTLP/gRPC on otlpGRPC,
// serves its own telemetry on another, and sets what else the caller's
// overlay sets.
func newShippedCollector(t *testing.T, dir, name string, otlpGRPC int, overlay string, env ...string) *shippedCollector {
	t.Helper()
	s := &shippedCollector{
		dir:      dir,
		config:   filepath.Join(repoRoot(t), "examples", name+".yaml"),
		overlay:  filepath.Join(dir, fmt.Sprintf("%s-%d.yaml", name, otlpGRPC)),
		env:      env,
		otlpGRPC: fmt.Sprintf("127.0.0.1:%d", otlpGRPC),
	}
	metricsPort := freePort(t)
	s.metricsURL = fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	overlay += fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
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
`, s.otlpGRPC, freePort(t), metricsPort)
	require.NoError(t, os.WriteFile(s.overlay, []byte(overlay), 0o600))
	return s
}

// start starts the collector and waits until it is ready.
func (s *shippedCollector) start(t *testing.T) {
	t.Helper()
	c := &collector{output: &syncBuffer{}, exited: make(chan struct{})}
	c.cmd = exec.Command(tool(t, "RELEASEGATE_BINARY"), "--config", s.config, "--config", s.overlay)
	c.cmd.Dir = s.dir
	c.cmd.Env = append(os.Environ(), s.env...)
	c.cmd.Stdout, c.cmd.Stderr = c.output, c.output
	require.NoError(t, c.cmd.Start())
	go func() {
		c.exitErr = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
		case <-time.After(15 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
		if t.Failed() {
			t.Logf("%s:\n%s", filepath.Base(s.config), c.output.String())
		}
	})
	s.collector = c
	deadline := time.After(30 * time.Second)
	for !strings.Contains(c.output.String(), "Everything is ready") {
		select {
		case <-c.exited:
			t.Fatalf("%s exited: %v\n%s", filepath.Base(s.config), c.exitErr, c.output.String())
		case <-deadline:
			t.Fatalf("%s not ready after 30s\n%s", filepath.Base(s.config), c.output.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop stops the collector as Kubernetes does, with SIGTERM, and waits
// until it has shut down cleanly.
func (s *shippedCollector) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, s.waitExit(t), s.output.String())
}

// staging is the topology under test, and the reference collector beside
// it.
type staging struct {
	gateway   *shippedCollector
	frontend  *shippedCollector // the sidecar of the frontend's pod
	backend   *shippedCollector // the sidecar of the backend's pod
	api       string            // the gateway's verdict API
	store     *traceStore
	reference *collector
}

func startStaging(t *testing.T) *staging {
	t.Helper()
	dir := t.TempDir()
	gates, err := os.ReadFile(filepath.Join("..", "testdata", "topology-gates.yaml"))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "examples"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "examples", "gates.yaml"), gates, 0o600))

	s := &staging{store: startTraceStore(t)}
	apiPort := freePort(t)
	s.api = fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	s.gateway = newShippedCollector(t, dir, "gateway", freePort(t), fmt.Sprintf(`
extensions:
  health_check:
    endpoint: 127.0.0.1:%d
  file_storage:
    directory: %s
exporters:
  releasegate:
    server:
      endpoint: 127.0.0.1:%d
`, freePort(t), filepath.Join(dir, "storage"), apiPort),
		"RELEASEGATE_TRACE_STORE="+s.store.addr)
	sidecar := func() *shippedCollector {
		return newShippedCollector(t, dir, "sidecar", freePort(t), "", "RELEASEGATE_GATEWAY="+s.gateway.otlpGRPC)
	}
	s.frontend, s.backend = sidecar(), sidecar()
	for _, c := range []*shippedCollector{s.gateway, s.frontend, s.backend} {
		c.start(t)
	}

	// The reference: testdata/collector.yaml, the processor and the exporter
	// in one collector, on the same gates.
	s.reference = startCollector(t, collectorFiles(t, "topology-gates.yaml"), newOTLPSink(t).URL)
	s.reference.waitReady(t)
	return s
}

// send sends a run's traces as the two pods' SDKs do, each pod's spans to
// its sidecar, and the same spans to the reference collector.
func (s *staging) send(t *testing.T, run string, from, n int) {
	t.Helper()
	frontend, backend := checkoutTraces(run, from, n)
	exportTraces(t, s.frontend.otlpGRPC, frontend)
	exportTraces(t, s.backend.otlpGRPC, backend)
	exportTraces(t, s.reference.otlpGRPC, frontend)
	exportTraces(t, s.reference.otlpGRPC, backend)
}

// exportTraces sends td over OTLP/gRPC, waiting for the endpoint to be
// reachable as an SDK's retries would.
func exportTraces(t *testing.T, endpoint string, td ptrace.Traces) {
	t.Helper()
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	_, err = ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(td), grpc.WaitForReady(true))
	require.NoError(t, err, endpoint)
}

// checkoutTraces is traces from..from+n-1 of a run of GET /checkout
// through two pods, as their SDKs send them. The frontend's spans: its
// server span, the root, and its client span calling the backend. The
// backend's: its server span POST /cart, a child of the frontend's client
// span, and its database query. Slow checkouts, failed carts, slow queries
// and unaddressed calls come on fixed patterns of the trace's number, so
// that gates fail and pass.
func checkoutTraces(run string, from, n int) (frontend, backend ptrace.Traces) {
	frontend, backend = ptrace.NewTraces(), ptrace.NewTraces()
	pod := func(td ptrace.Traces, service string) ptrace.SpanSlice {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", service)
		rs.Resource().Attributes().PutStr("cicd.pipeline.run.id", run)
		rs.Resource().Attributes().PutStr("deployment.environment.name", "staging")
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("io.opentelemetry.http")
		return ss.Spans()
	}
	frontendSpans, backendSpans := pod(frontend, "frontend"), pod(backend, "backend")
	h := fnv.New64a()
	h.Write([]byte(run))
	runHash := h.Sum64()
	start := time.Now().Add(-time.Minute)
	for i := from; i < from+n; i++ {
		var traceID pcommon.TraceID
		binary.BigEndian.PutUint64(traceID[:8], runHash)
		binary.BigEndian.PutUint64(traceID[8:], uint64(i))
		spanID := func(k byte) pcommon.SpanID {
			var id pcommon.SpanID
			binary.BigEndian.PutUint32(id[:4], uint32(i))
			id[4], id[7] = 0x5a, k
			return id
		}
		begin := start.Add(time.Duration(i) * time.Millisecond)
		span := func(spans ptrace.SpanSlice, k byte, parent pcommon.SpanID, name string, kind ptrace.SpanKind, offset, d time.Duration) ptrace.Span {
			s := spans.AppendEmpty()
			s.SetTraceID(traceID)
			s.SetSpanID(spanID(k))
			s.SetParentSpanID(parent)
			s.SetName(name)
			s.SetKind(kind)
			s.SetStartTimestamp(pcommon.NewTimestampFromTime(begin.Add(offset)))
			s.SetEndTimestamp(pcommon.NewTimestampFromTime(begin.Add(offset + d)))
			return s
		}
		checkout := 120*time.Millisecond + time.Duration(i%8)*30*time.Millisecond // i%8 ≥ 6: ≥ 300ms
		query := time.Duration(8+i%5) * time.Millisecond
		if i%23 == 7 {
			query = 80 * time.Millisecond
		}

		root := span(frontendSpans, 1, pcommon.NewSpanIDEmpty(), "GET /checkout", ptrace.SpanKindServer, 0, checkout)
		root.Attributes().PutInt("http.response.status_code", 200)
		call := span(frontendSpans, 2, root.SpanID(), "POST /cart", ptrace.SpanKindClient, 10*time.Millisecond, query+20*time.Millisecond)
		address := "backend"
		if i%17 == 4 {
			address = "10.0.0.7"
		}
		call.Attributes().PutStr("server.address", address)

		cart := span(backendSpans, 3, call.SpanID(), "POST /cart", ptrace.SpanKindServer, 12*time.Millisecond, query+15*time.Millisecond)
		if i%10 == 3 {
			cart.Status().SetCode(ptrace.StatusCodeError)
		}
		span(backendSpans, 4, cart.SpanID(), "SELECT cart", ptrace.SpanKindClient, 15*time.Millisecond, query).
			Attributes().PutStr("db.system.name", "postgresql")
	}
	return frontend, backend
}

// traceStore is an OTLP/gRPC trace store: it counts the spans the gateway
// passes on, by their run annotation.
type traceStore struct {
	ptraceotlp.UnimplementedGRPCServer
	addr string
	mu   sync.Mutex
	runs map[string]int
}

func startTraceStore(t *testing.T) *traceStore {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &traceStore{addr: l.Addr().String(), runs: map[string]int{}}
	server := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(server, s)
	go func() { _ = server.Serve(l) }()
	t.Cleanup(server.Stop)
	return s
}

func (s *traceStore) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rs := range req.Traces().ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				run, _ := span.Attributes().Get(annotation.Run)
				s.runs[run.Str()]++
			}
		}
	}
	return ptraceotlp.NewExportResponse(), nil
}

func (s *traceStore) spans(run string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runs[run]
}

// waitJudged waits until the gateway and the reference have each counted
// n spans of the run, and the trace store has them, annotated.
func (s *staging) waitJudged(t *testing.T, run string, n int) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		for _, api := range []string{s.api, "http://" + s.reference.apiAddr} {
			var v verdict
			require.Equal(c, http.StatusOK, getJSON(c, http.MethodGet, api+"/v1/runs/"+run, &v))
			_, _, spans := v.gate("every-span")
			assert.Equal(c, n, spans, api)
		}
		assert.Equal(c, n, s.store.spans(run), "spans in the trace store")
	}, 60*time.Second, 100*time.Millisecond)
}

// finish finishes the run at the gateway and at the reference, and checks
// that their verdicts are the same.
func (s *staging) finish(t *testing.T, run string) {
	t.Helper()
	var gateway, reference map[string]any
	require.Equal(t, http.StatusOK, getJSON(t, http.MethodPost, s.api+"/v1/runs/"+run+"/finish", &gateway))
	require.Equal(t, http.StatusOK, getJSON(t, http.MethodPost, "http://"+s.reference.apiAddr+"/v1/runs/"+run+"/finish", &reference))
	assertSameVerdict(t, reference, gateway)
}

// arrivalKeys are the parts of a verdict that depend on when its spans
// arrived rather than on which spans arrived.
var arrivalKeys = []string{"started_at", "last_span_at", "finished_at", "failed_at", "elapsed_ms"}

func withoutArrival(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			if !slices.Contains(arrivalKeys, k) {
				out[k] = withoutArrival(x)
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = withoutArrival(x)
		}
		return out
	default:
		return v
	}
}

// assertSameVerdict checks that two verdicts of a run (the API's JSON)
// agree on everything but the times: the run's status, and every gate's
// status, counts, observed values and reason. Exemplars, the first
// violating spans in the order they arrived, are the same spans when the
// gate kept every violation; otherwise as many.
func assertSameVerdict(t *testing.T, want, got map[string]any) {
	t.Helper()
	exemplars := func(v map[string]any) map[string][]any {
		out := map[string][]any{}
		gates, _ := v["gates"].([]any)
		for _, g := range gates {
			g := g.(map[string]any)
			out[g["name"].(string)], _ = g["exemplars"].([]any)
			delete(g, "exemplars")
		}
		return out
	}
	want, got = withoutArrival(want).(map[string]any), withoutArrival(got).(map[string]any)
	// Where a collector serves the run's page, not the verdict: the
	// reference collector has a public_url, the gateway none.
	delete(want, "url")
	delete(got, "url")
	wantExemplars, gotExemplars := exemplars(want), exemplars(got)
	assert.Equal(t, want, got)
	gates, _ := want["gates"].([]any)
	for _, g := range gates {
		g := g.(map[string]any)
		name := g["name"].(string)
		w, x := wantExemplars[name], gotExemplars[name]
		if violations, ok := g["violations"].(float64); ok && int(violations) == len(w) {
			assert.ElementsMatch(t, w, x, "exemplars of %s", name)
		} else {
			assert.Len(t, x, len(w), "exemplars of %s", name)
		}
	}
}

// One run's traces go through two pods, each trace's frontend spans
// through one sidecar and its backend spans through the other: the
// gateway's verdict is the reference's, gate by gate.
func TestTopologyVerdicts(t *testing.T) {
	s := startStaging(t)
	const run = "topology-split"
	for from := 0; from < 40; from += 10 {
		s.send(t, run, from, 10)
	}
	s.waitJudged(t, run, 160)
	s.finish(t, run)

	// The run is not all one outcome, so the comparison covered both.
	var v verdict
	require.Equal(t, http.StatusOK, getJSON(t, http.MethodGet, s.api+"/v1/runs/"+run, &v))
	assert.Equal(t, "failed", v.Status)
	for gate, want := range map[string]string{
		"checkout-latency":    "failed",
		"cart-errors":         "failed",
		"cart-query-latency":  "failed",
		"cart-call-addressed": "failed",
		"every-span":          "passed",
		"never-matches":       "passed",
		// Trace gates, over the spans of both pods.
		"checkout-calls-cart-once":    "passed",
		"cart-queries-under-checkout": "failed",
	} {
		status, reason, _ := v.gate(gate)
		assert.Equal(t, want, status, "%s: %s", gate, reason)
	}
}

// A sidecar restarted in the middle of a run, and the gateway away while
// spans keep coming, lose no span of a run that finishes after they are
// back: the gateway counts every span sent, and its verdict is the
// reference's.
func TestTopologyRecovers(t *testing.T) {
	s := startStaging(t)
	const run = "topology-recovery"

	// The frontend's sidecar is stopped right after its spans were
	// accepted, as a pod's rollout stops it, and started again on the same
	// configuration.
	s.send(t, run, 0, 10)
	s.frontend.stop(t)
	s.frontend.start(t)
	s.send(t, run, 10, 10)
	s.waitJudged(t, run, 80)

	// The gateway goes away; spans keep coming to both sidecars, which hold
	// them and retry.
	s.gateway.stop(t)
	s.send(t, run, 20, 10)
	for _, sidecar := range []*shippedCollector{s.frontend, s.backend} {
		require.Eventually(t, func() bool {
			return strings.Contains(sidecar.output.String(), "Exporting failed. Will retry the request after interval.")
		}, 30*time.Second, 50*time.Millisecond, "the sidecar holds the spans")
	}
	assert.Equal(t, 80, s.store.spans(run), "nothing passed the gateway while it was away")

	// It comes back on the same storage: the run goes on with its counts,
	// and the held spans arrive.
	s.gateway.start(t)
	s.waitJudged(t, run, 120)
	s.finish(t, run)
	var v verdict
	require.Equal(t, http.StatusOK, getJSON(t, http.MethodGet, s.api+"/v1/runs/"+run, &v))
	_, _, spans := v.gate("every-span")
	assert.Equal(t, 120, spans, "every span sent was judged")
	for _, sidecar := range []*shippedCollector{s.frontend, s.backend} {
		assert.Zero(t, selfMetric(t, sidecar.metricsURL, "otelcol_exporter_send_failed_spans"))
		assert.Zero(t, selfMetric(t, sidecar.metricsURL, "otelcol_exporter_enqueue_failed_spans"))
	}
}
