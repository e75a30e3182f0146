package commitstatus

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/releasegate/releasegate/internal/fakehost"
	"github.com/releasegate/releasegate/internal/sink"
	"github.com/releasegate/releasegate/internal/sink/sinktest"
	"github.com/releasegate/releasegate/internal/verdict"
)

const gitlabToken = "glpat-t0ps3cr3t-token"

// startGitLab is a fake GitLab and a sink posting to it for project.
func startGitLab(t *testing.T, project string) (*fakehost.GitLab, *Sink) {
	t.Helper()
	f := fakehost.NewGitLab(t, gitlabToken)
	s, err := New(f.Client(), GitLab(f.URL+"/", gitlabToken, project), "releasegate", "")
	require.NoError(t, err)
	return f, s
}

// The project path goes escaped, as one segment; headers carry the token.
func TestGitLabRequests(t *testing.T) {
	f, s := startGitLab(t, "acme/shop")
	run := openRun()
	run.Gates = nil
	send(t, s, verdict.Event{Kind: verdict.RunStarted, Run: run})

	requests := f.Requests()
	require.Len(t, requests, 1)
	assert.Equal(t, "/api/v4/projects/acme%2Fshop/statuses/"+testSHA, requests[0].Path)
	for name, want := range map[string]string{
		"Private-Token": gitlabToken,
		"Content-Type":  "application/json",
		"User-Agent":    "releasegate",
	} {
		assert.Equal(t, want, requests[0].Header.Get(name), name)
	}
}

func TestGitLabNumericProject(t *testing.T) {
	f, s := startGitLab(t, fakehost.GitLabProjectID)
	run := openRun()
	run.Gates = nil

	whats := send(t, s, verdict.Event{Kind: verdict.RunStarted, Run: run})

	assert.Equal(t, []string{"running status releasegate of 42@1a2b3c4"}, whats)
	assert.Equal(t, "/api/v4/projects/42/statuses/"+testSHA, f.Requests()[0].Path)
	assert.Equal(t, []fakehost.Status{{Repo: "42", SHA: testSHA, State: "running", Context: "releasegate", Description: "pending: 0 of 0 gates pending"}}, f.Statuses())
}

// GitLab refuses to set a running status running again: nothing to do,
// not a failure.
func TestGitLabAlreadyRunning(t *testing.T) {
	f, s := startGitLab(t, "acme/shop")

	c, _ := sinktest.Deliver(t, s,
		verdict.Event{Kind: verdict.RunStarted, Run: openRun()},
		verdict.Event{Kind: verdict.RunStarted, Run: openRun()},
	)

	assert.Len(t, f.Requests(), 8)
	assert.Len(t, f.Statuses(), 4)
	assert.Equal(t, 4, f.Answered(http.StatusBadRequest))
	assert.EqualValues(t, 8, c.Delivered.Load())
	assert.Zero(t, c.Failures.Load()+c.Retries.Load())
}

func TestIsGitLabProject(t *testing.T) {
	for _, project := range []string{"42", "acme/shop", "group/sub/name"} {
		assert.True(t, IsGitLabProject(project), project)
	}
	for _, project := range []string{"", "name", "group//name", "group/ name", "/group/name"} {
		assert.False(t, IsGitLabProject(project), project)
	}
}

func TestGitLabReject(t *testing.T) {
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
	host := &gitlab{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tt.code, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(tt.body))}
			for k, v := range tt.headers {
				resp.Header.Set(k, v)
			}
			assert.Equal(t, tt.want, host.Reject(sink.ReadError(resp, host.Explain), resp.Header))
		})
	}
}
