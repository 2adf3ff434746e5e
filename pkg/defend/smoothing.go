package defend

import (
	"context"
	"math/rand/v2"

	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/params"
)

// LabelSmoothing trains with the smoothed targets of Szegedy, Vanhoucke,
// Ioffe, Shlens & Wojna, "Rethinking the Inception Architecture for
// Computer Vision" (CVPR 2016, Sec. 7), in the form of IBM ART's
// LabelSmoothing: the target of a sample of class y is max_value on y and
// (1 − max_value)/(C − 1) on every other class (SmoothLabels); the loss is
// the cross-entropy against that distribution (SoftCE).
//
// Defaults: max_value 0.9 (ART's), and the shared training parameters
// (10 epochs of batch 128, Adam lr 1e-3).
type LabelSmoothing struct {
	trainerParams
	maxValue float64
}

// Bind returns the binder of the defence's parameters.
func (d *LabelSmoothing) Bind() *params.Binder {
	b := params.New("defence", "label-smoothing")
	b.Float("max_value", &d.maxValue, 0.9, "", "target probability of the true class; the rest is spread evenly")
	d.trainerParams.bind(b, stdTrainer)
	return b
}

// Validate checks the parameters (max_value ≥ 1/C is checked by Apply,
// when C is known).
func (d *LabelSmoothing) Validate() error {
	b := params.New("defence", "label-smoothing")
	if !(d.maxValue > 0 && d.maxValue <= 1) {
		return b.Err("max_value", d.maxValue, "a number in (0, 1]")
	}
	return d.trainerParams.validate(b)
}

// Name returns "label-smoothing".
func (d *LabelSmoothing) Name() string { return "label-smoothing" }

// Kind returns Trainer.
func (d *LabelSmoothing) Kind() Kind { return Trainer }

// Params returns the resolved parameters.
func (d *LabelSmoothing) Params() map[string]any { return d.Bind().Values() }

func (d *LabelSmoothing) hook(ctx context.Context, m *onnxmodel.Model, b *TrainBatch, rng *rand.Rand) error {
	c, err := numClasses(ctx, m, b)
	if err != nil {
		return err
	}
	if d.maxValue < 1/float64(c) {
		return params.Errf("defence", "label-smoothing", "max_value", d.maxValue, "at least 1/C (C = number of classes)")
	}
	b.Soft = SmoothLabels(b.Y, c, d.maxValue)
	return nil
}

// Config returns the training configuration Apply uses (its hook included).
func (d *LabelSmoothing) Config() TrainConfig {
	c := d.config()
	c.Hook = d.hook
	return c
}

// Apply trains a clone of m on data.Train with smoothed targets.
func (d *LabelSmoothing) Apply(ctx context.Context, m *onnxmodel.Model, data TrainData, rng *rand.Rand) (*onnxmodel.Model, error) {
	return fitClone(ctx, "label-smoothing", m, data, d.Config(), rng)
}

func init() {
	mustRegister("label-smoothing", FactoryFor("label smoothing (Szegedy et al. 2016; ART LabelSmoothing): targets max_value on the class, the rest spread",
		func() Configurable { return &LabelSmoothing{} }))
}
