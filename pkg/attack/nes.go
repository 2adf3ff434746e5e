package attack

import (
	"context"
	"math"
	"math/rand/v2"
)

// NES is the query-limited attack of Ilyas, Engstrom, Athalye & Lin,
// "Black-box Adversarial Attacks with Limited Queries and Information"
// (ICML 2018, Sec. 2.2–2.3, Alg. 1): Natural Evolution Strategies estimate
// the gradient of the loss from scores only,
//
//	g = 1/(n·σ) · Σ_{i ≤ n/2} (L(x + σuᵢ) − L(x − σuᵢ)) · uᵢ,   uᵢ ~ N(0, I)
//
// (antithetic sampling: n queries per estimate), and projected gradient
// steps follow it: Linf x ← Π(x − step·sign(g)), L2 x ← Π(x −
// step·g/‖g‖₂). L is minimised: untargeted log p_y (ce) or the
// log-probability margin (margin), targeted −log p_t (ce) or the target's
// margin. Each step costs n + 1 queries (the estimate, then the new
// iterate, which decides success); a sample stops once fooled or when its
// budget cannot pay another step. Estimation points are clipped into the
// clip range. The point with the lowest loss seen is reported.
//
// Defaults: norm=linf, eps=0.3, samples=50 and sigma=0.001 (the paper's
// query-limited setting, Table 4), step=eps/10, loss=ce,
// max_queries=5000, clip range [0, 1].
type NES struct {
	ball
	maxQueries int
	samples    int
	sigma      float64
	step       float64
	loss       string
}

func (a *NES) bind() *binder {
	b := newBinder("nes")
	b.norm("norm", &a.norm, Linf, []Norm{Linf, L2}, "norm of the ball")
	b.float("eps", &a.eps, 0.3, "", "radius of the ball in input space")
	b.int("samples", &a.samples, 50, "", "queries per gradient estimate (antithetic pairs, even)")
	b.float("sigma", &a.sigma, 0.001, "", "standard deviation of the search distribution")
	b.autoFloat("step", &a.step, "eps/10", "PGD step size (auto: eps/10)")
	b.enum("loss", &a.loss, "ce", []string{"ce", "margin"}, "loss on log-probabilities")
	b.int("max_queries", &a.maxQueries, 5000, "", "queries per sample, the clean check included")
	b.bounds(&a.bounds)
	return b
}

func (a *NES) validate() error {
	if err := a.ball.validate("nes", true); err != nil {
		return err
	}
	if a.samples < 2 || a.samples%2 != 0 {
		return paramErr("nes", "samples", a.samples, "an even integer ≥ 2")
	}
	if !(a.sigma > 0) {
		return paramErr("nes", "sigma", a.sigma, "a positive number")
	}
	if a.step < 0 {
		return paramErr("nes", "step", a.step, "a positive number or auto")
	}
	return checkMaxQueries("nes", a.maxQueries)
}

func (a *NES) stepSize() float64 {
	if a.step > 0 {
		return a.step
	}
	return a.eps / 10
}

// Name returns "nes".
func (a *NES) Name() string { return "nes" }

// Params returns the resolved parameters (step resolved from auto).
func (a *NES) Params() map[string]any {
	m := a.bind().values()
	m["step"] = a.stepSize()
	return m
}

// DecisionBased returns false: NES needs scores.
func (a *NES) DecisionBased() bool { return false }

// MaxQueries returns the per-sample query budget.
func (a *NES) MaxQueries() int { return a.maxQueries }

// Run attacks a batch through a score oracle over clf.
func (a *NES) Run(ctx context.Context, clf Classifier, b Batch, rng *rand.Rand) (*Outcome, error) {
	return a.RunOracle(ctx, NewScoreOracle(clf, a.maxQueries), b, rng)
}

