package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
)

// githubToken is what the collector under test authenticates with.
const githubToken = "ghp_e2e-secret-token"

// commitStatus is one status GitHub received.
type commitStatus struct {
	Repo, SHA                              string
	State, Context, Description, TargetURL string
}

// fakeGitHub answers `POST /repos/{owner}/{repo}/statuses/{sha}` as GitHub
// does, checking the headers GitHub requires, and keeps what it received.
type fakeGitHub struct {
	*httptest.Server
	statusLog
}

// statusLog keeps the commit statuses a fake API accepted.
type statusLog struct {
	mu       sync.Mutex
	statuses []commitStatus
}

func (l *statusLog) add(s commitStatus) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.statuses = append(l.statuses, s)
}

// received returns the statuses set on a commit, in the order they came.
func (l *statusLog) received(sha string) []commitStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []commitStatus
	for _, s := range l.statuses {
		if s.SHA == sha {
			out = append(out, s)
		}
	}
	return out
}

var statusPath = regexp.MustCompile(`^/repos/([^/]+/[^/]+)/statuses/([0-9a-f]{7,40})$`)

func newFakeGitHub(t *testing.T) *fakeGitHub {
	t.Helper()
	g := &fakeGitHub{}
	g.Server = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.Close)
	return g
}

func (g *fakeGitHub) serve(w http.ResponseWriter, r *http.Request) {
	fail := func(code int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
	}
	m := statusPath.FindStringSubmatch(r.URL.Path)
	switch {
	case r.Method != http.MethodPost || m == nil:
		fail(http.StatusNotFound, "Not Found")
		return
	case r.Header.Get("Authorization") != "Bearer "+githubToken:
		fail(http.StatusUnauthorized, "Bad credentials")
		return
	case r.Header.Get("Accept") != "application/vnd.github+json" || r.Header.Get("X-GitHub-Api-Version") != "2022-11-28":
		fail(http.StatusBadRequest, "missing GitHub API headers")
		return
	}
	var body struct {
		State       string `json:"state"`
		TargetURL   string `json:"target_url"`
		Description string `json:"description"`
		Context     string `json:"context"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		fail(http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	switch {
	case len([]rune(body.Description)) > 140:
		fail(http.StatusUnprocessableEntity, "Validation Failed: description is too long (maximum is 140 characters)")
		return
	case body.State != "pending" && body.State != "success" && body.State != "failure" && body.State != "error":
		fail(http.StatusUnprocessableEntity, "Validation Failed: state")
		return
	}
	g.add(commitStatus{Repo: m[1], SHA: m[2], State: body.State, Context: body.Context, Description: body.Description, TargetURL: body.TargetURL})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{"state": body.State, "context": body.Context})
}
