package sink

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPost(t *testing.T) {
	var got http.Header
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, "<html>\n  <h1>Bad gateway</h1>\n</html>")
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer server.Close()
	reject := func(resp *http.Response) error { return ReadError(resp, Text) }

	require.NoError(t, Post(t.Context(), server.Client(), server.URL+"/ok", http.Header{"X-Token": {"t0k3n"}}, []byte("{}"), reject))
	assert.Equal(t, "t0k3n", got.Get("X-Token"))

	err := Post(t.Context(), server.Client(), server.URL+"/fail", nil, []byte("{}"), reject)
	var status *StatusError
	require.ErrorAs(t, err, &status)
	assert.Equal(t, &StatusError{Code: http.StatusBadGateway, Message: "<html> <h1>Bad gateway</h1> </html>"}, status)

	// A network error does not show the URL, which may carry a secret.
	server.Close()
	err = Post(t.Context(), server.Client(), server.URL+"/hooks/s3cr3t", nil, []byte("{}"), reject)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cr3t")
	assert.False(t, isPermanent(err), "network errors are retried")
}

func TestText(t *testing.T) {
	assert.Equal(t, "bad payload", Text([]byte("  bad\n payload\n")))
	assert.Empty(t, Text(nil))
	long := Text([]byte(strings.Repeat("x ", 300)))
	assert.Len(t, []rune(long), 200)
	assert.True(t, strings.HasSuffix(long, "…"))
}

func TestClassify(t *testing.T) {
	statusError := func(code int) *StatusError { return &StatusError{Code: code, Message: "m"} }
	retryAfter := func(seconds string) http.Header { return http.Header{"Retry-After": {seconds}} }
	tests := []struct {
		code   int
		header http.Header
		want   error
	}{
		{code: http.StatusBadRequest, want: Permanent(statusError(400))},
		{code: http.StatusUnauthorized, want: Permanent(statusError(401))},
		{code: http.StatusNotFound, want: Permanent(statusError(404))},
		{code: http.StatusUnprocessableEntity, want: Permanent(statusError(422))},
		{code: http.StatusRequestTimeout, want: statusError(408)},
		{code: http.StatusTooManyRequests, want: statusError(429)},
		{code: http.StatusTooManyRequests, header: retryAfter("7"), want: RetryAfter(statusError(429), 7*time.Second)},
		{code: http.StatusServiceUnavailable, header: retryAfter("2"), want: RetryAfter(statusError(503), 2*time.Second)},
		{code: http.StatusServiceUnavailable, header: retryAfter("Wed, 21 Oct 2015 07:28:00 GMT"), want: statusError(503)},
		{code: http.StatusInternalServerError, want: statusError(500)},
		{code: http.StatusBadGateway, header: retryAfter("2"), want: statusError(502)},
		{code: http.StatusFound, want: statusError(302)},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Classify(statusError(tt.code), tt.header), "%d %v", tt.code, tt.header)
	}
}
