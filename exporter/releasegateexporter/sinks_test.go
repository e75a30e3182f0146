package releasegateexporter

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/releasegate/releasegate/annotation"
	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/metadata"
	"github.com/releasegate/releasegate/internal/clocktest"
	"github.com/releasegate/releasegate/internal/comptest"
	"github.com/releasegate/releasegate/internal/fakehost"
	"github.com/releasegate/releasegate/internal/runstore"
	"github.com/releasegate/releasegate/internal/runstore/runstoretest"
	"github.com/releasegate/releasegate/internal/verdict"
)

// The tests in this file put the sinks, as the exporter starts them, in
// front of CI status endpoints that fail: down, rate limited, hung. They
// check what every sink promises: delivery at least once, in order, with
// bounded retries, never blocking the span path or shutdown. Most run the
// queues on a fake clock, so that an outage of minutes takes none; a few
// run the exporter as its factory builds it, on the real clock.

const (
	shaA = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"
	shaB = "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3"
)

// statusContexts are the commit statuses of a runstoretest.Gates run, in
// the order the GitHub sink posts them: one per gate, then the run's.
var statusContexts = []string{
	"releasegate/checkout-latency", "releasegate/no-errors", "releasegate/ratio", "releasegate/never-matched", "releasegate",
}

// The states of statusContexts when a run starts, and when a run of
// checkout spans finishes slow (500ms: checkout-latency fails) or fast
// (100ms). never-matched has no data: inconclusive, GitHub's "error".
var (
	pendingStates = []string{"pending", "pending", "pending", "pending", "pending"}
	slowStates    = []string{"failure", "success", "success", "error", "failure"}
	fastStates    = []string{"success", "success", "success", "error", "error"}
)

// timeline is what a commit's statuses should go through: the states of
// statusContexts at each event, in order, by "sha context".
func timeline(sha string, events ...[]string) map[string][]string {
	want := map[string][]string{}
	for _, states := range events {
		for i, c := range statusContexts {
			want[sha+" "+c] = append(want[sha+" "+c], states[i])
		}
	}
	return want
}

// mergeTimelines is the timelines of several commits together.
func mergeTimelines(timelines ...map[string][]string) map[string][]string {
	all := map[string][]string{}
	for _, t := range timelines {
		for k, v := range t {
			all[k] = append(all[k], v...)
		}
	}
	return all
}

// countStates is how many statuses a timeline holds.
func countStates(m map[string][]string) int {
	n := 0
	for _, states := range m {
		n += len(states)
	}
	return n
}

// accepted maps "sha context" to the states GitHub accepted for it, in
// the order it accepted them.
func accepted(gh *fakehost.GitHub) map[string][]string {
	got := map[string][]string{}
	for _, s := range gh.Statuses() {
		got[s.SHA+" "+s.Context] = append(got[s.SHA+" "+s.Context], s.State)
	}
	return got
}

// withGitHub configures the GitHub sink for acme/shop at endpoint.
func withGitHub(endpoint string, retry configretry.BackOffConfig, queueSize int) func(*Config) {
	return func(cfg *Config) {
		gh := newDefaultGitHubConfig()
		gh.ClientConfig.Endpoint = endpoint
		gh.Token = githubToken
		gh.Repository = fakehost.GitHubRepository
		gh.RetryOnFailure = retry
		if queueSize > 0 {
			gh.QueueSize = queueSize
		}
		cfg.GitHub = configoptional.Some(gh)
	}
}

// quickRetry retries after 10ms to 50ms, for a minute.
func quickRetry() configretry.BackOffConfig {
	retry := configretry.NewDefaultBackOffConfig()
	retry.InitialInterval = 10 * time.Millisecond
	retry.MaxInterval = 50 * time.Millisecond
	retry.MaxElapsedTime = time.Minute
	return retry
}

// onCommit is a batch of n checkout spans of run, each lasting d, from a
// service built from commit sha.
func onCommit(run, sha string, n int, d time.Duration) ptrace.Traces {
	spans := make([]runstoretest.Span, n)
	for i := range spans {
		spans[i] = runstoretest.Checkout(run, d)
	}
	td := runstoretest.Traces(spans...)
	td.ResourceSpans().At(0).Resource().Attributes().PutStr("vcs.ref.head.revision", sha)
	return td
}

