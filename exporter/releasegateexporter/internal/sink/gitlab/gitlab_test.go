package gitlab

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/sink"
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/sink/sinktest"
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/verdict"
)

const (
	testToken = "glpat-t0ps3cr3t-token"
	testSHA   = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"
	traceID   = "5b8efff798038103d269b633813fc60c"
)

// received is a status the fake GitLab accepted.
type received struct {
	RequestURI string
	status
}

// fakeGitLab answers POST /api/v4/projects/{id}/statuses/{sha} as GitLab
// does for the project group/name (id 42), and records the statuses it
// accepts. Answers queued with answerFirst go first, one per request.
type fakeGitLab struct {
	*httptest.Server
	t *testing.T

	mu       sync.Mutex
	script   []func(http.ResponseWriter)
	requests int
	statuses []received
	// open is the state of each status still pending or running, by sha
	// and name: GitLab updates those, and creates a new status otherwise.
	open map[string]string
}

func newFakeGitLab(t *testing.T) *fakeGitLab {
	f := &fakeGitLab{t: t, open: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v4/projects/{project}/statuses/{sha}", f.createStatus)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		f.requests++
		f.mu.Unlock()
		sinktest.Reply(w, http.StatusNotFound, `{"error":"404 Not Found"}`)
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

var sha40 = regexp.MustCompile(`^[0-9a-f]{40}$`)

func (f *fakeGitLab) createStatus(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if len(f.script) > 0 {
		answer := f.script[0]
		f.script = f.script[1:]
		answer(w)
		return
	}
	if r.Header.Get("PRIVATE-TOKEN") != testToken {
		sinktest.Reply(w, http.StatusUnauthorized, `{"message":"401 Unauthorized"}`)
		return
	}
	assert.Equal(f.t, "application/json", r.Header.Get("Content-Type"))
	assert.Equal(f.t, "releasegate", r.Header.Get("User-Agent"))

	// The mux unescapes group%2Fname into one path value.
	if project := r.PathValue("project"); project != "group/name" && project != "42" {
		sinktest.Reply(w, http.StatusNotFound, `{"message":"404 Project Not Found"}`)
		return
	}
	sha := r.PathValue("sha")
	if !sha40.MatchString(sha) {
		sinktest.Reply(w, http.StatusNotFound, `{"message":"404 Commit Not Found"}`)
		return
	}
	var s status
	decoder := json.NewDecoder(r.Body)
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&s); err != nil {
		sinktest.Reply(w, http.StatusBadRequest, `{"error":"400 Bad request"}`)
		return
	}
	if !slices.Contains([]string{"pending", "running", "success", "failed", "canceled", "skipped"}, s.State) {
		sinktest.Reply(w, http.StatusBadRequest, `{"error":"state does not have a valid value"}`)
		return
	}
	if utf8.RuneCountInString(s.Description) > 255 {
		sinktest.Reply(w, http.StatusBadRequest, `{"message":{"description":["is too long (maximum is 255 characters)"]}}`)
		return
	}
	key := sha + " " + s.Name
	if f.open[key] == "running" && s.State == "running" {
		sinktest.Reply(w, http.StatusBadRequest, `{"message":"Cannot transition status via :run from :running (Reason(s): Status cannot transition via \"run\")"}`)
		return
	}
	if s.State == "pending" || s.State == "running" {
		f.open[key] = s.State
	} else {
		delete(f.open, key)
	}
	f.statuses = append(f.statuses, received{RequestURI: r.RequestURI, status: s})
	sinktest.Reply(w, http.StatusCreated, fmt.Sprintf(`{"id":%d,"sha":%q,"status":%q,"name":%q}`, len(f.statuses), sha, s.State, s.Name))
}

func (f *fakeGitLab) answerFirst(answers ...func(http.ResponseWriter)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script = append(f.script, answers...)
}

func (f *fakeGitLab) received() (int, []received) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests, slices.Clone(f.statuses)
}

func newSink(t *testing.T, f *fakeGitLab, modify func(*Config)) *Sink {
	cfg := NewDefaultConfig()
	cfg.ClientConfig.Endpoint = f.URL + "/"
	cfg.Token = testToken
	cfg.Project = "group/name"
	cfg.TargetURL = "https://grafana.example/explore?run={{.Run | urlquery}}&gate={{.Gate}}&trace={{.TraceID}}"
	if modify != nil {
		modify(&cfg)
	}
	require.NoError(t, cfg.Check())
	s, err := New(&cfg, f.Client())
	require.NoError(t, err)
	return s
}

