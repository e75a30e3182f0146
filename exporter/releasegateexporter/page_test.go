package releasegateexporter

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"

	"github.com/releasegate/releasegate/internal/fakehost"
	"github.com/releasegate/releasegate/internal/page"
	"github.com/releasegate/releasegate/internal/runstore/runstoretest"
	"github.com/releasegate/releasegate/internal/verdict"
)

// With public_url, a run links to its page everywhere it goes: the API,
// GitHub's statuses (no target_url), the webhooks, JSON and CDEvents, and
// the JUnit report. The page is served on the exporter's server, its
// exemplars linked through trace_url.
func TestPublicURLThroughTheExporter(t *testing.T) {
	const (
		public = "https://releasegate.example/ci"
		run    = "build 7/a"
		link   = public + "/runs/build%207%2Fa"
	)
	gh := fakehost.NewGitHub(t, githubToken)
	hook := fakehost.NewWebhook(t, fakehost.WebhookChecks{})
	events := fakehost.NewWebhook(t, fakehost.WebhookChecks{})
	dir := t.TempDir()
	fe := startFaultExporter(t, func(cfg *Config) {
		withGitHub(gh.URL, quickRetry(), 0)(cfg)
		for _, endpoint := range []string{hook.URL, events.URL} {
			h := newDefaultWebhookConfig()
			h.ClientConfig.Endpoint = endpoint
			h.RetryOnFailure = configretry.NewDefaultBackOffConfig()
			cfg.Webhooks = append(cfg.Webhooks, h)
		}
		cfg.Webhooks[1].Format = WebhookFormatCDEvents
		reports := newDefaultJUnitConfig()
		reports.Directory = dir
		cfg.JUnit = configoptional.Some(reports)
		cfg.PublicURL = public
		cfg.TraceURL = "http://jaeger.example:16686/trace/{{.TraceID}}"
	})

	require.NoError(t, fe.ConsumeTraces(t.Context(), onCommit(run, shaA, 3, 500*time.Millisecond)))
	fe.finish(t, url.PathEscape(run))

	// The API.
	v := getRun(t, http.MethodGet, fe.api+"/v1/runs/"+url.PathEscape(run))
	assert.Equal(t, link, v.URL)
	var list struct{ Runs []verdict.Run }
	status, _, body := call(t, http.MethodGet, fe.api+"/v1/runs")
	require.Equal(t, http.StatusOK, status)
	require.NoError(t, json.Unmarshal(body, &list))
	require.Len(t, list.Runs, 1)
	assert.Equal(t, link, list.Runs[0].URL)

	// GitHub: every status links to the page, a gate's to its row.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Equal(c, 2*len(statusContexts), len(gh.Statuses()))
	}, 10*time.Second, 10*time.Millisecond)
	for _, s := range gh.Statuses() {
		want := link
		if gate, ok := strings.CutPrefix(s.Context, "releasegate/"); ok {
			want += "#gate-" + gate
		}
		assert.Equal(t, want, s.TargetURL, s.Context)
	}

	// The webhooks: the run's JSON carries it, the CDEvents their
	// customData.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Equal(c, 2, len(hook.Requests()), "run.started, run.finished")
		assert.Equal(c, len(statusContexts)+1, len(events.Requests()), "the suite's start, a case per gate, the suite's finish")
	}, 10*time.Second, 10*time.Millisecond)
	for _, r := range hook.Requests() {
		var got verdict.Run
		require.NoError(t, json.Unmarshal(r.Body, &got))
		assert.Equal(t, link, got.URL)
	}
	for _, r := range events.Requests() {
		var ce struct {
			Data struct {
				CustomData struct{ URL string } `json:"customData"`
			} `json:"data"`
		}
		require.NoError(t, json.Unmarshal(r.Body, &ce))
		assert.True(t, strings.HasPrefix(ce.Data.CustomData.URL, link), ce.Data.CustomData.URL)
	}

	// JUnit.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		matches, _ := filepath.Glob(filepath.Join(dir, "*.xml"))
		assert.Len(c, matches, 1)
	}, 10*time.Second, 10*time.Millisecond)
	matches, _ := filepath.Glob(filepath.Join(dir, "*.xml"))
	data, err := os.ReadFile(matches[0])
	require.NoError(t, err)
	var report struct {
		Properties []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"testsuite>properties>property"`
	}
	require.NoError(t, xml.Unmarshal(data, &report))
	assert.Contains(t, report.Properties, struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	}{"url", link})

	// The page itself, on the exporter's server, at the path of the link.
	u, err := url.Parse(link)
	require.NoError(t, err)
	status, header, body := call(t, http.MethodGet, fe.api+strings.TrimPrefix(u.EscapedPath(), "/ci"))
	require.Equal(t, http.StatusOK, status, string(body))
	assert.Equal(t, "text/html; charset=utf-8", header.Get("Content-Type"))
	assert.Equal(t, page.ContentSecurityPolicy, header.Get("Content-Security-Policy"))
	html := string(body)
	for _, gate := range []string{"checkout-latency", "no-errors", "ratio", "never-matched"} {
		assert.Contains(t, html, `id="gate-`+gate+`"`)
	}
	assert.Contains(t, html, `href="http://jaeger.example:16686/trace/`+runstoretest.TraceID(run, 0)+`"`)
	assert.Contains(t, html, "<svg", "checkout-latency's durations")

	status, _, body = call(t, http.MethodGet, fe.api+"/")
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, string(body), `href="./runs/build%207%2Fa"`)
	status, header, _ = call(t, http.MethodGet, fe.api+page.StylesheetPath)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "text/css; charset=utf-8", header.Get("Content-Type"))
}

// Without public_url, runs carry no address and statuses no link.
func TestWithoutPublicURL(t *testing.T) {
	gh := fakehost.NewGitHub(t, githubToken)
	fe := startFaultExporter(t, withGitHub(gh.URL, quickRetry(), 0))
	require.NoError(t, fe.ConsumeTraces(t.Context(), onCommit("r1", shaA, 1, time.Millisecond)))
	fe.finish(t, "r1")
	_, _, body := call(t, http.MethodGet, fe.api+"/v1/runs/r1")
	assert.NotContains(t, string(body), `"url"`)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Len(c, gh.Statuses(), 2*len(statusContexts))
	}, 10*time.Second, 10*time.Millisecond)
	for _, s := range gh.Statuses() {
		assert.Empty(t, s.TargetURL)
	}
}
