package page

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"text/template"
)

// TraceURL links an exemplar to the team's trace UI: a Go template of
// .TraceID (and .SpanID), such as `http://jaeger:16686/trace/{{.TraceID}}`.
// The zero TraceURL links nothing: exemplars show plain ids.
type TraceURL struct{ tmpl *template.Template }

// traceData is what a trace_url template can use.
type traceData struct {
	TraceID string // 32 lowercase hex digits
	SpanID  string // 16 lowercase hex digits
}

// ParseTraceURL compiles a trace_url template and renders a sample link,
// so that a misspelt field or a link that is not an absolute http(s) URL
// stops the collector at start-up. Empty is the zero TraceURL.
func ParseTraceURL(s string) (TraceURL, error) {
	if s == "" {
		return TraceURL{}, nil
	}
	tmpl, err := template.New("trace_url").Parse(s)
	if err != nil {
		return TraceURL{}, err
	}
	t := TraceURL{tmpl}
	sample, err := t.render("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
	if err != nil {
		return TraceURL{}, err
	}
	if !isHTTPURL(sample) {
		return TraceURL{}, fmt.Errorf("must render an absolute http or https URL, got %q", sample)
	}
	return t, nil
}

var (
	traceID = regexp.MustCompile(`^[0-9a-f]{32}$`)
	spanID  = regexp.MustCompile(`^[0-9a-f]{16}$`)
)

// Link is the link of an exemplar's trace; empty without a template, or
// for ids that are not a trace's and a span's (empty span id allowed): only
// ids as spans carry them go into a link.
func (t TraceURL) Link(trace, span string) string {
	if t.tmpl == nil || !traceID.MatchString(trace) || (span != "" && !spanID.MatchString(span)) {
		return ""
	}
	link, err := t.render(trace, span)
	if err != nil || !isHTTPURL(link) {
		return ""
	}
	return link
}

func (t TraceURL) render(trace, span string) (string, error) {
	var b strings.Builder
	if err := t.tmpl.Execute(&b, traceData{TraceID: trace, SpanID: span}); err != nil {
		return "", err
	}
	return b.String(), nil
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
