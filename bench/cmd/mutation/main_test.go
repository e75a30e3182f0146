package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const sample = `{"files": [{"file_name": "explain.go", "mutations": [
	{"type": "CONDITIONALS_BOUNDARY", "status": "KILLED", "line": 10, "column": 5},
	{"type": "CONDITIONALS_NEGATION", "status": "KILLED", "line": 10, "column": 5},
	{"type": "CONDITIONALS_BOUNDARY", "status": "LIVED", "line": 20, "column": 7},
	{"type": "ARITHMETIC_BASE", "status": "LIVED", "line": 30, "column": 9},
	{"type": "ARITHMETIC_BASE", "status": "NOT COVERED", "line": 40, "column": 2},
	{"type": "INCREMENT_DECREMENT", "status": "TIMED OUT", "line": 50, "column": 3},
	{"type": "CONDITIONALS_NEGATION", "status": "NOT COVERED", "line": 45, "column": 7}
]}], "elapsed_time": 75.2}`

// source is config/explain.go of a module: line 40 is an ordinary
// statement, line 45 a case clause, whose expression Go's coverage
// profile has in no block.
func source(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	lines := []string{"package config", "", "func f(n int) int {"}
	for len(lines) < 39 {
		lines = append(lines, "\t// filler")
	}
	lines = append(lines, "\tn = n - 1", "\tswitch {", "\t// filler", "\t// filler", "\t// filler", "\tcase n < 0:", "\t\treturn 0", "\t}", "\treturn n", "}")
	if err := os.MkdirAll(filepath.Join(root, "config"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "config", "explain.go"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// Listed equivalents count in neither figure; survivors not listed are
// printed; entries that name no mutant, or a killed one, are stale.
func TestRun(t *testing.T) {
	res := write(t, "config.json", sample)
	for _, tt := range []struct {
		name, equivalents string
		ok                bool
		want, notWant     []string
	}{
		{
			name: "nothing listed",
			ok:   false,
			want: []string{
				"config 2 2 0 2 1 1 50.00% 66.67% 80.00% 1m15s",
				"LIVED config/explain.go:20:7 CONDITIONALS_BOUNDARY",
				"LIVED config/explain.go:30:9 ARITHMETIC_BASE",
				"NOT COVERED config/explain.go:40:2 ARITHMETIC_BASE",
			},
		},
		{
			name: "equivalents listed",
			equivalents: "# comment\n\nconfig/explain.go:20:7 CONDITIONALS_BOUNDARY — equal values give the same answer either way\n" +
				"config/explain.go:30:9 ARITHMETIC_BASE -- the result is only compared with zero\n" +
				"config/explain.go:40:2 ARITHMETIC_BASE — unreachable\n",
			ok:      true,
			want:    []string{"config 2 0 3 1 1 1 100.00% 66.67% 100.00% 1m15s", "NOT COVERED config/explain.go:45:7 CONDITIONALS_NEGATION"},
			notWant: []string{"LIVED", "lived or were not covered", "stale"},
		},
		{
			name: "stale entries",
			equivalents: "config/explain.go:20:7 CONDITIONALS_BOUNDARY — fine\n" +
				"config/explain.go:10:5 CONDITIONALS_BOUNDARY — killed now\n" +
				"config/explain.go:99:1 ARITHMETIC_BASE — the line moved\n" +
				"internal/traces/buffer.go:1:1 ARITHMETIC_BASE — another package, not measured\n",
			ok: false,
			want: []string{
				"config/explain.go:10:5 CONDITIONALS_BOUNDARY (line 2): killed, so not equivalent",
				"config/explain.go:99:1 ARITHMETIC_BASE (line 3): no such mutant",
				"LIVED config/explain.go:30:9 ARITHMETIC_BASE",
			},
			notWant: []string{"buffer.go", "explain.go:20:7"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			eq := write(t, "equivalents.txt", tt.equivalents)
			var out strings.Builder
			ok, err := run(&out, source(t), eq, []string{"config=" + res}, 90, 90)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.ok {
				t.Errorf("ok = %v, want %v", ok, tt.ok)
			}
			// Columns are compared, not their padding.
			var lines []string
			for l := range strings.Lines(out.String()) {
				lines = append(lines, strings.Join(strings.Fields(l), " "))
			}
			got := strings.Join(lines, "\n")
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("no %q in\n%s", w, out.String())
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(got, w) {
					t.Errorf("%q in\n%s", w, out.String())
				}
			}
		})
	}
}

func TestBadEquivalents(t *testing.T) {
	res := write(t, "config.json", sample)
	for _, bad := range []string{
		"config/explain.go:20:7 CONDITIONALS_BOUNDARY\n", // no reason
		"config/explain.go:20 CONDITIONALS_BOUNDARY — no column\n",
		"config/explain.go:20:7 CONDITIONALS_BOUNDARY — a\nconfig/explain.go:20:7 CONDITIONALS_BOUNDARY — twice\n",
	} {
		if _, err := run(&strings.Builder{}, source(t), write(t, "eq.txt", bad), []string{"config=" + res}, 0, 0); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
