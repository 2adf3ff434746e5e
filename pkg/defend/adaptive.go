package defend

import (
	"context"
	"fmt"

	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/tensor"
)

// DefaultEOTDraws is the number of noise draws per call that AdaptiveWith's
// EOT averages over when AdaptiveOptions.Draws is 0. Athalye, Carlini and
// Wagner (2018, §4.3, §5) attack randomised defences with EOT over tens of
// draws per step; 10 keeps the cost of an evaluation at 10× a plain one's
// while the averaged gradient's noise falls by √10.
const DefaultEOTDraws = 10

// AdaptiveOptions configures AdaptiveWith.
type AdaptiveOptions struct {
	// Seed seeds EOT's draws (pass the run's seed: the evaluation is then
	// reproducible). Models without inference noise ignore it.
	Seed uint64
	// Draws is EOT's number of draws per call; 0 means DefaultEOTDraws.
	Draws int
}

// AdaptiveWith returns the classifier an honest evaluation should attack
// for a hardened model, from the marks its defences left in its metadata:
//
//   - no mark: the model itself;
//   - a preprocessor mark (PreprocessorKey, e.g. squeezing) only: the BPDA
//     view (NewBPDA), straight-through gradients for the preprocessor;
//   - a noise mark (NoiseKey, the gaussian-noise defence): the model is cut
//     at the noise; the graph behind it is attacked through an EOT
//     classifier (NewEOT) that draws the same noise in Go,
//     Noise.Sampler(), o.Draws times per call from a generator seeded with
//     o.Seed, and averages logits and gradients. The graph's own
//     RandomNormalLike is not run: its draws would be one per call.
//
// With both marks, the order in the graph decides, and the noise may be on
// either side of the squeezer:
//
//   - noise outermost, x → noise → squeeze → f (the squeezer applied
//     first): EOT over the noise of BPDA(squeeze → f);
//   - noise innermost, x → squeeze → noise → f (the noise applied first):
//     BPDA through the squeezer (straight-through gradient) in front of EOT
//     over the noise of f.
//
// Nodes in front of the noise that are not a marked preprocessor (the
// normalisation WithPreprocessing folds in) are differentiated exactly.
// A mark that does not describe the graph (the noise nodes are not
// x + RandomNormalLike(x), or the squeezer is neither before nor after the
// noise) is an error, as is Draws < 0.
func AdaptiveWith(m *onnxmodel.Model, o AdaptiveOptions) (attack.Classifier, error) {
	if o.Draws < 0 {
		return nil, fmt.Errorf("adaptive: draws=%d, want ≥ 1 (or 0 for %d)", o.Draws, DefaultEOTDraws)
	}
	if o.Draws == 0 {
		o.Draws = DefaultEOTDraws
	}
	mark, ok, err := NoiseMarkOf(m)
	if err != nil {
		return nil, fmt.Errorf("adaptive: %w", err)
	}
	if !ok {
		if _, ok := m.Metadata(PreprocessorKey); !ok {
			return m, nil
		}
		return NewBPDA(m)
	}
	clf, err := noiseEOT(m, mark, o)
	if err != nil {
		return nil, fmt.Errorf("adaptive: %w", err)
	}
	return clf, nil
}

// noiseEOT builds the EOT view of a model with a noise mark (see
// AdaptiveWith).
func noiseEOT(m *onnxmodel.Model, mark NoiseMark, o AdaptiveOptions) (attack.Classifier, error) {
	g := m.Proto.GetGraph()
	a, err := noiseInput(g, mark)
	if err != nil {
		return nil, err
	}
	in, err := m.InputName()
	if err != nil {
		return nil, err
	}
	_, rest, err := m.Split(mark.Output)
	if err != nil {
		return nil, fmt.Errorf("cutting the model at its noise: %w", err)
	}
	var behind attack.Classifier = rest
	sq, hasSq := m.Metadata(PreprocessorKey)
	sqInFront := false
	if hasSq {
		switch {
		case dependsOn(g, sq, mark.Output): // x → noise → squeeze → f
			b, err := NewBPDAAt(rest, sq)
			if err != nil {
				return nil, err
			}
			behind = b
		case dependsOn(g, a, sq): // x → squeeze → noise → f
			sqInFront = true
		default:
			return nil, fmt.Errorf("the preprocessor boundary %q (%s) is neither before nor after the noise %q (%s); advtest cannot compose BPDA and EOT for this graph", sq, PreprocessorKey, mark.Output, NoiseKey)
		}
	}
	eot, err := NewEOT(behind, mark.Sampler(), o.Draws, o.Seed)
	if err != nil {
		return nil, err
	}
	if a == in {
		return eot, nil
	}
	// Something in the graph computes what the noise reads: preprocessors
	// applied after the noise, or a folded-in normalisation.
	front, _, err := m.Split(a)
	if err != nil {
		return nil, fmt.Errorf("cutting the model in front of its noise: %w", err)
	}
	if !sqInFront {
		return newChained(front, a, false, eot)
	}
	if sq == a {
		return newChained(front, a, true, eot)
	}
	pre, mid, err := front.Split(sq)
	if err != nil {
		return nil, fmt.Errorf("cutting the model at its preprocessor: %w", err)
	}
	inner, err := newChained(mid, a, false, eot)
	if err != nil {
		return nil, err
	}
	return newChained(pre, sq, true, inner)
}

