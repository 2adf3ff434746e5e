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
