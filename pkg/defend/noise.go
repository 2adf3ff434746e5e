package defend

// Inference-time Gaussian noise as a preprocessor in the graph: the
// randomisation of Cohen, Rosenfeld and Kolter, "Certified Adversarial
// Robustness via Randomized Smoothing" (ICML 2019), whose smoothed
// classifier classifies x + N(0, σ²I), and of Liu et al., "Towards Robust
// Neural Networks via Random Self-ensemble" (ECCV 2018), who add such noise
// at inference. It is built from standard ONNX ops (RandomNormalLike, Add,
// Clip), so any runtime draws the noise.

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/params"
)

// NoiseKey is the metadata_props key under which the gaussian-noise
// defence records its noise: a JSON NoiseMark (sigma, clip range and the
// value the noise nodes write). AdaptiveWith reads it to attack the model with
// EOT over the noise. Later graph rewrites (Edit, squeezing, bounded ReLU,
// training) keep it, as they keep PreprocessorKey.
const NoiseKey = "advtest.noise"

// Noise is additive Gaussian noise x + N(0, Sigma²) on every input element,
// then, with Clip, clipped to [Min, Max].
type Noise struct {
	// Sigma is the noise's standard deviation, in input space.
	Sigma float32 `json:"sigma"`
	// Clip clips the noisy input to [Min, Max].
	Clip bool `json:"clip"`
	// Min and Max are the clip range (used only with Clip).
	Min float32 `json:"min"`
	Max float32 `json:"max"`
}

// String returns e.g. "sigma=0.25, clip [0, 1]".
func (n Noise) String() string {
	if n.Clip {
		return fmt.Sprintf("sigma=%g, clip [%g, %g]", n.Sigma, n.Min, n.Max)
	}
	return fmt.Sprintf("sigma=%g, no clip", n.Sigma)
}

// Validate checks the fields: Sigma finite and > 0, Min < Max with Clip.
func (n Noise) Validate() error {
	if !(n.Sigma > 0) || math.IsInf(float64(n.Sigma), 0) {
		return fmt.Errorf("noise: sigma=%g, want a finite number > 0", n.Sigma)
	}
	if n.Clip && !(n.Min < n.Max) {
		return fmt.Errorf("noise: clip range [%g, %g], want min < max", n.Min, n.Max)
	}
	return nil
}

// Sampler returns the EOT sampler that draws this noise in Go:
// GaussianNoise(Sigma, Min, Max), or without clipping when Clip is off.
func (n Noise) Sampler() TransformSampler {
	if n.Clip {
		return GaussianNoise(n.Sigma, n.Min, n.Max)
	}
	return GaussianNoise(n.Sigma, 0, 0)
}

// NoiseMark is the value recorded under NoiseKey.
type NoiseMark struct {
	Noise
	// Output is the value the noise nodes write: the boundary between the
	// noise and the rest of the graph, where AdaptiveWith splits the model.
	Output string `json:"output"`
}

// NoiseMarkOf returns the model's noise mark and whether it has one; a
// mark that does not parse or validate is an error.
func NoiseMarkOf(m *onnxmodel.Model) (NoiseMark, bool, error) {
	v, ok := m.Metadata(NoiseKey)
	if !ok {
		return NoiseMark{}, false, nil
	}
	var mk NoiseMark
	if err := json.Unmarshal([]byte(v), &mk); err != nil {
		return NoiseMark{}, true, fmt.Errorf("the model's %s metadata %q is not a noise mark: %v", NoiseKey, v, err)
	}
	if err := mk.Validate(); err != nil {
		return NoiseMark{}, true, fmt.Errorf("the model's %s metadata: %w", NoiseKey, err)
	}
	if mk.Output == "" {
		return NoiseMark{}, true, fmt.Errorf("the model's %s metadata %q names no output value", NoiseKey, v)
	}
	return mk, true, nil
}

