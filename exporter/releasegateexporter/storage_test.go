package releasegateexporter

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/metadata"
	"github.com/releasegate/releasegate/internal/runstore"
	"github.com/releasegate/releasegate/internal/runstore/runstoretest"
	"github.com/releasegate/releasegate/internal/sink/webhook"
	"github.com/releasegate/releasegate/internal/storagetest"
	"github.com/releasegate/releasegate/internal/verdict"
)

// newTestStorage is a runStorage on client that has loaded it, as at start.
func newTestStorage(t *testing.T, client *storagetest.Client) (*runStorage, loaded, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	p := newRunStorage(client, zap.New(core), clockwork.NewRealClock())
	l, err := p.load(t.Context())
	require.NoError(t, err)
	return p, l, logs
}

// restore starts a store of gates on clock c from what client holds, as
// the exporter does at start.
func restore(t *testing.T, client *storagetest.Client, gates string, c *clockwork.FakeClock) (*runstore.Store, *runStorage, *observer.ObservedLogs) {
	t.Helper()
	p, l, logs := newTestStorage(t, client)
	s := runstore.New(runstoretest.Compile(t, gates), runstore.Settings{Limits: testLimits(), Now: c.Now, Events: true})
	p.restore(l, s)
	return s, p, logs
}

// restart saves s to client, then loads a new store from it, its clock set
// later by downtime, as a collector started again would.
func restart(t *testing.T, s *runstore.Store, c *clockwork.FakeClock, client *storagetest.Client, downtime time.Duration) (*runstore.Store, *clockwork.FakeClock, *runStorage, *observer.ObservedLogs) {
	t.Helper()
	p, _, _ := newTestStorage(t, client)
	p.save(t.Context(), s)
	c2 := clockwork.NewFakeClockAt(c.Now().Add(downtime))
	s2, p, logs := restore(t, client, runstoretest.Gates, c2)
	return s2, c2, p, logs
}

// storedRunOf is the record client holds of run key.
func storedRunOf(t *testing.T, client *storagetest.Client, key string) runstore.StoredRun {
	t.Helper()
	for _, k := range client.Keys("run/") {
		data, err := client.Get(t.Context(), k)
		require.NoError(t, err)
		var r runstore.StoredRun
		if json.Unmarshal(data, &r) == nil && r.Key == key {
			return r
		}
	}
	t.Fatalf("no run %s in storage", key)
	return runstore.StoredRun{}
}

// storageKeyOf is the storage key of run key.
func storageKeyOf(t *testing.T, client *storagetest.Client, key string) string {
	t.Helper()
	return runStorageKey(storedRunOf(t, client, key).Seq)
}

