package attack

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"

	"github.com/advtest/advtest/pkg/dataset"
)

// Targeted attacks.
//
// Every attack that has a targeted form (all gradient attacks but DeepFool
// and AutoAttack, every score-based and decision-based black-box attack,
// and transfer) accepts two extra keys in its spec:
//
//	targeted=true       attack towards a target class instead of any misclassification
//	target=<rule>       how each sample's target is chosen (default random):
//	  random            a class other than the true label, drawn uniformly from the
//	                    sample's own generator (SampleRNG), so shard- and batch-invariant
//	  least-likely      the class with the lowest clean score (logit or log-probability);
//	                    needs scores (not for decision-based attacks)
//	  class:<k>         class k for every sample; samples whose label is k are not
//	                    attacked (Skipped) and so count in neither success rate
//	  label:<file>      per-sample targets from a .npy, IDX or .txt file of class ids,
//	                    indexed by the sample's global index (Batch.Index)
//	  label:<file>:<col> the same from column col (name or 0-based index) of a CSV
//	                    file with a header row, e.g. the data set's own CSV file
//	  label:<col>       a column of the evaluation CSV itself: pkg/run rewrites
//	                    it to label:<data file>:<col> and drops the column from
//	                    the features
//
// The loss then pushes towards the target (each attack's doc says how:
// minimising the cross-entropy of the target, maximising its logit margin,
// the targeted DLR, ...), and success (Outcome.Fooled) means the final
// prediction equals the target. Outcome.Targets carries the targets and
// Outcome.Misclassified whether the prediction left the true class, so a
// report can give the targeted success rate (target reached) beside the
// untargeted one (misclassified).
//
// New handles both keys for every registered attack: it builds the attack
// from the other keys and wraps it (NewTargeted). The wrapped attack's Name
// is the inner one's; its Params add "targeted" and "target".

// TargetRule chooses a targeted attack's per-sample target classes.
type TargetRule struct {
	// Mode is "random", "least-likely", "class" or "label".
	Mode string
	// Class is the fixed target of mode "class".
	Class int
	// File is the targets file of mode "label".
	File string
	// Column is the CSV column of File that holds the targets (mode
	// "label" with label:<file>:<column>); empty for a file of ids.
	Column string
	// table holds the targets of mode "label", by global sample index.
	table []int
	// key seeds mode "random" (set per run from the run's generator).
	key uint64
}

// ParseTargetRule parses a target= value: "random", "least-likely",
// "class:<k>" or "label:<file>". A label file is read at once (with
// dataset.LoadClassIDs), so that a missing or malformed file is reported
// before any attack runs.
func ParseTargetRule(s string) (*TargetRule, error) {
	s = strings.TrimSpace(s)
	mode, arg, hasArg := strings.Cut(s, ":")
	switch strings.ToLower(mode) {
	case "random", "":
		if hasArg {
			break
		}
		return &TargetRule{Mode: "random"}, nil
	case "least-likely", "least_likely", "ll":
		if hasArg {
			break
		}
		return &TargetRule{Mode: "least-likely"}, nil
	case "class":
		k, err := strconv.Atoi(strings.TrimSpace(arg))
		if err != nil || k < 0 {
			return nil, fmt.Errorf("target %q: want class:<k> with k a class id ≥ 0", s)
		}
		return &TargetRule{Mode: "class", Class: k}, nil
	case "label":
		return parseLabelTargets(s, strings.TrimSpace(arg))
	}
	return nil, fmt.Errorf("target %q: want random, least-likely, class:<k>, label:<file> or label:<file.csv>:<column>", s)
}

