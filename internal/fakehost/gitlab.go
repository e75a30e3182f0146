package fakehost

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"testing"
	"unicode/utf8"
)

// The one project the fake GitLab has, by path and by id.
const (
	GitLabProject   = "acme/shop"
	GitLabProjectID = "42"
)

// GitLab answers `POST /api/v4/projects/{id}/statuses/{sha}` as GitLab's
// API does for GitLabProject, checking the PRIVATE-TOKEN and the body, and
// refusing, as GitLab does, to set a running status running again.
type GitLab struct {
	codeHost
	token string
	// running holds the statuses that are running, by sha and name.
	running map[string]bool
}

// NewGitLab serves a GitLab that takes token, until the test ends.
func NewGitLab(tb testing.TB, token string) *GitLab {
	tb.Helper()
	g := &GitLab{token: token, running: map[string]bool{}}
	g.Server = newServer(tb, g.serve)
	return g
}

var gitlabStatusPath = regexp.MustCompile(`^/api/v4/projects/([^/]+)/statuses/([^/]+)$`)

// gitlabStatus is the body of a commit status.
type gitlabStatus struct {
	State       string `json:"state"`
	Name        string `json:"name"`
	TargetURL   string `json:"target_url"`
	Description string `json:"description"`
}

func (g *GitLab) serve(r *http.Request, body []byte) Answer {
	// A project path is one segment, escaped: acme%2Fshop.
	m := gitlabStatusPath.FindStringSubmatch(r.URL.EscapedPath())
	var project string
	if m != nil {
		project, _ = url.PathUnescape(m[1])
	}
	switch {
	case r.Method != http.MethodPost || m == nil:
		return jsonAnswer(http.StatusNotFound, `{"error":"404 Not Found"}`)
	case r.Header.Get("Private-Token") != g.token:
		return jsonAnswer(http.StatusUnauthorized, `{"message":"401 Unauthorized"}`)
	case project != GitLabProject && project != GitLabProjectID:
		return jsonAnswer(http.StatusNotFound, `{"message":"404 Project Not Found"}`)
	case !sha40.MatchString(m[2]):
		return jsonAnswer(http.StatusNotFound, `{"message":"404 Commit Not Found"}`)
	case !isJSON(r):
		// GitLab reads other bodies as form parameters, and finds none.
		return jsonAnswer(http.StatusBadRequest, `{"error":"state is missing"}`)
	}
	var s gitlabStatus
	if err := decodeStrictly(body, &s); err != nil {
		return jsonAnswer(http.StatusBadRequest, `{"error":"400 Bad request"}`)
	}
	key := m[2] + " " + s.Name
	switch {
	case !slices.Contains([]string{"pending", "running", "success", "failed", "canceled", "skipped"}, s.State):
		return jsonAnswer(http.StatusBadRequest, `{"error":"state does not have a valid value"}`)
	case utf8.RuneCountInString(s.Description) > 255:
		return jsonAnswer(http.StatusBadRequest, `{"message":{"description":["is too long (maximum is 255 characters)"]}}`)
	case s.State == "running" && g.running[key]:
		return jsonAnswer(http.StatusBadRequest, `{"message":"Cannot transition status via :run from :running (Reason(s): Status cannot transition via \"run\")"}`)
	}
	g.running[key] = s.State == "running"
	id := g.accept(Status{Repo: project, SHA: m[2], State: s.State, Context: s.Name, Description: s.Description, TargetURL: s.TargetURL})
	return jsonAnswer(http.StatusCreated, `{"id":%d,"sha":%q,"status":%q,"name":%q}`, id, m[2], s.State, s.Name)
}
