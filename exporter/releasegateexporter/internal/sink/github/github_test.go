package github

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
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
	testToken = "ghp_t0ps3cr3t-token"
	testSHA   = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"
	traceID   = "5b8efff798038103d269b633813fc60c"
)

// received is a status the fake GitHub accepted.
type received struct {
	Repo string
	SHA  string
	status
}

// fakeGitHub answers POST /repos/{owner}/{repo}/statuses/{sha} as GitHub
// does for the repository acme/shop, and records the statuses it accepts.
// Answers queued with script go first, one per request.
type fakeGitHub struct {
	*httptest.Server
	t *testing.T

	mu       sync.Mutex
	script   []func(http.ResponseWriter)
	requests int
	statuses []received
}

func newFakeGitHub(t *testing.T) *fakeGitHub {
	f := &fakeGitHub{t: t}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /repos/{owner}/{repo}/statuses/{sha}", f.createStatus)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		f.requests++
		f.mu.Unlock()
		sinktest.Reply(w, http.StatusNotFound, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest","status":"404"}`)
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

var sha40 = regexp.MustCompile(`^[0-9a-f]{40}$`)

func (f *fakeGitHub) createStatus(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if len(f.script) > 0 {
		answer := f.script[0]
		f.script = f.script[1:]
		answer(w)
		return
	}
	if r.Header.Get("User-Agent") == "" {
		sinktest.Reply(w, http.StatusForbidden, `{"message":"Request forbidden by administrative rules. Please make sure your request has a User-Agent header"}`)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+testToken {
		sinktest.Reply(w, http.StatusUnauthorized, `{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"}`)
		return
	}
	assert.Equal(f.t, "application/vnd.github+json", r.Header.Get("Accept"))
	assert.Equal(f.t, "2022-11-28", r.Header.Get("X-GitHub-Api-Version"))
	assert.Equal(f.t, "application/json", r.Header.Get("Content-Type"))
	assert.Equal(f.t, "releasegate", r.Header.Get("User-Agent"))

	repo := r.PathValue("owner") + "/" + r.PathValue("repo")
	if repo != "acme/shop" {
		sinktest.Reply(w, http.StatusNotFound, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest/commits/statuses#create-a-commit-status","status":"404"}`)
		return
	}
	sha := r.PathValue("sha")
	if !sha40.MatchString(sha) {
		sinktest.Reply(w, http.StatusUnprocessableEntity, fmt.Sprintf(`{"message":"No commit found for SHA: %s","documentation_url":"https://docs.github.com/rest","status":"422"}`, sha))
		return
	}
	var s status
	decoder := json.NewDecoder(r.Body)
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&s); err != nil {
		sinktest.Reply(w, http.StatusBadRequest, `{"message":"Problems parsing JSON"}`)
		return
	}
	if !slices.Contains([]string{"error", "failure", "pending", "success"}, s.State) {
		sinktest.Reply(w, http.StatusUnprocessableEntity, `{"message":"Validation Failed","errors":[{"resource":"Status","field":"state","code":"invalid"}]}`)
		return
	}
	if utf8.RuneCountInString(s.Description) > 140 {
		sinktest.Reply(w, http.StatusUnprocessableEntity, `{"message":"Validation Failed","errors":[{"resource":"Status","code":"custom","field":"description","message":"description is too long (maximum is 140 characters)"}]}`)
		return
	}
	f.statuses = append(f.statuses, received{Repo: repo, SHA: sha, status: s})
	sinktest.Reply(w, http.StatusCreated, fmt.Sprintf(`{"id":%d,"state":%q,"context":%q}`, len(f.statuses), s.State, s.Context))
}

func (f *fakeGitHub) answerFirst(answers ...func(http.ResponseWriter)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script = append(f.script, answers...)
}

func (f *fakeGitHub) received() (int, []received) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests, slices.Clone(f.statuses)
}

func newSink(t *testing.T, f *fakeGitHub, modify func(*Config)) *Sink {
	cfg := NewDefaultConfig()
	cfg.ClientConfig.Endpoint = f.URL
	cfg.Token = testToken
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
		Run:        "r-1",
		Status:     verdict.Pending,
		Revision:   testSHA,
		Repository: "https://github.com/acme/shop",
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
		{Name: "payments", Status: verdict.Inconclusive, Reason: "inconclusive: no spans matched"},
	}
	return run
}

func link(gate, trace string) string {
	return "https://grafana.example/explore?run=r-1&gate=" + gate + "&trace=" + trace
}

func TestMessages(t *testing.T) {
	f := newFakeGitHub(t)
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
		"pending status releasegate/checkout-latency of acme/shop@1a2b3c4",
		"pending status releasegate/no-server-errors of acme/shop@1a2b3c4",
		"pending status releasegate/payments of acme/shop@1a2b3c4",
		"pending status releasegate of acme/shop@1a2b3c4",
		"failure status releasegate/checkout-latency of acme/shop@1a2b3c4",
		"success status releasegate/no-server-errors of acme/shop@1a2b3c4",
		"error status releasegate/payments of acme/shop@1a2b3c4",
		"failure status releasegate of acme/shop@1a2b3c4",
	}, whats)
	requests, statuses := f.received()
	assert.Equal(t, 8, requests)
	want := func(state, context, description, target string) received {
		return received{Repo: "acme/shop", SHA: testSHA, status: status{State: state, Context: context, Description: description, TargetURL: target}}
	}
	assert.Equal(t, []received{
		want("pending", "releasegate/checkout-latency", "pending: 0 of 3 spans violated duration < 300ms so far", link("checkout-latency", "")),
		want("pending", "releasegate/no-server-errors", "pending: 0 of 7 spans violated status != \"error\" so far", link("no-server-errors", "")),
		want("pending", "releasegate/payments", "pending: 0 spans matched so far", link("payments", "")),
		want("pending", "releasegate", "pending: 3 of 3 gates pending", link("", "")),
		want("failure", "releasegate/checkout-latency", "failed: p95 312ms > 250ms (8 of 118 spans violated duration < 300ms)", link("checkout-latency", traceID)),
		want("success", "releasegate/no-server-errors", "warning: errors > 0 (0 of 120 spans violated status != \"error\")", link("no-server-errors", "")),
		want("error", "releasegate/payments", "inconclusive: no spans matched", link("payments", "")),
		want("failure", "releasegate", "failed: 1 of 3 gates failed, 1 inconclusive, 1 warning", link("", traceID)),
	}, statuses)
}

