package junit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/releasegate/releasegate/internal/sink/sinktest"
	"github.com/releasegate/releasegate/internal/verdict"
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
	s, err := New(filepath.Join(t.TempDir(), "reports"))
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
	_, err := New(filepath.Join(file, "reports"))
	assert.EqualError(t, err, "directory: mkdir "+file+": not a directory")
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

	tel, _ := sinktest.Deliver(t, s, e)
	assert.EqualValues(t, 1, tel.Failures.Load())
	assert.Zero(t, tel.Retries.Load()+tel.Delivered.Load())
}

// Anything but a permission error may go away: it is retried.
func TestWriteErrorIsRetried(t *testing.T) {
	s := newTestSink(t)
	require.NoError(t, os.Remove(s.dir))
	require.NoError(t, os.WriteFile(s.dir, nil, 0o600)) // the directory is now a file
	e := verdict.Event{Kind: verdict.RunFinished, Time: startedAt, Run: finishedRun()}

	assert.ErrorContains(t, send(t, s, e), "write "+filepath.Join(s.dir, "r-42.xml")+": ")

	tel, _ := sinktest.Deliver(t, s, e)
	assert.Positive(t, tel.Retries.Load())
	assert.EqualValues(t, 1, tel.Failures.Load())
	assert.Zero(t, tel.Delivered.Load())
}
