package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/spf13/cobra"

	"github.com/releasegate/releasegate/internal/runstore"
	"github.com/releasegate/releasegate/internal/sink/junit"
	"github.com/releasegate/releasegate/internal/verdict"
)

// defaultURL is the exporter's API as examples/collector.yaml serves it.
const defaultURL = "http://localhost:9464"

const (
	// pollInterval is how often wait asks whether a run it does not finish
	// itself has finished.
	pollInterval = 2 * time.Second
	// minSleep keeps the settle loop from asking again at once when the run
	// is within a hair of settled.
	minSleep = 100 * time.Millisecond
	// Retries of connection errors, 5xx and 429 back off from firstBackoff,
	// doubling up to maxBackoff, each ±20%.
	firstBackoff = 500 * time.Millisecond
	maxBackoff   = 10 * time.Second
	// requestTimeout bounds one request, so that a connection that hangs is
	// retried rather than waited on until the timeout.
	requestTimeout = 30 * time.Second
	// maxBody is the most of an answer wait reads: a run's verdict with its
	// exemplars fits many times over.
	maxBody = 32 << 20
)

// waitDeps are what wait takes from the world, replaced in tests.
type waitDeps struct {
	clock  clockwork.Clock
	client *http.Client
	getenv func(string) string
	jitter func() float64 // in [0, 1)
}

func newWait() *cobra.Command {
	return newWaitWith(waitDeps{
		clock:  clockwork.NewRealClock(),
		client: &http.Client{},
		getenv: os.Getenv,
		jitter: rand.Float64,
	})
}

// waitOptions are wait's flags.
type waitOptions struct {
	url      string
	finish   bool
	baseline string
	settle   time.Duration
	timeout  time.Duration
	format   format
	junit    string
}

