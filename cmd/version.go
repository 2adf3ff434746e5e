package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func init() {
	extraCommands = append(extraCommands, newVersionCommand)
}

// versionInfo is what `advtest version` prints.
type versionInfo struct {
	Version   string `json:"version"`
	Module    string `json:"module,omitempty"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
	Revision  string `json:"vcs_revision,omitempty"`
	Time      string `json:"vcs_time,omitempty"`
	Modified  bool   `json:"vcs_modified,omitempty"`
}

// buildVersion gathers the tool version and what the Go toolchain recorded
// in the binary. The VCS fields are empty when the binary was built
// without VCS stamping (-buildvcs=false, or outside a checkout).
func buildVersion() versionInfo {
	v := versionInfo{Version: toolVersion(), GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	v.Module = bi.Main.Path
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

func newVersionCommand() *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "version [--format text|json]",
		Short: "Print the advtest version, the Go version and the VCS revision it was built from",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return usageError(writeVersion(c.OutOrStdout(), format, buildVersion()))
		},
	}
	c.Flags().StringVarP(&format, "format", "f", "text", "output format: text or json")
	_ = c.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return c
}

func writeVersion(w io.Writer, format string, v versionInfo) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "text":
		rev := v.Revision
		if rev == "" {
			rev = "unknown (built without VCS information)"
		} else if v.Modified {
			rev += " (modified)"
		}
		fmt.Fprintf(w, "advtest %s\n", v.Version)
		fmt.Fprintf(w, "go:       %s %s\n", v.GoVersion, v.Platform)
		fmt.Fprintf(w, "revision: %s\n", rev)
		if v.Time != "" {
			fmt.Fprintf(w, "built at: %s\n", v.Time)
		}
		return nil
	}
	return fmt.Errorf("version: --format %q: want text or json", format)
}
