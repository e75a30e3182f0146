package junit

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/releasegate/releasegate/internal/verdict"
)

func TestFinishedRunReport(t *testing.T) {
	s := newTestSink(t)
	data, report := deliver(t, s, verdict.Event{Kind: verdict.RunFinished, Time: time.Now(), Run: finishedRun()})

	assert.True(t, strings.HasPrefix(data, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		`<testsuites name="releasegate" tests="5" failures="1" errors="2" time="270.250">`), data)
	assert.Equal(t, "releasegate", report.Name)
	assert.Equal(t, [3]int{5, 1, 2}, [3]int{report.Tests, report.Failures, report.Errors})
	assert.Equal(t, "270.250", report.Time)

	suite := report.Suite
	assert.Equal(t, "releasegate: r-42", suite.Name)
	assert.Equal(t, [4]int{5, 1, 2, 0}, [4]int{suite.Tests, suite.Failures, suite.Errors, suite.Skipped})
	assert.Equal(t, "270.250", suite.Time)
	assert.Equal(t, "2026-11-22T10:00:00", suite.Timestamp)
	hostname, _ := os.Hostname()
	assert.Equal(t, hostname, suite.Hostname)
	assert.Equal(t, []property{
		{"run", "r-42"},
		{"status", "failed"},
		{"revision", "5b8efff7"},
		{"repository", "https://github.com/acme/shop"},
	}, suite.Properties, "no environment: it is not set")

	assert.Equal(t, []testCase{
		{
			Name: "checkout-latency", Classname: "releasegate", Time: "270.250",
			Failure: &result{
				Message: "failed: p95 312ms > 250ms (8 of 118 spans violated duration < 300ms)",
				Type:    "failed",
				Text: `failed: p95 312ms > 250ms (8 of 118 spans violated duration < 300ms)
condition: p95 > duration("250ms") && errors < 3
assert: duration < duration("300ms")
observed: spans 118, violations 8, p50 154ms, p95 312.457ms, p99 350ms, max 360ms, violation_ratio 0.068
exemplars:
trace 5b8efff798038103d269b633813fc60c span eee19b7ec3c1b174 POST /checkout
trace 952f65b64a708e6f0d3a1b60280b4e43 span 3fb0152942e62fb5 POST /checkout?` + "\uFFFD" + `[31m
`,
			},
		},
		{
			Name: "no-server-errors", Classname: "releasegate", Time: "270.250",
			SystemOut: `passed: 0 of 118 spans violated status != "error"`,
		},
		{
			Name: "payment-latency", Classname: "releasegate", Time: "270.250",
			SystemOut: "warning: p95 210ms > 200ms",
		},
		{
			Name: "search-errors", Classname: "releasegate", Time: "270.250",
			Error: &result{
				Message: "error: fail: integer divide by zero",
				Type:    "error",
				Text: `error: fail: integer divide by zero
condition: errors / spans > 0.1
observed: spans 0, violations 0, p50 0ms, p95 0ms, p99 0ms, max 0ms, violation_ratio 0
`,
			},
		},
		{
			Name: "inventory", Classname: "releasegate", Time: "270.250",
			Error: &result{
				Message: "inconclusive: 3 spans matched, min_spans is 20",
				Type:    "inconclusive",
				Text: `inconclusive: 3 spans matched, min_spans is 20
condition: violations > 0
observed: spans 3, violations 0, p50 0ms, p95 0ms, p99 0ms, max 0ms, violation_ratio 0
`,
			},
		},
	}, suite.Cases)
}

// The collector shuts down while the run is open: what is decided is
// reported, the rest is skipped.
func TestAbandonedRunReport(t *testing.T) {
	run := finishedRun()
	run.Status, run.Finished, run.FinishCause, run.FinishedAt = verdict.Failed, false, "", nil
	run.Environment = "staging"
	run.Gates = []verdict.Gate{
		run.Gates[0], // failed fast
		{Name: "no-server-errors", Status: verdict.Pending, Spans: 12, Condition: "violations > 0", Reason: "pending: 12 spans so far"},
	}
	s := newTestSink(t)
	_, report := deliver(t, s, verdict.Event{Kind: verdict.RunAbandoned, Time: startedAt.Add(90 * time.Second), Run: run})

	assert.Equal(t, [3]int{2, 1, 0}, [3]int{report.Tests, report.Failures, report.Errors})
	suite := report.Suite
	assert.Equal(t, [4]int{2, 1, 0, 1}, [4]int{suite.Tests, suite.Failures, suite.Errors, suite.Skipped})
	assert.Equal(t, "90.000", suite.Time, "elapsed until the collector shut down")
	assert.Contains(t, suite.Properties, property{"environment", "staging"})
	require.Len(t, suite.Cases, 2)
	assert.NotNil(t, suite.Cases[0].Failure)
	assert.Equal(t, testCase{
		Name: "no-server-errors", Classname: "releasegate", Time: "90.000",
		Skipped: &result{Message: "run still open when the collector shut down: pending: 12 spans so far"},
	}, suite.Cases[1])
}

// A run with a page carries its address as a property, and each failed or
// errored case the address of its gate's row.
func TestReportLinksToThePage(t *testing.T) {
	s := newTestSink(t)
	run := finishedRun()
	run.URL = "https://releasegate.example/runs/r-42"
	_, report := deliver(t, s, verdict.Event{Kind: verdict.RunFinished, Time: time.Now(), Run: run})

	assert.Contains(t, report.Suite.Properties, property{"url", "https://releasegate.example/runs/r-42"})
	cases := map[string]testCase{}
	for _, c := range report.Suite.Cases {
		cases[c.Name] = c
	}
	require.NotNil(t, cases["checkout-latency"].Failure)
	assert.Contains(t, cases["checkout-latency"].Failure.Text, "\npage: https://releasegate.example/runs/r-42#gate-checkout-latency\n")
	require.NotNil(t, cases["inventory"].Error)
	assert.Contains(t, cases["inventory"].Error.Text, "\npage: https://releasegate.example/runs/r-42#gate-inventory\n")
}
