package commitstatus

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/releasegate/releasegate/internal/fakehost"
	"github.com/releasegate/releasegate/internal/sink"
	"github.com/releasegate/releasegate/internal/sink/sinktest"
	"github.com/releasegate/releasegate/internal/verdict"
)

const (
	testSHA = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"
	traceID = "5b8efff798038103d269b633813fc60c"
)

// fakeHost is a fake code host as these tests use it.
type fakeHost interface {
	Statuses() []fakehost.Status
	Requests() []fakehost.Request
	AnswerFirst(...fakehost.Answer)
	Client() *http.Client
	Close()
}

// hostTest is a code host under test.
type hostTest struct {
	name  string
	token configopaque.String
	// serve starts a fake of the host, and returns its URL.
	serve func(t *testing.T, token configopaque.String) (fakeHost, string)
	// host is the host part posting to endpoint; repo is its repository
	// or project, "" for its default.
	host func(endpoint string, token configopaque.String, repo string) Host
	// commit is how logs name testSHA's commit.
	commit string
	// states are the host's words for a verdict.
	states         map[verdict.Status]string
	maxDescription int
}

var hosts = []hostTest{
	{
		name:  "GitHub",
		token: "ghp_t0ps3cr3t-token",
		serve: func(t *testing.T, token configopaque.String) (fakeHost, string) {
			f := fakehost.NewGitHub(t, string(token))
			return f, f.URL
		},
		host:   GitHub,
		commit: "acme/shop@1a2b3c4",
		states: map[verdict.Status]string{
			verdict.Pending: "pending", verdict.Passed: "success", verdict.Warning: "success",
			verdict.Failed: "failure", verdict.Inconclusive: "error", verdict.Error: "error",
		},
		maxDescription: 140,
	},
	{
		name:  "GitLab",
		token: "glpat-t0ps3cr3t-token",
		serve: func(t *testing.T, token configopaque.String) (fakeHost, string) {
			f := fakehost.NewGitLab(t, string(token))
			return f, f.URL + "/"
		},
		host: func(endpoint string, token configopaque.String, project string) Host {
			if project == "" {
				project = fakehost.GitLabProject
			}
			return GitLab(endpoint, token, project)
		},
		commit: "acme/shop@1a2b3c4",
		states: map[verdict.Status]string{
			verdict.Pending: "running", verdict.Passed: "success", verdict.Warning: "success",
			verdict.Failed: "failed", verdict.Inconclusive: "failed", verdict.Error: "failed",
		},
		maxDescription: 255,
	},
}

// testTargetURL links each status to the run, the gate and the trace.
const testTargetURL = "https://grafana.example/explore?run={{.Run | urlquery}}&gate={{.Gate}}&trace={{.TraceID}}"

func link(gate, trace string) string {
	return "https://grafana.example/explore?run=r-1&gate=" + gate + "&trace=" + trace
}

// start serves a fake of the host and returns it with a sink posting to
// it as repo ("" for the default), linking to targetURL.
func (h hostTest) start(t *testing.T, repo, targetURL string) (fakeHost, *Sink) {
	t.Helper()
	f, endpoint := h.serve(t, h.token)
	s, err := New(f.Client(), h.host(endpoint, h.token, repo), "releasegate", targetURL)
	require.NoError(t, err)
	return f, s
}