func TestMessagesWithoutTargetURL(t *testing.T) {
	f := newFakeGitHub(t)
	s := newSink(t, f, func(c *Config) { c.TargetURL = "" })
	run := finishedRun()
	run.Gates = nil

	messages, err := s.Messages(verdict.Event{Kind: verdict.RunFinished, Run: run})
	require.NoError(t, err)
	require.Len(t, messages, 1)
	require.NoError(t, messages[0].Send(t.Context()))
	_, statuses := f.received()
	assert.Empty(t, statuses[0].TargetURL)
}

func TestDescriptionTruncated(t *testing.T) {
	f := newFakeGitHub(t)
	s := newSink(t, f, nil)
	run := finishedRun()
	run.Gates = run.Gates[:1]
	run.Gates[0].Reason = "failed: " + strings.Repeat("p95 312ms > 250ms and ", 20)

	messages, err := s.Messages(verdict.Event{Kind: verdict.RunFinished, Run: run})
	require.NoError(t, err)
	require.NoError(t, messages[0].Send(t.Context()), "GitHub answers 422 past 140 characters")
	_, statuses := f.received()
	assert.Equal(t, sink.Truncate(run.Gates[0].Reason, 140), statuses[0].Description)
	assert.Equal(t, 140, utf8.RuneCountInString(statuses[0].Description))
}

func TestMessagesRepository(t *testing.T) {
	f := newFakeGitHub(t)
	for _, repository := range []string{
		"https://github.com/acme/shop",
		"https://github.com/acme/shop.git",
		"https://github.com/acme/shop/",
		"git@github.com:acme/shop.git",
		"ssh://git@github.com/acme/shop.git",
		"https://ghe.example.com/acme/shop",
		"git@ghe.example.com:acme/shop.git",
	} {
		run := openRun()
		run.Repository = repository
		messages, err := newSink(t, f, nil).Messages(verdict.Event{Kind: verdict.RunStarted, Run: run})
		require.NoError(t, err, repository)
		require.NoError(t, messages[0].Send(t.Context()), repository)
	}

	t.Run("configured repository wins", func(t *testing.T) {
		run := openRun()
		run.Repository = "https://github.com/acme/other"
		messages, err := newSink(t, f, func(c *Config) { c.Repository = "acme/shop" }).Messages(verdict.Event{Kind: verdict.RunStarted, Run: run})
		require.NoError(t, err)
		require.NoError(t, messages[0].Send(t.Context()))
	})
}

func TestRepositoryOf(t *testing.T) {
	for repository, want := range map[string]string{
		"https://github.com/acme/shop":         "acme/shop",
		"https://github.com/acme/shop.git":     "acme/shop",
		"git@github.com:acme/shop.git":         "acme/shop",
		"ssh://git@github.com/acme/shop.git":   "acme/shop",
		"https://ghe.example.com/acme/shop":    "acme/shop",
		"https://github.com/acme/my.repo_v2":   "acme/my.repo_v2",
		"":                                     "",
		"acme/shop":                            "",
		"https://github.com/acme":              "",
		"https://gitlab.com/group/sub/project": "",
		"file:///srv/git/shop":                 "",
	} {
		got, ok := repositoryOf(repository)
		assert.Equal(t, want != "", ok, repository)
		if ok {
			assert.Equal(t, want, got, repository)
		}
	}
}

