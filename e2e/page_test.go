package e2e

import (
	"context"
	"encoding/binary"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	rgverdict "github.com/releasegate/releasegate/internal/verdict"
)

// traceUI is the trace_url of testdata/collector.yaml, without the id.
const traceUI = "http://jaeger.example:16686/trace/"

// pageGate is a gate of the verdict page's test: its entry in the gates
// file, and what the page shows of it after pageTraffic.
type pageGate struct {
	name   string
	entry  string // the gate's keys after its name, as the gates file has them
	status string // the status word on the page
	reason string // the start of its reason
	linked bool   // its exemplars link to the trace UI
}

// pageGates are the gates the page is tested with; a gate more is an entry
// more.
var pageGates = []pageGate{
	{
		name: "checkout-latency",
		entry: `description: Checkout answers within 250ms at the 95th percentile
    match: name == "POST /checkout" && kind == "server"
    assert: duration < duration("300ms")
    fail: p95 > duration("250ms")`,
		status: "failed", reason: "failed: p95 ", linked: true,
	},
	{
		name: "order-written-once",
		entry: `description: Each checkout writes its order once
    scope: trace
    match: root != nil && root.name == "POST /checkout"
    assert: count(spans, .name == "INSERT orders") == 1`,
		status: "failed", reason: `failed: violations 1 > 0 (1 of 40 traces violated count(spans, .name == "INSERT orders") == 1: 2 in trace`, linked: true,
	},
	{
		name: "checkout-vs-baseline",
		entry: `description: Checkout no more than 10% slower than its baseline
    match: name == "POST /checkout" && kind == "server"
    fail: latency_ratio_low > 1.10`,
		status: "failed", reason: "failed: latency 1.",
	},
	{
		name: "no-server-errors",
		entry: `description: No server span ends in error
    match: kind == "server"
    assert: status != "error"`,
		status: "passed", reason: "passed: violations 0 ≤ 0 (0 of 80 spans violated status != \"error\")",
	},
}

func pageGatesFile() string {
	var b strings.Builder
	b.WriteString("baseline:\n  min_samples: 20\ngates:\n")
	for _, g := range pageGates {
		b.WriteString("  - name: " + g.name + "\n    " + g.entry + "\n")
	}
	return b.String()
}

// pageTraffic is n checkouts of run on commit sha: the frontend's
// POST /checkout (from about 100ms, every tenth one slow, from 380ms), the
// orders service's child, and the database's spans (not tagged with the
// run) below it; checkout 7 writes its order twice.
func pageTraffic(run, sha string, n int) []ptrace.Traces {
	h := fnv.New64a()
	h.Write([]byte(run))
	runHash := h.Sum64()
	rng := rand.New(rand.NewPCG(runHash, 42))
	start := time.Now().Add(-time.Minute)
	service := func(name string, tagged bool) (ptrace.Traces, ptrace.SpanSlice) {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		attrs := rs.Resource().Attributes()
		attrs.PutStr("service.name", name)
		if tagged {
			attrs.PutStr("cicd.pipeline.run.id", run)
			attrs.PutStr("vcs.ref.head.revision", sha)
			attrs.PutStr("vcs.repository.url.full", "https://github.com/acme/shop")
			attrs.PutStr("deployment.environment.name", "staging")
		}
		return td, rs.ScopeSpans().AppendEmpty().Spans()
	}
	frontend, f := service("frontend", true)
	orders, o := service("orders", true)
	db, d := service("db", false)
	span := func(spans ptrace.SpanSlice, trace, id, parent int, name string, kind ptrace.SpanKind, took time.Duration) {
		s := spans.AppendEmpty()
		var tid pcommon.TraceID
		binary.BigEndian.PutUint64(tid[:8], runHash)
		binary.BigEndian.PutUint64(tid[8:], uint64(trace))
		s.SetTraceID(tid)
		s.SetSpanID(pcommon.SpanID{0: byte(trace), 7: byte(id)})
		if parent != 0 {
			s.SetParentSpanID(pcommon.SpanID{0: byte(trace), 7: byte(parent)})
		}
		s.SetName(name)
		s.SetKind(kind)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(took)))
	}
	for trace := 1; trace <= n; trace++ {
		took := time.Duration(float64(110*time.Millisecond) * math.Exp(0.3*rng.NormFloat64()))
		if trace%10 == 0 {
			took = 380*time.Millisecond + time.Duration(rng.IntN(150))*time.Millisecond
		}
		span(f, trace, 1, 0, "POST /checkout", ptrace.SpanKindServer, took)
		span(o, trace, 2, 1, "POST /orders", ptrace.SpanKindServer, took*2/3)
		inserts := 1
		if trace == 7 {
			inserts = 2
		}
		for i := range inserts {
			span(d, trace, 10+i, 2, "INSERT orders", ptrace.SpanKindClient, 3*time.Millisecond)
		}
	}
	return []ptrace.Traces{frontend, orders, db}
}

