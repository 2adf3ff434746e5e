package attack

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/advtest/advtest/pkg/tensor"
)

// Black-box attacks see a model only through an oracle: a forward-only
// view that answers scores (ScoreOracle) or top labels (LabelOracle) for a
// batch of points, exposes no gradients and no weights, charges one query
// to a sample each time one point is evaluated on its behalf, and refuses
// any query beyond its per-sample budget.
//
// Each query names the batch sample it is made for (ids), so that budgets
// and counts are per sample: a call evaluating k points for samples ids
// costs sample ids[j] one query per row j.

// ScoreFunc is a forward-only model: it maps a batch x of shape [N,
// InputShape...] to [N, C] scores, either logits or probabilities. A
// remote endpoint's client provides one.
type ScoreFunc func(ctx context.Context, x *tensor.Tensor) (*tensor.Tensor, error)

// ErrQueryBudget is returned (wrapped) by an oracle asked for a query
// beyond a sample's budget; nothing is evaluated or charged then.
var ErrQueryBudget = errors.New("query budget exhausted")

// Oracle is what every black-box view of a model shares: its shape and
// its per-sample query accounting.
type Oracle interface {
	// NumClasses returns the number of classes.
	NumClasses() int
	// InputShape returns the shape of one sample, without the batch axis.
	InputShape() []int
	// Budget returns the per-sample query budget, or 0 for none.
	Budget() int
	// Spent returns the queries charged so far to batch sample i.
	Spent(i int) int
}

// LabelOracle answers the top label only (decision-based access).
type LabelOracle interface {
	Oracle
	// Labels evaluates the rows of x ([k, InputShape...]), row j on behalf
	// of batch sample ids[j], and writes the top class of row j to dst[j]
	// (len(dst) ≥ k). It charges each row one query, or refuses the whole
	// call with an error wrapping ErrQueryBudget when a sample's budget
	// would be exceeded.
	Labels(ctx context.Context, ids []int, x *tensor.Tensor, dst []int) error
}

// ScoreOracle answers scores (score-based access); it answers labels too,
// as the argmax of the scores.
type ScoreOracle interface {
	LabelOracle
	// Scores evaluates the rows of x ([k, InputShape...]), row j on behalf
	// of batch sample ids[j], and returns [k, C] scores: logits or
	// probabilities, as the model gives them. Budgets and charges are as
	// for Labels. The result is owned by the caller.
	Scores(ctx context.Context, ids []int, x *tensor.Tensor) (*tensor.Tensor, error)
}

// BlackBox is an attack that reaches the model only through an oracle.
// Its Run (from Attack) wraps the classifier with NewScoreOracle or
// NewLabelOracle and a budget of MaxQueries, so that the attack itself
// never holds a Classifier; runners with another model access (a remote
// endpoint) call RunOracle directly.
type BlackBox interface {
	Attack
	// DecisionBased reports whether the attack needs top labels only; it
	// needs scores otherwise.
	DecisionBased() bool
	// MaxQueries returns the per-sample query budget of one run,
	// including the initial check of the clean sample.
	MaxQueries() int
	// RunOracle attacks a batch through o, spending at most MaxQueries
	// (and at most o's remaining budget) per sample. A score-based attack
	// returns an error when o is not a ScoreOracle. Outcome.Queries
	// reports the queries this run charged to each sample; GradEvals are
	// zero.
	RunOracle(ctx context.Context, o LabelOracle, b Batch, rng *rand.Rand) (*Outcome, error)
}

// counter keeps per-sample query counts and enforces the budget.
type counter struct {
	mu     sync.Mutex
	budget int
	spent  []int
}

func (c *counter) Budget() int { return c.budget }

func (c *counter) Spent(i int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i < 0 || i >= len(c.spent) {
		return 0
	}
	return c.spent[i]
}

// charge adds one query per id, or none when a budget would be exceeded.
func (c *counter) charge(ids []int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, i := range ids {
		if i < 0 {
			return fmt.Errorf("oracle: negative sample id %d", i)
		}
		if i >= len(c.spent) {
			c.spent = append(c.spent, make([]int, i+1-len(c.spent))...)
		}
	}
	for j, i := range ids {
		c.spent[i]++
		if c.budget > 0 && c.spent[i] > c.budget {
			for _, r := range ids[:j+1] {
				c.spent[r]--
			}
			return fmt.Errorf("oracle: sample %d: %w (budget %d)", i, ErrQueryBudget, c.budget)
		}
	}
	return nil
}

