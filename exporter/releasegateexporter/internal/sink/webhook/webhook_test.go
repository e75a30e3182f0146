package webhook

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configretry"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/sink"
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/sink/sinktest"
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/verdict"
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

type request struct {
	method string
	header http.Header
	body   []byte
}

// receiver is a webhook endpoint that records what it receives and answers
// with the given answers in turn, then with its fallback (200 unless set).
type receiver struct {
	*httptest.Server

	mu       sync.Mutex
	requests []request
	answers  []answer
	fallback answer
}

type answer struct {
	status     int
	retryAfter string
	body       string
}

func newReceiver(t *testing.T, answers ...answer) *receiver {
	r := &receiver{answers: answers, fallback: answer{status: http.StatusOK}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		assert.NoError(t, err)
		r.mu.Lock()
		r.requests = append(r.requests, request{req.Method, req.Header.Clone(), body})
		a := r.fallback
		if len(r.answers) > 0 {
			a, r.answers = r.answers[0], r.answers[1:]
		}
		r.mu.Unlock()
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	t.Cleanup(r.Close)
	return r
}

// always makes a receiver answer a to every request.
func always(t *testing.T, a answer) *receiver {
	r := newReceiver(t)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fallback = a
	return r
}

func (r *receiver) received() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

// newSink builds the sink as the exporter does: the client comes from the
// confighttp settings, so their headers and timeout apply.
func newSink(t *testing.T, cfg *Config) *Sink {
	require.NoError(t, cfg.Check())
	client, err := cfg.ClientConfig.ToClient(t.Context(), componenttest.NewNopHost().GetExtensions(), componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	t.Cleanup(client.CloseIdleConnections)
	s, err := New(cfg, client, testSource)
	require.NoError(t, err)
	return s
}

func testConfig(endpoint string, format Format) *Config {
	cfg := NewDefaultConfig()
	cfg.ClientConfig.Endpoint = endpoint
	cfg.Format = format
	return &cfg
}

// send delivers the messages of every event once, in order.
func send(t *testing.T, s *Sink, events ...verdict.Event) {
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
	r := newReceiver(t)
	cfg := testConfig(r.URL+"/hooks/releasegate", FormatJSON)
	cfg.Secret = testSecret
	cfg.ClientConfig.Headers = configopaque.MapList{{Name: "X-Team", Value: "checkout"}}
	s := newSink(t, cfg)

	events := runEvents()
	send(t, s, events...)

	got := r.received()
	require.Len(t, got, 2)
	for i, want := range []string{"run.started", "run.finished"} {
		req := got[i]
		assert.Equal(t, http.MethodPost, req.method)
		assert.Equal(t, "application/json", req.header.Get("Content-Type"))
		assert.Equal(t, want, req.header.Get("X-Releasegate-Event"))
		assert.Equal(t, "checkout", req.header.Get("X-Team"))

		body, err := json.Marshal(events[i].Run)
		require.NoError(t, err)
		assert.JSONEq(t, string(body), string(req.body))
		assert.Equal(t, body, req.body)

		signature := req.header.Get("X-Releasegate-Signature-256")
		assert.Regexp(t, `^sha256=[0-9a-f]{64}$`, signature)
		assert.True(t, Verify(testSecret, req.body, signature))
		assert.False(t, Verify("another secret", req.body, signature))
		assert.False(t, Verify(testSecret, append(req.body, ' '), signature))
	}
}

func TestJSONWithoutSecret(t *testing.T) {
	r := newReceiver(t)
	s := newSink(t, testConfig(r.URL, FormatJSON))

	send(t, s, runEvents()...)

	got := r.received()
	require.Len(t, got, 2)
	for _, req := range got {
		assert.NotContains(t, req.header, "X-Releasegate-Signature-256")
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
	for _, format := range []Format{FormatJSON, FormatCDEvents} {
		t.Run(string(format), func(t *testing.T) {
			s, err := New(testConfig("http://localhost:1", format), http.DefaultClient, testSource)
			require.NoError(t, err)
			messages, err := s.Messages(verdict.Event{Kind: verdict.RunAbandoned, Time: finishedAt, Run: startedRun()})
			assert.NoError(t, err)
			assert.Empty(t, messages)
		})
	}
}

func TestNew(t *testing.T) {
	_, err := New(testConfig("http://localhost:1", "xml"), http.DefaultClient, testSource)
	assert.EqualError(t, err, `format: must be json or cdevents, got "xml"`)
	_, err = New(testConfig("http://localhost:1", FormatCDEvents), http.DefaultClient, "")
	assert.ErrorContains(t, err, "source: must be a non-empty URI reference")
	_, err = New(testConfig("localhost:1/T0K3N", FormatJSON), http.DefaultClient, testSource)
	assert.EqualError(t, err, "endpoint: must be an http or https URL")
}

func TestStatuses(t *testing.T) {
	tests := []struct {
		answer    answer
		permanent bool
		// asked is whether the answer asks to wait longer than the queue's
		// retries may last: the queue gives up at once instead of retrying.
		asked bool
	}{
		{answer: answer{status: http.StatusBadRequest, body: "bad\n payload"}, permanent: true},
		{answer: answer{status: http.StatusUnauthorized}, permanent: true},
		{answer: answer{status: http.StatusNotFound}, permanent: true},
		{answer: answer{status: http.StatusRequestTimeout}},
		{answer: answer{status: http.StatusTooManyRequests}},
		{answer: answer{status: http.StatusTooManyRequests, retryAfter: "7"}, asked: true},
		{answer: answer{status: http.StatusServiceUnavailable, retryAfter: "2"}, asked: true},
		{answer: answer{status: http.StatusServiceUnavailable, retryAfter: "Wed, 21 Oct 2015 07:28:00 GMT"}},
		{answer: answer{status: http.StatusInternalServerError, body: "oops"}},
		{answer: answer{status: http.StatusBadGateway}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d %s", tt.answer.status, tt.answer.retryAfter), func(t *testing.T) {
			r := always(t, tt.answer)
			s := newSink(t, testConfig(r.URL, FormatJSON))
			messages, err := s.Messages(runEvents()[0])
			require.NoError(t, err)
			require.Len(t, messages, 1)

			err = messages[0].Send(t.Context())
			var status *sink.StatusError
			require.ErrorAs(t, err, &status)
			assert.Equal(t, tt.answer.status, status.Code)
			assert.Equal(t, strings.Join(strings.Fields(tt.answer.body), " "), status.Message)

			// The queue is what tells the kinds of errors apart.
			tel := &sinktest.Counts{}
			retry := configretry.BackOffConfig{Enabled: true, InitialInterval: 10 * time.Millisecond, MaxInterval: 10 * time.Millisecond, Multiplier: 1, MaxElapsedTime: 100 * time.Millisecond}
			q := sink.NewQueue("test", s, 1, retry, zap.NewNop(), tel)
			q.Publish(runEvents()[0])
			require.NoError(t, q.Shutdown(t.Context()))
			assert.Equal(t, int64(1), tel.Failures.Load())
			if tt.permanent || tt.asked {
				assert.Zero(t, tel.Retries.Load())
				assert.Len(t, r.received(), 2)
			} else {
				assert.Positive(t, tel.Retries.Load())
			}
		})
	}
}

func TestDeliveryRetries(t *testing.T) {
	r := newReceiver(t, answer{status: http.StatusServiceUnavailable})
	s := newSink(t, testConfig(r.URL, FormatJSON))

	tel, _ := sinktest.Deliver(t, s, runEvents()[0])

	assert.Equal(t, int64(1), tel.Delivered.Load())
	assert.Equal(t, int64(1), tel.Retries.Load())
	assert.Zero(t, tel.Failures.Load())
	got := r.received()
	require.Len(t, got, 2)
	assert.Equal(t, got[0].body, got[1].body, "a retry sends the same body")
	assert.Equal(t, got[0].header.Get("X-Releasegate-Signature-256"), got[1].header.Get("X-Releasegate-Signature-256"))
}

func TestDeliveryRetryAfter(t *testing.T) {
	r := newReceiver(t, answer{status: http.StatusTooManyRequests, retryAfter: "1"})
	s := newSink(t, testConfig(r.URL, FormatJSON))

	start := time.Now()
	tel, _ := sinktest.Deliver(t, s, runEvents()[0])

	assert.Equal(t, int64(1), tel.Delivered.Load())
	assert.Equal(t, int64(1), tel.Retries.Load())
	assert.GreaterOrEqual(t, time.Since(start), time.Second, "waits as asked, not the 10ms backoff")
	assert.Len(t, r.received(), 2)
}

func TestDeliveryFailsPermanently(t *testing.T) {
	r := newReceiver(t, answer{status: http.StatusBadRequest, body: `{"error": "unknown hook"}`})
	s := newSink(t, testConfig(r.URL, FormatJSON))

	tel, _ := sinktest.Deliver(t, s, runEvents()[0])

	assert.Zero(t, tel.Delivered.Load())
	assert.Zero(t, tel.Retries.Load())
	assert.Equal(t, int64(1), tel.Failures.Load())
	assert.Len(t, r.received(), 1)
}

// The secret, and a token in the endpoint, stay out of every error, name
// and log line, whatever goes wrong.
func TestSecretsStayOutOfErrorsAndLogs(t *testing.T) {
	const token = "T0K3N-in-the-url"
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	endpoints := map[string]string{
		"unavailable": always(t, answer{status: http.StatusServiceUnavailable, body: "try later"}).URL,
		"bad request": always(t, answer{status: http.StatusBadRequest, body: "bad request"}).URL,
		"unreachable": closed.URL,
	}

	for name, endpoint := range endpoints {
		for _, format := range []Format{FormatJSON, FormatCDEvents} {
			t.Run(name+" "+string(format), func(t *testing.T) {
				cfg := testConfig(endpoint+"/hooks/"+token+"?token="+token, format)
				cfg.Secret = testSecret
				cfg.RetryOnFailure.InitialInterval = 10 * time.Millisecond
				cfg.RetryOnFailure.MaxElapsedTime = 50 * time.Millisecond
				s := newSink(t, cfg)

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

				core, logs := observer.New(zapcore.DebugLevel)
				tel := &sinktest.Counts{}
				q := sink.NewQueue("webhook", s, 10, cfg.RetryOnFailure, zap.New(core), tel)
				for _, e := range runEvents() {
					q.Publish(e)
				}
				require.NoError(t, q.Shutdown(t.Context()))
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
