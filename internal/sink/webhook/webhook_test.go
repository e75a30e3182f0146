package webhook

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configretry"

	"github.com/releasegate/releasegate/internal/fakehost"
	"github.com/releasegate/releasegate/internal/sink"
	"github.com/releasegate/releasegate/internal/sink/sinktest"
	"github.com/releasegate/releasegate/internal/verdict"
)

const (
	testSecret = "s3cret-shared-with-the-receiver"
	testSource = "releasegate/test-collector"
)

var (
	startedAt  = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	finishedAt = startedAt.Add(4*time.Minute + 30*time.Second)
)

func startedRun() verdict.Run {
	return verdict.Run{
		Run:         "r-42",
		Status:      verdict.Pending,
		StartedAt:   startedAt,
		LastSpanAt:  startedAt,
		Revision:    "1a2b3c4",
		Environment: "staging",
		Gates: []verdict.Gate{
			{Name: "checkout-latency", Status: verdict.Pending, Assert: `duration < duration("300ms")`, Condition: `p95 > duration("250ms")`, MinSpans: 20},
			{Name: "no-server-errors", Status: verdict.Pending, Assert: `status != "error"`, Condition: "violations > 0", MinSpans: 1},
		},
	}
}

func finishedRun() verdict.Run {
	run := startedRun()
	run.Status = verdict.Failed
	run.Finished = true
	run.FinishCause = verdict.FinishedByAPI
	run.LastSpanAt = finishedAt.Add(-18 * time.Second)
	run.FinishedAt = &finishedAt
	run.Gates[0].Status = verdict.Failed
	run.Gates[0].Spans = 118
	run.Gates[0].Violations = 8
	run.Gates[0].Observed = verdict.Observed{P95Ms: 312, ViolationRatio: 0.068}
	run.Gates[0].Reason = `failed: p95 312ms > 250ms (8 of 118 spans violated duration < 300ms)`
	run.Gates[0].Exemplars = []verdict.Exemplar{{TraceID: "5b8efff798038103d269b633813fc60c", SpanID: "eee19b7ec3c1b174", Name: "POST /checkout", Condition: `duration < duration("300ms")`}}
	run.Gates[1].Status = verdict.Passed
	run.Gates[1].Spans = 240
	run.Gates[1].Reason = "passed: violations 0 > 0 does not hold"
	return run
}