// Runs come back as they were: counts, durations (exact and sketched),
// exemplars, facts, unknown gates, verdicts, finished or open.
func TestRunsSurviveARestart(t *testing.T) {
	s, c := newTestStore(t, runstoretest.Gates, testLimits())
	var spans []runstoretest.Span
	for i := range 300 { // past exactDurations: in the sketch
		spans = append(spans, runstoretest.Checkout("r-long", time.Duration(100+i)*time.Millisecond))
	}
	s.Record(runstoretest.Traces(spans...))
	bad := runstoretest.Checkout("r-bad", 500*time.Millisecond)
	bad.Matched = append(bad.Matched, "from-a-newer-gates-file")
	s.Record(runstoretest.Traces(bad, runstoretest.Checkout("r-bad", 100*time.Millisecond), runstoretest.Span{Run: "r-bad", Name: "x", Matched: []string{"ratio"}, Violated: []string{"ratio"}},
		runstoretest.Span{Run: "r-bad", Name: "GET /", Matched: []string{"no-errors"}, Violated: []string{"no-errors"}}))
	facts := runstoretest.Traces(runstoretest.Checkout("r-done", 120*time.Millisecond))
	facts.ResourceSpans().At(0).Resource().Attributes().PutStr("vcs.ref.head.revision", "1a2b3c4d")
	s.Record(facts)
	s.Sweep() // announces them
	c.Advance(time.Second)
	finish(t, s, "r-done")
	c.Advance(time.Second)

	before := map[string]verdict.Run{}
	for _, key := range []string{"r-long", "r-bad", "r-done"} {
		before[key], _ = s.Get(key)
	}
	client := storagetest.New()
	s2, _, _, logs := restart(t, s, c, client, 0)
	assert.Zero(t, logs.Len(), logs.All())
	for key, want := range before {
		got, ok := s2.Get(key)
		require.True(t, ok, key)
		assert.Equal(t, want, got, key)
	}
	assert.Equal(t, []string{"from-a-newer-gates-file"}, before["r-bad"].UnknownGates)
	assert.Equal(t, "1a2b3c4d", before["r-done"].Revision)
	assert.Equal(t, 300, runstoretest.Gate(t, before["r-long"], "checkout-latency").Spans)
	assert.NotNil(t, storedRunOf(t, client, "r-long").Gates[0].Sketch, "the sketch went through storage")
	assert.NotEmpty(t, runstoretest.Gate(t, before["r-bad"], "checkout-latency").Exemplars)
	assert.NotNil(t, runstoretest.Gate(t, before["r-bad"], "no-errors").FailedAt, "failed fast, while open")

	// The newest first still, the order of retention kept, announcements
	// not repeated.
	assert.Equal(t, s.List(), s2.List())
	s2.Sweep()
	assert.Empty(t, s2.TakeEvents(), "their run.started went out before the restart")

	// A run that opens after the restart is newer than those before.
	s2.Record(runstoretest.Traces(runstoretest.Checkout("r-new", time.Millisecond)))
	assert.Equal(t, "r-new", s2.List()[0].Run)
}

// A restored open run resumes: spans after the restart add to its counts,
// and its idle timeout starts again at the restart, however long the
// collector was down.
func TestRestoredRunResumes(t *testing.T) {
	s, c := newTestStore(t, runstoretest.Gates, testLimits())
	s.Record(runstoretest.Traces(runstoretest.Checkout("r-1", 100*time.Millisecond), runstoretest.Checkout("r-1", 400*time.Millisecond)))
	s2, _, _, _ := restart(t, s, c, storagetest.New(), 10*time.Minute) // idle_timeout is 30s

	finished := s2.Sweep().Finished
	assert.Empty(t, finished, "not idle: it was just restored")
	s2.Record(runstoretest.Traces(runstoretest.Checkout("r-1", 120*time.Millisecond)))
	v := finish(t, s2, "r-1")
	latency := runstoretest.Gate(t, v, "checkout-latency")
	assert.Equal(t, 3, latency.Spans)
	assert.Equal(t, 1, latency.Violations)
	assert.Equal(t, verdict.Failed, latency.Status)
	assert.Equal(t, c.Now(), v.StartedAt, "it started before the restart")

	// Without spans, a restored run goes idle idle_timeout after the restart.
	s, c = newTestStore(t, runstoretest.Gates, testLimits())
	s.Record(runstoretest.Traces(runstoretest.Checkout("r-2", time.Millisecond)))
	s3, c3, _, _ := restart(t, s, c, storagetest.New(), 10*time.Minute)
	c3.Advance(29 * time.Second)
	finished = s3.Sweep().Finished
	assert.Empty(t, finished)
	c3.Advance(time.Second)
	finished = s3.Sweep().Finished
	assert.Equal(t, []verdict.FinishCause{verdict.FinishedIdle}, finished)
}

