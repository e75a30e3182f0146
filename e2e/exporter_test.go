package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type verdict struct {
	Run      string `json:"run"`
	Status   string `json:"status"`
	Finished bool   `json:"finished"`
	Gates    []struct {
		Name      string `json:"name"`
		Status    string `json:"status"`
		Spans     int    `json:"spans"`
		Reason    string `json:"reason"`
		Exemplars []struct {
			TraceID string `json:"trace_id"`
		} `json:"exemplars"`
	} `json:"gates"`
}

func (v verdict) gate(name string) (status, reason string, spans int) {
	for _, g := range v.Gates {
		if g.Name == name {
			return g.Status, g.Reason, g.Spans
		}
	}
	return "", "", 0
}

func getJSON(t require.TestingT, method, u string, out any) int {
	req, err := http.NewRequest(method, u, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(body, out), string(body))
	return resp.StatusCode
}

// One good and one bad run through the built distribution: the CI step
// (releasegate wait) passes the first and fails the second, the verdict API
// explains both, and a real Prometheus scraping /metrics sees the failure.
func TestVerdicts(t *testing.T) {
	sink := newOTLPSink(t)
	col := startCollector(t, collectorFiles(t, "gates.yaml"), sink.URL)
	col.waitReady(t)
	prometheus := startPrometheus(t, col.apiAddr)
	api := "http://" + col.apiAddr

	// Each run is a commit of acme/shop.
	const goodSHA, badSHA = "1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222"
	repo := `vcs.repository.url.full="https://github.com/acme/shop"`
	telemetrygen(t, col.otlpGRPC, "--traces", "3", "--span-duration", "10ms",
		"--otlp-attributes", `cicd.pipeline.run.id="e2e-good"`, "--otlp-attributes", repo,
		"--otlp-attributes", `vcs.ref.head.revision="`+goodSHA+`"`,
		"--telemetry-attributes", "http.response.status_code=200")
	telemetrygen(t, col.otlpGRPC, "--traces", "3", "--span-duration", "200ms", "--status-code", "Error",
		"--otlp-attributes", `cicd.pipeline.run.id="e2e-bad"`, "--otlp-attributes", repo,
		"--otlp-attributes", `vcs.ref.head.revision="`+badSHA+`"`,
		"--telemetry-attributes", "http.response.status_code=503")
	sink.waitSpans(t, 12)

	// The bad run's no-errors gate fails fast, before the run finishes.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var v verdict
		require.Equal(c, http.StatusOK, getJSON(c, http.MethodGet, api+"/v1/runs/e2e-bad", &v))
		assert.False(c, v.Finished)
		status, _, spans := v.gate("no-errors")
		assert.Equal(c, 3, spans)
		assert.Equal(c, "failed", status)
		assert.Equal(c, "failed", v.Status)
	}, 10*time.Second, 100*time.Millisecond)

	// The CI step: finish the run, print the verdict, exit 0 when it
	// passed, 1 when it failed.
	out, code := gate(t, api, "e2e-good")
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "\n✓ passed 5 of 5 gates passed\n")
	out, code = gate(t, api, "e2e-bad")
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, "\n✗ failed 3 of 5 gates failed\n")

	var good, bad verdict
	getJSON(t, http.MethodGet, api+"/v1/runs/e2e-good", &good)
	getJSON(t, http.MethodGet, api+"/v1/runs/e2e-bad", &bad)
	assert.True(t, good.Finished)
	assert.Equal(t, "passed", good.Status)
	for _, g := range good.Gates {
		assert.Equal(t, "passed", g.Status, "%s: %s", g.Name, g.Reason)
	}
	status, reason, _ := bad.gate("server-latency")
	assert.Equal(t, "failed", status)
	assert.Equal(t, "failed: violations 3 > 0 (3 of 3 spans violated duration < 100ms)", reason)
	status, reason, _ = bad.gate("server-status")
	assert.Equal(t, "failed", status)
	assert.Equal(t, `failed: violations 3 > 0 (3 of 3 spans violated attributes["http.response.status_code"] < 500)`, reason)
	status, _, _ = bad.gate("client-peer-named")
	assert.Equal(t, "passed", status)
	for _, g := range bad.Gates {
		if g.Status == "failed" {
			assert.NotEmpty(t, g.Exemplars, g.Name)
		}
	}

	// GitHub got a pending status for every gate and for the run when the
	// run opened, then the final state, in that order, on the run's commit.
	contexts := []string{"releasegate/server-latency", "releasegate/server-status", "releasegate/no-errors",
		"releasegate/client-peer-named", "releasegate/never-matches", "releasegate"}
	wantFinal := map[string]map[string]string{
		goodSHA: {"releasegate": "success"},
		badSHA: {"releasegate": "failure", "releasegate/server-latency": "failure", "releasegate/server-status": "failure",
			"releasegate/no-errors": "failure"},
	}
	for sha, finals := range wantFinal {
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			statuses := col.github.Received(sha)
			require.Len(c, statuses, 2*len(contexts))
			for _, ctx := range contexts {
				var states []string
				for _, s := range statuses {
					if s.Context == ctx {
						states = append(states, s.State)
						assert.Equal(c, "acme/shop", s.Repo)
						assert.LessOrEqual(c, len([]rune(s.Description)), 140)
					}
				}
				final := finals[ctx]
				if final == "" {
					final = "success"
				}
				assert.Equal(c, []string{"pending", final}, states, ctx)
			}
		}, 10*time.Second, 100*time.Millisecond)
	}
	for _, s := range col.github.Received(badSHA) {
		if s.Context == "releasegate/server-latency" && s.State == "failure" {
			assert.Equal(t, "failed: violations 3 > 0 (3 of 3 spans violated duration < 100ms)", s.Description)
			assert.Equal(t, "http://"+col.apiAddr+"/runs/e2e-bad#gate-server-latency", s.TargetURL, "the gate's row on the run's page")
		}
	}

	// A JUnit report per finished run, in the collector's directory.
	report, err := os.ReadFile(filepath.Join(col.cmd.Dir, "junit", "e2e-bad.xml"))
	require.NoError(t, err)
	assert.Contains(t, string(report), `<testcase name="server-latency"`)
	assert.Contains(t, string(report), `failures="3"`)

	// The runs list, newest first.
	var list struct{ Runs []verdict }
	getJSON(t, http.MethodGet, api+"/v1/runs", &list)
	require.Len(t, list.Runs, 2)
	assert.Equal(t, "e2e-bad", list.Runs[0].Run)

	// Prometheus, through its own query API.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Equal(c, 1.0, promQuery(c, prometheus, `releasegate_gate_status{run="e2e-bad",gate="server-latency",status="failed"}`))
		assert.Equal(c, 1.0, promQuery(c, prometheus, `releasegate_run_status{run="e2e-bad",status="failed"}`))
		assert.Equal(c, 1.0, promQuery(c, prometheus, `releasegate_run_status{run="e2e-good",status="passed"}`))
		assert.Equal(c, 3.0, promQuery(c, prometheus, `releasegate_gate_violations_total{run="e2e-bad",gate="server-latency"}`))
	}, 30*time.Second, 500*time.Millisecond)

	// promtool finds nothing to report on the scrape.
	resp, err := http.Get(api + "/metrics")
	require.NoError(t, err)
	scrape, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	check := exec.Command(tool(t, "PROMTOOL"), "check", "metrics")
	check.Stdin = bytes.NewReader(scrape)
	lint, err := check.CombinedOutput()
	require.NoError(t, err, string(lint))
	assert.Empty(t, string(lint))
}

