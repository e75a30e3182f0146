package page

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/releasegate/releasegate/internal/runstore"
	"github.com/releasegate/releasegate/internal/runstore/runstoretest"
	"github.com/releasegate/releasegate/internal/verdict"
)

// hostile is what a span or a gates file can put in any field the page
// shows: markup, quotes, a script, an event handler, a javascript: URL.
const hostile = `<script>alert("x")</script>'"&<img src=x onerror=alert(1)>javascript:alert(2)`

// fakeSource serves runs and histograms as the run store would.
type fakeSource struct {
	runs      []verdict.Run
	hists     map[int]runstore.Histogram
	baselines map[int]runstore.Histogram
}

func (f *fakeSource) Get(run string) (verdict.Run, bool) {
	for _, v := range f.runs {
		if v.Run == run {
			return v, true
		}
	}
	return verdict.Run{}, false
}

func (f *fakeSource) List() []verdict.Run {
	list := make([]verdict.Run, len(f.runs))
	for i, v := range f.runs {
		v.Gates = nil
		list[i] = v
	}
	return list
}

func (f *fakeSource) Distribution(run string, gate int) (runstore.Histogram, bool) {
	if _, ok := f.Get(run); !ok {
		return runstore.Histogram{}, false
	}
	h, ok := f.hists[gate]
	return h, ok
}

func (f *fakeSource) BaselineDistribution(run string, gate int) (runstore.Histogram, bool) {
	if _, ok := f.Get(run); !ok {
		return runstore.Histogram{}, false
	}
	h, ok := f.baselines[gate]
	return h, ok
}

// testGates are a latency gate, a trace gate and a gate whose description
// is hostile.
const testGates = `
gates:
  - name: checkout-latency
    description: Checkout answers fast
    match: name == "POST /checkout"
    assert: duration < duration("300ms")
    fail: p95 > duration("250ms") || violation_ratio > 0.01
    warn: p95 > duration("200ms")
  - name: order-written-once
    scope: trace
    match: root != nil && root.name == "POST /checkout"
    assert: count(spans, .name == "INSERT orders") == 1
  - name: hostile
    description: '<script>alert("x")</script>''"&<img src=x onerror=alert(1)>javascript:alert(2)'
    match: 'name == "<script>alert(1)</script>"'
`

var finishedAt = runstoretest.Start.Add(4*time.Minute + 30*time.Second)

func testRun(id string) verdict.Run {
	return verdict.Run{
		Run: id, Status: verdict.Failed, Finished: true, FinishCause: verdict.FinishedByAPI,
		StartedAt: runstoretest.Start, LastSpanAt: finishedAt.Add(-time.Second), FinishedAt: &finishedAt,
		Revision: "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d", Repository: "https://github.com/acme/shop", Environment: "staging",
		Gates: []verdict.Gate{
			{
				Name: "checkout-latency", Description: "Checkout answers fast", Scope: "span", Status: verdict.Failed,
				Spans: 118, Violations: 8, MinSpans: 1,
				Observed:  verdict.Observed{P50Ms: 154, P90Ms: 203, P95Ms: 312, P99Ms: 350, MinMs: 100, MaxMs: 360, MeanMs: 166.2, ViolationRatio: 0.068},
				Assert:    `duration < duration("300ms")`,
				Condition: `p95 > duration("250ms") || violation_ratio > 0.01`,
				Warn:      `p95 > duration("200ms")`,
				Reason:    "failed: p95 312ms > 250ms and violation_ratio 6.8% > 1% (8 of 118 spans violated duration < 300ms)",
				Exemplars: []verdict.Exemplar{{TraceID: "5b8efff798038103d269b633813fc60c", SpanID: "eee19b7ec3c1b174", Name: "POST /checkout", Condition: `duration < duration("300ms")`}},
			},
			{
				Name: "order-written-once", Scope: "trace", Status: verdict.Failed, Spans: 5, Violations: 1, MinSpans: 1,
				Assert: `count(spans, .name == "INSERT orders") == 1`, Condition: "violations > 0",
				Reason:    `failed: violations 1 > 0 (1 of 5 traces violated count(spans, .name == "INSERT orders") == 1: 2 in trace e2000000…)`,
				Exemplars: []verdict.Exemplar{{TraceID: "e2000000000000000000000000000002", SpanID: "0200000000000001", Name: "POST /checkout"}},
			},
			{Name: "hostile", Scope: "span", Status: verdict.Passed, Condition: "violations > 0", Reason: "passed: no spans matched (on_no_data: pass)"},
		},
	}
}