// Finished runs come back until their retention ends; after it they are
// neither restored nor kept in storage.
func TestRestoredFinishedRunsRetention(t *testing.T) {
	s, c := newTestStore(t, runstoretest.Gates, testLimits()) // retention 1h
	s.Record(runstoretest.Traces(runstoretest.Checkout("r-old", time.Millisecond)))
	finish(t, s, "r-old")
	c.Advance(30 * time.Minute)
	s.Record(runstoretest.Traces(runstoretest.Checkout("r-new", time.Millisecond)))
	finish(t, s, "r-new")
	client := storagetest.New()

	s2, _, p, _ := restart(t, s, c, client, 45*time.Minute)
	_, ok := s2.Get("r-old")
	assert.False(t, ok, "its retention ended while the collector was down")
	_, ok = s2.Get("r-new")
	assert.True(t, ok)
	assert.Len(t, client.Keys("run/"), 2)
	p.save(t.Context(), s2)
	assert.Equal(t, []string{storageKeyOf(t, client, "r-new")}, client.Keys("run/"))
}

// A save writes what changed since the last one, and deletes what the
// store forgot.
func TestSaveWritesWhatChanged(t *testing.T) {
	s, c := newTestStore(t, runstoretest.Gates, testLimits())
	client := storagetest.New()
	p, _, _ := newTestStorage(t, client)
	for i := range 10 {
		s.Record(runstoretest.Traces(runstoretest.Checkout(fmt.Sprint("r-", i), time.Millisecond)))
	}
	p.save(t.Context(), s)
	assert.Equal(t, 11, client.Writes(), "10 runs and the index")

	p.save(t.Context(), s)
	assert.Equal(t, 11, client.Writes(), "nothing changed")

	s.Record(runstoretest.Traces(runstoretest.Checkout("r-3", time.Millisecond)))
	p.save(t.Context(), s)
	assert.Equal(t, 12, client.Writes(), "r-3 only; the index is the same")

	finish(t, s, "r-4")
	c.Advance(2 * time.Hour) // past retention; the others finish idle
	s.Sweep()
	p.save(t.Context(), s)
	assert.Len(t, client.Keys("run/"), 9)
	c.Advance(2 * time.Hour)
	s.Sweep()
	p.save(t.Context(), s)
	assert.Empty(t, client.Keys("run/"))
	index, err := client.Get(t.Context(), runsIndexKey)
	require.NoError(t, err)
	assert.JSONEq(t, `{"v":1,"runs":[]}`, string(index))
}

// A save that fails is retried whole by the next one.
func TestSaveAfterStorageFailure(t *testing.T) {
	s, c := newTestStore(t, runstoretest.Gates, testLimits())
	client := storagetest.New()
	p, _, _ := newTestStorage(t, client)
	core, logs := observer.New(zap.DebugLevel)
	p.logger = zap.New(core)
	s.Record(runstoretest.Traces(runstoretest.Checkout("r-1", time.Millisecond)))
	client.Break(true)
	p.save(t.Context(), s)
	p.save(t.Context(), s)
	assert.Equal(t, 1, logs.FilterMessageSnippet("Cannot save runs").Len(), "logged once")
	client.Break(false)
	p.save(t.Context(), s)
	assert.Equal(t, 1, logs.FilterMessageSnippet("works again").Len())

	s2, _, _, _ := restart(t, s, c, client, 0)
	_, ok := s2.Get("r-1")
	assert.True(t, ok)
}

