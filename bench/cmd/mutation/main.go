// Command mutation reads the results gremlins (go-gremlins/gremlins,
// `unleash --output FILE.json`) wrote for each package, and a file that
// lists the equivalent mutants (changes the code behaves the same with),
// and prints per package what the package's own tests made of its
// mutants: killed, lived, equivalent, not covered, timed out, test
// efficacy and mutant coverage, as gremlins defines them:
//
//	efficacy = killed / (killed + lived)
//	coverage = (killed + lived) / (killed + lived + not covered)
//
// where a listed equivalent mutant, lived or not covered, counts in
// neither; timed out and not viable count in neither either. Every
// mutant that lived or was not covered and is not listed is printed, and
// so is every listed mutant that no longer exists or that the tests now
// kill (a stale entry).
//
// gremlins runs a mutant only when Go's coverage profile has it in a
// block that ran, and the profile has no block for the expressions of a
// case clause (`case n < 0:`) or of a constant declaration: gremlins never
// runs those, whatever the tests, and counts them not covered. The column
// "unrunnable" counts them (they are printed apart), and "runnable cov."
// is the coverage without them. It exits with status 1 when a package's
// efficacy is under -min-efficacy or its runnable coverage under
// -min-coverage, or an entry is stale.
//
// Usage:
//
//	mutation -equivalents FILE -root DIR [-min-efficacy 90] [-min-coverage 90] PKG=RESULTS.json...
//
// PKG is the package's directory in the module (config, internal/runstore),
// which gremlins' file names are relative to; -root is the module's.
//
// The equivalents file has one mutant a line, its position in the module,
// its type and why it is equivalent:
//
//	config/explain.go:217:19 CONDITIONALS_BOUNDARY — why the code behaves the same
//
// Blank lines and lines starting with # are ignored.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// results is what gremlins writes with --output.
type results struct {
	Files []struct {
		Name      string     `json:"file_name"`
		Mutations []mutation `json:"mutations"`
	} `json:"files"`
	Elapsed float64 `json:"elapsed_time"` // seconds
}

