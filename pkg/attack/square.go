package attack

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
)

// Square is the Square Attack of Andriushchenko, Croce, Flammarion & Hein,
// "Square Attack: a query-efficient black-box adversarial attack via random
// search" (ECCV 2020), a score-based random search that changes one random
// square window per query and keeps the change when the loss falls:
//
//   - Linf (Alg. 1, Sec. 3.1): initialised with vertical stripes of ±eps
//     (one sign per channel and column); each step sets a random s×s window
//     of every channel to x ± eps (one sign per channel), redrawing signs
//     that would leave the window unchanged.
//   - L2 (Alg. 3, Sec. 3.2): initialised with a 5×5 grid of pseudo-Gaussian
//     bumps scaled to norm eps; each step moves the perturbation's mass of
//     a second random window into a new bump in the first window, keeping
//     the total norm at eps.
//
// The window side follows the paper's p schedule: s = round(√(p·h·w)),
// with p = p_init halved at iterations 10, 50, 200, 500, 1000, 2000, 4000,
// 6000 and 8000 of a 10000-query run, rescaled to max_queries. The loss is
// the margin of log-probabilities (untargeted) or the cross-entropy of the
// target (targeted), as in the official code; a sample stops as soon as a
// query fools it. Samples are [C,H,W] images (flat [D] inputs are one row
// of D pixels, windows then 1×s).
//
// Defaults: norm=linf, eps=0.3, max_queries=1000 (including the clean
// check), p_init=0.8 (the paper's MNIST and AutoAttack setting and ART's
// default; the official code uses 0.05 for Linf and 0.1 for L2 on
// ImageNet, where windows of 80% of the image are too coarse), clip range
// [0, 1]. AutoAttack's stage runs it with 5000 queries.
type Square struct {
	ball
	maxQueries int
	pInit      float64
}

func (a *Square) bind() *binder {
	b := newBinder("square")
	b.norm("norm", &a.norm, Linf, []Norm{Linf, L2}, "norm of the ball")
	b.float("eps", &a.eps, 0.3, "", "radius of the ball in input space")
	b.int("max_queries", &a.maxQueries, 1000, "", "queries per sample, the clean check included")
	b.float("p_init", &a.pInit, 0.8, "", "initial fraction of pixels a window covers (halved on the paper's schedule)")
	b.bounds(&a.bounds)
	return b
}

func (a *Square) validate() error {
	if err := a.ball.validate("square", true); err != nil {
		return err
	}
	if !(a.pInit > 0 && a.pInit <= 1) {
		return paramErr("square", "p_init", a.pInit, "a number in (0, 1]")
	}
	return checkMaxQueries("square", a.maxQueries)
}

// Name returns "square".
func (a *Square) Name() string { return "square" }

// Params returns the resolved parameters.
func (a *Square) Params() map[string]any { return a.bind().values() }

// DecisionBased returns false: Square needs scores.
func (a *Square) DecisionBased() bool { return false }

// MaxQueries returns the per-sample query budget.
func (a *Square) MaxQueries() int { return a.maxQueries }

// Run attacks a batch through a score oracle over clf.
func (a *Square) Run(ctx context.Context, clf Classifier, b Batch, rng *rand.Rand) (*Outcome, error) {
	return a.RunOracle(ctx, NewScoreOracle(clf, a.maxQueries), b, rng)
}

// squareP is the paper's p schedule: p_init halved at fixed fractions of
// a 10000-iteration run, rescaled to n iterations.
func squareP(pInit float64, it, n int) float64 {
	i := int(float64(it) / float64(n) * 10000)
	switch {
	case i <= 10:
		return pInit
	case i <= 50:
		return pInit / 2
	case i <= 200:
		return pInit / 4
	case i <= 500:
		return pInit / 8
	case i <= 1000:
		return pInit / 16
	case i <= 2000:
		return pInit / 32
	case i <= 4000:
		return pInit / 64
	case i <= 6000:
		return pInit / 128
	case i <= 8000:
		return pInit / 256
	case i <= 10000:
		return pInit / 512
	}
	return pInit
}

