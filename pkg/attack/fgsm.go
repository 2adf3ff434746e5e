package attack

import (
	"context"
	"math/rand/v2"
)

// FGSM is the Fast Gradient Sign Method of Goodfellow, Shlens & Szegedy,
// "Explaining and Harnessing Adversarial Examples" (ICLR 2015, Sec. 4):
//
//	x_adv = clip(x + eps·sign(∇ₓ J(x, y)))
//
// With norm=l2 it is the Fast Gradient Method (FGM) step x + eps·∇/‖∇‖₂.
// Targeted, it descends the loss towards the target: x − eps·sign(∇ₓ J(x, t)).
// One gradient evaluation per sample.
//
// Defaults (as IBM ART's FastGradientMethod): norm=linf, eps=0.3, loss=ce,
// clip range [0, 1].
type FGSM struct {
	ball
	loss string
}

func (a *FGSM) bind() *binder {
	b := newBinder("fgsm")
	b.norm("norm", &a.norm, Linf, []Norm{Linf, L2}, "norm of the ball: linf (FGSM) or l2 (FGM)")
	b.float("eps", &a.eps, 0.3, "", "radius of the ball in input space (the step size)")
	b.enum("loss", &a.loss, "ce", lossNames, "loss whose gradient is followed: cross-entropy, C&W logit margin or DLR")
	b.bounds(&a.bounds)
	return b
}

func (a *FGSM) validate() error { return a.ball.validate("fgsm", true) }

// Name returns "fgsm".
func (a *FGSM) Name() string { return "fgsm" }

// Params returns the resolved parameters.
func (a *FGSM) Params() map[string]any { return a.bind().values() }

// Run attacks a batch (untargeted or targeted).
func (a *FGSM) Run(ctx context.Context, clf Classifier, b Batch, rng *rand.Rand) (*Outcome, error) {
	return runIterative(ctx, clf, b, rng, iterSpec{
		name: "fgsm", norm: a.norm, eps: a.eps, step: a.eps, steps: 1, restarts: 1,
		loss: a.loss, earlyStop: true, bounds: a.bounds,
	})
}

func init() {
	mustRegister("fgsm", factoryFor("Fast Gradient Sign Method (Goodfellow et al. 2015); l2: FGM", func() configurable { return &FGSM{} }))
}
