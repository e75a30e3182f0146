package sink

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPost(t *testing.T) {
	var got http.Header
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer server.Close()
	reject := func(resp *http.Response) error { return &StatusError{Code: resp.StatusCode} }

	require.NoError(t, Post(t.Context(), server.Client(), server.URL+"/ok", http.Header{"X-Token": {"t0k3n"}}, []byte("{}"), reject))
	assert.Equal(t, "t0k3n", got.Get("X-Token"))

	err := Post(t.Context(), server.Client(), server.URL+"/fail", nil, []byte("{}"), reject)
	var status *StatusError
	require.ErrorAs(t, err, &status)
	assert.Equal(t, http.StatusBadGateway, status.Code)

	// A network error does not show the URL, which may carry a secret.
	server.Close()
	err = Post(t.Context(), server.Client(), server.URL+"/hooks/s3cr3t", nil, []byte("{}"), reject)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cr3t")
	assert.False(t, isPermanent(err), "network errors are retried")
}