// clockedSinks are the sinks of a configuration, started as the exporter
// starts them, with their queues on a fake clock, fed by a run store of
// runstoretest.Gates as the exporter feeds them.
type clockedSinks struct {
	publisher
	store *runstore.Store
	clock *clockwork.FakeClock
	tel   *componenttest.Telemetry
	logs  *observer.ObservedLogs
}

func startClockedSinks(t *testing.T, modify func(*Config)) *clockedSinks {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	modify(cfg)
	s := &clockedSinks{clock: clockwork.NewFakeClock(), tel: componenttest.NewTelemetry()}
	t.Cleanup(func() { require.NoError(t, s.tel.Shutdown(context.Background())) })
	set := s.tel.NewTelemetrySettings()
	var core *observer.ObservedLogs
	set.Logger, core = newObservedLogger()
	s.logs = core
	telemetry, err := metadata.NewTelemetryBuilder(set)
	require.NoError(t, err)
	s.queues, err = startQueues(t.Context(), cfg, sinkSettings{host: componenttest.NewNopHost(), set: set, telemetry: telemetry, clock: s.clock})
	require.NoError(t, err)
	// Whatever the test left undelivered fails at once.
	t.Cleanup(func() { s.shutdown(cancelled()) })
	s.store = runstore.New(runstoretest.Compile(t, runstoretest.Gates), runstore.Settings{
		Limits: testLimits(),
		Now:    runstoretest.NewClock().Now,
		Events: true,
	})
	return s
}

func newObservedLogger() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zap.DebugLevel)
	return zap.New(core), logs
}

// cancelled is a context whose deadline has passed.
func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// record takes spans, and hands the events of the runs they open to the
// sinks, as the exporter's sweep does.
func (s *clockedSinks) record(td ptrace.Traces) {
	s.store.Record(td)
	s.store.Sweep()
	s.publish(s.store)
}

// finish finishes a run, as a CI job does through the API.
func (s *clockedSinks) finish(t *testing.T, run string) {
	t.Helper()
	_, err := s.store.Finish(run)
	require.NoError(t, err)
	s.publish(s.store)
}

// count is a sink's delivery counter: sent, retried, failed, dropped or
// skipped.
func (s *clockedSinks) count(t *testing.T, sinkName, counter string) int64 {
	return comptest.Counter(t, s.tel, "otelcol_exporter_releasegate_sink_"+counter, "sink", sinkName)
}

// waiting returns once a queue waits on the clock.
func (s *clockedSinks) waiting(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.clock.BlockUntilContext(ctx, 1), "no queue waits")
}

// step is how far the clock moves at a time: the retries' waits end within
// it of when they should.
const step = 100 * time.Millisecond

// pass lets d go by for a queue that keeps retrying, a step at a time, each
// once the queue waits, so that no retry is skipped.
func (s *clockedSinks) pass(t *testing.T, d time.Duration) {
	t.Helper()
	for end := s.clock.Now().Add(d); s.clock.Now().Before(end); {
		s.waiting(t)
		s.clock.Advance(step)
	}
}

// drain shuts the sinks down once they have delivered, or given up on,
// everything queued, moving the clock on while they wait to retry.
func (s *clockedSinks) drain() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.shutdown(context.Background())
	}()
	clocktest.AdvanceUntil(s.clock, step, done)
}

// shutdownNow shuts the sinks down with ctx, which must not need the clock:
// a queue that waited on it would fail the test.
func (s *clockedSinks) shutdownNow(t *testing.T, ctx context.Context) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.shutdown(ctx)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		require.FailNow(t, "Shutdown waits on the clock")
	}
}

