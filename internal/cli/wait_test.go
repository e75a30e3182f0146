package cli

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/releasegate/releasegate/internal/clocktest"
	"github.com/releasegate/releasegate/internal/verdict"
)

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeAPI behaves as the releasegate exporter's API does, on a fake clock.
type fakeAPI struct {
	*httptest.Server
	clock *clockwork.FakeClock

	mu   sync.Mutex
	runs map[string]*verdict.Run
	// final is the status a run gets when finished.
	final map[string]verdict.Status
	// token, when set, is required as a bearer token.
	token string
	// failures answers the next so many requests 503.
	failures int
	// trickleUntil: each GET of a run before this time sees a new span.
	trickleUntil time.Time
	// finishOpen finishes a run by itself on its nth GET (idle timeout).
	finishOnGet int
	// baselines the collector holds; a finished run compared with one
	// answers 409 to another finish with a baseline.
	baselines map[string]bool
	requests  []string
	finishes  []time.Time
	gets      int
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	api := &fakeAPI{
		clock:     clockwork.NewFakeClockAt(epoch),
		runs:      map[string]*verdict.Run{},
		final:     map[string]verdict.Status{},
		baselines: map[string]bool{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/runs/{run}", api.get)
	mux.HandleFunc("POST /v1/runs/{run}/finish", api.finish)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		api.writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such endpoint " + r.URL.Path})
	})
	api.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api.mu.Lock()
		api.requests = append(api.requests, r.Method+" "+r.URL.RequestURI())
		fail := api.failures > 0
		if fail {
			api.failures--
		}
		token := api.token
		api.mu.Unlock()
		switch {
		case fail:
			api.writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "cannot hold run: full"})
		case token != "" && r.Header.Get("Authorization") != "Bearer "+token:
			api.writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or invalid bearer token"})
		default:
			mux.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(api.Close)
	return api
}

// open holds a run with one gate, whose last span arrived lastSpan ago.
func (api *fakeAPI) open(run string, lastSpan time.Duration, final verdict.Status) {
	api.mu.Lock()
	defer api.mu.Unlock()
	now := api.clock.Now()
	api.runs[run] = &verdict.Run{
		Run: run, Status: verdict.Pending, StartedAt: now.Add(-time.Minute), LastSpanAt: now.Add(-lastSpan),
		Series: "default",
		Gates: []verdict.Gate{{
			Name: "checkout-latency", Scope: "span", Status: verdict.Pending, Spans: 40,
			Condition: `p95 > duration("250ms")`, Reason: "pending: the run is open",
			Observed: verdict.Observed{P95Ms: 180},
		}},
	}
	api.final[run] = final
}

func (api *fakeAPI) writeJSON(w http.ResponseWriter, status int, v any) {
	// The collector's clock, as its answers carry it.
	w.Header().Set("Date", api.clock.Now().UTC().Format(http.TimeFormat))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (api *fakeAPI) get(w http.ResponseWriter, r *http.Request) {
	api.mu.Lock()
	defer api.mu.Unlock()
	api.gets++
	run := api.runs[r.PathValue("run")]
	if run == nil {
		api.writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("unknown run %q", r.PathValue("run"))})
		return
	}
	now := api.clock.Now()
	if !run.Finished && now.Before(api.trickleUntil) {
		run.LastSpanAt = now
	}
	if api.finishOnGet > 0 && api.gets >= api.finishOnGet && !run.Finished {
		api.finishLocked(run, verdict.FinishedIdle, "")
	}
	api.writeJSON(w, http.StatusOK, run)
}

