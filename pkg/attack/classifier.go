// Package attack holds advtest's adversarial attacks: the Attack interface,
// a registry by name, one file per attack, and the projection and norm
// helpers they share. Attacks see a model only through Classifier (white-box;
// MultiGradientClassifier when it computes several gradients from one
// forward pass) or a score/label oracle (black-box); they know nothing of
// files or flags.
//
// Attacks are built by name from string parameters (New, NewFromSpec,
// "pgd:norm=linf,eps=0.3,steps=40"); Lookup documents each one's parameters
// and defaults. Every Run keeps x_adv inside the clip range (Bounds) and the
// attack's norm ball, measures Outcome.Fooled with a final forward pass on
// x_adv, skips samples that are misclassified before the attack, counts
// gradient evaluations and queries per sample, and is deterministic given
// its *rand.Rand. Losses are given as dLoss/dLogits (CrossEntropy, CWLoss,
// DLR, TargetedDLR); projections and norms work on one sample's elements
// (ProjectLinf, ProjectL2, L2Dist, ...).
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
