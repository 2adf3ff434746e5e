package cmd

import (
	"github.com/advtest/advtest/pkg/run"
	"github.com/spf13/cobra"
)

func newInspectCommand() *cobra.Command {
	var model, format string
	c := &cobra.Command{
		Use:   "inspect --model m.onnx",
		Short: "Describe an ONNX model and whether advtest can run it",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := run.Inspect(c.OutOrStdout(), model, format)
			return exitError(err)
		},
	}
	c.Flags().StringVarP(&model, "model", "m", "", "ONNX model file (required)")
	addTextFormatFlag(c, &format)
	return c
}