func newTestPages(t *testing.T, traceURL string, runs ...verdict.Run) *Pages {
	t.Helper()
	link, err := ParseTraceURL(traceURL)
	require.NoError(t, err)
	src := &fakeSource{runs: runs, hists: map[int]runstore.Histogram{0: latencies(100, 101, 150, 200, 310, 360)}}
	return New(src, Settings{Gates: runstoretest.Compile(t, testGates), TraceURL: link, Now: func() time.Time { return finishedAt }})
}

// latencies is the histogram of durations in milliseconds.
func latencies(ms ...int) runstore.Histogram {
	h := runstore.Histogram{Count: len(ms), Exact: true}
	counts := map[int]int{}
	for i, m := range ms {
		d := time.Duration(m) * time.Millisecond
		if i == 0 || d < h.Min {
			h.Min = d
		}
		h.Max = max(h.Max, d)
		counts[runstore.BucketIndex(d)]++
	}
	for i := runstore.BucketIndex(h.Min); i <= runstore.BucketIndex(h.Max); i++ {
		if counts[i] > 0 {
			h.Buckets = append(h.Buckets, runstore.Bucket{Index: i, Count: counts[i]})
		}
	}
	return h
}

func get(t *testing.T, p *Pages, target string) *httptest.ResponseRecorder {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", p.List)
	mux.HandleFunc("GET /runs", p.List)
	mux.HandleFunc("GET /runs/{run}", p.Run)
	mux.HandleFunc("GET "+StylesheetPath, p.Stylesheet)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec
}

// document is a page as a browser parses it.
type document struct {
	root *html.Node
	text string
}

func parse(t *testing.T, body string) document {
	t.Helper()
	root, err := html.Parse(strings.NewReader(body))
	require.NoError(t, err)
	var text strings.Builder
	for n := range root.Descendants() {
		if n.Type == html.TextNode {
			text.WriteString(n.Data)
		}
	}
	return document{root: root, text: text.String()}
}

// elements are the elements named tag.
func (d document) elements(tag string) []*html.Node {
	var out []*html.Node
	for n := range d.root.Descendants() {
		if n.Type == html.ElementNode && n.Data == tag {
			out = append(out, n)
		}
	}
	return out
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

// assertInert checks that a page holds no script, no image, no event
// handler, no inline style and no link but to itself, the stylesheet and
// trace UIs.
func assertInert(t *testing.T, d document, traceUI string) {
	t.Helper()
	assert.Empty(t, d.elements("script"))
	assert.Empty(t, d.elements("img"))
	assert.Empty(t, d.elements("iframe"))
	for n := range d.root.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		for _, a := range n.Attr {
			assert.False(t, strings.HasPrefix(strings.ToLower(a.Key), "on"), "event handler %s on <%s>", a.Key, n.Data)
			assert.NotEqual(t, "style", a.Key, "inline style on <%s>", n.Data)
			if a.Key == "href" || a.Key == "src" {
				v := strings.ToLower(a.Val)
				ok := strings.HasPrefix(v, "../") || strings.HasPrefix(v, "./") || strings.HasPrefix(v, "#") || strings.HasPrefix(v, "?") ||
					strings.HasPrefix(v, "data:,") || (traceUI != "" && strings.HasPrefix(v, traceUI))
				assert.True(t, ok, "%s=%q on <%s>", a.Key, a.Val, n.Data)
			}
		}
	}
}