type mutation struct {
	Type   string `json:"type"`
	Status string `json:"status"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
}

// Statuses gremlins gives a mutant.
const (
	killed     = "KILLED"
	lived      = "LIVED"
	notCovered = "NOT COVERED"
	timedOut   = "TIMED OUT"
	notViable  = "NOT VIABLE"
)

// mutant identifies a mutant: its position in the module and its type.
type mutant struct {
	file         string // relative to the module's root, with /
	line, column int
	kind         string
}

func (m mutant) String() string { return fmt.Sprintf("%s:%d:%d %s", m.file, m.line, m.column, m.kind) }

// entry is a line of the equivalents file.
type entry struct {
	mutant
	why    string
	lineNo int
}

// An entry: config/explain.go:217:19 CONDITIONALS_BOUNDARY — why.
var entryLine = regexp.MustCompile(`^(\S+):(\d+):(\d+)\s+([A-Z_]+)\s+(?:—|--|-)\s+(\S.*)$`)

func readEquivalents(r io.Reader) (map[mutant]entry, error) {
	out := map[mutant]entry{}
	sc := bufio.NewScanner(r)
	var errs []error
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		m := entryLine.FindStringSubmatch(text)
		if m == nil {
			errs = append(errs, fmt.Errorf("line %d: not FILE:LINE:COLUMN TYPE — WHY: %q", n, text))
			continue
		}
		line, _ := strconv.Atoi(m[2])
		column, _ := strconv.Atoi(m[3])
		e := entry{mutant: mutant{file: path.Clean(m[1]), line: line, column: column, kind: m[4]}, why: m[5], lineNo: n}
		if first, dup := out[e.mutant]; dup {
			errs = append(errs, fmt.Errorf("line %d: %s is listed on line %d already", n, e.mutant, first.lineNo))
			continue
		}
		out[e.mutant] = e
	}
	return out, errors.Join(append(errs, sc.Err())...)
}

// tally is one package's mutants.
type tally struct {
	dir                                                        string
	killed, lived, equivalent, notCovered, timedOut, notViable int
	// unrunnable are the not covered mutants outside Go's coverage blocks.
	unrunnable int
	elapsed    time.Duration
	// survivors lived or were not covered, and are not listed; outside are
	// the unrunnable ones.
	survivors, outside []string
}

// efficacy and coverage are gremlins', without the equivalent mutants; -1
// when undefined.
func (t *tally) efficacy() float64 { return percent(t.killed, t.killed+t.lived) }
func (t *tally) coverage() float64 {
	return percent(t.killed+t.lived, t.killed+t.lived+t.notCovered)
}

// runnableCoverage leaves out the mutants gremlins cannot run.
func (t *tally) runnableCoverage() float64 {
	return percent(t.killed+t.lived, t.killed+t.lived+t.notCovered-t.unrunnable)
}

func percent(n, of int) float64 {
	if of == 0 {
		return -1
	}
	return 100 * float64(n) / float64(of)
}

func formatPercent(p float64) string {
	if p < 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", p)
}

// count tallies a package's results; used marks the entries it met, stale
// collects the entries that name a mutant the tests kill.
func count(root, dir string, res *results, equivalents map[mutant]entry, used map[mutant]bool, stale *[]string) (tally, error) {
	blocks := map[string]*outsideBlocks{}
	t := tally{dir: dir, elapsed: time.Duration(res.Elapsed * float64(time.Second))}
	for _, f := range res.Files {
		for _, m := range f.Mutations {
			id := mutant{file: path.Join(dir, f.Name), line: m.Line, column: m.Column, kind: m.Type}
			e, listed := equivalents[id]
			if listed {
				used[id] = true
			}
			switch m.Status {
			case killed:
				t.killed++
				if listed {
					*stale = append(*stale, fmt.Sprintf("%s (line %d): killed, so not equivalent", id, e.lineNo))
				}
			case lived, notCovered:
				switch {
				case listed:
					t.equivalent++
				case m.Status == lived:
					t.lived++
					t.survivors = append(t.survivors, fmt.Sprintf("%-11s %s", m.Status, id))
				default:
					t.notCovered++
					ob := blocks[id.file]
					if ob == nil {
						var err error
						if ob, err = parseOutsideBlocks(filepath.Join(root, filepath.FromSlash(id.file))); err != nil {
							return t, err
						}
						blocks[id.file] = ob
					}
					if ob.holds(id.line, id.column) {
						t.unrunnable++
						t.outside = append(t.outside, fmt.Sprintf("%-11s %s", m.Status, id))
					} else {
						t.survivors = append(t.survivors, fmt.Sprintf("%-11s %s", m.Status, id))
					}
				}
			case timedOut:
				t.timedOut++
			case notViable:
				t.notViable++
			}
		}
	}
	slices.Sort(t.survivors)
	slices.Sort(t.outside)
	return t, nil
}

// outsideBlocks are the spans of a file's source that Go's coverage
// profile has in no block: the expressions of case clauses and of constant
// declarations.
type outsideBlocks struct {
	fset  *token.FileSet
	spans [][2]token.Pos
}

func parseOutsideBlocks(file string) (*outsideBlocks, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	ob := &outsideBlocks{fset: fset}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CaseClause:
			for _, e := range n.List {
				ob.spans = append(ob.spans, [2]token.Pos{e.Pos(), e.End()})
			}
		case *ast.GenDecl:
			if n.Tok == token.CONST {
				ob.spans = append(ob.spans, [2]token.Pos{n.Pos(), n.End()})
			}
		}
		return true
	})
	return ob, nil
}

// holds reports whether the position (1-based line and byte column) is in
// a span outside the blocks.
func (ob *outsideBlocks) holds(line, column int) bool {
	for _, s := range ob.spans {
		from, to := ob.fset.Position(s[0]), ob.fset.Position(s[1])
		after := line > from.Line || line == from.Line && column >= from.Column
		before := line < to.Line || line == to.Line && column < to.Column
		if after && before {
			return true
		}
	}
	return false
}

func main() {
	equivalentsPath := flag.String("equivalents", "", "the file that lists the equivalent mutants")
	root := flag.String("root", ".", "the module's directory")
	minEfficacy := flag.Float64("min-efficacy", 0, "the least test efficacy, in percent, of each package")
	minCoverage := flag.Float64("min-coverage", 0, "the least mutant coverage, in percent, of each package")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: mutation -equivalents FILE -root DIR [-min-efficacy N] [-min-coverage N] PKG=RESULTS.json...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	ok, err := run(os.Stdout, *root, *equivalentsPath, flag.Args(), *minEfficacy, *minCoverage)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mutation:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

func run(w io.Writer, root, equivalentsPath string, args []string, minEfficacy, minCoverage float64) (bool, error) {
	equivalents := map[mutant]entry{}
	if equivalentsPath != "" {
		f, err := os.Open(equivalentsPath)
		if err != nil {
			return false, err
		}
		equivalents, err = readEquivalents(f)
		f.Close()
		if err != nil {
			return false, fmt.Errorf("%s: %w", equivalentsPath, err)
		}
	}
	var (
		tallies []tally
		dirs    []string
		stale   []string
		used    = map[mutant]bool{}
	)
	for _, arg := range args {
		dir, file, found := strings.Cut(arg, "=")
		if !found {
			return false, fmt.Errorf("%q: want DIR=RESULTS.json", arg)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return false, err
		}
		var res results
		if err := json.Unmarshal(data, &res); err != nil {
			return false, fmt.Errorf("%s: %w", file, err)
		}
		dir = path.Clean(dir)
		dirs = append(dirs, dir)
		t, err := count(root, dir, &res, equivalents, used, &stale)
		if err != nil {
			return false, err
		}
		tallies = append(tallies, t)
	}
	// Entries of the packages measured that met no mutant.
	for id, e := range equivalents {
		if !used[id] && slices.ContainsFunc(dirs, func(dir string) bool { return strings.HasPrefix(id.file, dir+"/") }) {
			stale = append(stale, fmt.Sprintf("%s (line %d): no such mutant", id, e.lineNo))
		}
	}
	slices.Sort(stale)

	ok := len(stale) == 0
	fmt.Fprintf(w, "%-18s %6s %5s %10s %11s %10s %9s %8s %8s %13s %7s\n", "package", "killed", "lived", "equivalent", "not covered", "unrunnable", "timed out", "efficacy", "coverage", "runnable cov.", "time")
	for i := range tallies {
		t := &tallies[i]
		fmt.Fprintf(w, "%-18s %6d %5d %10d %11d %10d %9d %8s %8s %13s %7s\n", t.dir, t.killed, t.lived, t.equivalent, t.notCovered, t.unrunnable, t.timedOut,
			formatPercent(t.efficacy()), formatPercent(t.coverage()), formatPercent(t.runnableCoverage()), t.elapsed.Round(time.Second))
		if t.efficacy() < minEfficacy || t.runnableCoverage() < minCoverage {
			ok = false
		}
	}
	for i := range tallies {
		t := &tallies[i]
		if len(t.survivors) > 0 {
			fmt.Fprintf(w, "\n%s: %d mutants lived or were not covered, not listed as equivalent:\n", t.dir, len(t.survivors))
			for _, s := range t.survivors {
				fmt.Fprintln(w, "  "+s)
			}
		}
		if len(t.outside) > 0 {
			fmt.Fprintf(w, "\n%s: %d mutants gremlins cannot run (case clauses, constants):\n", t.dir, len(t.outside))
			for _, s := range t.outside {
				fmt.Fprintln(w, "  "+s)
			}
		}
	}
	if len(stale) > 0 {
		fmt.Fprintf(w, "\n%s: %d stale entries:\n", equivalentsPath, len(stale))
		for _, s := range stale {
			fmt.Fprintln(w, "  "+s)
		}
	}
	if !ok {
		fmt.Fprintf(w, "\nbelow efficacy %.0f%% or runnable coverage %.0f%%, or stale entries\n", minEfficacy, minCoverage)
	}
	return ok, nil
}
