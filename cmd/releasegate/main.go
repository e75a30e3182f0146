// Command releasegate judges recorded traces with the collector's own code
// (check), waits for a run's verdict in CI (wait), and checks gates files
// (lint). Exit codes are documented in `releasegate --help`.
package main

import (
	"os"

	"github.com/releasegate/releasegate/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
