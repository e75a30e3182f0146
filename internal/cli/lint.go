package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/releasegate/releasegate/config"
)

func newLint() *cobra.Command {
	return &cobra.Command{
		Use:   "lint GATES_FILE...",
		Short: "Check gates files as the collector loads them",
		Long: withExitCodes(`Lint decodes and compiles each gates file as the collector does at start-up,
and prints the collector's own errors: the gate, the field and the column.
It exits 0 when every file is good, 4 otherwise.`),
		Example: `  releasegate lint gates.yaml
  releasegate lint examples/*.yaml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, paths []string) error {
			bad := 0
			for _, path := range paths {
				gates, err := config.Load(path)
				if err != nil {
					bad++
					fmt.Fprintln(cmd.ErrOrStderr(), err)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %d gates\n", path, gates.Len())
			}
			if bad > 0 {
				return exitf(ExitUsage, "%d of %d gates files have errors", bad, len(paths))
			}
			return nil
		},
	}
}
