package eval

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"time"

	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/tensor"
)

// AttackRun is one attack's outcome over a whole dataset. Slices are
// indexed by sample; samples that were not clean-correct are never attacked
// (Attacked false).
type AttackRun struct {
	Attack attack.Attack
	// Attacked marks the clean-correct samples the attack ran on.
	Attacked []bool
	// Fooled marks attacked samples whose adversarial example succeeded.
	Fooled []bool
	// L0, L2 and Linf are the perturbation norms of each attacked sample's
	// adversarial example (L0 counts elements that changed by more than 1e-6).
	L0, L2, Linf []float64
	// GradEvals and Queries are per-sample counts, as the attack reports them.
	GradEvals, Queries []int
	// Targets and Reached are set for a targeted attack (nil otherwise):
	// each attacked sample's target class and whether its adversarial
	// example is classified as the target. Fooled then counts
	// misclassification, the untargeted success.
	Targets []int
	Reached []bool
	// Seconds is the wall time of the attack over all batches.
	Seconds float64
	// Examples are the kept adversarial examples (PoolOptions.KeepExamples).
	Examples []Example
	// Done is the number of clean-correct samples attacked so far; it is
	// less than the number of clean-correct samples when the run was
	// interrupted.
	Done int
}

// Example is one kept adversarial example.
type Example struct {
	// Sample is the index of the clean sample in the dataset.
	Sample int
	// XAdv is the adversarial example, in the sample's shape.
	XAdv []float32
}

// PoolResult is a clean pass plus every attack of a pool over one dataset.
type PoolResult struct {
	Clean   *CleanResult
	Attacks []*AttackRun
	// Incomplete is set when the run stopped early (interrupted); the
	// figures then cover the samples done.
	Incomplete error
}

// PoolOptions configures RunPool.
type PoolOptions struct {
	// BatchSize is the number of samples per attack batch.
	BatchSize int
	// Seed drives every random choice of every attack.
	Seed uint64
	// Progress, when not nil, is called after each batch with the attack
	// index, the samples done and the total for that attack.
	Progress func(attackIndex int, name string, done, total int)
	// KeepExamples keeps the adversarial examples of the first K fooled
	// samples of each attack (for galleries).
	KeepExamples int
	// SampleIndex gives the global index of each sample of x: its position
	// in the whole data set before sharding (dataset.Set.Index). Attacks
	// draw each sample's randomness from it, so a shard reproduces its
	// samples' outcomes in the whole run. nil means sample i is index i.
	SampleIndex []int
	// Query, when not nil, is the forward-only model that black-box
	// attacks query instead of the classifier's Logits (a remote
	// endpoint); it must answer the classifier's classes for its input
	// shape.
	Query attack.ScoreFunc
}

// RunPool classifies every sample, then runs each attack on the
// clean-correct samples in batches. Every batch of an attack gets a
// generator seeded from (Seed, attack name and parameters) and the global
// indices of its samples, from which the attack draws each sample's
// randomness (attack.SampleRNG): a result depends neither on which other
// attacks ran nor on the batch size or the shard. When ctx
// is cancelled it returns what it has, with Incomplete set and a nil error;
// when an attack fails it returns what it has and the error (also in
// Incomplete).
func RunPool(ctx context.Context, clf attack.Classifier, x *tensor.Tensor, y []int, attacks []attack.Attack, opts PoolOptions) (*PoolResult, error) {
	if opts.BatchSize <= 0 {
		return nil, fmt.Errorf("eval: batch size %d, want > 0", opts.BatchSize)
	}
	if err := checkXY(x, y); err != nil {
		return nil, err
	}
	return RunPoolData(ctx, clf, TensorData(x, y), attacks, opts)
}

