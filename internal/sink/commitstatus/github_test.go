package commitstatus

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/releasegate/releasegate/internal/fakehost"
	"github.com/releasegate/releasegate/internal/sink"
	"github.com/releasegate/releasegate/internal/verdict"
)

const githubToken = "ghp_t0ps3cr3t-token"

// startGitHub is a fake GitHub and a sink posting to it as repository.
func startGitHub(t *testing.T, repository string) (*fakehost.GitHub, *Sink) {
	t.Helper()
	f := fakehost.NewGitHub(t, githubToken)
	s, err := New(f.Client(), GitHub(f.URL, githubToken, repository), "releasegate", "")
	require.NoError(t, err)
	return f, s
}

func TestGitHubHeaders(t *testing.T) {
	f, s := startGitHub(t, "")
	run := openRun()
	run.Gates = nil
	send(t, s, verdict.Event{Kind: verdict.RunStarted, Run: run})

	requests := f.Requests()
	require.Len(t, requests, 1)
	assert.Equal(t, "/repos/acme/shop/statuses/"+testSHA, requests[0].Path)
	for name, want := range map[string]string{
		"Accept":               "application/vnd.github+json",
		"Authorization":        "Bearer " + githubToken,
		"X-GitHub-Api-Version": "2022-11-28",
		"Content-Type":         "application/json",
		"User-Agent":           "releasegate",
	} {
		assert.Equal(t, want, requests[0].Header.Get(name), name)
	}
}

// Without a configured repository, each run's vcs.repository.url.full
// names it, in any of the forms git takes; a configured one wins.
func TestGitHubRepository(t *testing.T) {
	for _, repository := range []string{
		"https://github.com/acme/shop",
		"https://github.com/acme/shop.git",
		"https://github.com/acme/shop/",
		"git@github.com:acme/shop.git",
		"ssh://git@github.com/acme/shop.git",
		"https://ghe.example.com/acme/shop",
		"git@ghe.example.com:acme/shop.git",
	} {
		f, s := startGitHub(t, "")
		run := openRun()
		run.Repository = repository
		send(t, s, verdict.Event{Kind: verdict.RunStarted, Run: run})
		assert.Len(t, f.Statuses(), 4, repository)
	}

	f, s := startGitHub(t, "acme/shop")
	run := openRun()
	run.Repository = "https://github.com/acme/other"
	send(t, s, verdict.Event{Kind: verdict.RunStarted, Run: run})
	assert.Len(t, f.Statuses(), 4, "the configured repository wins")

	_, s = startGitHub(t, "")
	run = finishedRun()
	run.Repository = ""
	_, err := s.Messages(verdict.Event{Kind: verdict.RunFinished, Run: run})
	require.EqualError(t, err, `run "r-1" has no GitHub repository in vcs.repository.url.full (""): set repository`)
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

func TestIsGitHubRepository(t *testing.T) {
	assert.True(t, IsGitHubRepository("acme/shop"))
	assert.True(t, IsGitHubRepository("acme/my.repo_v2"))
	assert.False(t, IsGitHubRepository("shop"))
	assert.False(t, IsGitHubRepository("https://github.com/acme/shop"))
	assert.False(t, IsGitHubRepository("acme/shop/sub"))
}

func TestGitHubReject(t *testing.T) {
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
	host := &github{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tt.code, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(tt.body))}
			for k, v := range tt.headers {
				resp.Header.Set(k, v)
			}
			assert.Equal(t, tt.want, githubReject(sink.ReadError(resp, host.Explain), resp.Header, now))
		})
	}
}
