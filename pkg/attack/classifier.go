package attack

import (
	"context"

	"github.com/advtest/advtest/pkg/tensor"
)

// Classifier is a model as white-box attacks see it: a differentiable map
// from a batch of inputs in input space to logits (scores before any final
// softmax).
type Classifier interface {
	// NumClasses returns the number of classes (the logits' second dimension).
	NumClasses() int
	// InputShape returns the shape of one sample, without the batch axis.
	InputShape() []int
	// Logits returns the [N, NumClasses] logits for a batch x of shape [N, InputShape...].
	Logits(ctx context.Context, x *tensor.Tensor) (*tensor.Tensor, error)
	// InputGradient runs x forward, calls lossGrad with the logits to obtain
	// dLoss/dLogits ([N, NumClasses]), and returns the logits and dLoss/dx
	// (the shape of x). The loss is a sum over samples, so each sample's
	// gradient is that of its own loss term.
	InputGradient(ctx context.Context, x *tensor.Tensor, lossGrad func(logits *tensor.Tensor) (*tensor.Tensor, error)) (logits, grad *tensor.Tensor, err error)
}

// MultiGradientClassifier is a Classifier that can back-propagate several
// dLoss/dLogits seeds through one forward pass: the rows of a Jacobian for
// the price of one forward and one backward per row. Attacks that need
// several gradients at the same point (DeepFool) use it when the classifier
// offers it and fall back to one InputGradient per seed otherwise; the
// gradients are the same either way.
type MultiGradientClassifier interface {
	Classifier
	// InputGradients runs x forward, calls seeds with the logits to obtain
	// k seeds ([N, NumClasses] each) and returns the logits and, per seed,
	// dLoss/dx (the shape of x) as InputGradient would return it.
	InputGradients(ctx context.Context, x *tensor.Tensor, seeds func(logits *tensor.Tensor) ([]*tensor.Tensor, error)) (logits *tensor.Tensor, grads []*tensor.Tensor, err error)
}
