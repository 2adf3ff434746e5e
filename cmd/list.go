package cmd

import (
	"github.com/spf13/cobra"

	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/defend"
	"github.com/advtest/advtest/pkg/run"
)

func init() {
	extraCommands = append(extraCommands, newAttacksCommand, newDefencesCommand)
}

func newDefencesCommand() *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:     "defences [NAME...] [--format text|json|markdown]",
		Aliases: []string{"defenses"},
		Short:   "List the defences with their kind, parameters, types, defaults and docs",
		Long: `defences lists every registered defence (or the named ones): its kind
(trainer, graph rewrite, input wrapper or detector), a one-line summary and
each parameter with its type, default and meaning. Parameters are given
under harden.defences[].params in the config.`,
		Example: `  advtest defences
  advtest defences --format markdown > docs/defences.md`,
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return defend.Names(), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			return exitError(run.Defences(c.OutOrStdout(), format, args))
		},
	}
	c.Flags().StringVarP(&format, "format", "f", "text", "output format: text, json or markdown")
	_ = c.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(run.ListFormats, cobra.ShellCompDirectiveNoFileComp))
	return c
}

func newAttacksCommand() *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "attacks [NAME...] [--format text|json|markdown]",
		Short: "List the attacks with their parameters, types, defaults and docs",
		Long: `attacks lists every registered attack (or the named ones): a one-line
summary and each parameter with its type, default and meaning. Parameters
are given in a spec (-a pgd:eps=0.1,steps=40) or under attacks[].params
in the config.`,
		Example: `  advtest attacks
  advtest attacks pgd square
  advtest attacks --format json`,
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return attack.Names(), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			return exitError(run.Attacks(c.OutOrStdout(), format, args))
		},
	}
	c.Flags().StringVarP(&format, "format", "f", "text", "output format: text, json or markdown")
	_ = c.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(run.ListFormats, cobra.ShellCompDirectiveNoFileComp))
	return c
}
