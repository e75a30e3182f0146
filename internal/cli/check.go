package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/exporter/releasegateexporter"
	"github.com/releasegate/releasegate/internal/otlpfile"
	"github.com/releasegate/releasegate/internal/replay"
	"github.com/releasegate/releasegate/internal/runstore"
	"github.com/releasegate/releasegate/internal/sink/junit"
	"github.com/releasegate/releasegate/internal/verdict"
)

type checkOptions struct {
	gates     string
	baselines []string
	run       string
	format    format
	junit     string
	skipBad   bool
}

func newCheck() *cobra.Command {
	o := checkOptions{format: formatText}
	cmd := &cobra.Command{
		Use:   "check --gates GATES_FILE [flags] FILE...",
		Short: "Judge recorded traces offline, with the collector's code",
		Long: withExitCodes(`Check judges recorded traces with a gates file, as the releasegate processor
and exporter judge them in a collector: the runs are keyed as the collector
keys them, span and trace gates are judged with the collector's code, and
every run is finished at the end of the input.

Inputs, told from their content: what the collector's file exporter writes
(OTLP JSON lines, or format: proto; compression: zstd), a single OTLP JSON
document (a /v1/traces body, Jaeger's or Tempo's OTLP JSON export), any of
them gzip'd; - reads standard input. Annotations the spans were recorded
with are replaced by those of the gates file given.

--baseline files are judged first: each of their runs is the baseline of
the runs of its series in FILE.

A file that cannot be read, or a line or message that is not OTLP, is an
error (exit 4) that names the file and the line or offset, unless
--skip-bad-lines skips it and says how many were.`),
		Example: `  releasegate check --gates gates.yaml traces.jsonl
  releasegate check --gates gates.yaml --baseline main.jsonl.gz pr.jsonl.gz
  releasegate check --gates gates.yaml --run "$GITHUB_RUN_ID" --junit reports/ traces.proto
  curl -s http://jaeger:16686/api/v3/traces/$TRACE_ID | releasegate check --gates gates.yaml -`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			return o.check(cmd, files)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.gates, "gates", "", "the gates file (required)")
	f.StringArrayVar(&o.baselines, "baseline", nil, "recorded traces of baseline runs, judged first (repeatable)")
	f.StringVar(&o.run, "run", "", "judge this run only")
	f.Var(&o.format, "format", "output: text or json (the verdict API's JSON)")
	f.StringVar(&o.junit, "junit", "", "write a JUnit report per run into this directory")
	f.BoolVar(&o.skipBad, "skip-bad-lines", false, "skip lines and messages that are not OTLP, and say how many")
	_ = cmd.MarkFlagRequired("gates")
	_ = cmd.MarkFlagFilename("gates", "yaml", "yml")
	_ = cmd.MarkFlagDirname("junit")
	return cmd
}

func (o *checkOptions) check(cmd *cobra.Command, files []string) error {
	gates, err := config.Load(o.gates)
	if err != nil {
		return exit(ExitUsage, err)
	}
	cfg := releasegateexporter.NewFactory().CreateDefaultConfig().(*releasegateexporter.Config)
	judge := replay.New(gates, cfg.StoreSettings(nil, false))
	stderr := cmd.ErrOrStderr()

	if len(o.baselines) > 0 {
		for _, name := range o.baselines {
			if err := o.read(cmd, judge, name); err != nil {
				return err
			}
		}
		if _, err := judge.FinishBaselines(); err != nil {
			return exit(ExitUsage, fmt.Errorf("baseline: %w", err))
		}
	}
	for _, name := range files {
		if err := o.read(cmd, judge, name); err != nil {
			return err
		}
	}
	runs, err := judge.Finish(o.run)
	if errors.Is(err, runstore.ErrInvalidRunKey) {
		return exitf(ExitUsage, "--run %q: not a run id (1 to %d bytes of UTF-8)", o.run, runstore.MaxRunIDLength)
	}
	if err != nil {
		return exit(ExitUsage, err)
	}
	reportCounts(stderr, judge.Counts)

	if o.junit != "" {
		report, err := junit.New(o.junit)
		for i := 0; err == nil && i < len(runs); i++ {
			err = writeJUnit(cmd.Context(), report, runs[i], finishedAt(runs[i]))
		}
		if err != nil {
			return exit(ExitUsage, fmt.Errorf("--junit %s: %w", o.junit, err))
		}
	}
	if o.format == formatJSON {
		if err := printJSON(cmd.OutOrStdout(), map[string]any{"runs": runs}); err != nil {
			return exit(ExitUsage, err)
		}
	} else {
		color := colorful(cmd.OutOrStdout())
		for i, run := range runs {
			if i > 0 {
				fmt.Fprintln(cmd.OutOrStdout())
			}
			printTable(cmd.OutOrStdout(), run, color)
		}
	}
	if len(runs) == 0 {
		return exitf(ExitInconclusive, "no run in the input: no span a gate matched carried a run key (%d spans read, %d matched without one)", judge.Counts.Spans, judge.Counts.WithoutRun)
	}
	if code := worstExit(runs); code != ExitPassed {
		return verdictError{code}
	}
	return nil
}