// linfWindow returns the window of the Linf step for fraction p: s×s with
// s = round(√(p·h·w)) in [1, min(h,w)−1] (1×round(p·w) for one-row inputs).
func (g geometry) linfWindow(p float64) (sh, sw int) {
	if g.h == 1 {
		return 1, min(max(int(math.Round(p*float64(g.w))), 1), max(g.w-1, 1))
	}
	s := int(math.Round(math.Sqrt(p * float64(g.h*g.w))))
	return clampWin(s, min(g.h, g.w)), clampWin(s, min(g.h, g.w))
}

// l2Window returns the window of the L2 step: odd side at least 3.
func (g geometry) l2Window(p float64) (sh, sw int) {
	if g.h == 1 {
		s := max(int(math.Round(p*float64(g.w))), 3)
		s |= 1
		return 1, clampWin(s, g.w)
	}
	s := max(int(math.Round(math.Sqrt(p*float64(g.h*g.w)))), 3)
	s |= 1
	s = clampWin(s, min(g.h, g.w))
	return s, s
}

// clampWin clamps a window side into [1, max(n−1, 1)].
func clampWin(s, n int) int { return min(max(s, 1), max(n-1, 1)) }

// bumpRect fills dst (hh×ww, row-major) with the paper's pseudo-Gaussian
// rectangle: nested rectangles around the centre weighted 1/(k+1)²,
// normalised to unit L2 norm.
func bumpRect(dst []float64, hh, ww int) {
	clear(dst[:hh*ww])
	if hh == 0 || ww == 0 {
		return
	}
	ch, cw := hh/2, ww/2
	for k := 0; k < max(ch+1, cw+1); k++ {
		r0, r1 := max(ch-k, 0), min(ch-k+2*k+1, hh)
		q0, q1 := max(cw-k, 0), min(cw-k+2*k+1, ww)
		wgt := 1 / sqr(float64(k+1))
		for r := r0; r < r1; r++ {
			for q := q0; q < q1; q++ {
				dst[r*ww+q] += wgt
			}
		}
	}
	normalize64(dst[:hh*ww])
}

// normalize64 scales v to unit L2 norm (a zero vector stays zero).
func normalize64(v []float64) {
	s := 0.0
	for _, e := range v {
		s += e * e
	}
	if s > 0 {
		inv := 1 / math.Sqrt(s)
		for k := range v {
			v[k] *= inv
		}
	}
}

// squareBumps caches the two-part bump of Alg. 3 (upper half +, lower half
// −) per window size.
type squareBumps struct {
	sh, sw    int
	up, trans []float64
	tmp       []float64
}

// bump returns the meta pseudo-Gaussian perturbation of a sh×sw window,
// transposed with probability 1/2 when square.
func (c *squareBumps) bump(rng *rand.Rand, sh, sw int) []float64 {
	if c.sh != sh || c.sw != sw {
		c.sh, c.sw = sh, sw
		c.up = make([]float64, sh*sw)
		c.trans = make([]float64, sh*sw)
		c.tmp = make([]float64, sh*sw)
		top := sh / 2
		bumpRect(c.tmp, top, sw)
		copy(c.up, c.tmp[:top*sw])
		bumpRect(c.tmp, sh-top, sw)
		for k, v := range c.tmp[:(sh-top)*sw] {
			c.up[top*sw+k] = -v
		}
		normalize64(c.up)
		for r := 0; r < sh; r++ {
			for q := 0; q < sw; q++ {
				if sh == sw {
					c.trans[q*sh+r] = c.up[r*sw+q]
				}
			}
		}
	}
	if rng.Float64() > 0.5 && sh == sw {
		return c.trans
	}
	return c.up
}