func (api *fakeAPI) finish(w http.ResponseWriter, r *http.Request) {
	api.mu.Lock()
	defer api.mu.Unlock()
	key := r.PathValue("run")
	run := api.runs[key]
	baseline, compare := r.URL.Query()["baseline"]
	if compare && !api.baselines[baseline[0]] {
		api.writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("cannot compare run %q with %q: unknown baseline run: %q", key, baseline[0], baseline[0])})
		return
	}
	if compare && run != nil && run.Finished {
		api.writeJSON(w, http.StatusConflict, map[string]string{"error": fmt.Sprintf("cannot compare run %q with %q: the run is finished (%s): it was compared with %s", key, baseline[0], run.FinishCause, deref(run.Baseline))})
		return
	}
	if run == nil {
		// As the store does: an unknown run opens and finishes with no data.
		now := api.clock.Now()
		run = &verdict.Run{Run: key, StartedAt: now, LastSpanAt: now, Series: "default", Gates: []verdict.Gate{{
			Name: "checkout-latency", Scope: "span", Condition: `p95 > duration("250ms")`, MinSpans: 1,
			Reason: "inconclusive: no span matched (min_spans 1)",
		}}}
		api.runs[key] = run
		api.final[key] = verdict.Inconclusive
	}
	if !run.Finished {
		var b string
		if compare {
			b = baseline[0]
		}
		api.finishLocked(run, verdict.FinishedByAPI, b)
		api.finishes = append(api.finishes, api.clock.Now())
	}
	api.writeJSON(w, http.StatusOK, run)
}

func (api *fakeAPI) finishLocked(run *verdict.Run, cause verdict.FinishCause, baseline string) {
	now := api.clock.Now()
	run.Finished, run.FinishCause, run.FinishedAt = true, cause, &now
	run.Status = api.final[run.Run]
	if baseline != "" {
		run.Baseline = &baseline
	}
	for i := range run.Gates {
		if run.Gates[i].Status == verdict.Pending {
			run.Gates[i].Reason = string(run.Status) + ": p95 180ms"
		}
		run.Gates[i].Status = run.Status
	}
}

func (api *fakeAPI) requestLog() []string {
	api.mu.Lock()
	defer api.mu.Unlock()
	return append([]string(nil), api.requests...)
}

type waitResult struct {
	stdout, stderr string
	code           int
	took           time.Duration // on the fake clock
}

// runWait runs `releasegate wait args...` against api with env as its
// environment, moving the fake clock on whenever the command waits on it.
func runWait(t *testing.T, api *fakeAPI, env map[string]string, args ...string) waitResult {
	t.Helper()
	if env == nil {
		env = map[string]string{}
	}
	if _, ok := env["RELEASEGATE_URL"]; !ok {
		env["RELEASEGATE_URL"] = api.URL
	}
	deps := waitDeps{
		clock:  api.clock,
		client: &http.Client{},
		getenv: func(k string) string { return env[k] },
		jitter: func() float64 { return 0.5 }, // no jitter: backoff as written
	}
	root := &cobra.Command{Use: "releasegate", SilenceErrors: true, SilenceUsage: true}
	root.AddCommand(newWaitWith(deps))
	var stdout, stderr bytes.Buffer
	root.SetArgs(append([]string{"wait"}, args...))
	root.SetOut(&stdout)
	root.SetErr(&stderr)

	start := api.clock.Now()
	done := make(chan struct{})
	var err error
	go func() {
		defer close(done)
		err = root.Execute()
	}()
	clocktest.AdvanceUntil(api.clock, 100*time.Millisecond, done)
	<-done
	return waitResult{stdout: stdout.String(), stderr: stderr.String() + errText(err), code: exitOf(err), took: api.clock.Since(start)}
}

// exitOf is the exit code Main gives err.
func exitOf(err error) int {
	var v verdictError
	var e *exitError
	switch {
	case err == nil:
		return ExitPassed
	case errors.As(err, &v):
		return v.code
	case errors.As(err, &e):
		return e.code
	}
	return ExitUsage
}

func errText(err error) string {
	var v verdictError
	if err == nil || errors.As(err, &v) {
		return ""
	}
	return "releasegate: " + err.Error() + "\n"
}