// forEachHost runs test for every host.
func forEachHost(t *testing.T, test func(t *testing.T, h hostTest)) {
	for _, h := range hosts {
		t.Run(h.name, func(t *testing.T) { test(t, h) })
	}
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

// send sends every message of the events once, in order, and returns
// their names.
func send(t *testing.T, s *Sink, events ...verdict.Event) []string {
	t.Helper()
	var whats []string
	for _, e := range events {
		messages, err := s.Messages(e)
		require.NoError(t, err)
		for _, m := range messages {
			whats = append(whats, m.What)
			require.NoError(t, m.Send(t.Context()), m.What)
		}
	}
	return whats
}

// states lists "<state> <context>" for each status.
func states(statuses []fakehost.Status) []string {
	var out []string
	for _, s := range statuses {
		out = append(out, s.State+" "+s.Context)
	}
	return out
}

func TestMessages(t *testing.T) {
	forEachHost(t, func(t *testing.T, h hostTest) {
		f, s := h.start(t, "", testTargetURL)

		whats := send(t, s, verdict.Event{Kind: verdict.RunStarted, Run: openRun()}, verdict.Event{Kind: verdict.RunFinished, Run: finishedRun()})

		pending, failed, warning, inconclusive := h.states[verdict.Pending], h.states[verdict.Failed], h.states[verdict.Warning], h.states[verdict.Inconclusive]
		want := []fakehost.Status{
			{State: pending, Context: "releasegate/checkout-latency", Description: "pending: 0 of 3 spans violated duration < 300ms so far", TargetURL: link("checkout-latency", "")},
			{State: pending, Context: "releasegate/no-server-errors", Description: "pending: 0 of 7 spans violated status != \"error\" so far", TargetURL: link("no-server-errors", "")},
			{State: pending, Context: "releasegate/payments", Description: "pending: 0 spans matched so far", TargetURL: link("payments", "")},
			{State: pending, Context: "releasegate", Description: "pending: 3 of 3 gates pending", TargetURL: link("", "")},
			{State: failed, Context: "releasegate/checkout-latency", Description: "failed: p95 312ms > 250ms (8 of 118 spans violated duration < 300ms)", TargetURL: link("checkout-latency", traceID)},
			{State: warning, Context: "releasegate/no-server-errors", Description: "warning: errors > 0 (0 of 120 spans violated status != \"error\")", TargetURL: link("no-server-errors", "")},
			{State: inconclusive, Context: "releasegate/payments", Description: "inconclusive: no spans matched", TargetURL: link("payments", "")},
			{State: failed, Context: "releasegate", Description: "failed: 1 of 3 gates failed, 1 inconclusive, 1 warning", TargetURL: link("", traceID)},
		}
		var wantWhats []string
		for i := range want {
			want[i].Repo, want[i].SHA = "acme/shop", testSHA
			wantWhats = append(wantWhats, want[i].State+" status "+want[i].Context+" of "+h.commit)
		}
		assert.Equal(t, wantWhats, whats)
		assert.Equal(t, want, f.Statuses())
		assert.Len(t, f.Requests(), 8)
	})
}

func TestMessagesWithoutTargetURL(t *testing.T) {
	forEachHost(t, func(t *testing.T, h hostTest) {
		f, s := h.start(t, "", "")
		run := finishedRun()
		run.Gates = nil

		send(t, s, verdict.Event{Kind: verdict.RunFinished, Run: run})

		statuses := f.Statuses()
		require.Len(t, statuses, 1)
		assert.Empty(t, statuses[0].TargetURL)
		assert.NotContains(t, string(f.Requests()[0].Body), "target_url", "no link, no field")
	})
}

// Without a target_url, a run with a page (the exporter's public_url) links
// every status to it: the run's to the page, a gate's to its row there. A
// target_url, when set, is the link still.
func TestMessagesLinkToThePage(t *testing.T) {
	const page = "https://releasegate.example/runs/r-1"
	forEachHost(t, func(t *testing.T, h hostTest) {
		f, s := h.start(t, "", "")
		run := finishedRun()
		run.URL = page
		send(t, s, verdict.Event{Kind: verdict.RunFinished, Run: run})
		var links []string
		for _, st := range f.Statuses() {
			links = append(links, st.Context+" "+st.TargetURL)
		}
		assert.Equal(t, []string{
			"releasegate/checkout-latency " + page + "#gate-checkout-latency",
			"releasegate/no-server-errors " + page + "#gate-no-server-errors",
			"releasegate/payments " + page + "#gate-payments",
			"releasegate " + page,
		}, links)

		f, s = h.start(t, "", testTargetURL)
		send(t, s, verdict.Event{Kind: verdict.RunFinished, Run: run})
		assert.Equal(t, link("", traceID), f.Statuses()[3].TargetURL)
	})
}

// Descriptions are cut to what the host takes: past it, it refuses the
// status.
func TestDescriptionTruncated(t *testing.T) {
	forEachHost(t, func(t *testing.T, h hostTest) {
		f, s := h.start(t, "", testTargetURL)
		run := finishedRun()
		run.Gates = run.Gates[:1]
		run.Gates[0].Reason = "failed: " + strings.Repeat("p95 312ms > 250ms and ", 20)

		send(t, s, verdict.Event{Kind: verdict.RunFinished, Run: run})

		statuses := f.Statuses()
		assert.Equal(t, sink.Truncate(run.Gates[0].Reason, h.maxDescription), statuses[0].Description)
		assert.Equal(t, h.maxDescription, utf8.RuneCountInString(statuses[0].Description))
	})
}

func TestMessagesSkipped(t *testing.T) {
	forEachHost(t, func(t *testing.T, h hostTest) {
		_, s := h.start(t, "", testTargetURL)

		run := finishedRun()
		run.Revision = ""
		_, err := s.Messages(verdict.Event{Kind: verdict.RunFinished, Run: run})
		require.EqualError(t, err, `run "r-1" has no vcs.ref.head.revision`)

		messages, err := s.Messages(verdict.Event{Kind: verdict.RunAbandoned, Run: openRun()})
		require.NoError(t, err)
		assert.Empty(t, messages, "nothing decided an abandoned run's gates")
	})
}

func TestStates(t *testing.T) {
	forEachHost(t, func(t *testing.T, h hostTest) {
		_, s := h.start(t, "", "")
		for _, v := range verdict.Statuses {
			run := openRun()
			run.Status, run.Gates = v, nil
			messages, err := s.Messages(verdict.Event{Kind: verdict.RunFinished, Run: run})
			require.NoError(t, err)
			assert.Equal(t, h.states[v]+" status releasegate of "+h.commit, messages[0].What, v)
		}
	})
}

// The run's status links to the first failed gate's first violating
// trace, and describes its gates.
func TestRunStatus(t *testing.T) {
	forEachHost(t, func(t *testing.T, h hostTest) {
		f, s := h.start(t, "", testTargetURL)
		run := finishedRun()
		run.Gates = []verdict.Gate{
			{Name: "slow", Status: verdict.Warning, Exemplars: []verdict.Exemplar{{TraceID: "aaaa"}}},
			{Name: "p95", Status: verdict.Failed, Reason: "failed: p95 312ms > 250ms (118 spans matched)"},
			{Name: "errors", Status: verdict.Failed, Exemplars: []verdict.Exemplar{{TraceID: traceID}}},
			{Name: "payments", Status: verdict.Error},
			{Name: "fraud", Status: verdict.Pending},
		}

		messages, err := s.Messages(verdict.Event{Kind: verdict.RunFinished, Run: run})
		require.NoError(t, err)
		require.NoError(t, messages[len(run.Gates)].Send(t.Context()))

		statuses := f.Statuses()
		assert.Equal(t, link("", traceID), statuses[0].TargetURL, "the first failed gate with an exemplar")
		assert.Equal(t, "failed: 2 of 5 gates failed, 1 error, 1 pending, 1 warning", statuses[0].Description)
	})
}

func TestQueueDelivers(t *testing.T) {
	forEachHost(t, func(t *testing.T, h hostTest) {
		f, s := h.start(t, "", testTargetURL)

		c, _ := sinktest.Deliver(t, s,
			verdict.Event{Kind: verdict.RunStarted, Run: openRun()},
			verdict.Event{Kind: verdict.RunFinished, Run: finishedRun()},
			verdict.Event{Kind: verdict.RunAbandoned, Run: openRun()},
		)

		assert.Len(t, f.Requests(), 8)
		pending := h.states[verdict.Pending]
		assert.Equal(t, []string{
			pending + " releasegate/checkout-latency",
			pending + " releasegate/no-server-errors",
			pending + " releasegate/payments",
			pending + " releasegate",
			h.states[verdict.Failed] + " releasegate/checkout-latency",
			h.states[verdict.Warning] + " releasegate/no-server-errors",
			h.states[verdict.Inconclusive] + " releasegate/payments",
			h.states[verdict.Failed] + " releasegate",
		}, states(f.Statuses()))
		assert.EqualValues(t, 8, c.Delivered.Load())
		assert.Zero(t, c.Retries.Load()+c.Failures.Load()+c.Drops.Load()+c.Skips.Load())
	})
}

// A rate limit's Retry-After is waited out, not the backoff's interval.
func TestQueueWaitsOutRateLimit(t *testing.T) {
	forEachHost(t, func(t *testing.T, h hostTest) {
		f, s := h.start(t, "", testTargetURL)
		f.AnswerFirst(fakehost.Answer{
			Code:   http.StatusTooManyRequests,
			Header: http.Header{"Retry-After": {"1"}},
			Body:   `{"message":"You have exceeded a secondary rate limit."}`,
		})
		run := openRun()
		run.Gates = run.Gates[:1]

		c, logs := sinktest.Deliver(t, s, verdict.Event{Kind: verdict.RunStarted, Run: run})

		assert.Equal(t, []time.Duration{time.Second}, sinktest.Waits(logs))
		assert.Len(t, f.Requests(), 3)
		pending := h.states[verdict.Pending]
		assert.Equal(t, []string{pending + " releasegate/checkout-latency", pending + " releasegate"}, states(f.Statuses()))
		assert.EqualValues(t, 2, c.Delivered.Load())
		assert.EqualValues(t, 1, c.Retries.Load())
		assert.Zero(t, c.Failures.Load())
	})
}

func TestQueueRetriesServerErrors(t *testing.T) {
	forEachHost(t, func(t *testing.T, h hostTest) {
		f, s := h.start(t, "", testTargetURL)
		f.AnswerFirst(
			fakehost.Answer{Code: http.StatusServiceUnavailable, Body: `{"message":"Service Unavailable"}`},
			fakehost.Answer{Code: http.StatusBadGateway, Body: "<html>\n<h1>502 Bad Gateway</h1>\n</html>"},
		)

		c, logs := sinktest.Deliver(t, s, verdict.Event{Kind: verdict.RunFinished, Run: finishedRun()})

		assert.Len(t, f.Requests(), 6)
		assert.Len(t, f.Statuses(), 4)
		assert.EqualValues(t, 4, c.Delivered.Load())
		assert.EqualValues(t, 2, c.Retries.Load())
		assert.Zero(t, c.Failures.Load())
		retries := logs.FilterMessage("Retrying").All()
		require.Len(t, retries, 2)
		assert.Equal(t, "HTTP 503: Service Unavailable", retries[0].ContextMap()["error"])
		assert.Equal(t, "HTTP 502: <html> <h1>502 Bad Gateway</h1> </html>", retries[1].ContextMap()["error"])
	})
}

// The host's refusals fail at once, in its own words.
func TestQueueFailsPermanently(t *testing.T) {
	tests := []struct {
		name  string
		token configopaque.String
		repo  string
		run   func(*verdict.Run)
		want  map[string]string // by host
	}{
		{
			name: "bad credentials", token: "wrong-token",
			want: map[string]string{"GitHub": "HTTP 401: Bad credentials", "GitLab": "HTTP 401: 401 Unauthorized"},
		},
		{
			name: "unknown repository", repo: "acme/gone",
			want: map[string]string{"GitHub": "HTTP 404: Not Found", "GitLab": "HTTP 404: 404 Project Not Found"},
		},
		{
			name: "unknown commit", run: func(r *verdict.Run) { r.Revision = "main" },
			want: map[string]string{"GitHub": "HTTP 422: No commit found for SHA: main", "GitLab": "HTTP 404: 404 Commit Not Found"},
		},
	}
	forEachHost(t, func(t *testing.T, h hostTest) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				f, endpoint := h.serve(t, h.token)
				token := h.token
				if tt.token != "" {
					token = tt.token
				}
				s, err := New(f.Client(), h.host(endpoint, token, tt.repo), "releasegate", "")
				require.NoError(t, err)
				run := finishedRun()
				run.Gates = nil
				if tt.run != nil {
					tt.run(&run)
				}

				c, logs := sinktest.Deliver(t, s, verdict.Event{Kind: verdict.RunFinished, Run: run})

				assert.Len(t, f.Requests(), 1, "no retry")
				assert.Empty(t, f.Statuses())
				assert.EqualValues(t, 1, c.Failures.Load())
				assert.Zero(t, c.Delivered.Load()+c.Retries.Load())
				failures := logs.FilterMessage("Message not delivered").All()
				require.Len(t, failures, 1)
				assert.Equal(t, tt.want[h.name], failures[0].ContextMap()["error"])
			})
		}
	})
}

