package attack

import (
	"context"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

// linearMarginsL1 is linearMargins for the L1 norm: the dual norm of the
// facet normal is its Linf norm.
func linearMarginsL1(m *linearClf, b Batch) []float64 {
	n, d := b.Len(), m.d
	out := make([]float64, n)
	lg, _ := m.Logits(context.Background(), b.X)
	for i := 0; i < n; i++ {
		y := b.Y[i]
		best := math.Inf(1)
		for k := 0; k < m.c; k++ {
			if k == y {
				continue
			}
			f := float64(lg.F[i*m.c+y]) - float64(lg.F[i*m.c+k])
			wn := 0.0
			for j := 0; j < d; j++ {
				wn = math.Max(wn, math.Abs(m.w[k*d+j]-m.w[y*d+j]))
			}
			best = math.Min(best, f/wn)
		}
		out[i] = best
	}
	return out
}

// TestFABMinimalOnLinear checks FAB against the closed-form minimal
// perturbation of a 5-class linear model (no binding clip range): every
// sample fooled, none below the exact minimum, median within 2%.
func TestFABMinimalOnLinear(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const d, n = 16, 40
	m := newLinear(rng, 5, d)
	b := uniformBatch(rng, m, n, d, 0.3, 0.7)
	for _, tc := range []struct {
		spec string
		norm Norm
	}{
		{"fab:norm=l2,eps=100,min=-5,max=6,early_stop=false", L2},
		{"fab:norm=linf,eps=100,min=-5,max=6,early_stop=false", Linf},
		{"fab:norm=l1,eps=100,min=-5,max=6,early_stop=false", L1},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			o := run(t, mustNew(t, tc.spec), m, b, 1)
			var exact []float64
			if tc.norm == L1 {
				exact = linearMarginsL1(m, b)
			} else {
				exact = linearMargins(m, b, tc.norm)
			}
			got := PerturbationNorms(tc.norm, o.XAdv, b.X)
			var ratios []float64
			for i := range exact {
				if !o.Fooled[i] {
					t.Errorf("sample %d not fooled", i)
					continue
				}
				if got[i] < exact[i]*(1-1e-3) {
					t.Errorf("sample %d fooled at %g, below the exact minimum %g", i, got[i], exact[i])
				}
				ratios = append(ratios, got[i]/exact[i])
			}
			if len(ratios) == 0 {
				return
			}
			sort.Float64s(ratios)
			if med := ratios[len(ratios)/2]; med > 1.02 {
				t.Errorf("median norm ratio to the exact minimum %.4f, want ≤ 1.02", med)
			}
			t.Logf("norm ratios to exact: min %.4f median %.4f max %.4f", ratios[0], ratios[len(ratios)/2], ratios[len(ratios)-1])
		})
	}
}

