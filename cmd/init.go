package cmd

import (
	"github.com/advtest/advtest/pkg/run"
	"github.com/spf13/cobra"
)

func init() {
	extraCommands = append(extraCommands, newInitCommand)
}

func newInitCommand() *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "init [FILE]",
		Short: "Write a commented starter config (advtest.yaml by default)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			path := "advtest.yaml"
			if len(args) == 1 {
				path = args[0]
			}
			return exitError(run.Init(c.OutOrStdout(), path, force))
		},
	}
	c.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	return c
}
