package attack

import (
	"context"
	"math"
	"math/rand/v2"
)

// OnePixel is the few-pixel attack of Su, Vargas & Sakurai, "One Pixel
// Attack for Fooling Deep Neural Networks" (IEEE TEVC 2019, Sec. III):
// differential evolution over candidates that each set `pixels` pixels
// (row, column and the values of all channels of each) of a [C,H,W] image
// (a flat [D] input is one row of D one-channel pixels). The population is
// initialised with uniform positions and values drawn from N(mid, half the
// clip range) clipped (the paper's N(128, 127) on 0..255); each generation
// every member i breeds a child by DE/rand/1 without crossover,
//
//	child = pop[r1] + F·(pop[r2] − pop[r3]),   r1, r2, r3, i distinct,
//
// (positions and values clipped to their ranges) which replaces its parent
// when it scores better: a lower probability of the true class
// (targeted: a higher one of the target). One query per child; a sample
// stops as soon as a candidate fools the model, after max_iter
// generations, or when its budget is spent (the last generation may be
// partial). The best candidate found is reported.
//
// Its perturbation is bounded by the pixel count, not a norm ball: Norm is
// L0 (reported per element changed) and Eps 0.
//
// Defaults: pixels=1, pop_size=40 (the paper uses 400; 40 keeps a CI run
// short), f=0.5 and max_iter=100 (the paper's), max_queries=2000, clip
// range [0, 1].
type OnePixel struct {
	maxQueries int
	pixels     int
	popSize    int
	maxIter    int
	f          float64
	bounds     Bounds
}

func (a *OnePixel) bind() *binder {
	b := newBinder("onepixel")
	b.int("pixels", &a.pixels, 1, "", "pixels changed (all channels of each)")
	b.int("pop_size", &a.popSize, 40, "", "differential-evolution population (queries per generation)")
	b.int("max_iter", &a.maxIter, 100, "", "most generations")
	b.float("f", &a.f, 0.5, "", "DE/rand/1 mutation scale F")
	b.int("max_queries", &a.maxQueries, 2000, "", "queries per sample, the clean check included")
	b.bounds(&a.bounds)
	return b
}

func (a *OnePixel) validate() error {
	if err := a.bounds.validate(); err != nil {
		return paramErr("onepixel", "min/max", [2]float32{a.bounds.Min, a.bounds.Max}, "min < max")
	}
	if err := positiveInt("onepixel", "pixels", a.pixels); err != nil {
		return err
	}
	if a.popSize < 4 {
		return paramErr("onepixel", "pop_size", a.popSize, "an integer ≥ 4 (DE/rand/1 draws three others)")
	}
	if err := positiveInt("onepixel", "max_iter", a.maxIter); err != nil {
		return err
	}
	if !(a.f > 0 && a.f <= 2) {
		return paramErr("onepixel", "f", a.f, "a number in (0, 2]")
	}
	return checkMaxQueries("onepixel", a.maxQueries)
}

// Name returns "onepixel".
func (a *OnePixel) Name() string { return "onepixel" }

// Params returns the resolved parameters.
func (a *OnePixel) Params() map[string]any { return a.bind().values() }

// Norm returns L0: the attack changes a fixed number of pixels.
func (a *OnePixel) Norm() Norm { return L0 }

// Eps returns 0: no norm ball (the pixel count bounds the perturbation).
func (a *OnePixel) Eps() float64 { return 0 }

// DecisionBased returns false: the fitness needs scores.
func (a *OnePixel) DecisionBased() bool { return false }

// MaxQueries returns the per-sample query budget.
func (a *OnePixel) MaxQueries() int { return a.maxQueries }

// Run attacks a batch through a score oracle over clf.
func (a *OnePixel) Run(ctx context.Context, clf Classifier, b Batch, rng *rand.Rand) (*Outcome, error) {
	return a.RunOracle(ctx, NewScoreOracle(clf, a.maxQueries), b, rng)
}