// RunOracle attacks a batch through a score oracle.
func (a *Square) RunOracle(ctx context.Context, o LabelOracle, b Batch, rng *rand.Rand) (*Outcome, error) {
	s, err := beginBB(ctx, o, "square", b, true, a.maxQueries, a.bounds)
	if err != nil {
		return nil, err
	}
	rs := newStreams(rng, b)
	g := geometryOf(s.shape)
	d, c := s.d, s.c
	loss := make([]float64, s.n)
	var bumps squareBumps
	delta := make([]float64, d) // L2 working perturbation of one sample
	newW := make([]float64, d)

	lossOf := func(lp []float32, i int) float64 {
		if s.tgt != nil {
			return s.ceLoss(lp, i)
		}
		return s.margin(lp, i)
	}
	// Initialisation: one query per attackable sample.
	idx := s.attackable()
	xs := s.rows(len(idx))
	for j, i := range idx {
		xi, ci, rng := s.row(s.x, i), xs[j*d:(j+1)*d], rs.at(i)
		if a.norm == Linf {
			for ch := 0; ch < g.c; ch++ {
				for q := 0; q < g.w; q++ {
					up := rng.IntN(2) == 1
					for r := 0; r < g.h; r++ {
						k := g.at(ch, r, q)
						lo, hi := linfBox(xi[k], a.eps, s.bounds)
						if up {
							ci[k] = hi
						} else {
							ci[k] = lo
						}
					}
				}
			}
			continue
		}
		clear(delta)
		th, tw := max(g.h/5, 1), max(g.w/5, 1)
		r0, q0 := max((g.h-5*th)/2, 0), max((g.w-5*tw)/2, 0)
		for r := r0; r+th <= g.h && r < r0+5*th; r += th {
			for q := q0; q+tw <= g.w && q < q0+5*tw; q += tw {
				bp := bumps.bump(rng, th, tw)
				for ch := 0; ch < g.c; ch++ {
					sg := float64(2*rng.IntN(2) - 1)
					for u := 0; u < th; u++ {
						for v := 0; v < tw; v++ {
							delta[g.at(ch, r+u, q+v)] += sg * bp[u*tw+v]
						}
					}
				}
			}
		}
		a.l2Point(ci, xi, delta, s.bounds)
	}
	if len(idx) > 0 {
		lp, err := s.scores(idx, xs)
		if err != nil {
			return nil, err
		}
		for j, i := range idx {
			z := lp[j*c : (j+1)*c]
			s.keep(i, xs[j*d:(j+1)*d], z)
			loss[i] = lossOf(z, i)
		}
	}
	// Random search.
	for it := 1; ; it++ {
		idx = filter(idx, func(i int) bool { return !s.fooled[i] && s.left(i) >= 1 })
		if len(idx) == 0 {
			break
		}
		if err := s.ctx.Err(); err != nil {
			return nil, err
		}
		p := squareP(a.pInit, it-1, a.maxQueries)
		xs = s.rows(len(idx))
		for j, i := range idx {
			ci, xi, bi := xs[j*d:(j+1)*d], s.row(s.x, i), s.row(s.best, i)
			copy(ci, bi)
			if a.norm == Linf {
				a.linfStep(rs.at(i), g, p, ci, xi, bi, s.bounds)
			} else {
				a.l2Step(rs.at(i), g, p, &bumps, ci, xi, bi, delta, newW, s.bounds)
			}
		}
		if err := s.keepBetter(idx, xs, loss, lossOf, nil); err != nil {
			return nil, err
		}
	}
	return s.finish(a.norm, a.eps)
}

// linfStep sets a random window of ci (a copy of the best point bi) to
// x ± eps, one sign per channel, redrawing signs that change nothing.
func (a *Square) linfStep(rng *rand.Rand, g geometry, p float64, ci, xi, bi []float32, bounds Bounds) {
	sh, sw := g.linfWindow(p)
	r0, q0 := rng.IntN(g.h-sh+1), rng.IntN(g.w-sw+1)
	for try := 0; try < 100; try++ {
		changed := false
		for ch := 0; ch < g.c; ch++ {
			up := rng.IntN(2) == 1
			for r := r0; r < r0+sh; r++ {
				for q := q0; q < q0+sw; q++ {
					k := g.at(ch, r, q)
					lo, hi := linfBox(xi[k], a.eps, bounds)
					v := lo
					if up {
						v = hi
					}
					ci[k] = v
					changed = changed || v != bi[k]
				}
			}
		}
		if changed {
			return
		}
	}
}