// pageView is what the browser shows of a page, read from its DOM.
type pageView struct {
	Title   string `json:"title"`
	RunID   string `json:"runID"`
	Scripts int    `json:"scripts"`
	Styled  bool   `json:"styled"`
	// Overflow is how far the page is wider than the window, in pixels.
	Overflow   float64 `json:"overflow"`
	Background string  `json:"background"`
	Gates      []struct {
		ID     string   `json:"id"`
		Status string   `json:"status"`
		Reason string   `json:"reason"`
		Links  []string `json:"links"`
		Chart  bool     `json:"chart"`
	} `json:"gates"`
	Runs []string `json:"runs"` // the list's links to runs
}

// readPage is the DOM read that pageView holds.
const readPage = `({
	title: document.title,
	runID: (document.querySelector("h1 .run-id") || {}).textContent || "",
	scripts: document.scripts.length,
	styled: [...document.styleSheets].some(s => s.cssRules.length > 0),
	overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
	background: getComputedStyle(document.body).backgroundColor,
	gates: [...document.querySelectorAll("section.gate")].map(s => ({
		id: s.id,
		status: s.querySelector("h2 .status").textContent.trim(),
		reason: s.querySelector(".reason").textContent,
		links: [...s.querySelectorAll("a.trace")].map(a => a.href),
		chart: s.querySelector("svg") !== null,
	})),
	runs: [...document.querySelectorAll("td.run-id a")].map(a => a.href),
})`

// browser is headless Chromium driven over the DevTools protocol, with
// every console message and request of its tab recorded.
type browser struct {
	ctx      context.Context
	mu       sync.Mutex
	console  []string // errors: console.error, uncaught exceptions, browser log errors (CSP violations among them)
	requests []string // the URL of every request the pages made
}

func startBrowser(t *testing.T) *browser {
	t.Helper()
	// The whole browser session's budget; the first action must not have
	// a deadline of its own, or it would end the browser.
	budget, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	t.Cleanup(cancel)
	allocator, cancelAllocator := chromedp.NewExecAllocator(budget, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(tool(t, "CHROMIUM")),
		chromedp.NoSandbox, // as root, which CI is
		chromedp.DisableGPU,
	)...)
	t.Cleanup(cancelAllocator)
	ctx, cancelTab := chromedp.NewContext(allocator)
	t.Cleanup(cancelTab)
	b := &browser{ctx: ctx}
	require.NoError(t, chromedp.Do(ctx), "start chromium")
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			b.requests = append(b.requests, ev.Request.URL)
		case *network.EventLoadingFailed:
			b.console = append(b.console, "loading failed: "+ev.ErrorText)
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				b.console = append(b.console, "console."+string(ev.Type))
			}
		case *runtime.EventExceptionThrown:
			b.console = append(b.console, "exception: "+ev.ExceptionDetails.Text)
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError {
				b.console = append(b.console, string(ev.Entry.Source)+": "+ev.Entry.Text)
			}
		}
	}))
	return b
}

// open loads u and reads the page.
func (b *browser) open(t *testing.T, u string) pageView {
	t.Helper()
	require.NoError(t, chromedp.Do(b.ctx, chromedp.Navigate(u)), u)
	return b.read(t)
}

func (b *browser) read(t *testing.T) pageView {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[pageView](readPage))
	require.NoError(t, err)
	return v
}