func newWaitWith(deps waitDeps) *cobra.Command {
	opts := waitOptions{format: formatText}
	cmd := &cobra.Command{
		Use:   "wait RUN",
		Short: "Wait for a run's verdict from the collector: the CI step",
		Long: withExitCodes(`Wait asks the releasegate exporter's API for the verdict of the run RUN (the
run's id, cicd.pipeline.run.id by default) and exits with its exit code: the
CI step that gates a release.

With --finish, wait first waits until the run has received no span for
--settle, read from the run's last_span_at (so it goes on as soon as the
traffic has been quiet that long, and waits longer while spans still
trickle in), then finishes the run (POST /v1/runs/RUN/finish), which makes
its verdict final. A run the collector does not know yet has received no
span: it is quiet too, and once finished it is inconclusive, with no data
(exit 2).

Without --finish, wait waits until the collector finishes the run by itself
(its run_idle_timeout or max_run_duration); --settle does not apply, and a run
the collector does not know ends wait at once (exit 5).

It prints the verdict: a table, one line per gate (colour only on a
terminal, and never with NO_COLOR set), then the run's status; or, with
--format json, the verdict API's JSON. --junit DIR also writes the run's
JUnit report into DIR, as the exporter's junit sink names it.

The API's address is --url, else RELEASEGATE_URL, else ` + defaultURL + `.
The bearer token is read from RELEASEGATE_TOKEN only, never from the command
line, and is never printed. Connection errors, 5xx and 429 answers are
retried with backoff (0.5s doubling up to 10s) until --timeout, which
bounds the whole wait, settling included; 401 and 403 end wait at once
(exit 5), as do a run the collector does not know (without --finish) and a
baseline it does not hold.`),
		Example: `  # The gate step of a CI job, after the tests:
  export RELEASEGATE_URL=http://releasegate.staging:9464
  releasegate wait "$GITHUB_RUN_ID" --finish

  # Compare with a given run, write the JUnit report, print JSON:
  releasegate wait "$CI_PIPELINE_ID" --finish --baseline 4711 --junit reports --format json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			w, err := newWaiter(deps, opts, args[0], cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return w.main(cmd.Context(), cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.url, "url", "", "the releasegate exporter's API, `URL` (default $RELEASEGATE_URL, else "+defaultURL+")")
	f.BoolVar(&opts.finish, "finish", false, "finish the run once it has had no span for --settle")
	f.StringVar(&opts.baseline, "baseline", "", "with --finish: compare the run with the run `RUN` instead of its series' baseline")
	f.DurationVar(&opts.settle, "settle", 10*time.Second, "with --finish: how long the run must have had no span before it is finished")
	f.DurationVar(&opts.timeout, "timeout", 10*time.Minute, "the most wait waits, settling and retries included")
	f.Var(&opts.format, "format", "how the verdict is printed: text or json")
	f.StringVar(&opts.junit, "junit", "", "also write the run's JUnit report into the directory `DIR`")
	return cmd
}

// waiter waits for one run's verdict.
type waiter struct {
	deps    waitDeps
	opts    waitOptions
	run     string
	base    *url.URL
	token   string
	stderr  io.Writer
	report  *junit.Sink
	started time.Time
	// last is the run as last seen, printed when the time runs out.
	last *verdict.Run
}

func newWaiter(deps waitDeps, opts waitOptions, run string, stderr io.Writer) (*waiter, error) {
	w := &waiter{deps: deps, opts: opts, run: run, stderr: stderr}
	if !runstore.ValidRunKey(run) {
		return nil, exitf(ExitUsage, "%q is not a run id: 1 to %d bytes of UTF-8", run, runstore.MaxRunIDLength)
	}
	if opts.baseline != "" && !opts.finish {
		return nil, exitf(ExitUsage, "--baseline applies to the run wait finishes: add --finish")
	}
	if opts.baseline != "" && !runstore.ValidRunKey(opts.baseline) {
		return nil, exitf(ExitUsage, "--baseline %q is not a run id: 1 to %d bytes of UTF-8", opts.baseline, runstore.MaxRunIDLength)
	}
	if opts.settle < 0 {
		return nil, exitf(ExitUsage, "--settle %s: a duration of 0 or more, such as 10s", opts.settle)
	}
	if opts.timeout <= 0 {
		return nil, exitf(ExitUsage, "--timeout %s: a duration above 0, such as 10m", opts.timeout)
	}
	raw, from := opts.url, "--url"
	if raw == "" {
		raw, from = deps.getenv("RELEASEGATE_URL"), "RELEASEGATE_URL"
	}
	if raw == "" {
		raw = defaultURL
	}
	base, err := url.Parse(raw)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		// The URL may carry a password: name the setting, not its value.
		return nil, exitf(ExitUsage, "%s is not an http or https URL such as %s", from, defaultURL)
	}
	base.Path = strings.TrimSuffix(base.Path, "/")
	base.RawPath = ""
	w.base = base
	w.token = strings.TrimSpace(deps.getenv("RELEASEGATE_TOKEN"))
	if strings.ContainsFunc(w.token, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return nil, exitf(ExitUsage, "RELEASEGATE_TOKEN holds control characters, which no HTTP header carries")
	}
	if opts.junit != "" {
		if w.report, err = junit.New(opts.junit); err != nil {
			return nil, exitf(ExitUsage, "--junit %s: %v", opts.junit, err)
		}
	}
	return w, nil
}

// main waits for the verdict, prints it and returns the exit it calls for.
func (w *waiter) main(ctx context.Context, stdout io.Writer) error {
	w.started = w.deps.clock.Now()
	run, err := w.verdict(ctx)
	if err != nil {
		if w.last != nil {
			w.print(stdout, *w.last)
		}
		return err
	}
	w.print(stdout, run)
	if w.report != nil {
		if err := w.writeReport(ctx, run); err != nil {
			return err
		}
	}
	if code := exitCode(run); code != ExitPassed {
		return verdictError{code}
	}
	return nil
}

func (w *waiter) print(stdout io.Writer, run verdict.Run) {
	if w.opts.format == formatJSON {
		_ = printJSON(stdout, run)
		return
	}
	printTable(stdout, run, colorful(stdout))
}

// writeReport writes the run's JUnit report with the exporter's own sink.
func (w *waiter) writeReport(ctx context.Context, run verdict.Run) error {
	at := w.deps.clock.Now()
	if run.FinishedAt != nil {
		at = *run.FinishedAt
	}
	if err := writeJUnit(ctx, w.report, run, at); err != nil {
		return exitf(ExitUsage, "--junit %s: %v", w.opts.junit, err)
	}
	return nil
}

// verdict is the run's final verdict, or the error that ends the wait.
func (w *waiter) verdict(ctx context.Context) (verdict.Run, error) {
	if !w.opts.finish {
		return w.untilFinished(ctx)
	}
	if err := w.settle(ctx); err != nil {
		return verdict.Run{}, err
	}
	return w.finish(ctx)
}

// untilFinished asks for the run until the collector has finished it.
func (w *waiter) untilFinished(ctx context.Context) (verdict.Run, error) {
	for said := false; ; said = true {
		run, err := w.get(ctx)
		if err != nil {
			return verdict.Run{}, err
		}
		if run.Finished {
			return run, nil
		}
		w.last = &run
		if !said {
			fmt.Fprintf(w.stderr, "releasegate: run %q is open; waiting for the collector to finish it (its run_idle_timeout after the last span)\n", w.run)
		}
		if err := w.sleep(ctx, pollInterval); err != nil {
			return verdict.Run{}, exitf(ExitNoVerdict, "timed out after %s: run %q is still open; the collector finishes it after its run_idle_timeout without spans, or finish it with --finish", w.opts.timeout, w.run)
		}
	}
}

// settle waits until the run has had no span for the settle time.
//
// How long it has been quiet is measured two ways, each never more than
// the truth, and the longer one counts: on the collector's clock, from
// the run's last_span_at to the answer's Date (whole seconds, rounded
// down); and on this machine's clock, since wait first saw the current
// last_span_at. Neither depends on the two clocks agreeing.
func (w *waiter) settle(ctx context.Context) error {
	var (
		seen      bool
		lastSpan  time.Time // last_span_at as last seen; zero while the run is unknown
		seenSince time.Time // on this clock, when lastSpan was first seen
		told      bool
		saidFor   time.Time // the last_span_at last said on stderr
	)
	for {
		a, err := w.request(ctx, http.MethodGet, w.runPath(), nil)
		if err != nil {
			return err
		}
		var current time.Time
		var run verdict.Run
		known := !a.unknownRun()
		if known {
			if run, err = w.decodeRun(a); err != nil {
				return err
			}
			w.last = &run
			current = run.LastSpanAt
			if run.Finished {
				return nil // finishing it again only fetches its verdict
			}
		} else if !told {
			told = true
			fmt.Fprintf(w.stderr, "releasegate: run %q is not known at %s yet: no span of it has arrived. Waiting %s for spans; "+
				"if none arrive, the run is finished without data (inconclusive). Check the run id and that the spans carry it as cicd.pipeline.run.id.\n",
				w.run, w.base.Redacted(), w.opts.settle)
		}
		now := w.deps.clock.Now()
		if !seen || !current.Equal(lastSpan) {
			seen, lastSpan, seenSince = true, current, now
		}
		quiet := now.Sub(seenSince)
		if known && !a.date.IsZero() && !run.LastSpanAt.IsZero() {
			quiet = max(quiet, a.date.Sub(run.LastSpanAt))
		}
		if quiet >= w.opts.settle {
			return nil
		}
		// Said once, and again each time spans have arrived since.
		if known && !current.Equal(saidFor) {
			saidFor = current
			fmt.Fprintf(w.stderr, "releasegate: run %q received its last span %s ago; finishing it once none has arrived for %s\n",
				w.run, quiet.Round(time.Second), w.opts.settle)
		}
		if err := w.sleep(ctx, max(w.opts.settle-quiet, minSleep)); err != nil {
			if !known {
				return exitf(ExitNoVerdict, "timed out after %s: run %q is still unknown at %s", w.opts.timeout, w.run, w.base.Redacted())
			}
			return exitf(ExitNoVerdict, "timed out after %s: run %q still receives spans (the last %s ago; --settle is %s); "+
				"it was not finished", w.opts.timeout, w.run, quiet.Round(time.Second), w.opts.settle)
		}
	}
}

// get asks for the run as it stands.
func (w *waiter) get(ctx context.Context) (verdict.Run, error) {
	a, err := w.request(ctx, http.MethodGet, w.runPath(), nil)
	if err != nil {
		return verdict.Run{}, err
	}
	if a.unknownRun() {
		return verdict.Run{}, w.unknownRun(a)
	}
	return w.decodeRun(a)
}

// finish finishes the run and returns its final verdict.
func (w *waiter) finish(ctx context.Context) (verdict.Run, error) {
	// From here on, an error is not about the open run as last seen.
	w.last = nil
	var query url.Values
	if w.opts.baseline != "" {
		query = url.Values{"baseline": {w.opts.baseline}}
	}
	a, err := w.request(ctx, http.MethodPost, w.runPath()+"/finish", query)
	if err != nil {
		return verdict.Run{}, err
	}
	switch {
	case a.status == http.StatusNotFound && w.opts.baseline != "" && a.apiError != "":
		return verdict.Run{}, exitf(ExitNoVerdict, "%s; check --baseline: a run the collector holds, or has kept as a baseline (GET %s/v1/baselines)",
			a.apiError, w.base.Redacted())
	case a.status == http.StatusConflict && a.apiError != "":
		// Finished already (by a job retried, or by the collector): its
		// verdict stands, compared with what it was compared with.
		fmt.Fprintf(w.stderr, "releasegate: %s; its verdict stands\n", a.apiError)
		return w.get(ctx)
	}
	run, err := w.decodeRun(a)
	if err != nil {
		return verdict.Run{}, err
	}
	if !run.Finished {
		return verdict.Run{}, exitf(ExitNoVerdict, "the collector at %s answered the finish of run %q with a run still open", w.base.Redacted(), w.run)
	}
	return run, nil
}

// answer is an HTTP answer of the API.
type answer struct {
	method, url string
	status      int
	body        []byte
	// apiError is the API's {"error": ...}, if the body is one.
	apiError string
	// date is the answer's Date: the collector's clock, to the second.
	date    time.Time
	headers http.Header
}

// unknownRun says whether the API answered that it holds no such run (as
// opposed to a 404 of something that is not the API).
func (a *answer) unknownRun() bool {
	return a.status == http.StatusNotFound && strings.HasPrefix(a.apiError, "unknown run ")
}

func (w *waiter) unknownRun(a *answer) error {
	return exitf(ExitNoVerdict, "the collector at %s holds no run %q: check the run id, that the spans carry it as cicd.pipeline.run.id "+
		"(or what the gates' run expression reads), and that they reach this collector; a finished run is kept for its retention only",
		w.base.Redacted(), w.run)
}

// runPath is the run's path in the API: its id one escaped segment, the
// dots of "." and ".." too, as its page's.
func (w *waiter) runPath() string {
	return "/v1/runs/" + strings.TrimPrefix(verdict.PagePath(w.run), "runs/")
}

// decodeRun reads a run from a 200 answer; anything else ends the wait.
func (w *waiter) decodeRun(a *answer) (verdict.Run, error) {
	if a.status != http.StatusOK {
		return verdict.Run{}, w.unexpected(a)
	}
	var run verdict.Run
	if err := json.Unmarshal(a.body, &run); err != nil || run.Run == "" {
		return verdict.Run{}, exitf(ExitNoVerdict, "%s %s answered with something other than a run: check --url or RELEASEGATE_URL (the releasegate exporter's server endpoint, port 9464 by default)",
			a.method, a.url)
	}
	return run, nil
}

// unexpected explains an answer wait does not go on from.
func (w *waiter) unexpected(a *answer) error {
	msg := a.apiError
	if msg == "" {
		msg = w.redact(oneLine(string(a.body)))
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
	}
	what := fmt.Sprintf("%s %s: %d %s", a.method, a.url, a.status, http.StatusText(a.status))
	if msg != "" {
		what += ": " + msg
	}
	switch {
	case a.status == http.StatusUnauthorized && w.token == "":
		return exitf(ExitNoVerdict, "%s; the API requires a token (server.auth): set RELEASEGATE_TOKEN", what)
	case a.status == http.StatusUnauthorized || a.status == http.StatusForbidden:
		return exitf(ExitNoVerdict, "%s; the token in RELEASEGATE_TOKEN was refused: check it is the one the exporter's server.auth expects", what)
	case a.status == http.StatusNotFound:
		return exitf(ExitNoVerdict, "%s; check --url or RELEASEGATE_URL: the releasegate exporter's server endpoint (port 9464 by default), without a path", what)
	case a.status == http.StatusBadRequest || a.status == http.StatusRequestURITooLong:
		return exitf(ExitUsage, "%s", what)
	}
	return exitf(ExitNoVerdict, "%s", what)
}

// request asks the API, retrying connection errors, 5xx and 429 with
// backoff until the timeout. Other answers are returned as they are.
func (w *waiter) request(ctx context.Context, method, path string, query url.Values) (*answer, error) {
	// path is escaped: a run id is one segment, "/" included.
	u := *w.base
	unescaped, err := url.PathUnescape(path)
	if err != nil {
		return nil, exit(ExitUsage, err)
	}
	u.RawPath = w.base.EscapedPath() + path
	u.Path += unescaped
	u.RawQuery = query.Encode()
	shown := (&u).Redacted()
	backoff := firstBackoff
	for attempt := 1; ; attempt++ {
		a, err := w.attempt(ctx, method, &u)
		var retry time.Duration
		switch {
		case err != nil:
			err = fmt.Errorf("cannot reach %s: %s", w.base.Redacted(), w.redact(rootCause(err)))
		case a.status >= 500 || a.status == http.StatusTooManyRequests:
			err = fmt.Errorf("%s %s: %d %s", method, shown, a.status, http.StatusText(a.status))
			if a.apiError != "" {
				err = fmt.Errorf("%w: %s", err, a.apiError)
			}
			if s, perr := strconv.Atoi(a.header("Retry-After")); perr == nil && s > 0 {
				retry = time.Duration(s) * time.Second
			}
		default:
			return a, nil
		}
		if ctx.Err() != nil {
			return nil, exit(ExitNoVerdict, err)
		}
		if retry == 0 {
			retry = time.Duration(float64(backoff) * (0.8 + 0.4*w.deps.jitter()))
			backoff = min(2*backoff, maxBackoff)
		}
		left := w.left()
		if left <= 0 {
			return nil, exitf(ExitNoVerdict, "%v; gave up after %d attempts: --timeout %s has passed", err, attempt, w.opts.timeout)
		}
		retry = min(retry, left)
		fmt.Fprintf(w.stderr, "releasegate: %v; retrying in %s\n", err, retry.Round(10*time.Millisecond))
		if w.sleep(ctx, retry) != nil {
			return nil, exitf(ExitNoVerdict, "%v; gave up after %d attempts: --timeout %s has passed", err, attempt, w.opts.timeout)
		}
	}
}

// errTimeout ends a sleep that would outlast the timeout.
var errTimeout = errors.New("timed out")

// sleep waits d on the clock, or returns errTimeout when the timeout
// passes first (having waited until then).
func (w *waiter) sleep(ctx context.Context, d time.Duration) error {
	left := w.left()
	if left <= 0 {
		return errTimeout
	}
	select {
	case <-w.deps.clock.After(min(d, left)):
	case <-ctx.Done():
		return ctx.Err()
	}
	if d >= left {
		return errTimeout
	}
	return nil
}

// left is how much of the timeout is left.
func (w *waiter) left() time.Duration {
	return w.opts.timeout - w.deps.clock.Since(w.started)
}

func (w *waiter) attempt(ctx context.Context, method string, u *url.URL) (*answer, error) {
	// A request on its own real-time timeout, within what is left of the
	// whole wait.
	ctx, cancel := context.WithTimeout(ctx, max(min(requestTimeout, w.left()), time.Second))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "releasegate-wait")
	if w.token != "" {
		req.Header.Set("Authorization", "Bearer "+w.token)
	}
	resp, err := w.deps.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, err
	}
	a := &answer{method: method, url: u.Redacted(), status: resp.StatusCode, body: body}
	a.date, _ = http.ParseTime(resp.Header.Get("Date"))
	a.headers = resp.Header
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil {
		a.apiError = w.redact(oneLine(e.Error))
	}
	return a, nil
}

func (a *answer) header(name string) string {
	if a.headers == nil {
		return ""
	}
	return a.headers.Get(name)
}

// redact removes the token from what is printed, should a server or a
// proxy echo it.
func (w *waiter) redact(s string) string {
	if w.token == "" {
		return s
	}
	return strings.ReplaceAll(s, w.token, "[REDACTED]")
}

// rootCause is the innermost error's text: "connection refused" rather
// than the request that met it.
func rootCause(err error) string {
	var u *url.Error
	if errors.As(err, &u) {
		err = u.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer within " + requestTimeout.String()
	}
	return err.Error()
}