// newSink builds the sink as the exporter does: the client comes from the
// confighttp settings, so their headers and timeout apply.
func newSink(t *testing.T, client confighttp.ClientConfig, set Settings) *Sink {
	t.Helper()
	c, err := client.ToClient(t.Context(), componenttest.NewNopHost().GetExtensions(), componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	set.Endpoint = client.Endpoint
	s, err := New(c, set)
	require.NoError(t, err)
	return s
}

func clientOf(endpoint string) confighttp.ClientConfig {
	client := confighttp.NewDefaultClientConfig()
	client.Endpoint = endpoint
	client.Timeout = 10 * time.Second
	return client
}

// send delivers the messages of every event once, in order.
func send(t *testing.T, s *Sink, events ...verdict.Event) {
	t.Helper()
	for _, e := range events {
		messages, err := s.Messages(e)
		require.NoError(t, err)
		for _, m := range messages {
			require.NoError(t, m.Send(t.Context()), m.What)
		}
	}
}

func runEvents() []verdict.Event {
	return []verdict.Event{
		{Kind: verdict.RunStarted, Time: startedAt, Run: startedRun()},
		{Kind: verdict.RunFinished, Time: finishedAt, Run: finishedRun()},
	}
}

func TestJSON(t *testing.T) {
	hook := fakehost.NewWebhook(t, fakehost.WebhookChecks{Secret: testSecret, Authorization: "Bearer checkout"})
	client := clientOf(hook.URL + "/hooks/releasegate")
	client.Headers = configopaque.MapList{{Name: "Authorization", Value: "Bearer checkout"}}
	s := newSink(t, client, Settings{Secret: testSecret})

	events := runEvents()
	send(t, s, events...)

	assert.Equal(t, []string{"run.started", "run.finished"}, hook.Events())
	got := hook.Requests()
	require.Len(t, got, 2)
	for i, req := range got {
		assert.Equal(t, http.MethodPost, req.Method)
		assert.Equal(t, "/hooks/releasegate", req.Path)
		assert.Equal(t, "application/json", req.Header.Get("Content-Type"))

		body, err := json.Marshal(events[i].Run)
		require.NoError(t, err)
		assert.Equal(t, body, req.Body, "the run as the verdict API returns it")

		signature := req.Header.Get("X-Releasegate-Signature-256")
		assert.Regexp(t, `^sha256=[0-9a-f]{64}$`, signature)
		assert.True(t, Verify(testSecret, req.Body, signature))
		assert.False(t, Verify("another secret", req.Body, signature))
		assert.False(t, Verify(testSecret, append(req.Body, ' '), signature))
	}
}

// A run with a page carries its address in the JSON, as the API shows it.
func TestJSONLinksToThePage(t *testing.T) {
	hook := fakehost.NewWebhook(t, fakehost.WebhookChecks{})
	s := newSink(t, clientOf(hook.URL), Settings{})
	run := finishedRun()
	run.URL = "https://releasegate.example/runs/r-42"
	send(t, s, verdict.Event{Kind: verdict.RunFinished, Time: finishedAt, Run: run})

	got := hook.Requests()
	require.Len(t, got, 1)
	var body struct{ URL string }
	require.NoError(t, json.Unmarshal(got[0].Body, &body))
	assert.Equal(t, "https://releasegate.example/runs/r-42", body.URL)

	send(t, s, runEvents()...)
	assert.NotContains(t, string(hook.Requests()[1].Body), `"url"`, "no page, no field")
}

func TestJSONWithoutSecret(t *testing.T) {
	hook := fakehost.NewWebhook(t, fakehost.WebhookChecks{})
	s := newSink(t, clientOf(hook.URL), Settings{})

	send(t, s, runEvents()...)

	got := hook.Requests()
	require.Len(t, got, 2)
	for _, req := range got {
		assert.NotContains(t, req.Header, "X-Releasegate-Signature-256")
	}
}

func TestVerify(t *testing.T) {
	// GitHub's documented example of X-Hub-Signature-256: the same scheme.
	assert.True(t, Verify("It's a Secret to Everybody", []byte("Hello, World!"),
		"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"))
	assert.False(t, Verify("It's a Secret to Everybody", []byte("Hello, World!"), ""))
	assert.False(t, Verify("It's a Secret to Everybody", []byte("Hello, World!"),
		"757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"))
}

func TestAbandonedRunIsNotPosted(t *testing.T) {
	for _, cdevents := range []bool{false, true} {
		t.Run(fmt.Sprint("cdevents ", cdevents), func(t *testing.T) {
			s, err := New(http.DefaultClient, Settings{Endpoint: "http://localhost:1", CDEvents: cdevents, Source: testSource})
			require.NoError(t, err)
			messages, err := s.Messages(verdict.Event{Kind: verdict.RunAbandoned, Time: finishedAt, Run: startedRun()})
			assert.NoError(t, err)
			assert.Empty(t, messages)
		})
	}
}

func TestNew(t *testing.T) {
	_, err := New(http.DefaultClient, Settings{Endpoint: "http://localhost:1", CDEvents: true})
	assert.EqualError(t, err, `source: must be a non-empty URI reference, got ""`)
	_, err = New(http.DefaultClient, Settings{Endpoint: "http://localhost:1"})
	assert.NoError(t, err, "json needs no source")
}

// Every answer but a 2xx is an error with the receiver's message, on one
// line; sink.Classify says what it means.
func TestErrorAnswers(t *testing.T) {
	hook := fakehost.NewWebhook(t, fakehost.WebhookChecks{})
	s := newSink(t, clientOf(hook.URL), Settings{})
	for _, a := range []fakehost.Answer{
		{Code: http.StatusBadRequest, Body: "bad\n payload"},
		{Code: http.StatusUnauthorized},
		{Code: http.StatusRequestTimeout},
		{Code: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"7"}}},
		{Code: http.StatusInternalServerError, Body: "oops"},
	} {
		hook.AnswerFirst(a)
		messages, err := s.Messages(runEvents()[0])
		require.NoError(t, err)
		require.Len(t, messages, 1)

		err = messages[0].Send(t.Context())
		want := sink.Classify(&sink.StatusError{Code: a.Code, Message: strings.Join(strings.Fields(a.Body), " ")}, a.Header)
		assert.Equal(t, want, err)
	}
}

