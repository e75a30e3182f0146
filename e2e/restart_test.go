package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/releasegate/releasegate/internal/fakehost"
)

// restartConfig is the collector of the restart tests: the releasegate
// processor and exporter, the exporter keeping its runs and undelivered
// statuses with file_storage in storageDir, posting statuses to github and
// writing JUnit reports.
func restartConfig(github, storageDir string) string {
	return fmt.Sprintf(`
extensions:
  health_check:
    endpoint: 127.0.0.1:${env:HEALTH_PORT}
  file_storage:
    directory: %s
    create_directory: true

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
    storage: file_storage
    github:
      endpoint: %s
      token: ${env:GITHUB_TOKEN}
      retry_on_failure:
        initial_interval: 100ms
        max_interval: 500ms
    junit:
      directory: junit

service:
  extensions: [health_check, file_storage]
  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: ${env:METRICS_PORT}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [releasegate, batch]
      exporters: [releasegate]
`, storageDir, github)
}

// A collector stopped in the middle of a run, killed or shut down, starts
// again on the same file_storage directory: the run goes on with the
// counts from before the stop, and GitHub, down during the stop, gets every
// status once it is back, pending before final for every context.
func TestRestart(t *testing.T) {
	for _, tt := range []struct {
		name string
		stop syscall.Signal
	}{
		{"killed", syscall.SIGKILL},
		{"shut down", syscall.SIGTERM},
	} {
		t.Run(tt.name, func(t *testing.T) {
			testRestart(t, tt.stop)
		})
	}
}

func testRestart(t *testing.T, stop syscall.Signal) {
	github := newFakeGitHub(t)
	github.SetHealth(fakehost.Unavailable)
	dir := collectorFiles(t, "gates.yaml")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "collector.yaml"), []byte(restartConfig(github.URL, filepath.Join(dir, "storage"))), 0o600))
	sha := "3333333333333333333333333333333333333333"
	if stop == syscall.SIGKILL {
		sha = "4444444444444444444444444444444444444444"
	}
	runID := "e2e-restart-" + sha[:4]
	send := func(col *collector, duration string) {
		telemetrygen(t, col.otlpGRPC, "--traces", "3", "--span-duration", duration,
			"--otlp-attributes", `cicd.pipeline.run.id="`+runID+`"`,
			"--otlp-attributes", `vcs.repository.url.full="https://github.com/acme/shop"`,
			"--otlp-attributes", `vcs.ref.head.revision="`+sha+`"`,
			"--telemetry-attributes", "http.response.status_code=200")
	}
	// waitSpans waits until the run holds n spans of server-latency.
	waitSpans := func(col *collector, n int) verdict {
		var v verdict
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			v = verdict{}
			require.Equal(c, http.StatusOK, getJSON(c, http.MethodGet, "http://"+col.apiAddr+"/v1/runs/"+runID, &v))
			_, _, spans := v.gate("server-latency")
			assert.Equal(c, n, spans)
		}, 30*time.Second, 50*time.Millisecond)
		return v
	}

	// First start: three good traces; GitHub is down, so the run's pending
	// statuses stay queued.
	first := startCollector(t, dir, "http://127.0.0.1:1")
	first.waitReady(t)
	send(first, "10ms")
	waitSpans(first, 3)
	require.Eventually(t, func() bool { return github.Answered(http.StatusServiceUnavailable) > 0 }, 10*time.Second, 50*time.Millisecond,
		"the pending statuses were tried")
	// The run is saved with its spans: telemetrygen sent them in one
	// request, recorded at once, so a save counted after they were seen
	// holds them all.
	saved := selfMetric(t, first.metricsURL, "otelcol_exporter_releasegate_runs_saved")
	require.Eventually(t, func() bool {
		return selfMetric(t, first.metricsURL, "otelcol_exporter_releasegate_runs_saved") > saved
	}, 10*time.Second, 50*time.Millisecond)
	require.NoError(t, first.cmd.Process.Signal(stop))
	err := first.waitExit(t)
	if stop == syscall.SIGKILL {
		require.Error(t, err, "killed")
	} else {
		require.NoError(t, err, first.output.String())
		assert.Contains(t, first.output.String(), "left in storage, to deliver after the next start")
		_, err := os.Stat(filepath.Join(dir, "junit", runID+".xml"))
		assert.ErrorIs(t, err, os.ErrNotExist, "the open run was saved, not abandoned")
	}
	assert.Empty(t, github.Received(sha))

	// Second start on the same storage: the run is back, open, with its
	// spans.
	second := startCollector(t, dir, "http://127.0.0.1:1")
	second.waitReady(t)
	v := waitSpans(second, 3) // the spans before the restart
	assert.False(t, v.Finished)
	assert.Contains(t, second.output.String(), "Delivering CI status events left undelivered before the restart")

	// GitHub is back: the pending statuses go out. Three slow traces make
	// server-latency fail; the CI job finishes the run.
	github.SetHealth(fakehost.Healthy)
	send(second, "200ms")
	waitSpans(second, 6)
	require.Equal(t, http.StatusOK, getJSON(t, http.MethodPost, "http://"+second.apiAddr+"/v1/runs/"+runID+"/finish", &v))
	assert.True(t, v.Finished)
	assert.Equal(t, "failed", v.Status)
	status, reason, n := v.gate("server-latency")
	assert.Equal(t, 6, n)
	assert.Equal(t, "failed", status)
	assert.Equal(t, "failed: violations 3 > 0 (3 of 6 spans violated duration < 100ms)", reason)
	for _, g := range []string{"server-status", "no-errors", "client-peer-named"} {
		status, reason, n := v.gate(g)
		assert.Equal(t, "passed", status, reason)
		assert.Equal(t, 6, n, g)
	}

	// Every context got its pending status, then its final one, last and
	// once; a pending status may come twice (at least once delivery), never
	// after the final one.
	finals := map[string]string{"releasegate": "failure", "releasegate/server-latency": "failure"}
	contexts := []string{"releasegate/server-latency", "releasegate/server-status", "releasegate/no-errors",
		"releasegate/client-peer-named", "releasegate/never-matches", "releasegate"}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		statuses := github.Received(sha)
		for _, ctx := range contexts {
			var states []string
			for _, s := range statuses {
				if s.Context == ctx {
					states = append(states, s.State)
				}
			}
			final := finals[ctx]
			if final == "" {
				final = "success"
			}
			if !assert.GreaterOrEqual(c, len(states), 2, ctx) {
				continue
			}
			for _, s := range states[:len(states)-1] {
				assert.Equal(c, "pending", s, "%s: %v", ctx, states)
			}
			assert.Equal(c, final, states[len(states)-1], "%s: %v", ctx, states)
		}
	}, 15*time.Second, 100*time.Millisecond)

	// And nothing is left to deliver at the next start.
	require.NoError(t, second.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, second.waitExit(t))
	assert.NotContains(t, second.output.String(), "left in storage")
	third := startCollector(t, dir, "http://127.0.0.1:1")
	third.waitReady(t)
	assert.NotContains(t, third.output.String(), "left undelivered before the restart")
	require.Equal(t, http.StatusOK, getJSON(t, http.MethodGet, "http://"+third.apiAddr+"/v1/runs/"+runID, &v))
	assert.True(t, v.Finished, "a finished run stays visible after a restart")
	assert.Equal(t, "failed", v.Status)
}