// RunOracle attacks a batch through a score oracle.
func (a *OnePixel) RunOracle(ctx context.Context, o LabelOracle, b Batch, rng *rand.Rand) (*Outcome, error) {
	s, err := beginBB(ctx, o, "onepixel", b, true, a.maxQueries, a.bounds)
	if err != nil {
		return nil, err
	}
	rs := newStreams(rng, b)
	g := geometryOf(s.shape)
	d, c, n, np := s.d, s.c, s.n, a.popSize
	gl := 2 + g.c       // genes per pixel
	gn := a.pixels * gl // genes per candidate
	lo := make([]float64, gn)
	hi := make([]float64, gn)
	for p := 0; p < a.pixels; p++ {
		lo[p*gl], hi[p*gl] = 0, float64(g.h)-1e-9
		lo[p*gl+1], hi[p*gl+1] = 0, float64(g.w)-1e-9
		for ch := 0; ch < g.c; ch++ {
			lo[p*gl+2+ch], hi[p*gl+2+ch] = float64(s.bounds.Min), float64(s.bounds.Max)
		}
	}
	mid, half := float64(s.bounds.Min+s.bounds.Max)/2, float64(s.bounds.Max-s.bounds.Min)/2
	pop := make([]float64, n*np*gn)
	child := make([]float64, n*np*gn)
	fit := make([]float64, n*np)
	best := make([]float64, n)
	gen := make([]int, n)
	fitness := s.ceLoss // log p_y (targeted −log p_t): the paper's probability, in log
	idx := s.attackable()
	for _, i := range idx {
		best[i] = fitness(s.cleanLP[i*c:(i+1)*c], i)
		rng := rs.at(i)
		for m := 0; m < np; m++ {
			cand := child[(i*np+m)*gn : (i*np+m+1)*gn]
			for p := 0; p < a.pixels; p++ {
				cand[p*gl] = rng.Float64() * hi[p*gl]
				cand[p*gl+1] = rng.Float64() * hi[p*gl+1]
				for ch := 0; ch < g.c; ch++ {
					cand[p*gl+2+ch] = math.Min(math.Max(mid+half*rng.NormFloat64(), lo[p*gl+2+ch]), hi[p*gl+2+ch])
				}
			}
		}
	}
	rows := max(maxQueryRows(d), np)
	type job struct{ i, m int }
	jobs := make([]job, 0, rows)
	ids := make([]int, 0, rows)
	for {
		if err := s.ctx.Err(); err != nil {
			return nil, err
		}
		idx = filter(idx, func(i int) bool { return !s.fooled[i] && s.left(i) >= 1 && gen[i] <= a.maxIter })
		if len(idx) == 0 {
			break
		}
		// Breed (from generation 1 on; generation 0 evaluates the initial
		// population held in child).
		for _, i := range idx {
			if gen[i] == 0 {
				continue
			}
			for m := 0; m < np; m++ {
				r1, r2, r3 := distinct3(rs.at(i), np, m)
				cd := child[(i*np+m)*gn : (i*np+m+1)*gn]
				p1 := pop[(i*np+r1)*gn : (i*np+r1+1)*gn]
				p2 := pop[(i*np+r2)*gn : (i*np+r2+1)*gn]
				p3 := pop[(i*np+r3)*gn : (i*np+r3+1)*gn]
				for k := range cd {
					cd[k] = math.Min(math.Max(p1[k]+a.f*(p2[k]-p3[k]), lo[k]), hi[k])
				}
			}
		}
		// Evaluate children in groups of at most rows queries.
		flush := func() error {
			if len(jobs) == 0 {
				return nil
			}
			xs := s.rows(len(jobs))
			for j, jb := range jobs {
				row := xs[j*d : (j+1)*d]
				copy(row, s.row(s.x, jb.i))
				cd := child[(jb.i*np+jb.m)*gn : (jb.i*np+jb.m+1)*gn]
				for p := 0; p < a.pixels; p++ {
					r, q := int(cd[p*gl]), int(cd[p*gl+1])
					for ch := 0; ch < g.c; ch++ {
						row[g.at(ch, r, q)] = clamp32(float32(cd[p*gl+2+ch]), s.bounds.Min, s.bounds.Max)
					}
				}
			}
			lp, err := s.scores(ids, xs)
			if err != nil {
				return err
			}
			for j, jb := range jobs {
				i, m := jb.i, jb.m
				z := lp[j*c : (j+1)*c]
				fv := fitness(z, i)
				fooled := s.goal(argmax(z), i)
				if gen[i] == 0 || fv < fit[i*np+m] {
					fit[i*np+m] = fv
					copy(pop[(i*np+m)*gn:(i*np+m+1)*gn], child[(i*np+m)*gn:(i*np+m+1)*gn])
				}
				if !s.fooled[i] && (fooled || fv < best[i]) {
					best[i] = fv
					s.keep(i, xs[j*d:(j+1)*d], z)
				}
			}
			jobs, ids = jobs[:0], ids[:0]
			return nil
		}
		for _, i := range idx {
			m := min(np, s.left(i))
			if gen[i] == 0 && m < np {
				// A partial initial population cannot breed: evaluate
				// what the budget pays and stop there.
				gen[i] = a.maxIter
			}
			if len(jobs)+m > rows {
				if err := flush(); err != nil {
					return nil, err
				}
			}
			for e := 0; e < m; e++ {
				jobs = append(jobs, job{i, e})
				ids = append(ids, i)
			}
		}
		if err := flush(); err != nil {
			return nil, err
		}
		for _, i := range idx {
			gen[i]++
		}
	}
	return s.finish(L0, 0)
}

// distinct3 draws three distinct indices in [0, n) other than skip.
func distinct3(rng *rand.Rand, n, skip int) (int, int, int) {
	draw := func(a, b, c int) int {
		for {
			v := rng.IntN(n)
			if v != skip && v != a && v != b && v != c {
				return v
			}
		}
	}
	r1 := draw(-1, -1, -1)
	r2 := draw(r1, -1, -1)
	return r1, r2, draw(r1, r2, -1)
}

func init() {
	mustRegister("onepixel", factoryFor("One/few-pixel attack by differential evolution (Su et al. 2019)", func() configurable { return &OnePixel{} }))
}