// NoiseNodes returns ONNX nodes that read value in and write n applied to
// it under out: RandomNormalLike(in, scale=σ) (no seed attribute, so that
// runtimes draw fresh noise; advtest's engine draws reproducibly, see
// onnxmodel's RandomNormalLike), Add, then Clip when n.Clip (min/max as
// inputs from opset 11, as attributes before), then Identity to out. Node
// and intermediate names start with prefix.
func NoiseNodes(n Noise, in, out, prefix string, opset int64) ([]*onnxpb.NodeProto, error) {
	if err := n.Validate(); err != nil {
		return nil, err
	}
	if opset < 7 {
		return nil, fmt.Errorf("noise: the model's opset %d is older than 7, the oldest advtest writes noise for", opset)
	}
	b := &graphBuf{prefix: prefix}
	delta, noisy := b.name("delta"), b.name("noisy")
	b.add(onnxmodel.NewNode("RandomNormalLike", delta, []string{in}, []string{delta},
		onnxmodel.AttrFloat("mean", 0), onnxmodel.AttrFloat("scale", n.Sigma), onnxmodel.AttrInt("dtype", int64(onnxpb.TensorProto_FLOAT))),
		onnxmodel.NewNode("Add", noisy, []string{in, delta}, []string{noisy}))
	cur := noisy
	if n.Clip {
		clipped := b.name("clipped")
		if opset >= 11 {
			b.add(onnxmodel.NewNode("Clip", clipped, []string{cur, b.constFloat(n.Min), b.constFloat(n.Max)}, []string{clipped}))
		} else {
			b.add(onnxmodel.NewNode("Clip", clipped, []string{cur}, []string{clipped}, onnxmodel.AttrFloat("min", n.Min), onnxmodel.AttrFloat("max", n.Max)))
		}
		cur = clipped
	}
	b.add(onnxmodel.NewNode("Identity", prefix+"out", []string{cur}, []string{out}))
	return b.nodes, nil
}

// WithNoise returns a copy of m whose graph starts with the noise n: it
// takes data in input space and feeds x + N(0, σ²) (clipped) to the
// original graph, so that every ONNX runtime adds the noise at inference.
// The noise, and the value between it and the original graph, are recorded
// under NoiseKey, for AdaptiveWith. A model that already carries a noise mark
// is refused (stacked noise layers would need nested EOT; one layer of
// σ = √(σ₁² + σ₂²) is the same noise without clipping).
func WithNoise(m *onnxmodel.Model, n Noise) (*onnxmodel.Model, error) {
	if old, ok := m.Metadata(NoiseKey); ok {
		return nil, fmt.Errorf("noise: the model already carries inference noise (%s = %s); advtest does not stack noise layers, use one with the combined sigma", NoiseKey, old)
	}
	inName, err := m.InputName()
	if err != nil {
		return nil, err
	}
	prefix := uniquePrefix(m, "advtest_noise")
	boundary := prefix + "noised"
	nodes, err := NoiseNodes(n, inName, boundary, prefix, m.Opset)
	if err != nil {
		return nil, err
	}
	mark, err := json.Marshal(NoiseMark{Noise: n, Output: boundary})
	if err != nil {
		return nil, err
	}
	out, err := m.Edit().Prepend(boundary, nodes...).SetMetadata(NoiseKey, string(mark)).Build()
	if err != nil {
		return nil, err
	}
	out.Path = m.Path
	return out, nil
}

// noiseInput returns the value that the noise nodes writing mark.Output
// read: it follows Identity nodes back from mark.Output, then a Clip (which
// must be there exactly when mark.Clip), to Add(a, RandomNormalLike(a))
// (either order), and checks that the draw's scale is mark.Sigma and its
// mean 0. Anything else is an error: the mark does not describe the graph.
func noiseInput(g *onnxpb.GraphProto, mark NoiseMark) (string, error) {
	prod := producers(g)
	bad := func(why string) error {
		return fmt.Errorf("the %s mark names %q, which is not x + RandomNormalLike(x)%s: %s", NoiseKey, mark.Output, map[bool]string{true: " clipped", false: ""}[mark.Clip], why)
	}
	n := prod[mark.Output]
	for n != nil && n.GetOpType() == "Identity" && len(n.GetInput()) == 1 {
		n = prod[n.GetInput()[0]]
	}
	if n == nil {
		return "", bad("no node computes it")
	}
	if n.GetOpType() == "Clip" {
		if !mark.Clip {
			return "", bad("the graph clips the noise, the mark says it does not")
		}
		n = prod[n.GetInput()[0]]
	} else if mark.Clip {
		return "", bad("the mark says the noise is clipped, the graph has no Clip")
	}
	if n == nil || n.GetOpType() != "Add" || len(n.GetInput()) != 2 {
		return "", bad("no Add of the input and its noise")
	}
	for i := 0; i < 2; i++ {
		a, r := n.GetInput()[i], prod[n.GetInput()[1-i]]
		if r == nil || r.GetOpType() != "RandomNormalLike" || len(r.GetInput()) != 1 || r.GetInput()[0] != a {
			continue
		}
		mean, scale := float32(0), float32(1)
		for _, at := range r.GetAttribute() {
			switch at.GetName() {
			case "mean":
				mean = at.GetF()
			case "scale":
				scale = at.GetF()
			}
		}
		if mean != 0 || scale != mark.Sigma {
			return "", bad(fmt.Sprintf("the draw has mean %g and scale %g, the mark says sigma %g", mean, scale, mark.Sigma))
		}
		return a, nil
	}
	return "", bad("no RandomNormalLike of the Add's other input")
}