func openRun() verdict.Run {
	return verdict.Run{
		Run:      "r-1",
		Status:   verdict.Pending,
		Revision: testSHA,
		Gates: []verdict.Gate{
			{Name: "checkout-latency", Status: verdict.Pending, Reason: "pending: 0 of 3 spans violated duration < 300ms so far"},
			{Name: "no-server-errors", Status: verdict.Pending, Reason: "pending: 0 of 7 spans violated status != \"error\" so far"},
			{Name: "payments", Status: verdict.Pending, Reason: "pending: 0 spans matched so far"},
		},
	}
}

func finishedRun() verdict.Run {
	run := openRun()
	run.Status, run.Finished = verdict.Failed, true
	run.Gates = []verdict.Gate{
		{
			Name: "checkout-latency", Status: verdict.Failed,
			Reason:    "failed: p95 312ms > 250ms (8 of 118 spans violated duration < 300ms)",
			Exemplars: []verdict.Exemplar{{TraceID: traceID, SpanID: "eee19b7ec3c1b174"}, {TraceID: "ffff"}},
		},
		{Name: "no-server-errors", Status: verdict.Warning, Reason: "warning: errors > 0 (0 of 120 spans violated status != \"error\")"},
		{Name: "payments", Status: verdict.Error, Reason: "error: fail condition p95 > x could not be evaluated: unknown name x"},
	}
	return run
}

func link(gate, trace string) string {
	return "https://grafana.example/explore?run=r-1&gate=" + gate + "&trace=" + trace
}

func TestMessages(t *testing.T) {
	f := newFakeGitLab(t)
	s := newSink(t, f, nil)

	var whats []string
	for _, e := range []verdict.Event{{Kind: verdict.RunStarted, Run: openRun()}, {Kind: verdict.RunFinished, Run: finishedRun()}} {
		messages, err := s.Messages(e)
		require.NoError(t, err)
		for _, m := range messages {
			whats = append(whats, m.What)
			require.NoError(t, m.Send(t.Context()))
		}
	}

	assert.Equal(t, []string{
		"running status releasegate/checkout-latency of group/name@1a2b3c4",
		"running status releasegate/no-server-errors of group/name@1a2b3c4",
		"running status releasegate/payments of group/name@1a2b3c4",
		"running status releasegate of group/name@1a2b3c4",
		"failed status releasegate/checkout-latency of group/name@1a2b3c4",
		"success status releasegate/no-server-errors of group/name@1a2b3c4",
		"failed status releasegate/payments of group/name@1a2b3c4",
		"failed status releasegate of group/name@1a2b3c4",
	}, whats)
	requests, statuses := f.received()
	assert.Equal(t, 8, requests)
	want := func(state, name, description, target string) received {
		return received{
			RequestURI: "/api/v4/projects/group%2Fname/statuses/" + testSHA,
			status:     status{State: state, Name: name, Description: description, TargetURL: target},
		}
	}
	assert.Equal(t, []received{
		want("running", "releasegate/checkout-latency", "pending: 0 of 3 spans violated duration < 300ms so far", link("checkout-latency", "")),
		want("running", "releasegate/no-server-errors", "pending: 0 of 7 spans violated status != \"error\" so far", link("no-server-errors", "")),
		want("running", "releasegate/payments", "pending: 0 spans matched so far", link("payments", "")),
		want("running", "releasegate", "pending: 3 of 3 gates pending", link("", "")),
		want("failed", "releasegate/checkout-latency", "failed: p95 312ms > 250ms (8 of 118 spans violated duration < 300ms)", link("checkout-latency", traceID)),
		want("success", "releasegate/no-server-errors", "warning: errors > 0 (0 of 120 spans violated status != \"error\")", link("no-server-errors", "")),
		want("failed", "releasegate/payments", "error: fail condition p95 > x could not be evaluated: unknown name x", link("payments", "")),
		want("failed", "releasegate", "failed: 1 of 3 gates failed, 1 error, 1 warning", link("", traceID)),
	}, statuses)
}

