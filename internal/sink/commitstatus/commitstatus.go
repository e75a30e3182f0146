// Package commitstatus publishes verdicts as commit statuses on a code
// host: one per gate, <prefix>/<gate>, and one for the run, <prefix>, which
// a branch protection rule can require. The loop is shared; what differs
// from one host to another (where a status goes, its body, the headers,
// what an error answer means) is a Host, one small file each.
package commitstatus

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/releasegate/releasegate/internal/sink"
	"github.com/releasegate/releasegate/internal/verdict"
)

// Host is a code host's commit status API.
type Host interface {
	// Commit is the URL the statuses of run's commit are posted to, and
	// how logs name the commit (acme/shop@1a2b3c4). An error, naming what
	// the run lacks, skips the run.
	Commit(run *verdict.Run) (url, name string, err error)
	// Body is the request body of a status, with its state in the host's
	// words, which logs show.
	Body(Status) (state string, body any)
	// Header is what every request carries: the token, the API's own
	// headers.
	Header() http.Header
	// Explain is the host's message in the body of an error answer.
	Explain(body []byte) string
	// Reject says what an error answer means: sink.Classify's answer, or
	// the host's own where it differs; nil when there is nothing to do.
	Reject(err *sink.StatusError, header http.Header) error
}

// Status is one status of a commit: a gate's, or the run's own.
type Status struct {
	Context     string // <prefix>/<gate>, or <prefix> for the run
	Verdict     verdict.Status
	Description string // the gate's reason, or the run's summary
	TargetURL   string
}

// Sink turns run events into commit status requests to a host.
type Sink struct {
	client *http.Client
	host   Host
	prefix string
	link   Link
}

var _ sink.Sink = (*Sink)(nil)

// New returns a sink that posts host's statuses with client, named after
// prefix and linked by targetURL, a target_url template (empty: no link).
func New(client *http.Client, host Host, prefix, targetURL string) (*Sink, error) {
	link, err := ParseTargetURL(targetURL)
	if err != nil {
		return nil, err
	}
	return &Sink{client: client, host: host, prefix: prefix, link: link}, nil
}

// Messages is one status per gate, then the run's, each named in logs as
// "failure status releasegate/checkout-latency of acme/shop@1a2b3c4". An
// abandoned run gets none: its gates stay pending, as nothing decided
// them.
func (s *Sink) Messages(e verdict.Event) ([]sink.Message, error) {
	if e.Kind == verdict.RunAbandoned {
		return nil, nil
	}
	run := &e.Run
	if run.Revision == "" {
		return nil, fmt.Errorf("run %q has no vcs.ref.head.revision", run.Run)
	}
	url, commit, err := s.host.Commit(run)
	if err != nil {
		return nil, err
	}
	statuses, err := s.statuses(run)
	if err != nil {
		return nil, err
	}
	header := s.host.Header()
	messages := make([]sink.Message, len(statuses))
	for i, st := range statuses {
		state, body := s.host.Body(st)
		data, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		messages[i] = sink.Message{
			What: fmt.Sprintf("%s status %s of %s", state, st.Context, commit),
			Send: func(ctx context.Context) error { return sink.Post(ctx, s.client, url, header, data, s.reject) },
		}
	}
	return messages, nil
}

func (s *Sink) reject(resp *http.Response) error {
	return s.host.Reject(sink.ReadError(resp, s.host.Explain), resp.Header)
}

// statuses are the statuses of a run: one per gate, in order, then the
// run's, whose link shows the first failed gate's first violating trace.
// Without a target_url, a status links to the run's page (a gate's, to its
// row there) when the run has one.
func (s *Sink) statuses(run *verdict.Run) ([]Status, error) {
	statuses := make([]Status, 0, len(run.Gates)+1)
	add := func(context string, v verdict.Status, description, gate, trace string) error {
		target, err := s.link.render(run.Run, gate, trace)
		if s.link.tmpl == nil {
			target = run.URL
			if gate != "" {
				target = run.GateURL(gate)
			}
		}
		statuses = append(statuses, Status{Context: context, Verdict: v, Description: description, TargetURL: target})
		return err
	}
	var runTrace string
	for i := range run.Gates {
		g := &run.Gates[i]
		trace := g.FirstTraceID()
		if runTrace == "" && g.Status == verdict.Failed {
			runTrace = trace
		}
		if err := add(s.prefix+"/"+g.Name, g.Status, g.Reason, g.Name, trace); err != nil {
			return nil, err
		}
	}
	if err := add(s.prefix, run.Status, run.Summary(), "", runTrace); err != nil {
		return nil, err
	}
	return statuses, nil
}

// shortSHA is how logs name a commit: owner/name@1a2b3c4.
func shortSHA(repository, sha string) string {
	return repository + "@" + sha[:min(7, len(sha))]
}
