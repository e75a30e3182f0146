package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The same traffic, judged by the collector as it arrives and by
// `releasegate check` from what the collector's file exporter recorded of
// it, in each of its formats: the same verdict, gate by gate, counts,
// observed values and reasons.
func TestCheckJudgesAsTheCollector(t *testing.T) {
	dir := t.TempDir()
	for src, dst := range map[string]string{"check-collector.yaml": "collector.yaml", "topology-gates.yaml": "gates.yaml"} {
		data, err := os.ReadFile(filepath.Join("..", "testdata", src))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, dst), data, 0o600))
	}
	require.NoError(t, os.Mkdir(filepath.Join(dir, "recorded"), 0o755)) // the file exporter creates files, not directories
	c := startCollector(t, dir, "http://127.0.0.1:1")
	c.waitReady(t)

	const run = "r-check"
	// Traces of two services whose spans come in two requests, and
	// telemetrygen's traffic, which only the every-span gate matches.
	frontend, backend := checkoutTraces(run, 0, 120)
	exportTraces(t, c.otlpGRPC, frontend)
	exportTraces(t, c.otlpGRPC, backend)
	telemetrygen(t, c.otlpGRPC, "--traces", "300", "--child-spans", "2",
		"--otlp-attributes", `cicd.pipeline.run.id="`+run+`"`)
	// Every span is in before the run is finished.
	spans := float64(frontend.SpanCount() + backend.SpanCount() + 300*3)
	require.Eventually(t, func() bool {
		var v map[string]any
		if getJSON(t, http.MethodGet, "http://"+c.apiAddr+"/v1/runs/"+run, &v) != http.StatusOK {
			return false
		}
		for _, g := range v["gates"].([]any) {
			if g := g.(map[string]any); g["name"] == "every-span" {
				return g["spans"].(float64) == spans
			}
		}
		return false
	}, 30e9, 100e6)
	var collector map[string]any
	require.Equal(t, http.StatusOK, getJSON(t, http.MethodPost, "http://"+c.apiAddr+"/v1/runs/"+run+"/finish", &collector))
	// Every gate but the one written never to match judged some of it,
	// trace gates included.
	for _, g := range collector["gates"].([]any) {
		g := g.(map[string]any)
		matched, _ := g["spans"].(float64)
		if traces, ok := g["traces"].(float64); ok {
			matched = traces
		}
		if g["name"] != "never-matches" {
			assert.Positive(t, matched, "%s judged nothing", g["name"])
		}
	}
	exitCodes := map[string]int{"passed": 0, "warning": 0, "failed": 1, "inconclusive": 2, "error": 3}
	want, ok := exitCodes[collector["status"].(string)]
	require.True(t, ok, "a final verdict: %v", collector["status"])

	// The file exporter writes everything out as the collector stops.
	require.NoError(t, c.cmd.Process.Signal(os.Interrupt))
	require.NoError(t, c.waitExit(t))

	recorded := filepath.Join(dir, "recorded")
	jsonLines, err := os.ReadFile(filepath.Join(recorded, "traces.jsonl"))
	require.NoError(t, err)
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	_, _ = w.Write(jsonLines)
	require.NoError(t, w.Close())
	require.NoError(t, os.WriteFile(filepath.Join(recorded, "traces.jsonl.gz"), gz.Bytes(), 0o600))

	for _, file := range []string{"traces.jsonl", "traces.proto", "traces.proto.zst", "traces.jsonl.zst", "traces.jsonl.gz"} {
		t.Run(file, func(t *testing.T) {
			out, stderr, code := runReleasegate(t, nil, "check", "--gates", filepath.Join(dir, "gates.yaml"), "--format", "json", filepath.Join(recorded, file))
			assert.Equal(t, want, code, "the exit code of %v: %s", collector["status"], stderr)
			var checked struct{ Runs []map[string]any }
			require.NoError(t, json.Unmarshal([]byte(out), &checked), "%s", out)
			require.Len(t, checked.Runs, 1)
			assertSameVerdict(t, collector, checked.Runs[0])
		})
	}
}
