package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/releasegate/releasegate/internal/verdict"
)

const checkGates = `
baseline:
  min_samples: 5
gates:
  - name: checkout-latency
    match: name == "POST /checkout"
    assert: duration < duration("300ms")
    fail: p95 > duration("250ms")
    warn: latency_ratio_low > 1.5
  - name: checkout-errors
    match: name == "POST /checkout"
    assert: status != "error"
    fail: error_ratio > 0.1
  - name: one-cart-query
    scope: trace
    match: root != nil && root.name == "POST /checkout"
    assert: count(spans, .name == "SELECT cart") == 1
`

var start = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// checkouts is run's traffic: n checkout traces, each a POST /checkout
// server span with a SELECT cart below it (two for every queries-th
// trace), the i-th checkout taking duration(i).
func checkouts(run string, n int, duration func(i int) time.Duration, queries int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "shop")
	rs.Resource().Attributes().PutStr("cicd.pipeline.run.id", run)
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for i := range n {
		trace := pcommon.TraceID{byte(len(run)), run[len(run)-1], byte(i >> 8), byte(i)}
		at := start.Add(time.Duration(i) * time.Second)
		root := spans.AppendEmpty()
		root.SetTraceID(trace)
		root.SetSpanID(pcommon.SpanID{1, byte(i >> 8), byte(i)})
		root.SetName("POST /checkout")
		root.SetKind(ptrace.SpanKindServer)
		root.SetStartTimestamp(pcommon.NewTimestampFromTime(at))
		root.SetEndTimestamp(pcommon.NewTimestampFromTime(at.Add(duration(i))))
		n := 1
		if queries > 0 && i%queries == 0 {
			n = 2
		}
		for q := range n {
			query := spans.AppendEmpty()
			query.SetTraceID(trace)
			query.SetSpanID(pcommon.SpanID{2, byte(i >> 8), byte(i), byte(q)})
			query.SetParentSpanID(root.SpanID())
			query.SetName("SELECT cart")
			query.SetStartTimestamp(pcommon.NewTimestampFromTime(at))
			query.SetEndTimestamp(pcommon.NewTimestampFromTime(at.Add(time.Millisecond)))
		}
	}
	return td
}

func steady(d time.Duration) func(int) time.Duration {
	return func(i int) time.Duration { return d + time.Duration(i%10)*time.Millisecond }
}

// writeFile writes traffic as the file exporter's JSON lines.
func writeFile(t *testing.T, name string, batches ...ptrace.Traces) string {
	t.Helper()
	var b bytes.Buffer
	for _, td := range batches {
		data, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
		require.NoError(t, err)
		b.Write(data)
		b.WriteByte('\n')
	}
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o600))
	return path
}

func gatesFile(t *testing.T, doc string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gates.yaml")
	require.NoError(t, os.WriteFile(path, []byte(doc), 0o600))
	return path
}

