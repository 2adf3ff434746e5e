package attack

import (
	"context"
	"math/rand/v2"
)

// MIFGSM is the Momentum Iterative FGSM of Dong, Liao, Pang, Su, Zhu, Hu &
// Li, "Boosting Adversarial Attacks with Momentum" (CVPR 2018, Algorithm 1):
//
//	gₜ₊₁ = μ·gₜ + ∇ₓ J(xₜ)/‖∇ₓ J(xₜ)‖₁
//	xₜ₊₁ = Clip(xₜ + α·sign(gₜ₊₁))        (L2: xₜ + α·gₜ₊₁/‖gₜ₊₁‖₂, eq. 8)
//
// from x₀ = x. The paper takes α = eps/T so that T steps just reach the
// ball's edge; the default here is α = eps/4, torchattacks' MIFGSM default
// (alpha 2/255 at eps 8/255, T=10): at T=10 on the shipped MNIST MLP at
// Linf 0.1 it fooled 76.5% of the clean-correct samples against 70.3% for
// eps/T, 71.6% for eps/8 and 29.0% for eps/16
// (testdata/reference/pgd_step_sweep.md, made by
// testdata/gen/pgd_step_sweep). Iterates are kept as in PGD.
//
// Defaults: steps T=10 and decay μ=1.0 (the paper's), step α=eps/4
// (torchattacks'); norm=linf, eps=0.3, loss=ce, early_stop=true, clip
// range [0, 1].
type MIFGSM struct {
	ball
	step      float64
	steps     int
	decay     float64
	loss      string
	earlyStop bool
}

func (a *MIFGSM) bind() *binder {
	b := newBinder("mifgsm")
	b.norm("norm", &a.norm, Linf, []Norm{Linf, L2}, "norm of the ball")
	b.float("eps", &a.eps, 0.3, "", "radius of the ball in input space")
	b.autoFloat("step", &a.step, "eps/4", "step size α")
	b.int("steps", &a.steps, 10, "", "iterations T")
	b.float("decay", &a.decay, 1.0, "", "momentum decay factor μ")
	b.enum("loss", &a.loss, "ce", lossNames, "loss to ascend")
	b.bool("early_stop", &a.earlyStop, true, "stop working on a sample once an iterate fools it")
	b.bounds(&a.bounds)
	return b
}

func (a *MIFGSM) stepSize() float64 {
	if a.step > 0 {
		return a.step
	}
	return a.eps / 4
}

func (a *MIFGSM) validate() error {
	if err := a.ball.validate("mifgsm", true); err != nil {
		return err
	}
	if a.step < 0 {
		return paramErr("mifgsm", "step", a.step, "a positive number or auto")
	}
	if a.decay < 0 {
		return paramErr("mifgsm", "decay", a.decay, "a non-negative number")
	}
	return positiveInt("mifgsm", "steps", a.steps)
}

// Name returns "mifgsm".
func (a *MIFGSM) Name() string { return "mifgsm" }

// Params returns the resolved parameters (step resolved from auto).
func (a *MIFGSM) Params() map[string]any {
	m := a.bind().values()
	m["step"] = a.stepSize()
	return m
}

// Run attacks a batch (untargeted or targeted).
func (a *MIFGSM) Run(ctx context.Context, clf Classifier, b Batch, rng *rand.Rand) (*Outcome, error) {
	return runIterative(ctx, clf, b, rng, iterSpec{
		name: "mifgsm", norm: a.norm, eps: a.eps, step: a.stepSize(), steps: a.steps,
		restarts: 1, momentum: true, decay: a.decay, loss: a.loss,
		earlyStop: a.earlyStop, bounds: a.bounds,
	})
}

func init() {
	mustRegister("mifgsm", factoryFor("Momentum Iterative FGSM (Dong et al. 2018)", func() configurable { return &MIFGSM{} }))
}
