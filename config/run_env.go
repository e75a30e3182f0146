package config

import "time"

// RunStats is the run environment of `fail` and `warn`: the aggregates of one
// gate over the spans (traces, for a trace gate) it matched in one run. A
// span gate's counts are spans, a trace gate's traces; its durations are
// the traces'.
type RunStats struct {
	Spans          int           `expr:"spans"`           // matched spans (span gates)
	Traces         int           `expr:"traces"`          // matched traces (trace gates)
	Violations     int           `expr:"violations"`      // matched spans whose assert did not hold
	ViolationRatio float64       `expr:"violation_ratio"` // violations / spans, 0 without spans
	Errors         int           `expr:"errors"`          // matched spans with status error
	ErrorRatio     float64       `expr:"error_ratio"`     // errors / spans, 0 without spans
	P50            time.Duration `expr:"p50"`
	P90            time.Duration `expr:"p90"`
	P95            time.Duration `expr:"p95"`
	P99            time.Duration `expr:"p99"`
	Min            time.Duration `expr:"min"`
	Max            time.Duration `expr:"max"`
	Mean           time.Duration `expr:"mean"`
	Elapsed        time.Duration `expr:"elapsed"` // since the run opened
}
