package attack

import (
	"context"
	"fmt"
	"math"

	"github.com/advtest/advtest/pkg/tensor"
)

// session is the state every attack run shares: the validated batch, the
// clean predictions, the per-sample counters and reusable buffers sized
// for the whole batch, so that iterations allocate nothing per element.
type session struct {
	ctx      context.Context
	clf      Classifier
	name     string
	n, d, c  int
	shape    []int // one sample's shape
	x        []float32
	y        []int
	tgt      []int // nil when untargeted
	bounds   Bounds
	clean    []float32 // clean logits, n*c
	skipped  []bool
	gradEval []int
	queries  []int

	bx   []float32 // gathered sub-batch inputs, n*d
	by   []int     // gathered labels
	bt   []int     // gathered targets
	dl   []float32 // dLoss/dLogits, n*c
	loss []float32 // per-sample loss, n
}

// begin validates the batch and classifier, runs the clean forward pass and
// marks the samples that cannot be attacked.
func begin(ctx context.Context, clf Classifier, name string, b Batch, targetedOK bool, bounds Bounds) (*session, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if clf == nil {
		return nil, fmt.Errorf("attack %s: nil classifier", name)
	}
	if err := bounds.validate(); err != nil {
		return nil, fmt.Errorf("attack %s: %v", name, err)
	}
	if b.X == nil || b.X.DType != tensor.Float32 || b.X.Rank() < 1 {
		return nil, fmt.Errorf("attack %s: batch X must be a float32 tensor [N, ...]", name)
	}
	if (b.Targeted() || b.rule != nil) && !targetedOK {
		return nil, fmt.Errorf("attack %s: has no targeted form (batch has targets)", name)
	}
	n, d, c, err := validateBatch(name, "classifier", b, clf.InputShape(), clf.NumClasses(), bounds)
	if err != nil {
		return nil, err
	}
	s := &session{
		ctx: ctx, clf: clf, name: name, n: n, d: d, c: c,
		shape: append([]int(nil), b.X.Shape[1:]...),
		x:     b.X.F, y: b.Y, tgt: b.Targets, bounds: bounds,
		skipped:  make([]bool, n),
		gradEval: make([]int, n),
		queries:  make([]int, n),
		bx:       make([]float32, n*d),
		by:       make([]int, n),
		dl:       make([]float32, n*c),
		loss:     make([]float32, n),
	}
	if b.Targeted() {
		s.bt = make([]int, n)
	}
	if n == 0 {
		return s, nil
	}
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	lg, err := s.logits(all, s.x)
	if err != nil {
		return nil, err
	}
	s.clean = append([]float32(nil), lg.F...)
	if b.rule != nil && b.Targets == nil {
		if err := resolveTargets(name, &b, c, func(i int) []float32 { return s.clean[i*c : (i+1)*c] }); err != nil {
			return nil, err
		}
		s.tgt, s.bt = b.Targets, make([]int, n)
	}
	for i := 0; i < n; i++ {
		z := s.clean[i*c : (i+1)*c]
		s.skipped[i] = argmax(z) != s.y[i] || (s.tgt != nil && s.tgt[i] == s.y[i])
	}
	return s, nil
}

// argmax returns the index of the first largest entry of z.
func argmax(z []float32) int {
	best := 0
	for j, v := range z {
		if v > z[best] {
			best = j
		}
	}
	return best
}

// succeeded reports whether logits row z of sample i reaches the goal.
func (s *session) succeeded(z []float32, i int) bool {
	p := argmax(z)
	if s.tgt != nil {
		return p == s.tgt[i]
	}
	return p != s.y[i]
}

// row returns sample i of a flat [n*d] buffer.
func (s *session) row(buf []float32, i int) []float32 { return buf[i*s.d : (i+1)*s.d] }

// attackable returns the indices of samples not skipped.
func (s *session) attackable() []int {
	idx := make([]int, 0, s.n)
	for i, sk := range s.skipped {
		if !sk {
			idx = append(idx, i)
		}
	}
	return idx
}

// filter keeps the indices for which keep is true, in place.
func filter(idx []int, keep func(i int) bool) []int {
	out := idx[:0]
	for _, i := range idx {
		if keep(i) {
			out = append(out, i)
		}
	}
	return out
}

// gather copies rows idx of src (a flat [n*d] buffer) into s.bx and
// returns the filled part.
func (s *session) gather(src []float32, idx []int) []float32 {
	d := s.d
	for j, i := range idx {
		copy(s.bx[j*d:(j+1)*d], src[i*d:(i+1)*d])
	}
	return s.bx[:len(idx)*d]
}

// view wraps k gathered samples as a [k, shape...] tensor.
func (s *session) view(xs []float32, k int) *tensor.Tensor {
	shape := make([]int, 0, 1+len(s.shape))
	shape = append(shape, k)
	shape = append(shape, s.shape...)
	return &tensor.Tensor{Shape: shape, F: xs}
}

