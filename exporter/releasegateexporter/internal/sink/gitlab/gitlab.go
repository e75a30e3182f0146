// Package gitlab publishes verdicts as GitLab commit statuses: one per
// gate, <prefix>/<gate>, and one for the run, <prefix>, shown as external
// jobs of the commit's pipeline.
package gitlab

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/sink"
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/verdict"
)

// maxDescription is the longest description GitLab takes; it answers 400
// beyond.
const maxDescription = 255

// maxErrorBody bounds what is read of an answer.
const maxErrorBody = 64 << 10

// Sink turns run events into commit status requests.
type Sink struct {
	client  *http.Client
	project string
	// statuses is the project's statuses URL, without the sha.
	statuses string
	token    configopaque.String
	prefix   string
	link     sink.LinkTemplate
}

var _ sink.Sink = (*Sink)(nil)

// New returns a sink that sends with client, built from cfg.ClientConfig.
func New(cfg *Config, client *http.Client) (*Sink, error) {
	link, err := cfg.TargetURL.Compile()
	if err != nil {
		return nil, err
	}
	return &Sink{
		client:  client,
		project: cfg.Project,
		// The project path stays escaped on the wire (group%2Fname): GitLab
		// reads it as one segment.
		statuses: strings.TrimSuffix(cfg.ClientConfig.Endpoint, "/") + "/api/v4/projects/" + url.PathEscape(cfg.Project) + "/statuses/",
		token:    cfg.Token,
		prefix:   cfg.NamePrefix,
		link:     link,
	}, nil
}

// status is the body of POST /projects/{id}/statuses/{sha}.
type status struct {
	State       string `json:"state"`
	Name        string `json:"name"`
	TargetURL   string `json:"target_url,omitempty"`
	Description string `json:"description"`
}

// Messages is one status per gate, then the run's. An abandoned run gets
// none: its gates stay running, as nothing decided them.
func (s *Sink) Messages(e verdict.Event) ([]sink.Message, error) {
	if e.Kind == verdict.RunAbandoned {
		return nil, nil
	}
	run := &e.Run
	if run.Revision == "" {
		return nil, fmt.Errorf("run %q has no vcs.ref.head.revision", run.Run)
	}
	endpoint := s.statuses + url.PathEscape(run.Revision)
	commit := sink.ShortSHA(s.project, run.Revision)

	statuses, err := sink.CommitStatuses(run, s.prefix, s.link)
	if err != nil {
		return nil, err
	}
	return sink.StatusMessages(statuses, commit, func(st sink.CommitStatus) (string, any) {
		return state(st.Status), status{
			State:       state(st.Status),
			Name:        st.Context,
			TargetURL:   st.TargetURL,
			Description: sink.Truncate(st.Description, maxDescription),
		}
	}, func(ctx context.Context, body []byte) error { return s.send(ctx, endpoint, body) })
}

func (s *Sink) send(ctx context.Context, endpoint string, body []byte) error {
	return sink.Post(ctx, s.client, endpoint, http.Header{
		"Private-Token": {string(s.token)},
		"Content-Type":  {"application/json"},
		"User-Agent":    {"releasegate"},
	}, body, result)
}

// result classifies GitLab's answer to a failed request; nil when the
// status was already set.
func result(resp *http.Response) error {
	err := &sink.StatusError{Code: resp.StatusCode, Message: message(resp.Body)}
	switch {
	case resp.StatusCode == http.StatusBadRequest && strings.Contains(err.Message, "Cannot transition status"):
		// The status already is in that state, running say: nothing to do.
		return nil
	case resp.StatusCode == http.StatusConflict || resp.StatusCode >= 500:
		// 409: another update of the same status holds its lock.
		return err
	case resp.StatusCode == http.StatusTooManyRequests:
		if wait, ok := sink.RetryAfterHeader(resp.Header); ok {
			return sink.RetryAfter(err, wait)
		}
		return err
	default:
		return sink.Permanent(err)
	}
}

// message is GitLab's explanation of an error: {"message": ...} (text, a
// list, or messages per field), {"error": ..., "error_description": ...},
// or the start of the body when it is not JSON (a proxy's page).
func message(body io.Reader) string {
	data, _ := io.ReadAll(io.LimitReader(body, maxErrorBody))
	var answer struct {
		Message          json.RawMessage `json:"message"`
		Error            string          `json:"error"`
		ErrorDescription string          `json:"error_description"`
	}
	if err := json.Unmarshal(data, &answer); err != nil {
		return sink.Truncate(strings.TrimSpace(string(data)), 200)
	}
	if m := text(answer.Message); m != "" {
		return m
	}
	if answer.ErrorDescription != "" {
		return answer.Error + ": " + answer.ErrorDescription
	}
	return answer.Error
}

// text renders a message: a string, a list ("a, b"), or messages per field
// ({"description": ["is too long"]} is "description is too long").
func text(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		parts := make([]string, 0, len(list))
		for _, item := range list {
			parts = append(parts, text(item))
		}
		return strings.Join(parts, ", ")
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) == nil {
		parts := make([]string, 0, len(fields))
		for _, field := range slices.Sorted(maps.Keys(fields)) {
			parts = append(parts, field+" "+text(fields[field]))
		}
		return strings.Join(parts, "; ")
	}
	return string(raw)
}

// state is the commit state of a verdict. A warning passes, as it does for
// the run; GitLab has no state for inconclusive and error, so they fail,
// and the description, which starts with the verdict, tells them apart.
func state(s verdict.Status) string {
	switch s {
	case verdict.Pending:
		return "running"
	case verdict.Passed, verdict.Warning:
		return "success"
	default:
		return "failed"
	}
}