// scoreOracle is a counting ScoreOracle over a ScoreFunc.
type scoreOracle struct {
	counter
	f       ScoreFunc
	classes int
	shape   []int
}

// NewScoreOracle returns a score oracle over clf's forward pass (its
// Logits only) with a per-sample budget (0: none). The oracle does not
// expose clf.
func NewScoreOracle(clf Classifier, budget int) ScoreOracle {
	return NewScoreFuncOracle(clf.Logits, clf.NumClasses(), clf.InputShape(), budget)
}

// NewScoreFuncOracle returns a score oracle over a forward-only function
// answering numClasses scores per sample of the given shape, with a
// per-sample budget (0: none).
func NewScoreFuncOracle(f ScoreFunc, numClasses int, inputShape []int, budget int) ScoreOracle {
	return &scoreOracle{counter: counter{budget: max(budget, 0)}, f: f, classes: numClasses, shape: append([]int(nil), inputShape...)}
}

func (o *scoreOracle) NumClasses() int   { return o.classes }
func (o *scoreOracle) InputShape() []int { return append([]int(nil), o.shape...) }

// checkCall validates a query's ids against x and the context.
func checkCall(ctx context.Context, ids []int, x *tensor.Tensor) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if x == nil || x.Rank() < 1 || x.Shape[0] != len(ids) {
		return fmt.Errorf("oracle: %d sample ids for input %s", len(ids), shapeOf(x))
	}
	return nil
}

func (o *scoreOracle) Scores(ctx context.Context, ids []int, x *tensor.Tensor) (*tensor.Tensor, error) {
	if err := checkCall(ctx, ids, x); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return tensor.New(0, o.classes), nil
	}
	if err := o.charge(ids); err != nil {
		return nil, err
	}
	out, err := o.f(ctx, x)
	if err != nil {
		return nil, err
	}
	if out == nil || len(out.F) != len(ids)*o.classes {
		return nil, fmt.Errorf("oracle: model returned scores %s for %d samples of %d classes", shapeOf(out), len(ids), o.classes)
	}
	return out, nil
}

func (o *scoreOracle) Labels(ctx context.Context, ids []int, x *tensor.Tensor, dst []int) error {
	s, err := o.Scores(ctx, ids, x)
	if err != nil {
		return err
	}
	for j := range ids {
		dst[j] = argmax(s.F[j*o.classes : (j+1)*o.classes])
	}
	return nil
}

// labelsOnly hides a score oracle's scores.
type labelsOnly struct{ o ScoreOracle }

// LabelsOnly returns a label-only view of o that shares its budget and
// counts: what a decision-based attack is handed.
func LabelsOnly(o ScoreOracle) LabelOracle { return labelsOnly{o} }

func (l labelsOnly) NumClasses() int   { return l.o.NumClasses() }
func (l labelsOnly) InputShape() []int { return l.o.InputShape() }
func (l labelsOnly) Budget() int       { return l.o.Budget() }
func (l labelsOnly) Spent(i int) int   { return l.o.Spent(i) }
func (l labelsOnly) Labels(ctx context.Context, ids []int, x *tensor.Tensor, dst []int) error {
	return l.o.Labels(ctx, ids, x, dst)
}

// NewLabelOracle returns a label oracle over clf's forward pass with a
// per-sample budget (0: none).
func NewLabelOracle(clf Classifier, budget int) LabelOracle {
	return LabelsOnly(NewScoreOracle(clf, budget))
}

// logProbs writes the log-probabilities of one row of scores to dst. A row
// of non-negative values summing to 1 (within 1e-4) is taken as
// probabilities (dst = log p, floored at 1e-30); any other row as logits
// (dst = log-softmax). Margins and cross-entropies on log-probabilities are
// the same for a model's logits and its softmax output.
func logProbs(dst, row []float32) {
	sum, probs := 0.0, true
	for _, v := range row {
		if !(v >= 0 && v <= 1) {
			probs = false
			break
		}
		sum += float64(v)
	}
	if probs && math.Abs(sum-1) <= 1e-4 {
		for j, v := range row {
			dst[j] = float32(math.Log(math.Max(float64(v), 1e-30)))
		}
		return
	}
	tensor.LogSoftmaxRow(dst, row)
}