func TestMessagesSkipped(t *testing.T) {
	s := newSink(t, newFakeGitHub(t), nil)

	run := finishedRun()
	run.Revision = ""
	_, err := s.Messages(verdict.Event{Kind: verdict.RunFinished, Run: run})
	require.EqualError(t, err, `run "r-1" has no vcs.ref.head.revision`)

	run = finishedRun()
	run.Repository = ""
	_, err = s.Messages(verdict.Event{Kind: verdict.RunFinished, Run: run})
	require.EqualError(t, err, `run "r-1" has no GitHub repository in vcs.repository.url.full (""): set repository`)

	messages, err := s.Messages(verdict.Event{Kind: verdict.RunAbandoned, Run: openRun()})
	require.NoError(t, err)
	assert.Empty(t, messages)
}

func TestState(t *testing.T) {
	for status, want := range map[verdict.Status]string{
		verdict.Pending:      "pending",
		verdict.Passed:       "success",
		verdict.Warning:      "success",
		verdict.Failed:       "failure",
		verdict.Inconclusive: "error",
		verdict.Error:        "error",
	} {
		assert.Equal(t, want, state(status), status)
	}
}

func TestStatusLine(t *testing.T) {
	gates := func(statuses ...verdict.Status) []verdict.Gate {
		var g []verdict.Gate
		for _, s := range statuses {
			g = append(g, verdict.Gate{Status: s})
		}
		return g
	}
	tests := []struct {
		run  verdict.Run
		want string
	}{
		{verdict.Run{Status: verdict.Passed, Gates: gates(verdict.Passed, verdict.Passed)}, "passed: 2 of 2 gates passed"},
		{verdict.Run{Status: verdict.Warning, Gates: gates(verdict.Passed, verdict.Warning)}, "warning: 1 of 2 gates warning"},
		{verdict.Run{Status: verdict.Pending, Gates: gates(verdict.Pending, verdict.Passed)}, "pending: 1 of 2 gates pending"},
		{
			verdict.Run{Status: verdict.Failed, Gates: gates(verdict.Failed, verdict.Error, verdict.Failed, verdict.Pending, verdict.Passed)},
			"failed: 2 of 5 gates failed, 1 error, 1 pending",
		},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.run.Summary())
	}
}

func TestErrorFor(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
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
			name: "bad credentials", code: 401, body: `{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}`,
			want: sink.Permanent(statusError(401, "Bad credentials")),
		},
		{
			name: "missing permission", code: 403, body: `{"message":"Resource not accessible by integration"}`,
			want: sink.Permanent(statusError(403, "Resource not accessible by integration")),
		},
		{
			name: "unknown repository", code: 404, body: `{"message":"Not Found"}`,
			want: sink.Permanent(statusError(404, "Not Found")),
		},
		{
			name: "validation", code: 422,
			body: `{"message":"Validation Failed","errors":[{"resource":"Status","code":"custom","field":"description","message":"description is too long (maximum is 140 characters)"},{"resource":"Status","field":"state","code":"invalid"},"bad context"]}`,
			want: sink.Permanent(statusError(422, "Validation Failed: description is too long (maximum is 140 characters); state invalid; bad context")),
		},
		{
			name: "secondary rate limit", code: 403, headers: map[string]string{"Retry-After": "30"},
			body: `{"message":"You have exceeded a secondary rate limit."}`,
			want: sink.RetryAfter(statusError(403, "You have exceeded a secondary rate limit."), 30*time.Second),
		},
		{
			name: "too many requests", code: 429, headers: map[string]string{"Retry-After": "1"},
			want: sink.RetryAfter(statusError(429, ""), time.Second),
		},
		{
			name: "primary rate limit", code: 403,
			headers: map[string]string{"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": strconv.FormatInt(now.Unix()+90, 10)},
			body:    `{"message":"API rate limit exceeded for installation ID 1."}`,
			want:    sink.RetryAfter(statusError(403, "API rate limit exceeded for installation ID 1."), 90*time.Second),
		},
		{
			name: "rate limit reset passed", code: 429,
			headers: map[string]string{"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": strconv.FormatInt(now.Unix()-5, 10)},
			want:    sink.RetryAfter(statusError(429, ""), time.Second),
		},
		{
			name: "requests left", code: 403, headers: map[string]string{"X-Ratelimit-Remaining": "12", "X-Ratelimit-Reset": "1800000090"},
			body: `{"message":"Must have admin rights to Repository."}`,
			want: sink.Permanent(statusError(403, "Must have admin rights to Repository.")),
		},
		{name: "too many requests without a hint", code: 429, want: statusError(429, "")},
		{name: "server error", code: 500, body: `{"message":"Server Error"}`, want: statusError(500, "Server Error")},
		{name: "proxy page", code: 502, body: "  Bad gateway\n", want: statusError(502, "Bad gateway")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tt.code, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(tt.body))}
			for k, v := range tt.headers {
				resp.Header.Set(k, v)
			}
			assert.Equal(t, tt.want, errorFor(resp, now))
		})
	}
}

