package attack

import (
	"context"
	"fmt"
	"math"

	"github.com/advtest/advtest/pkg/tensor"
)

// bbSession is the state a black-box run shares: the validated batch, the
// oracle, per-sample query counts and budgets, the best point found per
// sample with the oracle's verdict on it, and reusable query buffers.
type bbSession struct {
	ctx     context.Context
	name    string
	lo      LabelOracle
	so      ScoreOracle // nil for decision-based attacks
	n, d, c int
	shape   []int
	x       []float32
	y, tgt  []int
	bounds  Bounds
	maxQ    int
	skipped []bool
	queries []int
	pred    []int     // clean top labels
	cleanLP []float32 // clean log-probabilities, n*c (score access only)
	best    []float32 // best point per sample, n*d
	fooled  []bool    // whether the oracle's answer for best[i] reaches the goal
	// bestPred is the oracle's top label for best[i] where an attack kept
	// it (keep), else the clean prediction.
	bestPred []int

	bx  []float32 // query rows
	lp  []float32 // log-probabilities of the last score query
	lab []int     // labels of the last label query
}

// beginBB validates the batch and the oracle, spends one query per sample
// on the clean input and marks the samples that cannot be attacked.
// Score-based attacks pass needScores.
func beginBB(ctx context.Context, o LabelOracle, name string, b Batch, needScores bool, maxQ int, bounds Bounds) (*bbSession, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if o == nil {
		return nil, fmt.Errorf("attack %s: nil oracle", name)
	}
	so, isScore := o.(ScoreOracle)
	if needScores && !isScore {
		return nil, fmt.Errorf("attack %s: needs a score oracle (this one answers labels only)", name)
	}
	if !needScores {
		so = nil
	}
	if err := bounds.validate(); err != nil {
		return nil, fmt.Errorf("attack %s: %v", name, err)
	}
	if b.X == nil || b.X.DType != tensor.Float32 || b.X.Rank() < 1 {
		return nil, fmt.Errorf("attack %s: batch X must be a float32 tensor [N, ...]", name)
	}
	n, d, c, err := validateBatch(name, "oracle", b, o.InputShape(), o.NumClasses(), bounds)
	if err != nil {
		return nil, err
	}
	s := &bbSession{
		ctx: ctx, name: name, lo: o, so: so, n: n, d: d, c: c,
		shape: append([]int(nil), b.X.Shape[1:]...),
		x:     b.X.F, y: b.Y, tgt: b.Targets, bounds: bounds, maxQ: maxQ,
		skipped: make([]bool, n),
		queries: make([]int, n),
		pred:    make([]int, n),
		best:    append([]float32(nil), b.X.F...),
		fooled:  make([]bool, n),
	}
	if n == 0 {
		return s, nil
	}
	all := make([]int, n)
	for i := range all {
		all[i] = i
		if s.left(i) < 1 {
			return nil, fmt.Errorf("attack %s: sample %d: no query budget left for the clean check", name, i)
		}
	}
	if so != nil {
		lp, err := s.scores(all, s.x)
		if err != nil {
			return nil, err
		}
		s.cleanLP = append([]float32(nil), lp...)
		for i := range all {
			s.pred[i] = argmax(lp[i*c : (i+1)*c])
		}
	} else {
		lab, err := s.labels(all, s.x)
		if err != nil {
			return nil, err
		}
		copy(s.pred, lab)
	}
	if b.rule != nil && b.Targets == nil {
		var clean func(i int) []float32
		if s.cleanLP != nil {
			clean = func(i int) []float32 { return s.cleanLP[i*c : (i+1)*c] }
		}
		if err := resolveTargets(name, &b, c, clean); err != nil {
			return nil, err
		}
		s.tgt = b.Targets
	}
	s.bestPred = append([]int(nil), s.pred...)
	for i := range all {
		s.skipped[i] = s.pred[i] != s.y[i] || (s.tgt != nil && s.tgt[i] == s.y[i])
	}
	return s, nil
}

// keep makes row the best point of sample i, with z its log-probabilities
// (or scores) as the oracle answered them.
func (s *bbSession) keep(i int, row, z []float32) {
	copy(s.row(s.best, i), row)
	p := argmax(z)
	s.bestPred[i] = p
	s.fooled[i] = s.goal(p, i)
}

