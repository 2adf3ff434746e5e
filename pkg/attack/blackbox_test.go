package attack

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/advtest/advtest/pkg/tensor"
)

// blackBoxSpecs exercise every black-box attack with small budgets; they
// join the package's contract tests (bounds, ball, determinism, honest
// Fooled, targets) through propertySpecs.
var blackBoxSpecs = []string{
	"square:eps=0.1,max_queries=150",
	"square:norm=l2,eps=0.5,max_queries=150",
	"simba:max_queries=150",
	"simba:basis=pixel,max_queries=150,eps=0.3,norm=linf",
	"simba:max_queries=150,eps=0.4",
	"nes:eps=0.1,samples=10,max_queries=150",
	"nes:norm=l2,eps=0.5,samples=10,max_queries=150,loss=margin",
	"hsja:max_queries=300",
	"hsja:norm=linf,max_queries=300,init=noise",
	"hsja:max_queries=300,eps=0.3",
	"boundary:max_queries=300",
	"boundary:max_queries=300,eps=0.3,init=noise",
	"onepixel:pop_size=8,max_queries=100",
	"onepixel:pixels=2,pop_size=6,max_queries=60",
}

func init() { propertySpecs = append(propertySpecs, blackBoxSpecs...) }

// countingClf wraps a classifier: it counts the rows its forward pass
// evaluates and fails the test on any gradient request.
type countingClf struct {
	Classifier
	mu    sync.Mutex
	rows  int
	grads int
}

func (c *countingClf) Logits(ctx context.Context, x *tensor.Tensor) (*tensor.Tensor, error) {
	c.mu.Lock()
	c.rows += x.Shape[0]
	c.mu.Unlock()
	return c.Classifier.Logits(ctx, x)
}

func (c *countingClf) InputGradient(context.Context, *tensor.Tensor, func(*tensor.Tensor) (*tensor.Tensor, error)) (*tensor.Tensor, *tensor.Tensor, error) {
	c.mu.Lock()
	c.grads++
	c.mu.Unlock()
	return nil, nil, errors.New("gradient requested from a black-box attack")
}

func mustBlackBox(t testing.TB, spec string) BlackBox {
	t.Helper()
	bb, ok := mustNew(t, spec).(BlackBox)
	if !ok {
		t.Fatalf("%s is not a BlackBox", spec)
	}
	return bb
}