// A GitHub API that is down, refusing connections and then answering 503,
// for two minutes, and comes back: every status is delivered once it is up,
// none lost, none twice, in order for each commit and context, including
// those of runs that started and finished during the outage, and within one
// backoff interval of its return. The retries are the defaults.
func TestSinkOutage(t *testing.T) {
	retry := configretry.NewDefaultBackOffConfig()
	gh := fakehost.NewGitHub(t, githubToken)
	gh.SetHealth(fakehost.Refusing)
	s := startClockedSinks(t, withGitHub(gh.URL, retry, 0))

	// Down: connections are refused. r1 runs and fails.
	s.record(onCommit("r1", shaA, 3, 500*time.Millisecond))
	s.finish(t, "r1")
	s.pass(t, time.Minute)
	require.Positive(t, s.count(t, "github", "retried"), "refused connections are retried")

	// Still down: GitHub listens again, behind a proxy that answers 503. r2
	// runs on the same commit and passes; r3 starts on another commit.
	gh.SetHealth(fakehost.Unavailable)
	s.record(onCommit("r2", shaA, 3, 100*time.Millisecond))
	s.finish(t, "r2")
	s.record(onCommit("r3", shaB, 3, 100*time.Millisecond))
	s.pass(t, time.Minute)
	require.Positive(t, gh.Answered(http.StatusServiceUnavailable))

	// Up. r3 finishes.
	up := s.clock.Now()
	gh.SetHealth(fakehost.Healthy)
	s.finish(t, "r3")
	s.drain()

	assertDeliveredAfterOutage(t, gh, func(counter string) int64 { return s.count(t, "github", counter) })
	backoff := time.Duration(float64(retry.MaxInterval) * (1 + retry.RandomizationFactor))
	assert.LessOrEqual(t, s.clock.Since(up), backoff+step, "delivered within one backoff interval of GitHub's return")
}

// A GitHub outage on the real clock, through the exporter as its factory
// builds it: the real timers of the retries, a second or two of them.
func TestSinkOutageOnTheRealClock(t *testing.T) {
	retry := configretry.NewDefaultBackOffConfig()
	retry.InitialInterval = 100 * time.Millisecond
	retry.MaxInterval = 200 * time.Millisecond
	gh := fakehost.NewGitHub(t, githubToken)
	gh.SetHealth(fakehost.Refusing)
	fe := startFaultExporter(t, withGitHub(gh.URL, retry, 0))
	ctx := t.Context()

	require.NoError(t, fe.ConsumeTraces(ctx, onCommit("r1", shaA, 3, 500*time.Millisecond)))
	fe.finish(t, "r1")
	require.Eventually(t, func() bool { return fe.sinkCount(t, "github", "retried") >= 3 }, 10*time.Second, 10*time.Millisecond,
		"refused connections are retried")

	gh.SetHealth(fakehost.Unavailable)
	require.NoError(t, fe.ConsumeTraces(ctx, onCommit("r2", shaA, 3, 100*time.Millisecond)))
	fe.finish(t, "r2")
	require.NoError(t, fe.ConsumeTraces(ctx, onCommit("r3", shaB, 3, 100*time.Millisecond)))
	require.Eventually(t, func() bool { return gh.Answered(http.StatusServiceUnavailable) >= 2 }, 10*time.Second, 10*time.Millisecond)

	gh.SetHealth(fakehost.Healthy)
	fe.finish(t, "r3")
	total := int64(countStates(outageTimelines()))
	require.Eventually(t, func() bool { return fe.sinkCount(t, "github", "sent") >= total }, 15*time.Second, 10*time.Millisecond)

	assertDeliveredAfterOutage(t, gh, func(counter string) int64 { return fe.sinkCount(t, "github", counter) })
}

// outageTimelines are the statuses of the outage tests' runs: r1 slow and
// r2 fast on shaA, r3 fast on shaB.
func outageTimelines() map[string][]string {
	return mergeTimelines(
		timeline(shaA, pendingStates, slowStates, pendingStates, fastStates),
		timeline(shaB, pendingStates, fastStates),
	)
}

// assertDeliveredAfterOutage checks what GitHub accepted after the outage
// tests' outage, and the sink's counters.
func assertDeliveredAfterOutage(t *testing.T, gh *fakehost.GitHub, count func(counter string) int64) {
	t.Helper()
	want := outageTimelines()
	assert.Equal(t, want, accepted(gh), "every status once, in order for each commit and context")
	requests := gh.Requests()
	lastRefusal := -1
	for i, r := range requests {
		if r.Code == http.StatusServiceUnavailable {
			lastRefusal = i
		}
	}
	for _, r := range requests[:lastRefusal+1] {
		assert.NotEqual(t, http.StatusCreated, r.Code, "a status was accepted during the outage")
	}
	assert.EqualValues(t, countStates(want), count("sent"))
	assert.Zero(t, count("failed"))
	assert.Zero(t, count("dropped"))
	unavailable := gh.Answered(http.StatusServiceUnavailable)
	assert.Positive(t, count("retried")-int64(unavailable), "retries of refused connections")
	t.Logf("%d attempts refused, %d answered 503, then %d statuses delivered",
		count("retried")-int64(unavailable), unavailable, countStates(want))
}

