package releasegateexporter

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/jonboulle/clockwork"
	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/metadata"
	"github.com/releasegate/releasegate/internal/page"
	"github.com/releasegate/releasegate/internal/runstore"
	"github.com/releasegate/releasegate/internal/verdict"
)

// minSweepPause spaces the sweeps that spans trigger, so that a busy
// pipeline does not hold the store's lock for sweeps back to back.
const minSweepPause = 50 * time.Millisecond

type releasegateExporter struct {
	id         component.ID
	cfg        *Config
	clock      clockwork.Clock
	store      *runstore.Store
	pages      *page.Pages
	sinks      publisher
	storage    *runStorage // nil without a storage extension
	settings   component.TelemetrySettings
	telemetry  *metadata.TelemetryBuilder
	sweepEvery time.Duration

	server *http.Server
	wake   chan struct{} // spans arrived: check fail fast soon
	done   chan struct{}
	wg     sync.WaitGroup
}

func newExporter(cfg *Config, gates *config.Gates, set component.TelemetrySettings, clock clockwork.Clock) (*releasegateExporter, error) {
	telemetry, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	traceURL, err := page.ParseTraceURL(cfg.TraceURL)
	if err != nil {
		return nil, fmt.Errorf("trace_url: %w", err)
	}
	e := &releasegateExporter{
		cfg:       cfg,
		clock:     clock,
		store:     runstore.New(gates, cfg.StoreSettings(clock.Now, cfg.hasSinks())),
		settings:  set,
		telemetry: telemetry,
		// Timeouts are noticed within a tenth of the idle timeout (at most 1s).
		sweepEvery: min(max(cfg.RunIdleTimeout/10, 10*time.Millisecond), time.Second),
		sinks:      publisher{publicURL: cfg.PublicURL},
		wake:       make(chan struct{}, 1),
		done:       make(chan struct{}),
	}
	e.pages = page.New(e.store, page.Settings{Gates: gates, TraceURL: traceURL, Now: clock.Now})
	return e, nil
}

func (e *releasegateExporter) start(ctx context.Context, host component.Host) error {
	var client storage.Client
	if e.cfg.Storage != nil {
		var err error
		if client, err = storageClient(ctx, host, *e.cfg.Storage, e.id); err != nil {
			return err
		}
		e.storage = newRunStorage(client, e.settings.Logger, e.clock)
		e.storage.savedRuns = e.telemetry.ExporterReleasegateRunsSaved
	}
	queues, err := e.startSinks(ctx, host, client, e.clock)
	if err != nil {
		return err
	}
	e.sinks.queues = queues
	if e.storage != nil {
		if err := e.restoreRuns(ctx); err != nil {
			return err
		}
	}
	ln, err := e.cfg.Server.ToListener(ctx)
	if err != nil {
		return err
	}
	// Errors of the server's own layers (auth, decompression) are JSON too.
	e.server, err = e.cfg.Server.ToServer(ctx, host.GetExtensions(), e.settings, e.api(),
		confighttp.WithErrorHandler(func(w http.ResponseWriter, _ *http.Request, msg string, status int) {
			writeError(w, status, msg)
		}))
	if err != nil {
		_ = ln.Close()
		return err
	}
	e.settings.Logger.Info("Serving release gate verdicts", zap.String("endpoint", ln.Addr().String()))
	e.wg.Add(2)
	go func() {
		defer e.wg.Done()
		if err := e.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			componentstatus.ReportStatus(host, componentstatus.NewFatalErrorEvent(err))
		}
	}()
	go func() {
		defer e.wg.Done()
		e.sweepLoop()
	}()
	return nil
}

func (e *releasegateExporter) shutdown(ctx context.Context) error {
	select {
	case <-e.done:
	default:
		close(e.done)
	}
	var err error
	if e.server != nil {
		err = e.server.Shutdown(ctx)
	}
	e.wg.Wait()
	if e.storage != nil {
		// Runs still open are saved, to resume after the next start.
		e.storage.save(ctx, e.store)
	} else {
		// Runs still open are reported as such (JUnit marks their gates
		// skipped).
		e.store.Abandon()
	}
	// Then the sinks get until the deadline to deliver.
	e.sinks.publish(e.store)
	e.sinks.shutdown(ctx)
	if e.storage != nil {
		err = errors.Join(err, e.storage.client.Close(ctx))
	}
	e.telemetry.Shutdown()
	return err
}

// consume is the span path: it only aggregates. Verdicts are decided by the
// sweep loop.
func (e *releasegateExporter) consume(ctx context.Context, td ptrace.Traces) error {
	t := e.store.Record(td)
	e.recordTally(ctx, t)
	e.wakeSweep()
	return nil
}

