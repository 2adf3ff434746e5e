package attack

import (
	"context"
	"math"
	"math/rand/v2"
)

// SimBA is the Simple Black-box Attack of Guo, Gardner, You, Wilson &
// Weinberger, "Simple Black-box Adversarial Attacks" (ICML 2019, Alg. 1):
// walk through orthonormal basis directions q in a fixed order; for each,
// try x − step·q, and if that does not lower the probability of the true
// class (targeted: raise that of the target), try x + step·q; keep the
// first that does. Two bases (Sec. 3): "pixel" (the standard basis, in
// random order) and "dct" (SimBA-DCT: 2-D DCT-II basis images per channel,
// ordered from low to high frequency: the freq_dim×freq_dim block first,
// then bands of width stride, each band in random order, as the official
// block_order). A candidate that the clip range (or the ball) leaves
// equal to the current point is skipped without a query. A sample stops
// once fooled, when its budget is spent or when every direction was tried.
//
// Without eps, SimBA is a minimal-perturbation attack (Norm none; its L2
// norm is at most step·√(accepted steps)); with eps > 0 every candidate is
// projected onto the ball of norm (l2 or linf).
//
// Defaults: basis=dct, step=0.2 (the official code's epsilon), freq_dim=4
// and stride=1 (ART's defaults), max_queries=3000 (ART's max_iter), eps=0,
// clip range [0, 1].
type SimBA struct {
	ball
	maxQueries int
	step       float64
	basis      string
	freqDim    int
	stride     int
}

func (a *SimBA) bind() *binder {
	b := newBinder("simba")
	b.enum("basis", &a.basis, "dct", []string{"dct", "pixel"}, "search directions: low-frequency DCT basis or single pixels")
	b.float("step", &a.step, 0.2, "", "length of each step along a basis direction")
	b.int("freq_dim", &a.freqDim, 4, "", "side of the lowest-frequency DCT block searched first (dct)")
	b.int("stride", &a.stride, 1, "", "width of each further frequency band (dct)")
	b.int("max_queries", &a.maxQueries, 3000, "", "queries per sample, the clean check included")
	b.norm("norm", &a.norm, L2, []Norm{L2, Linf}, "norm of the ball when eps > 0")
	b.float("eps", &a.eps, 0, "0 (unbounded)", "if positive, keep every candidate in the eps-ball")
	b.bounds(&a.bounds)
	return b
}

func (a *SimBA) validate() error {
	if err := a.ball.validate("simba", false); err != nil {
		return err
	}
	if !(a.step > 0) {
		return paramErr("simba", "step", a.step, "a positive number")
	}
	if err := positiveInt("simba", "freq_dim", a.freqDim); err != nil {
		return err
	}
	if err := positiveInt("simba", "stride", a.stride); err != nil {
		return err
	}
	return checkMaxQueries("simba", a.maxQueries)
}

// Name returns "simba".
func (a *SimBA) Name() string { return "simba" }

// Params returns the resolved parameters.
func (a *SimBA) Params() map[string]any { return a.bind().values() }

// Norm returns the ball's norm, or NormNone when unbounded.
func (a *SimBA) Norm() Norm {
	if a.eps > 0 {
		return a.norm
	}
	return NormNone
}

// DecisionBased returns false: SimBA needs scores.
func (a *SimBA) DecisionBased() bool { return false }

// MaxQueries returns the per-sample query budget.
func (a *SimBA) MaxQueries() int { return a.maxQueries }

// Run attacks a batch through a score oracle over clf.
func (a *SimBA) Run(ctx context.Context, clf Classifier, b Batch, rng *rand.Rand) (*Outcome, error) {
	return a.RunOracle(ctx, NewScoreOracle(clf, a.maxQueries), b, rng)
}

// dctOrder returns the SimBA-DCT coordinate order over (channel, u, v):
// the fd×fd low-frequency block, then bands max(u,v) ∈ [fd+k·stride,
// fd+(k+1)·stride), each band shuffled.
func dctOrder(rng *rand.Rand, g geometry, fd, stride int) []int {
	band := func(u, v int) int {
		if u < fd && v < fd {
			return 0
		}
		return 1 + (max(u, v)-fd)/stride
	}
	nb := band(g.h-1, g.w-1) + 1
	if fd >= max(g.h, g.w) {
		nb = 1
	}
	counts := make([]int, nb+1)
	for u := 0; u < g.h; u++ {
		for v := 0; v < g.w; v++ {
			counts[band(u, v)+1] += g.c
		}
	}
	for k := 1; k <= nb; k++ {
		counts[k] += counts[k-1]
	}
	order := make([]int, g.c*g.h*g.w)
	pos := append([]int(nil), counts[:nb]...)
	for ch := 0; ch < g.c; ch++ {
		for u := 0; u < g.h; u++ {
			for v := 0; v < g.w; v++ {
				bd := band(u, v)
				order[pos[bd]] = g.at(ch, u, v)
				pos[bd]++
			}
		}
	}
	for k := 0; k < nb; k++ {
		seg := order[counts[k]:counts[k+1]]
		rng.Shuffle(len(seg), func(i, j int) { seg[i], seg[j] = seg[j], seg[i] })
	}
	return order
}