func TestDeliveryRetries(t *testing.T) {
	hook := fakehost.NewWebhook(t, fakehost.WebhookChecks{Secret: testSecret})
	hook.AnswerFirst(fakehost.Answer{Code: http.StatusServiceUnavailable})
	s := newSink(t, clientOf(hook.URL), Settings{Secret: testSecret})

	tel, _ := sinktest.Deliver(t, s, runEvents()[0])

	assert.Equal(t, int64(1), tel.Delivered.Load())
	assert.Equal(t, int64(1), tel.Retries.Load())
	assert.Zero(t, tel.Failures.Load())
	got := hook.Requests()
	require.Len(t, got, 2)
	assert.Equal(t, got[0].Body, got[1].Body, "a retry sends the same body")
	assert.Equal(t, got[0].Header.Get("X-Releasegate-Signature-256"), got[1].Header.Get("X-Releasegate-Signature-256"))
}

func TestDeliveryRetryAfter(t *testing.T) {
	hook := fakehost.NewWebhook(t, fakehost.WebhookChecks{})
	hook.AnswerFirst(fakehost.Answer{Code: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"1"}}})
	s := newSink(t, clientOf(hook.URL), Settings{})

	tel, logs := sinktest.Deliver(t, s, runEvents()[0])

	assert.Equal(t, int64(1), tel.Delivered.Load())
	assert.Equal(t, int64(1), tel.Retries.Load())
	assert.Equal(t, []time.Duration{time.Second}, sinktest.Waits(logs), "waits as asked, not the backoff")
	assert.Len(t, hook.Requests(), 2)
}

func TestDeliveryFailsPermanently(t *testing.T) {
	hook := fakehost.NewWebhook(t, fakehost.WebhookChecks{})
	hook.AnswerFirst(fakehost.Answer{Code: http.StatusBadRequest, Body: `{"error": "unknown hook"}`})
	s := newSink(t, clientOf(hook.URL), Settings{})

	tel, _ := sinktest.Deliver(t, s, runEvents()[0])

	assert.Zero(t, tel.Delivered.Load())
	assert.Zero(t, tel.Retries.Load())
	assert.Equal(t, int64(1), tel.Failures.Load())
	assert.Len(t, hook.Requests(), 1)
}

// The secret, and a token in the endpoint, stay out of every error, name
// and log line, whatever goes wrong.
func TestSecretsStayOutOfErrorsAndLogs(t *testing.T) {
	const token = "T0K3N-in-the-url"
	unavailable := fakehost.NewWebhook(t, fakehost.WebhookChecks{})
	unavailable.SetHealth(fakehost.Unavailable)
	refusing := fakehost.NewWebhook(t, fakehost.WebhookChecks{})
	refusing.SetHealth(fakehost.Refusing)
	badRequest := fakehost.NewWebhook(t, fakehost.WebhookChecks{URLToken: "another token"})
	retry := configretry.NewDefaultBackOffConfig()
	retry.MaxElapsedTime = time.Minute

	for name, endpoint := range map[string]string{"unavailable": unavailable.URL, "unauthorized": badRequest.URL, "unreachable": refusing.URL} {
		for _, cdevents := range []bool{false, true} {
			t.Run(fmt.Sprint(name, " cdevents ", cdevents), func(t *testing.T) {
				s := newSink(t, clientOf(endpoint+"/hooks/"+token+"?token="+token), Settings{Secret: testSecret, CDEvents: cdevents, Source: testSource})

				var texts []string
				for _, e := range runEvents() {
					messages, err := s.Messages(e)
					require.NoError(t, err)
					for _, m := range messages {
						err := m.Send(t.Context())
						require.Error(t, err)
						texts = append(texts, m.What, err.Error())
					}
				}

				tel, logs := sinktest.DeliverWith(t, s, retry, runEvents()...)
				assert.Positive(t, tel.Failures.Load())
				require.NotZero(t, logs.Len())
				for _, entry := range logs.All() {
					fields, err := json.Marshal(entry.ContextMap())
					require.NoError(t, err)
					texts = append(texts, entry.Message, string(fields))
				}

				for _, text := range texts {
					assert.NotContains(t, text, testSecret)
					assert.NotContains(t, text, token)
				}
			})
		}
	}
}