// Stored data that cannot be read, or does not hold together, is logged
// without its content and skipped; the rest is restored, and nothing
// panics, then or later.
func TestCorruptStoredRuns(t *testing.T) {
	s, c := newTestStore(t, runstoretest.Gates, testLimits())
	var spans []runstoretest.Span
	for i := range 200 {
		spans = append(spans, runstoretest.Checkout("r-sketch", time.Duration(i)*time.Millisecond))
	}
	s.Record(runstoretest.Traces(spans...))
	s.Record(runstoretest.Traces(runstoretest.Checkout("r-good", time.Millisecond), runstoretest.Checkout("r-other", time.Millisecond)))
	finish(t, s, "r-other")
	client := storagetest.New()
	p, _, _ := newTestStorage(t, client)
	p.save(t.Context(), s)
	good, sketched, other := storageKeyOf(t, client, "r-good"), storageKeyOf(t, client, "r-sketch"), storageKeyOf(t, client, "r-other")
	original, err := client.Get(t.Context(), good)
	require.NoError(t, err)

	corrupt := map[string]func(*runstore.StoredRun){
		"run id too long":       func(r *runstore.StoredRun) { r.Key = strings.Repeat("x", runstore.MaxRunIDLength+1) },
		"no run id":             func(r *runstore.StoredRun) { r.Key = "" },
		"counts do not add up":  func(r *runstore.StoredRun) { r.Gates[0].Count = 7 },
		"exact count mismatch":  func(r *runstore.StoredRun) { r.Gates[0].Exact = nil },
		"negative duration":     func(r *runstore.StoredRun) { r.Gates[0].Exact[0] = -1 },
		"unknown status":        func(r *runstore.StoredRun) { r.Gates[0].Status = "great" },
		"pending when finished": func(r *runstore.StoredRun) { r.Finished, r.Cause = r.Started, verdict.FinishedByAPI },
		"unknown finish cause":  func(r *runstore.StoredRun) { r.Finished, r.Cause = r.Started, "boredom" },
		"negative count":        func(r *runstore.StoredRun) { r.LateSpans = -1 },
	}
	for name, change := range corrupt {
		t.Run(name, func(t *testing.T) {
			var r runstore.StoredRun
			require.NoError(t, json.Unmarshal(original, &r))
			change(&r)
			data, err := json.Marshal(r)
			require.NoError(t, err)
			require.NoError(t, client.Set(t.Context(), good, data))

			s2, _, logs := restore(t, client, runstoretest.Gates, c)
			_, ok := s2.Get("r-good")
			assert.False(t, ok)
			_, ok = s2.Get("r-sketch")
			assert.True(t, ok, "the others are restored")
			skipped := logs.FilterMessage("Skipping a stored run").All()
			require.Len(t, skipped, 1)
			assert.Equal(t, good, skipped[0].ContextMap()["key"])
		})
	}

	for name, data := range map[string]string{
		"not JSON":      `{"v":1,"key":"r-good","seq":` + " ghp_secret",
		"other version": `{"v":2,"key":"r-good"}`,
		"wrong types":   `{"v":1,"key":42}`,
	} {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, client.Set(t.Context(), good, []byte(data)))
			s2, _, logs := restore(t, client, runstoretest.Gates, c)
			_, ok := s2.Get("r-good")
			assert.False(t, ok)
			assert.Len(t, s2.List(), 2)
			skipped := logs.FilterMessage("Skipping an unreadable stored run").All()
			require.Len(t, skipped, 1)
			assert.NotContains(t, fmt.Sprint(skipped[0].ContextMap()), "ghp_secret")
		})
	}
	require.NoError(t, client.Set(t.Context(), good, original))

	// A sketch that is not one.
	sketchData, err := client.Get(t.Context(), sketched)
	require.NoError(t, err)
	for name, bad := range map[string][]byte{
		"garbage":   []byte("\x02\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00"),
		"truncated": nil,
		"empty":     {},
	} {
		t.Run("sketch "+name, func(t *testing.T) {
			var r runstore.StoredRun
			require.NoError(t, json.Unmarshal(sketchData, &r))
			require.NotNil(t, r.Gates[0].Sketch)
			if name == "truncated" {
				bad = r.Gates[0].Sketch[:len(r.Gates[0].Sketch)/2]
			}
			r.Gates[0].Sketch = bad
			data, err := json.Marshal(r)
			require.NoError(t, err)
			require.NoError(t, client.Set(t.Context(), sketched, data))
			s2, _, logs := restore(t, client, runstoretest.Gates, c)
			if _, ok := s2.Get("r-sketch"); ok {
				// What decoded must hold as many durations as counted.
				v, _ := s2.Get("r-sketch")
				assert.Equal(t, 200, runstoretest.Gate(t, v, "checkout-latency").Spans)
			} else {
				assert.Equal(t, 1, logs.FilterMessage("Skipping a stored run").Len())
			}
			s2.Sweep()
			_ = s2.Samples()
		})
	}
	require.NoError(t, client.Set(t.Context(), sketched, sketchData))

	// An index that is not one: nothing is restored, and the next save
	// writes a new one.
	require.NoError(t, client.Set(t.Context(), runsIndexKey, []byte(`["`+other+`"]`)))
	s2, p2, logs := restore(t, client, runstoretest.Gates, c)
	assert.Empty(t, s2.List())
	assert.Equal(t, 1, logs.FilterMessage("Ignoring an unreadable index of stored runs").Len())
	s2.Record(runstoretest.Traces(runstoretest.Checkout("r-after", time.Millisecond)))
	p2.save(t.Context(), s2)
	s3, _, _ := restore(t, client, runstoretest.Gates, c)
	_, ok := s3.Get("r-after")
	assert.True(t, ok)
}

