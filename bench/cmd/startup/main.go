// Command startup measures what a gates document costs the built
// distribution at start-up: for documents of each size given, the time
// from starting the collector (the releasegate processor and exporter on
// one document) until its health check answers ready, and its peak
// resident memory by then. `make bench-startup` runs it.
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/releasegate/releasegate/bench/internal/proc"
)

const collectorConfig = `
extensions:
  health_check:
    endpoint: 127.0.0.1:${env:HEALTH_PORT}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:${env:OTLP_PORT}
processors:
  releasegate:
    gates: ${file:gates.yaml}
exporters:
  releasegate:
    gates: ${file:gates.yaml}
    server:
      endpoint: 127.0.0.1:${env:API_PORT}
  nop:
service:
  extensions: [health_check]
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      processors: [releasegate]
      exporters: [releasegate, nop]
`

func main() {
	collector := flag.String("collector", "../bin/otelcol-releasegate", "the built distribution")
	sizes := flag.String("gates", "1000,10000", "document sizes, in gates")
	rounds := flag.Int("rounds", 3, "starts per size; the median is shown")
	flag.Parse()

	fmt.Println("| gates | start-up to ready (median) | peak RSS |")
	fmt.Println("|---:|---:|---:|")
	for field := range strings.SplitSeq(*sizes, ",") {
		n, err := strconv.Atoi(field)
		if err != nil {
			fail(err)
		}
		var times []time.Duration
		var rss int64
		for range *rounds {
			d, peak, err := start(*collector, n)
			if err != nil {
				fail(err)
			}
			times = append(times, d)
			rss = max(rss, peak)
		}
		slices.Sort(times)
		fmt.Printf("| %d | %.2f s | %d MiB |\n", n, times[len(times)/2].Seconds(), rss>>20)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "startup:", err)
	os.Exit(1)
}

// gates writes n gates as teams write them: a pinned match, an assert and
// a fail condition each.
func gates(n int) string {
	var b strings.Builder
	b.WriteString("gates:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: gate-%d\n    match: name == \"POST /orders-%d\" && resource[\"service.name\"] == \"svc-%d\"\n", i, i, i%10)
		b.WriteString("    assert: duration < duration(\"300ms\")\n    fail: p95 > duration(\"250ms\") || violation_ratio > 0.01\n")
	}
	return b.String()
}

// start starts the collector on a document of n gates and returns how long
// it took to be ready, and its peak RSS then.
func start(collector string, n int) (time.Duration, int64, error) {
	dir, err := os.MkdirTemp("", "startup")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "gates.yaml"), []byte(gates(n)), 0o600); err != nil {
		return 0, 0, err
	}
	if err := os.WriteFile(filepath.Join(dir, "collector.yaml"), []byte(collectorConfig), 0o600); err != nil {
		return 0, 0, err
	}
	health := proc.FreePort()
	cmd := exec.Command(collector, "--config", "collector.yaml")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HEALTH_PORT="+strconv.Itoa(health),
		"OTLP_PORT="+strconv.Itoa(proc.FreePort()), "API_PORT="+strconv.Itoa(proc.FreePort()))
	var output strings.Builder
	cmd.Stdout, cmd.Stderr = &output, &output
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	url := fmt.Sprintf("http://127.0.0.1:%d/", health)
	for time.Since(begin) < 5*time.Minute {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				took := time.Since(begin)
				rss, err := proc.PeakRSS(cmd.Process.Pid)
				return took, rss, err
			}
		}
		if cmd.ProcessState != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0, 0, fmt.Errorf("%d gates: not ready:\n%s", n, output.String())
}
