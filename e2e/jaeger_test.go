package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// jaegerConfig is Jaeger v2 with memory storage: OTLP/gRPC in, the HTTP
// query API out.
const jaegerConfig = `
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:%d
    grpc:
      endpoint: 127.0.0.1:%d
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%d
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`

// jaeger is a running Jaeger.
type jaeger struct {
	otlp  string // OTLP/gRPC endpoint
	query string // base URL of the HTTP query API
}

func startJaeger(t *testing.T) jaeger {
	t.Helper()
	dir := t.TempDir()
	httpPort, grpcPort, otlpPort := freePort(t), freePort(t), freePort(t)
	config := filepath.Join(dir, "jaeger.yaml")
	require.NoError(t, os.WriteFile(config, fmt.Appendf(nil, jaegerConfig, httpPort, grpcPort, otlpPort), 0o600))
	output := &syncBuffer{}
	cmd := exec.Command(tool(t, "JAEGER"), "--config", config)
	cmd.Stdout, cmd.Stderr = output, output
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("jaeger output:\n%s", output.String())
		}
	})
	j := jaeger{otlp: fmt.Sprintf("127.0.0.1:%d", otlpPort), query: fmt.Sprintf("http://127.0.0.1:%d", httpPort)}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		resp, err := http.Get(j.query + "/api/services")
		require.NoError(c, err)
		resp.Body.Close()
		assert.Equal(c, http.StatusOK, resp.StatusCode)
	}, 60*time.Second, 100*time.Millisecond, "jaeger not ready:\n%s", output)
	return j
}

// traceIDs are the ids of the traces Jaeger finds for a service and tags,
// sorted.
func (j jaeger) traceIDs(t require.TestingT, service string, tags map[string]string) []string {
	encoded, err := json.Marshal(tags)
	require.NoError(t, err)
	q := url.Values{"service": {service}, "tags": {string(encoded)}, "limit": {"1000"}, "lookback": {"1h"}}
	var answer struct {
		Data []struct {
			TraceID string `json:"traceID"`
		} `json:"data"`
		Errors any `json:"errors"`
	}
	require.Equal(t, http.StatusOK, getJSON(t, http.MethodGet, j.query+"/api/traces?"+q.Encode(), &answer))
	require.Nil(t, answer.Errors)
	ids := make([]string, 0, len(answer.Data))
	for _, d := range answer.Data {
		ids = append(ids, d.TraceID)
	}
	slices.Sort(ids)
	return ids
}

// jaegerCollector is the collector of a staging environment: the
// releasegate processor and exporter, and the annotated spans exported to
// Jaeger (${env:SINK_ENDPOINT}).
const jaegerCollector = `
extensions:
  health_check:
    endpoint: 127.0.0.1:${env:HEALTH_PORT}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:${env:OTLP_GRPC_PORT}
processors:
  releasegate:
    gates: ${file:gates.yaml}
  batch:
    timeout: 100ms
exporters:
  releasegate:
    gates: ${file:gates.yaml}
    server:
      endpoint: 127.0.0.1:${env:API_PORT}
    run_idle_timeout: 1h
  otlp_grpc:
    endpoint: ${env:SINK_ENDPOINT}
    tls:
      insecure: true
service:
  extensions: [health_check]
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      processors: [releasegate, batch]
      exporters: [releasegate, otlp_grpc]
`

// Annotated spans are searchable in a real Jaeger by one tag per gate:
// releasegate.gate.<name>=violated finds exactly the traces whose spans
// broke the gate, the ones the verdict gives as exemplars; =passed the
// others.
func TestAnnotationsSearchableInJaeger(t *testing.T) {
	j := startJaeger(t)
	dir := collectorFiles(t, "gates.yaml")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "collector.yaml"), []byte(jaegerCollector), 0o600))
	col := startCollector(t, dir, j.otlp)
	col.waitReady(t)

	const run = "e2e-jaeger"
	// Three fast traces, three slow ones that break server-latency (100ms),
	// and two without a run id, never annotated.
	telemetrygen(t, col.otlpGRPC, "--traces", "3", "--span-duration", "20ms",
		"--otlp-attributes", `cicd.pipeline.run.id="`+run+`"`, "--telemetry-attributes", "http.response.status_code=200")
	telemetrygen(t, col.otlpGRPC, "--traces", "3", "--span-duration", "200ms",
		"--otlp-attributes", `cicd.pipeline.run.id="`+run+`"`, "--telemetry-attributes", "http.response.status_code=200")
	telemetrygen(t, col.otlpGRPC, "--traces", "2", "--span-duration", "200ms")

	// Every trace reaches Jaeger.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Len(c, j.traceIDs(c, "telemetrygen", nil), 8)
	}, 30*time.Second, 200*time.Millisecond)

	var v verdict
	require.Equal(t, http.StatusOK, getJSON(t, http.MethodPost, "http://"+col.apiAddr+"/v1/runs/"+run+"/finish", &v))
	status, _, spans := v.gate("server-latency")
	require.Equal(t, "failed", status)
	require.Equal(t, 6, spans)
	var violating []string
	for _, g := range v.Gates {
		if g.Name == "server-latency" {
			for _, e := range g.Exemplars {
				violating = append(violating, e.TraceID)
			}
		}
	}
	slices.Sort(violating)
	require.Len(t, violating, 3, "one exemplar per violating span")

	violated := j.traceIDs(t, "telemetrygen", map[string]string{"releasegate.gate.server-latency": "violated"})
	assert.Equal(t, violating, violated, "one tag finds exactly the violating traces")
	passed := j.traceIDs(t, "telemetrygen", map[string]string{"releasegate.gate.server-latency": "passed"})
	assert.Len(t, passed, 3)
	assert.Empty(t, slices.DeleteFunc(slices.Clone(passed), func(id string) bool { return !slices.Contains(violated, id) }),
		"no trace both passed and violated")
	ofRun := j.traceIDs(t, "telemetrygen", map[string]string{"releasegate.run": run})
	assert.Equal(t, slices.Sorted(slices.Values(append(passed, violated...))), ofRun)
	assert.Empty(t, j.traceIDs(t, "telemetrygen", map[string]string{"releasegate.gate.no-errors": "violated"}),
		"no span broke no-errors")
}