// run runs the command and returns its exit code and outputs.
func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	t.Setenv("NO_COLOR", "1")
	var stdout, stderr bytes.Buffer
	code := Main(args, strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func checkJSON(t *testing.T, out string) []verdict.Run {
	t.Helper()
	var got struct{ Runs []verdict.Run }
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	return got.Runs
}

func gate(t *testing.T, run verdict.Run, name string) verdict.Gate {
	t.Helper()
	for _, g := range run.Gates {
		if g.Name == name {
			return g
		}
	}
	t.Fatalf("run %s has no gate %s", run.Run, name)
	return verdict.Gate{}
}

func TestCheckExitCodes(t *testing.T) {
	gates := gatesFile(t, checkGates)
	for name, tc := range map[string]struct {
		traffic ptrace.Traces
		args    []string
		code    int
		status  verdict.Status
	}{
		"passed":      {checkouts("r-1", 20, steady(100*time.Millisecond), 0), nil, ExitPassed, verdict.Passed},
		"failed":      {checkouts("r-1", 20, steady(280*time.Millisecond), 0), nil, ExitFailed, verdict.Failed},
		"trace gate":  {checkouts("r-1", 20, steady(100*time.Millisecond), 4), nil, ExitFailed, verdict.Failed},
		"no data":     {checkouts("r-1", 20, steady(100*time.Millisecond), 0), []string{"--run", "r-2"}, ExitInconclusive, verdict.Inconclusive},
		"one of runs": {checkouts("r-1", 20, steady(100*time.Millisecond), 0), []string{"--run", "r-1"}, ExitPassed, verdict.Passed},
	} {
		t.Run(name, func(t *testing.T) {
			file := writeFile(t, "traces.jsonl", tc.traffic)
			code, out, stderr := run(t, "", append([]string{"check", "--gates", gates, "--format", "json", file}, tc.args...)...)
			assert.Equal(t, tc.code, code, stderr)
			runs := checkJSON(t, out)
			require.Len(t, runs, 1)
			assert.Equal(t, tc.status, runs[0].Status)
			assert.True(t, runs[0].Finished)
		})
	}
}

func TestCheckTable(t *testing.T) {
	file := writeFile(t, "traces.jsonl", checkouts("r-1", 20, steady(100*time.Millisecond), 4))
	code, out, _ := run(t, "", "check", "--gates", gatesFile(t, checkGates), file)
	assert.Equal(t, ExitFailed, code)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 6, out)
	assert.Equal(t, "run r-1, series default", lines[0])
	assert.Regexp(t, `^STATUS\s+GATE\s+MATCHED\s+VIOLATIONS\s+OBSERVED\s+REASON$`, lines[1])
	assert.Regexp(t, `^✓ passed\s+checkout-latency\s+20 spans\s+0\s+p95 1\d\dms\s+passed: p95 `, lines[2])
	assert.Regexp(t, `^✗ failed\s+one-cart-query\s+20 traces\s+5\s+-\s+failed: violations 5 > 0`, lines[4])
	assert.Equal(t, "✗ failed 1 of 3 gates failed", lines[5])
	assert.NotContains(t, out, "\x1b[", "no colour but on a terminal")
}

func TestCheckSeveralRunsWorstExit(t *testing.T) {
	file := writeFile(t, "traces.jsonl",
		checkouts("r-1", 20, steady(100*time.Millisecond), 0),
		checkouts("r-2", 20, steady(280*time.Millisecond), 0),
		checkouts("r-3", 20, steady(100*time.Millisecond), 0))
	code, out, _ := run(t, "", "check", "--gates", gatesFile(t, checkGates), "--format", "json", file)
	assert.Equal(t, ExitFailed, code)
	var statuses []string
	for _, r := range checkJSON(t, out) {
		statuses = append(statuses, r.Run+" "+string(r.Status))
	}
	assert.Equal(t, []string{"r-1 passed", "r-2 failed", "r-3 passed"}, statuses, "in the order the runs came")
}

func TestCheckBaseline(t *testing.T) {
	gates := gatesFile(t, checkGates)
	base := writeFile(t, "main.jsonl", checkouts("main-7", 40, steady(60*time.Millisecond), 0))
	slower := writeFile(t, "pr.jsonl", checkouts("pr-8", 40, steady(150*time.Millisecond), 0))
	code, out, stderr := run(t, "", "check", "--gates", gates, "--baseline", base, "--format", "json", slower)
	assert.Equal(t, ExitPassed, code, "a warning passes: %s", stderr)
	runs := checkJSON(t, out)
	require.Len(t, runs, 1, "baseline runs are not judged again")
	require.NotNil(t, runs[0].Baseline)
	assert.Equal(t, "main-7", *runs[0].Baseline)
	g := gate(t, runs[0], "checkout-latency")
	assert.Equal(t, verdict.Warning, g.Status)
	require.NotNil(t, g.Observed.LatencyRatio)
	assert.InDelta(t, 150.0/60, *g.Observed.LatencyRatio, 0.3)
	assert.Contains(t, g.Reason, "baseline main-7")

	// Without it, the same run has nothing to compare with, and says so.
	_, out, _ = run(t, "", "check", "--gates", gates, "--format", "json", slower)
	g = gate(t, checkJSON(t, out)[0], "checkout-latency")
	assert.Equal(t, verdict.Passed, g.Status)
	assert.Nil(t, g.Observed.LatencyRatio)
	assert.Contains(t, g.Reason, "no baseline")
}

