package defend

import (
	"context"
	"fmt"
	"slices"

	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/tensor"
)

// BPDA is a classifier for a model whose graph starts with a preprocessor
// g that has no useful gradient (bit-depth reduction's Round, median
// filters, JPEG-like quantisation): Backward Pass Differentiable
// Approximation (Athalye, Carlini and Wagner 2018, §4.1). The forward pass
// runs the whole model, f(g(x)); the backward pass takes the gradient of f
// at g(x) and passes it straight through g, approximating g's Jacobian by
// the identity (g(x) ≈ x). Attacks that use it see the defended model's
// true predictions and a gradient that is not masked.
//
// It implements attack.Classifier.
type BPDA struct {
	// Full is the whole model (preprocessor and classifier): the forward pass.
	Full *onnxmodel.Model
	// Pre computes the preprocessor's output from the input.
	Pre *onnxmodel.Model
	// Post is the classifier behind the preprocessor: the backward pass.
	Post *onnxmodel.Model

	inName, boundary string
}

var _ attack.Classifier = (*BPDA)(nil)

// NewBPDA builds the BPDA view of a hardened model whose preprocessor
// recorded its output under PreprocessorKey (as WithSqueezer and the
// squeeze defence do). It fails when the model carries no such mark; use
// AdaptiveWith to fall back to the model itself.
func NewBPDA(m *onnxmodel.Model) (*BPDA, error) {
	boundary, ok := m.Metadata(PreprocessorKey)
	if !ok {
		return nil, fmt.Errorf("bpda: the model carries no %s metadata (no preprocessor defence was applied)", PreprocessorKey)
	}
	return NewBPDAAt(m, boundary)
}

// NewBPDAAt builds the BPDA view of m with the preprocessor taken to be
// everything that computes the value boundary from the input.
func NewBPDAAt(m *onnxmodel.Model, boundary string) (*BPDA, error) {
	pre, post, err := m.Split(boundary)
	if err != nil {
		return nil, fmt.Errorf("bpda: %w", err)
	}
	in, err := m.InputName()
	if err != nil {
		return nil, err
	}
	return &BPDA{Full: m, Pre: pre, Post: post, inName: in, boundary: boundary}, nil
}

// NumClasses returns the model's number of classes.
func (b *BPDA) NumClasses() int {
	if c := b.Full.NumClasses(); c > 0 {
		return c
	}
	return b.Post.NumClasses()
}

// InputShape returns the model's per-sample input shape.
func (b *BPDA) InputShape() []int { return b.Full.InputShape() }

// Logits runs the whole model.
func (b *BPDA) Logits(ctx context.Context, x *tensor.Tensor) (*tensor.Tensor, error) {
	return b.Full.Logits(ctx, x)
}

// Preprocess returns g(x), the preprocessor's output.
func (b *BPDA) Preprocess(ctx context.Context, x *tensor.Tensor) (*tensor.Tensor, error) {
	res, err := b.Pre.Run(ctx, map[string]*tensor.Tensor{b.inName: x})
	if err != nil {
		return nil, fmt.Errorf("bpda: preprocessor: %w", err)
	}
	return res[b.boundary], nil
}

// InputGradient returns the logits f(g(x)) (equal to Logits(x)) and
// dLoss/dg evaluated at g(x), used as dLoss/dx.
func (b *BPDA) InputGradient(ctx context.Context, x *tensor.Tensor, lossGrad func(logits *tensor.Tensor) (*tensor.Tensor, error)) (logits, grad *tensor.Tensor, err error) {
	xp, err := b.Preprocess(ctx, x)
	if err != nil {
		return nil, nil, err
	}
	if !slices.Equal(xp.Shape, x.Shape) {
		// Equal sizes are not enough: a layout Transpose in front of the
		// squeezer (NHWC data) would get the NCHW gradient as it is.
		return nil, nil, fmt.Errorf("bpda: the preprocessor maps %v to %v; the identity approximation needs the same shape (attack a squeezed model in its own layout, without preprocessing.layout)", x.Shape, xp.Shape)
	}
	logits, g, err := b.Post.InputGradient(ctx, xp, lossGrad)
	if err != nil {
		return nil, nil, err
	}
	return logits, g.Reshaped(x.Shape...), nil
}