// parseLabelTargets reads the targets of label:<arg>: arg is a file of
// class ids (dataset.LoadClassIDs), or <file>:<column>, a column of a CSV
// file with a header row (dataset.LoadClassIDColumn; the column by name or
// 0-based index), e.g. the data set's own CSV file.
func parseLabelTargets(s, arg string) (*TargetRule, error) {
	if arg == "" {
		return nil, fmt.Errorf("target %q: want label:<file>, a .npy, IDX or .txt file of per-sample target class ids, or label:<file.csv>:<column>", s)
	}
	if _, err := os.Stat(arg); err == nil {
		t, err := dataset.LoadClassIDs(arg)
		if err != nil {
			return nil, fmt.Errorf("target label file: %w", err)
		}
		return &TargetRule{Mode: "label", File: arg, table: t}, nil
	}
	i := strings.LastIndex(arg, ":")
	if i <= 0 || i == len(arg)-1 {
		return nil, fmt.Errorf("target %q: no file %s; want label:<file> with a .npy, IDX or .txt file of per-sample target class ids, label:<file.csv>:<column> naming a column of a CSV file, or label:<column> naming a column of the evaluation CSV", s, arg)
	}
	path, col := arg[:i], arg[i+1:]
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("target %q: the targets file %s of column %q: %w", s, path, col, err)
	}
	t, err := dataset.LoadClassIDColumn(path, col)
	if err != nil {
		return nil, fmt.Errorf("target label column %q: %w", col, err)
	}
	return &TargetRule{Mode: "label", File: path, Column: col, table: t}, nil
}

// String formats the rule as target= takes it.
func (r *TargetRule) String() string {
	switch r.Mode {
	case "class":
		return "class:" + strconv.Itoa(r.Class)
	case "label":
		if r.Column != "" {
			return "label:" + r.File + ":" + r.Column
		}
		return "label:" + r.File
	}
	return r.Mode
}

// source names where mode "label" read its targets.
func (r *TargetRule) source() string {
	if r.Column != "" {
		return fmt.Sprintf("column %q of %s", r.Column, r.File)
	}
	return "label file " + r.File
}

// choose returns the targets of batch b under the rule: clean(i) gives
// sample i's clean scores (nil when only labels are known), c the number
// of classes.
func (r *TargetRule) choose(name string, b Batch, c int, clean func(i int) []float32) ([]int, error) {
	n := b.Len()
	tg := make([]int, n)
	for i := 0; i < n; i++ {
		g := b.SampleIndex(i)
		switch r.Mode {
		case "random":
			// A uniform class other than the label: draw from c−1 and skip it.
			v := targetRNG(r.key, g).IntN(c - 1)
			if v >= b.Y[i] {
				v++
			}
			tg[i] = v
		case "least-likely":
			z := clean(i)
			if z == nil {
				return nil, fmt.Errorf("attack %s: target=least-likely needs scores; this attack sees labels only", name)
			}
			lo := 0
			for j, v := range z {
				if v < z[lo] {
					lo = j
				}
			}
			tg[i] = lo
		case "class":
			if r.Class >= c {
				return nil, fmt.Errorf("attack %s: target class:%d, but the model has %d classes [0, %d)", name, r.Class, c, c)
			}
			tg[i] = r.Class
		case "label":
			if g < 0 || g >= len(r.table) {
				return nil, fmt.Errorf("attack %s: target %s holds %d targets; sample %d has none (want one target per sample of the data set)", name, r.source(), len(r.table), g)
			}
			if t := r.table[g]; t >= c {
				return nil, fmt.Errorf("attack %s: target %s: entry %d is %d; want a class id in [0, %d)", name, r.source(), g, t, c)
			}
			tg[i] = r.table[g]
		default:
			return nil, fmt.Errorf("attack %s: unknown target rule %q", name, r.Mode)
		}
	}
	return tg, nil
}

// targetRNG is the generator of sample g's random target: a stream apart
// from the sample's attack stream (SampleRNG), so choosing targets does not
// shift the attack's own draws.
func targetRNG(key uint64, g int) *rand.Rand {
	return SampleRNG(key^0x7461726765747321, g) // "targets!"
}

// noTargetedForm names the registered attacks that have no targeted form.
var noTargetedForm = map[string]bool{"deepfool": true, "autoattack": true}

// NewTargeted wraps a with a target rule: its Run sets each batch's
// targets by the rule (unless the batch brings its own) before running a.
// A BlackBox stays a BlackBox.
func NewTargeted(a Attack, rule *TargetRule) (Attack, error) {
	if noTargetedForm[a.Name()] {
		return nil, fmt.Errorf("attack %s: has no targeted form (targeted=true)", a.Name())
	}
	if tr, ok := a.(*Transfer); ok && noTargetedForm[tr.inner.Name()] {
		return nil, fmt.Errorf("attack transfer: inner attack %s has no targeted form (targeted=true)", tr.inner.Name())
	}
	if rule == nil {
		rule = &TargetRule{Mode: "random"}
	}
	if bb, ok := a.(BlackBox); ok {
		if bb.DecisionBased() && rule.Mode == "least-likely" {
			return nil, fmt.Errorf("attack %s: target=least-likely needs scores; this attack is decision-based (labels only)", a.Name())
		}
		return &targetedBB{targetedAttack{a, rule}, bb}, nil
	}
	return &targetedAttack{a, rule}, nil
}