func TestCheckJUnit(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, "traces.jsonl", checkouts("r-1", 20, steady(280*time.Millisecond), 0))
	code, _, _ := run(t, "", "check", "--gates", gatesFile(t, checkGates), "--junit", dir, file)
	assert.Equal(t, ExitFailed, code)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	report, err := os.ReadFile(filepath.Join(dir, entries[0].Name()))
	require.NoError(t, err)
	assert.Contains(t, string(report), `<testcase name="checkout-latency"`)
	assert.Contains(t, string(report), `<failure message="failed: p95 `)
}

func TestCheckStdinAndRecordedAnnotations(t *testing.T) {
	td := checkouts("r-1", 20, steady(100*time.Millisecond), 0)
	// Spans recorded behind a collector of other gates carry its
	// annotations: they are replaced by this gates file's.
	for _, s := range td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().All() {
		s.Attributes().PutStr("releasegate.run", "r-1")
		s.Attributes().PutStr("releasegate.gate.removed-gate", "violated")
	}
	data, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	require.NoError(t, err)
	code, out, stderr := run(t, string(data), "check", "--gates", gatesFile(t, checkGates), "--format", "json", "-")
	assert.Equal(t, ExitPassed, code, stderr)
	runs := checkJSON(t, out)
	assert.Empty(t, runs[0].UnknownGates)
	assert.Equal(t, 20, gate(t, runs[0], "checkout-latency").Spans)
}

func TestCheckErrors(t *testing.T) {
	gates := gatesFile(t, checkGates)
	good := writeFile(t, "good.jsonl", checkouts("r-1", 5, steady(100*time.Millisecond), 0))
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.jsonl")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	notOTLP := filepath.Join(dir, "bad.jsonl")
	before, err := os.ReadFile(good)
	require.NoError(t, err)
	after, err := os.ReadFile(writeFile(t, "after.jsonl", checkouts("r-9", 5, steady(100*time.Millisecond), 0)))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(notOTLP, append(append(before, "{\"spans\": []}\n"...), after...), 0o600))
	for name, tc := range map[string]struct {
		args []string
		code int
		err  string
	}{
		"no gates flag":    {[]string{"check", good}, ExitUsage, `required flag(s) "gates" not set`},
		"bad format":       {[]string{"check", "--gates", gates, "--format", "xml", good}, ExitUsage, `"xml" is not a format`},
		"missing gates":    {[]string{"check", "--gates", filepath.Join(dir, "nope.yaml"), good}, ExitUsage, "nope.yaml: no such file"},
		"bad gates":        {[]string{"check", "--gates", gatesFile(t, "gates:\n  - name: x\n    match: name ==\n"), good}, ExitUsage, `gate "x"`},
		"missing file":     {[]string{"check", "--gates", gates, filepath.Join(dir, "nope.jsonl")}, ExitUsage, "nope.jsonl: no such file"},
		"directory":        {[]string{"check", "--gates", gates, dir}, ExitUsage, dir + ": a directory"},
		"empty file":       {[]string{"check", "--gates", gates, empty}, ExitUsage, empty + ": empty: no traces"},
		"a line not OTLP":  {[]string{"check", "--gates", gates, notOTLP}, ExitUsage, notOTLP + ": line 2: not OTLP traces"},
		"no run in input":  {[]string{"check", "--gates", gatesFile(t, "gates:\n  - name: x\n    match: name == \"nothing\"\n"), good}, ExitInconclusive, "no run in the input"},
		"invalid run flag": {[]string{"check", "--gates", gates, "--run", strings.Repeat("r", 300), good}, ExitUsage, "--run"},
	} {
		t.Run(name, func(t *testing.T) {
			code, _, stderr := run(t, "", tc.args...)
			assert.Equal(t, tc.code, code)
			assert.Contains(t, stderr, tc.err)
		})
	}

	// Skipped on request, and counted.
	code, out, stderr := run(t, "", "check", "--gates", gates, "--skip-bad-lines", "--format", "json", notOTLP)
	assert.Equal(t, ExitPassed, code, stderr)
	assert.Contains(t, stderr, notOTLP+": skipped 1 lines or messages that are not OTLP, the first: "+notOTLP+": line 2")
	runs := checkJSON(t, out)
	require.Len(t, runs, 2, "the lines after it are read")
	assert.Equal(t, "r-9", runs[1].Run)
	assert.Equal(t, 5, gate(t, runs[1], "checkout-latency").Spans)
}

