package cli

import "github.com/spf13/cobra"

func newWait() *cobra.Command {
	return &cobra.Command{Use: "wait RUN", Short: "Wait for a run's verdict"}
}
