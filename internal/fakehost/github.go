package fakehost

import (
	"net/http"
	"regexp"
	"slices"
	"testing"
	"unicode/utf8"
)

// GitHubRepository is the one repository the fake GitHub has.
const GitHubRepository = "acme/shop"

// GitHub answers `POST /repos/{owner}/{repo}/statuses/{sha}` as GitHub's
// REST API does for GitHubRepository, checking the headers GitHub requires
// and the body it validates.
type GitHub struct {
	codeHost
	token string
}

// NewGitHub serves a GitHub that takes token, until the test ends.
func NewGitHub(tb testing.TB, token string) *GitHub {
	tb.Helper()
	g := &GitHub{token: token}
	g.Server = newServer(tb, g.serve)
	return g
}

var githubStatusPath = regexp.MustCompile(`^/repos/([^/]+/[^/]+)/statuses/([^/]+)$`)

// githubStatus is the body of a commit status.
type githubStatus struct {
	State       string `json:"state"`
	TargetURL   string `json:"target_url"`
	Description string `json:"description"`
	Context     string `json:"context"`
}

func (g *GitHub) serve(r *http.Request, body []byte) Answer {
	m := githubStatusPath.FindStringSubmatch(r.URL.Path)
	switch {
	case r.Method != http.MethodPost || m == nil:
		return jsonAnswer(http.StatusNotFound, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest","status":"404"}`)
	case r.Header.Get("User-Agent") == "":
		return jsonAnswer(http.StatusForbidden, `{"message":"Request forbidden by administrative rules. Please make sure your request has a User-Agent header"}`)
	case r.Header.Get("Authorization") != "Bearer "+g.token:
		return jsonAnswer(http.StatusUnauthorized, `{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"}`)
	case r.Header.Get("Accept") != "application/vnd.github+json":
		return jsonAnswer(http.StatusUnsupportedMediaType, `{"message":"Unsupported 'Accept' header: %q"}`, r.Header.Get("Accept"))
	case r.Header.Get("X-GitHub-Api-Version") != "2022-11-28":
		return jsonAnswer(http.StatusBadRequest, `{"message":"Invalid API version: %q"}`, r.Header.Get("X-GitHub-Api-Version"))
	case !isJSON(r):
		return jsonAnswer(http.StatusBadRequest, `{"message":"Problems parsing JSON"}`)
	case m[1] != GitHubRepository:
		return jsonAnswer(http.StatusNotFound, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest/commits/statuses#create-a-commit-status","status":"404"}`)
	case !sha40.MatchString(m[2]):
		return jsonAnswer(http.StatusUnprocessableEntity, `{"message":"No commit found for SHA: %s","documentation_url":"https://docs.github.com/rest","status":"422"}`, m[2])
	}
	var s githubStatus
	if err := decodeStrictly(body, &s); err != nil {
		return jsonAnswer(http.StatusBadRequest, `{"message":"Problems parsing JSON"}`)
	}
	switch {
	case !slices.Contains([]string{"error", "failure", "pending", "success"}, s.State):
		return jsonAnswer(http.StatusUnprocessableEntity, `{"message":"Validation Failed","errors":[{"resource":"Status","field":"state","code":"invalid"}]}`)
	case utf8.RuneCountInString(s.Description) > 140:
		return jsonAnswer(http.StatusUnprocessableEntity, `{"message":"Validation Failed","errors":[{"resource":"Status","code":"custom","field":"description","message":"description is too long (maximum is 140 characters)"}]}`)
	}
	id := g.accept(Status{Repo: m[1], SHA: m[2], State: s.State, Context: s.Context, Description: s.Description, TargetURL: s.TargetURL})
	return jsonAnswer(http.StatusCreated, `{"id":%d,"state":%q,"context":%q}`, id, s.State, s.Context)
}