// Every field that spans or gates files fill in shows as text, whatever it
// holds: nothing in it becomes markup, a script, a handler or a link.
func TestHostileValuesRenderAsText(t *testing.T) {
	run := testRun(hostile)
	run.Revision, run.Repository, run.Environment = hostile, hostile, hostile
	run.UnknownGates = []string{hostile}
	latency := &run.Gates[0]
	latency.Reason = hostile
	latency.Exemplars = append(latency.Exemplars,
		verdict.Exemplar{TraceID: hostile, SpanID: hostile, Name: hostile, Condition: hostile},
		verdict.Exemplar{TraceID: "javascript:alert(1)//00000000000000", SpanID: "eee19b7ec3c1b174", Name: "x"},
	)
	run.Gates = append(run.Gates, verdict.Gate{Name: hostile, Description: hostile, Scope: hostile, Status: verdict.Status(hostile),
		Assert: hostile, Condition: hostile, Warn: hostile, Reason: hostile,
		Exemplars: []verdict.Exemplar{{TraceID: hostile, SpanID: hostile, Name: hostile, Condition: hostile}}})
	p := newTestPages(t, "http://jaeger.example:16686/trace/{{.TraceID}}", run)

	rec := get(t, p, "/"+verdict.PagePath(hostile))
	require.Equal(t, http.StatusOK, rec.Code)
	body := rec.Body.String()
	d := parse(t, body)
	assertInert(t, d, "http://jaeger.example:16686/trace/")
	assert.GreaterOrEqual(t, strings.Count(d.text, hostile), 11, "each field, as text: run id (title and heading), commit, repository, environment, unknown gate, reason, exemplar name, and the hostile gate's name, description and reason")
	assert.Contains(t, d.text, `<script>alert("x")</script>'"&<img src=x onerror=alert(1)>javascript:alert(2)`, "the gates file's description too")
	assert.NotContains(t, body, "<script")

	// Only the well-formed exemplar is a link, into the trace UI.
	var links []string
	for _, a := range d.elements("a") {
		if class, _ := attr(a, "class"); class == "trace" {
			href, _ := attr(a, "href")
			links = append(links, href)
		}
	}
	assert.Equal(t, []string{
		"http://jaeger.example:16686/trace/5b8efff798038103d269b633813fc60c",
		"http://jaeger.example:16686/trace/e2000000000000000000000000000002",
	}, links)

	// The list shows it as text too.
	rec = get(t, p, "/")
	require.Equal(t, http.StatusOK, rec.Code)
	d = parse(t, rec.Body.String())
	assertInert(t, d, "")
	assert.Contains(t, d.text, hostile)
	var rows []string
	for _, a := range d.elements("a") {
		if href, _ := attr(a, "href"); strings.HasPrefix(href, "./runs/") {
			rows = append(rows, href)
		}
	}
	assert.Equal(t, []string{"./" + verdict.PagePath(hostile)}, rows)
}

// A trace_url that renders something else than an http(s) URL for some
// ids links none of them: the page checks each link, and html/template's
// URL filter stands behind it.
func TestTraceLinksAreHTTPOnly(t *testing.T) {
	link, err := ParseTraceURL(`{{if eq .TraceID "5b8efff798038103d269b633813fc60c"}}javascript:alert(1){{else}}http://jaeger/trace/{{.TraceID}}{{end}}`)
	require.NoError(t, err)
	assert.Empty(t, link.Link("5b8efff798038103d269b633813fc60c", ""))
	assert.Equal(t, "http://jaeger/trace/e2000000000000000000000000000002", link.Link("e2000000000000000000000000000002", ""))

	p := newTestPages(t, "", testRun("r-42"))
	p.set.TraceURL = link
	d := parse(t, get(t, p, "/runs/r-42").Body.String())
	assertInert(t, d, "http://jaeger/trace/")
	assert.Contains(t, d.text, "5b8efff798038103d269b633813fc60c", "shown as a plain id")
}

