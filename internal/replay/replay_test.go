package replay

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/internal/runstore"
	"github.com/releasegate/releasegate/internal/traces"
	"github.com/releasegate/releasegate/internal/verdict"
)

var start = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func newJudge(t *testing.T) *Judge {
	t.Helper()
	doc, err := config.Parse([]byte(`
gates:
  - name: checkout
    match: name == "POST /checkout"
    assert: duration < duration("300ms")
  - name: one-span
    scope: trace
    match: root != nil
    assert: len(spans) == 1
`))
	require.NoError(t, err)
	gates, err := config.Compile(doc)
	require.NoError(t, err)
	return New(gates, runstore.Settings{
		Limits: runstore.Limits{IdleTimeout: time.Minute, MaxRunDuration: time.Hour, Retention: time.Hour, MaxRuns: 10, MaxSeries: 10},
		Traces: traces.Limits{IdleTimeout: 10 * time.Second, MaxTraces: 100, MaxSpansPerTrace: 100, MaxSpans: 1000},
	})
}

// checkout is run's checkout span in its own trace, ending at end.
func checkout(run string, trace byte, end time.Time) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("cicd.pipeline.run.id", run)
	s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetName("POST /checkout")
	s.SetTraceID(pcommon.TraceID{trace})
	s.SetSpanID(pcommon.SpanID{trace})
	s.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(-100 * time.Millisecond)))
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
	return td
}

// A run's times are its spans': the judge's clock is the latest span end
// read, and a trace idle in that time is judged before the run finishes.
func TestTimesAreTheSpans(t *testing.T) {
	j := newJudge(t)
	j.Add(checkout("r-1", 1, start))
	j.Add(checkout("r-1", 2, start.Add(20*time.Second)))
	late := checkout("r-1", 1, start.Add(21*time.Second)) // trace 1, idle since start
	late.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetSpanID(pcommon.SpanID{9})
	j.Add(late)
	runs, err := j.Finish("")
	require.NoError(t, err)
	require.Len(t, runs, 1)
	assert.Equal(t, start, runs[0].StartedAt)
	assert.Equal(t, start.Add(21*time.Second), runs[0].LastSpanAt)
	assert.Equal(t, int64(1), j.Counts.TraceSpansLate, "trace 1 was judged when idle, before its late span")
	assert.Equal(t, 3, runs[0].Gates[0].Spans)
	assert.Equal(t, 2, runs[0].Gates[1].Spans)
	assert.Equal(t, 0, runs[0].Gates[1].Violations, "trace 1 judged on its first span alone")
}

// Runs come in the order their first spans came; one the recording does
// not hold gets its gates' no-data verdicts.
func TestFinish(t *testing.T) {
	j := newJudge(t)
	for i, run := range []string{"r-b", "r-a", "r-c"} {
		j.Add(checkout(run, byte(i+1), start.Add(time.Duration(i)*time.Second)))
	}
	runs, err := j.Finish("")
	require.NoError(t, err)
	var keys []string
	for _, r := range runs {
		keys = append(keys, r.Run)
		assert.True(t, r.Finished)
	}
	assert.Equal(t, []string{"r-b", "r-a", "r-c"}, keys)

	runs, err = newJudge(t).Finish("r-none")
	require.NoError(t, err)
	require.Len(t, runs, 1)
	assert.Equal(t, verdict.Inconclusive, runs[0].Status)
}
