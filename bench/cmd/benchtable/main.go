// Command benchtable reads `go test -bench Processors` output on standard
// input and prints one row per rule count and traffic mix: ns/span and
// allocs/span of each contender, and how they compare.
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
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
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
	if len(rows) == 0 {
		fmt.Fprintln(os.Stderr, "benchtable: no BenchmarkProcessors results on standard input")
		os.Exit(1)
	}
	fmt.Println("| rules | traffic | walk ns/span | releasegate ns/span | releasegate allocs/span | filter ns/span | filter allocs/span | filter ÷ releasegate | releasegate ÷ walk |")
	fmt.Println("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		fmt.Printf("| %d | %s | %.1f | %.1f | %.3f | %.1f | %.2f | %.0f× | %.1f× |\n",
			r.rules, r.traffic, r.ns["walk"], r.ns["releasegate"], r.allocs["releasegate"],
			r.ns["filter"], r.allocs["filter"], r.ns["filter"]/r.ns["releasegate"], r.ns["releasegate"]/r.ns["walk"])
	}
}
