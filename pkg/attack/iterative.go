package attack

import (
	"context"
	"math"
	"math/rand/v2"

	"github.com/advtest/advtest/pkg/tensor"
)

// iterSpec configures the sign/normalised-gradient iteration that FGSM,
// BIM, PGD and MI-FGSM share:
//
//	x⁰ = x (+ a uniform random point of the ball)
//	gᵗ = ∇ obj(xᵗ)            (MI-FGSM: gᵗ = μ·gᵗ⁻¹ + ∇/‖∇‖₁)
//	xᵗ⁺¹ = Π(xᵗ + step·sign(gᵗ))      Linf
//	xᵗ⁺¹ = Π(xᵗ + step·gᵗ/‖gᵗ‖₂)       L2
//
// where Π projects onto the eps-ball and the clip range.
type iterSpec struct {
	name        string
	norm        Norm
	eps, step   float64
	steps       int
	schedule    string // step schedule: "" or "constant", "cosine" or "mixed" (see stepAt)
	restarts    int
	randomStart bool
	momentum    bool
	decay       float64
	loss        string
	earlyStop   bool
	bounds      Bounds
}

// stepAt is the step size of iteration it (0-based): step for the
// constant schedule; for "cosine", step·(1+cos(π·it/steps))/2, decaying
// from step at the first iteration towards 0 at the last (the cosine
// annealing of Loshchilov & Hutter, "SGDR", ICLR 2017, eq. 5, with one
// period and no restart). "mixed" alternates over the restarts (restart
// r, 0-based): the cosine decay from step on even r, the constant step/4
// on odd r.
func (sp *iterSpec) stepAt(r, it int) float64 {
	schedule, step := sp.schedule, sp.step
	if schedule == "mixed" {
		schedule = "cosine"
		if r%2 == 1 {
			schedule, step = "constant", step/4
		}
	}
	if schedule == "cosine" && sp.steps > 0 {
		return step * 0.5 * (1 + math.Cos(math.Pi*float64(it)/float64(sp.steps)))
	}
	return step
}

// parallelChunk is the minimum number of samples per goroutine for
// per-sample work on samples of d elements.
func parallelChunk(d int) int { return max(1, 16384/max(d, 1)) }

// linfBoxes precomputes, for every sample, the Linf ball ∩ clip range.
func linfBoxes(s *session, eps float64) (lo, hi []float32) {
	lo, hi = make([]float32, len(s.x)), make([]float32, len(s.x))
	for k, v := range s.x {
		lo[k], hi[k] = linfBox(v, eps, s.bounds)
	}
	return lo, hi
}

// randomInit sets xi to a point drawn uniformly from the eps-ball around
// x0 (Linf: each coordinate uniform in [−eps, eps]; L2: Gaussian direction,
// radius eps·u^(1/d)), before projection into the clip range.
func randomInit(rng *rand.Rand, norm Norm, xi, x0 []float32, eps float64) {
	switch norm {
	case Linf:
		for k := range xi {
			xi[k] = x0[k] + float32(eps*(2*rng.Float64()-1))
		}
	case L2:
		s := 0.0
		for k := range xi {
			v := rng.NormFloat64()
			xi[k] = float32(v)
			s += v * v
		}
		r := eps * math.Pow(rng.Float64(), 1/float64(len(xi)))
		if s > 0 {
			r /= math.Sqrt(s)
		}
		for k := range xi {
			xi[k] = x0[k] + float32(r*float64(xi[k]))
		}
	default:
		copy(xi, x0)
	}
}

// runIterative runs the shared iteration of iterSpec on a batch.
func runIterative(ctx context.Context, clf Classifier, b Batch, rng *rand.Rand, sp iterSpec) (*Outcome, error) {
	s, err := begin(ctx, clf, sp.name, b, true, sp.bounds)
	if err != nil {
		return nil, err
	}
	rs := newStreams(rng, b)
	n, d := s.n, s.d
	var lo, hi []float32
	if sp.norm == Linf {
		lo, hi = linfBoxes(s, sp.eps)
	}
	tr := newTracker(s, sp.earlyStop)
	cur := make([]float32, n*d)
	var vel []float32
	if sp.momentum {
		vel = make([]float32, n*d)
	}
	obj := makeObjective(sp.loss, s.tgt != nil)
	project := func(i int) {
		ci := s.row(cur, i)
		if sp.norm == Linf {
			clampBox(ci, s.row(lo, i), s.row(hi, i))
		} else {
			ProjectL2(ci, s.row(s.x, i), sp.eps, s.bounds)
		}
	}
	for r := 0; r < sp.restarts; r++ {
		idx := filter(s.attackable(), func(i int) bool { return !tr.fooled[i] })
		if len(idx) == 0 {
			break
		}
		for _, i := range idx {
			ci := s.row(cur, i)
			copy(ci, s.row(s.x, i))
			if sp.randomStart {
				randomInit(rs.at(i), sp.norm, ci, s.row(s.x, i), sp.eps)
				project(i)
			}
			if vel != nil {
				clear(s.row(vel, i))
			}
		}
		for it := 0; ; it++ {
			if sp.earlyStop {
				idx = filter(idx, func(i int) bool { return !tr.fooled[i] })
			}
			if len(idx) == 0 {
				break
			}
			xs := s.gather(cur, idx)
			if it == sp.steps {
				lg, err := s.logits(idx, xs)
				if err != nil {
					return nil, err
				}
				for j, i := range idx {
					tr.offer(s, i, s.row(cur, i), s.succeeded(lg.F[j*s.c:(j+1)*s.c], i), math.NaN())
				}
				break
			}
			lg, g, loss, err := s.gradient(idx, xs, obj)
			if err != nil {
				return nil, err
			}
			for j, i := range idx {
				tr.offer(s, i, s.row(cur, i), s.succeeded(lg.F[j*s.c:(j+1)*s.c], i), float64(loss[j]))
			}
			step := sp.stepAt(r, it)
			tensor.ParallelFor(len(idx), parallelChunk(d), func(a, z int) {
				for j := a; j < z; j++ {
					i := idx[j]
					dir := g[j*d : (j+1)*d]
					if vel != nil {
						v := s.row(vel, i)
						l1 := 0.0
						for _, e := range dir {
							l1 += math.Abs(float64(e))
						}
						inv := 0.0
						if l1 > 0 {
							inv = 1 / l1
						}
						for k, e := range dir {
							v[k] = float32(sp.decay*float64(v[k]) + float64(e)*inv)
						}
						dir = v
					}
					ci := s.row(cur, i)
					if sp.norm == Linf {
						st := float32(step)
						for k, e := range dir {
							ci[k] += st * signf(e)
						}
					} else {
						n2 := 0.0
						for _, e := range dir {
							n2 += float64(e) * float64(e)
						}
						if n2 > 0 {
							f := step / math.Sqrt(n2)
							for k, e := range dir {
								ci[k] = float32(float64(ci[k]) + f*float64(e))
							}
						}
					}
					project(i)
				}
			})
		}
	}
	return s.finish(tr.best, sp.norm, sp.eps)
}
