package commitstatus

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/releasegate/releasegate/internal/sink"
	"github.com/releasegate/releasegate/internal/verdict"
)

// gitlab is GitLab's API: POST /api/v4/projects/{id}/statuses/{sha}.
// Statuses show as external jobs of the commit's pipeline.
type gitlab struct {
	project string
	// statuses is the project's statuses URL, without the sha.
	statuses string
	token    configopaque.String
}

// GitLab is the API of the GitLab instance at endpoint, its root URL
// (https://gitlab.com). token has the api scope. project is the project's
// numeric id or its path, group/name.
func GitLab(endpoint string, token configopaque.String, project string) Host {
	return &gitlab{
		project: project,
		// The project path stays escaped on the wire (group%2Fname): GitLab
		// reads it as one segment.
		statuses: strings.TrimSuffix(endpoint, "/") + "/api/v4/projects/" + url.PathEscape(project) + "/statuses/",
		token:    token,
	}
}

// IsGitLabProject reports whether s is a numeric project id or a path of
// at least two segments.
func IsGitLabProject(s string) bool { return gitlabProject.MatchString(s) }

var gitlabProject = regexp.MustCompile(`^(\d+|[^/\s]+(/[^/\s]+)+)$`)

func (g *gitlab) Commit(run *verdict.Run) (string, string, error) {
	return g.statuses + url.PathEscape(run.Revision), shortSHA(g.project, run.Revision), nil
}

// gitlabMaxDescription is the longest description GitLab takes; it
// answers 400 beyond.
const gitlabMaxDescription = 255

// gitlabStatus is the body of a status.
type gitlabStatus struct {
	State       string `json:"state"`
	Name        string `json:"name"`
	TargetURL   string `json:"target_url,omitempty"`
	Description string `json:"description"`
}

func (g *gitlab) Body(st Status) (string, any) {
	state := gitlabState(st.Verdict)
	return state, gitlabStatus{
		State:       state,
		Name:        st.Context,
		TargetURL:   st.TargetURL,
		Description: sink.Truncate(st.Description, gitlabMaxDescription),
	}
}

// gitlabState is the commit state of a verdict. A warning passes, as it
// does for the run; GitLab has no state for inconclusive and error, so
// they fail, and the description, which starts with the verdict, tells
// them apart.
func gitlabState(s verdict.Status) string {
	switch s {
	case verdict.Pending:
		return "running"
	case verdict.Passed, verdict.Warning:
		return "success"
	default:
		return "failed"
	}
}

func (g *gitlab) Header() http.Header {
	return http.Header{
		"Private-Token": {string(g.token)},
		"Content-Type":  {"application/json"},
		"User-Agent":    {"releasegate"},
	}
}

// Explain reads GitLab's explanation of an error: {"message": ...} (text,
// a list, or messages per field), {"error": ..., "error_description": ...},
// or the text of a body that is not JSON (a proxy's page).
func (g *gitlab) Explain(body []byte) string {
	var answer struct {
		Message          json.RawMessage `json:"message"`
		Error            string          `json:"error"`
		ErrorDescription string          `json:"error_description"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return sink.Text(body)
	}
	if m := gitlabText(answer.Message); m != "" {
		return m
	}
	if answer.ErrorDescription != "" {
		return answer.Error + ": " + answer.ErrorDescription
	}
	return answer.Error
}

// gitlabText renders a message: a string, a list ("a, b"), or messages per
// field ({"description": ["is too long"]} is "description is too long").
func gitlabText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		parts := make([]string, 0, len(list))
		for _, item := range list {
			parts = append(parts, gitlabText(item))
		}
		return strings.Join(parts, ", ")
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) == nil {
		parts := make([]string, 0, len(fields))
		for _, field := range slices.Sorted(maps.Keys(fields)) {
			parts = append(parts, field+" "+gitlabText(fields[field]))
		}
		return strings.Join(parts, "; ")
	}
	return string(raw)
}

// Reject knows two answers of GitLab's own: a status already in the state
// asked for (running, say), nothing to do; and 409, another update of the
// same status holding its lock, worth a retry.
func (g *gitlab) Reject(err *sink.StatusError, header http.Header) error {
	switch {
	case err.Code == http.StatusBadRequest && strings.Contains(err.Message, "Cannot transition status"):
		return nil
	case err.Code == http.StatusConflict:
		return err
	}
	return sink.Classify(err, header)
}