func TestMessagesNumericProject(t *testing.T) {
	f := newFakeGitLab(t)
	s := newSink(t, f, func(c *Config) { c.Project = "42"; c.TargetURL = "" })
	run := openRun()
	run.Gates = nil

	messages, err := s.Messages(verdict.Event{Kind: verdict.RunStarted, Run: run})
	require.NoError(t, err)
	require.Len(t, messages, 1)
	assert.Equal(t, "running status releasegate of 42@1a2b3c4", messages[0].What)
	require.NoError(t, messages[0].Send(t.Context()))
	_, statuses := f.received()
	assert.Equal(t, []received{{
		RequestURI: "/api/v4/projects/42/statuses/" + testSHA,
		status:     status{State: "running", Name: "releasegate", Description: "pending: 0 of 0 gates pending"},
	}}, statuses)
}

func TestAlreadyRunning(t *testing.T) {
	f := newFakeGitLab(t)
	s := newSink(t, f, nil)

	for range 2 {
		messages, err := s.Messages(verdict.Event{Kind: verdict.RunStarted, Run: openRun()})
		require.NoError(t, err)
		for _, m := range messages {
			require.NoError(t, m.Send(t.Context()), "running again is a no-op")
		}
	}
	requests, statuses := f.received()
	assert.Equal(t, 8, requests)
	assert.Len(t, statuses, 4)
}

func TestDescriptionTruncated(t *testing.T) {
	f := newFakeGitLab(t)
	s := newSink(t, f, nil)
	run := finishedRun()
	run.Gates = run.Gates[:1]
	run.Gates[0].Reason = "failed: " + strings.Repeat("p95 312ms > 250ms and ", 20)

	messages, err := s.Messages(verdict.Event{Kind: verdict.RunFinished, Run: run})
	require.NoError(t, err)
	require.NoError(t, messages[0].Send(t.Context()), "GitLab answers 400 past 255 characters")
	_, statuses := f.received()
	assert.Equal(t, sink.Truncate(run.Gates[0].Reason, 255), statuses[0].Description)
	assert.Equal(t, 255, utf8.RuneCountInString(statuses[0].Description))
}

func TestMessagesSkipped(t *testing.T) {
	s := newSink(t, newFakeGitLab(t), nil)

	run := finishedRun()
	run.Revision = ""
	_, err := s.Messages(verdict.Event{Kind: verdict.RunFinished, Run: run})
	require.EqualError(t, err, `run "r-1" has no vcs.ref.head.revision`)

	messages, err := s.Messages(verdict.Event{Kind: verdict.RunAbandoned, Run: openRun()})
	require.NoError(t, err)
	assert.Empty(t, messages)
}

func TestState(t *testing.T) {
	for status, want := range map[verdict.Status]string{
		verdict.Pending:      "running",
		verdict.Passed:       "success",
		verdict.Warning:      "success",
		verdict.Failed:       "failed",
		verdict.Inconclusive: "failed",
		verdict.Error:        "failed",
	} {
		assert.Equal(t, want, state(status), status)
	}
}

func TestStatusLine(t *testing.T) {
	run := verdict.Run{Status: verdict.Inconclusive, Gates: []verdict.Gate{
		{Status: verdict.Inconclusive}, {Status: verdict.Passed}, {Status: verdict.Pending}, {Status: verdict.Inconclusive},
	}}
	assert.Equal(t, "inconclusive: 2 of 4 gates inconclusive, 1 pending", run.Summary())
}

func TestResult(t *testing.T) {
	statusError := func(code int, message string) *sink.StatusError {
		return &sink.StatusError{Code: code, Message: message}
	}
	tests := []struct {
		name    string
		code    int
		headers map[string]string
		body    string
		want    error
	}{
		{
			name: "already running", code: 400,
			body: `{"message":"Cannot transition status via :run from :running (Reason(s): Status cannot transition via \"run\")"}`,
		},
		{
			name: "bad request", code: 400, body: `{"error":"state does not have a valid value"}`,
			want: sink.Permanent(statusError(400, "state does not have a valid value")),
		},
		{
			name: "messages per field", code: 400,
			body: `{"message":{"name":["has already been taken","is invalid"],"description":["is too long (maximum is 255 characters)"]}}`,
			want: sink.Permanent(statusError(400, "description is too long (maximum is 255 characters); name has already been taken, is invalid")),
		},
		{
			name: "list of messages", code: 422, body: `{"message":["Pipeline is blocked","Sha is missing"]}`,
			want: sink.Permanent(statusError(422, "Pipeline is blocked, Sha is missing")),
		},
		{
			name: "bad token", code: 401, body: `{"message":"401 Unauthorized"}`,
			want: sink.Permanent(statusError(401, "401 Unauthorized")),
		},
		{
			name: "revoked token", code: 401, body: `{"error":"invalid_token","error_description":"Token was revoked. You have to re-authorize from the user."}`,
			want: sink.Permanent(statusError(401, "invalid_token: Token was revoked. You have to re-authorize from the user.")),
		},
		{
			name: "missing permission", code: 403, body: `{"message":"403 Forbidden"}`,
			want: sink.Permanent(statusError(403, "403 Forbidden")),
		},
		{
			name: "unknown project", code: 404, body: `{"message":"404 Project Not Found"}`,
			want: sink.Permanent(statusError(404, "404 Project Not Found")),
		},
		{name: "conflict", code: 409, body: `{"message":"409 Conflict"}`, want: statusError(409, "409 Conflict")},
		{
			name: "rate limited", code: 429, headers: map[string]string{"Retry-After": "7"}, body: "Retry later\n",
			want: sink.RetryAfter(statusError(429, "Retry later"), 7*time.Second),
		},
		{name: "rate limited without a hint", code: 429, want: statusError(429, "")},
		{name: "server error", code: 500, body: `{"message":"500 Internal Server Error"}`, want: statusError(500, "500 Internal Server Error")},
		{name: "proxy page", code: 502, body: "<html>502 Bad Gateway</html>", want: statusError(502, "<html>502 Bad Gateway</html>")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tt.code, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(tt.body))}
			for k, v := range tt.headers {
				resp.Header.Set(k, v)
			}
			assert.Equal(t, tt.want, result(resp))
		})
	}
}