// The run is finished once it has had no span for --settle, counted from
// its last_span_at, and wait exits with its verdict.
func TestWaitFinishesAfterSettle(t *testing.T) {
	api := newFakeAPI(t)
	api.open("4242", 3*time.Second, verdict.Passed)

	r := runWait(t, api, nil, "4242", "--finish", "--settle", "10s")
	assert.Equal(t, ExitPassed, r.code, r.stderr)
	require.Len(t, api.finishes, 1)
	lastSpan := epoch.Add(-3 * time.Second)
	quiet := api.finishes[0].Sub(lastSpan)
	assert.GreaterOrEqual(t, quiet, 10*time.Second, "finished only after 10s without a span")
	assert.Less(t, quiet, 11500*time.Millisecond, "and not much later: the collector's clock says when the last span came")
	assert.Equal(t, []string{"GET /v1/runs/4242", "GET /v1/runs/4242", "POST /v1/runs/4242/finish"}, api.requestLog(),
		"one look, a sleep for what is left of the settle time, one more look")
	assert.Equal(t, "releasegate: run \"4242\" received its last span 3s ago; finishing it once none has arrived for 10s\n", r.stderr)
	assert.Contains(t, r.stdout, "run 4242")
	assert.Regexp(t, `(?m)^✓ passed\s+checkout-latency\s+40 spans\s+0\s+p95 180ms\s+passed: p95 180ms$`, r.stdout)
	assert.Regexp(t, `(?m)^✓ passed 1 of 1 gates passed$`, r.stdout)
}

// While spans still arrive, wait waits on; once they stop it finishes the
// run --settle after the last one.
func TestWaitSettlesWhileSpansTrickleIn(t *testing.T) {
	api := newFakeAPI(t)
	api.open("4242", 0, verdict.Failed)
	api.trickleUntil = epoch.Add(45 * time.Second)

	r := runWait(t, api, nil, "4242", "--finish", "--settle", "10s")
	assert.Equal(t, ExitFailed, r.code, r.stderr)
	require.Len(t, api.finishes, 1)
	last := api.runs["4242"].LastSpanAt
	assert.False(t, last.Before(epoch.Add(40*time.Second)), "spans were seen until 45s: %s", last.Sub(epoch))
	assert.GreaterOrEqual(t, api.finishes[0].Sub(last), 10*time.Second)
	assert.Less(t, api.finishes[0].Sub(last), 12*time.Second)
	assert.Contains(t, r.stdout, "✗ failed")
	assert.Equal(t, 5, strings.Count(r.stderr, "received its last span 0s ago"), "said each time spans had arrived:\n%s", r.stderr)
}

// Settle 0 finishes at once, after one look at the run.
func TestWaitSettleZero(t *testing.T) {
	api := newFakeAPI(t)
	api.open("4242", 0, verdict.Warning)
	r := runWait(t, api, nil, "4242", "--finish", "--settle", "0")
	assert.Equal(t, ExitPassed, r.code, "a warning passes: %s", r.stderr)
	assert.Equal(t, time.Duration(0), r.took)
	assert.Contains(t, r.stdout, "! warning")
}

// Without --finish, wait asks until the collector finishes the run by
// itself; --settle does not apply.
func TestWaitUntilTheCollectorFinishes(t *testing.T) {
	api := newFakeAPI(t)
	api.open("4242", 0, verdict.Error)
	api.finishOnGet = 4

	r := runWait(t, api, nil, "4242")
	assert.Equal(t, ExitError, r.code, r.stderr)
	assert.Equal(t, 3*pollInterval, r.took)
	for _, req := range api.requestLog() {
		assert.True(t, strings.HasPrefix(req, "GET "), "never finishes the run itself: %s", req)
	}
	assert.Contains(t, r.stdout, "✗ error")
}

// A collector that answers 5xx at first is asked again, with backoff.
func TestWaitRetriesServerErrors(t *testing.T) {
	api := newFakeAPI(t)
	api.open("4242", time.Minute, verdict.Passed)
	api.failures = 4

	r := runWait(t, api, nil, "4242", "--finish", "--settle", "10s")
	assert.Equal(t, ExitPassed, r.code, r.stderr)
	// 0.5s + 1s + 2s + 4s of backoff, on the fake clock in 100ms steps.
	assert.InDelta(t, 7500*time.Millisecond, r.took, float64(500*time.Millisecond))
	assert.Equal(t, 4, strings.Count(r.stderr, "503 Service Unavailable: cannot hold run: full; retrying in"), r.stderr)
	assert.Contains(t, r.stderr, "retrying in 4s")
}

