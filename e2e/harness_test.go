// Package e2e tests the built otelcol-releasegate distribution from the
// outside: real OTLP clients in, real exporters out. `make e2e` builds the
// binary and installs telemetrygen first, and passes their paths in
// RELEASEGATE_BINARY and TELEMETRYGEN.
package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/releasegate/releasegate/internal/fakehost"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// tool returns the path of an executable named by an environment variable.
// Outside `make e2e` a missing tool skips the test; under it, fails it.
func tool(t *testing.T, env string) string {
	t.Helper()
	path := os.Getenv(env)
	if path == "" {
		if os.Getenv("RELEASEGATE_E2E") != "" {
			t.Fatalf("%s is not set", env)
		}
		t.Skipf("%s is not set: run the end-to-end tests with `make e2e`", env)
	}
	_, err := os.Stat(path)
	require.NoError(t, err, "%s", env)
	return path
}

// freePort returns a port free on loopback for a process the test starts.
// It is drawn below Linux's ephemeral range (32768 and up), from which the
// kernel gives ports to outgoing connections: a port from there can be
// taken by some client's connection between the test's check and the
// process's listen. No port is handed out twice.
func freePort(t *testing.T) int {
	t.Helper()
	ports.Lock()
	defer ports.Unlock()
	for range 1000 {
		port := 20000 + rand.IntN(12000)
		if ports.given[port] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		ports.given[port] = true
		return port
	}
	t.Fatal("no free port in 20000-31999")
	return 0
}

var ports = struct {
	sync.Mutex
	given map[int]bool
}{given: map[int]bool{}}

// syncBuffer collects a process's output while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// collector is a running otelcol-releasegate.
type collector struct {
	cmd         *exec.Cmd
	output      *syncBuffer
	otlpGRPC    string
	metricsURL  string // the collector's own telemetry
	apiAddr     string // the releasegate exporter's API and /metrics
	github      *fakehost.GitHub
	exited      chan struct{}
	exitErr     error
	healthCheck string
}

// collectorFiles copies the collector config and a gates file, as
// gates.yaml, into a fresh directory for the collector to start in.
func collectorFiles(t *testing.T, gates string) string {
	t.Helper()
	dir := t.TempDir()
	for src, dst := range map[string]string{"collector.yaml": "collector.yaml", gates: "gates.yaml"} {
		data, err := os.ReadFile(filepath.Join("..", "testdata", src))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, dst), data, 0o600))
	}
	return dir
}

// startCollector starts the distribution in dir with the given sink endpoint.
func startCollector(t *testing.T, dir, sinkEndpoint string) *collector {
	t.Helper()
	c := &collector{output: &syncBuffer{}, exited: make(chan struct{}), github: newFakeGitHub(t)}
	grpcPort, healthPort, metricsPort, apiPort := freePort(t), freePort(t), freePort(t), freePort(t)
	c.otlpGRPC = fmt.Sprintf("127.0.0.1:%d", grpcPort)
	c.metricsURL = fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)
	c.healthCheck = fmt.Sprintf("http://127.0.0.1:%d/", healthPort)
	c.apiAddr = fmt.Sprintf("127.0.0.1:%d", apiPort)

	c.cmd = exec.Command(tool(t, "RELEASEGATE_BINARY"), "--config", "collector.yaml")
	c.cmd.Dir = dir
	c.cmd.Env = append(os.Environ(),
		"OTLP_GRPC_PORT="+strconv.Itoa(grpcPort),
		"HEALTH_PORT="+strconv.Itoa(healthPort),
		"METRICS_PORT="+strconv.Itoa(metricsPort),
		"API_PORT="+strconv.Itoa(apiPort),
		"SINK_ENDPOINT="+sinkEndpoint,
		"GITHUB_ENDPOINT="+c.github.URL,
		"GITHUB_TOKEN="+githubToken,
	)
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
			t.Logf("collector output:\n%s", c.output.String())
		}
	})
	return c
}