// RunPoolData is RunPool on Data read batch by batch: the clean pass reads
// the set in batches of BatchSize, each attack batch reads its
// clean-correct samples (ReadSamples), and nothing but the per-sample
// outcomes and the kept examples outlives a batch, so that memory follows
// the batch size, not the set. A sample that cannot be read stops the run
// as an attack failure does (before any attack: a nil result).
func RunPoolData(ctx context.Context, clf attack.Classifier, d Data, attacks []attack.Attack, opts PoolOptions) (*PoolResult, error) {
	if opts.BatchSize <= 0 {
		return nil, fmt.Errorf("eval: batch size %d, want > 0", opts.BatchSize)
	}
	clean, err := Clean(ctx, clf, d, opts.BatchSize)
	if err != nil {
		return nil, err
	}
	y := d.Labels()
	if opts.SampleIndex != nil && len(opts.SampleIndex) != clean.N {
		return nil, fmt.Errorf("eval: %d sample indices for %d samples", len(opts.SampleIndex), clean.N)
	}
	res := &PoolResult{Clean: clean}
	var idx []int
	for i, ok := range clean.Correct {
		if ok {
			idx = append(idx, i)
		}
	}
	n := clean.N
	per := tensor.Numel(d.SampleShape())
	for ai, a := range attacks {
		run := &AttackRun{
			Attack: a, Attacked: make([]bool, n), Fooled: make([]bool, n),
			L0: make([]float64, n), L2: make([]float64, n), Linf: make([]float64, n),
			GradEvals: make([]int, n), Queries: make([]int, n),
		}
		res.Attacks = append(res.Attacks, run)
		start := time.Now()
		for lo := 0; lo < len(idx); lo += opts.BatchSize {
			if err := ctx.Err(); err != nil {
				res.Incomplete = err
				run.Seconds = time.Since(start).Seconds()
				return res, nil
			}
			hi := min(lo+opts.BatchSize, len(idx))
			ids := idx[lo:hi]
			xb, err := ReadSamples(d, ids)
			if err != nil {
				res.Incomplete = err
				run.Seconds = time.Since(start).Seconds()
				return res, err
			}
			yb := make([]int, len(ids))
			gi := make([]int, len(ids))
			for j, i := range ids {
				yb[j] = y[i]
				gi[j] = i
				if opts.SampleIndex != nil {
					gi[j] = opts.SampleIndex[i]
				}
			}
			rng := rand.New(rand.NewPCG(opts.Seed, streamID(a)))
			out, err := runBatch(ctx, a, clf, opts.Query, attack.Batch{X: xb, Y: yb, Index: gi}, rng)
			if err != nil {
				if ctx.Err() != nil {
					res.Incomplete = ctx.Err()
					run.Seconds = time.Since(start).Seconds()
					return res, nil
				}
				// Keep what the pool measured so far: a remote endpoint that
				// fails or a spent query budget still leaves a partial report.
				res.Incomplete = fmt.Errorf("attack %s: %w", a.Name(), err)
				run.Seconds = time.Since(start).Seconds()
				return res, res.Incomplete
			}
			for j, i := range ids {
				if out.Skipped != nil && out.Skipped[j] {
					continue
				}
				run.Attacked[i] = true
				run.Fooled[i] = out.Fooled[j]
				if out.Targets != nil {
					if run.Targets == nil {
						run.Targets, run.Reached = make([]int, n), make([]bool, n)
					}
					run.Targets[i], run.Reached[i] = out.Targets[j], out.Fooled[j]
					run.Fooled[i] = out.Misclassified[j]
				}
				run.L0[i], run.L2[i], run.Linf[i] = norms(xb.F[j*per:(j+1)*per], out.XAdv.F[j*per:(j+1)*per])
				if out.GradEvals != nil {
					run.GradEvals[i] = out.GradEvals[j]
				}
				if out.Queries != nil {
					run.Queries[i] = out.Queries[j]
				}
				if out.Fooled[j] && len(run.Examples) < opts.KeepExamples {
					run.Examples = append(run.Examples, Example{Sample: i, XAdv: append([]float32(nil), out.XAdv.F[j*per:(j+1)*per]...)})
				}
			}
			run.Done = hi
			if opts.Progress != nil {
				opts.Progress(ai, a.Name(), hi, len(idx))
			}
		}
		run.Seconds = time.Since(start).Seconds()
	}
	return res, nil
}

// runBatch runs one batch: white-box attacks against clf, black-box ones
// through an oracle that hides it.
func runBatch(ctx context.Context, a attack.Attack, clf attack.Classifier, query attack.ScoreFunc, b attack.Batch, rng *rand.Rand) (*attack.Outcome, error) {
	bb, ok := a.(attack.BlackBox)
	if !ok {
		return a.Run(ctx, clf, b, rng)
	}
	var so attack.ScoreOracle
	if query != nil {
		so = attack.NewScoreFuncOracle(query, clf.NumClasses(), clf.InputShape(), bb.MaxQueries())
	} else {
		so = attack.NewScoreOracle(clf, bb.MaxQueries())
	}
	var o attack.LabelOracle = so
	if bb.DecisionBased() {
		o = attack.LabelsOnly(so)
	}
	return bb.RunOracle(ctx, o, b, rng)
}

// streamID derives a generator stream from the attack's name and resolved
// parameters (fmt prints maps in key order): the same for every batch.
func streamID(a attack.Attack) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%v", a.Name(), a.Params())
	return h.Sum64()
}

// norms returns the L0, L2 and Linf norms of adv - x.
func norms(x, adv []float32) (l0, l2, linf float64) {
	for i := range x {
		d := math.Abs(float64(adv[i]) - float64(x[i]))
		if d > 1e-6 {
			l0++
		}
		l2 += d * d
		if d > linf {
			linf = d
		}
	}
	return l0, math.Sqrt(l2), linf
}