func (e *releasegateExporter) sweepLoop() {
	ticker := e.clock.NewTicker(e.sweepEvery)
	defer ticker.Stop()
	for {
		select {
		case <-e.done:
			return
		case <-ticker.Chan():
		case <-e.wake:
		}
		e.recordTally(context.Background(), e.store.Sweep())
		e.sinks.publish(e.store)
		if e.storage != nil {
			e.storage.saveIfDue(context.Background(), e.store)
		}
		select {
		case <-e.done:
			return
		case <-e.clock.After(minSweepPause):
		}
	}
}

// finish finishes a run on a CI job's request.
// finish finishes a run on request, compared with the run other when
// given.
func (e *releasegateExporter) finish(ctx context.Context, key, other string) (verdict.Run, error) {
	var f runstore.Finished
	var err error
	if other != "" {
		f, err = e.store.FinishComparedWith(key, other)
	} else {
		f, err = e.store.Finish(key)
	}
	e.recordTally(ctx, f.Tally)
	if f.Now {
		e.recordFinished(ctx, verdict.FinishedByAPI)
	}
	e.sinks.publish(e.store)
	return e.sinks.withURL(f.Run), err
}

// pin pins a series' baseline on request.
func (e *releasegateExporter) pin(ctx context.Context, series, run string) (verdict.Series, error) {
	view, t, err := e.store.Pin(series, run)
	e.recordTally(ctx, t)
	return view, err
}

// wakeSweep asks the sweep loop for a sweep soon.
func (e *releasegateExporter) wakeSweep() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *releasegateExporter) recordFinished(ctx context.Context, cause verdict.FinishCause) {
	e.telemetry.ExporterReleasegateRunsOpen.Add(ctx, -1)
	e.telemetry.ExporterReleasegateRunsFinished.Add(ctx, 1, metric.WithAttributes(attribute.String("cause", string(cause))))
}

var (
	noRunAttrs      = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "no_run")))
	malformedAttrs  = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "malformed")))
	invalidRunAttrs = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "invalid_run")))
	judgedAttrs     = map[runstore.JudgedCause]metric.AddOption{}
)

func init() {
	for _, cause := range []runstore.JudgedCause{runstore.JudgedIdle, runstore.JudgedRunFinished, runstore.JudgedBufferFull} {
		judgedAttrs[cause] = metric.WithAttributeSet(attribute.NewSet(attribute.String("trigger", string(cause))))
	}
}

func (e *releasegateExporter) recordTally(ctx context.Context, t runstore.Tally) {
	add := func(c metric.Int64Counter, n int64, opts ...metric.AddOption) {
		if n > 0 {
			c.Add(ctx, n, opts...)
		}
	}
	if t.Opened > 0 {
		e.telemetry.ExporterReleasegateRunsOpen.Add(ctx, t.Opened)
	}
	add(e.telemetry.ExporterReleasegateRunsEvicted, t.Evicted)
	add(e.telemetry.ExporterReleasegateSpansRefused, t.Refused)
	add(e.telemetry.ExporterReleasegateSpansLate, t.Late)
	add(e.telemetry.ExporterReleasegateSpansIgnored, t.NoRun, noRunAttrs)
	add(e.telemetry.ExporterReleasegateSpansIgnored, t.Malformed, malformedAttrs)
	add(e.telemetry.ExporterReleasegateSpansIgnored, t.InvalidRun, invalidRunAttrs)
	add(e.telemetry.ExporterReleasegateUnknownGates, t.UnknownGates)
	add(e.telemetry.ExporterReleasegateSeriesEvicted, t.SeriesEvicted)
	for _, cause := range t.Finished {
		e.recordFinished(ctx, cause)
	}
	if t.Traces.Buffered != 0 {
		e.telemetry.ExporterReleasegateTracesBuffered.Add(ctx, t.Traces.Buffered)
	}
	for cause, n := range t.Traces.Judged {
		add(e.telemetry.ExporterReleasegateTracesJudged, n, judgedAttrs[cause])
	}
	add(e.telemetry.ExporterReleasegateTracesTooLarge, t.Traces.TooLarge)
	add(e.telemetry.ExporterReleasegateTracesLate, t.Traces.Late)
	add(e.telemetry.ExporterReleasegateTracesWithoutRun, t.Traces.WithoutRun)
	add(e.telemetry.ExporterReleasegateTraceSpansLate, t.Traces.LateSpans)
}
