package cmd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/advtest/advtest/pkg/certify"
	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/onnxmodel"
	pprogress "github.com/advtest/advtest/pkg/progress"
	"github.com/advtest/advtest/pkg/report"
)

func init() {
	extraCommands = append(extraCommands, newCertifyCommand)
}

// certifyFlags are `advtest certify`'s flags; runCertify does the work
// (the lead moves it to pkg/run).
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
	start := time.Now()
	if f.model == "" || f.data == "" {
		return usageError(fmt.Errorf("certify: --model and --data are required"))
	}
	mode, err := pprogress.ParseMode(f.progress)
	if err != nil {
		return usageError(err)
	}
	var gates []report.CertifiedAccuracyGate
	for _, s := range f.gates {
		g, err := report.ParseCertifiedAccuracyGate(s)
		if err != nil {
			return usageError(err)
		}
		gates = append(gates, g)
	}
	m, set, err := loadModelAndData(f.model, f.data, f.labels, dataset.Options{Limit: f.limit, MaxBytes: memoryBudget()})
	if err != nil {
		return usageError(err)
	}
	base, err := certify.ForModel(m, f.p)
	if err != nil {
		return usageError(err)
	}
	for _, w := range base.Warnings {
		fmt.Fprintln(c.ErrOrStderr(), "advtest: warning:", w)
	}
	pr := pprogress.New(c.ErrOrStderr(), mode, pprogress.Options{})
	pr.Start("certify", set.Len())
	samples, runErr := certify.Certify(c.Context(), base.Model, set.X, set.Y, certify.Options{
		Params: base.Params, Seed: f.seed, Progress: func(done, _ int) { pr.Done(done) },
	})
	pr.Close()
	if runErr != nil && samples == nil {
		return usageError(runErr)
	}
	rep := report.New(toolVersion())
	rep.Seed = f.seed
	if sum, err := fileSHA256(f.model); err == nil {
		rep.Model = report.Model{Path: f.model, SHA256: sum, Opset: m.Opset, Producer: producerOf(m), EndsWithSoftmax: m.FinalActivation != ""}
	}
	rep.Data = report.Data{Path: set.Path, LabelsPath: set.LabelsPath, SHA256: set.DataSHA256, LabelsSHA256: set.LabelsSHA256, N: set.Len()}
	rep.Config = map[string]any{"sigma": base.Params.Sigma, "n0": base.Params.N0, "n": base.Params.N, "alpha": base.Params.Alpha, "batch": base.Params.Batch, "radii": f.radii}
	rep.Certification = certify.Summarize(samples, f.radii, base.Params, base.NoiseSource, time.Since(start))
	rep.Gate.Notes = append(rep.Gate.Notes, base.Notes...)
	if runErr != nil {
		rep.Incomplete, rep.IncompleteReason = true, runErr.Error()
	}
	rep.Timing = report.Timing{Created: start.UTC().Format(time.RFC3339), Seconds: time.Since(start).Seconds()}
	passed := rep.ApplyCertifiedGate(gates)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return usageError(err)
	}
	if f.output == "" {
		if _, err := c.OutOrStdout().Write(buf.Bytes()); err != nil {
			return usageError(err)
		}
	} else if err := onnxmodel.WriteFileAtomic(f.output, buf.Bytes()); err != nil {
		return usageError(err)
	}
	cert := rep.Certification
	fmt.Fprintf(c.ErrOrStderr(), "advtest: certified %d samples at sigma %g (n=%d, alpha=%g): accuracy %.3f, abstain %.3f\n", cert.N, cert.Sigma, cert.NDraws, cert.Alpha, cert.Accuracy, cert.AbstainRate)
	for _, r := range cert.Radii {
		fmt.Fprintf(c.ErrOrStderr(), "advtest:   radius %-5g certified accuracy %.3f (%d/%d)\n", r.Radius, r.CertifiedAccuracy, r.NCertified, cert.N)
	}
	if runErr != nil {
		return usageError(fmt.Errorf("%w (the report is marked incomplete)", runErr))
	}
	if !passed {
		return &ExitError{Code: ExitGateFailed, Err: fmt.Errorf("gate failed: %v", rep.Gate.Reasons)}
	}
	return nil
}
