package attack

import (
	"context"
	"math"
	"math/rand/v2"

	"github.com/advtest/advtest/pkg/tensor"
)

// JSMA is the Jacobian-based Saliency Map Attack of Papernot, McDaniel,
// Jha, Fredrikson, Celik & Swami, "The Limitations of Deep Learning in
// Adversarial Settings" (EuroS&P 2016, Algorithm 3 with the pairwise
// saliency map of Sec. III-B), on logits as in CleverHans. Each iteration
// picks the pair of features (p, q), among those not yet modified, that
// maximises
//
//	α·(−β)  subject to α > 0, β < 0       (theta > 0; for theta < 0: −α·β, α < 0, β > 0)
//	α = Σ_{i∈{p,q}} ∂z_t/∂x_i,  β = Σ_{i∈{p,q}} Σ_{j≠t} ∂z_j/∂x_i
//
// and moves both by theta·(max − min) (clipped), until the sample is
// classified as t or a fraction gamma of the features has been modified.
// Two gradient evaluations per iteration (∇z_t and ∇Σ_j z_j).
//
// It is targeted by nature. Untargeted (no batch targets), it targets the
// class with the second-largest clean logit and stops at any
// misclassification.
//
// Defaults (the paper's and ART's): theta=1.0, gamma=0.1, clip range
// [0, 1]. The perturbation is bounded in L0 by gamma·d (Norm reports
// NormNone: the bound is relative).
type JSMA struct {
	ball
	theta float64
	gamma float64
}

func (a *JSMA) bind() *binder {
	b := newBinder("jsma")
	b.float("theta", &a.theta, 1.0, "", "change applied to each chosen feature, relative to max−min (sign: increase or decrease)")
	b.float("gamma", &a.gamma, 0.1, "", "maximum fraction of features modified")
	b.bounds(&a.bounds)
	return b
}

func (a *JSMA) validate() error {
	if err := a.ball.validate("jsma", false); err != nil {
		return err
	}
	if a.theta == 0 || math.Abs(a.theta) > 1 {
		return paramErr("jsma", "theta", a.theta, "a non-zero number in [−1, 1]")
	}
	if !(a.gamma > 0 && a.gamma <= 1) {
		return paramErr("jsma", "gamma", a.gamma, "a number in (0, 1]")
	}
	return nil
}

// Name returns "jsma".
func (a *JSMA) Name() string { return "jsma" }

// Params returns the resolved parameters.
func (a *JSMA) Params() map[string]any { return a.bind().values() }

// Run attacks a batch (targeted, or untargeted via the runner-up class).
func (a *JSMA) Run(ctx context.Context, clf Classifier, b Batch, rng *rand.Rand) (*Outcome, error) {
	s, err := begin(ctx, clf, "jsma", b, true, a.bounds)
	if err != nil {
		return nil, err
	}
	n, d, c := s.n, s.d, s.c
	tg := targetsOrRunnerUp(s)
	cur := append([]float32(nil), s.x...)
	domain := make([]bool, n*d)
	for k, v := range s.x {
		domain[k] = (a.theta > 0 && v < s.bounds.Max) || (a.theta < 0 && v > s.bounds.Min)
	}
	gT := make([]float32, n*d)
	gAll := make([]float32, n*d)
	stuck := make([]bool, n)
	tr := newTracker(s, true)
	objT := func(grad, loss []float32, logits *tensor.Tensor, labels, targets []int) {
		for j := range labels {
			g := grad[j*c : (j+1)*c]
			clear(g)
			g[targets[j]] = 1
			loss[j] = logits.F[j*c+targets[j]]
		}
	}
	objAll := func(grad, loss []float32, logits *tensor.Tensor, labels, targets []int) {
		for j := range labels {
			g := grad[j*c : (j+1)*c]
			for k := range g {
				g[k] = 1
			}
			loss[j] = 0
		}
	}
	maxIter := int(math.Floor(float64(d) * a.gamma / 2))
	delta := float32(a.theta * float64(s.bounds.Max-s.bounds.Min))
	idx := s.attackable()
	for it := 0; ; it++ {
		idx = filter(idx, func(i int) bool { return !tr.fooled[i] && !stuck[i] })
		if len(idx) == 0 {
			break
		}
		if it >= maxIter {
			lg, err := s.logits(idx, s.gather(cur, idx))
			if err != nil {
				return nil, err
			}
			for j, i := range idx {
				tr.offer(s, i, s.row(cur, i), s.succeeded(lg.F[j*c:(j+1)*c], i), 0)
			}
			break
		}
		lg, g, _, err := s.gradientWith(idx, s.gather(cur, idx), objAll, tg)
		if err != nil {
			return nil, err
		}
		for j, i := range idx {
			tr.offer(s, i, s.row(cur, i), s.succeeded(lg.F[j*c:(j+1)*c], i), 0)
			copy(s.row(gAll, i), g[j*d:(j+1)*d])
		}
		idx = filter(idx, func(i int) bool { return !tr.fooled[i] })
		if len(idx) == 0 {
			break
		}
		_, g, _, err = s.gradientWith(idx, s.gather(cur, idx), objT, tg)
		if err != nil {
			return nil, err
		}
		for j, i := range idx {
			copy(s.row(gT, i), g[j*d:(j+1)*d])
		}
		tensor.ParallelFor(len(idx), 1, func(lo, hi int) {
			for _, i := range idx[lo:hi] {
				al, all, dom := s.row(gT, i), s.row(gAll, i), domain[i*d:(i+1)*d]
				bp, bq, best := -1, -1, 0.0
				for p := 0; p < d; p++ {
					if !dom[p] {
						continue
					}
					ap, bp0 := float64(al[p]), float64(all[p])-float64(al[p])
					for q := p + 1; q < d; q++ {
						if !dom[q] {
							continue
						}
						sa := ap + float64(al[q])
						sb := bp0 + float64(all[q]) - float64(al[q])
						var score float64
						if a.theta > 0 {
							if sa <= 0 || sb >= 0 {
								continue
							}
							score = -sa * sb
						} else {
							if sa >= 0 || sb <= 0 {
								continue
							}
							score = -sa * sb
						}
						if score > best {
							bp, bq, best = p, q, score
						}
					}
				}
				if bp < 0 {
					stuck[i] = true
					continue
				}
				ci := s.row(cur, i)
				for _, f := range [2]int{bp, bq} {
					ci[f] += delta
					dom[f] = false
				}
				Clip(ci, s.bounds)
			}
		})
	}
	return s.finish(tr.best, NormNone, 0)
}

func init() {
	mustRegister("jsma", factoryFor("Jacobian-based Saliency Map Attack, pairwise, L0 (Papernot et al. 2016)", func() configurable { return &JSMA{} }))
}