func names(statuses []received) []string {
	var names []string
	for _, s := range statuses {
		names = append(names, s.State+" "+s.Name)
	}
	return names
}

func TestQueueDelivers(t *testing.T) {
	f := newFakeGitLab(t)
	c, _ := sinktest.Deliver(t, newSink(t, f, nil),
		verdict.Event{Kind: verdict.RunStarted, Run: openRun()},
		verdict.Event{Kind: verdict.RunFinished, Run: finishedRun()},
		verdict.Event{Kind: verdict.RunAbandoned, Run: openRun()},
	)

	requests, statuses := f.received()
	assert.Equal(t, 8, requests)
	assert.Equal(t, []string{
		"running releasegate/checkout-latency",
		"running releasegate/no-server-errors",
		"running releasegate/payments",
		"running releasegate",
		"failed releasegate/checkout-latency",
		"success releasegate/no-server-errors",
		"failed releasegate/payments",
		"failed releasegate",
	}, names(statuses))
	for _, s := range statuses {
		assert.Equal(t, "/api/v4/projects/group%2Fname/statuses/"+testSHA, s.RequestURI)
	}
	assert.EqualValues(t, 8, c.Delivered.Load())
	assert.Zero(t, c.Retries.Load()+c.Failures.Load()+c.Drops.Load()+c.Skips.Load())
}

func TestQueueWaitsOutRateLimit(t *testing.T) {
	f := newFakeGitLab(t)
	f.answerFirst(sinktest.Answer(http.StatusTooManyRequests, map[string]string{"Retry-After": "1"}, "Retry later\n"))
	run := openRun()
	run.Gates = run.Gates[:1]

	start := time.Now()
	c, _ := sinktest.Deliver(t, newSink(t, f, nil), verdict.Event{Kind: verdict.RunStarted, Run: run})

	assert.GreaterOrEqual(t, time.Since(start), time.Second)
	requests, statuses := f.received()
	assert.Equal(t, 3, requests)
	assert.Equal(t, []string{"running releasegate/checkout-latency", "running releasegate"}, names(statuses))
	assert.EqualValues(t, 2, c.Delivered.Load())
	assert.EqualValues(t, 1, c.Retries.Load())
	assert.Zero(t, c.Failures.Load())
}

func TestQueueRetries(t *testing.T) {
	f := newFakeGitLab(t)
	f.answerFirst(
		sinktest.Answer(http.StatusServiceUnavailable, nil, `{"message":"503 Service Unavailable"}`),
		sinktest.Answer(http.StatusConflict, nil, `{"message":"409 Conflict"}`),
	)

	c, logs := sinktest.Deliver(t, newSink(t, f, nil), verdict.Event{Kind: verdict.RunFinished, Run: finishedRun()})

	requests, statuses := f.received()
	assert.Equal(t, 6, requests)
	assert.Len(t, statuses, 4)
	assert.EqualValues(t, 4, c.Delivered.Load())
	assert.EqualValues(t, 2, c.Retries.Load())
	assert.Zero(t, c.Failures.Load())
	retries := logs.FilterMessage("Retrying").All()
	require.Len(t, retries, 2)
	assert.Equal(t, "HTTP 503: 503 Service Unavailable", retries[0].ContextMap()["error"])
	assert.Equal(t, "HTTP 409: 409 Conflict", retries[1].ContextMap()["error"])
}