// A collector that cannot be reached is tried until the timeout, then
// wait gives up with exit 5.
func TestWaitConnectionRefused(t *testing.T) {
	api := newFakeAPI(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := "http://" + l.Addr().String()
	require.NoError(t, l.Close())

	r := runWait(t, api, map[string]string{"RELEASEGATE_URL": closed}, "4242", "--finish", "--timeout", "1m")
	assert.Equal(t, ExitNoVerdict, r.code)
	assert.Contains(t, r.stderr, "cannot reach "+closed+": dial tcp")
	assert.Contains(t, r.stderr, "connection refused; retrying in 500ms")
	assert.Contains(t, r.stderr, "retrying in 10s", "the backoff grows to 10s")
	assert.Regexp(t, `connection refused; gave up after \d+ attempts: --timeout 1m0s has passed`, r.stderr)
	assert.Equal(t, time.Minute, r.took)
	assert.Empty(t, r.stdout)
}

// 401 and 403 end wait at once, say what to check, and never show the
// token.
func TestWaitUnauthorized(t *testing.T) {
	const token = "s3cr3t-token-value"
	api := newFakeAPI(t)
	api.open("4242", time.Minute, verdict.Passed)
	api.token = token

	r := runWait(t, api, nil, "4242", "--finish")
	assert.Equal(t, ExitNoVerdict, r.code)
	assert.Contains(t, r.stderr, "401 Unauthorized: missing or invalid bearer token; the API requires a token (server.auth): set RELEASEGATE_TOKEN")
	assert.Equal(t, time.Duration(0), r.took, "not retried")

	r = runWait(t, api, map[string]string{"RELEASEGATE_TOKEN": "wrong-" + token}, "4242", "--finish")
	assert.Equal(t, ExitNoVerdict, r.code)
	assert.Contains(t, r.stderr, "the token in RELEASEGATE_TOKEN was refused")
	assert.NotContains(t, r.stdout+r.stderr, token)

	r = runWait(t, api, map[string]string{"RELEASEGATE_TOKEN": token + "\n"}, "4242", "--finish", "--settle", "1s")
	assert.Equal(t, ExitPassed, r.code, r.stderr)
	assert.NotContains(t, r.stdout+r.stderr, token)
}

// A token the server echoes back is not printed.
func TestWaitNeverPrintsTheToken(t *testing.T) {
	const token = "s3cr3t-token-value"
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, "forbidden: %s", r.Header.Get("Authorization"))
	}))
	defer echo.Close()
	api := newFakeAPI(t)
	r := runWait(t, api, map[string]string{"RELEASEGATE_URL": echo.URL, "RELEASEGATE_TOKEN": token}, "4242")
	assert.Equal(t, ExitNoVerdict, r.code)
	assert.Contains(t, r.stderr, "403 Forbidden: forbidden: Bearer [REDACTED]")
	assert.NotContains(t, r.stderr, token)
}

// Without --finish, a run the collector does not know ends wait at once.
func TestWaitUnknownRun(t *testing.T) {
	api := newFakeAPI(t)
	r := runWait(t, api, nil, "no-such-run")
	assert.Equal(t, ExitNoVerdict, r.code)
	assert.Contains(t, r.stderr, `holds no run "no-such-run": check the run id, that the spans carry it as cicd.pipeline.run.id`)
	assert.Len(t, api.requestLog(), 1)
	assert.Equal(t, time.Duration(0), r.took)
}

// With --finish, a run without spans settles like a quiet one, and is
// finished with no data: inconclusive, exit 2.
func TestWaitFinishesAnUnknownRunWithoutData(t *testing.T) {
	api := newFakeAPI(t)
	r := runWait(t, api, nil, "no-spans", "--finish", "--settle", "5s")
	assert.Equal(t, ExitInconclusive, r.code, r.stderr)
	assert.Contains(t, r.stderr, `run "no-spans" is not known at `+api.URL+` yet: no span of it has arrived`)
	assert.Equal(t, 5*time.Second, r.took)
	assert.Contains(t, r.stdout, "? inconclusive")
	assert.Contains(t, r.stdout, "no span matched")
}