// A GitHub API that answers 429 with Retry-After: the queue waits the time
// asked for, two minutes, not its own (much shorter) backoff, before it
// retries, then delivers everything in order.
func TestSinkWaitsOutRetryAfter(t *testing.T) {
	const retryAfter = 2 * time.Minute
	gh := fakehost.NewGitHub(t, githubToken)
	gh.AnswerFirst(fakehost.Answer{
		Code:   http.StatusTooManyRequests,
		Header: http.Header{"Retry-After": {strconv.Itoa(int(retryAfter / time.Second))}},
		Body:   `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}`,
	})
	// Alone, the backoff would retry within 7.5s.
	s := startClockedSinks(t, withGitHub(gh.URL, configretry.NewDefaultBackOffConfig(), 0))
	s.record(onCommit("r1", shaA, 3, 500*time.Millisecond))
	s.finish(t, "r1")

	s.waiting(t)
	s.clock.Advance(retryAfter - 1)
	assert.Len(t, gh.Requests(), 1, "retried before the Retry-After")
	s.clock.Advance(1)
	s.drain()

	requests := gh.Requests()
	require.Len(t, requests, 11)
	assert.Equal(t, http.StatusTooManyRequests, requests[0].Code)
	assert.JSONEq(t, string(requests[0].Body), string(requests[1].Body), "the rate-limited status is retried first")
	assert.Equal(t, timeline(shaA, pendingStates, slowStates), accepted(gh))
	assert.EqualValues(t, 1, s.count(t, "github", "retried"))
	assert.EqualValues(t, 10, s.count(t, "github", "sent"))
	assert.Zero(t, s.count(t, "github", "failed"))
}

// Shutdown does not wait on the clock whatever the sink is doing: what it
// could not deliver by its deadline is counted as failed, the hung request
// is cancelled, and no goroutine is left behind.
func TestShutdownWithinDeadline(t *testing.T) {
	// Three runs on one commit, two finished: three run.started and two
	// run.finished of five statuses each.
	const statuses = 25
	retryForever := configretry.NewDefaultBackOffConfig()
	retryForever.MaxElapsedTime = 0

	tests := []struct {
		name      string
		health    fakehost.Health
		retry     configretry.BackOffConfig
		queueSize int
		// stuck waits until the sink is in the state the test wants.
		stuck func(t *testing.T, s *clockedSinks, gh *fakehost.GitHub)
	}{
		{
			name: "hung", health: fakehost.Hung, retry: quickRetry(),
			stuck: func(t *testing.T, _ *clockedSinks, gh *fakehost.GitHub) {
				require.Eventually(t, func() bool { return gh.Answered(0) == 1 }, 10*time.Second, time.Millisecond)
			},
		},
		{
			name: "down, retrying forever", health: fakehost.Refusing, retry: retryForever,
			stuck: func(t *testing.T, s *clockedSinks, _ *fakehost.GitHub) {
				s.waiting(t)
				require.EqualValues(t, 1, s.count(t, "github", "retried"))
			},
		},
		{
			name: "queue full", health: fakehost.Hung, retry: quickRetry(), queueSize: 5,
			stuck: func(t *testing.T, s *clockedSinks, gh *fakehost.GitHub) {
				require.Eventually(t, func() bool { return gh.Answered(0) == 1 }, 10*time.Second, time.Millisecond)
				require.Positive(t, s.count(t, "github", "dropped"))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gh := fakehost.NewGitHub(t, githubToken)
			gh.SetHealth(tt.health)
			leaks := goleak.IgnoreCurrent()
			s := startClockedSinks(t, withGitHub(gh.URL, tt.retry, tt.queueSize))
			s.record(onCommit("r1", shaA, 3, 500*time.Millisecond))
			s.record(onCommit("r2", shaA, 3, 100*time.Millisecond))
			s.record(onCommit("r3", shaA, 3, 100*time.Millisecond))
			s.finish(t, "r1")
			s.finish(t, "r2")
			tt.stuck(t, s, gh)

			s.shutdownNow(t, cancelled())

			sent, failed, dropped := s.count(t, "github", "sent"), s.count(t, "github", "failed"), s.count(t, "github", "dropped")
			assert.Zero(t, sent)
			assert.EqualValues(t, statuses, failed+dropped, "every status is accounted for: failed %d, dropped %d", failed, dropped)
			assert.Positive(t, failed)
			if tt.health == fakehost.Hung {
				require.Eventually(t, func() bool { return gh.Cancelled() == 1 }, 5*time.Second, time.Millisecond,
					"the hung request is cancelled")
			}
			goleak.VerifyNone(t, leaks)
		})
	}
}