func TestQueueFailsPermanently(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		run    func(*verdict.Run)
		want   string
	}{
		{"bad token", func(c *Config) { c.Token = "glpat-wrong" }, nil, "HTTP 401: 401 Unauthorized"},
		{"unknown project", func(c *Config) { c.Project = "group/gone" }, nil, "HTTP 404: 404 Project Not Found"},
		{"unknown commit", nil, func(r *verdict.Run) { r.Revision = "main" }, "HTTP 404: 404 Commit Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeGitLab(t)
			run := finishedRun()
			run.Gates = nil
			if tt.run != nil {
				tt.run(&run)
			}

			c, logs := sinktest.Deliver(t, newSink(t, f, tt.modify), verdict.Event{Kind: verdict.RunFinished, Run: run})

			requests, statuses := f.received()
			assert.Equal(t, 1, requests, "no retry")
			assert.Empty(t, statuses)
			assert.EqualValues(t, 1, c.Failures.Load())
			assert.Zero(t, c.Delivered.Load()+c.Retries.Load())
			failures := logs.FilterMessage("Message not delivered").All()
			require.Len(t, failures, 1)
			assert.Equal(t, tt.want, failures[0].ContextMap()["error"])
		})
	}
}

func TestTokenNeverShown(t *testing.T) {
	f := newFakeGitLab(t)
	f.answerFirst(
		sinktest.Answer(http.StatusUnauthorized, nil, `{"message":"401 Unauthorized"}`),
		sinktest.Answer(http.StatusTooManyRequests, map[string]string{"Retry-After": "0"}, "Retry later"),
		sinktest.Answer(http.StatusBadRequest, nil, `{"message":{"name":["is invalid"]}}`),
		sinktest.Answer(http.StatusServiceUnavailable, nil, "unavailable"),
	)
	s := newSink(t, f, nil)
	messages, err := s.Messages(verdict.Event{Kind: verdict.RunFinished, Run: finishedRun()})
	require.NoError(t, err)

	var shown []string
	for _, m := range messages {
		shown = append(shown, m.What)
		err := m.Send(t.Context())
		require.Error(t, err)
		shown = append(shown, err.Error())
	}
	f.Close()
	err = messages[0].Send(t.Context())
	require.Error(t, err, "the server is gone")
	shown = append(shown, err.Error())

	run := finishedRun()
	run.Revision = ""
	_, err = s.Messages(verdict.Event{Kind: verdict.RunFinished, Run: run})
	shown = append(shown, err.Error())

	f = newFakeGitLab(t)
	f.answerFirst(
		sinktest.Answer(http.StatusServiceUnavailable, nil, `{"message":"503 Service Unavailable"}`),
		sinktest.Answer(http.StatusForbidden, nil, `{"message":"403 Forbidden"}`),
	)
	run = finishedRun()
	run.Gates = nil
	_, logs := sinktest.Deliver(t, newSink(t, f, nil), verdict.Event{Kind: verdict.RunFinished, Run: run})
	require.Equal(t, 2, logs.Len(), "a retry and a failure")
	for _, entry := range logs.All() {
		shown = append(shown, entry.Message, fmt.Sprint(entry.ContextMap()))
	}

	for _, text := range shown {
		assert.NotContains(t, text, testToken)
	}
}

func TestRunLinkShowsAFailure(t *testing.T) {
	f := newFakeGitLab(t)
	run := finishedRun()
	run.Gates = []verdict.Gate{
		{Name: "slow", Status: verdict.Warning, Exemplars: []verdict.Exemplar{{TraceID: "aaaa"}}},
		{Name: "p95", Status: verdict.Failed, Reason: "failed: p95 312ms > 250ms (118 spans matched)"},
		{Name: "errors", Status: verdict.Failed, Exemplars: []verdict.Exemplar{{TraceID: traceID}}},
	}

	messages, err := newSink(t, f, nil).Messages(verdict.Event{Kind: verdict.RunFinished, Run: run})
	require.NoError(t, err)
	require.NoError(t, messages[3].Send(t.Context()))
	_, statuses := f.received()
	assert.Equal(t, link("", traceID), statuses[0].TargetURL, "the first failed gate with an exemplar")
}