// TestHyperplaneStep checks FAB's box-constrained projections: the step
// reaches the hyperplane when it can, stays in the box, matches the
// closed form when the box does not bind, and is no longer than random
// feasible steps.
func TestHyperplaneStep(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const d = 12
	bounds := DefaultBounds()
	dot := func(w, v []float64) float64 {
		s := 0.0
		for i := range w {
			s += w[i] * v[i]
		}
		return s
	}
	for _, norm := range []Norm{Linf, L2, L1} {
		t.Run(norm.String(), func(t *testing.T) {
			scratch := make([]hpItem, 0, d)
			delta := make([]float64, d)
			p := make([]float32, d)
			w := make([]float64, d)
			reached := 0
			for trial := 0; trial < 300; trial++ {
				for i := range p {
					p[i] = float32(rng.Float64())
					w[i] = rng.NormFloat64()
				}
				if trial%7 == 0 {
					w[3] = 0
				}
				c := rng.NormFloat64() * 2
				hyperplaneStep(norm, delta, p, w, c, bounds, scratch)
				for i, v := range delta {
					if q := float64(p[i]) + v; q < -1e-12 || q > 1+1e-12 {
						t.Fatalf("trial %d: element %d leaves the box: %g", trial, i, q)
					}
				}
				got := dot(w, delta)
				if math.Abs(got-c) > 1e-9*(1+math.Abs(c)) {
					// Unreachable: every useful element must sit at the box.
					for i, v := range delta {
						if w[i] == 0 {
							continue
						}
						want := float64(bounds.Max) - float64(p[i])
						if (w[i] > 0) != (c > 0) {
							want = float64(bounds.Min) - float64(p[i])
						}
						if math.Abs(v-want) > 1e-12 {
							t.Fatalf("trial %d: hyperplane not reached (%g vs %g) but element %d at %g, box at %g", trial, got, c, i, v, want)
						}
					}
					continue
				}
				reached++
				nOurs := norm64(norm, delta)
				// Random feasible steps: random direction scaled onto the
				// hyperplane, kept when inside the box.
				r := make([]float64, d)
				for k := 0; k < 200; k++ {
					for i := range r {
						r[i] = rng.NormFloat64()
						if rng.IntN(3) == 0 {
							r[i] = 0
						}
					}
					s := dot(w, r)
					if s == 0 {
						continue
					}
					inside := true
					for i := range r {
						r[i] *= c / s
						if q := float64(p[i]) + r[i]; q < 0 || q > 1 {
							inside = false
						}
					}
					if inside && norm64(norm, r) < nOurs*(1-1e-9) {
						t.Fatalf("trial %d: feasible step of norm %g shorter than the projection's %g", trial, norm64(norm, r), nOurs)
					}
				}
			}
			if reached < 100 {
				t.Errorf("only %d of 300 hyperplanes reachable: degenerate test", reached)
			}
			// Without a binding box the closed forms hold.
			wide := Bounds{Min: -100, Max: 100}
			for i := range p {
				w[i] = rng.NormFloat64()
			}
			c := 0.7
			hyperplaneStep(norm, delta, p, w, c, wide, scratch)
			w1, w2, wi := 0.0, 0.0, 0.0
			for _, v := range w {
				w1 += math.Abs(v)
				w2 += v * v
				wi = math.Max(wi, math.Abs(v))
			}
			want := map[Norm]float64{Linf: c / w1, L2: c / math.Sqrt(w2), L1: c / wi}[norm]
			if got := norm64(norm, delta); math.Abs(got-want) > 1e-12 {
				t.Errorf("unboxed projection norm %g, closed form %g", got, want)
			}
		})
	}
}

// TestProjectL1 checks the L1-ball ∩ box projection: the result is in both
// sets, is the identity inside them, and is no farther from the input
// than random points of the intersection.
func TestProjectL1(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const d = 20
	b := DefaultBounds()
	x := make([]float32, d)
	z := make([]float32, d)
	xa := make([]float32, d)
	for _, eps := range []float64{1e-6, 0.05, 0.5, 2, 50} {
		for trial := 0; trial < 100; trial++ {
			for i := range x {
				x[i] = float32(rng.Float64())
				z[i] = x[i] + float32(rng.NormFloat64()*0.4)
			}
			copy(xa, z)
			ProjectL1(xa, x, eps, b)
			if got := L1Dist(xa, x); got > eps {
				t.Fatalf("eps %g: L1 distance %.10g", eps, got)
			}
			for _, v := range xa {
				if v < b.Min || v > b.Max {
					t.Fatalf("eps %g: value %g outside the box", eps, v)
				}
			}
			dOurs := L2Dist(xa, z)
			// Random points of the intersection: a random perturbation
			// clipped, then scaled into the ball.
			y := make([]float32, d)
			for k := 0; k < 100; k++ {
				for i := range y {
					y[i] = x[i] + float32(rng.NormFloat64()*eps/float64(d)*3)
				}
				Clip(y, b)
				if n := L1Dist(y, x); n > eps {
					scaleToward(y, x, eps/n*(1-1e-6))
				}
				if L1Dist(y, x) > eps {
					continue
				}
				if dy := L2Dist(y, z); dy < dOurs*(1-1e-5)-1e-7 {
					t.Fatalf("eps %g trial %d: a feasible point is closer to the input (%g) than the projection (%g)", eps, trial, dy, dOurs)
				}
			}
			// Idempotent on feasible points.
			copy(y, xa)
			ProjectL1(y, x, eps, b)
			for i := range y {
				if math.Abs(float64(y[i]-xa[i])) > 1e-6 {
					t.Fatalf("eps %g: projection moved a feasible point (element %d %g → %g)", eps, i, xa[i], y[i])
				}
			}
		}
	}
}
