// Package github publishes verdicts as GitHub commit statuses: one per
// gate, <prefix>/<gate>, and one for the run, <prefix>, which a branch
// protection rule can require.
package github

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/sink"
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/verdict"
)

// maxDescription is the longest description GitHub takes; it answers 422
// beyond.
const maxDescription = 140

// maxErrorBody bounds what is read of an error answer.
const maxErrorBody = 64 << 10

// Sink turns run events into commit status requests.
type Sink struct {
	client     *http.Client
	endpoint   string
	token      configopaque.String
	repository string
	prefix     string
	link       sink.LinkTemplate
}

var _ sink.Sink = (*Sink)(nil)

// New returns a sink that sends with client, built from cfg.ClientConfig.
func New(cfg *Config, client *http.Client) (*Sink, error) {
	link, err := cfg.TargetURL.Compile()
	if err != nil {
		return nil, err
	}
	return &Sink{
		client:     client,
		endpoint:   strings.TrimSuffix(cfg.ClientConfig.Endpoint, "/"),
		token:      cfg.Token,
		repository: cfg.Repository,
		prefix:     cfg.ContextPrefix,
		link:       link,
	}, nil
}

// status is the body of POST /repos/{owner}/{repo}/statuses/{sha}.
type status struct {
	State       string `json:"state"`
	TargetURL   string `json:"target_url,omitempty"`
	Description string `json:"description"`
	Context     string `json:"context"`
}

// Messages is one status per gate, then the run's. An abandoned run gets
// none: its gates stay pending, as nothing decided them.
func (s *Sink) Messages(e verdict.Event) ([]sink.Message, error) {
	if e.Kind == verdict.RunAbandoned {
		return nil, nil
	}
	run := &e.Run
	if run.Revision == "" {
		return nil, fmt.Errorf("run %q has no vcs.ref.head.revision", run.Run)
	}
	repo := s.repository
	if repo == "" {
		var ok bool
		if repo, ok = repositoryOf(run.Repository); !ok {
			return nil, fmt.Errorf("run %q has no GitHub repository in vcs.repository.url.full (%q): set repository", run.Run, run.Repository)
		}
	}
	endpoint := s.endpoint + "/repos/" + repo + "/statuses/" + url.PathEscape(run.Revision)
	commit := sink.ShortSHA(repo, run.Revision)

	statuses, err := sink.CommitStatuses(run, s.prefix, s.link)
	if err != nil {
		return nil, err
	}
	return sink.StatusMessages(statuses, commit, func(st sink.CommitStatus) (string, any) {
		return state(st.Status), status{
			State:       state(st.Status),
			Context:     st.Context,
			TargetURL:   st.TargetURL,
			Description: sink.Truncate(st.Description, maxDescription),
		}
	}, func(ctx context.Context, body []byte) error { return s.send(ctx, endpoint, body) })
}

func (s *Sink) send(ctx context.Context, endpoint string, body []byte) error {
	return sink.Post(ctx, s.client, endpoint, http.Header{
		"Accept":               {"application/vnd.github+json"},
		"Authorization":        {"Bearer " + string(s.token)},
		"X-Github-Api-Version": {"2022-11-28"},
		"Content-Type":         {"application/json"},
		"User-Agent":           {"releasegate"},
	}, body, func(resp *http.Response) error { return errorFor(resp, time.Now()) })
}

// errorFor classifies an answer that was not a success.
func errorFor(resp *http.Response, now time.Time) error {
	err := &sink.StatusError{Code: resp.StatusCode, Message: message(resp.Body)}
	switch {
	case resp.StatusCode >= 500:
		return err
	case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusTooManyRequests:
		if wait, ok := rateLimit(resp.Header, now); ok {
			return sink.RetryAfter(err, wait)
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			return err // a rate limit without a hint: back off
		}
		return sink.Permanent(err) // missing permission
	default:
		return sink.Permanent(err)
	}
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

// message is GitHub's explanation of an error: {"message": "Validation
// Failed", "errors": [{"field": "description", "message": "..."}]}, or
// the start of the body when it is not JSON (a proxy's page).
func message(body io.Reader) string {
	data, _ := io.ReadAll(io.LimitReader(body, maxErrorBody))
	var answer struct {
		Message string            `json:"message"`
		Errors  []json.RawMessage `json:"errors"`
	}
	if err := json.Unmarshal(data, &answer); err != nil {
		return sink.Truncate(strings.TrimSpace(string(data)), 200)
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
	return repo, ownerName.MatchString(repo)
}

// state is the commit state of a verdict. A warning passes, as it does for
// the run; inconclusive and error are GitHub's error: no verdict to trust.
func state(s verdict.Status) string {
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
