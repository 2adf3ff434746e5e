package cmd

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/advtest/advtest/pkg/certify"
	pprogress "github.com/advtest/advtest/pkg/progress"
	"github.com/advtest/advtest/pkg/report/format"
	"github.com/advtest/advtest/pkg/run"
)

func init() {
	extraCommands = append(extraCommands, newCertifyCommand)
}

// certifyFlags are `advtest certify`'s flags; run.Certify does the work.
type certifyFlags struct {
	o        run.CertifyOptions
	progress string
}

func newCertifyCommand() *cobra.Command {
	f := &certifyFlags{o: run.CertifyOptions{Params: certify.DefaultParams()}}
	c := &cobra.Command{
		Use:   "certify --model m.onnx --data x.npy --labels y.npy [--sigma 0.25]",
		Short: "Certify L2 robustness by randomized smoothing (Cohen et al. 2019)",
		Long: `certify runs CERTIFY of Cohen, Rosenfeld & Kolter 2019 on every sample: n0 noisy
copies select the top class, n more bound its probability from below
(Clopper-Pearson, 1 - alpha), and the smoothed classifier abstains or is
certified at L2 radius sigma * PhiInverse(p_lower). It reports certified
accuracy at --radii, the abstain rate and each sample's radius (--format: json by default, or table, markdown,
junit, html).

A model hardened with gaussian-noise (advtest.noise mark) is certified with
its own sigma and clip range; its in-graph noise is cut off so that the noise
is added once. Exit 1 when a --min-certified-accuracy gate fails.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if !c.Flags().Changed("sigma") {
				f.o.Params.Sigma = 0 // the model's own, else the default
			}
			return runCertify(c, f)
		},
	}
	addCertifyFlags(c, f)
	return c
}

func addCertifyFlags(c *cobra.Command, f *certifyFlags) {
	fl, o := c.Flags(), &f.o
	fl.StringVarP(&o.Model, "model", "m", "", "ONNX model file")
	fl.StringVarP(&o.Data, "data", "d", "", "data file: .npy, .npz, IDX(.gz) or .csv")
	fl.StringVarP(&o.Labels, "labels", "l", "", "labels file when --data holds no labels")
	fl.StringVar(&o.LabelColumn, "label-column", "", labelColumnUsage)
	fl.IntVar(&o.Limit, "limit", 0, "use only the first N samples (0: all)")
	fl.Uint64Var(&o.Seed, "seed", 1, "seed of all noise")
	fl.Float64Var(&o.Params.Sigma, "sigma", certify.DefaultSigma, "noise standard deviation in input space (default: the model's own in-graph noise, else 0.25)")
	fl.IntVar(&o.Params.N0, "n0", certify.DefaultN0, "noise draws that select the top class")
	fl.IntVar(&o.Params.N, "n", certify.DefaultN, "noise draws that bound the top class's probability")
	fl.Float64Var(&o.Params.Alpha, "alpha", certify.DefaultAlpha, "failure probability of each certificate")
	fl.IntVar(&o.Params.Batch, "batch", certify.DefaultBatch, "noisy copies per forward pass")
	fl.Float64SliceVar(&o.Radii, "radii", certify.DefaultRadii, "L2 radii of the certified-accuracy table")
	fl.StringArrayVar(&o.Gates, "min-certified-accuracy", nil, "R:ACC, repeatable: exit 1 when the certified accuracy at L2 radius R is below ACC (e.g. 0.5:0.6)")
	fl.StringVarP(&o.Output, "output", "o", "", "write the report to this file (atomically) instead of stdout")
	fl.StringVarP(&o.Format, "format", "f", "json", "report format: "+strings.Join(format.Formats(), ", "))
	_ = c.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(format.Formats(), cobra.ShellCompDirectiveNoFileComp))
	fl.StringVar(&f.progress, "progress", pprogress.Auto.String(), "progress: auto, bar, plain (CI logs) or none")
	_ = c.MarkFlagFilename("model", "onnx")
}

func runCertify(c *cobra.Command, f *certifyFlags) error {
	mode, err := pprogress.ParseMode(f.progress)
	if err != nil {
		return usageError(err)
	}
	o := f.o
	o.Progress, o.MaxMemory, o.ToolVersion = mode, memoryBudget(), toolVersion()
	o.Stdout, o.Stderr = c.OutOrStdout(), c.ErrOrStderr()
	_, err = run.Certify(c.Context(), o)
	return exitError(err)
}
