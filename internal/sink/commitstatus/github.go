package commitstatus

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/releasegate/releasegate/internal/sink"
	"github.com/releasegate/releasegate/internal/verdict"
)

// github is GitHub's REST API: POST /repos/{owner}/{repo}/statuses/{sha}.
type github struct {
	endpoint   string
	token      configopaque.String
	repository string
}

// GitHub is the API of github.com, or of a GitHub Enterprise Server, at
// endpoint, its REST API's root (https://ghe.example.com/api/v3). token may
// write commit statuses. repository is owner/name; empty, each run's
// vcs.repository.url.full names it.
func GitHub(endpoint string, token configopaque.String, repository string) Host {
	return &github{endpoint: strings.TrimSuffix(endpoint, "/"), token: token, repository: repository}
}

// IsGitHubRepository reports whether s is owner/name as GitHub allows them.
func IsGitHubRepository(s string) bool { return ownerName.MatchString(s) }

var ownerName = regexp.MustCompile(`^[\w.-]+/[\w.-]+$`)

func (g *github) Commit(run *verdict.Run) (string, string, error) {
	repo := g.repository
	if repo == "" {
		var ok bool
		if repo, ok = repositoryOf(run.Repository); !ok {
			return "", "", fmt.Errorf("run %q has no GitHub repository in vcs.repository.url.full (%q): set repository", run.Run, run.Repository)
		}
	}
	return g.endpoint + "/repos/" + repo + "/statuses/" + url.PathEscape(run.Revision), shortSHA(repo, run.Revision), nil
}

// repositoryOf is the owner/name of a repository URL:
// https://github.com/owner/name(.git), ssh://git@github.com/owner/name.git,
// git@github.com:owner/name.git, or the same on a GitHub Enterprise host.
func repositoryOf(repository string) (string, bool) {
	var path string
	if u, err := url.Parse(repository); err == nil && u.Host != "" {
		path = u.Path
	} else if host, p, ok := strings.Cut(repository, ":"); ok && host != "" && !strings.Contains(host, "/") {
		path = p
	} else {
		return "", false
	}
	repo := strings.TrimSuffix(strings.Trim(path, "/"), ".git")
	return repo, IsGitHubRepository(repo)
}

// githubMaxDescription is the longest description GitHub takes; it
// answers 422 beyond.
const githubMaxDescription = 140

// githubStatus is the body of a status.
type githubStatus struct {
	State       string `json:"state"`
	TargetURL   string `json:"target_url,omitempty"`
	Description string `json:"description"`
	Context     string `json:"context"`
}

func (g *github) Body(st Status) (string, any) {
	state := githubState(st.Verdict)
	return state, githubStatus{
		State:       state,
		Context:     st.Context,
		TargetURL:   st.TargetURL,
		Description: sink.Truncate(st.Description, githubMaxDescription),
	}
}

// githubState is the commit state of a verdict. A warning passes, as it
// does for the run; inconclusive and error are GitHub's error: no verdict
// to trust.
func githubState(s verdict.Status) string {
	switch s {
	case verdict.Pending:
		return "pending"
	case verdict.Passed, verdict.Warning:
		return "success"
	case verdict.Failed:
		return "failure"
	default:
		return "error"
	}
}

func (g *github) Header() http.Header {
	return http.Header{
		"Accept":               {"application/vnd.github+json"},
		"Authorization":        {"Bearer " + string(g.token)},
		"X-Github-Api-Version": {"2022-11-28"},
		"Content-Type":         {"application/json"},
		"User-Agent":           {"releasegate"},
	}
}

// Explain reads GitHub's explanation of an error: {"message": "Validation
// Failed", "errors": [{"field": "description", "message": "..."}]}, or the
// text of a body that is not JSON (a proxy's page).
func (g *github) Explain(body []byte) string {
	var answer struct {
		Message string            `json:"message"`
		Errors  []json.RawMessage `json:"errors"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return sink.Text(body)
	}
	details := make([]string, 0, len(answer.Errors))
	for _, raw := range answer.Errors {
		var detail struct{ Message, Field, Code string }
		if json.Unmarshal(raw, &detail) != nil {
			_ = json.Unmarshal(raw, &detail.Message) // a bare string
		}
		if detail.Message == "" {
			detail.Message = strings.TrimSpace(detail.Field + " " + detail.Code)
		}
		if detail.Message != "" {
			details = append(details, detail.Message)
		}
	}
	if len(details) == 0 {
		return answer.Message
	}
	return answer.Message + ": " + strings.Join(details, "; ")
}

func (g *github) Reject(err *sink.StatusError, header http.Header) error {
	return githubReject(err, header, time.Now())
}

// githubReject tells GitHub's rate limits, which come as 403 as well as
// 429, from a missing permission, a 403 that retrying cannot fix.
func githubReject(err *sink.StatusError, header http.Header, now time.Time) error {
	if err.Code == http.StatusForbidden || err.Code == http.StatusTooManyRequests {
		if wait, ok := rateLimit(header, now); ok {
			return sink.RetryAfter(err, wait)
		}
	}
	return sink.Classify(err, header)
}

// rateLimit is how long GitHub asked to wait: retry-after (secondary rate
// limits), or until x-ratelimit-reset once x-ratelimit-remaining is 0
// (primary ones).
func rateLimit(h http.Header, now time.Time) (time.Duration, bool) {
	if wait, ok := sink.RetryAfterHeader(h); ok {
		return wait, true
	}
	if h.Get("X-Ratelimit-Remaining") != "0" {
		return 0, false
	}
	reset, err := strconv.ParseInt(h.Get("X-Ratelimit-Reset"), 10, 64)
	if err != nil {
		return 0, false
	}
	return max(time.Unix(reset, 0).Sub(now), time.Second), true
}