func TestParseTraceURL(t *testing.T) {
	for _, tt := range []struct{ template, err string }{
		{"", ""},
		{"http://jaeger:16686/trace/{{.TraceID}}", ""},
		{"http://jaeger:16686/trace/{{.TraceID}}?uiFind={{.SpanID}}", ""},
		{"https://grafana.example/explore?left=%7B%22queries%22:%5B%7B%22query%22:%22{{.TraceID}}%22%7D%5D%7D", ""},
		{"http://jaeger:16686/trace/{{.TraceId}}", "can't evaluate field TraceId"},
		{"http://jaeger:16686/trace/{{.TraceID", "unclosed action"},
		{"jaeger:16686/trace/{{.TraceID}}", `must render an absolute http or https URL, got "jaeger:16686/trace/4bf92f3577b34da6a3ce929d0e0e4736"`},
		{"/trace/{{.TraceID}}", "must render an absolute http or https URL"},
		{"javascript:alert('{{.TraceID}}')", "must render an absolute http or https URL"},
	} {
		_, err := ParseTraceURL(tt.template)
		if tt.err == "" {
			assert.NoError(t, err, tt.template)
		} else {
			assert.ErrorContains(t, err, tt.err, tt.template)
		}
	}
	var none TraceURL
	assert.Empty(t, none.Link("5b8efff798038103d269b633813fc60c", ""), "no template, no link")
}

// Each gate shows its status in words and an icon, what it checks, the
// values observed against its thresholds, its counts, reason and evidence;
// a latency gate a chart with its threshold marked.
func TestRunPage(t *testing.T) {
	p := newTestPages(t, "http://jaeger.example:16686/trace/{{.TraceID}}", testRun("r-42"))
	rec := get(t, p, "/runs/r-42")
	require.Equal(t, http.StatusOK, rec.Code)
	body := rec.Body.String()
	d := parse(t, body)
	assertInert(t, d, "http://jaeger.example:16686/trace/")

	for _, want := range []string{
		"✗ failed r-42", "failed: 2 of 3 gates failed",
		"1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d", "https://github.com/acme/shop", "staging",
		"2026-11-01 12:04:30 UTC, finished by the CI job, after 4m30s",
		// The latency gate.
		"✗ failed checkout-latency", "Checkout answers fast", `name == "POST /checkout"`,
		`duration < duration("300ms")`, `p95 > duration("250ms") || violation_ratio > 0.01`,
		"p95 312ms > 250ms", "violation_ratio 6.8% > 1%", "p95 312ms > 200ms",
		"118 spans matched (at least 1 needed) · 8 violated · 0 in error",
		"p50 154ms · p90 203ms · p95 312ms · p99 350ms · max 360ms",
		"failed: p95 312ms > 250ms and violation_ratio 6.8% > 1% (8 of 118 spans violated duration < 300ms)",
		// The trace gate.
		"✗ failed order-written-once", "trace gate", "5 traces matched", `root != nil && root.name == "POST /checkout"`,
		// The passing gate.
		"✓ passed hostile",
	} {
		assert.Contains(t, d.text, want)
	}
	assert.NotContains(t, body, `http-equiv="refresh"`, "a finished run does not change")
	assert.Contains(t, body, `id="gate-checkout-latency"`)
	assert.Contains(t, body, `<a href="../v1/runs/r-42">`)

	// The latency gate's chart: its bars, the threshold and the value
	// compared with it marked and said in words; the trace gate has none.
	svgs := d.elements("svg")
	require.Len(t, svgs, 1)
	label, _ := attr(svgs[0], "aria-label")
	assert.Equal(t, "Durations of 6 spans, 100ms to 360ms; observed p95 312ms; fails when p95 > 250ms", label)
	assert.NotEmpty(t, d.elements("rect"))
	assert.Empty(t, d.elements("path"), "no baseline")
	var marks []string
	for _, text := range d.elements("text") {
		if class, _ := attr(text, "class"); strings.HasPrefix(class, "mark") {
			marks = append(marks, class+": "+text.FirstChild.Data)
		}
	}
	assert.Equal(t, []string{"mark threshold: p95 > 250ms", "mark observed: p95 312ms"}, marks)
}

