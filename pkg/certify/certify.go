package certify

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/advtest/advtest/pkg/report"
	"github.com/advtest/advtest/pkg/tensor"
)

// Classifier is the base classifier f as certify sees it: class scores for
// a batch. attack.Classifier and *onnxmodel.Model satisfy it.
type Classifier interface {
	// NumClasses returns the number of classes.
	NumClasses() int
	// InputShape returns one sample's shape, without the batch axis.
	InputShape() []int
	// Logits returns the [N, NumClasses] scores of a batch of shape
	// [N, InputShape...].
	Logits(ctx context.Context, x *tensor.Tensor) (*tensor.Tensor, error)
}

// Params are CERTIFY's parameters.
type Params struct {
	// Sigma is the noise's standard deviation, in input space.
	Sigma float64
	// N0 is the number of draws that select the top class.
	N0 int
	// N is the number of draws that estimate its probability.
	N int
	// Alpha is the failure probability of each certificate.
	Alpha float64
	// Batch is the number of noisy copies classified per forward pass.
	Batch int
	// Clip clips each noisy input to [Min, Max].
	Clip     bool
	Min, Max float32
}

// Defaults of the paper's experiments (Sec. 4) and the reference code's
// certify.py: n0 = 100, n = 100,000, alpha = 0.001, batch 1000; sigma 0.25,
// one of the paper's three noise levels (0.12 and 0.5 for CIFAR-10, 0.25
// for both data sets; 0.25 is also Salman et al.'s MNIST setting).
const (
	DefaultSigma = 0.25
	DefaultN0    = 100
	DefaultN     = 100000
	DefaultAlpha = 0.001
	DefaultBatch = 1000
)

// DefaultParams returns the defaults above, without clipping.
func DefaultParams() Params {
	return Params{Sigma: DefaultSigma, N0: DefaultN0, N: DefaultN, Alpha: DefaultAlpha, Batch: DefaultBatch}
}

// Validate checks the parameters and names the one that is wrong.
func (p Params) Validate() error {
	switch {
	case !(p.Sigma > 0) || math.IsInf(p.Sigma, 0):
		return fmt.Errorf("certify: sigma %g: want a finite number > 0", p.Sigma)
	case p.N0 < 1:
		return fmt.Errorf("certify: n0 %d: want at least 1 draw to select the top class", p.N0)
	case p.N < 1:
		return fmt.Errorf("certify: n %d: want at least 1 draw to estimate the top class's probability", p.N)
	case !(p.Alpha > 0 && p.Alpha < 1):
		return fmt.Errorf("certify: alpha %g: want a number in (0, 1)", p.Alpha)
	case p.Batch < 1:
		return fmt.Errorf("certify: batch %d: want at least 1", p.Batch)
	case p.Clip && !(p.Min < p.Max):
		return fmt.Errorf("certify: clip range [%g, %g]: want min < max", p.Min, p.Max)
	}
	return nil
}

// LowerConfidenceBound returns the one-sided (1 − alpha) Clopper-Pearson
// lower bound of a binomial proportion with k successes in n trials: the
// alpha-quantile of Beta(k, n − k + 1), and 0 when k is 0. It is the
// reference code's proportion_confint(k, n, alpha=2·alpha,
// method="beta")[0].
func LowerConfidenceBound(k, n int, alpha float64) float64 {
	if k <= 0 {
		return 0
	}
	return distuv.Beta{Alpha: float64(k), Beta: float64(n - k + 1)}.Quantile(alpha)
}

// Radius returns the certified L2 radius σ·Φ⁻¹(pLower), 0 when pLower is
// at most 1/2 (an abstention certifies nothing).
func Radius(sigma, pLower float64) float64 {
	if !(pLower > 0.5) {
		return 0
	}
	return sigma * distuv.UnitNormal.Quantile(pLower)
}

// Options are Certify's parameters beyond CERTIFY's own.
type Options struct {
	Params
	// Seed drives all noise.
	Seed uint64
	// FirstIndex is the index of x's first sample in the whole data set
	// (for a shard), which selects the samples' noise streams.
	FirstIndex int
	// Progress, when not nil, is called after each sample with the number
	// of samples done and the total.
	Progress func(done, total int)
}

// noiseStream returns the noise source of the sample with index i.
func noiseStream(seed uint64, i int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, uint64(i)))
}

// Certify runs CERTIFY on every sample of x ([N, InputShape...]) with
// labels y, and returns each sample's certificate. When ctx is done it
// returns the samples certified so far with ctx's error.
func Certify(ctx context.Context, clf Classifier, x *tensor.Tensor, y []int, o Options) ([]report.CertifiedSample, error) {
	if err := o.Params.Validate(); err != nil {
		return nil, err
	}
	if len(x.Shape) == 0 || x.Shape[0] != len(y) {
		return nil, fmt.Errorf("certify: %d labels for data of shape %v", len(y), x.Shape)
	}
	n := len(y)
	per := 0
	if n > 0 {
		per = x.Len() / n
	}
	s := newSampler(clf, x.Shape[1:], o.Params)
	out := make([]report.CertifiedSample, 0, n)
	for i := 0; i < n; i++ {
		idx := o.FirstIndex + i
		c, err := s.certify(ctx, x.F[i*per:(i+1)*per], noiseStream(o.Seed, idx))
		if err != nil {
			return out, err
		}
		c.Index, c.Label = idx, y[i]
		c.Correct = c.Prediction == y[i]
		out = append(out, c)
		if o.Progress != nil {
			o.Progress(i+1, n)
		}
	}
	return out, nil
}

// sampler classifies noisy copies of one sample, reusing its batch buffer.
type sampler struct {
	clf   Classifier
	shape []int
	p     Params
	buf   *tensor.Tensor
}

