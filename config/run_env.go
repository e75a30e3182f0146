package config

import "time"

// Aggregates are one gate's figures over the spans (traces, for a trace
// gate) it matched in one run. A span gate's counts are spans, a trace
// gate's traces; its durations are the traces'.
type Aggregates struct {
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

// RunStats is the run environment of `fail` and `warn`: the gate's
// aggregates in this run and, when it is compared with a baseline run, the
// baseline's and how this run's durations compare with the baseline's.
type RunStats struct {
	Aggregates
	// Baseline is the baseline run's aggregates for the same gate.
	Baseline Aggregates `expr:"baseline"`
	// LatencyRatio is the Hodges–Lehmann estimate of this run's durations ÷
	// the baseline's; LatencyRatioLow and LatencyRatioHigh its 95%
	// confidence interval.
	LatencyRatio     float64 `expr:"latency_ratio"`
	LatencyRatioLow  float64 `expr:"latency_ratio_low"`
	LatencyRatioHigh float64 `expr:"latency_ratio_high"`

	// Compared: the baseline names above hold a comparison. Without one,
	// the terms of a condition that use them do not hold.
	Compared bool `expr:"-"`
	// BaselineRun is the baseline run's id, for reasons.
	BaselineRun string `expr:"-"`
}
