package attack

import (
	"math"
	"slices"

	"github.com/advtest/advtest/pkg/tensor"
)

// evalEOT evaluates the objective and its gradient at st.cur for samples
// idx, averaging eot_iter passes (expectation over transformation; one
// pass for deterministic models), stores the gradient in st.g and offers
// each point to tr (nil: no offers) with the success of the last pass, as
// the reference does. It returns the per-sample objective.
func (a *APGD) evalEOT(s *session, st *apgdState, idx []int, obj objective, tg []int, tr *tracker) ([]float32, error) {
	d := s.d
	var sum []float64
	var lg *tensor.Tensor
	var loss []float32
	for e := 0; e < a.eot; e++ {
		l, g, ls, err := s.gradientWith(idx, s.gather(st.cur, idx), obj, tg)
		if err != nil {
			return nil, err
		}
		lg, loss = l, ls
		for j, i := range idx {
			row, src := s.row(st.g, i), g[j*d:(j+1)*d]
			if e == 0 {
				copy(row, src)
				continue
			}
			for q, v := range src {
				row[q] += v
			}
		}
		if a.eot > 1 {
			if sum == nil {
				sum = make([]float64, len(idx))
			}
			for j, v := range ls {
				sum[j] += float64(v)
			}
		}
	}
	if a.eot > 1 {
		inv := float32(1 / float64(a.eot))
		for _, i := range idx {
			row := s.row(st.g, i)
			for q := range row {
				row[q] *= inv
			}
		}
		loss = make([]float32, len(idx))
		for j, v := range sum {
			loss[j] = float32(v / float64(a.eot))
		}
	}
	if tr != nil {
		for j, i := range idx {
			tr.offer(s, i, s.row(st.cur, i), s.succeeded(lg.F[j*s.c:(j+1)*s.c], i), float64(loss[j]))
		}
	}
	return loss, nil
}

// singleL1 is one L1-APGD run (Croce & Hein 2021, "Mind the box", Alg. 2,
// as in the AutoAttack reference's attack_single_run for L1) on samples
// idx:
//
//	x⁰ = Π(x + t), t Gaussian; step η = eps; sparsity k = 20% of the elements
//	xᵏ⁺¹ = Π(xᵏ + η·sign(g_k)/‖sign(g_k)‖₁), g_k the gradient on its k
//	       largest-magnitude elements (no momentum)
//
// with Π the projection onto the L1 ball ∩ box (ProjectL1). Every
// max(⌊0.04·N⌋, 1) iterations the sparsity adapts to that of the best
// point, k = ‖x_best − x‖₀/1.5; if it fell by more than 5% the step is
// reset to eps and the iterate to the best point, otherwise the step is
// divided by 1.5 (never below eps/10). With large_reps the run is split
// into 30%/30%/40% of the steps at radii 3·eps, 2·eps, eps, each stage
// starting from the previous one's best point projected onto the smaller
// ball (AutoAttack's L1 schedule); only the last stage's points can count
// as successes.
func (a *APGD) singleL1(s *session, st *apgdState, idx []int, obj objective, tg []int, tr *tracker, rs *streams) error {
	N := a.steps
	epss, iters := []float64{a.eps}, []int{N}
	if a.largeReps {
		i1 := int(math.Ceil(0.3 * float64(N)))
		if i3 := N - 2*i1; i3 > 0 {
			epss, iters = []float64{3 * a.eps, 2 * a.eps, a.eps}, []int{i1, i1, i3}
		}
	}
	for _, i := range idx {
		ci, x0 := s.row(st.cur, i), s.row(s.x, i)
		rng := rs.at(i)
		for k := range ci {
			ci[k] = float32(float64(x0[k]) + rng.NormFloat64())
		}
		ProjectL1(ci, x0, epss[0], s.bounds)
	}
	for k, eps := range epss {
		last := k == len(epss)-1
		var offer *tracker
		if last {
			offer = tr
		}
		for _, i := range idx {
			ProjectL1(s.row(st.cur, i), s.row(s.x, i), eps, s.bounds)
		}
		if err := a.runL1(s, st, append([]int(nil), idx...), obj, tg, offer, eps, iters[k], a.largeReps); err != nil {
			return err
		}
		for _, i := range idx {
			copy(s.row(st.cur, i), s.row(st.xBest, i))
		}
	}
	return nil
}

// runL1 is the inner L1-APGD loop at radius eps for n iterations from
// st.cur; customInit takes the initial sparsity from st.cur as the
// reference does for a given starting point. It leaves the highest-
// objective point of each sample in st.xBest.
func (a *APGD) runL1(s *session, st *apgdState, idx []int, obj objective, tg []int, tr *tracker, eps float64, n int, customInit bool) error {
	d := s.d
	nf := float64(d)
	topk := make([]float64, s.n)
	spOld := make([]float64, s.n)
	loss, err := a.evalEOT(s, st, idx, obj, tg, tr)
	if err != nil {
		return err
	}
	for j, i := range idx {
		st.lossBest[i] = float64(loss[j])
		st.step[i] = eps
		copy(s.row(st.xBest, i), s.row(st.cur, i))
		copy(s.row(st.gBest, i), s.row(st.g, i))
		if customInit {
			sp := L0Dist(s.row(st.cur, i), s.row(s.x, i))
			topk[i], spOld[i] = sp/nf/1.5, sp
		} else {
			topk[i], spOld[i] = 0.2, nf
		}
	}
	k := max(int(0.04*float64(n)), 1)
	counter := 0
	for it := 0; it < n; it++ {
		if a.earlyStop && tr != nil {
			idx = filter(idx, func(i int) bool { return !tr.fooled[i] })
			if len(idx) == 0 {
				return nil
			}
		}
		tensor.ParallelFor(len(idx), parallelChunk(8*d), func(lo, hi int) {
			mag := make([]float32, d)
			for _, i := range idx[lo:hi] {
				ci, gi := s.row(st.cur, i), s.row(st.g, i)
				for q, v := range gi {
					mag[q] = float32(math.Abs(float64(v)))
				}
				slices.Sort(mag)
				pos := min(max(int((1-topk[i])*nf), 0), d-1)
				thr := mag[pos]
				nnz := 0
				for _, v := range gi {
					if v != 0 && float32(math.Abs(float64(v))) >= thr {
						nnz++
					}
				}
				f := st.step[i] / (float64(nnz) + 1e-10)
				for q, v := range gi {
					if v != 0 && float32(math.Abs(float64(v))) >= thr {
						ci[q] = float32(float64(ci[q]) + f*float64(signf(v)))
					}
				}
				ProjectL1(ci, s.row(s.x, i), eps, s.bounds)
			}
		})
		loss, err := a.evalEOT(s, st, idx, obj, tg, tr)
		if err != nil {
			return err
		}
		for j, i := range idx {
			st.keepBest(s, i, loss[j])
		}
		counter++
		if counter == k {
			for _, i := range idx {
				sp := L0Dist(s.row(st.xBest, i), s.row(s.x, i))
				reduced := spOld[i] > 0 && sp/spOld[i] < 0.95
				topk[i] = sp / nf / 1.5
				if reduced {
					st.step[i] = eps
				} else {
					st.step[i] /= 1.5
				}
				st.step[i] = math.Min(math.Max(st.step[i], eps/10), eps)
				spOld[i] = sp
				if reduced {
					copy(s.row(st.cur, i), s.row(st.xBest, i))
					copy(s.row(st.g, i), s.row(st.gBest, i))
				}
			}
			counter = 0
		}
	}
	return nil
}