// The run's baseline, when the API carries one, shows in the banner and in
// each gate as a ratio with its interval; without one, nothing.
func TestBaselineShown(t *testing.T) {
	// The run as the API serves it once runs have baselines.
	api := `{"run": "r-42", "status": "failed", "finished": true, "started_at": "2026-11-01T12:00:00Z",
		"series": "staging", "baseline": "r-40",
		"gates": [{"name": "checkout-latency", "scope": "span", "status": "failed", "spans": 118,
			"observed": {"p95_ms": 312, "latency_ratio": 1.3412, "latency_ratio_low": 1.29, "latency_ratio_high": 1.391},
			"condition": "p95 > duration(\"250ms\")", "reason": "failed", "exemplars": []}]}`
	var v verdict.Run
	require.NoError(t, json.Unmarshal([]byte(api), &v))
	var x extras
	require.NoError(t, json.Unmarshal([]byte(api), &x))
	p := newTestPages(t, "")
	var b bytes.Buffer
	require.NoError(t, templates.ExecuteTemplate(&b, "run", p.runPageWith(v, x)))
	d := parse(t, b.String())
	assert.Contains(t, d.text, "Seriesstaging")
	assert.Contains(t, d.text, "Baseliner-40")
	assert.Contains(t, d.text, "1.34× baseline r-40 (95% CI 1.29–1.39×)")
	assert.Contains(t, b.String(), `href="../runs/r-40"`)

	// Without a baseline, no banner line and no ratio, whatever observed
	// holds.
	b.Reset()
	x.Baseline = nil
	require.NoError(t, templates.ExecuteTemplate(&b, "run", p.runPageWith(v, x)))
	assert.NotContains(t, b.String(), "baseline")
	b.Reset()
	require.NoError(t, p.RenderRun(&b, testRun("r-1")))
	assert.NotContains(t, b.String(), "Baseline")
}

// A threshold on a value the verdict does not carry shows as written.
func TestChecksWithoutObservedValue(t *testing.T) {
	gates := runstoretest.Compile(t, "gates:\n  - name: g\n    match: \"true\"\n    fail: p95 > duration(\"1s\") || errors > 2\n")
	g := verdict.Gate{Name: "g", Errors: 3}
	assert.Equal(t, []string{"p95 > 1s", "errors 3 > 2"}, checks(gates.At(0).FailThresholds(), &g, nil))
}

// An open run's page refreshes itself; so does the list while a run is
// open.
func TestRefresh(t *testing.T) {
	open := testRun("r-open")
	open.Finished, open.FinishedAt, open.Status = false, nil, verdict.Pending
	p := newTestPages(t, "", open, testRun("r-done"))
	assert.Contains(t, get(t, p, "/runs/r-open").Body.String(), `<meta http-equiv="refresh" content="5">`)
	assert.NotContains(t, get(t, p, "/runs/r-done").Body.String(), `http-equiv="refresh"`)
	assert.Contains(t, get(t, p, "/").Body.String(), `<meta http-equiv="refresh" content="10">`)
	assert.NotContains(t, get(t, newTestPages(t, "", testRun("r-done")), "/").Body.String(), `http-equiv="refresh"`)
}

// The list: newest first as the store lists them, filtered by status, the
// filters counting each status.
func TestList(t *testing.T) {
	passed := testRun("r-2")
	passed.Status = verdict.Passed
	p := newTestPages(t, "", passed, testRun("r-1"))
	for _, target := range []string{"/", "/runs"} {
		d := parse(t, get(t, p, target).Body.String())
		var rows []string
		for _, tr := range d.elements("tr") {
			if class, ok := attr(tr, "class"); ok {
				rows = append(rows, class)
			}
		}
		assert.Equal(t, []string{"s-passed", "s-failed"}, rows, target)
		assert.Contains(t, d.text, "failed 1")
		assert.Contains(t, d.text, "all 2")
	}
	d := parse(t, get(t, p, "/?status=failed").Body.String())
	assert.Contains(t, d.text, "r-1")
	assert.NotContains(t, d.text, "r-2")
	d = parse(t, get(t, p, "/runs?status=warning").Body.String())
	assert.Contains(t, d.text, "No warning runs held.")

	rec := get(t, p, "/?status=broken")
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Contains(t, rec.Body.String(), "filter by passed, warning, pending, inconclusive, error or failed")
}