// chained is a classifier post behind a graph part pre that computes
// boundary from the input: the forward pass is post(pre(x)); the backward
// pass takes post's gradient at pre(x) and either passes it straight
// through pre (straight, the BPDA identity approximation, for a
// preprocessor without a useful gradient) or back-propagates it through pre
// exactly. It implements attack.Classifier.
type chained struct {
	pre              *onnxmodel.Model
	inName, boundary string
	straight         bool
	// vjp is pre with its output flattened to [N, D], so that Model's
	// InputGradient back-propagates a given gradient through it.
	vjp  *onnxmodel.Model
	post attack.Classifier
}

var _ attack.Classifier = (*chained)(nil)

func newChained(pre *onnxmodel.Model, boundary string, straight bool, post attack.Classifier) (*chained, error) {
	in, err := pre.InputName()
	if err != nil {
		return nil, err
	}
	c := &chained{pre: pre, inName: in, boundary: boundary, straight: straight, post: post}
	if !straight {
		flat := uniquePrefix(pre, "advtest_vjp") + "flat"
		c.vjp, err = pre.Edit().Append(flat, onnxmodel.NewNode("Flatten", flat, []string{boundary}, []string{flat}, onnxmodel.AttrInt("axis", 1))).Build()
		if err != nil {
			return nil, fmt.Errorf("the part in front of %q: %w", boundary, err)
		}
	}
	return c, nil
}

// NumClasses returns post's number of classes.
func (c *chained) NumClasses() int { return c.post.NumClasses() }

// InputShape returns pre's per-sample input shape.
func (c *chained) InputShape() []int { return c.pre.InputShape() }

// Randomised reports whether the classifier behind the cut is randomised
// (EOT over inference noise).
func (c *chained) Randomised() bool {
	r, ok := c.post.(interface{ Randomised() bool })
	return ok && r.Randomised()
}

func (c *chained) front(ctx context.Context, x *tensor.Tensor) (*tensor.Tensor, error) {
	res, err := c.pre.Run(ctx, map[string]*tensor.Tensor{c.inName: x})
	if err != nil {
		return nil, fmt.Errorf("the part in front of %q: %w", c.boundary, err)
	}
	return res[c.boundary], nil
}

// Logits returns post's logits at pre(x).
func (c *chained) Logits(ctx context.Context, x *tensor.Tensor) (*tensor.Tensor, error) {
	xp, err := c.front(ctx, x)
	if err != nil {
		return nil, err
	}
	return c.post.Logits(ctx, xp)
}

// InputGradient returns post's logits at pre(x) and its gradient, carried
// back to x straight through pre or exactly.
func (c *chained) InputGradient(ctx context.Context, x *tensor.Tensor, lossGrad func(logits *tensor.Tensor) (*tensor.Tensor, error)) (logits, grad *tensor.Tensor, err error) {
	xp, err := c.front(ctx, x)
	if err != nil {
		return nil, nil, err
	}
	logits, g, err := c.post.InputGradient(ctx, xp, lossGrad)
	if err != nil {
		return nil, nil, err
	}
	if c.straight {
		if g.Len() != x.Len() {
			return nil, nil, fmt.Errorf("bpda: the preprocessor maps %v to %v; the identity approximation needs the same shape", x.Shape, xp.Shape)
		}
		return logits, g.Reshaped(x.Shape...), nil
	}
	_, gx, err := c.vjp.InputGradient(ctx, x, func(flat *tensor.Tensor) (*tensor.Tensor, error) {
		if flat.Len() != g.Len() {
			return nil, fmt.Errorf("the gradient behind %q has %d elements, the value %d", c.boundary, g.Len(), flat.Len())
		}
		return g.Reshaped(flat.Shape...), nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("the part in front of %q: %w", c.boundary, err)
	}
	return logits, gx, nil
}