// A gates file changed between two starts: an open run keeps the counts
// of the gates it still has; a finished run, whose verdict would change,
// is not restored.
func TestRestoreWithOtherGates(t *testing.T) {
	s, c := newTestStore(t, runstoretest.Gates, testLimits())
	s.Record(runstoretest.Traces(runstoretest.Checkout("r-open", 400*time.Millisecond), runstoretest.Checkout("r-done", time.Millisecond)))
	finish(t, s, "r-done")
	client := storagetest.New()
	p, _, _ := newTestStorage(t, client)
	p.save(t.Context(), s)

	other, _, logs := restore(t, client, `
gates:
  - name: no-errors
    match: kind == "server"
  - name: checkout-latency
    match: name == "POST /checkout"
    assert: duration < duration("300ms")
  - name: brand-new
    match: "true"
`, c)

	v, ok := other.Get("r-open")
	require.True(t, ok)
	assert.Equal(t, 1, runstoretest.Gate(t, v, "checkout-latency").Violations)
	assert.Equal(t, 0, runstoretest.Gate(t, v, "brand-new").Spans)
	_, ok = other.Get("r-done")
	assert.False(t, ok)
	assert.Equal(t, 1, logs.FilterMessage("Skipping a stored run").Len())
}

// hooks is a webhook receiver the test takes down and brings back; it
// keeps "<event> <run> <status> <spans of checkout-latency>" of what it
// accepted, in order.
type hooks struct {
	mu   sync.Mutex
	down bool
	got  []string
}

func (h *hooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var run verdict.Run
	if err := json.NewDecoder(r.Body).Decode(&run); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	spans := -1
	for _, g := range run.Gates {
		if g.Name == "checkout-latency" {
			spans = g.Spans
		}
	}
	h.got = append(h.got, fmt.Sprintf("%s %s %s %d", r.Header.Get(webhook.EventHeader), run.Run, run.Status, spans))
}

func (h *hooks) setDown(down bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.down = down
}

func (h *hooks) received() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.got)
}