func TestLint(t *testing.T) {
	good := gatesFile(t, checkGates)
	bad := gatesFile(t, "gates:\n  - name: slow\n    match: name == \"a\"\n    fail: p95 > duraton(\"1s\")\n")
	code, out, stderr := run(t, "", "lint", good, bad)
	assert.Equal(t, ExitUsage, code)
	assert.Equal(t, good+": 3 gates\n", out)
	assert.Contains(t, stderr, bad+`: gate "slow": fail: column 7: unknown name duraton`)
	code, _, _ = run(t, "", "lint", good)
	assert.Equal(t, ExitPassed, code)
}

func TestVersionAndHelp(t *testing.T) {
	code, out, _ := run(t, "", "version")
	assert.Equal(t, ExitPassed, code)
	assert.Regexp(t, `^releasegate \S.* \(go1\.`, out)
	for _, cmd := range []string{"check", "lint", "version"} {
		code, out, _ = run(t, "", cmd, "--help")
		assert.Equal(t, ExitPassed, code)
		assert.Contains(t, out, "Exit codes:", cmd)
		assert.Contains(t, out, "Examples:", cmd)
	}
	code, _, stderr := run(t, "", "frobnicate")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, stderr, `unknown command "frobnicate"`)
}

func TestCheckEvaluationErrors(t *testing.T) {
	gates := gatesFile(t, `
gates:
  - name: bad-assert
    match: name == "POST /checkout"
    assert: int(resource["service.name"]) > 1
  - name: bad-fail
    match: name == "POST /checkout"
    fail: int(string(p95)) > 1
`)
	file := writeFile(t, "traces.jsonl", checkouts("r-1", 5, steady(100*time.Millisecond), 0))
	code, out, stderr := run(t, "", "check", "--gates", gates, "--format", "json", file)
	assert.Equal(t, ExitFailed, code, "failed is worse than error")
	run := checkJSON(t, out)[0]
	// An assert that cannot be evaluated is a violation; a fail condition,
	// the gate's error.
	g := gate(t, run, "bad-assert")
	assert.Equal(t, verdict.Failed, g.Status)
	assert.Equal(t, 5, g.EvalErrors)
	g = gate(t, run, "bad-fail")
	assert.Equal(t, verdict.Error, g.Status)
	assert.Contains(t, g.Reason, "error: fail condition int(string(p95)) > 1 could not be evaluated")
	assert.Contains(t, stderr, "releasegate: 5 assert expressions could not be evaluated")
}

func TestCheckErrorExit(t *testing.T) {
	gates := gatesFile(t, `
gates:
  - name: bad-fail
    match: name == "POST /checkout"
    fail: int(string(p95)) > 1
`)
	file := writeFile(t, "traces.jsonl", checkouts("r-1", 5, steady(100*time.Millisecond), 0))
	code, out, _ := run(t, "", "check", "--gates", gates, file)
	assert.Equal(t, ExitError, code)
	assert.Contains(t, out, "✗ error 1 of 1 gates error")
}
