package junit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configretry"
	"go.uber.org/zap"

	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/sink"
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/verdict"
)

var startedAt = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func finishedRun() verdict.Run {
	finishedAt := startedAt.Add(4*time.Minute + 30*time.Second + 250*time.Millisecond)
	return verdict.Run{
		Run:         "r-42",
		Status:      verdict.Failed,
		Finished:    true,
		FinishCause: verdict.FinishedByAPI,
		StartedAt:   startedAt,
		LastSpanAt:  startedAt.Add(4 * time.Minute),
		FinishedAt:  &finishedAt,
		Revision:    "5b8efff7",
		Repository:  "https://github.com/acme/shop",
		Gates: []verdict.Gate{
			{
				Name:       "checkout-latency",
				Status:     verdict.Failed,
				Spans:      118,
				Violations: 8,
				Observed:   verdict.Observed{P50Ms: 154, P95Ms: 312.4567, P99Ms: 350, MaxMs: 360, ViolationRatio: 8.0 / 118},
				Assert:     `duration < duration("300ms")`,
				Condition:  `p95 > duration("250ms") && errors < 3`,
				Reason:     "failed: p95 312ms > 250ms (8 of 118 spans violated duration < 300ms)",
				Exemplars: []verdict.Exemplar{
					{TraceID: "5b8efff798038103d269b633813fc60c", SpanID: "eee19b7ec3c1b174", Name: "POST /checkout"},
					// Span names come from the traffic; XML cannot carry every byte.
					{TraceID: "952f65b64a708e6f0d3a1b60280b4e43", SpanID: "3fb0152942e62fb5", Name: "POST /checkout?\x1b[31m"},
				},
			},
			{Name: "no-server-errors", Status: verdict.Passed, Spans: 118, Condition: "violations > 0", Reason: `passed: 0 of 118 spans violated status != "error"`},
			{Name: "payment-latency", Status: verdict.Warning, Spans: 40, Condition: "violations > 0", Reason: "warning: p95 210ms > 200ms"},
			{Name: "search-errors", Status: verdict.Error, Spans: 0, Condition: "errors / spans > 0.1", Reason: "error: fail: integer divide by zero"},
			{Name: "inventory", Status: verdict.Inconclusive, Spans: 3, MinSpans: 20, Condition: "violations > 0", Reason: "inconclusive: 3 spans matched, min_spans is 20"},
		},
	}
}

func newTestSink(t *testing.T) *Sink {
	t.Helper()
	cfg := NewDefaultConfig()
	cfg.Directory = filepath.Join(t.TempDir(), "reports")
	require.NoError(t, cfg.Check())
	s, err := New(&cfg)
	require.NoError(t, err)
	return s
}

func send(t *testing.T, s *Sink, e verdict.Event) error {
	t.Helper()
	messages, err := s.Messages(e)
	require.NoError(t, err)
	require.Len(t, messages, 1)
	return messages[0].Send(t.Context())
}

// deliver writes the event's report and reads it back.
func deliver(t *testing.T, s *Sink, e verdict.Event) (string, testSuites) {
	t.Helper()
	require.NoError(t, send(t, s, e))
	path := filepath.Join(s.dir, fileName(e.Run.Run))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var report testSuites
	require.NoError(t, xml.Unmarshal(data, &report))
	if xmllint, err := exec.LookPath("xmllint"); err == nil {
		out, err := exec.Command(xmllint, "--noout", path).CombinedOutput()
		assert.NoError(t, err, "xmllint: %s", out)
	}
	return string(data), report
}

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

func TestRunStartedWritesNothing(t *testing.T) {
	s := newTestSink(t)
	messages, err := s.Messages(verdict.Event{Kind: verdict.RunStarted, Time: startedAt, Run: verdict.Run{Run: "r-42", StartedAt: startedAt}})
	require.NoError(t, err)
	assert.Empty(t, messages)
}

func TestFileName(t *testing.T) {
	hash := func(run string) string {
		sum := sha256.Sum256([]byte(run))
		return hex.EncodeToString(sum[:4])
	}
	long, hundred := strings.Repeat("a", 150), strings.Repeat("b", 100)
	for run, want := range map[string]string{
		"r-42":           "r-42.xml",
		"team.build_7-1": "team.build_7-1.xml",
		"build 7/ü":      "build_7__-" + hash("build 7/ü") + ".xml",
		"build_7__":      "build_7__.xml",
		"build 7/u":      "build_7_u-" + hash("build 7/u") + ".xml",
		"../../etc/pwd":  ".._.._etc_pwd-" + hash("../../etc/pwd") + ".xml",
		"":               "-" + hash("") + ".xml",
		"\xff":           "_-" + hash("\xff") + ".xml",
		long:             long[:100] + "-" + hash(long) + ".xml",
		long + "b":       long[:100] + "-" + hash(long+"b") + ".xml",
		hundred:          hundred + ".xml",
	} {
		assert.Equal(t, want, fileName(run), "run %q", run)
	}

	// The report lands in the directory, under that name.
	s := newTestSink(t)
	run := finishedRun()
	run.Run = "../build 7/ü"
	_, report := deliver(t, s, verdict.Event{Kind: verdict.RunFinished, Time: startedAt, Run: run})
	assert.Equal(t, "releasegate: ../build 7/ü", report.Suite.Name)
	entries, err := os.ReadDir(s.dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, ".._build_7__-"+hash(run.Run)+".xml", entries[0].Name())
}

