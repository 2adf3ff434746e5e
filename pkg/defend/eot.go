package defend

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/tensor"
)

// Transform is one draw of a randomised input transformation t.
type Transform interface {
	// Apply returns t(x); it must not change x.
	Apply(x *tensor.Tensor) *tensor.Tensor
	// VJP returns dLoss/dx given g = dLoss/dt(x). A transformation without
	// a useful gradient returns g itself (the BPDA identity approximation).
	VJP(x, g *tensor.Tensor) *tensor.Tensor
}

// TransformSampler draws one Transform, using rng for every random choice.
type TransformSampler func(rng *rand.Rand) Transform

// GaussianNoise returns a sampler of additive Gaussian noise N(0, σ²) on
// every element (inference-time noise, as in Cohen et al. 2019's smoothed
// classifier), optionally clipped to [lo, hi] when lo < hi (the clip's
// gradient is passed straight through).
func GaussianNoise(sigma float32, lo, hi float32) TransformSampler {
	return func(rng *rand.Rand) Transform {
		return &noiseDraw{sigma: sigma, lo: lo, hi: hi, seed: rng.Uint64()}
	}
}

type noiseDraw struct {
	sigma, lo, hi float32
	seed          uint64
}

// Apply adds this draw's noise (the same noise for the same x shape).
func (n *noiseDraw) Apply(x *tensor.Tensor) *tensor.Tensor {
	r := rand.New(rand.NewPCG(n.seed, 0x6e6f697365))
	out := x.Clone()
	for i := range out.F {
		v := out.F[i] + n.sigma*float32(r.NormFloat64())
		if n.lo < n.hi {
			v = min(max(v, n.lo), n.hi)
		}
		out.F[i] = v
	}
	return out
}

// VJP is the identity: d(x+δ)/dx = I.
func (n *noiseDraw) VJP(_, g *tensor.Tensor) *tensor.Tensor { return g }

// EOT is a classifier for a model behind a randomised preprocessor:
// Expectation over Transformation (Athalye, Carlini and Wagner 2018, §4.3;
// Athalye et al. 2018, "Synthesizing Robust Adversarial Examples"). Each
// call draws K transformations t₁..t_K and returns the mean of the logits
// f(tᵢ(x)) and the mean of the gradients ∇ₓ L(f(tᵢ(x))), an estimate of
// ∇ₓ E_t[L(f(t(x)))]; a single draw's gradient would be noise that makes
// the randomised model look robust. Clf is the model behind the
// transformation; it may itself be a BPDA for a non-differentiable part.
//
// The draws come from EOT's own generator (seeded by NewEOT), so a run is
// deterministic when its calls are made in a fixed order; calls are
// serialised for that reason. Fooled, as attacks measure it, is judged on
// the mean logits of K draws: re-evaluate the adversarial examples with
// fresh draws for the reported figure.
//
// It implements attack.Classifier.
type EOT struct {
	// Clf is the classifier behind the transformation.
	Clf attack.Classifier
	// Sample draws one transformation.
	Sample TransformSampler
	// K is the number of draws per call.
	K int

	mu  sync.Mutex
	rng *rand.Rand
}

var _ attack.Classifier = (*EOT)(nil)

// NewEOT returns an EOT classifier with k draws per call (k ≥ 1), its
// generator seeded with seed.
func NewEOT(clf attack.Classifier, sample TransformSampler, k int, seed uint64) (*EOT, error) {
	if k < 1 {
		return nil, fmt.Errorf("eot: k=%d, want ≥ 1", k)
	}
	if clf == nil || sample == nil {
		return nil, fmt.Errorf("eot: a classifier and a transformation sampler are required")
	}
	return &EOT{Clf: clf, Sample: sample, K: k, rng: rand.New(rand.NewPCG(seed, 0x656f74))}, nil
}

// NumClasses returns the wrapped classifier's number of classes.
func (e *EOT) NumClasses() int { return e.Clf.NumClasses() }

// InputShape returns the wrapped classifier's per-sample input shape.
func (e *EOT) InputShape() []int { return e.Clf.InputShape() }

// Randomised reports true: EOT's outputs depend on its draws, so two
// evaluations of the same inputs differ by sampling noise (the sanity
// checks widen their tolerances for it).
func (e *EOT) Randomised() bool { return true }

func (e *EOT) draws() []Transform {
	e.mu.Lock()
	defer e.mu.Unlock()
	ts := make([]Transform, e.K)
	for i := range ts {
		ts[i] = e.Sample(e.rng)
	}
	return ts
}

// Logits returns the mean logits over K draws.
func (e *EOT) Logits(ctx context.Context, x *tensor.Tensor) (*tensor.Tensor, error) {
	var sum *tensor.Tensor
	for _, t := range e.draws() {
		l, err := e.Clf.Logits(ctx, t.Apply(x))
		if err != nil {
			return nil, err
		}
		sum = accumulate(sum, l)
	}
	return scale(sum, 1/float32(e.K)), nil
}

// InputGradient returns the mean logits and the mean input gradient over K
// draws. lossGrad is called once per draw, with that draw's logits.
func (e *EOT) InputGradient(ctx context.Context, x *tensor.Tensor, lossGrad func(logits *tensor.Tensor) (*tensor.Tensor, error)) (logits, grad *tensor.Tensor, err error) {
	var ls, gs *tensor.Tensor
	for _, t := range e.draws() {
		l, g, err := e.Clf.InputGradient(ctx, t.Apply(x), lossGrad)
		if err != nil {
			return nil, nil, err
		}
		ls = accumulate(ls, l)
		gs = accumulate(gs, t.VJP(x, g))
	}
	inv := 1 / float32(e.K)
	return scale(ls, inv), scale(gs, inv).Reshaped(x.Shape...), nil
}

func accumulate(sum, v *tensor.Tensor) *tensor.Tensor {
	if sum == nil {
		return v.Clone()
	}
	for i, f := range v.F {
		sum.F[i] += f
	}
	return sum
}

func scale(t *tensor.Tensor, s float32) *tensor.Tensor {
	for i := range t.F {
		t.F[i] *= s
	}
	return t
}