// l2Step is the window update of Alg. 3: the perturbation's mass in window
// 2 and window 1 (per channel) goes into a new bump in window 1 (plus the
// old content of window 1, normalised), window 2 is cleared, and the whole
// perturbation is rescaled to norm eps.
func (a *Square) l2Step(rng *rand.Rand, g geometry, p float64, bumps *squareBumps, ci, xi, bi []float32, delta, newW []float64, bounds Bounds) {
	sh, sw := g.l2Window(p)
	r1, q1 := rng.IntN(g.h-sh+1), rng.IntN(g.w-sw+1)
	r2, q2 := rng.IntN(g.h-sh+1), rng.IntN(g.w-sw+1)
	in := func(r, q, r0, q0 int) bool { return r >= r0 && r < r0+sh && q >= q0 && q < q0+sw }
	img := 0.0
	for k := range delta {
		delta[k] = float64(bi[k]) - float64(xi[k])
		img += delta[k] * delta[k]
	}
	bp := bumps.bump(rng, sh, sw)
	for ch := 0; ch < g.c; ch++ {
		win1, union := 0.0, 0.0
		for r := 0; r < g.h; r++ {
			for q := 0; q < g.w; q++ {
				in1, in2 := in(r, q, r1, q1), in(r, q, r2, q2)
				if !in1 && !in2 {
					continue
				}
				v := sqr(delta[g.at(ch, r, q)])
				union += v
				if in1 {
					win1 += v
				}
			}
		}
		win1 = math.Sqrt(win1)
		sg := float64(2*rng.IntN(2) - 1)
		nn := 0.0
		for u := 0; u < sh; u++ {
			for v := 0; v < sw; v++ {
				e := sg*bp[u*sw+v] + delta[g.at(ch, r1+u, q1+v)]/(1e-10+win1)
				newW[u*sw+v] = e
				nn += e * e
			}
		}
		scale := math.Sqrt(math.Max(a.eps*a.eps-img, 0)/float64(g.c)+union) / math.Max(math.Sqrt(nn), 1e-30)
		for u := r2; u < r2+sh; u++ {
			for v := q2; v < q2+sw; v++ {
				delta[g.at(ch, u, v)] = 0
			}
		}
		for u := 0; u < sh; u++ {
			for v := 0; v < sw; v++ {
				delta[g.at(ch, r1+u, q1+v)] = newW[u*sw+v] * scale
			}
		}
	}
	a.l2Point(ci, xi, delta, bounds)
}

// l2Point sets ci = Π(x + eps·delta/‖delta‖₂) (clip range, then the ball
// exactly).
func (a *Square) l2Point(ci, xi []float32, delta []float64, bounds Bounds) {
	nrm := 0.0
	for _, v := range delta {
		nrm += v * v
	}
	f := 0.0
	if nrm > 0 {
		f = a.eps / math.Sqrt(nrm)
	}
	for k, v := range delta {
		ci[k] = float32(float64(xi[k]) + f*v)
	}
	ProjectL2(ci, xi, a.eps, bounds)
}

func init() {
	mustRegister("square", factoryFor("Square Attack: score-based random search over square windows (Andriushchenko et al. 2020)", func() configurable { return &Square{} }))
	if err := RegisterAutoAttackStage("square", func(norm Norm, eps float64, b Bounds) (Attack, error) {
		return New("square", map[string]string{
			"norm": norm.String(), "eps": strconv.FormatFloat(eps, 'g', -1, 64),
			"max_queries": "5000",
			"min":         strconv.FormatFloat(float64(b.Min), 'g', -1, 32),
			"max":         strconv.FormatFloat(float64(b.Max), 'g', -1, 32),
		})
	}); err != nil {
		panic(err)
	}
}
