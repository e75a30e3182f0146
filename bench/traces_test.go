package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/groupbytraceprocessor"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.yaml.in/yaml/v3"

	"github.com/releasegate/releasegate/exporter/releasegateexporter"
)

// InFlight is how many traces the assembly benchmarks hold at once.
const InFlight = 10_000

// assembler is a contender: it takes the batches, and finish waits until
// every trace it holds has been released (groupbytrace) or judged
// (releasegate).
type assembler struct {
	consume func(ptrace.Traces)
	finish  func()
	stop    func()
}

// groupByTrace is contrib's groupbytrace processor, holding traces for
// wait, into a sink that counts spans; lost counts the spans it did not
// release.
func groupByTrace(b *testing.B, wait time.Duration, spans int, lost *int) assembler {
	f := groupbytraceprocessor.NewFactory()
	cfg := f.CreateDefaultConfig().(*groupbytraceprocessor.Config)
	cfg.WaitDuration, cfg.NumTraces = wait, 2*InFlight
	var released atomic.Int64 // counted, not kept: the heap is the processor's
	sink, _ := consumer.NewTraces(func(_ context.Context, td ptrace.Traces) error {
		released.Add(int64(td.SpanCount()))
		return nil
	})
	p, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(f.Type()), cfg, sink)
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	return assembler{
		consume: consumeInto(b, p),
		finish: func() {
			// Until every span is out, or none has come for a second.
			out, last := 0, time.Now()
			for out < spans && time.Since(last) < time.Second {
				time.Sleep(time.Millisecond)
				if n := int(released.Load()); n > out {
					out, last = n, time.Now()
				}
			}
			*lost += spans - out
		},
		stop: func() { _ = p.Shutdown(context.Background()) },
	}
}

// releasegate is the releasegate exporter with the ten TraceGates, holding
// traces until their run finishes.
func releasegateTraces(b *testing.B) assembler {
	var gates map[string]any
	if err := yaml.Unmarshal([]byte(TraceGates), &gates); err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	endpoint := l.Addr().String()
	l.Close()
	f := releasegateexporter.NewFactory()
	cfg := f.CreateDefaultConfig()
	if err := confmap.NewFromStringMap(map[string]any{
		"gates": gates, "server": map[string]any{"endpoint": endpoint},
		"trace_idle_timeout": "1h", "run_idle_timeout": "1h", "max_traces": 2 * InFlight,
	}).Unmarshal(cfg); err != nil {
		b.Fatal(err)
	}
	exp, err := f.CreateTraces(context.Background(), exportertest.NewNopSettings(f.Type()), cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := exp.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	return assembler{
		consume: consumeInto(b, exp),
		finish: func() {
			resp, err := http.Post("http://"+endpoint+"/v1/runs/bench/finish", "", nil)
			if err != nil {
				b.Fatal(err)
			}
			defer resp.Body.Close()
			// Every trace judged: the gate that matches all of them says so.
			var run struct {
				Gates []struct {
					Name   string `json:"name"`
					Traces int    `json:"traces"`
				} `json:"gates"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&run); err != nil {
				b.Fatal(err)
			}
			for _, g := range run.Gates {
				if g.Name == "few-services" && g.Traces != InFlight {
					b.Fatalf("few-services judged %d traces of %d", g.Traces, InFlight)
				}
			}
		},
		stop: func() { _ = exp.Shutdown(context.Background()) },
	}
}

func consumeInto(b *testing.B, c consumer.Traces) func(ptrace.Traces) {
	return func(td ptrace.Traces) {
		if err := c.ConsumeTraces(context.Background(), td); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTraceAssembly compares releasegate's assembly of traces for
// trace gates with contrib's groupbytrace processor on the same traffic
// (TraceTraffic): cpu-ns/span, the process's CPU time per span to buffer
// InFlight traces and release them (groupbytrace, after a wait of 1ms) or
// judge them with the ten TraceGates (releasegate, when their run
// finishes); and heap-B/span, the heap each buffered span takes with
// InFlight traces held, after a garbage collection.
func BenchmarkTraceAssembly(b *testing.B) {
	batches := TraceTraffic(InFlight, BatchSpans, 7)
	spans := 0
	for _, td := range batches {
		spans += td.SpanCount()
	}
	copies := func() []ptrace.Traces {
		out := make([]ptrace.Traces, len(batches))
		for i, td := range batches {
			out[i] = ptrace.NewTraces()
			td.CopyTo(out[i])
		}
		return out
	}
	var lost int
	for _, c := range []struct {
		name string
		cpu  func() assembler // to measure the CPU
		heap func() assembler // to hold the traces
	}{
		{"groupbytrace", func() assembler { return groupByTrace(b, time.Millisecond, spans, &lost) }, func() assembler { return groupByTrace(b, time.Hour, spans, new(int)) }},
		{"releasegate", func() assembler { return releasegateTraces(b) }, func() assembler { return releasegateTraces(b) }},
	} {
		b.Run(fmt.Sprintf("traces=%d/%s", InFlight, c.name), func(b *testing.B) {
			lost = 0
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				a, in := c.cpu(), copies()
				b.StartTimer()
				before := cpuTime()
				for _, td := range in {
					a.consume(td)
				}
				a.finish()
				cpu += cpuTime() - before
				b.StopTimer()
				a.stop()
				b.StartTimer()
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*spans), "cpu-ns/span")

			// The heap counts what each keeps of the batches it was given,
			// and nothing of the ones it let go.
			a := c.heap()
			defer a.stop()
			base := heap()
			for _, td := range copies() {
				a.consume(td)
			}
			b.ReportMetric(float64(heap()-base)/float64(spans), "heap-B/span")
			b.ReportMetric(float64(spans)/InFlight, "spans/trace")
			if lost > 0 {
				b.ReportMetric(float64(lost)/float64(b.N), "lost-spans/op")
			}
		})
	}
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// heap is the live heap after a collection.
func heap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
