package commitstatus

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseTargetURL(t *testing.T) {
	link, err := ParseTargetURL("https://grafana.example/explore?traceId={{.TraceID}}&gate={{.Gate}}&run={{.Run | urlquery}}")
	require.NoError(t, err)
	got, err := link.render("team/build 7", "checkout-latency", "5b8efff798038103d269b633813fc60c")
	require.NoError(t, err)
	assert.Equal(t, "https://grafana.example/explore?traceId=5b8efff798038103d269b633813fc60c&gate=checkout-latency&run=team%2Fbuild+7", got)

	link, err = ParseTargetURL("")
	require.NoError(t, err)
	got, err = link.render("r-1", "", "")
	require.NoError(t, err)
	assert.Empty(t, got, "no template, no link")

	// A template may render no link: the status then has none.
	_, err = ParseTargetURL(`{{if eq .Gate ""}}https://releasegate.example/v1/runs/{{.Run | urlquery}}{{end}}`)
	require.NoError(t, err)
}

func TestParseTargetURLErrors(t *testing.T) {
	for tmpl, want := range map[string]string{
		"http://releasegate/{{.Run":              "target_url: template: target_url:1: unclosed action",
		"http://tempo/trace/{{.Trace}}":          "target_url: template: target_url:1:21: executing",
		"tempo.example/trace/{{.TraceID}}":       `target_url: must render an http or https URL, got "tempo.example/trace/t"`,
		"{{.Run}}":                               `target_url: must render an http or https URL, got "r"`,
		"ftp://tempo.example/trace/{{.TraceID}}": `target_url: must render an http or https URL, got "ftp://tempo.example/trace/t"`,
		"https:///trace/{{.TraceID}}":            `target_url: must render an http or https URL, got "https:///trace/t"`,
	} {
		_, err := ParseTargetURL(tmpl)
		assert.ErrorContains(t, err, want, tmpl)
	}
}
