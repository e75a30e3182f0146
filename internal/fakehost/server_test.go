package fakehost

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// post sends body to the fake's path and returns the answer's code and
// body; code 0 when the request failed.
func post(t *testing.T, ctx context.Context, s *Server, path string, header http.Header, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header = header
	resp, err := s.Client().Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(data)
}

func TestHealth(t *testing.T) {
	h := NewWebhook(t, WebhookChecks{})
	header := http.Header{"Content-Type": {"application/json"}, "X-Releasegate-Event": {"run.started"}}

	code, _ := post(t, t.Context(), h.Server, "/", header, "{}")
	assert.Equal(t, http.StatusNoContent, code)

	h.SetHealth(Refusing)
	code, msg := post(t, t.Context(), h.Server, "/", header, "{}")
	assert.Zero(t, code)
	assert.Contains(t, msg, "connection refused")

	h.SetHealth(Unavailable)
	code, _ = post(t, t.Context(), h.Server, "/", header, "{}")
	assert.Equal(t, http.StatusServiceUnavailable, code, "listening again, on the same port")

	h.RateLimit(2 * time.Second)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, h.URL, strings.NewReader("{}"))
	require.NoError(t, err)
	resp, err := h.Client().Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, "2", resp.Header.Get("Retry-After"))

	h.SetHealth(Healthy)
	h.AnswerFirst(Answer{Code: http.StatusBadGateway, Body: "<html>502</html>"})
	code, msg = post(t, t.Context(), h.Server, "/", header, "{}")
	assert.Equal(t, http.StatusBadGateway, code, "canned answers go first")
	assert.Equal(t, "<html>502</html>", msg)
	code, _ = post(t, t.Context(), h.Server, "/", header, "{}")
	assert.Equal(t, http.StatusNoContent, code)

	var codes []int
	for _, r := range h.Requests() {
		codes = append(codes, r.Code)
	}
	assert.Equal(t, []int{204, 503, 429, 502, 204}, codes, "refused connections never arrive")
	assert.Equal(t, []string{"run.started", "run.started"}, h.Events())
}

func TestHungUntilTheClientGivesUp(t *testing.T) {
	h := NewWebhook(t, WebhookChecks{})
	h.SetHealth(Hung)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int)
	go func() {
		code, _ := post(t, ctx, h.Server, "/", nil, "{}")
		done <- code
	}()
	require.Eventually(t, func() bool { return h.Answered(0) == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	assert.Zero(t, <-done)
	require.Eventually(t, func() bool { return h.Cancelled() == 1 }, 5*time.Second, time.Millisecond)
}

// A request still hung when the test ends is let go: nothing is left
// running.
func TestHungUntilClose(t *testing.T) {
	h := NewWebhook(t, WebhookChecks{})
	h.SetHealth(Hung)
	done := make(chan int)
	go func() {
		code, _ := post(t, t.Context(), h.Server, "/", nil, "{}")
		done <- code
	}()
	require.Eventually(t, func() bool { return h.Answered(0) == 1 }, 5*time.Second, time.Millisecond)
	h.Close()
	<-done
	assert.Zero(t, h.Cancelled())
}