// saveScreenshot saves the whole page as name under SCREENSHOT_DIR (make
// e2e sets it: _build/screenshots), or in the test's directory.
func (b *browser) saveScreenshot(t *testing.T, name string) {
	t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	dir := os.Getenv("SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), png, 0o644))
	t.Logf("screenshot: %s", filepath.Join(dir, name))
}

// The verdict page in a real browser, through the built distribution: a
// developer follows the GitHub status of a failed run to its page, which
// shows each gate's status, reason and exemplars linked to the trace UI,
// with no script, no console error and no request to another origin; a run
// id full of markup shows as text; the page fits a phone and turns dark.
func TestVerdictPageInABrowser(t *testing.T) {
	dir := collectorFiles(t, "gates.yaml")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "gates.yaml"), []byte(pageGatesFile()), 0o600))
	col := startCollector(t, dir, newOTLPSink(t).URL)
	col.waitReady(t)
	api := "http://" + col.apiAddr

	const (
		run         = "r-1842"
		baselineRun = "r-1841"
		hostile     = `<script>alert("run")</script>'"&<img src="http://evil.example/x.png">`
		sha         = "3333333333333333333333333333333333333333"
		traces      = 40
	)
	// The baseline run: the same traffic, 30% faster. Then the run, then
	// the hostile one, in that order: the list shows them newest first.
	spans := 0
	for _, r := range []struct {
		id, commit string
		speed      float64
	}{{baselineRun, "5555555555555555555555555555555555555555", 0.7}, {run, sha, 1}, {hostile, "4444444444444444444444444444444444444444", 1}} {
		for _, td := range pageTraffic(r.id, r.commit, traces) {
			scaleDurations(td, r.speed)
			exportTraces(t, col.otlpGRPC, td)
			spans += td.SpanCount()
		}
	}
	require.Eventually(t, func() bool {
		return selfMetric(t, col.metricsURL, "otelcol_exporter_sent_spans", "exporter", "releasegate") >= float64(spans)
	}, 30*time.Second, 50*time.Millisecond)

	// The CI job finishes the runs; the API's verdict is what the page
	// must show.
	type exemplars struct {
		Gates []struct {
			Name      string `json:"name"`
			Exemplars []struct {
				TraceID string `json:"trace_id"`
			} `json:"exemplars"`
		} `json:"gates"`
	}
	var verdicts exemplars
	require.Equal(t, http.StatusOK, getJSON(t, http.MethodPost, api+"/v1/runs/"+baselineRun+"/finish", &struct{}{}))
	require.Equal(t, http.StatusOK, getJSON(t, http.MethodPost, api+"/v1/runs/"+run+"/finish?baseline="+baselineRun, &verdicts))
	require.Equal(t, http.StatusOK, getJSON(t, http.MethodPost, api+"/v1/runs/"+url.PathEscape(hostile)+"/finish", &struct{}{}))
	wantLinks := map[string][]string{}
	for _, g := range verdicts.Gates {
		for _, e := range g.Exemplars {
			wantLinks[g.Name] = append(wantLinks[g.Name], traceUI+e.TraceID)
		}
	}

	// The run's GitHub status links to its page (public_url, no target_url).
	var target string
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		for _, s := range col.github.Received(sha) {
			if s.Context == "releasegate" && s.State == "failure" {
				target = s.TargetURL
			}
		}
		assert.Equal(c, api+"/runs/"+run, target)
	}, 10*time.Second, 50*time.Millisecond)

	began := time.Now()
	b := startBrowser(t)
	require.NoError(t, chromedp.Do(b.ctx, chromedp.EmulateViewport(1100, 900)))
	page := b.open(t, target)
	assert.Equal(t, "failed · "+run+" · releasegate", page.Title)
	assert.Equal(t, run, page.RunID)
	assert.Zero(t, page.Scripts)
	assert.True(t, page.Styled, "the stylesheet loaded")
	assert.Equal(t, "rgb(255, 255, 255)", page.Background)
	require.Len(t, page.Gates, len(pageGates))
	for i, want := range pageGates {
		got := page.Gates[i]
		assert.Equal(t, "gate-"+want.name, got.ID)
		icon := map[string]string{"failed": "✗", "passed": "✓"}[want.status]
		assert.Equal(t, icon+" "+want.status, got.Status, want.name)
		assert.True(t, strings.HasPrefix(got.Reason, want.reason), "%s: %s", want.name, got.Reason)
		if want.linked {
			assert.NotEmpty(t, got.Links, want.name)
		}
		if len(got.Links) == 0 {
			got.Links = nil // none, as the API has none
		}
		assert.Equal(t, wantLinks[want.name], got.Links, "%s: exemplars link to trace_url", want.name)
	}
	assert.True(t, page.Gates[0].Chart, "the latency gate's chart")
	assert.True(t, page.Gates[2].Chart, "the baseline gate's chart")
	b.saveScreenshot(t, "verdict-page.png")

	// A run id made of markup is text: in the title, in the heading, and
	// nothing it holds runs or loads.
	page = b.open(t, rgverdict.PageURL(api, hostile))
	assert.Equal(t, hostile, page.RunID)
	assert.Equal(t, "failed · "+hostile+" · releasegate", page.Title)
	assert.Zero(t, page.Scripts)
	assert.Len(t, page.Gates, len(pageGates))

	// The list, newest first, links to both.
	page = b.open(t, api+"/")
	assert.Equal(t, []string{rgverdict.PageURL(api, hostile), rgverdict.PageURL(api, run), rgverdict.PageURL(api, baselineRun)}, page.Runs)
	b.saveScreenshot(t, "runs.png")
	page = b.open(t, api+"/runs?status=passed")
	assert.Empty(t, page.Runs)

	// On a phone, in the dark: nothing wider than the screen, the colours
	// of the dark scheme.
	require.NoError(t, chromedp.Do(b.ctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
			})
			return err
		}),
	))
	for _, u := range []string{target, rgverdict.PageURL(api, hostile), api + "/"} {
		page = b.open(t, u)
		assert.LessOrEqual(t, page.Overflow, 0.0, "%s fits a phone's width", u)
		assert.Equal(t, "rgb(13, 17, 23)", page.Background, u)
	}
	b.open(t, target)
	b.saveScreenshot(t, "verdict-page-phone-dark.png")

	b.mu.Lock()
	defer b.mu.Unlock()
	assert.Empty(t, b.console, "console errors")
	require.NotEmpty(t, b.requests)
	for _, r := range b.requests {
		assert.True(t, strings.HasPrefix(r, api+"/") || strings.HasPrefix(r, "data:"), "a request to another origin: %s", r)
	}
	t.Logf("the browser's part took %s", time.Since(began).Round(10*time.Millisecond))
}

// scaleDurations makes every span of td last speed times as long.
func scaleDurations(td ptrace.Traces, speed float64) {
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				took := float64(s.EndTimestamp() - s.StartTimestamp())
				s.SetEndTimestamp(s.StartTimestamp() + pcommon.Timestamp(took*speed))
			}
		}
	}
}