// A CI job reading the report while the collector replaces it sees the
// old report or the new one, never half of one.
func TestReportReplacedAtomically(t *testing.T) {
	s := newTestSink(t)
	run := finishedRun()
	open := run
	open.Status, open.FinishedAt = verdict.Pending, nil
	abandoned := verdict.Event{Kind: verdict.RunAbandoned, Time: startedAt.Add(time.Minute), Run: open}
	finished := verdict.Event{Kind: verdict.RunFinished, Time: startedAt.Add(5 * time.Minute), Run: run}
	_, report := deliver(t, s, abandoned)
	require.Equal(t, "60.000", report.Time)

	path := filepath.Join(s.dir, "r-42.xml")
	stop := make(chan struct{})
	readErr := make(chan error)
	go func() {
		for {
			data, err := os.ReadFile(path)
			if err == nil {
				err = xml.Unmarshal(data, new(testSuites))
			}
			select {
			case <-stop:
				readErr <- nil
				return
			default:
				if err != nil {
					readErr <- err
					return
				}
			}
		}
	}()
	for range 50 {
		require.NoError(t, send(t, s, abandoned))
		require.NoError(t, send(t, s, finished))
	}
	close(stop)
	assert.NoError(t, <-readErr)

	_, report = deliver(t, s, finished)
	assert.Equal(t, "270.250", report.Time)
	entries, err := os.ReadDir(s.dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file is left behind")
	info, err := entries[0].Info()
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), info.Mode().Perm(), "readable by a CI runner running as another user")
}

func TestDirectoryRecreated(t *testing.T) {
	s := newTestSink(t)
	require.NoError(t, os.RemoveAll(s.dir))
	_, report := deliver(t, s, verdict.Event{Kind: verdict.RunFinished, Time: startedAt, Run: finishedRun()})
	assert.Equal(t, 5, report.Tests)
}

func TestNewFailsOnUnusableDirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	cfg := NewDefaultConfig()
	cfg.Directory = filepath.Join(file, "reports")
	_, err := New(&cfg)
	assert.EqualError(t, err, "directory: mkdir "+file+": not a directory")
}

// counts is a sink.Telemetry that counts.
type counts struct{ sent, retried, failed atomic.Int64 }

func (c *counts) Sent()    { c.sent.Add(1) }
func (c *counts) Retried() { c.retried.Add(1) }
func (c *counts) Failed()  { c.failed.Add(1) }
func (c *counts) Dropped() {}
func (c *counts) Skipped() {}

// publish delivers the event through a queue and counts what happened.
func publish(t *testing.T, s *Sink, e verdict.Event, retry configretry.BackOffConfig) *counts {
	t.Helper()
	tel := &counts{}
	q := sink.NewQueue("junit", s, 10, retry, zap.NewNop(), tel)
	q.Publish(e)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	require.NoError(t, q.Shutdown(ctx))
	return tel
}

func TestUnwritableDirectoryFailsAtOnce(t *testing.T) {
	if runtime.GOOS == "windows" || os.Geteuid() == 0 {
		t.Skip("needs a directory the test cannot write to: not as root, not on Windows")
	}
	s := newTestSink(t)
	require.NoError(t, os.Chmod(s.dir, 0o500))
	t.Cleanup(func() { _ = os.Chmod(s.dir, 0o755) })
	e := verdict.Event{Kind: verdict.RunFinished, Time: startedAt, Run: finishedRun()}

	err := send(t, s, e)
	require.ErrorIs(t, err, os.ErrPermission)
	assert.ErrorContains(t, err, "write "+filepath.Join(s.dir, "r-42.xml")+": ")

	// Retries start after 5s: a retried write would hold the queue's
	// shutdown to its deadline.
	tel := publish(t, s, e, configretry.NewDefaultBackOffConfig())
	assert.EqualValues(t, 1, tel.failed.Load())
	assert.Zero(t, tel.retried.Load()+tel.sent.Load())
}

// Anything but a permission error may go away: it is retried.
func TestWriteErrorIsRetried(t *testing.T) {
	s := newTestSink(t)
	require.NoError(t, os.Remove(s.dir))
	require.NoError(t, os.WriteFile(s.dir, nil, 0o600)) // the directory is now a file
	e := verdict.Event{Kind: verdict.RunFinished, Time: startedAt, Run: finishedRun()}

	assert.ErrorContains(t, send(t, s, e), "write "+filepath.Join(s.dir, "r-42.xml")+": ")

	retry := configretry.NewDefaultBackOffConfig()
	retry.InitialInterval = 10 * time.Millisecond
	retry.MaxInterval = 10 * time.Millisecond
	retry.MaxElapsedTime = 50 * time.Millisecond
	tel := publish(t, s, e, retry)
	assert.Positive(t, tel.retried.Load())
	assert.EqualValues(t, 1, tel.failed.Load())
	assert.Zero(t, tel.sent.Load())
}
