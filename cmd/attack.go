package cmd

import (
	"github.com/advtest/advtest/pkg/run"
	"github.com/spf13/cobra"
)

func init() {
	extraCommands = append(extraCommands, newAttackCommand)
}

func newAttackCommand() *cobra.Command {
	pf := &planFlags{}
	c := &cobra.Command{
		Use:   "attack --model m.onnx --data x.npy --labels y.npy [--config advtest.yaml]",
		Short: "Attack a model with a pool of adversarial attacks and report how often it is fooled",
		Long: `attack classifies every sample, runs each attack of the pool on the samples the
model gets right, and reports per attack and for the worst case over the pool
the success rate (SR), robust accuracy and perturbation sizes.

A model whose graph holds an advtest preprocessor defence is attacked the way
its critics would: through BPDA for a squeezer, with EOT for inference noise.
After the pool it runs the gradient-masking sanity checks of Carlini et al.
2019 (--sanity=false skips them): SR must approach 100% as eps grows and for
an unbounded attack, more steps must not lower it, and black-box must not
beat white-box; a flagged check fails the gate. A model that carries a
squeeze-detector gets its false-positive and detection rates reported.

It exits 1 when a gate fails (--fail-above, max_sr, --baseline with
--max-regression, a flagged sanity check) and 2 on a usage, config or input
error. The report is always written before the exit code is decided.`,
		Example: `  advtest attack --config configs/mnist-cnn.yaml
  advtest attack -m model.onnx -d x.npy -l y.npy -a pgd:norm=linf,eps=0.1,steps=40 --fail-above 0.5
  advtest attack --config advtest.yaml --format json -o report.json --baseline last.json --max-regression 0.02`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o, err := runOptions(c, pf)
			if err != nil {
				return usageError(err)
			}
			_, err = run.Attack(c.Context(), o)
			return exitError(err)
		},
	}
	addPlanFlags(c, pf)
	return c
}
