package cmd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

func init() {
	extraCommands = append(extraCommands, newDocsCommand)
}

func newDocsCommand() *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "docs --dir docs/cli",
		Short: "Write markdown documentation of every command",
		Long: `docs writes one markdown page per command (advtest.md, advtest_attack.md,
advtest_report_diff.md, ...) into --dir with cobra's doc generator:
synopsis, usage, examples, flags, inherited flags and links to the parent
and child commands. The pages carry no generation date, so CI can check
that committed pages are current.`,
		Example: `  advtest docs --dir docs/cli`,
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if dir == "" {
				return usageError(errors.New("docs: --dir is required"))
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return usageError(err)
			}
			root := c.Root()
			disableAutoGenTag(root)
			if err := doc.GenMarkdownTree(root, dir); err != nil {
				return usageError(err)
			}
			pages, _ := filepath.Glob(filepath.Join(dir, "*.md"))
			fmt.Fprintf(c.OutOrStdout(), "wrote %d pages to %s\n", len(pages), dir)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "folder to write the pages into (created if missing)")
	_ = c.MarkFlagDirname("dir")
	return c
}

// disableAutoGenTag drops cobra/doc's "Auto generated on <date>" footer
// from every page, so that the output is reproducible.
func disableAutoGenTag(c *cobra.Command) {
	c.DisableAutoGenTag = true
	for _, sub := range c.Commands() {
		disableAutoGenTag(sub)
	}
}
