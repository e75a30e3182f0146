package runstore

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/internal/runstore/runstoretest"
	"github.com/releasegate/releasegate/internal/verdict"
)

// What /metrics shows: every run by key, every gate in document order with
// its counts and quantiles, and for a gate compared with a baseline the
// latency ratio and the baseline's durations.
func TestSamples(t *testing.T) {
	s, c := newBaselineStore(t, 10)
	checkouts(t, s, c, "r-1", "staging", 30, 200*time.Millisecond, 1)
	finish(t, s, "r-1")
	checkouts(t, s, c, "r-2", "staging", 30, 300*time.Millisecond, 2)
	v := finish(t, s, "r-2")

	m := s.Samples()
	assert.Equal(t, baselineGateNames, m.Gates)
	assert.Equal(t, []config.Scope{config.ScopeSpan, config.ScopeSpan, config.ScopeSpan}, m.Scopes)
	require.Len(t, m.Runs, 2)
	r1, r2 := m.Runs[0], m.Runs[1]
	assert.Equal(t, "r-1", r1.Key)
	assert.Equal(t, verdict.Passed, r1.Status)
	assert.Equal(t, "r-2", r2.Key)
	assert.Equal(t, verdict.Failed, r2.Status)

	own := r1.Gates[0]
	assert.Equal(t, 30, own.Spans)
	assert.Equal(t, 30, own.Count)
	assert.False(t, own.Compared)
	h, _ := s.Distribution("r-1", 0)
	assert.Equal(t, h.Max, own.Max)

	compared := r2.Gates[0]
	require.True(t, compared.Compared)
	latency := runstoretest.Gate(t, v, "latency").Observed
	assert.Equal(t, [3]float64{*latency.LatencyRatio, *latency.LatencyRatioLow, *latency.LatencyRatioHigh}, compared.LatencyRatio)
	assert.Equal(t, own.Count, compared.Baseline.Count)
	assert.Equal(t, own.Quantiles, compared.Baseline.Quantiles)
	assert.InDelta(t, own.Sum, compared.Baseline.Sum, 30, "the baseline's mean times its count")
	assert.False(t, r2.Gates[2].Compared, "errors compares with no baseline")
}

// error_ratio is the share of matched spans with status error.
func TestErrorRatio(t *testing.T) {
	s, _ := newTestStore(t, runstoretest.Gates, testLimits())
	spans := repeat(3, runstoretest.Checkout("r", 100*time.Millisecond))
	bad := runstoretest.Checkout("r", 100*time.Millisecond)
	bad.Status = ptrace.StatusCodeError
	s.Record(runstoretest.Traces(append(spans, bad)...))
	ratio := runstoretest.Gate(t, finish(t, s, "r"), "ratio")
	assert.Equal(t, verdict.Passed, ratio.Status)
	assert.Equal(t, "passed: violations 0 ≤ 2, error_ratio 25% ≤ 50% (4 spans matched)", ratio.Reason)
	assert.InDelta(t, 0.25, ratio.Observed.ErrorRatio, 1e-9)
}
