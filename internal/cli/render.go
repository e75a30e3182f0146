package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/internal/verdict"
)

// exitCode is the exit code of a run's status; a run not yet final has
// none to give.
func exitCode(run verdict.Run) int {
	if !run.Finished {
		return ExitNoVerdict
	}
	switch run.Status {
	case verdict.Passed, verdict.Warning:
		return ExitPassed
	case verdict.Failed:
		return ExitFailed
	case verdict.Error:
		return ExitError
	case verdict.Inconclusive:
		return ExitInconclusive
	default:
		return ExitNoVerdict
	}
}

// worstExit is the exit code of several runs: the worst of theirs.
func worstExit(runs []verdict.Run) int {
	order := []int{ExitPassed, ExitInconclusive, ExitError, ExitFailed, ExitNoVerdict}
	worst := 0
	for _, r := range runs {
		code := exitCode(r)
		for i, c := range order {
			if c == code && i > worst {
				worst = i
			}
		}
	}
	return order[worst]
}

// format is how verdicts are printed: a table for people, or the verdict
// API's JSON.
type format string

const (
	formatText format = "text"
	formatJSON format = "json"
)

func (f *format) String() string { return string(*f) }
func (f *format) Type() string   { return "text|json" }
func (f *format) Set(v string) error {
	switch format(v) {
	case formatText, formatJSON:
		*f = format(v)
		return nil
	}
	return fmt.Errorf("%q is not a format: use text or json", v)
}

// printJSON writes v as the verdict API does.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// colorful says whether w is a terminal that takes colours: never when
// NO_COLOR is set (https://no-color.org) or TERM is dumb.
func colorful(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// statusMark shows a status by word and sign, so that it reads without
// colour; the colour is added on terminals.
var statusMark = map[verdict.Status]struct{ sign, color string }{
	verdict.Passed:       {"✓", "32"},
	verdict.Warning:      {"!", "33"},
	verdict.Pending:      {"…", "36"},
	verdict.Inconclusive: {"?", "35"},
	verdict.Error:        {"✗", "31"},
	verdict.Failed:       {"✗", "31;1"},
}

func status(s verdict.Status, color bool) string {
	m := statusMark[s]
	text := m.sign + " " + string(s)
	if color && m.color != "" {
		return "\x1b[" + m.color + "m" + text + "\x1b[0m"
	}
	return text
}

// printTable writes a run for people: what it is, one line per gate, then
// its status.
func printTable(w io.Writer, run verdict.Run, color bool) {
	var head strings.Builder
	fmt.Fprintf(&head, "run %s", run.Run)
	for _, kv := range [][2]string{
		{"commit", run.Revision}, {"repository", run.Repository}, {"environment", run.Environment},
		{"series", run.Series}, {"baseline", deref(run.Baseline)}, {"page", run.URL},
	} {
		if kv[1] != "" {
			fmt.Fprintf(&head, ", %s %s", kv[0], kv[1])
		}
	}
	fmt.Fprintln(w, head.String())

	var table strings.Builder
	tw := tabwriter.NewWriter(&table, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tGATE\tMATCHED\tVIOLATIONS\tOBSERVED\tREASON")
	for _, g := range run.Gates {
		fmt.Fprintf(tw, "%s\t%s\t%d %s\t%d\t%s\t%s\n", status(g.Status, false), g.Name, g.Spans, g.Unit(), g.Violations, observedText(&g), oneLine(g.Reason))
	}
	_ = tw.Flush()
	lines := strings.SplitAfter(table.String(), "\n")
	for i, line := range lines {
		// The status opens each gate's line: coloured after the layout,
		// so that escape codes do not count in the columns' widths.
		if i > 0 && i <= len(run.Gates) && color {
			plain := status(run.Gates[i-1].Status, false)
			line = status(run.Gates[i-1].Status, true) + strings.TrimPrefix(line, plain)
		}
		fmt.Fprint(w, line)
	}
	summary := run.Summary()
	if !run.Finished {
		summary += " (not finished)"
	}
	fmt.Fprintln(w, status(run.Status, color)+" "+strings.TrimPrefix(summary, string(run.Status)+": "))
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// observed names the run environment gives a gate's fail and warn, with
// how each is printed.
var observedNames = []struct {
	name  string
	value func(o *verdict.Observed) (string, bool)
}{
	{"p50", ms(func(o *verdict.Observed) float64 { return o.P50Ms })},
	{"p90", ms(func(o *verdict.Observed) float64 { return o.P90Ms })},
	{"p95", ms(func(o *verdict.Observed) float64 { return o.P95Ms })},
	{"p99", ms(func(o *verdict.Observed) float64 { return o.P99Ms })},
	{"min", ms(func(o *verdict.Observed) float64 { return o.MinMs })},
	{"max", ms(func(o *verdict.Observed) float64 { return o.MaxMs })},
	{"mean", ms(func(o *verdict.Observed) float64 { return o.MeanMs })},
	{"violation_ratio", percent(func(o *verdict.Observed) float64 { return o.ViolationRatio })},
	{"error_ratio", percent(func(o *verdict.Observed) float64 { return o.ErrorRatio })},
	{"latency_ratio", func(o *verdict.Observed) (string, bool) {
		if o.LatencyRatio == nil {
			return "", false
		}
		return fmt.Sprintf("%.2f× (%.2f–%.2f)", *o.LatencyRatio, *o.LatencyRatioLow, *o.LatencyRatioHigh), true
	}},
}

func ms(f func(*verdict.Observed) float64) func(*verdict.Observed) (string, bool) {
	return func(o *verdict.Observed) (string, bool) {
		return config.FormatDuration(time.Duration(f(o) * float64(time.Millisecond))), true
	}
}

func percent(f func(*verdict.Observed) float64) func(*verdict.Observed) (string, bool) {
	return func(o *verdict.Observed) (string, bool) {
		return fmt.Sprintf("%.2f%%", f(o)*100), true
	}
}

var word = regexp.MustCompile(`[a-z_0-9]+`)

// observedText is the observed values a gate's conditions name: those
// that decided it. wait has the verdict API's JSON, not the gates, so the
// names are read from the conditions' text; durations print as reasons
// print them.
func observedText(g *verdict.Gate) string {
	named := map[string]bool{}
	for _, w := range word.FindAllString(g.Condition+" "+g.Warn, -1) {
		named[strings.TrimSuffix(strings.TrimSuffix(w, "_low"), "_high")] = true
	}
	var parts []string
	for _, n := range observedNames {
		if !named[n.name] || g.Spans == 0 {
			continue
		}
		if v, ok := n.value(&g.Observed); ok {
			parts = append(parts, n.name+" "+v)
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}