// startStoredExporter starts the exporter through its factory with a
// webhook, JUnit reports in dir, and the storage extension "file_storage"
// backed by client.
func startStoredExporter(t *testing.T, client *storagetest.Client, hookURL, dir string) (exporter.Traces, string) {
	t.Helper()
	doc, err := config.Parse([]byte(runstoretest.Gates))
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	cfg.Gates = doc
	cfg.Server.NetAddr.Endpoint = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg.RunIdleTimeout = time.Hour
	id := component.MustNewID("file_storage")
	cfg.Storage = &id
	hook := newDefaultWebhookConfig()
	hook.ClientConfig.Endpoint = hookURL
	hook.RetryOnFailure.InitialInterval = 10 * time.Millisecond
	hook.RetryOnFailure.MaxInterval = 50 * time.Millisecond
	cfg.Webhooks = []WebhookConfig{hook}
	reports := newDefaultJUnitConfig()
	reports.Directory = dir
	cfg.JUnit = configoptional.Some(reports)
	require.NoError(t, cfg.Validate())

	exp, err := NewFactory().CreateTraces(t.Context(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	host := storagetest.Host{id: &storagetest.Extension{Client: client}}
	require.NoError(t, exp.Start(t.Context(), host))
	return exp, "http://" + cfg.Server.NetAddr.Endpoint
}

// Through the component: a graceful shutdown with storage saves the open
// runs and the undelivered events instead of abandoning them; the next
// start delivers the events, in order, and the runs go on counting.
func TestExporterRestartWithStorage(t *testing.T) {
	receiver := &hooks{down: true}
	server := httptest.NewServer(receiver)
	defer server.Close()
	dir := t.TempDir()
	client := storagetest.New()

	exp, api := startStoredExporter(t, client, server.URL, dir)
	require.NoError(t, exp.ConsumeTraces(t.Context(), runstoretest.Traces(runstoretest.Checkout("r-1", 100*time.Millisecond), runstoretest.Checkout("r-1", 400*time.Millisecond))))
	// The sweep announces r-1 (its event and the index wait in storage)
	// before r-2 opens and finishes: the order the events go out in.
	require.Eventually(t, func() bool { return len(client.Keys("sink/webhooks[0]/")) == 2 }, 5*time.Second, 10*time.Millisecond)
	status, _, _ := call(t, http.MethodPost, api+"/v1/runs/r-2/finish")
	require.Equal(t, http.StatusOK, status)
	// Both runs announced, r-2 finished: 3 events wait in storage, with
	// the index.
	require.Eventually(t, func() bool { return len(client.Keys("sink/webhooks[0]/")) == 4 }, 5*time.Second, 10*time.Millisecond)
	start := time.Now()
	require.NoError(t, exp.Shutdown(context.Background()))
	assert.Less(t, time.Since(start), 2*time.Second, "shutdown does not wait on the webhook")
	_, err := os.Stat(filepath.Join(dir, "r-1.xml"))
	assert.ErrorIs(t, err, os.ErrNotExist, "r-1 was saved, not abandoned")
	assert.Empty(t, receiver.received())

	receiver.setDown(false)
	exp, api = startStoredExporter(t, client, server.URL, dir)
	defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()
	require.NoError(t, exp.ConsumeTraces(t.Context(), runstoretest.Traces(runstoretest.Checkout("r-1", 120*time.Millisecond))))
	v := getRun(t, http.MethodPost, api+"/v1/runs/r-1/finish")
	assert.Equal(t, 3, runstoretest.Gate(t, v, "checkout-latency").Spans)
	assert.Equal(t, verdict.Failed, runstoretest.Gate(t, v, "checkout-latency").Status)
	v = getRun(t, http.MethodGet, api+"/v1/runs/r-2")
	assert.True(t, v.Finished, "finished runs stay visible")

	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Equal(c, []string{
			"run.started r-1 pending 2", "run.started r-2 pending 0", "run.finished r-2 inconclusive 0",
			"run.finished r-1 failed 3",
		}, receiver.received())
	}, 5*time.Second, 10*time.Millisecond)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		report, err := os.ReadFile(filepath.Join(dir, "r-1.xml"))
		require.NoError(c, err)
		assert.Contains(c, string(report), `failures="1"`)
	}, 5*time.Second, 10*time.Millisecond)
	assert.Empty(t, storedEventKeys(client), "every event was delivered")
}

func storedEventKeys(client *storagetest.Client) []string {
	var keys []string
	for _, k := range client.Keys("sink/") {
		if !strings.HasSuffix(k, "/index") {
			keys = append(keys, k)
		}
	}
	return keys
}