// waitReady waits until the health check says the collector is ready.
func (c *collector) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-c.exited:
			t.Fatalf("collector exited: %v\n%s", c.exitErr, c.output.String())
		default:
		}
		resp, err := http.Get(c.healthCheck)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("collector not ready after 30s\n%s", c.output.String())
}

// waitExit waits for the collector to stop by itself.
func (c *collector) waitExit(t *testing.T) error {
	t.Helper()
	select {
	case <-c.exited:
		return c.exitErr
	case <-time.After(30 * time.Second):
		t.Fatalf("collector still running after 30s\n%s", c.output.String())
		return nil
	}
}

// otlpSink is an OTLP/HTTP traces endpoint that keeps what it receives.
type otlpSink struct {
	*httptest.Server
	mu     sync.Mutex
	traces []ptrace.Traces
}

func newOTLPSink(t *testing.T) *otlpSink {
	t.Helper()
	s := &otlpSink{}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serveTraces))
	t.Cleanup(s.Close)
	return s
}

func (s *otlpSink) serveTraces(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = gz
	}
	data, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(data); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.traces = append(s.traces, req.Traces())
	s.mu.Unlock()
	resp, _ := ptraceotlp.NewExportResponse().MarshalProto()
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(resp)
}

// spans returns every span received so far with its resource.
func (s *otlpSink) spans() []receivedSpan {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []receivedSpan
	for _, td := range s.traces {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, span := range ss.Spans().All() {
					out = append(out, receivedSpan{Span: span, resource: rs.Resource().Attributes().AsRaw()})
				}
			}
		}
	}
	return out
}

type receivedSpan struct {
	ptrace.Span
	resource map[string]any
}

// waitSpans waits until the sink holds n spans.
func (s *otlpSink) waitSpans(t *testing.T, n int) []receivedSpan {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		spans := s.spans()
		if len(spans) >= n || time.Now().After(deadline) {
			require.Len(t, spans, n)
			return spans
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// telemetrygen sends traces to the collector with the given extra flags.
func telemetrygen(t *testing.T, endpoint string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	args = append([]string{"traces", "--otlp-insecure", "--otlp-endpoint", endpoint, "--rate", "0"}, args...)
	out, err := exec.CommandContext(ctx, tool(t, "TELEMETRYGEN"), args...).CombinedOutput()
	require.NoError(t, err, "telemetrygen %v:\n%s", args, out)
}

// startPrometheus starts a Prometheus server that scrapes target every
// second and returns its base URL once it is ready.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	return startPrometheusWith(t, fmt.Sprintf("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: releasegate\n    static_configs:\n      - targets: [%q]\n", target))
}

// startPrometheusWith starts a Prometheus server on config and returns its
// base URL once it is ready.
func startPrometheusWith(t *testing.T, config string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o600))
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	output := &syncBuffer{}
	cmd := exec.Command(tool(t, "PROMETHEUS"),
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = output, output
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus output:\n%s", output.String())
		}
	})
	base := "http://" + addr
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		resp, err := http.Get(base + "/-/ready")
		require.NoError(c, err)
		resp.Body.Close()
		assert.Equal(c, http.StatusOK, resp.StatusCode)
	}, 30*time.Second, 200*time.Millisecond)
	return base
}

// selfMetric is the value of a series of the collector's own /metrics, the
// first whose labels include the given name/value pairs; 0 when there is
// none yet.
func selfMetric(t require.TestingT, metricsURL, name string, labels ...string) float64 {
	resp, err := http.Get(metricsURL)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	pattern := `(?m)^` + regexp.QuoteMeta(name) + `(?:_total)?(?:\{`
	for i := 0; i+1 < len(labels); i += 2 {
		pattern += `(?:[^}]*[{,])?` + regexp.QuoteMeta(labels[i]) + `="` + regexp.QuoteMeta(labels[i+1]) + `"`
	}
	pattern += `[^}]*\})? (\S+)$`
	m := regexp.MustCompile(pattern).FindStringSubmatch(string(body))
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	return v
}
