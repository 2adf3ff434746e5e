package cmd

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/advtest/advtest/pkg/config"
	"github.com/advtest/advtest/pkg/onnxmodel"
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
			if path == "-" {
				_, err := fmt.Fprint(c.OutOrStdout(), config.StarterConfig())
				return err
			}
			if _, err := os.Stat(path); err == nil && !force {
				return usageError(fmt.Errorf("%s already exists (use --force to overwrite)", path))
			}
			if err := onnxmodel.WriteFileAtomic(path, []byte(config.StarterConfig())); err != nil {
				return usageError(err)
			}
			fmt.Fprintf(c.OutOrStdout(), "wrote %s: edit model, data and the attack pool, then run `advtest attack --config %s`\n", path, path)
			return nil
		},
	}
	c.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	return c
}