// logits runs a forward pass on xs, the inputs of samples idx (k*d values,
// or the whole batch when xs is s.x and idx covers it).
func (s *session) logits(idx []int, xs []float32) (*tensor.Tensor, error) {
	if err := s.ctx.Err(); err != nil {
		return nil, err
	}
	k := len(idx)
	lg, err := s.clf.Logits(s.ctx, s.view(xs[:k*s.d], k))
	if err != nil {
		return nil, fmt.Errorf("attack %s: logits: %w", s.name, err)
	}
	if lg == nil || len(lg.F) != k*s.c {
		return nil, fmt.Errorf("attack %s: classifier returned logits %v for %d samples of %d classes", s.name, shapeOf(lg), k, s.c)
	}
	for _, i := range idx {
		s.queries[i]++
	}
	return lg, nil
}

// gradient runs one gradient evaluation on xs (the inputs of samples idx),
// with obj supplying dLoss/dLogits. It returns the logits, dObj/dx (k*d
// values, owned by the caller until the next call) and the per-sample
// objective values.
func (s *session) gradient(idx []int, xs []float32, obj objective) (*tensor.Tensor, []float32, []float32, error) {
	return s.gradientWith(idx, xs, obj, s.tgt)
}

// gradientWith is gradient with per-sample classes tg (indexed like the
// batch, nil for none) passed to obj as its targets instead of the batch's.
func (s *session) gradientWith(idx []int, xs []float32, obj objective, tg []int) (*tensor.Tensor, []float32, []float32, error) {
	if err := s.ctx.Err(); err != nil {
		return nil, nil, nil, err
	}
	k := len(idx)
	by := s.by[:k]
	var bt []int
	for j, i := range idx {
		by[j] = s.y[i]
	}
	if tg != nil {
		if s.bt == nil {
			s.bt = make([]int, s.n)
		}
		bt = s.bt[:k]
		for j, i := range idx {
			bt[j] = tg[i]
		}
	}
	dl, loss := s.dl[:k*s.c], s.loss[:k]
	lg, g, err := s.clf.InputGradient(s.ctx, s.view(xs[:k*s.d], k), func(logits *tensor.Tensor) (*tensor.Tensor, error) {
		if logits == nil || len(logits.F) != k*s.c {
			return nil, fmt.Errorf("attack %s: classifier returned logits %v for %d samples of %d classes", s.name, shapeOf(logits), k, s.c)
		}
		obj(dl, loss, logits, by, bt)
		return &tensor.Tensor{Shape: []int{k, s.c}, F: dl}, nil
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("attack %s: gradient: %w", s.name, err)
	}
	if lg == nil || len(lg.F) != k*s.c || g == nil || len(g.F) != k*s.d {
		return nil, nil, nil, fmt.Errorf("attack %s: classifier returned logits %v and gradient %v for input [%d %v]", s.name, shapeOf(lg), shapeOf(g), k, s.shape)
	}
	for _, i := range idx {
		s.gradEval[i]++
	}
	return lg, g.F, loss, nil
}

// gradients runs one forward pass on xs (the inputs of samples idx) and
// back-propagates k seeds through it, seed(q, logits, dl) filling the q-th
// seed's dLoss/dLogits (len(idx)*c values). It returns the logits and the
// k gradients (len(idx)*d values each, the caller's own). Each seed counts
// as one gradient evaluation.
func (s *session) gradients(mc MultiGradientClassifier, idx []int, xs []float32, k int, seed func(q int, logits *tensor.Tensor, dl []float32)) (*tensor.Tensor, [][]float32, error) {
	if err := s.ctx.Err(); err != nil {
		return nil, nil, err
	}
	n := len(idx)
	lg, gs, err := mc.InputGradients(s.ctx, s.view(xs[:n*s.d], n), func(logits *tensor.Tensor) ([]*tensor.Tensor, error) {
		if logits == nil || len(logits.F) != n*s.c {
			return nil, fmt.Errorf("attack %s: classifier returned logits %v for %d samples of %d classes", s.name, shapeOf(logits), n, s.c)
		}
		dl := make([]float32, k*n*s.c)
		seeds := make([]*tensor.Tensor, k)
		for q := range seeds {
			seeds[q] = &tensor.Tensor{Shape: []int{n, s.c}, F: dl[q*n*s.c : (q+1)*n*s.c]}
			seed(q, logits, seeds[q].F)
		}
		return seeds, nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("attack %s: gradient: %w", s.name, err)
	}
	if lg == nil || len(lg.F) != n*s.c || len(gs) != k {
		return nil, nil, fmt.Errorf("attack %s: classifier returned logits %v and %d gradients for input [%d %v] and %d seeds", s.name, shapeOf(lg), len(gs), n, s.shape, k)
	}
	out := make([][]float32, k)
	for q, g := range gs {
		if g == nil || len(g.F) != n*s.d {
			return nil, nil, fmt.Errorf("attack %s: classifier returned gradient %v for input [%d %v]", s.name, shapeOf(g), n, s.shape)
		}
		out[q] = g.F
	}
	for _, i := range idx {
		s.gradEval[i] += k
	}
	return lg, out, nil
}

func shapeOf(t *tensor.Tensor) string {
	if t == nil {
		return "nil"
	}
	return tensor.ShapeString(t.Shape)
}

// finish copies the clean sample into skipped rows, projects every row onto
// the ball (norm, eps) and the clip range as a last safety net, measures
// Fooled with one forward pass and assembles the Outcome. xadv is a flat
// [n*d] buffer that becomes the outcome's tensor.
func (s *session) finish(xadv []float32, norm Norm, eps float64) (*Outcome, error) {
	for i := 0; i < s.n; i++ {
		r := s.row(xadv, i)
		if s.skipped[i] {
			copy(r, s.row(s.x, i))
			continue
		}
		Project(norm, r, s.row(s.x, i), eps, s.bounds)
	}
	out := &Outcome{
		XAdv:          &tensor.Tensor{Shape: append([]int{s.n}, s.shape...), F: xadv},
		Fooled:        make([]bool, s.n),
		Misclassified: make([]bool, s.n),
		Targets:       s.tgt,
		Skipped:       s.skipped,
		GradEvals:     s.gradEval,
		Queries:       s.queries,
	}
	idx := s.attackable()
	if len(idx) == 0 {
		return out, nil
	}
	lg, err := s.logits(idx, s.gather(xadv, idx))
	if err != nil {
		return nil, err
	}
	for j, i := range idx {
		z := lg.F[j*s.c : (j+1)*s.c]
		out.Fooled[i] = s.succeeded(z, i)
		out.Misclassified[i] = argmax(z) != s.y[i]
	}
	return out, nil
}

// checkEps validates a ball radius for a bounded attack.
func checkEps(name string, eps float64) error {
	if !(eps > 0) || math.IsInf(eps, 0) {
		return paramErr(name, "eps", eps, "a positive number")
	}
	return nil
}

// tracker keeps, per sample, the best point seen so far: a point that
// reaches the goal beats one that does not; among equals the higher
// objective wins (or, with firstSuccess, the first successful point stays).
type tracker struct {
	best         []float32 // n*d
	fooled       []bool
	score        []float64
	firstSuccess bool
}

func newTracker(s *session, firstSuccess bool) *tracker {
	t := &tracker{
		best:         append([]float32(nil), s.x...),
		fooled:       make([]bool, s.n),
		score:        make([]float64, s.n),
		firstSuccess: firstSuccess,
	}
	for i := range t.score {
		t.score[i] = math.Inf(-1)
	}
	return t
}

// offer records point xi of sample i with objective value v (NaN allowed:
// it never beats a number) and success flag ok.
func (t *tracker) offer(s *session, i int, xi []float32, ok bool, v float64) {
	switch {
	case t.fooled[i] && !ok:
		return
	case t.fooled[i] && ok && (t.firstSuccess || !(v > t.score[i])):
		return
	case !t.fooled[i] && !ok && !(v > t.score[i]):
		return
	}
	t.fooled[i] = t.fooled[i] || ok
	t.score[i] = v
	copy(s.row(t.best, i), xi)
}

// validateBatch checks a batch against what the model (a classifier or an
// oracle, named by who) says of its input and classes, and against the clip
// range; it returns the batch size, the sample size and the class count.
func validateBatch(name, who string, b Batch, inputShape []int, classes int, bounds Bounds) (n, d, c int, err error) {
	n = b.X.Shape[0]
	if len(b.Y) != n {
		return 0, 0, 0, fmt.Errorf("attack %s: %d labels for %d samples", name, len(b.Y), n)
	}
	if b.Targeted() && len(b.Targets) != n {
		return 0, 0, 0, fmt.Errorf("attack %s: %d targets for %d samples", name, len(b.Targets), n)
	}
	if len(b.X.F) != b.X.Len() {
		return 0, 0, 0, fmt.Errorf("attack %s: batch X %v holds %d elements", name, b.X.Shape, len(b.X.F))
	}
	d = 1
	for _, v := range b.X.Shape[1:] {
		d *= v
	}
	if len(inputShape) > 0 {
		fixed := true
		for _, v := range inputShape {
			if v <= 0 {
				fixed = false
			}
		}
		if fixed && tensor.Numel(inputShape) != d {
			return 0, 0, 0, fmt.Errorf("attack %s: samples of shape %v, %s wants %v", name, b.X.Shape[1:], who, inputShape)
		}
	}
	c = classes
	if c < 2 {
		return 0, 0, 0, fmt.Errorf("attack %s: %s has %d classes (want at least 2)", name, who, c)
	}
	for i, y := range b.Y {
		if y < 0 || y >= c {
			return 0, 0, 0, fmt.Errorf("attack %s: label %d of sample %d outside [0, %d)", name, y, i, c)
		}
		if b.Targeted() && (b.Targets[i] < 0 || b.Targets[i] >= c) {
			return 0, 0, 0, fmt.Errorf("attack %s: target %d of sample %d outside [0, %d)", name, b.Targets[i], i, c)
		}
	}
	for i, v := range b.X.F {
		if !(v >= bounds.Min && v <= bounds.Max) {
			return 0, 0, 0, fmt.Errorf("attack %s: sample %d has value %g outside the clip range [%g, %g]", name, i/max(d, 1), v, bounds.Min, bounds.Max)
		}
	}
	return n, d, c, nil
}
