package cmd

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
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
advtest_report_diff.md, ...) into --dir, in the layout of cobra's doc
generator: synopsis, usage, examples, flags, inherited flags and links to
the parent and child commands. The pages depend only on the command tree,
so CI can check that the committed pages are current.`,
		Example: `  advtest docs --dir docs/cli`,
		Args:    cobra.NoArgs,
		Hidden:  false,
		RunE: func(c *cobra.Command, _ []string) error {
			if dir == "" {
				return usageError(errors.New("docs: --dir is required"))
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return usageError(err)
			}
			n, err := genMarkdownTree(c.Root(), dir)
			if err != nil {
				return usageError(err)
			}
			fmt.Fprintf(c.OutOrStdout(), "wrote %d pages to %s\n", n, dir)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "folder to write the pages into (created if missing)")
	_ = c.MarkFlagDirname("dir")
	return c
}

// genMarkdownTree writes a page for cmd and each of its available
// descendants, and returns the number written. It follows the layout of
// github.com/spf13/cobra/doc.GenMarkdownTree (which needs
// github.com/cpuguy83/go-md2man in go.mod, for man pages) without the
// "Auto generated ... on <date>" footer, so that the output is
// reproducible.
func genMarkdownTree(cmd *cobra.Command, dir string) (int, error) {
	n := 0
	for _, c := range cmd.Commands() {
		if !c.IsAvailableCommand() || c.IsAdditionalHelpTopicCommand() {
			continue
		}
		k, err := genMarkdownTree(c, dir)
		if err != nil {
			return n, err
		}
		n += k
	}
	var buf bytes.Buffer
	genMarkdown(cmd, &buf)
	path := filepath.Join(dir, docBasename(cmd)+".md")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return n, err
	}
	return n + 1, nil
}

func docBasename(c *cobra.Command) string {
	return strings.ReplaceAll(c.CommandPath(), " ", "_")
}

func genMarkdown(cmd *cobra.Command, buf *bytes.Buffer) {
	cmd.InitDefaultHelpCmd()
	cmd.InitDefaultHelpFlag()
	name := cmd.CommandPath()
	fmt.Fprintf(buf, "## %s\n\n%s\n\n", name, cmd.Short)
	if cmd.Long != "" {
		fmt.Fprintf(buf, "### Synopsis\n\n%s\n\n", cmd.Long)
	}
	if cmd.Runnable() {
		fmt.Fprintf(buf, "```\n%s\n```\n\n", cmd.UseLine())
	}
	if cmd.Example != "" {
		fmt.Fprintf(buf, "### Examples\n\n```\n%s\n```\n\n", cmd.Example)
	}
	if fs := cmd.NonInheritedFlags(); fs.HasAvailableFlags() {
		fmt.Fprintf(buf, "### Options\n\n```\n%s```\n\n", fs.FlagUsages())
	}
	if fs := cmd.InheritedFlags(); fs.HasAvailableFlags() {
		fmt.Fprintf(buf, "### Options inherited from parent commands\n\n```\n%s```\n\n", fs.FlagUsages())
	}
	var links []string
	if cmd.HasParent() {
		p := cmd.Parent()
		links = append(links, fmt.Sprintf("* [%s](%s.md)\t - %s", p.CommandPath(), docBasename(p), p.Short))
	}
	children := cmd.Commands()
	sort.Slice(children, func(i, j int) bool { return children[i].Name() < children[j].Name() })
	for _, c := range children {
		if !c.IsAvailableCommand() || c.IsAdditionalHelpTopicCommand() {
			continue
		}
		links = append(links, fmt.Sprintf("* [%s](%s.md)\t - %s", c.CommandPath(), docBasename(c), c.Short))
	}
	if len(links) > 0 {
		fmt.Fprintf(buf, "### SEE ALSO\n\n%s\n", strings.Join(links, "\n"))
	}
}
