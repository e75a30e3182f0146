package bench

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/releasegate/releasegate/internal/cli"
)

// CheckSpans is the size of the recording `releasegate check` is measured
// on.
const CheckSpans = 1_000_000

// CheckGates are 20 span gates for the span mix of TraceTraffic (a latency
// gate per route, an error gate per service) and five of TraceGates.
func CheckGates() string {
	var b strings.Builder
	b.WriteString("gates:\n")
	for i, route := range routes {
		fmt.Fprintf(&b, "  - name: latency-%d\n    match: name == %q && kind == \"server\"\n    assert: duration < duration(\"80ms\")\n    fail: p95 > duration(\"100ms\")\n", i, "GET "+route)
	}
	for _, service := range services {
		fmt.Fprintf(&b, "  - name: errors-%s\n    match: kind == \"server\" && resource[\"service.name\"] == %q\n    assert: status != \"error\"\n    fail: error_ratio > 0.05\n", service, service)
	}
	trace := strings.Split(strings.TrimPrefix(TraceGates, "\ngates:\n"), "  - name: ")
	for _, g := range trace[1:6] {
		b.WriteString("  - name: " + g)
	}
	return b.String()
}

// TestMain removes the recording BenchmarkCheck wrote (1.3 GB).
func TestMain(m *testing.M) {
	code := m.Run()
	if recorded != "" {
		_ = os.RemoveAll(recorded)
	}
	os.Exit(code)
}

// recorded is the directory of the recording, once written.
var recorded string

// recording writes CheckSpans spans of TraceTraffic once per test binary,
// as the collector's file exporter does: JSON lines, and length-prefixed
// protobuf.
var recording = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "releasegate-check-bench")
	if err != nil {
		return "", err
	}
	recorded = dir
	batches := TraceTraffic(CheckSpans/27, 1000, 1) // traces average 27.5 spans
	jsonFile, err := os.Create(filepath.Join(dir, "traces.jsonl"))
	if err != nil {
		return "", err
	}
	protoFile, err := os.Create(filepath.Join(dir, "traces.proto"))
	if err != nil {
		return "", err
	}
	jw, pw := bufio.NewWriter(jsonFile), bufio.NewWriter(protoFile)
	for _, td := range batches {
		j, _ := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
		jw.Write(j)
		jw.WriteByte('\n')
		p, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		pw.Write(binary.BigEndian.AppendUint32(nil, uint32(len(p))))
		pw.Write(p)
	}
	for _, w := range []*bufio.Writer{jw, pw} {
		if err := w.Flush(); err != nil {
			return "", err
		}
	}
	jsonFile.Close()
	protoFile.Close()
	if err := os.WriteFile(filepath.Join(dir, "gates.yaml"), []byte(CheckGates()), 0o600); err != nil {
		return "", err
	}
	return dir, nil
})

// decodeJSON merely decodes the recording's JSON lines with pdata.
func decodeJSON(b *testing.B, path string) int {
	r, done := open(b, path)
	defer done()
	spans := 0
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			return spans
		}
		if err != nil {
			b.Fatal(err)
		}
		td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(line)
		if err != nil {
			b.Fatal(err)
		}
		spans += td.SpanCount()
	}
}

// decodeProto merely decodes the recording's protobuf with pdata.
func decodeProto(b *testing.B, path string) int {
	r, done := open(b, path)
	defer done()
	spans := 0
	var msg []byte
	for {
		var prefix [4]byte
		if _, err := io.ReadFull(r, prefix[:]); err == io.EOF {
			return spans
		} else if err != nil {
			b.Fatal(err)
		}
		msg = append(msg[:0], make([]byte, binary.BigEndian.Uint32(prefix[:]))...)
		if _, err := io.ReadFull(r, msg); err != nil {
			b.Fatal(err)
		}
		td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(msg)
		if err != nil {
			b.Fatal(err)
		}
		spans += td.SpanCount()
	}
}

// open opens a file of the recording, read through the buffer the
// command reads with.
func open(b *testing.B, path string) (*bufio.Reader, func()) {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	return bufio.NewReaderSize(f, 1<<20), func() { f.Close() }
}

// BenchmarkCheck times `releasegate check` on a recording of a million
// spans with 20 span gates and 5 trace gates, side by side with decoding
// the same file with pdata's unmarshaler, for JSON lines and protobuf. It
// reports the peak heap in use, sampled.
func BenchmarkCheck(b *testing.B) {
	dir, err := recording()
	if err != nil {
		b.Fatal(err)
	}
	for _, format := range []struct{ name, file string }{{"json", "traces.jsonl"}, {"proto", "traces.proto"}} {
		path := filepath.Join(dir, format.file)
		decode := decodeJSON
		if format.name == "proto" {
			decode = decodeProto
		}
		b.Run("format="+format.name+"/decode", func(b *testing.B) {
			measure(b, func() {
				if n := decode(b, path); n < CheckSpans*9/10 {
					b.Fatalf("decoded %d spans", n)
				}
			})
		})
		b.Run("format="+format.name+"/check", func(b *testing.B) {
			measure(b, func() {
				var stderr strings.Builder
				code := cli.Main([]string{"check", "--gates", filepath.Join(dir, "gates.yaml"), "--format", "json", path}, nil, io.Discard, &stderr)
				if code != cli.ExitFailed && code != cli.ExitPassed {
					b.Fatalf("exit %d: %s", code, stderr.String())
				}
			})
		})
	}
}

// measure runs f b.N times, reporting seconds (wall clock, and CPU of the
// process) per million spans and the peak heap in use.
func measure(b *testing.B, f func()) {
	runtime.GC()
	stop := sampleHeap()
	cpu := cpuTime()
	b.ResetTimer()
	for range b.N {
		f()
	}
	b.StopTimer()
	spans := float64(b.N) * CheckSpans / 1e6
	b.ReportMetric(b.Elapsed().Seconds()/spans, "s/Mspans")
	b.ReportMetric((cpuTime()-cpu).Seconds()/spans, "cpu-s/Mspans")
	b.ReportMetric(float64(stop())/(1<<20), "peak-heap-MiB")
}

// sampleHeap samples the heap in use every 10ms until stopped, which
// returns its peak.
func sampleHeap() (stop func() uint64) {
	var peak uint64
	done, finished := make(chan struct{}), make(chan struct{})
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		defer close(finished)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); <-finished; return peak }
}
