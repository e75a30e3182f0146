// Command benchtable reads `go test -bench 'Processors|TraceAssembly|Check'`
// output on standard input and prints three tables: for the processors, one
// row per rule count and traffic mix, ns/span and allocs/span of each
// contender and how they compare; for trace assembly, one row per
// contender, CPU ns and heap bytes per span and how they compare; for
// `releasegate check`, one row per file format, its time against merely
// decoding the file.
package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// A result line: BenchmarkProcessors/rules=10/traffic=nomatch/walk-2  300  16229 ns/op  16.23 ns/span  0 B/op  0 allocs/op
var line = regexp.MustCompile(`^BenchmarkProcessors/rules=(\d+)/traffic=(\w+)/(\w+)-\d+\s+\d+\s+.*?([\d.]+) ns/span.*?(\d+) allocs/op`)

// A result line: BenchmarkTraceAssembly/traces=10000/releasegate-2  3  794884431 ns/op  3813 cpu-ns/span  166.1 heap-B/span  27.70 spans/trace
var traceLine = regexp.MustCompile(`^BenchmarkTraceAssembly/traces=(\d+)/(\w+)-\d+\s+\d+\s+.*?([\d.]+) cpu-ns/span\s+([\d.]+) heap-B/span`)

// A result line: BenchmarkCheck/format=json/check-2  1  2.1e+10 ns/op  8.6 cpu-s/Mspans  98.61 peak-heap-MiB  21.61 s/Mspans
var checkLine = regexp.MustCompile(`^BenchmarkCheck/format=(\w+)/(\w+)-\d+\s+\d+\s+.*?([\d.]+) cpu-s/Mspans\s+([\d.]+) peak-heap-MiB\s+([\d.]+) s/Mspans`)

// checked is a BenchmarkCheck result: seconds per million spans, and
// the peak heap.
type checked struct{ wall, cpu, heap float64 }

// assembly is a trace assembly result.
type assembly struct {
	traces   string
	cpu, mem float64
}

const batch = 1000 // spans per batch, as in the benchmark

type row struct {
	rules   int
	traffic string
	ns      map[string]float64
	allocs  map[string]float64
}

func main() {
	var rows []*row
	find := func(rules int, traffic string) *row {
		for _, r := range rows {
			if r.rules == rules && r.traffic == traffic {
				return r
			}
		}
		r := &row{rules: rules, traffic: traffic, ns: map[string]float64{}, allocs: map[string]float64{}}
		rows = append(rows, r)
		return r
	}
	assemblies := map[string]assembly{}
	checks := map[[2]string]checked{}
	var formats []string
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if m := checkLine.FindStringSubmatch(in.Text()); m != nil {
			var c checked
			c.cpu, _ = strconv.ParseFloat(m[3], 64)
			c.heap, _ = strconv.ParseFloat(m[4], 64)
			c.wall, _ = strconv.ParseFloat(m[5], 64)
			if m[2] == "decode" {
				formats = append(formats, m[1])
			}
			checks[[2]string{m[1], m[2]}] = c
			continue
		}
		if m := traceLine.FindStringSubmatch(in.Text()); m != nil {
			cpu, _ := strconv.ParseFloat(m[3], 64)
			mem, _ := strconv.ParseFloat(m[4], 64)
			assemblies[m[2]] = assembly{traces: m[1], cpu: cpu, mem: mem}
			continue
		}
		m := line.FindStringSubmatch(in.Text())
		if m == nil {
			if strings.HasPrefix(in.Text(), "FAIL") || strings.HasPrefix(in.Text(), "panic") {
				fmt.Fprintln(os.Stderr, in.Text())
				os.Exit(1)
			}
			continue
		}
		rules, _ := strconv.Atoi(m[1])
		ns, _ := strconv.ParseFloat(m[4], 64)
		allocs, _ := strconv.ParseFloat(m[5], 64)
		r := find(rules, m[2])
		r.ns[m[3]] = ns
		r.allocs[m[3]] = allocs / batch
	}
	rg, gbt := assemblies["releasegate"], assemblies["groupbytrace"]
	if len(rows) == 0 || rg.cpu == 0 || gbt.cpu == 0 || len(formats) == 0 {
		fmt.Fprintln(os.Stderr, "benchtable: BenchmarkProcessors, BenchmarkTraceAssembly and BenchmarkCheck results wanted on standard input")
		os.Exit(1)
	}
	fmt.Println("| rules | traffic | walk ns/span | releasegate ns/span | releasegate allocs/span | filter ns/span | filter allocs/span | filter ÷ releasegate | releasegate ÷ walk |")
	fmt.Println("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		fmt.Printf("| %d | %s | %.1f | %.1f | %.3f | %.1f | %.2f | %.0f× | %.1f× |\n",
			r.rules, r.traffic, r.ns["walk"], r.ns["releasegate"], r.allocs["releasegate"],
			r.ns["filter"], r.allocs["filter"], r.ns["filter"]/r.ns["releasegate"], r.ns["releasegate"]/r.ns["walk"])
	}
	fmt.Println()
	fmt.Printf("Trace assembly, %s traces in flight:\n\n", rg.traces)
	fmt.Println("| | CPU ns/span | heap bytes/span |")
	fmt.Println("|---|---:|---:|")
	fmt.Printf("| groupbytrace | %.0f | %.0f |\n", gbt.cpu, gbt.mem)
	fmt.Printf("| releasegate, judging 10 trace gates | %.0f | %.0f |\n", rg.cpu, rg.mem)
	fmt.Printf("| groupbytrace ÷ releasegate | %.1f× | %.1f× |\n", gbt.cpu/rg.cpu, gbt.mem/rg.mem)
	fmt.Println()
	fmt.Println("releasegate check, a million spans, 20 span gates and 5 trace gates, against decoding the file with pdata:")
	fmt.Println()
	fmt.Println("| format | decode s | check s | check ÷ decode | decode CPU s | check CPU s | check peak heap MiB |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|")
	for _, f := range formats {
		d, c := checks[[2]string{f, "decode"}], checks[[2]string{f, "check"}]
		fmt.Printf("| %s | %.2f | %.2f | %.2f× | %.2f | %.2f | %.0f |\n", f, d.wall, c.wall, c.wall/d.wall, d.cpu, c.cpu, c.heap)
	}
}
