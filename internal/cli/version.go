package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func newVersion() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the command's version",
		Long:    withExitCodes("Version prints the command's version: the module version it was installed\nat, or the commit it was built from."),
		Example: "  releasegate version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "releasegate %s (%s)\n", version(), runtime.Version())
			return nil
		},
	}
}

// version is the module version go install built, or the commit a build
// from a checkout was made of.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var revision, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+modified"
			}
		}
	}
	if revision == "" {
		return "(devel)"
	}
	return "(devel) " + revision + modified
}