// splitTargetKeys removes "targeted" and "target" from params and returns
// the rule they ask for (nil when untargeted).
func splitTargetKeys(name string, params map[string]string) (map[string]string, *TargetRule, error) {
	var tv, rv string
	var hasT, hasR bool
	rest := make(map[string]string, len(params))
	for k, v := range params {
		switch strings.ToLower(k) {
		case "targeted":
			tv, hasT = v, true
		case "target":
			rv, hasR = v, true
		default:
			rest[k] = v
		}
	}
	if !hasT && !hasR {
		return params, nil, nil
	}
	on := true
	if hasT {
		b, err := strconv.ParseBool(strings.TrimSpace(tv))
		if err != nil {
			return nil, nil, fmt.Errorf("attack %s: targeted=%q: want true or false", name, tv)
		}
		on = b
	}
	if !on {
		if hasR {
			return nil, nil, fmt.Errorf("attack %s: target=%s given with targeted=false", name, rv)
		}
		return rest, nil, nil
	}
	rule := &TargetRule{Mode: "random"}
	if hasR {
		r, err := ParseTargetRule(rv)
		if err != nil {
			return nil, nil, fmt.Errorf("attack %s: %w", name, err)
		}
		rule = r
	}
	return rest, rule, nil
}

// targetedAttack is a white-box attack with a target rule.
type targetedAttack struct {
	inner Attack
	rule  *TargetRule
}

func (t *targetedAttack) Name() string { return t.inner.Name() }
func (t *targetedAttack) Norm() Norm   { return t.inner.Norm() }
func (t *targetedAttack) Eps() float64 { return t.inner.Eps() }

// Params returns the inner attack's parameters plus targeted and target.
func (t *targetedAttack) Params() map[string]any {
	m := t.inner.Params()
	m["targeted"] = true
	m["target"] = t.rule.String()
	return m
}

// Inner returns the wrapped attack.
func (t *targetedAttack) Inner() Attack { return t.inner }

// Rule returns the target rule.
func (t *targetedAttack) Rule() *TargetRule { return t.rule }

// batch draws the rule's key for this run (one draw from rng, before the
// inner attack draws its own) and attaches the rule to b.
func (t *targetedAttack) batch(b Batch, rng *rand.Rand) (Batch, *rand.Rand) {
	rng = defaultRNG(rng)
	if b.Targets != nil {
		return b, rng
	}
	r := *t.rule
	r.key = RunKey(rng)
	b.rule = &r
	return b, rng
}

func (t *targetedAttack) Run(ctx context.Context, clf Classifier, b Batch, rng *rand.Rand) (*Outcome, error) {
	b, rng = t.batch(b, rng)
	return t.inner.Run(ctx, clf, b, rng)
}

// targetedBB is a black-box attack with a target rule.
type targetedBB struct {
	targetedAttack
	bb BlackBox
}

func (t *targetedBB) DecisionBased() bool { return t.bb.DecisionBased() }
func (t *targetedBB) MaxQueries() int     { return t.bb.MaxQueries() }

func (t *targetedBB) RunOracle(ctx context.Context, o LabelOracle, b Batch, rng *rand.Rand) (*Outcome, error) {
	b, rng = t.batch(b, rng)
	return t.bb.RunOracle(ctx, o, b, rng)
}

// resolveTargets sets b.Targets from b.rule (if any) once the clean scores
// are known.
func resolveTargets(name string, b *Batch, c int, clean func(i int) []float32) error {
	if b.rule == nil || b.Targets != nil {
		return nil
	}
	tg, err := b.rule.choose(name, *b, c, clean)
	if err != nil {
		return err
	}
	b.Targets = tg
	return nil
}
