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
	"os"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/releasegate/releasegate/bench/internal/proc"
)

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
	otlp, api := proc.FreePort(), proc.FreePort()
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
	if err := proc.WaitListening(endpoint, 30*time.Second); err != nil {
		return 0, err
	}
	time.Sleep(time.Second) // start-up work is not what is measured
	before, err := proc.CPUSeconds(cmd.Process.Pid)
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
	after, err := proc.CPUSeconds(cmd.Process.Pid)
	return after - before, err
}
