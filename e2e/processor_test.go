package e2e

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/releasegate/releasegate/annotation"
)

// Spans from telemetrygen go through the built distribution; the ones that
// arrive at the other end carry the annotation contract.
func TestProcessorAnnotatesSpans(t *testing.T) {
	sink := newOTLPSink(t)
	col := startCollector(t, collectorFiles(t, "gates.yaml"), sink.URL)
	col.waitReady(t)

	// Each telemetrygen trace is a client span with one server child span.
	telemetrygen(t, col.otlpGRPC, "--traces", "3", "--span-duration", "10ms",
		"--otlp-attributes", `cicd.pipeline.run.id="e2e-good"`,
		"--telemetry-attributes", "http.response.status_code=200")
	telemetrygen(t, col.otlpGRPC, "--traces", "3", "--span-duration", "200ms", "--status-code", "Error",
		"--otlp-attributes", `cicd.pipeline.run.id="e2e-bad"`,
		"--telemetry-attributes", "http.response.status_code=503")
	telemetrygen(t, col.otlpGRPC, "--traces", "2") // no run id

	spans := sink.waitSpans(t, 16)
	counts := map[string]int{}
	for _, span := range spans {
		run, _ := span.resource["cicd.pipeline.run.id"].(string)
		key := run + "/" + span.Kind().String()
		counts[key]++
		annotations := annotationsOf(span.Span)
		switch key {
		case "e2e-good/Server":
			assert.Equal(t, map[string]any{
				annotation.Run:                    "e2e-good",
				"releasegate.gate.server-latency": "passed",
				"releasegate.gate.server-status":  "passed",
				"releasegate.gate.no-errors":      "passed",
			}, annotations)
		case "e2e-bad/Server":
			assert.Equal(t, map[string]any{
				annotation.Run:                    "e2e-bad",
				"releasegate.gate.server-latency": "violated",
				"releasegate.gate.server-status":  "violated",
				"releasegate.gate.no-errors":      "violated",
			}, annotations)
		case "e2e-good/Client", "e2e-bad/Client":
			assert.Equal(t, map[string]any{
				annotation.Run:                       run,
				"releasegate.gate.client-peer-named": "passed",
			}, annotations)
		case "/Server", "/Client":
			assert.Empty(t, annotations, "a span without a run key is passed on un-gated")
		default:
			t.Errorf("unexpected span %s", key)
		}
		_, ok := span.Attributes().Get("network.peer.address")
		assert.True(t, ok, "the span's own attributes are kept")
	}
	assert.Equal(t, map[string]int{
		"e2e-good/Server": 3, "e2e-good/Client": 3,
		"e2e-bad/Server": 3, "e2e-bad/Client": 3,
		"/Server": 2, "/Client": 2,
	}, counts)

	// The processor's self-telemetry, scraped from the collector.
	metrics := scrape(t, col.metricsURL)
	assert.Equal(t, 16.0, metrics[`otelcol_processor_releasegate_spans`])
	assert.Equal(t, 4.0, metrics[`otelcol_processor_releasegate_spans_without_run`])
	assert.Equal(t, 6.0, metrics[`otelcol_processor_releasegate_gate_matches{gate="server-latency"}`])
	assert.Equal(t, 3.0, metrics[`otelcol_processor_releasegate_gate_violations{gate="server-latency"}`])
	assert.Equal(t, 6.0, metrics[`otelcol_processor_releasegate_gate_matches{gate="client-peer-named"}`])
}

func annotationsOf(span ptrace.Span) map[string]any {
	out := map[string]any{}
	for k, v := range span.Attributes().All() {
		if strings.HasPrefix(k, "releasegate.") {
			out[k] = v.AsRaw()
		}
	}
	return out
}

// scrape reads a Prometheus text endpoint into series (with the labels
// other than the collector's own resource labels) and values.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	var out map[string]float64
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		resp, err := http.Get(url)
		require.NoError(c, err)
		defer resp.Body.Close()
		out = map[string]float64{}
		lines := bufio.NewScanner(resp.Body)
		for lines.Scan() {
			line := lines.Text()
			if line == "" || line[0] == '#' {
				continue
			}
			i := strings.LastIndexByte(line, ' ')
			v, err := strconv.ParseFloat(line[i+1:], 64)
			require.NoError(c, err)
			out[series(line[:i])] = v
		}
		require.Contains(c, out, "otelcol_processor_releasegate_spans")
	}, 10*time.Second, 200*time.Millisecond)
	return out
}

// series keeps a metric's name and its gate label, dropping the rest.
func series(s string) string {
	name, labels, ok := strings.Cut(s, "{")
	if !ok {
		return name
	}
	for _, l := range strings.Split(strings.TrimSuffix(labels, "}"), ",") {
		if strings.HasPrefix(l, "gate=") {
			return name + "{" + l + "}"
		}
	}
	return name
}