// producers maps each value of g to the node that computes it.
func producers(g *onnxpb.GraphProto) map[string]*onnxpb.NodeProto {
	p := map[string]*onnxpb.NodeProto{}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			if o != "" {
				p[o] = n
			}
		}
	}
	return p
}

// dependsOn reports whether value v of g is computed from value on (or is
// on).
func dependsOn(g *onnxpb.GraphProto, v, on string) bool {
	prod := producers(g)
	seen := map[string]bool{}
	stack := []string{v}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if x == on {
			return true
		}
		if seen[x] {
			continue
		}
		seen[x] = true
		if n := prod[x]; n != nil {
			for _, in := range n.GetInput() {
				if in != "" {
					stack = append(stack, in)
				}
			}
		}
	}
	return false
}

// GaussianNoiseDefence is the inference-time noise defence
// ("gaussian-noise", registered as InferenceNoiseDefence): it prepends
// x + N(0, sigma²), clipped to [min, max] with clip, to the model's graph
// (WithNoise), the noise of Cohen et al. 2019's smoothed classifier and of
// Liu et al. 2018's random self-ensemble. A deployed model draws once per
// inference (no majority vote). IBM ART's GaussianNoise is a different
// defence: a postprocessor that perturbs the output probabilities.
//
// A randomised model looks robust to an attack that trusts one draw's
// gradient; evaluate it with EOT (AdaptiveWith does, from the NoiseKey mark).
// Defaults: sigma 0.1 (input space), clip on, [0, 1].
type GaussianNoiseDefence struct {
	sigma    float64
	clip     bool
	min, max float32
}

// NewGaussianNoise returns the gaussian-noise defence with its defaults.
func NewGaussianNoise() *GaussianNoiseDefence {
	return &GaussianNoiseDefence{sigma: 0.1, clip: true, min: 0, max: 1}
}

// Name returns "gaussian-noise".
func (d *GaussianNoiseDefence) Name() string { return InferenceNoiseDefence }

// Kind returns Preprocessor.
func (d *GaussianNoiseDefence) Kind() Kind { return Preprocessor }

// Bind ties the parameters to their fields.
func (d *GaussianNoiseDefence) Bind() *params.Binder {
	b := params.New("defence", d.Name())
	b.Float("sigma", &d.sigma, 0.1, "", "standard deviation of the Gaussian noise added to every input element at inference (input space)")
	b.Bool("clip", &d.clip, true, "clip the noisy input to [min, max]")
	b.Float32("min", &d.min, 0, "lower end of the clip range")
	b.Float32("max", &d.max, 1, "upper end of the clip range")
	return b
}

// Validate checks the parameters.
func (d *GaussianNoiseDefence) Validate() error {
	b := params.New("defence", d.Name())
	switch {
	case !(d.sigma > 0) || math.IsInf(d.sigma, 0):
		return b.Err("sigma", d.sigma, "a finite number > 0")
	case d.clip && !(d.min < d.max):
		return b.Err("min/max", [2]float32{d.min, d.max}, "min < max")
	}
	return nil
}

// Noise returns the noise the defence adds.
func (d *GaussianNoiseDefence) Noise() Noise {
	return Noise{Sigma: float32(d.sigma), Clip: d.clip, Min: d.min, Max: d.max}
}

// Params returns the resolved parameters.
func (d *GaussianNoiseDefence) Params() map[string]any { return d.Bind().Values() }

// Apply returns m with the noise in front of its graph.
func (d *GaussianNoiseDefence) Apply(ctx context.Context, m *onnxmodel.Model, _ TrainData, _ *rand.Rand) (*onnxmodel.Model, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out, err := WithNoise(m, d.Noise())
	if err != nil {
		return nil, fmt.Errorf("defence %s: %w", d.Name(), err)
	}
	return out, nil
}

func init() {
	mustRegister(InferenceNoiseDefence, FactoryFor("inference-time Gaussian noise x + N(0, sigma²) in the graph (RandomNormalLike; Cohen et al. 2019's smoothing noise); attacked with EOT", func() Configurable { return NewGaussianNoise() }))
}