// A GitHub API that hangs does not hold the span path: with its only
// request hung, ConsumeTraces and the API's finish return for run after run
// while the queue fills and every status past it is dropped, and counted.
// (BenchmarkConsumeTracesHungSink measures what a hung sink costs.)
func TestHungSinkDoesNotHoldTheSpanPath(t *testing.T) {
	const queueSize, runs = 5, 20
	gh := fakehost.NewGitHub(t, githubToken)
	gh.SetHealth(fakehost.Hung)
	fe := startFaultExporter(t, func(cfg *Config) {
		withGitHub(gh.URL, quickRetry(), queueSize)(cfg)
		cfg.GitHub.Get().ClientConfig.Timeout = time.Minute
	})
	ctx := t.Context()

	// r1's first status holds the worker; its other four wait in the queue.
	require.NoError(t, fe.ConsumeTraces(ctx, latencyBatch("r-1")))
	require.Eventually(t, func() bool { return gh.Answered(0) == 1 }, 10*time.Second, time.Millisecond)
	fe.finish(t, "r-1")
	for i := 2; i <= runs; i++ {
		run := "r-" + strconv.Itoa(i)
		require.NoError(t, fe.ConsumeTraces(ctx, latencyBatch(run)))
		fe.finish(t, run)
	}

	// One of r1's final statuses fitted in the queue; every other one,
	// and all those of the runs after it, were dropped.
	assert.EqualValues(t, 4+10*(runs-1), fe.sinkCount(t, "github", "dropped"))
	assert.Zero(t, fe.sinkCount(t, "github", "sent"))
	assert.Equal(t, 1, gh.Answered(0), "the request is still hung")
	assert.Zero(t, gh.Cancelled())
	assert.Len(t, gh.Requests(), 1)

	// Shutdown gives up on the hung request and the queued statuses.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	require.NoError(t, fe.shutdown(ctx))
	assert.EqualValues(t, 1+queueSize, fe.sinkCount(t, "github", "failed"))
}

// Shutdown returns within its deadline with every kind of sink stuck at
// once (the queues are flushed side by side, not one after the other),
// while a healthy sink still gets everything: the exporter on the real
// clock.
func TestShutdownWithinDeadlineEverySinkStuck(t *testing.T) {
	const deadline, slack = 500 * time.Millisecond, 250 * time.Millisecond
	retryForever := configretry.NewDefaultBackOffConfig()
	retryForever.MaxElapsedTime = 0
	hungGitHub := fakehost.NewGitHub(t, githubToken)
	hungGitHub.SetHealth(fakehost.Hung)
	downGitLab := fakehost.NewGitLab(t, gitlabToken)
	downGitLab.SetHealth(fakehost.Refusing)
	hungHook := fakehost.NewWebhook(t, fakehost.WebhookChecks{})
	hungHook.SetHealth(fakehost.Hung)
	dir := t.TempDir()
	leaks := goleak.IgnoreCurrent()
	fe := startFaultExporter(t, func(cfg *Config) {
		withGitHub(hungGitHub.URL, quickRetry(), 0)(cfg)
		gl := newDefaultGitLabConfig()
		gl.ClientConfig.Endpoint = downGitLab.URL
		gl.Token = gitlabToken
		gl.Project = fakehost.GitLabProject
		gl.RetryOnFailure = retryForever
		cfg.GitLab = configoptional.Some(gl)
		hook := newDefaultWebhookConfig()
		hook.ClientConfig.Endpoint = hungHook.URL
		hook.QueueSize = 1
		cfg.Webhooks = []WebhookConfig{hook}
		reports := newDefaultJUnitConfig()
		reports.Directory = dir
		cfg.JUnit = configoptional.Some(reports)
	})
	ctx := t.Context()
	require.NoError(t, fe.ConsumeTraces(ctx, onCommit("r1", shaA, 3, 500*time.Millisecond)))
	require.NoError(t, fe.ConsumeTraces(ctx, onCommit("r2", shaA, 3, 100*time.Millisecond)))
	fe.finish(t, "r1")
	require.Eventually(t, func() bool {
		return hungGitHub.Answered(0) == 1 && hungHook.Answered(0) == 1 && fe.sinkCount(t, "gitlab", "retried") == 1 &&
			fe.sinkCount(t, "webhooks[0]", "dropped") > 0 && fe.sinkCount(t, "junit", "sent") == 1
	}, 10*time.Second, 10*time.Millisecond)

	shutdownCtx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	require.NoError(t, fe.shutdown(shutdownCtx))
	took := time.Since(start)
	t.Logf("Shutdown with a %s deadline returned after %s", deadline, took.Round(time.Millisecond))
	assert.Less(t, took, deadline+slack)

	// Two run.started and one run.finished (statuses for each gate and the
	// run on GitHub and GitLab, one request for the webhook); r2 was
	// abandoned, which only JUnit reports.
	for name, messages := range map[string]int64{"github": 15, "gitlab": 15, "webhooks[0]": 3} {
		failed, dropped := fe.sinkCount(t, name, "failed"), fe.sinkCount(t, name, "dropped")
		assert.Zero(t, fe.sinkCount(t, name, "sent"), name)
		assert.Equal(t, messages, failed+dropped, "%s: failed %d, dropped %d", name, failed, dropped)
	}
	assert.EqualValues(t, 2, fe.sinkCount(t, "junit", "sent"), "JUnit reports r1 and the abandoned r2")
	assert.Zero(t, fe.sinkCount(t, "junit", "failed"))
	require.Eventually(t, func() bool { return hungGitHub.Cancelled() == 1 && hungHook.Cancelled() == 1 },
		5*time.Second, 10*time.Millisecond, "the hung requests are cancelled")
	goleak.VerifyNone(t, leaks)
}

