// Command e2ebench measures what releasegate costs a running collector: the
// built distribution is fed by telemetrygen at a fixed rate for a fixed
// number of spans, once with the pipeline of e2e/with.yaml (20 gates, the
// releasegate processor and exporter) and once with e2e/without.yaml (the
// same pipeline without them), and the collector's CPU time is read from
// /proc. `make bench-e2e` runs it.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat times.
const clockTicks = 100

func main() {
	collector := flag.String("collector", "../bin/otelcol-releasegate", "the built distribution")
	telemetrygen := flag.String("telemetrygen", "../.tools/telemetrygen", "telemetrygen")
	workers := flag.Int("workers", 2, "telemetrygen workers")
	spans := flag.Int("spans", 200000, "spans sent to each collector")
	spanRate := flag.Int("rate", 20000, "spans per second")
	children := flag.Int("child-spans", 1, "server spans per trace, under one client span; "+
		"the gates match the client span and the first server span, so 1 gates every span and 19 one span in ten")
	rounds := flag.Int("rounds", 3, "rounds, each measuring both pipelines")
	flag.Parse()

	// telemetrygen's --rate paces spans, not traces.
	perTrace := 1 + *children
	traces, rate := *spans / *workers / perTrace, max(*spanRate / *workers, 1)
	results := map[string][]float64{}
	for round := range *rounds {
		for _, pipeline := range []string{"without", "with"} {
			cpu, err := measure(*collector, *telemetrygen, pipeline, *workers, traces, rate, *children)
			if err != nil {
				fmt.Fprintf(os.Stderr, "e2ebench: %s: %v\n", pipeline, err)
				os.Exit(1)
			}
			results[pipeline] = append(results[pipeline], cpu/(float64(*spans)/1e6))
		}
		fmt.Fprintf(os.Stderr, "round %d: without %.2f, with %.2f CPU s per million spans\n",
			round+1, results["without"][round], results["with"][round])
	}
	without, with := median(results["without"]), median(results["with"])
	fmt.Printf("%d spans at %d spans/s (%d workers of telemetrygen, %d spans a trace, %.0f%% of them gated), median of %d rounds\n\n",
		*spans, *spanRate, *workers, perTrace, 200/float64(perTrace), *rounds)
	fmt.Println("| pipeline | collector CPU s per million spans |")
	fmt.Println("|---|---:|")
	fmt.Printf("| otlp → batch → nop | %.2f |\n", without)
	fmt.Printf("| otlp → releasegate → batch → [releasegate, nop], 20 gates | %.2f |\n", with)
	fmt.Printf("\nwith ÷ without: %.3f×\n", with/without)
}

func median(xs []float64) float64 {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	if n := len(xs); n%2 == 0 {
		return (xs[n/2-1] + xs[n/2]) / 2
	}
	return xs[len(xs)/2]
}

// measure runs the collector on e2e/<pipeline>.yaml, sends the spans, and
// returns the CPU seconds the collector spent on them.
func measure(collector, telemetrygen, pipeline string, workers, traces, rate, children int) (float64, error) {
	otlp, api := freePort(), freePort()
	cmd := exec.Command(collector, "--config", pipeline+".yaml")
	cmd.Dir = "e2e"
	cmd.Env = append(os.Environ(), "OTLP_PORT="+strconv.Itoa(otlp), "API_PORT="+strconv.Itoa(api))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	endpoint := fmt.Sprintf("127.0.0.1:%d", otlp)
	if err := waitListening(endpoint); err != nil {
		return 0, err
	}
	time.Sleep(time.Second) // start-up work is not what is measured
	before, err := cpuSeconds(cmd.Process.Pid)
	if err != nil {
		return 0, err
	}
	gen := exec.Command(telemetrygen, "traces", "--otlp-insecure", "--otlp-endpoint", endpoint,
		"--workers", strconv.Itoa(workers), "--traces", strconv.Itoa(traces), "--rate", strconv.Itoa(rate),
		"--child-spans", strconv.Itoa(children),
		"--otlp-attributes", `cicd.pipeline.run.id="bench"`)
	if out, err := gen.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("telemetrygen: %v\n%s", err, out)
	}
	time.Sleep(2 * time.Second) // the last batches go through
	after, err := cpuSeconds(cmd.Process.Pid)
	return after - before, err
}

// cpuSeconds is the user and system time of a process, from
// /proc/<pid>/stat (fields 14 and 15).
func cpuSeconds(pid int) (float64, error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which may hold spaces: state is the first.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("unexpected /proc stat: %s", data)
	}
	utime, err1 := strconv.ParseFloat(fields[11], 64)
	stime, err2 := strconv.ParseFloat(fields[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc stat: %s", data)
	}
	return (utime + stime) / clockTicks, nil
}

func waitListening(addr string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			return c.Close()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("collector not listening on %s after 30s", addr)
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
