// Package cli is the releasegate command: check judges recorded traces
// with the collector's code paths, wait is the CI step that waits for a
// run's verdict, lint checks a gates file as the collector loads it.
package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Exit codes, the same for every command. With several runs, the worst.
const (
	ExitPassed       = 0 // passed, warnings included
	ExitFailed       = 1 // a gate failed
	ExitInconclusive = 2 // inconclusive, or no data
	ExitError        = 3 // a gate could not be evaluated
	ExitUsage        = 4 // usage, gates file or input error
	ExitNoVerdict    = 5 // no final verdict: unreachable, unauthorized, unknown run, timed out
)

const exitCodes = `Exit codes:
  0  passed (warnings included)
  1  failed
  2  inconclusive, or no data
  3  error: a gate could not be evaluated
  4  usage, gates file or input error
  5  no final verdict could be had: collector unreachable, unauthorized,
     run unknown, timed out
With several runs, the worst.`

// exitError is an error with the exit code it ends the command with.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exit wraps err with its exit code.
func exit(code int, err error) error { return &exitError{code: code, err: err} }

// exitf is exit with a formatted error.
func exitf(code int, format string, args ...any) error {
	return exit(code, fmt.Errorf(format, args...))
}

// verdictError ends a command whose verdict is not passed: its code, and no
// message (the verdict was printed).
type verdictError struct{ code int }

func (e verdictError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// Main runs the command line args and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	var verdict verdictError
	var exitErr *exitError
	switch {
	case err == nil:
		return ExitPassed
	case errors.As(err, &verdict):
		return verdict.code
	case errors.As(err, &exitErr):
		fmt.Fprintf(stderr, "releasegate: %v\n", err)
		return exitErr.code
	default: // cobra's own: unknown command or flag, wrong arguments
		fmt.Fprintf(stderr, "releasegate: %v\nRun 'releasegate --help' for usage.\n", err)
		return ExitUsage
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "releasegate",
		Short: "Release gates on OpenTelemetry traces",
		Long: `releasegate judges runs of a release on their traces, with the gates and
the code of the releasegate collector distribution.

` + exitCodes,
		Example: `  releasegate check --gates gates.yaml traces.jsonl
  releasegate wait "$GITHUB_RUN_ID" --finish
  releasegate lint gates.yaml`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.AddCommand(newCheck(), newWait(), newLint(), newVersion())
	return root
}

// withExitCodes appends the exit codes to a command's help.
func withExitCodes(long string) string { return long + "\n\n" + exitCodes }