// keepBetter scores the candidate points xs (row j for sample idx[j]) and
// makes a candidate its sample's best point when its loss (lossOf of its
// scores) is below loss[i], which it then becomes, or when it reaches the
// sample's goal: the acceptance rule of the score-based searches (NES,
// SimBA, Square). kept, when not nil, learns per sample whether its
// candidate was taken.
func (s *bbSession) keepBetter(idx []int, xs []float32, loss []float64, lossOf func(lp []float32, i int) float64, kept func(i int, ok bool)) error {
	lp, err := s.scores(idx, xs)
	if err != nil {
		return err
	}
	c, d := s.c, s.d
	for j, i := range idx {
		z := lp[j*c : (j+1)*c]
		fooled := s.goal(argmax(z), i)
		l := lossOf(z, i)
		ok := l < loss[i] || fooled
		if ok {
			loss[i] = l
			s.keep(i, xs[j*d:(j+1)*d], z)
		}
		if kept != nil {
			kept(i, ok)
		}
	}
	return nil
}

// left returns the queries sample i may still spend in this run.
func (s *bbSession) left(i int) int {
	l := s.maxQ - s.queries[i]
	if b := s.lo.Budget(); b > 0 {
		l = min(l, b-s.lo.Spent(i))
	}
	return max(l, 0)
}

// goal reports whether top label p reaches sample i's goal.
func (s *bbSession) goal(p, i int) bool {
	if s.tgt != nil {
		return p == s.tgt[i]
	}
	return p != s.y[i]
}

// row returns sample i of a flat [n*d] buffer.
func (s *bbSession) row(buf []float32, i int) []float32 { return buf[i*s.d : (i+1)*s.d] }

// attackable returns the indices of samples not skipped.
func (s *bbSession) attackable() []int {
	idx := make([]int, 0, s.n)
	for i, sk := range s.skipped {
		if !sk {
			idx = append(idx, i)
		}
	}
	return idx
}

// rows returns a query buffer of k rows (reused between calls).
func (s *bbSession) rows(k int) []float32 {
	if cap(s.bx) < k*s.d {
		s.bx = make([]float32, k*s.d)
	}
	return s.bx[:k*s.d]
}

// view wraps k rows as a [k, shape...] tensor.
func (s *bbSession) view(xs []float32, k int) *tensor.Tensor {
	shape := make([]int, 0, 1+len(s.shape))
	shape = append(shape, k)
	shape = append(shape, s.shape...)
	return &tensor.Tensor{Shape: shape, F: xs[:k*s.d]}
}

// scores queries the rows xs (row j for sample ids[j]) and returns their
// log-probabilities (k*c values, valid until the next query).
func (s *bbSession) scores(ids []int, xs []float32) ([]float32, error) {
	k := len(ids)
	out, err := s.so.Scores(s.ctx, ids, s.view(xs, k))
	if err != nil {
		return nil, s.wrap(err)
	}
	for _, i := range ids {
		s.queries[i]++
	}
	if cap(s.lp) < k*s.c {
		s.lp = make([]float32, k*s.c)
	}
	lp := s.lp[:k*s.c]
	for j := 0; j < k; j++ {
		logProbs(lp[j*s.c:(j+1)*s.c], out.F[j*s.c:(j+1)*s.c])
	}
	return lp, nil
}

// labels queries the rows xs (row j for sample ids[j]) and returns their
// top labels (valid until the next query).
func (s *bbSession) labels(ids []int, xs []float32) ([]int, error) {
	k := len(ids)
	if cap(s.lab) < k {
		s.lab = make([]int, k)
	}
	lab := s.lab[:k]
	if err := s.lo.Labels(s.ctx, ids, s.view(xs, k), lab); err != nil {
		return nil, s.wrap(err)
	}
	for _, i := range ids {
		s.queries[i]++
	}
	return lab, nil
}

// decide queries the rows and reports, per row, whether it reaches its
// sample's goal (into dst, len ≥ k), with labels or scores as available.
func (s *bbSession) decide(ids []int, xs []float32, dst []bool) error {
	if s.so != nil {
		lp, err := s.scores(ids, xs)
		if err != nil {
			return err
		}
		for j, i := range ids {
			dst[j] = s.goal(argmax(lp[j*s.c:(j+1)*s.c]), i)
		}
		return nil
	}
	lab, err := s.labels(ids, xs)
	if err != nil {
		return err
	}
	for j, i := range ids {
		dst[j] = s.goal(lab[j], i)
	}
	return nil
}

func (s *bbSession) wrap(err error) error {
	if s.ctx.Err() != nil {
		return s.ctx.Err()
	}
	return fmt.Errorf("attack %s: query: %w", s.name, err)
}