// Every answer, errors and the stylesheet included, carries the headers
// that keep the page inert.
func TestHeaders(t *testing.T) {
	p := newTestPages(t, "", testRun("r-42"))
	for target, status := range map[string]int{
		"/runs/r-42":                        http.StatusOK,
		"/":                                 http.StatusOK,
		"/runs/nope":                        http.StatusNotFound,
		"/runs/" + strings.Repeat("r", 257): http.StatusRequestURITooLong,
		"/runs/r-%FF":                       http.StatusBadRequest,
		"/?status=nope":                     http.StatusBadRequest,
		StylesheetPath:                      http.StatusOK,
	} {
		rec := get(t, p, target)
		assert.Equal(t, status, rec.Code, target)
		h := rec.Header()
		assert.Equal(t, "default-src 'none'; style-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'", h.Get("Content-Security-Policy"), target)
		assert.Equal(t, "nosniff", h.Get("X-Content-Type-Options"), target)
		assert.Equal(t, "no-referrer", h.Get("Referrer-Policy"), target)
		if target == StylesheetPath {
			assert.Equal(t, "text/css; charset=utf-8", h.Get("Content-Type"))
			assert.Equal(t, stylesheet, rec.Body.Bytes())
			continue
		}
		assert.Equal(t, "text/html; charset=utf-8", h.Get("Content-Type"), target)
		assert.Equal(t, "no-store", h.Get("Cache-Control"), target)
		d := parse(t, rec.Body.String())
		assertInert(t, d, "")
		// The stylesheet is reached from where the page stands.
		links := d.elements("link")
		require.Len(t, links, 2, target)
		href, _ := attr(links[1], "href")
		assert.True(t, strings.HasSuffix(href, StylesheetPath[1:]), href)
	}
	rec := get(t, p, "/runs/nope")
	assert.Contains(t, parse(t, rec.Body.String()).text, `No run "nope" is held here`)
}

// The stylesheet works in the light and in the dark, and says nothing that
// would need a script or another origin.
func TestStylesheet(t *testing.T) {
	css := string(stylesheet)
	assert.Contains(t, css, "@media (prefers-color-scheme: dark)")
	assert.NotContains(t, css, "url(")
	assert.NotContains(t, css, "@import")
	assert.Regexp(t, `^/static/page-[0-9a-f]{12}\.css$`, StylesheetPath)
}

// The chart overlays the baseline's distribution when there is one.
func TestChartWithBaseline(t *testing.T) {
	run, base := latencies(100, 120, 300, 310), latencies(90, 95, 100, 105, 110)
	c := newChart(run, &base, "spans", []marker{{label: "p95 > 250ms", at: 250 * time.Millisecond}}, []marker{{label: "p95 310ms", at: 310 * time.Millisecond}})
	require.NotNil(t, c)
	assert.NotEmpty(t, c.Baseline)
	assert.Contains(t, c.Title, "over the baseline's")
	assert.Nil(t, newChart(runstore.Histogram{}, nil, "spans", nil, nil), "no durations, no chart")

	// Durations over six orders of magnitude still make few bars.
	wide := latencies(1, 10, 100, 1000, 10000, 100000, 1000000)
	c = newChart(wide, nil, "spans", nil, nil)
	require.NotNil(t, c)
	assert.LessOrEqual(t, len(c.Bars), maxBars)
	var ticks []string
	for _, tk := range c.Ticks {
		ticks = append(ticks, tk.Label)
	}
	assert.Equal(t, []string{"1ms", "10ms", "100ms", "1s", "10s", "1m40s", "16m40s"}, ticks)

	// Between powers of ten, the ends, rounded.
	c = newChart(latencies(62, 100, 580), nil, "spans", nil, nil)
	require.NotNil(t, c)
	require.Len(t, c.Ticks, 2)
	assert.Regexp(t, `^\d\dms$`, c.Ticks[0].Label)
	assert.Regexp(t, `^\d\d0ms$`, c.Ticks[1].Label)
	assert.Equal(t, 590*time.Millisecond, round2(585500*time.Microsecond))
	assert.Equal(t, 62*time.Millisecond, round2(61500*time.Microsecond))
}
