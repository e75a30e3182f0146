package commitstatus

import (
	"fmt"
	"net/url"
	"strings"
	"text/template"
)

// Link is a compiled target_url: a Go template of the run, the gate and
// the first exemplar's trace id, such as
// `https://grafana.example/explore?traceId={{.TraceID}}` or
// `http://releasegate:9464/v1/runs/{{.Run | urlquery}}`.
type Link struct{ tmpl *template.Template }

// linkData is what a target_url template can use.
type linkData struct {
	Run     string // the run id
	Gate    string // the gate's name; empty for the run's own status
	TraceID string // the first violating span's trace id, if any
}

// ParseTargetURL compiles a target_url template and renders a sample link,
// so that a misspelt field or a link that is not a URL is a start-up
// error.
func ParseTargetURL(s string) (Link, error) {
	if s == "" {
		return Link{}, nil
	}
	tmpl, err := template.New("target_url").Parse(s)
	if err != nil {
		return Link{}, fmt.Errorf("target_url: %w", err)
	}
	link := Link{tmpl}
	sample, err := link.render("r", "g", "t")
	if err != nil {
		return Link{}, err
	}
	// A link that is not a URL is refused by the code host, or shown as a
	// dead link on every status. Empty is allowed: the status has no link.
	if sample != "" && !isHTTPURL(sample) {
		return Link{}, fmt.Errorf("target_url: must render an http or https URL, got %q", sample)
	}
	return link, nil
}

// render is the link of a status; empty without a template.
func (l Link) render(run, gate, trace string) (string, error) {
	if l.tmpl == nil {
		return "", nil
	}
	var b strings.Builder
	if err := l.tmpl.Execute(&b, linkData{Run: run, Gate: gate, TraceID: trace}); err != nil {
		return "", fmt.Errorf("target_url: %w", err)
	}
	return b.String(), nil
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
