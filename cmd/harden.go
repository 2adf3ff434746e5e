package cmd

import (
	"github.com/spf13/cobra"

	"github.com/advtest/advtest/pkg/config"
	"github.com/advtest/advtest/pkg/report"
	"github.com/advtest/advtest/pkg/run"
)

func init() {
	extraCommands = append(extraCommands, newHardenCommand)
}

// hardenFlags are harden's own flags, on top of the shared plan flags
// (--until-sr and --max-rounds are bound to the config like them).
type hardenFlags struct {
	untilCertified string
	outputModel    string
	checkpointDir  string
	resume         bool
}

func newHardenCommand() *cobra.Command {
	pf := &planFlags{}
	hf := &hardenFlags{}
	c := &cobra.Command{
		Use:   "harden --config advtest.yaml [--until-sr 0.05 | --until-certified 0.25:0.6] [--max-rounds N] [--output-model hardened.onnx]",
		Short: "Apply defences round by round until the attack success rate meets a target",
		Long:  hardenLong,
		Example: `  advtest harden --config configs/mnist-cnn-harden.yaml
  advtest harden -c advtest.yaml --until-sr 0.05 --max-rounds 3 --output-model hardened.onnx
  advtest harden -c advtest.yaml --until-certified 0.25:0.6
  advtest harden -c advtest.yaml --checkpoint-dir ckpt --resume`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o, err := runOptions(c, pf)
			if err != nil {
				return usageError(err)
			}
			if c.Flags().Changed("until-certified") {
				if err := setUntilCertified(o.Plan, hf.untilCertified); err != nil {
					return usageError(err)
				}
			}
			_, err = run.Harden(c.Context(), o, run.HardenOptions{OutputModel: hf.outputModel, CheckpointDir: hf.checkpointDir, Resume: hf.resume})
			return exitError(err)
		},
	}
	addPlanFlags(c, pf)
	addHardenFlags(c, hf)
	return c
}

func addHardenFlags(c *cobra.Command, hf *hardenFlags) {
	f := c.Flags()
	f.Float64("until-sr", 0, "worst-case success rate to reach (overrides harden.until_sr)")
	f.Int("max-rounds", config.DefaultMaxRounds, "most defence rounds (overrides harden.max_rounds)")
	f.StringVar(&hf.untilCertified, "until-certified", "", "R:ACC: certified accuracy (randomized smoothing) to reach at L2 radius R, e.g. 0.25:0.6 (overrides harden.until_certified's radius and accuracy; its other keys still apply)")
	f.StringVar(&hf.outputModel, "output-model", "", "write the hardened model here (default <model>-hardened.onnx beside the report file, else in the working directory)")
	f.StringVar(&hf.checkpointDir, "checkpoint-dir", "", "checkpoint folder (default <output model>.checkpoint, removed at the end)")
	f.BoolVar(&hf.resume, "resume", false, "continue from the checkpoint in --checkpoint-dir")
	_ = c.MarkFlagFilename("output-model", "onnx")
	_ = c.MarkFlagDirname("checkpoint-dir")
}

const hardenLong = `harden measures the model with the attack pool (round 0), then applies the
defences of harden.defences one per round, training on train.data, and
measures again with the same pool and seed, until the worst-case success rate
is at or below harden.until_sr (--until-sr) or max_rounds rounds have run.
Hardened models are attacked through BPDA when a squeezer is in their graph
and with EOT when inference noise is (defend.AdaptiveWith, seeded by the
run's seed), so neither can hide the gradient.

With harden.until_certified (--until-certified R:ACC) every round is also
certified by randomized smoothing (Cohen et al. 2019, as advtest certify, on
the first until_certified.samples evaluation samples with its sigma, n0, n
and alpha), and the loop runs until the certified accuracy at L2 radius R is
at least ACC; the natural defence is gaussian-augmentation at that sigma. The
report then holds the final model's certification.

Rules: once the schedule is exhausted its last trainer defence is repeated;
adversarial trainers with an unset "attack" parameter train against the
pool's first bounded white-box attack; a round that loses more than
max_clean_drop clean (or validation) accuracy against round 0, or that does
not lower the worst-case SR, is rejected and its model dropped.

Each round's row is printed as it ends. The last accepted model is written
atomically to --output-model (default: <model>-hardened.onnx beside the
report file, or in the working directory when the report goes to stdout).
It takes input-space data: the config's preprocessing (scale, mean/std,
layout) is part of its graph, so attack it without those keys.

On the final model harden runs the gradient-masking sanity checks of
Carlini et al. 2019 (§5): SR must approach 100% as eps grows to the clip
range, an unbounded attack must reach ~100%, a black-box attack must not
beat the white-box one, and more steps must not lower the SR. A flagged
check fails the gate ("gradient masking suspected"); --sanity=false skips
them.

A checkpoint (the current model and a small JSON state) is written after
every round to --checkpoint-dir (default: <output model>.checkpoint, removed
when the run ends); after an interrupt (exit 130) --resume continues from it
to the same result as an uninterrupted run.

Exit codes: 0 target met and every gate passed, 1 target missed or a gate
failed (sanity checks included), 2 usage, config or input error,
130 interrupted.`

// setUntilCertified sets the radius and accuracy of the plan's certified
// target from --until-certified R:ACC, keeping the config's other keys.
func setUntilCertified(plan *config.Plan, spec string) error {
	g, err := report.ParseRadiusAccuracy("--until-certified", spec)
	if err != nil {
		return err
	}
	u := config.UntilCertified{}
	if plan.Harden.UntilCertified != nil {
		u = *plan.Harden.UntilCertified
	}
	u.Radius, u.Accuracy = g.Radius, g.MinAccuracy
	plan.Harden.UntilCertified = &u
	return nil
}
