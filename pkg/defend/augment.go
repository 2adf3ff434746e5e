package defend

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/params"
	"github.com/advtest/advtest/pkg/tensor"
)

// InferenceNoiseDefence is the registry name of the Preprocessor defence
// that GaussianAugmentation applies after training when inference_noise is
// set (GaussianNoiseDefence): it accepts sigma, clip, min and max and adds
// N(0, sigma²) noise to the model's input inside the graph.
const InferenceNoiseDefence = "gaussian-noise"

// GaussianAugmentation is the data augmentation of Zantedeschi, Nicolae &
// Rawat, "Efficient Defenses Against Adversarial Attacks" (AISec 2017), as
// IBM ART's GaussianAugmentation does it: every batch gets ⌊ratio·N⌋ extra
// samples, copies of samples drawn at random (with replacement) plus
// N(0, sigma²) noise, labelled as their originals; the model trains on the
// original and the noisy samples together. With clip, noisy samples are
// clipped to [min, max].
//
// With inference_noise, the defence also adds noise at inference time: after
// training it applies the Preprocessor registered as InferenceNoiseDefence
// ("gaussian-noise", GaussianNoiseDefence) with the same sigma, clip and
// [min, max], so the model sees at inference the noise it was trained on.
// The result carries the NoiseKey mark: AdaptiveWith attacks it with EOT.
//
// Defaults: sigma 0.1 (ART's default is 1.0, for unscaled data; advtest's
// input space is usually [0, 1]), ratio 1 (ART's), clip false (ART's
// clip_values None) with [0, 1] when set, inference_noise false, and the
// shared training parameters (10 epochs of batch 128, Adam lr 1e-3).
type GaussianAugmentation struct {
	trainerParams
	sigma, ratio   float64
	clip           bool
	min, max       float32
	inferenceNoise bool
}

// Bind returns the binder of the defence's parameters.
func (d *GaussianAugmentation) Bind() *params.Binder {
	b := params.New("defence", "gaussian-augmentation")
	b.Float("sigma", &d.sigma, 0.1, "", "standard deviation of the Gaussian noise (input space)")
	b.Float("ratio", &d.ratio, 1, "", "noisy copies added per batch, as a fraction of the batch")
	b.Bool("clip", &d.clip, false, "clip noisy samples to [min, max]")
	b.Float32("min", &d.min, 0, "lower end of the clip range")
	b.Float32("max", &d.max, 1, "upper end of the clip range")
	b.Bool("inference_noise", &d.inferenceNoise, false, "also add the noise at inference time (applies the "+InferenceNoiseDefence+" preprocessor after training)")
	d.trainerParams.bind(b, stdTrainer)
	return b
}

// Validate checks the parameters.
func (d *GaussianAugmentation) Validate() error {
	b := params.New("defence", "gaussian-augmentation")
	switch {
	case !(d.sigma > 0):
		return b.Err("sigma", d.sigma, "a positive number")
	case !(d.ratio > 0):
		return b.Err("ratio", d.ratio, "a positive number")
	case d.clip && !(d.min < d.max):
		return b.Err("min/max", [2]float32{d.min, d.max}, "min < max")
	}
	return d.trainerParams.validate(b)
}

// Name returns "gaussian-augmentation".
func (d *GaussianAugmentation) Name() string { return "gaussian-augmentation" }

// Kind returns Trainer.
func (d *GaussianAugmentation) Kind() Kind { return Trainer }

// Params returns the resolved parameters.
func (d *GaussianAugmentation) Params() map[string]any { return d.Bind().Values() }

func (d *GaussianAugmentation) hook(ctx context.Context, m *onnxmodel.Model, b *TrainBatch, rng *rand.Rand) error {
	n := b.X.Shape[0]
	k := int(d.ratio * float64(n))
	if k == 0 {
		return nil
	}
	per := b.X.Len() / max(n, 1)
	x := tensor.New(append([]int{n + k}, b.X.Shape[1:]...)...)
	copy(x.F, b.X.F)
	y := make([]int, n+k)
	copy(y, b.Y)
	for r := 0; r < k; r++ {
		i := rng.IntN(n)
		dst := x.F[(n+r)*per : (n+r+1)*per]
		for j, v := range b.X.F[i*per : (i+1)*per] {
			nv := v + float32(d.sigma*rng.NormFloat64())
			if d.clip {
				nv = min(max(nv, d.min), d.max)
			}
			dst[j] = nv
		}
		y[n+r] = b.Y[i]
	}
	b.X, b.Y = x, y
	return nil
}

// Config returns the training configuration Apply uses (its hook included).
func (d *GaussianAugmentation) Config() TrainConfig {
	c := d.config()
	c.Hook = d.hook
	return c
}

// Apply trains a clone of m on data.Train augmented with noisy copies and,
// with inference_noise, adds the noise preprocessor.
func (d *GaussianAugmentation) Apply(ctx context.Context, m *onnxmodel.Model, data TrainData, rng *rand.Rand) (*onnxmodel.Model, error) {
	var pre Defence
	if d.inferenceNoise {
		var err error
		p := map[string]string{
			"sigma": strconv.FormatFloat(d.sigma, 'g', -1, 64), "clip": strconv.FormatBool(d.clip),
			"min": strconv.FormatFloat(float64(d.min), 'g', -1, 32), "max": strconv.FormatFloat(float64(d.max), 'g', -1, 32),
		}
		if pre, err = New(InferenceNoiseDefence, p); err != nil {
			return nil, fmt.Errorf("defence gaussian-augmentation: inference_noise needs the %s preprocessor: %w", InferenceNoiseDefence, err)
		}
	}
	out, err := fitClone(ctx, "gaussian-augmentation", m, data, d.Config(), rng)
	if err != nil || pre == nil {
		return out, err
	}
	return pre.Apply(ctx, out, data, rng)
}

func init() {
	mustRegister("gaussian-augmentation", FactoryFor("Gaussian data augmentation (Zantedeschi et al. 2017; ART GaussianAugmentation): noisy copies added to each batch",
		func() Configurable { return &GaussianAugmentation{} }))
}