// Spans that never stop: wait gives up at the timeout with exit 5, without
// finishing the run, and shows it as it stands.
func TestWaitTimesOutWhileSpansArrive(t *testing.T) {
	api := newFakeAPI(t)
	api.open("4242", 0, verdict.Passed)
	api.trickleUntil = epoch.Add(time.Hour)

	r := runWait(t, api, nil, "4242", "--finish", "--settle", "10s", "--timeout", "1m")
	assert.Equal(t, ExitNoVerdict, r.code)
	assert.Empty(t, api.finishes)
	assert.Equal(t, time.Minute, r.took)
	assert.Contains(t, r.stderr, `timed out after 1m0s: run "4242" still receives spans`)
	assert.Contains(t, r.stdout, "(not finished)")

	api.finishOnGet = 1 << 30
	r = runWait(t, api, nil, "4242", "--timeout", "30s")
	assert.Equal(t, ExitNoVerdict, r.code)
	assert.Contains(t, r.stderr, `timed out after 30s: run "4242" is still open`)
}

// --format json prints the verdict API's JSON.
func TestWaitJSON(t *testing.T) {
	api := newFakeAPI(t)
	api.open("4242", time.Minute, verdict.Failed)
	r := runWait(t, api, nil, "4242", "--finish", "--format", "json")
	assert.Equal(t, ExitFailed, r.code)
	var got verdict.Run
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got), r.stdout)
	assert.Equal(t, *api.runs["4242"], got)
	assert.Contains(t, r.stdout, "\n  \"status\": \"failed\",\n")
}

// --junit writes the run's report with the exporter's junit sink.
func TestWaitJUnit(t *testing.T) {
	api := newFakeAPI(t)
	api.open("pipeline/42", time.Minute, verdict.Failed)
	dir := filepath.Join(t.TempDir(), "reports")
	r := runWait(t, api, nil, "pipeline/42", "--finish", "--junit", dir)
	assert.Equal(t, ExitFailed, r.code, r.stderr)
	assert.Contains(t, api.requestLog(), "POST /v1/runs/pipeline%2F42/finish", "the run id is one path segment")

	files, err := filepath.Glob(filepath.Join(dir, "*.xml"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	data, err := os.ReadFile(files[0])
	require.NoError(t, err)
	var report struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suite    struct {
			Cases []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	require.NoError(t, xml.Unmarshal(data, &report), string(data))
	assert.Equal(t, 1, report.Tests)
	assert.Equal(t, 1, report.Failures)
	require.Len(t, report.Suite.Cases, 1)
	assert.Equal(t, "checkout-latency", report.Suite.Cases[0].Name)
	require.NotNil(t, report.Suite.Cases[0].Failure)
	assert.Equal(t, "failed: p95 180ms", report.Suite.Cases[0].Failure.Message)
}

// A run id is one path segment, whatever its characters.
func TestWaitRunIDs(t *testing.T) {
	for key, escaped := range map[string]string{
		"team/build-7": "team%2Fbuild-7",
		"50%":          "50%25",
		"build 7":      "build%207",
		"a+b&c=d?e#f":  "a+b&c=d%3Fe%23f",
		"ü-日本":         "%C3%BC-%E6%97%A5%E6%9C%AC",
		"..":           "%2E%2E",
		".":            "%2E",
	} {
		t.Run(key, func(t *testing.T) {
			api := newFakeAPI(t)
			api.open(key, time.Minute, verdict.Passed)
			r := runWait(t, api, nil, key, "--finish", "--settle", "0")
			assert.Equal(t, ExitPassed, r.code, r.stderr)
			assert.Equal(t, []string{"GET /v1/runs/" + escaped, "POST /v1/runs/" + escaped + "/finish"}, api.requestLog())
			assert.Contains(t, r.stdout, "run "+key+", ")
		})
	}
}

// --baseline is passed to the finish; an unknown baseline ends wait with
// what to check; a run finished already keeps its verdict.
func TestWaitBaseline(t *testing.T) {
	api := newFakeAPI(t)
	api.open("4242", time.Minute, verdict.Passed)
	api.baselines["4100"] = true

	r := runWait(t, api, nil, "4242", "--finish", "--baseline", "4000")
	assert.Equal(t, ExitNoVerdict, r.code)
	assert.Contains(t, r.stderr, `cannot compare run "4242" with "4000": unknown baseline run: "4000"; check --baseline`)
	assert.Empty(t, r.stdout, "no verdict to show")

	r = runWait(t, api, nil, "4242", "--finish", "--baseline", "4100")
	assert.Equal(t, ExitPassed, r.code, r.stderr)
	assert.Contains(t, api.requestLog(), "POST /v1/runs/4242/finish?baseline=4100")
	assert.Contains(t, r.stdout, "baseline 4100")

	// The job retried: the run is finished, its verdict stands.
	r = runWait(t, api, nil, "4242", "--finish", "--baseline", "4100")
	assert.Equal(t, ExitPassed, r.code, r.stderr)
	assert.Contains(t, r.stderr, "the run is finished (api): it was compared with 4100; its verdict stands")
	assert.Contains(t, r.stdout, "✓ passed 1 of 1 gates passed")
}

// A URL that is not the API: its 404 or its page say to check the URL.
func TestWaitNotTheAPI(t *testing.T) {
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/runs/4242" {
			fmt.Fprint(w, "<html>hello</html>")
			return
		}
		http.NotFound(w, r)
	}))
	defer page.Close()
	api := newFakeAPI(t)
	r := runWait(t, api, map[string]string{"RELEASEGATE_URL": page.URL + "/prefix"}, "4242")
	assert.Equal(t, ExitNoVerdict, r.code)
	assert.Contains(t, r.stderr, "404 Not Found: 404 page not found; check --url or RELEASEGATE_URL")

	r = runWait(t, api, nil, "4242", "--url", page.URL)
	assert.Equal(t, ExitNoVerdict, r.code)
	assert.Contains(t, r.stderr, "answered with something other than a run")
}

