package run

import (
	"context"
	"fmt"

	"github.com/advtest/advtest/pkg/defend"
	"github.com/advtest/advtest/pkg/eval"
	"github.com/advtest/advtest/pkg/report"
	"github.com/advtest/advtest/pkg/tensor"
)

// detectorNote says what the detector figures do and do not mean.
const detectorNote = "the attacks ignored the detector (non-adaptive): an attacker who also evades it (Carlini & Wagner 2017; He et al. 2017 for feature squeezing) is not measured; the attack SRs above count detected examples as successes"

// detectorResult scores the evaluation data and every attack's
// adversarial examples with the input detector the model carries (the
// squeeze-detector defence, Xu et al. 2018): the false-positive rate on
// the clean samples and the detection rate on each attack's fooling
// examples. It returns nil when the model carries no detector. res must
// have kept every fooling example (PoolOptions.KeepExamples ≥ samples).
func detectorResult(ctx context.Context, w *workload, res *eval.PoolResult) (*report.DetectorResult, error) {
	if w.model == nil {
		return nil, nil
	}
	det, ok, err := defend.DetectorFromModel(w.model)
	if err != nil || !ok {
		return nil, err
	}
	det.Clf = w.clf
	// The clean false-positive rate scores every sample at once: the
	// detector's model keeps every fooling example too (examplesToKeep),
	// so its run holds the set in memory whether or not it streams.
	x, err := w.data.readAll()
	if err != nil {
		return nil, fmt.Errorf("detector: %w", err)
	}
	fpr, err := det.Rate(ctx, x)
	if err != nil {
		return nil, fmt.Errorf("detector: %w", err)
	}
	squeezers, _ := w.model.Metadata(defend.DetectorSqueezersKey)
	out := &report.DetectorResult{
		Squeezers: squeezers, Threshold: det.Threshold, TargetFPR: det.FPR,
		N: w.data.Len(), FalsePositiveRate: fpr, Note: detectorNote,
	}
	shape := w.data.SampleShape()
	per := tensor.Numel(shape)
	for i, run := range res.Attacks {
		da := report.DetectorAttack{Attack: w.specs[i].Name, Key: w.specs[i].Key(), NAdversarial: len(run.Examples)}
		if len(run.Examples) > 0 {
			x := tensor.New(append([]int{len(run.Examples)}, shape...)...)
			for k, ex := range run.Examples {
				copy(x.F[k*per:(k+1)*per], ex.XAdv)
			}
			flags, _, err := det.Detect(ctx, x)
			if err != nil {
				return nil, fmt.Errorf("detector: %s: %w", da.Attack, err)
			}
			for _, f := range flags {
				if f {
					da.NDetected++
				}
			}
			da.DetectionRate = float64(da.NDetected) / float64(da.NAdversarial)
		}
		out.Attacks = append(out.Attacks, da)
	}
	return out, nil
}