func newSampler(clf Classifier, shape []int, p Params) *sampler {
	return &sampler{clf: clf, shape: shape, p: p}
}

// certify is CERTIFY on one sample x0, drawing from rng.
func (s *sampler) certify(ctx context.Context, x0 []float32, rng *rand.Rand) (report.CertifiedSample, error) {
	counts0, err := s.counts(ctx, x0, s.p.N0, rng)
	if err != nil {
		return report.CertifiedSample{}, err
	}
	top := argmaxInt(counts0)
	counts, err := s.counts(ctx, x0, s.p.N, rng)
	if err != nil {
		return report.CertifiedSample{}, err
	}
	return Decide(top, counts[top], s.p), nil
}

// Decide is CERTIFY's last step: with countTop of p.N draws on the top
// class top, it returns the prediction (report.AbstainPrediction when the
// lower bound is below 1/2), the bound and the radius. Index, Label and
// Correct are left for the caller.
func Decide(top, countTop int, p Params) report.CertifiedSample {
	pl := LowerConfidenceBound(countTop, p.N, p.Alpha)
	c := report.CertifiedSample{CountTop: countTop, PLower: pl, Prediction: report.AbstainPrediction}
	if pl >= 0.5 {
		c.Prediction = top
		c.Radius = Radius(p.Sigma, pl)
	}
	return c
}

// counts classifies num noisy copies of x0 and returns how many fell in
// each class.
func (s *sampler) counts(ctx context.Context, x0 []float32, num int, rng *rand.Rand) ([]int, error) {
	nc := s.clf.NumClasses()
	if nc < 1 {
		return nil, errors.New("certify: the classifier has no classes")
	}
	counts := make([]int, nc)
	per := len(x0)
	sigma := s.p.Sigma
	for done := 0; done < num; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b := min(s.p.Batch, num-done)
		if s.buf == nil || s.buf.Shape[0] != b {
			s.buf = tensor.New(append([]int{b}, s.shape...)...)
		}
		f := s.buf.F
		for j := 0; j < b; j++ {
			row := f[j*per : (j+1)*per]
			for k, v := range x0 {
				z := v + float32(sigma*rng.NormFloat64())
				if s.p.Clip {
					z = min(max(z, s.p.Min), s.p.Max)
				}
				row[k] = z
			}
		}
		logits, err := s.clf.Logits(ctx, s.buf)
		if err != nil {
			return nil, err
		}
		if len(logits.Shape) != 2 || logits.Shape[0] != b || logits.Shape[1] != nc {
			return nil, fmt.Errorf("certify: the classifier returned scores of shape %v for %d inputs and %d classes", logits.Shape, b, nc)
		}
		for j := 0; j < b; j++ {
			counts[argmax(logits.F[j*nc:(j+1)*nc])]++
		}
		done += b
	}
	return counts, nil
}

// argmax returns the index of the largest score, the lowest on ties; NaN
// scores are never the largest.
func argmax(row []float32) int {
	best := 0
	for i, v := range row {
		if v > row[best] || (row[best] != row[best] && v == v) {
			best = i
		}
	}
	return best
}

func argmaxInt(counts []int) int {
	best := 0
	for i, v := range counts {
		if v > counts[best] {
			best = i
		}
	}
	return best
}

// DefaultRadii are the L2 radii of the certified-accuracy table when none
// are asked for: 0 to 1 in steps of 0.25 (the paper's MNIST figures run
// from 0 to about 2σ_max).
var DefaultRadii = []float64{0, 0.25, 0.5, 0.75, 1}

// Summarize builds the report section from the samples' certificates: the
// abstain rate, the smoothed accuracy and the certified accuracy at each
// of radii (sorted, duplicates dropped).
func Summarize(samples []report.CertifiedSample, radii []float64, p Params, noiseSource string, elapsed time.Duration) *report.Certification {
	c := &report.Certification{
		Sigma: p.Sigma, N0: p.N0, NDraws: p.N, Alpha: p.Alpha, BatchSize: p.Batch,
		NoiseSource: noiseSource, N: len(samples), Samples: samples, Seconds: elapsed.Seconds(),
		Radii: []report.CertifiedAccuracy{},
	}
	if c.Samples == nil {
		c.Samples = []report.CertifiedSample{}
	}
	if p.Clip {
		c.Clip = []float64{float64(p.Min), float64(p.Max)}
	}
	for _, s := range samples {
		if s.Prediction == report.AbstainPrediction {
			c.NAbstain++
		}
	}
	if len(samples) > 0 {
		c.AbstainRate = float64(c.NAbstain) / float64(len(samples))
	}
	_, c.Accuracy = c.CertifiedAccuracyAt(0)
	var certified []float64
	for _, s := range samples {
		if s.Correct && s.Prediction != report.AbstainPrediction {
			certified = append(certified, s.Radius)
		}
	}
	radius := report.NewNormStats(certified)
	c.Radius = &radius
	rs := append([]float64(nil), radii...)
	sort.Float64s(rs)
	for i, r := range rs {
		if i > 0 && r == rs[i-1] {
			continue
		}
		n, acc := c.CertifiedAccuracyAt(r)
		c.Radii = append(c.Radii, report.CertifiedAccuracy{Radius: r, NCertified: n, CertifiedAccuracy: acc})
	}
	return c
}

// MaxRadius is the largest radius n draws can certify: σ·Φ⁻¹(alpha^(1/n)),
// reached when all n draws give the top class.
func (p Params) MaxRadius() float64 {
	return Radius(p.Sigma, LowerConfidenceBound(p.N, p.N, p.Alpha))
}