// Sinks get every run's events through the component: the run's start and
// its finish in order; on shutdown, the runs still open (JUnit marks their
// gates skipped), and the queues are flushed.
func TestSinksThroughTheExporter(t *testing.T) {
	hook := fakehost.NewWebhook(t, fakehost.WebhookChecks{Secret: "hook-secret"})
	dir := t.TempDir()
	fe := startFaultExporter(t, func(cfg *Config) {
		h := newDefaultWebhookConfig()
		h.ClientConfig.Endpoint = hook.URL
		h.Secret = "hook-secret"
		cfg.Webhooks = []WebhookConfig{h}
		reports := newDefaultJUnitConfig()
		reports.Directory = dir
		cfg.JUnit = configoptional.Some(reports)
	})

	require.NoError(t, fe.ConsumeTraces(t.Context(), runstoretest.Traces(runstoretest.Checkout("done", 500*time.Millisecond), runstoretest.Checkout("open", time.Millisecond))))
	fe.finish(t, "done")
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Contains(c, hookEvents(t, hook), "run.finished done failed")
	}, 5*time.Second, 20*time.Millisecond)
	require.NoError(t, fe.shutdown(context.Background()))

	var done, open []string
	for _, e := range hookEvents(t, hook) {
		switch {
		case strings.Contains(e, " done "):
			done = append(done, e)
		case strings.Contains(e, " open "):
			open = append(open, e)
		}
	}
	assert.Equal(t, []string{"run.started done pending", "run.finished done failed"}, done)
	assert.Equal(t, []string{"run.started open pending"}, open, "webhooks are not told of abandoned runs")
	assert.Equal(t, int64(3), fe.sinkCount(t, "webhooks[0]", "sent"))

	// JUnit: the finished run's report, and the open run's with its gates
	// skipped.
	for run, wantSkipped := range map[string]string{"done": "0", "open": "4"} {
		data, err := os.ReadFile(filepath.Join(dir, run+".xml"))
		require.NoError(t, err, run)
		var suites struct {
			Suites []struct {
				Skipped string `xml:"skipped,attr"`
			} `xml:"testsuite"`
		}
		require.NoError(t, xml.Unmarshal(data, &suites))
		require.Len(t, suites.Suites, 1)
		assert.Equal(t, wantSkipped, suites.Suites[0].Skipped, run)
	}
}

// hookEvents are the events a webhook accepted, as "<event> <run>
// <status>".
func hookEvents(t *testing.T, hook *fakehost.Webhook) []string {
	var events []string
	for _, r := range hook.Requests() {
		if r.Code != http.StatusNoContent {
			continue
		}
		var run verdict.Run
		require.NoError(t, json.Unmarshal(r.Body, &run))
		events = append(events, r.Header.Get("X-Releasegate-Event")+" "+run.Run+" "+string(run.Status))
	}
	return events
}