func TestOracleBudgetAndCounts(t *testing.T) {
	toy := newToyMLP(3, 10, 16, 3, 4)
	x := toy.b.X
	o := NewScoreOracle(toy.clf, 3)
	ctx := context.Background()
	if _, err := o.Scores(ctx, []int{0, 1, 0, 3}, x); err != nil {
		t.Fatal(err)
	}
	if o.Spent(0) != 2 || o.Spent(1) != 1 || o.Spent(2) != 0 || o.Spent(3) != 1 {
		t.Fatalf("spent %d %d %d %d", o.Spent(0), o.Spent(1), o.Spent(2), o.Spent(3))
	}
	// Sample 0 has one query left: a call asking two for it is refused
	// whole, and charges nothing.
	_, err := o.Scores(ctx, []int{0, 2, 0, 1}, x)
	if !errors.Is(err, ErrQueryBudget) {
		t.Fatalf("over-budget call: %v", err)
	}
	if o.Spent(0) != 2 || o.Spent(1) != 1 || o.Spent(2) != 0 {
		t.Fatalf("refused call charged: %d %d %d", o.Spent(0), o.Spent(1), o.Spent(2))
	}
	lab := make([]int, 1)
	if err := o.Labels(ctx, []int{0}, rowsOf(x, 0, 1), lab); err != nil || o.Spent(0) != 3 {
		t.Fatalf("last query: %v, spent %d", err, o.Spent(0))
	}
	if err := o.Labels(ctx, []int{0}, rowsOf(x, 0, 1), lab); !errors.Is(err, ErrQueryBudget) {
		t.Fatalf("query beyond budget answered: %v", err)
	}
	if _, err := o.Scores(ctx, []int{0, 1}, x); err == nil {
		t.Fatal("ids not matching rows accepted")
	}
	// A label view shares the counts and hides the scores.
	l := LabelsOnly(o)
	if _, ok := l.(ScoreOracle); ok {
		t.Fatal("label view exposes scores")
	}
	if _, ok := NewLabelOracle(toy.clf, 0).(ScoreOracle); ok {
		t.Fatal("label oracle exposes scores")
	}
	if _, ok := any(o).(Classifier); ok {
		t.Fatal("score oracle exposes the classifier")
	}
	if err := l.Labels(ctx, []int{1}, rowsOf(x, 1, 2), lab); err != nil || o.Spent(1) != 2 {
		t.Fatalf("label view: %v, spent %d", err, o.Spent(1))
	}
	// Function-backed oracles.
	lf := NewLabelFuncOracle(func(_ context.Context, x *tensor.Tensor) ([]int, error) {
		return make([]int, x.Shape[0]), nil
	}, 3, []int{10}, 1)
	if err := lf.Labels(ctx, []int{5}, rowsOf(x, 0, 1), lab); err != nil || lf.Spent(5) != 1 || lab[0] != 0 {
		t.Fatalf("label func oracle: %v", err)
	}
	if err := lf.Labels(ctx, []int{5}, rowsOf(x, 0, 1), lab); !errors.Is(err, ErrQueryBudget) {
		t.Fatalf("label func oracle over budget: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := o.Scores(cctx, []int{2}, rowsOf(x, 0, 1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}
}

func TestLogProbs(t *testing.T) {
	logits := []float32{2, -1, 0.5}
	lp1, lp2 := make([]float32, 3), make([]float32, 3)
	logProbs(lp1, logits)
	s := 0.0
	for _, v := range logits {
		s += math.Exp(float64(v))
	}
	probs := make([]float32, 3)
	for k, v := range logits {
		probs[k] = float32(math.Exp(float64(v)) / s)
	}
	logProbs(lp2, probs)
	for k := range lp1 {
		if math.Abs(float64(lp1[k]-lp2[k])) > 1e-5 {
			t.Fatalf("log-probabilities from logits %v and from probabilities %v differ", lp1, lp2)
		}
	}
}

// softmaxClf answers probabilities instead of logits.
type softmaxClf struct{ Classifier }

func (c softmaxClf) Logits(ctx context.Context, x *tensor.Tensor) (*tensor.Tensor, error) {
	lg, err := c.Classifier.Logits(ctx, x)
	if err != nil {
		return nil, err
	}
	n, k := rows(lg)
	for i := 0; i < n; i++ {
		z := lg.F[i*k : (i+1)*k]
		m, s := math.Inf(-1), 0.0
		for _, v := range z {
			m = math.Max(m, float64(v))
		}
		for _, v := range z {
			s += math.Exp(float64(v) - m)
		}
		for j, v := range z {
			z[j] = float32(math.Exp(float64(v)-m) / s)
		}
	}
	return lg, nil
}

// TestBlackBoxQueryAccounting checks, for every black-box attack, that the
// queries it reports are exactly the rows the model evaluated, that no
// sample gets more than its budget, that no gradient is asked for, and
// that an oracle budget below max_queries is honoured without a refusal.
func TestBlackBoxQueryAccounting(t *testing.T) {
	toy := newToyMLP(5, 10, 16, 3, 6)
	for _, spec := range blackBoxSpecs {
		bb := mustBlackBox(t, spec)
		// One sample per batch: the model's count is that sample's.
		for i := 0; i < toy.b.Len(); i++ {
			clf := &countingClf{Classifier: toy.clf}
			b := Batch{X: rowsOf(toy.b.X, i, i+1), Y: toy.b.Y[i : i+1]}
			o, err := bb.Run(context.Background(), clf, b, rand.New(rand.NewPCG(1, uint64(i))))
			if err != nil {
				t.Fatalf("%s: %v", spec, err)
			}
			if clf.grads != 0 || o.GradEvals[0] != 0 {
				t.Fatalf("%s: %d gradient requests", spec, clf.grads)
			}
			if o.Queries[0] != clf.rows || o.Queries[0] > bb.MaxQueries() || o.Queries[0] < 1 {
				t.Fatalf("%s: sample %d reports %d queries, model evaluated %d rows, budget %d", spec, i, o.Queries[0], clf.rows, bb.MaxQueries())
			}
		}
		// A whole batch through an oracle with a smaller budget.
		clf := &countingClf{Classifier: toy.clf}
		budget := bb.MaxQueries() / 3
		or := NewScoreOracle(clf, budget)
		var lo LabelOracle = or
		if bb.DecisionBased() {
			lo = LabelsOnly(or)
		}
		o, err := bb.RunOracle(context.Background(), lo, toy.b, nil)
		if err != nil {
			t.Fatalf("%s with oracle budget %d: %v", spec, budget, err)
		}
		sum := 0
		for i, q := range o.Queries {
			if q != or.Spent(i) || q > budget {
				t.Fatalf("%s: sample %d reports %d queries, oracle charged %d, budget %d", spec, i, q, or.Spent(i), budget)
			}
			sum += q
		}
		if sum != clf.rows {
			t.Fatalf("%s: %d queries reported, %d rows evaluated", spec, sum, clf.rows)
		}
	}
}

// TestBlackBoxOnImages runs the contract checks on [N, C, H, W] samples,
// where Square's windows, SimBA's DCT basis and OnePixel's pixels take
// their image form, and with a model answering probabilities.
func TestBlackBoxOnImages(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	const n, ch, h, w = 8, 2, 5, 6
	mlp := newMLP(rng, ch*h*w, 16, 3)
	x := tensor.New(n, ch, h, w)
	for k := range x.F {
		x.F[k] = float32(rng.Float64())
	}
	y := make([]int, n)
	lg, _ := mlp.Logits(context.Background(), x)
	for i := range y {
		y[i] = argmax(lg.F[i*3 : (i+1)*3]) // all clean-correct
	}
	b := Batch{X: x, Y: y}
	for _, clf := range []Classifier{mlp, softmaxClf{mlp}} {
		for _, spec := range blackBoxSpecs {
			a := mustNew(t, spec)
			o := run(t, a, clf, b, 4)
			checkOutcome(t, a, clf, b, o, DefaultBounds())
			if a.Name() == "onepixel" {
				px := 0
				p, _ := a.Params()["pixels"].(int)
				for i := 0; i < n; i++ {
					for r := 0; r < h*w; r++ {
						for c := 0; c < ch; c++ {
							if o.XAdv.F[i*ch*h*w+c*h*w+r] != x.F[i*ch*h*w+c*h*w+r] {
								px++
								break
							}
						}
					}
					if px > p {
						t.Fatalf("%s: sample %d changes %d pixels", spec, i, px)
					}
					px = 0
				}
			}
		}
	}
}

func TestBlackBoxNeedsScores(t *testing.T) {
	toy := newToyMLP(3, 10, 16, 3, 4)
	for _, spec := range []string{"square", "simba", "nes", "onepixel"} {
		bb := mustBlackBox(t, spec)
		_, err := bb.RunOracle(context.Background(), NewLabelOracle(toy.clf, 0), toy.b, nil)
		if err == nil || !strings.Contains(err.Error(), spec) || !strings.Contains(err.Error(), "score") {
			t.Errorf("%s on a label oracle: %v", spec, err)
		}
	}
}

// cancelOracle cancels its context after a number of score queries.
type cancelOracle struct {
	ScoreOracle
	calls, after int
	cancel       context.CancelFunc
}

func (c *cancelOracle) Scores(ctx context.Context, ids []int, x *tensor.Tensor) (*tensor.Tensor, error) {
	c.calls++
	if c.calls == c.after {
		c.cancel()
	}
	return c.ScoreOracle.Scores(ctx, ids, x)
}

func (c *cancelOracle) Labels(ctx context.Context, ids []int, x *tensor.Tensor, dst []int) error {
	c.calls++
	if c.calls == c.after {
		c.cancel()
	}
	return c.ScoreOracle.Labels(ctx, ids, x, dst)
}

func TestBlackBoxCancellation(t *testing.T) {
	toy := newToyMLP(3, 10, 16, 3, 10)
	for _, spec := range []string{"square:eps=0.01", "simba:step=0.001", "nes:eps=0.01", "hsja:init=noise", "boundary", "onepixel:pop_size=4"} {
		ctx, cancel := context.WithCancel(context.Background())
		o := &cancelOracle{ScoreOracle: NewScoreOracle(toy.clf, 0), after: 3, cancel: cancel}
		_, err := mustBlackBox(t, spec).RunOracle(ctx, o, toy.b, nil)
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: error %v after cancellation, want context.Canceled", spec, err)
		}
	}
}

// TestHSJAImprovesWithBudget: HopSkipJump's median L2 over successes falls
// as its query budget grows.
func TestHSJAImprovesWithBudget(t *testing.T) {
	toy := newToyMLP(21, 20, 32, 4, 40)
	prev := math.Inf(1)
	for _, q := range []int{150, 600, 2500} {
		o := run(t, mustNew(t, "hsja:init=noise,max_queries="+itoa(q)), toy.clf, toy.b, 2)
		med := medianFooled(o, toy.b.X)
		sr, _ := o.SuccessRate()
		t.Logf("hsja max_queries=%d: SR %.2f, median L2 %.4f", q, sr, med)
		if sr < 0.95 {
			t.Errorf("max_queries=%d: SR %.2f, want every sample fooled (unbounded attack)", q, sr)
		}
		if !(med < prev) {
			t.Errorf("max_queries=%d: median L2 %.4f did not fall below %.4f", q, med, prev)
		}
		prev = med
	}
}

// TestSquareMatchesPGDOnToy: Square Linf with 1000 queries reaches PGD's
// success rate on a toy MLP.
func TestSquareMatchesPGDOnToy(t *testing.T) {
	toy := newToyMLP(11, 20, 32, 4, 80)
	pgd, _ := run(t, mustNew(t, "pgd:eps=0.15,steps=40"), toy.clf, toy.b, 1).SuccessRate()
	sq, _ := run(t, mustNew(t, "square:eps=0.15,max_queries=1000"), toy.clf, toy.b, 1).SuccessRate()
	t.Logf("eps 0.15: PGD-40 SR %.3f, Square SR %.3f", pgd, sq)
	if pgd < 0.5 || sq < 0.9*pgd {
		t.Errorf("Square SR %.3f, PGD SR %.3f: want PGD ≥ 0.5 and Square ≥ 0.9·PGD", sq, pgd)
	}
	l2pgd, _ := run(t, mustNew(t, "pgd:norm=l2,eps=0.7,steps=40"), toy.clf, toy.b, 1).SuccessRate()
	l2sq, _ := run(t, mustNew(t, "square:norm=l2,eps=0.7,max_queries=1000"), toy.clf, toy.b, 1).SuccessRate()
	t.Logf("L2 eps 0.7: PGD-40 SR %.3f, Square SR %.3f", l2pgd, l2sq)
	if l2sq < 0.8*l2pgd {
		t.Errorf("Square L2 SR %.3f, PGD SR %.3f", l2sq, l2pgd)
	}
}

// TestScoreAttacksFoolToy checks that each score-based attack has teeth.
func TestScoreAttacksFoolToy(t *testing.T) {
	toy := newToyMLP(11, 20, 32, 4, 40)
	for _, tc := range []struct {
		spec  string
		minSR float64
	}{
		{"simba:basis=pixel", 0.9},
		{"simba", 0.9},
		{"nes:eps=0.2,samples=20,max_queries=2000", 0.8},
		{"boundary:max_queries=2000", 0.95},
		{"onepixel:pixels=3,pop_size=20,max_queries=1000", 0.2},
	} {
		sr, _ := run(t, mustNew(t, tc.spec), toy.clf, toy.b, 3).SuccessRate()
		t.Logf("%s: SR %.3f", tc.spec, sr)
		if sr < tc.minSR {
			t.Errorf("%s: SR %.3f < %.2f", tc.spec, sr, tc.minSR)
		}
	}
}

func TestSquareInAutoAttack(t *testing.T) {
	st, err := mustNew(t, "autoattack:eps=0.1").(*AutoAttack).Stages()
	if err != nil {
		t.Fatal(err)
	}
	last := st[len(st)-1]
	if last.Name() != "square" || last.Eps() != 0.1 || last.Norm() != Linf || last.(BlackBox).MaxQueries() != 5000 {
		t.Fatalf("last stage %s %s/%g", last.Name(), last.Norm(), last.Eps())
	}
}

func medianFooled(o *Outcome, x *tensor.Tensor) float64 {
	var v []float64
	for i, d := range PerturbationNorms(L2, o.XAdv, x) {
		if o.Fooled[i] {
			v = append(v, d)
		}
	}
	if len(v) == 0 {
		return math.Inf(1)
	}
	sort.Float64s(v)
	return v[len(v)/2]
}

// rowsOf returns samples [lo, hi) of x as a new tensor.
func rowsOf(x *tensor.Tensor, lo, hi int) *tensor.Tensor {
	d := len(x.F) / x.Shape[0]
	return &tensor.Tensor{Shape: append([]int{hi - lo}, x.Shape[1:]...), F: append([]float32(nil), x.F[lo*d:hi*d]...)}
}

func itoa(v int) string {
	if v == 0 {
		return "0"
	}
	s := ""
	for ; v > 0; v /= 10 {
		s = string(rune('0'+v%10)) + s
	}
	return s
}