// finish projects every best point onto the ball and the clip range (a
// no-op for points the attack kept inside them), re-checks with one query
// any point the projection moved (or marks it not fooled when no budget is
// left), and assembles the Outcome with Fooled as the oracle answered it.
func (s *bbSession) finish(norm Norm, eps float64) (*Outcome, error) {
	tmp := make([]float32, s.d)
	var recheck []int
	for i := 0; i < s.n; i++ {
		r := s.row(s.best, i)
		if s.skipped[i] {
			copy(r, s.row(s.x, i))
			s.fooled[i] = false
			continue
		}
		copy(tmp, r)
		Project(norm, r, s.row(s.x, i), eps, s.bounds)
		if L0Dist(tmp, r) != 0 {
			if s.left(i) >= 1 {
				recheck = append(recheck, i)
			} else {
				copy(r, s.row(s.x, i))
				s.fooled[i] = false
			}
		}
	}
	if len(recheck) > 0 {
		xs := s.rows(len(recheck))
		for j, i := range recheck {
			copy(xs[j*s.d:(j+1)*s.d], s.row(s.best, i))
		}
		var lab []int
		if s.so != nil {
			lp, err := s.scores(recheck, xs)
			if err != nil {
				return nil, err
			}
			lab = make([]int, len(recheck))
			for j := range recheck {
				lab[j] = argmax(lp[j*s.c : (j+1)*s.c])
			}
		} else {
			l, err := s.labels(recheck, xs)
			if err != nil {
				return nil, err
			}
			lab = append([]int(nil), l...)
		}
		for j, i := range recheck {
			s.fooled[i] = s.goal(lab[j], i)
			s.bestPred[i] = lab[j]
		}
	}
	mis := make([]bool, s.n)
	for i := range mis {
		if s.skipped[i] {
			continue
		}
		// Decision-based attacks keep only points that reach the goal
		// (misclassified either way) or the clean sample.
		mis[i] = s.fooled[i] || s.bestPred[i] != s.y[i]
	}
	return &Outcome{
		XAdv:          &tensor.Tensor{Shape: append([]int{s.n}, s.shape...), F: s.best},
		Fooled:        s.fooled,
		Misclassified: mis,
		Targets:       s.tgt,
		Skipped:       s.skipped,
		GradEvals:     make([]int, s.n),
		Queries:       s.queries,
	}, nil
}

// margin returns the log-probability margin of sample i's goal from one
// row of log-probabilities: untargeted lp_y − max_{k≠y} lp_k, targeted
// max_{k≠t} lp_k − lp_t. It is ≤ 0 once the goal is (nearly) reached;
// attacks minimise it.
func (s *bbSession) margin(lp []float32, i int) float64 {
	if s.tgt != nil {
		t := s.tgt[i]
		return float64(lp[bestOther(lp, t)]) - float64(lp[t])
	}
	y := s.y[i]
	return float64(lp[y]) - float64(lp[bestOther(lp, y)])
}

// ceLoss returns the cross-entropy objective attacks minimise: untargeted
// log p_y (pushing the true class down), targeted −log p_t.
func (s *bbSession) ceLoss(lp []float32, i int) float64 {
	if s.tgt != nil {
		return -logProb(lp, s.tgt[i])
	}
	return logProb(lp, s.y[i])
}

// logProb returns log p_j from a row of log-probabilities as
// −log(1 + Σ_{k≠j} p_k/p_j), which stays informative when p_j is so close
// to 1 that lp[j] rounds to 0 (a confident model's true class).
func logProb(lp []float32, j int) float64 {
	s, z := 0.0, float64(lp[j])
	for k, v := range lp {
		if k != j {
			s += math.Exp(float64(v) - z)
		}
	}
	return -math.Log1p(s)
}

// geometry views one sample as c channels of an h×w image: [C,H,W] (any
// leading axes fold into channels), [H,W] as one channel, and a flat [D]
// as one row of D pixels.
type geometry struct{ c, h, w int }

func geometryOf(shape []int) geometry {
	switch len(shape) {
	case 0:
		return geometry{1, 1, 1}
	case 1:
		return geometry{1, 1, max(shape[0], 1)}
	}
	c := 1
	for _, v := range shape[:len(shape)-2] {
		c *= v
	}
	return geometry{max(c, 1), max(shape[len(shape)-2], 1), max(shape[len(shape)-1], 1)}
}

// at returns the flat index of channel ch, row r, column q.
func (g geometry) at(ch, r, q int) int { return (ch*g.h+r)*g.w + q }

// checkMaxQueries validates a max_queries parameter (at least the clean
// check and one more query).
func checkMaxQueries(name string, q int) error {
	if q < 2 {
		return paramErr(name, "max_queries", q, "an integer ≥ 2")
	}
	return nil
}

// sqr returns v².
func sqr(v float64) float64 { return v * v }

// clamp32 clamps v into [lo, hi].
func clamp32(v, lo, hi float32) float32 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// maxQueryRows returns the most rows of d elements one query should carry:
// 256, fewer for large samples (at most 1 Mi elements), so that a model's
// activations for one query stay small.
func maxQueryRows(d int) int { return max(1, min(256, (1<<20)/max(d, 1))) }