// read judges the batches of one file ("-": standard input).
func (o *checkOptions) read(cmd *cobra.Command, judge *replay.Judge, name string) error {
	var in io.Reader = cmd.InOrStdin()
	if name == "-" {
		name = "stdin"
	} else {
		f, err := os.Open(name)
		if err != nil {
			return exit(ExitUsage, err)
		}
		defer f.Close()
		if info, err := f.Stat(); err == nil && info.IsDir() {
			return exitf(ExitUsage, "%s: a directory, not a file of traces", name)
		}
		in = f
	}
	r := otlpfile.NewReader(name, in, otlpfile.Options{SkipBad: o.skipBad})
	defer r.Close()
	// Decoding the next batches goes on while one is judged, on another
	// core; a few batches ahead at most.
	type decoded struct {
		td  ptrace.Traces
		err error
	}
	batches := make(chan decoded, 4)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer close(batches)
		for {
			td, err := r.Next()
			select {
			case batches <- decoded{td, err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for b := range batches {
		if b.err == io.EOF {
			break
		}
		if b.err != nil {
			return exit(ExitUsage, b.err)
		}
		judge.Add(b.td)
	}
	if skipped := r.Skipped(); len(skipped) > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "releasegate: %s: skipped %d lines or messages that are not OTLP, the first: %v\n", name, len(skipped), skipped[0])
	}
	return nil
}

// reportCounts says what spans could not be judged, on stderr: never a
// silent loss.
func reportCounts(w io.Writer, c replay.Counts) {
	for _, line := range []struct {
		n    int64
		what string
	}{
		{c.WithoutRun, "spans matched a gate but carry no run key: not judged"},
		{c.Refused, "spans belong to runs past max_runs: not judged"},
		{c.Late, "spans belong to a run the baseline files already hold (the same run key): not judged"},
		{c.MatchErrors, "match expressions could not be evaluated"},
		{c.AssertErrors, "assert expressions could not be evaluated (counted as violations, the gates' eval_errors)"},
		{c.TracesTooLarge, "traces had more than max_spans_per_trace spans and were judged on their first ones"},
		{c.TraceSpansLate, "spans came after their trace was judged (idle for trace_idle_timeout by the spans' times): not in trace gates"},
	} {
		if line.n > 0 {
			fmt.Fprintf(w, "releasegate: %d %s\n", line.n, line.what)
		}
	}
}

// writeJUnit writes a finished run's report with the exporter's JUnit
// sink.
func writeJUnit(ctx context.Context, report *junit.Sink, run verdict.Run, at time.Time) error {
	msgs, err := report.Messages(verdict.Event{Kind: verdict.RunFinished, Time: at, Run: run})
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if err := m.Send(ctx); err != nil {
			return err
		}
	}
	return nil
}

func finishedAt(run verdict.Run) time.Time {
	if run.FinishedAt != nil {
		return *run.FinishedAt
	}
	return run.LastSpanAt
}