// Mistakes in the command line end wait with exit 4 before any request.
func TestWaitUsage(t *testing.T) {
	api := newFakeAPI(t)
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	for name, tt := range map[string]struct {
		env  map[string]string
		args []string
		want string
	}{
		"no run":            {args: nil, want: "accepts 1 arg(s)"},
		"long run id":       {args: []string{strings.Repeat("x", 257)}, want: "is not a run id: 1 to 256 bytes"},
		"bad url":           {args: []string{"4242", "--url", "localhost:9464"}, want: "--url is not an http or https URL"},
		"bad env url":       {env: map[string]string{"RELEASEGATE_URL": "ftp://user:pw@host"}, args: []string{"4242"}, want: "RELEASEGATE_URL is not an http or https URL"},
		"negative settle":   {args: []string{"4242", "--finish", "--settle", "-1s"}, want: "--settle -1s"},
		"zero timeout":      {args: []string{"4242", "--timeout", "0"}, want: "--timeout 0s"},
		"baseline alone":    {args: []string{"4242", "--baseline", "4100"}, want: "add --finish"},
		"bad format":        {args: []string{"4242", "--format", "yaml"}, want: `"yaml" is not a format`},
		"junit on a file":   {args: []string{"4242", "--junit", file}, want: "--junit " + file},
		"token with a line": {env: map[string]string{"RELEASEGATE_TOKEN": "a\nb"}, args: []string{"4242"}, want: "RELEASEGATE_TOKEN holds control characters"},
	} {
		t.Run(name, func(t *testing.T) {
			r := runWait(t, api, tt.env, tt.args...)
			assert.Equal(t, ExitUsage, r.code)
			assert.Contains(t, r.stderr, tt.want)
			assert.NotContains(t, r.stderr, "pw@")
		})
	}
	assert.Empty(t, api.requestLog())
}

// wait's help names its flags, its environment and every exit code.
func TestWaitHelp(t *testing.T) {
	var stdout bytes.Buffer
	code := Main([]string{"wait", "--help"}, nil, &stdout, &stdout)
	assert.Equal(t, 0, code)
	for _, want := range []string{"--finish", "--settle duration", "--url URL", "--baseline RUN", "--junit DIR", "--timeout duration", "--baseline", "--junit", "--format text|json",
		"RELEASEGATE_URL", "RELEASEGATE_TOKEN", exitCodes} {
		assert.Contains(t, stdout.String(), want)
	}
}
