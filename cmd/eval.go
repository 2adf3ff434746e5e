package cmd

import (
	"github.com/spf13/cobra"

	"github.com/advtest/advtest/pkg/run"
)

func newEvalCommand() *cobra.Command {
	o := run.EvalOptions{}
	c := &cobra.Command{
		Use:   "eval --model m.onnx --data x.npy --labels y.npy",
		Short: "Measure a model's clean accuracy on a labelled dataset",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.Stdout, o.MaxMemory = c.OutOrStdout(), memoryBudget()
			_, err := run.Eval(c.Context(), o)
			return exitError(err)
		},
	}
	f := c.Flags()
	f.StringVarP(&o.Model, "model", "m", "", "ONNX model file (required)")
	f.StringVarP(&o.Data, "data", "d", "", "data file: .npy, .npz, IDX(.gz) or .csv (required)")
	f.StringVarP(&o.Labels, "labels", "l", "", "labels file (.npy or IDX) when --data holds no labels")
	f.StringVar(&o.LabelColumn, "label-column", "", labelColumnUsage)
	addTextFormatFlag(c, &o.Format)
	f.IntVar(&o.BatchSize, "batch-size", 128, "samples per forward pass")
	f.IntVar(&o.Limit, "limit", 0, "use only the first N samples (0: all)")
	return c
}

// addTextFormatFlag declares --format/-f of the commands that print
// facts rather than a report: text (the default) or json.
func addTextFormatFlag(c *cobra.Command, format *string) {
	c.Flags().StringVarP(format, "format", "f", "text", "output format: text or json")
	_ = c.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
}