// dctTable returns the orthonormal DCT-II basis table t[f·n + k] =
// α_f·cos(π(2k+1)f/(2n)).
func dctTable(n int) []float64 {
	t := make([]float64, n*n)
	for f := 0; f < n; f++ {
		al := math.Sqrt(2 / float64(n))
		if f == 0 {
			al = math.Sqrt(1 / float64(n))
		}
		for k := 0; k < n; k++ {
			t[f*n+k] = al * math.Cos(math.Pi*float64(2*k+1)*float64(f)/float64(2*n))
		}
	}
	return t
}

// RunOracle attacks a batch through a score oracle.
func (a *SimBA) RunOracle(ctx context.Context, o LabelOracle, b Batch, rng *rand.Rand) (*Outcome, error) {
	s, err := beginBB(ctx, o, "simba", b, true, a.maxQueries, a.bounds)
	if err != nil {
		return nil, err
	}
	rs := newStreams(rng, b)
	g := geometryOf(s.shape)
	d, c := s.d, s.c
	var th, tw []float64
	if a.basis == "dct" {
		th, tw = dctTable(g.h), dctTable(g.w)
	}
	// Each sample searches the directions in its own random order, drawn
	// from its own generator.
	orders := make([][]int, s.n)
	loss := make([]float64, s.n)
	pos := make([]int, s.n)    // next direction per sample
	minus := make([]bool, s.n) // whether the next try is the − side
	objective := s.ceLoss
	idx := s.attackable()
	for _, i := range idx {
		loss[i] = objective(s.cleanLP[i*c:(i+1)*c], i)
		minus[i] = true
		if a.basis == "dct" {
			orders[i] = dctOrder(rs.at(i), g, a.freqDim, a.stride)
		} else {
			orders[i] = rs.at(i).Perm(d)
		}
	}
	// build writes the next candidate of sample i that differs from its
	// current point into ci, advancing past directions that change nothing;
	// it returns false when the directions are exhausted.
	build := func(i int, ci []float32) bool {
		bi, xi, order := s.row(s.best, i), s.row(s.x, i), orders[i]
		for pos[i] < len(order) {
			sg := a.step
			if minus[i] {
				sg = -sg
			}
			copy(ci, bi)
			k := order[pos[i]]
			if a.basis == "dct" {
				ch, u, v := k/(g.h*g.w), (k/g.w)%g.h, k%g.w
				base := ch * g.h * g.w
				for r := 0; r < g.h; r++ {
					fr := sg * th[u*g.h+r]
					row := ci[base+r*g.w : base+(r+1)*g.w]
					for q := range row {
						row[q] = float32(float64(row[q]) + fr*tw[v*g.w+q])
					}
				}
				Clip(ci[base:base+g.h*g.w], s.bounds)
			} else {
				ci[k] = clamp32(float32(float64(ci[k])+sg), s.bounds.Min, s.bounds.Max)
			}
			if a.eps > 0 {
				Project(a.norm, ci, xi, a.eps, s.bounds)
			}
			if L0Dist(ci, bi) != 0 {
				return true
			}
			a.advance(pos, minus, i)
		}
		return false
	}
	for {
		if err := s.ctx.Err(); err != nil {
			return nil, err
		}
		idx = filter(idx, func(i int) bool { return !s.fooled[i] && s.left(i) >= 1 && pos[i] < d })
		xs := s.rows(len(idx))
		k := 0
		for _, i := range idx {
			if build(i, xs[k*d:(k+1)*d]) {
				idx[k] = i
				k++
			}
		}
		idx = idx[:k]
		if k == 0 {
			break
		}
		err := s.keepBetter(idx, xs, loss, objective, func(i int, kept bool) {
			if kept {
				pos[i]++
				minus[i] = true
			} else {
				a.advance(pos, minus, i)
			}
		})
		if err != nil {
			return nil, err
		}
	}
	return s.finish(a.Norm(), a.eps)
}

// advance moves sample i from the − side of its direction to the + side,
// or from the + side to the next direction.
func (a *SimBA) advance(pos []int, minus []bool, i int) {
	if minus[i] {
		minus[i] = false
		return
	}
	minus[i] = true
	pos[i]++
}

func init() {
	mustRegister("simba", factoryFor("SimBA: score-based search along pixel or low-frequency DCT directions (Guo et al. 2019)", func() configurable { return &SimBA{} }))
}