// The token is in no message name, error or log line, whatever the host
// answers.
func TestTokenNeverShown(t *testing.T) {
	forEachHost(t, func(t *testing.T, h hostTest) {
		f, s := h.start(t, "", testTargetURL)
		f.AnswerFirst(
			fakehost.Answer{Code: http.StatusUnauthorized, Body: `{"message":"Bad credentials"}`},
			fakehost.Answer{Code: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"0"}}, Body: `{"message":"secondary rate limit"}`},
			fakehost.Answer{Code: http.StatusUnprocessableEntity, Body: `{"message":"Validation Failed"}`},
			fakehost.Answer{Code: http.StatusServiceUnavailable, Body: "unavailable"},
		)
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

		f, s = h.start(t, "", testTargetURL)
		f.AnswerFirst(
			fakehost.Answer{Code: http.StatusServiceUnavailable, Body: `{"message":"Service Unavailable"}`},
			fakehost.Answer{Code: http.StatusForbidden, Body: `{"message":"Resource not accessible by integration"}`},
		)
		run = finishedRun()
		run.Gates = nil
		_, logs := sinktest.Deliver(t, s, verdict.Event{Kind: verdict.RunFinished, Run: run})
		require.Equal(t, 2, logs.Len(), "a retry and a failure")
		for _, entry := range logs.All() {
			shown = append(shown, entry.Message, fmt.Sprint(entry.ContextMap()))
		}

		for _, text := range shown {
			assert.NotContains(t, text, string(h.token))
		}
	})
}
