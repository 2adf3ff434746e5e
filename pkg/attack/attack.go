package attack

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/advtest/advtest/pkg/tensor"
)

// Norm names the distance in which an attack bounds (or, for
// minimal-perturbation attacks, measures) its perturbation.
type Norm int

const (
	// NormNone marks an attack without a norm ball: minimal-perturbation
	// attacks (C&W, DeepFool, L-BFGS, JSMA) when no eps is given.
	NormNone Norm = iota
	// Linf is the maximum absolute change of any input element.
	Linf
	// L2 is the Euclidean length of the perturbation.
	L2
	// L0 is the number of input elements changed.
	L0
	// L1 is the sum of the absolute changes of the input elements.
	L1
)

// String returns the name used in parameters and reports: "none", "linf",
// "l2", "l0" or "l1".
func (n Norm) String() string {
	switch n {
	case NormNone:
		return "none"
	case Linf:
		return "linf"
	case L2:
		return "l2"
	case L0:
		return "l0"
	case L1:
		return "l1"
	}
	return fmt.Sprintf("norm(%d)", int(n))
}

// ParseNorm parses a norm name, case-insensitively: "linf" (also "inf",
// "l_inf"), "l2" (also "2"), "l0" (also "0"), "l1" (also "1") or "none".
func ParseNorm(s string) (Norm, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "linf", "inf", "l_inf", "linfinity":
		return Linf, nil
	case "l2", "2", "l_2":
		return L2, nil
	case "l0", "0", "l_0":
		return L0, nil
	case "l1", "1", "l_1":
		return L1, nil
	case "none", "":
		return NormNone, nil
	}
	return NormNone, fmt.Errorf("unknown norm %q (want linf, l2, l1, l0 or none)", s)
}

// Bounds is the clip range of the input space: every element of every
// adversarial example lies in [Min, Max].
type Bounds struct {
	Min, Max float32
}

// DefaultBounds returns [0, 1], the range of images scaled to unit pixels.
func DefaultBounds() Bounds { return Bounds{Min: 0, Max: 1} }

func (b Bounds) validate() error {
	if !(b.Min < b.Max) {
		return fmt.Errorf("clip range [%g, %g] is empty (want min < max)", b.Min, b.Max)
	}
	return nil
}

// Batch is the input of one attack run: N samples in input space with their
// true labels and, for a targeted attack, the classes to reach.
type Batch struct {
	// X has shape [N, InputShape...].
	X *tensor.Tensor
	// Y holds the N true class ids.
	Y []int
	// Targets holds the N target class ids of a targeted attack; nil means
	// untargeted (any misclassification succeeds).
	Targets []int
	// Index holds the global index of each of the N samples: its position
	// in the whole data set, before sharding and batching. Per-sample
	// randomness is drawn from it (see SampleRNG), so that a sample's
	// outcome does not depend on the batch it is in. nil means 0..N-1.
	Index []int
	// rule, when set, asks the run to choose Targets itself from the clean
	// pass (set by a targeted=true attack; see TargetRule).
	rule *TargetRule
}

// SampleIndex returns the global index of batch sample i.
func (b Batch) SampleIndex(i int) int {
	if b.Index != nil {
		return b.Index[i]
	}
	return i
}

// Len returns the number of samples in the batch.
func (b Batch) Len() int { return len(b.Y) }

// Targeted reports whether the batch asks for a targeted attack.
func (b Batch) Targeted() bool { return b.Targets != nil }

// Outcome is what an attack run found, per sample.
//
// Fooled is always measured by a final forward pass on XAdv, so it is true
// exactly when XAdv is misclassified (untargeted) or classified as the
// target (targeted) by the classifier the attack ran against.
type Outcome struct {
	// XAdv has the shape of the batch's X. Samples the attack did not fool
	// hold the attack's best attempt (or the clean sample); every sample is
	// inside the clip range and inside the attack's norm ball.
	XAdv *tensor.Tensor
	// Fooled reports, per sample, whether XAdv[i] achieves the attack's goal:
	// misclassified (untargeted) or classified as Targets[i] (targeted: the
	// target was reached).
	Fooled []bool
	// Misclassified reports, per sample, whether XAdv[i] is classified as
	// anything but the true label. It equals Fooled for an untargeted run;
	// for a targeted run it is what an untargeted success rate counts.
	// Black-box runs know it from the answers on the points they keep; a
	// point whose answer was not kept counts as not misclassified.
	Misclassified []bool
	// Targets holds the target class of each sample of a targeted run (the
	// batch's, or those its target rule chose); nil when untargeted.
	Targets []int
	// Skipped marks samples that were not attacked: misclassified before
	// the attack (not clean-correct), or, when targeted, whose target equals
	// the label. Their XAdv is the clean sample and Fooled is false.
	Skipped []bool
	// GradEvals counts, per sample, the gradient evaluations (one forward
	// and one backward pass) in which the sample took part.
	GradEvals []int
	// Queries counts, per sample, the forward-only evaluations (logits
	// queries) in which the sample took part, including the initial and
	// final checks.
	Queries []int
}

// MisclassifiedRate returns the fraction of attacked (not skipped) samples
// whose XAdv is misclassified, and the number n of attacked samples; for an
// untargeted run it is SuccessRate.
func (o *Outcome) MisclassifiedRate() (rate float64, n int) {
	m := 0
	for i, s := range o.Skipped {
		if s {
			continue
		}
		n++
		if o.Misclassified != nil && o.Misclassified[i] || o.Misclassified == nil && o.Fooled[i] {
			m++
		}
	}
	if n == 0 {
		return 0, 0
	}
	return float64(m) / float64(n), n
}

// SuccessRate returns the fraction of attacked (not skipped) samples that
// were fooled, and the number n of attacked samples. It is 0 when n is 0.
func (o *Outcome) SuccessRate() (sr float64, n int) {
	fooled := 0
	for i, s := range o.Skipped {
		if s {
			continue
		}
		n++
		if o.Fooled[i] {
			fooled++
		}
	}
	if n == 0 {
		return 0, 0
	}
	return float64(fooled) / float64(n), n
}

// Attack is an adversarial attack with resolved parameters.
//
// Run attacks every sample of b against clf and returns an Outcome whose
// XAdv lies inside the clip range and inside the ball of radius Eps in Norm
// around X (when Eps > 0). A Run is deterministic given rng's state (a nil
// rng means a fixed seed), honours ctx cancellation between iterations, and
// reports bad input (shapes, labels, targets, values outside the clip range)
// as errors. An attack that has no targeted form returns an error for a
// batch with Targets.
type Attack interface {
	// Name returns the registry name, e.g. "pgd".
	Name() string
	// Params returns every parameter with its resolved value (defaults and
	// derived values included), keyed by the names New accepts.
	Params() map[string]any
	// Norm returns the norm of the attack's ball, or NormNone for an
	// unbounded minimal-perturbation attack.
	Norm() Norm
	// Eps returns the ball's radius in input space, or 0 when unbounded.
	Eps() float64
	// Run attacks a batch.
	Run(ctx context.Context, clf Classifier, b Batch, rng *rand.Rand) (*Outcome, error)
}

// defaultRNG returns rng, or a generator with a fixed seed when rng is nil.
func defaultRNG(rng *rand.Rand) *rand.Rand {
	if rng != nil {
		return rng
	}
	return rand.New(rand.NewPCG(0x9e3779b97f4a7c15, 0xadcafe))
}