func contexts(statuses []received) []string {
	var names []string
	for _, s := range statuses {
		names = append(names, s.State+" "+s.Context)
	}
	return names
}

func TestQueueDelivers(t *testing.T) {
	f := newFakeGitHub(t)
	c, _ := sinktest.Deliver(t, newSink(t, f, nil),
		verdict.Event{Kind: verdict.RunStarted, Run: openRun()},
		verdict.Event{Kind: verdict.RunFinished, Run: finishedRun()},
		verdict.Event{Kind: verdict.RunAbandoned, Run: openRun()},
	)

	requests, statuses := f.received()
	assert.Equal(t, 8, requests)
	assert.Equal(t, []string{
		"pending releasegate/checkout-latency",
		"pending releasegate/no-server-errors",
		"pending releasegate/payments",
		"pending releasegate",
		"failure releasegate/checkout-latency",
		"success releasegate/no-server-errors",
		"error releasegate/payments",
		"failure releasegate",
	}, contexts(statuses))
	for _, s := range statuses {
		assert.Equal(t, testSHA, s.SHA)
	}
	assert.EqualValues(t, 8, c.Delivered.Load())
	assert.Zero(t, c.Retries.Load()+c.Failures.Load()+c.Drops.Load()+c.Skips.Load())
}

func TestQueueWaitsOutRateLimit(t *testing.T) {
	f := newFakeGitHub(t)
	f.answerFirst(sinktest.Answer(http.StatusTooManyRequests, map[string]string{"Retry-After": "1"}, `{"message":"You have exceeded a secondary rate limit."}`))
	run := openRun()
	run.Gates = run.Gates[:1]

	start := time.Now()
	c, _ := sinktest.Deliver(t, newSink(t, f, nil), verdict.Event{Kind: verdict.RunStarted, Run: run})

	assert.GreaterOrEqual(t, time.Since(start), time.Second)
	requests, statuses := f.received()
	assert.Equal(t, 3, requests)
	assert.Equal(t, []string{"pending releasegate/checkout-latency", "pending releasegate"}, contexts(statuses))
	assert.EqualValues(t, 2, c.Delivered.Load())
	assert.EqualValues(t, 1, c.Retries.Load())
	assert.Zero(t, c.Failures.Load())
}

func TestQueueRetriesServerErrors(t *testing.T) {
	f := newFakeGitHub(t)
	f.answerFirst(
		sinktest.Answer(http.StatusServiceUnavailable, nil, `{"message":"Service Unavailable"}`),
		sinktest.Answer(http.StatusBadGateway, nil, "<html>502 Bad Gateway</html>"),
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
	assert.Equal(t, "HTTP 503: Service Unavailable", retries[0].ContextMap()["error"])
}

func TestQueueFailsPermanently(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		run    func(*verdict.Run)
		want   string
	}{
		{"bad credentials", func(c *Config) { c.Token = "ghp_wrong" }, nil, "HTTP 401: Bad credentials"},
		{"unknown repository", func(c *Config) { c.Repository = "acme/gone" }, nil, "HTTP 404: Not Found"},
		{"unknown commit", nil, func(r *verdict.Run) { r.Revision = "main" }, "HTTP 422: No commit found for SHA: main"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeGitHub(t)
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
	f := newFakeGitHub(t)
	f.answerFirst(
		sinktest.Answer(http.StatusUnauthorized, nil, `{"message":"Bad credentials"}`),
		sinktest.Answer(http.StatusForbidden, map[string]string{"Retry-After": "0"}, `{"message":"secondary rate limit"}`),
		sinktest.Answer(http.StatusUnprocessableEntity, nil, `{"message":"Validation Failed"}`),
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

	f = newFakeGitHub(t)
	f.answerFirst(
		sinktest.Answer(http.StatusServiceUnavailable, nil, `{"message":"Service Unavailable"}`),
		sinktest.Answer(http.StatusForbidden, nil, `{"message":"Resource not accessible by integration"}`),
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
	f := newFakeGitHub(t)
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