func TestStartFailsWithoutTheStorageExtension(t *testing.T) {
	doc, err := config.Parse([]byte(runstoretest.Gates))
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	cfg.Gates = doc
	cfg.Server.NetAddr.Endpoint = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	id := component.MustNewIDWithName("file_storage", "missing")
	cfg.Storage = &id
	exp, err := NewFactory().CreateTraces(t.Context(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	err = exp.Start(t.Context(), componenttest.NewNopHost())
	require.EqualError(t, err, `storage: no extension "file_storage/missing": add it under `+"`extensions`"+` and to the service's extensions`)
	require.NoError(t, exp.Shutdown(context.Background()))
}

// BenchmarkSave reports what saving 10,000 open runs × 20 gates costs when
// every run changed since the last save (the worst case; a save writes only
// the runs that changed): the time the store's lock is held to copy them
// (snapshot), the whole save into an in-memory storage client (encoding
// included), the bytes written, and the restore at start. spans=25 keeps
// the durations exact, spans=130 puts them in sketches.
func BenchmarkSave(b *testing.B) {
	var doc strings.Builder
	doc.WriteString("gates:\n")
	all := make([]string, 20)
	for i := range all {
		all[i] = fmt.Sprint("gate-", i)
		fmt.Fprintf(&doc, "  - {name: gate-%d, match: 'true', assert: 'duration < duration(\"100ms\")'}\n", i)
	}
	for _, perGate := range []int{25, 130} {
		gates := runstoretest.Compile(b, doc.String())
		limits := runstore.Limits{IdleTimeout: time.Hour, MaxRunDuration: time.Hour, Retention: time.Hour, MaxRuns: 10000}
		s := runstore.New(gates, runstore.Settings{Limits: limits})
		spans := make([]runstoretest.Span, perGate)
		for i := range spans {
			spans[i] = runstoretest.Span{Duration: time.Duration(i*7919%200) * time.Millisecond, Matched: all}
		}
		spans[0].Violated = all[:1]
		for r := range 10000 {
			for i := range spans {
				spans[i].Run = fmt.Sprint("run-", r)
			}
			s.Record(runstoretest.Traces(spans...))
		}
		client := storagetest.New()
		p := newRunStorage(client, zap.NewNop(), clockwork.NewRealClock())
		p.runs.saved, p.traces.saved = map[uint64]bool{}, map[string]bool{}
		name := fmt.Sprintf("runs=10000/gates=20/spans=%d", perGate)

		b.Run(name+"/snapshot", func(b *testing.B) {
			for b.Loop() {
				s.Snapshot(true)
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
		})
		b.Run(name+"/save", func(b *testing.B) {
			for b.Loop() {
				p.failing = true // write every run
				p.save(b.Context(), s)
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
			b.ReportMetric(float64(client.Size())/(1<<20), "MiB")
		})
		b.Run(name+"/restore", func(b *testing.B) {
			p.failing = true
			p.save(b.Context(), s)
			for b.Loop() {
				p2 := newRunStorage(client, zap.NewNop(), clockwork.NewRealClock())
				l, err := p2.load(b.Context())
				require.NoError(b, err)
				s2 := runstore.New(gates, runstore.Settings{Limits: limits})
				done, _ := p2.restore(l, s2)
				require.Equal(b, 10000, done.Open)
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
		})
	}
}

// Traces buffered for trace gates are saved with the runs: after a
// restart, a trace whose spans came on both sides of it is judged whole.
func TestBufferedTracesSurviveARestart(t *testing.T) {
	const gates = `
gates:
  - name: written-once
    scope: trace
    match: root != nil
    assert: count(spans, .name == "INSERT orders" && .attributes["db.rows"] == 1) == 1
`
	span := func(td ptrace.Traces, id, parent byte, name string) {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("cicd.pipeline.run.id", "r")
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{15: 7})
		sp.SetSpanID(pcommon.SpanID{7: id})
		if parent != 0 {
			sp.SetParentSpanID(pcommon.SpanID{7: parent})
		}
		sp.SetName(name)
		sp.Attributes().PutInt("db.rows", 1)
	}
	c := runstoretest.NewClock()
	s := runstore.New(runstoretest.Compile(t, gates), runstore.Settings{Limits: testLimits(), Traces: testTraceLimits, Now: c.Now})
	before := ptrace.NewTraces()
	span(before, 1, 0, "POST /checkout")
	span(before, 2, 1, "INSERT orders")
	s.Record(before)
	client := storagetest.New()
	p, _, _ := newTestStorage(t, client)
	p.save(t.Context(), s)
	assert.Len(t, client.Keys("trace/"), 1)

	p, l, logs := newTestStorage(t, client)
	s2 := runstore.New(runstoretest.Compile(t, gates), runstore.Settings{Limits: testLimits(), Traces: testTraceLimits, Now: c.Now})
	_, tally := p.restore(l, s2)
	assert.Equal(t, int64(1), tally.Traces.Buffered)
	assert.Zero(t, logs.Len(), "nothing skipped")
	after := ptrace.NewTraces()
	span(after, 3, 1, "INSERT orders") // a second insert: the gate fails
	s2.Record(after)
	v := finish(t, s2, "r")
	g := runstoretest.Gate(t, v, "written-once")
	assert.Equal(t, 1, g.Spans, "one trace")
	assert.Equal(t, 1, g.Violations, "judged with the spans from before the restart")

	// Judged, it leaves storage.
	p.save(t.Context(), s2)
	assert.Empty(t, client.Keys("trace/"))
}

// Baselines and pins go to storage with the runs, each baseline once, and
// leave it when nothing refers to them any more.
func TestBaselinesInStorage(t *testing.T) {
	const gates = `
baseline:
  min_samples: 5
gates:
  - name: latency
    match: name == "POST /checkout"
    fail: latency_ratio_low > 1.10
`
	c := runstoretest.NewClock()
	limits := testLimits()
	limits.MaxSeries = 10
	s := runstore.New(runstoretest.Compile(t, gates), runstore.Settings{Limits: limits, Now: c.Now})
	checkouts := func(s *runstore.Store, run string, d time.Duration) {
		var spans []runstoretest.Span
		for i := range 10 {
			spans = append(spans, runstoretest.Span{Run: run, Name: "POST /checkout", Duration: d + time.Duration(i)*time.Millisecond, Matched: []string{"latency"}})
		}
		s.Record(runstoretest.Traces(spans...))
	}
	checkouts(s, "r-1", 100*time.Millisecond)
	finish(t, s, "r-1")
	_, _, err := s.Pin("default", "r-1")
	require.NoError(t, err)
	checkouts(s, "r-2", 100*time.Millisecond)
	finish(t, s, "r-2")
	checkouts(s, "r-open", 200*time.Millisecond)

	client := storagetest.New()
	p, _, _ := newTestStorage(t, client)
	p.save(t.Context(), s)
	assert.Len(t, client.Keys("baseline/"), 2, "the pin, r-open's too, and the last passed")
	assert.Equal(t, []string{"series/default"}, client.Keys("series/"))

	p2, l, logs := newTestStorage(t, client)
	s2 := runstore.New(runstoretest.Compile(t, gates), runstore.Settings{Limits: limits, Now: c.Now})
	p2.restore(l, s2)
	assert.Zero(t, logs.Len(), "nothing skipped")
	assert.Equal(t, s.Baselines(), s2.Baselines())
	v := finish(t, s2, "r-open")
	assert.Equal(t, "r-1", *v.Baseline)
	assert.Equal(t, verdict.Failed, runstoretest.Gate(t, v, "latency").Status)

	// Unpinned, r-1's baseline is no one's: it leaves storage.
	_, err = s2.Unpin("default")
	require.NoError(t, err)
	p2.save(t.Context(), s2)
	assert.Len(t, client.Keys("baseline/"), 1)
}
