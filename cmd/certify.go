package cmd

import (
	"github.com/spf13/cobra"

	"github.com/advtest/advtest/pkg/certify"
	pprogress "github.com/advtest/advtest/pkg/progress"
	"github.com/advtest/advtest/pkg/run"
)

func init() {
	extraCommands = append(extraCommands, newCertifyCommand)
}

// certifyFlags are `advtest certify`'s flags; runCertify does the work
// (run.Certify does the work).
type certifyFlags struct {
	model, data, labels, output, progress string
	limit                                 int
	seed                                  uint64
	p                                     certify.Params
	radii                                 []float64
	gates                                 []string
}

func newCertifyCommand() *cobra.Command {
	f := &certifyFlags{p: certify.DefaultParams()}
	c := &cobra.Command{
		Use:   "certify --model m.onnx --data x.npy --labels y.npy [--sigma 0.25]",
		Short: "Certify L2 robustness by randomized smoothing (Cohen et al. 2019)",
		Long: `certify runs CERTIFY of Cohen, Rosenfeld & Kolter 2019 on every sample: n0 noisy
copies select the top class, n more bound its probability from below
(Clopper-Pearson, 1 - alpha), and the smoothed classifier abstains or is
certified at L2 radius sigma * PhiInverse(p_lower). It reports certified
accuracy at --radii, the abstain rate and each sample's radius (JSON).

A model hardened with gaussian-noise (advtest.noise mark) is certified with
its own sigma and clip range; its in-graph noise is cut off so that the noise
is added once. Exit 1 when a --min-certified-accuracy gate fails.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if !c.Flags().Changed("sigma") {
				f.p.Sigma = 0 // the model's own, else the default
			}
			return runCertify(c, f)
		},
	}
	fl := c.Flags()
	fl.StringVarP(&f.model, "model", "m", "", "ONNX model file")
	fl.StringVarP(&f.data, "data", "d", "", "data file: .npy, .npz, IDX(.gz) or .csv")
	fl.StringVarP(&f.labels, "labels", "l", "", "labels file when --data holds no labels")
	fl.IntVar(&f.limit, "limit", 0, "use only the first N samples (0: all)")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of all noise")
	fl.Float64Var(&f.p.Sigma, "sigma", certify.DefaultSigma, "noise standard deviation in input space (default: the model's own in-graph noise, else 0.25)")
	fl.IntVar(&f.p.N0, "n0", certify.DefaultN0, "noise draws that select the top class")
	fl.IntVar(&f.p.N, "n", certify.DefaultN, "noise draws that bound the top class's probability")
	fl.Float64Var(&f.p.Alpha, "alpha", certify.DefaultAlpha, "failure probability of each certificate")
	fl.IntVar(&f.p.Batch, "batch", certify.DefaultBatch, "noisy copies per forward pass")
	fl.Float64SliceVar(&f.radii, "radii", certify.DefaultRadii, "L2 radii of the certified-accuracy table")
	fl.StringArrayVar(&f.gates, "min-certified-accuracy", nil, "R:ACC, repeatable: exit 1 when the certified accuracy at L2 radius R is below ACC (e.g. 0.5:0.6)")
	fl.StringVarP(&f.output, "output", "o", "", "write the JSON report to this file (atomically) instead of stdout")
	fl.StringVar(&f.progress, "progress", "auto", "progress: auto, bar, plain (CI logs) or none")
	return c
}

func runCertify(c *cobra.Command, f *certifyFlags) error {
	mode, err := pprogress.ParseMode(f.progress)
	if err != nil {
		return usageError(err)
	}
	_, err = run.Certify(c.Context(), run.CertifyOptions{
		Model: f.model, Data: f.data, Labels: f.labels, Output: f.output, Limit: f.limit, Seed: f.seed,
		Params: f.p, Radii: f.radii, Gates: f.gates, Progress: mode, MaxMemory: memoryBudget(),
		ToolVersion: toolVersion(), Stdout: c.OutOrStdout(), Stderr: c.ErrOrStderr(),
	})
	return exitError(err)
}