// faultExporter is the exporter built by its factory and started, with its
// own self-telemetry.
type faultExporter struct {
	exporter.Traces
	api  string // the verdict API's base URL
	tel  *componenttest.Telemetry
	once sync.Once
}

// startFaultExporter starts the exporter on runstoretest.Gates, configured
// further by modify. Unless the test shuts it down, it is shut down with a
// one-second deadline when the test ends.
func startFaultExporter(tb testing.TB, modify func(*Config)) *faultExporter {
	tb.Helper()
	doc, err := config.Parse([]byte(runstoretest.Gates))
	require.NoError(tb, err)
	cfg := createDefaultConfig().(*Config)
	cfg.Gates = doc
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	cfg.Server.NetAddr.Endpoint = ln.Addr().String()
	require.NoError(tb, ln.Close())
	modify(cfg)
	require.NoError(tb, cfg.Validate())

	tel := componenttest.NewTelemetry()
	tb.Cleanup(func() { require.NoError(tb, tel.Shutdown(context.Background())) })
	set := exportertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	exp, err := NewFactory().CreateTraces(context.Background(), set, cfg)
	require.NoError(tb, err)
	require.NoError(tb, exp.Start(context.Background(), componenttest.NewNopHost()))
	fe := &faultExporter{Traces: exp, api: "http://" + cfg.Server.NetAddr.Endpoint, tel: tel}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		assert.NoError(tb, fe.shutdown(ctx))
	})
	return fe
}

// shutdown shuts the exporter down, once.
func (fe *faultExporter) shutdown(ctx context.Context) error {
	var err error
	fe.once.Do(func() { err = fe.Shutdown(ctx) })
	return err
}

// finish finishes a run through the API, as a CI job does.
func (fe *faultExporter) finish(t *testing.T, run string) {
	t.Helper()
	status, _, body := call(t, http.MethodPost, fe.api+"/v1/runs/"+run+"/finish")
	require.Equal(t, http.StatusOK, status, string(body))
}

// sinkCount is a sink's delivery counter: sent, retried, failed, dropped or
// skipped.
func (fe *faultExporter) sinkCount(t *testing.T, sinkName, counter string) int64 {
	return comptest.Counter(t, fe.tel, "otelcol_exporter_releasegate_sink_"+counter, "sink", sinkName)
}

// latencyBatch is a batch of 20 annotated checkout spans of run on shaA.
func latencyBatch(run string) ptrace.Traces {
	return onCommit(run, shaA, 20, 100*time.Millisecond)
}

// withLatencySink is the configuration of the span path measurements: a
// GitHub sink at endpoint, and runs that finish after 100ms without spans,
// so that the sink gets a run.started and a run.finished per run. A hung
// request stays hung for the whole measurement (no timeout within a
// minute).
func withLatencySink(endpoint string, queueSize int) func(*Config) {
	return func(cfg *Config) {
		withGitHub(endpoint, quickRetry(), queueSize)(cfg)
		cfg.GitHub.Get().ClientConfig.Timeout = time.Minute
		cfg.RunIdleTimeout = 100 * time.Millisecond
		cfg.Retention = time.Second
	}
}

// BenchmarkConsumeTracesHealthySink and BenchmarkConsumeTracesHungSink
// report ConsumeTraces (ns/op per batch of 20 spans, a new run every 10
// batches) with a GitHub sink that answers at once and with one that never
// answers: their ratio is what a hung sink costs the span path.
func BenchmarkConsumeTracesHealthySink(b *testing.B) { benchmarkConsumeTraces(b, fakehost.Healthy) }

func BenchmarkConsumeTracesHungSink(b *testing.B) { benchmarkConsumeTraces(b, fakehost.Hung) }

func benchmarkConsumeTraces(b *testing.B, h fakehost.Health) {
	gh := fakehost.NewGitHub(b, githubToken)
	gh.SetHealth(h)
	fe := startFaultExporter(b, withLatencySink(gh.URL, 0))
	td := latencyBatch("r-0")
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%10 == 0 {
			moveToRun(td, "r-"+strconv.Itoa(i/10))
		}
		if err := fe.ConsumeTraces(ctx, td); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// moveToRun moves the spans of td to run.
func moveToRun(td ptrace.Traces, run string) {
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				sp.Attributes().PutStr(annotation.Run, run)
			}
		}
	}
}