// gate runs the CI step README shows, the built `releasegate wait RUN
// --finish`, with env added to its environment, and returns its output
// and exit code.
func gate(t *testing.T, api, run string, env ...string) (string, int) {
	t.Helper()
	out, code := releasegate(t, append([]string{"RELEASEGATE_URL=" + api}, env...), "wait", run, "--finish", "--settle", "0")
	return out, code
}

// releasegate runs the built releasegate command with env added to its
// environment, and returns its output, stdout then stderr, and exit code.
func releasegate(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	stdout, stderr, code := runReleasegate(t, env, args...)
	return stdout + stderr, code
}

// runReleasegate runs the built releasegate command with env added to its
// environment, and returns its stdout, its stderr and its exit code.
func runReleasegate(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool(t, "RELEASEGATE_CLI"), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		require.NoError(t, err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

// promQuery returns the value of a query that selects one series.
func promQuery(t require.TestingT, base, query string) float64 {
	var resp struct {
		Status string
		Data   struct {
			Result []struct {
				Value []any
			}
		}
	}
	getJSON(t, http.MethodGet, base+"/api/v1/query?query="+url.QueryEscape(query), &resp)
	require.Equal(t, "success", resp.Status)
	require.Len(t, resp.Data.Result, 1, fmt.Sprintf("query %s", query))
	v, err := strconv.ParseFloat(resp.Data.Result[0].Value[1].(string), 64)
	require.NoError(t, err)
	return v
}