// RunOracle attacks a batch through a score oracle.
func (a *NES) RunOracle(ctx context.Context, o LabelOracle, b Batch, rng *rand.Rand) (*Outcome, error) {
	s, err := beginBB(ctx, o, "nes", b, true, a.maxQueries, a.bounds)
	if err != nil {
		return nil, err
	}
	rs := newStreams(rng, b)
	d, c, n := s.d, s.c, a.samples
	half := n / 2
	sigma, step := a.sigma, a.stepSize()
	lossOf := func(lp []float32, i int) float64 {
		if a.loss == "margin" {
			return s.margin(lp, i)
		}
		return s.ceLoss(lp, i)
	}
	cur := append([]float32(nil), s.x...)
	best := make([]float64, s.n)
	for _, i := range s.attackable() {
		best[i] = lossOf(s.cleanLP[i*c:(i+1)*c], i)
	}
	var lo, hi []float32
	if a.norm == Linf {
		lo, hi = make([]float32, len(s.x)), make([]float32, len(s.x))
		for k, v := range s.x {
			lo[k], hi[k] = linfBox(v, a.eps, s.bounds)
		}
	}
	grad := make([]float64, s.n*d)
	chunk := max(1, maxQueryRows(d)/n)
	noise := make([]float32, chunk*half*d)
	ids := make([]int, chunk*n)
	idx := s.attackable()
	for {
		if err := s.ctx.Err(); err != nil {
			return nil, err
		}
		idx = filter(idx, func(i int) bool { return !s.fooled[i] && s.left(i) >= n+1 })
		if len(idx) == 0 {
			break
		}
		// Gradient estimates, in chunks of samples.
		for lo0 := 0; lo0 < len(idx); lo0 += chunk {
			part := idx[lo0:min(lo0+chunk, len(idx))]
			xs := s.rows(len(part) * n)
			for j, i := range part {
				ci, rng := s.row(cur, i), rs.at(i)
				for p := 0; p < half; p++ {
					u := noise[(j*half+p)*d : (j*half+p+1)*d]
					plus := xs[(j*n+2*p)*d : (j*n+2*p+1)*d]
					minus := xs[(j*n+2*p+1)*d : (j*n+2*p+2)*d]
					for k := range u {
						u[k] = float32(rng.NormFloat64())
						e := float32(sigma) * u[k]
						plus[k] = clamp32(ci[k]+e, s.bounds.Min, s.bounds.Max)
						minus[k] = clamp32(ci[k]-e, s.bounds.Min, s.bounds.Max)
					}
					ids[j*n+2*p], ids[j*n+2*p+1] = i, i
				}
			}
			lp, err := s.scores(ids[:len(part)*n], xs)
			if err != nil {
				return nil, err
			}
			for j, i := range part {
				gi := grad[i*d : (i+1)*d]
				clear(gi)
				for p := 0; p < half; p++ {
					r := j*n + 2*p
					w := (lossOf(lp[r*c:(r+1)*c], i) - lossOf(lp[(r+1)*c:(r+2)*c], i)) / (float64(n) * sigma)
					u := noise[(j*half+p)*d : (j*half+p+1)*d]
					for k, v := range u {
						gi[k] += w * float64(v)
					}
				}
			}
		}
		// Projected steps, then one query per new iterate.
		xs := s.rows(len(idx))
		for j, i := range idx {
			ci, gi := s.row(cur, i), grad[i*d:(i+1)*d]
			if a.norm == Linf {
				for k, v := range gi {
					switch {
					case v > 0:
						ci[k] -= float32(step)
					case v < 0:
						ci[k] += float32(step)
					}
				}
				clampBox(ci, s.row(lo, i), s.row(hi, i))
			} else {
				nrm := 0.0
				for _, v := range gi {
					nrm += v * v
				}
				if nrm > 0 {
					f := step / math.Sqrt(nrm)
					for k, v := range gi {
						ci[k] = float32(float64(ci[k]) - f*v)
					}
				}
				ProjectL2(ci, s.row(s.x, i), a.eps, s.bounds)
			}
			copy(xs[j*d:(j+1)*d], ci)
		}
		if err := s.keepBetter(idx, xs, best, lossOf, nil); err != nil {
			return nil, err
		}
	}
	return s.finish(a.norm, a.eps)
}

func init() {
	mustRegister("nes", factoryFor("NES gradient estimation driving PGD, from scores only (Ilyas et al. 2018)", func() configurable { return &NES{} }))
}
