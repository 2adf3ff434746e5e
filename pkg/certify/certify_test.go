package certify

import (
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/advtest/advtest/pkg/report"
	"github.com/advtest/advtest/pkg/tensor"
)

// The reference values below are scipy 1.10.1's (Debian python3-scipy),
// computed offline with /usr/bin/python3:
//
//	from scipy.stats import beta, norm
//	beta.ppf(alpha, k, n - k + 1)   # one-sided Clopper-Pearson lower bound
//	norm.ppf(p)                     # Φ⁻¹
//
// beta.ppf(alpha, k, n-k+1) is statsmodels' proportion_confint(k, n,
// alpha=2*alpha, method="beta")[0], the bound of Cohen et al.'s code.
func TestLowerConfidenceBound(t *testing.T) {
	tests := []struct {
		k, n  int
		alpha float64
		want  float64
	}{
		{0, 10, 0.05, 0},
		{1, 10, 0.05, 0.005116196891823702},
		{9, 10, 0.05, 0.6058366975634952},
		{10, 10, 0.05, 0.7411344491069477},
		{50, 100, 0.001, 0.3447980064253177},
		{505, 1000, 0.001, 0.455739612765033},
		{600, 1000, 0.001, 0.5510754739370525},
		{990, 1000, 0.001, 0.9760361871553114},
		{1000, 1000, 0.001, 0.9931160484209338},
		{99000, 100000, 0.001, 0.9889893403774748},
		{100000, 100000, 0.001, 0.9999309248330094},
	}
	for _, tt := range tests {
		got := LowerConfidenceBound(tt.k, tt.n, tt.alpha)
		if math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("LowerConfidenceBound(%d, %d, %g) = %.16g, want %.16g (scipy)", tt.k, tt.n, tt.alpha, got, tt.want)
		}
	}
}

func TestRadius(t *testing.T) {
	tests := []struct {
		sigma, p, want float64
	}{
		// norm.ppf(p) from scipy, times sigma.
		{0.25, 0.9, 0.25 * 1.2815515655446004},
		{0.5, 0.99, 0.5 * 2.3263478740408408},
		{1, 0.6, 0.2533471031357997},
		{0.25, 0.6058366975634952, 0.25 * 0.26848423933292576},
		{0.25, 0.9931160484209338, 0.25 * 2.4632626147808114},
		{0.12, 0.9999309248330094, 0.12 * 3.8114565633899145},
		{0.25, 0.5, 0},
		{0.25, 0.3, 0},
	}
	for _, tt := range tests {
		if got := Radius(tt.sigma, tt.p); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("Radius(%g, %g) = %.16g, want %.16g", tt.sigma, tt.p, got, tt.want)
		}
	}
	// MaxRadius: all n draws on the top class, alpha^(1/n) in closed form.
	p := Params{Sigma: 0.25, N0: 1, N: 1000, Alpha: 0.001, Batch: 1}
	if got, want := p.MaxRadius(), 0.25*2.4632626147808114; math.Abs(got-want) > 1e-9 {
		t.Errorf("MaxRadius = %g, want %g", got, want)
	}
}

// bands is a fake base classifier of one input element with known class
// probabilities under N(0, σ²) noise around center: it gives class k when
// the standardised noise (z − center)/σ falls in [Φ⁻¹(P₀+…+P_{k−1}),
// Φ⁻¹(P₀+…+P_k)), so P(f(center + δ) = k) = P_k exactly.
type bands struct {
	center, sigma float64
	cuts          []float64 // Φ⁻¹ of the cumulative probabilities
	calls         int
}

func newBands(center, sigma float64, probs ...float64) *bands {
	b := &bands{center: center, sigma: sigma}
	var cum float64
	for _, p := range probs[:len(probs)-1] {
		cum += p
		b.cuts = append(b.cuts, distuv.UnitNormal.Quantile(cum))
	}
	return b
}

func (b *bands) NumClasses() int   { return len(b.cuts) + 1 }
func (b *bands) InputShape() []int { return []int{1} }
func (b *bands) Logits(_ context.Context, x *tensor.Tensor) (*tensor.Tensor, error) {
	b.calls++
	n := x.Shape[0]
	out := tensor.New(n, b.NumClasses())
	for i := 0; i < n; i++ {
		e := (float64(x.F[i]) - b.center) / b.sigma
		k := 0
		for k < len(b.cuts) && e >= b.cuts[k] {
			k++
		}
		out.F[i*b.NumClasses()+k] = 1
	}
	return out, nil
}

func one(v float32) *tensor.Tensor {
	x := tensor.New(1, 1)
	x.F[0] = v
	return x
}

// TestCertifyKnownProbabilities checks CERTIFY against the closed form: on
// a classifier whose top class has probability pA under the noise, the
// count over n draws is within 5 binomial standard deviations of pA·n, and
// the radius is exactly σ·Φ⁻¹(LowerConfidenceBound(count, n, alpha)), close
// to σ·Φ⁻¹(pA) for large n; a two-way tie abstains.
func TestCertifyKnownProbabilities(t *testing.T) {
	tests := []struct {
		name    string
		probs   []float64
		sigma   float64
		n       int
		top     int
		abstain bool
	}{
		{name: "pA 0.9", probs: []float64{0.1, 0.9}, sigma: 0.25, n: 20000, top: 1},
		{name: "pA 0.99, three classes", probs: []float64{0.004, 0.99, 0.006}, sigma: 0.5, n: 20000, top: 1},
		{name: "pA 0.7 of class 0", probs: []float64{0.7, 0.2, 0.1}, sigma: 0.12, n: 5000, top: 0},
		{name: "tie abstains", probs: []float64{0.5, 0.5}, sigma: 0.25, n: 5000, abstain: true},
		{name: "pA 0.45 abstains", probs: []float64{0.45, 0.3, 0.25}, sigma: 0.25, n: 5000, abstain: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const center, alpha = 0.3, 0.001
			clf := newBands(center, tt.sigma, tt.probs...)
			p := Params{Sigma: tt.sigma, N0: 100, N: tt.n, Alpha: alpha, Batch: 512}
			got, err := Certify(context.Background(), clf, one(center), []int{tt.top}, Options{Params: p, Seed: 7})
			if err != nil {
				t.Fatal(err)
			}
			c := got[0]
			pl := LowerConfidenceBound(c.CountTop, tt.n, alpha)
			if c.PLower != pl {
				t.Errorf("p_lower %g, want LowerConfidenceBound(%d, %d) = %g", c.PLower, c.CountTop, tt.n, pl)
			}
			if tt.abstain {
				if c.Prediction != report.AbstainPrediction || c.Radius != 0 || c.Correct {
					t.Errorf("got %+v, want an abstention", c)
				}
				return
			}
			pA := tt.probs[tt.top]
			sd := math.Sqrt(pA * (1 - pA) / float64(tt.n))
			if frac := float64(c.CountTop) / float64(tt.n); math.Abs(frac-pA) > 5*sd {
				t.Errorf("top-class frequency %g, want %g ± %g", frac, pA, 5*sd)
			}
			if c.Prediction != tt.top || !c.Correct {
				t.Errorf("prediction %d (correct %v), want %d", c.Prediction, c.Correct, tt.top)
			}
			if want := tt.sigma * distuv.UnitNormal.Quantile(pl); math.Abs(c.Radius-want) > 1e-12 {
				t.Errorf("radius %g, want σ·Φ⁻¹(p_lower) = %g", c.Radius, want)
			}
			// The bound is below pA (it holds with probability 1-alpha;
			// with seed 7 it does) and close to it for this n.
			ideal := tt.sigma * distuv.UnitNormal.Quantile(pA)
			if c.Radius > ideal || ideal-c.Radius > 0.1*ideal+0.01 {
				t.Errorf("radius %g, want just below σ·Φ⁻¹(pA) = %g", c.Radius, ideal)
			}
		})
	}
}

// TestCertifyClip: with x = 0 and the noisy input clipped to [0, 1], the
// noise never goes below 0, so a classifier that gives class 0 only for
// noise below Φ⁻¹(0.3)·σ always gives class 1: every draw counts, and the
// bound is alpha^(1/n).
func TestCertifyClip(t *testing.T) {
	clf := newBands(0, 0.25, 0.3, 0.7)
	p := Params{Sigma: 0.25, N0: 10, N: 1000, Alpha: 0.001, Batch: 100, Clip: true, Min: 0, Max: 1}
	got, err := Certify(context.Background(), clf, one(0), []int{1}, Options{Params: p, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if c := got[0]; c.CountTop != 1000 || math.Abs(c.PLower-0.9931160484209338) > 1e-9 {
		t.Errorf("clipped: count %d, p_lower %g; want 1000, 0.9931160484209338", c.CountTop, c.PLower)
	}
	p.Clip = false
	got, err = Certify(context.Background(), clf, one(0), []int{1}, Options{Params: p, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if c := got[0]; c.CountTop > 760 || c.CountTop < 640 {
		t.Errorf("unclipped: count %d of 1000, want about 700", c.CountTop)
	}
}

// TestCertifyReproducible: the figures depend on the seed and the sample
// index only, not on the batch size or on a shard's offset.
func TestCertifyReproducible(t *testing.T) {
	clf := newBands(0.5, 0.25, 0.2, 0.8)
	x := tensor.New(3, 1)
	for i := range x.F {
		x.F[i] = 0.5
	}
	y := []int{1, 1, 0}
	run := func(batch int, seed uint64) []report.CertifiedSample {
		p := Params{Sigma: 0.25, N0: 50, N: 700, Alpha: 0.01, Batch: batch}
		got, err := Certify(context.Background(), clf, x, y, Options{Params: p, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	a, b := run(64, 3), run(1000, 3)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("batch 64 and 1000 differ:\n%+v\n%+v", a, b)
	}
	if a[0].CountTop == a[1].CountTop && a[1].CountTop == a[2].CountTop {
		t.Errorf("three samples drew the same counts %d: the noise streams are not per sample", a[0].CountTop)
	}
	if c := run(64, 4); reflect.DeepEqual(a, c) {
		t.Error("seeds 3 and 4 gave the same certificates")
	}
	// The third sample certified alone, as the first of a shard at index 2.
	p := Params{Sigma: 0.25, N0: 50, N: 700, Alpha: 0.01, Batch: 64}
	shard, err := Certify(context.Background(), clf, one(0.5), []int{0}, Options{Params: p, Seed: 3, FirstIndex: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(shard[0], a[2]) {
		t.Errorf("sample 2 in a shard %+v, in the whole set %+v", shard[0], a[2])
	}
	if a[2].Correct || a[2].Index != 2 || a[2].Label != 0 {
		t.Errorf("sample 2: %+v, want index 2, label 0, not correct", a[2])
	}
}

func TestCertifyCancelled(t *testing.T) {
	clf := newBands(0, 1, 0.5, 0.5)
	x := tensor.New(4, 1)
	ctx, cancel := context.WithCancel(context.Background())
	p := Params{Sigma: 1, N0: 10, N: 10, Alpha: 0.1, Batch: 10}
	got, err := Certify(ctx, clf, x, []int{0, 0, 0, 0}, Options{Params: p, Progress: func(done, total int) {
		if done == 2 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) || len(got) != 2 {
		t.Errorf("cancelled after 2 samples: %d samples, err %v; want 2 and context.Canceled", len(got), err)
	}
}

func TestParamsValidate(t *testing.T) {
	ok := DefaultParams()
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	tests := []struct {
		edit func(*Params)
		want string
	}{
		{func(p *Params) { p.Sigma = 0 }, "sigma"},
		{func(p *Params) { p.Sigma = math.Inf(1) }, "sigma"},
		{func(p *Params) { p.N0 = 0 }, "n0"},
		{func(p *Params) { p.N = 0 }, "n 0"},
		{func(p *Params) { p.Alpha = 1 }, "alpha"},
		{func(p *Params) { p.Batch = 0 }, "batch"},
		{func(p *Params) { p.Clip, p.Min, p.Max = true, 1, 0 }, "clip range"},
	}
	for _, tt := range tests {
		p := ok
		tt.edit(&p)
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want an error naming %q", p, err, tt.want)
		}
		if _, err := Certify(context.Background(), newBands(0, 1, 1), one(0), []int{0}, Options{Params: p}); err == nil {
			t.Errorf("Certify accepted %+v", p)
		}
	}
}

func TestDecideAndSummarize(t *testing.T) {
	p := Params{Sigma: 0.5, N0: 100, N: 1000, Alpha: 0.001, Batch: 100}
	var samples []report.CertifiedSample
	for i, tc := range []struct{ top, count, label int }{
		{1, 1000, 1}, // radius 0.5·2.4633 = 1.2316
		{2, 990, 2},  // radius 0.5·1.9780 = 0.9890
		{3, 600, 3},  // radius 0.5·0.12838 = 0.0642
		{4, 505, 4},  // abstains: bound 0.4557
		{5, 990, 6},  // certified, but wrong
	} {
		s := Decide(tc.top, tc.count, p)
		s.Index, s.Label, s.Correct = i, tc.label, s.Prediction == tc.label
		samples = append(samples, s)
	}
	wantRadii := []float64{0.5 * 2.4632626147808114, 0.5 * 1.9780095821411994, 0.5 * 0.1283789963055296, 0, 0.5 * 1.9780095821411994}
	for i, s := range samples {
		if math.Abs(s.Radius-wantRadii[i]) > 1e-9 {
			t.Errorf("sample %d: radius %g, want %g", i, s.Radius, wantRadii[i])
		}
	}
	c := Summarize(samples, []float64{1, 0, 0.5, 0.5, 1.3}, p, NoiseFromInput, 2*time.Second)
	if c.NAbstain != 1 || c.AbstainRate != 0.2 || c.Accuracy != 0.6 || c.N != 5 || c.Seconds != 2 || c.NDraws != 1000 || c.Clip != nil {
		t.Errorf("summary %+v", c)
	}
	want := []report.CertifiedAccuracy{
		{Radius: 0, NCertified: 3, CertifiedAccuracy: 0.6},
		{Radius: 0.5, NCertified: 2, CertifiedAccuracy: 0.4},
		{Radius: 1, NCertified: 1, CertifiedAccuracy: 0.2},
		{Radius: 1.3, NCertified: 0, CertifiedAccuracy: 0},
	}
	if !reflect.DeepEqual(c.Radii, want) {
		t.Errorf("radii %+v, want %+v", c.Radii, want)
	}
	// The radius summary is over the three certified-correct samples only
	// (not the abstention, not the wrong one).
	if c.Radius == nil || math.Abs(c.Radius.Median-wantRadii[1]) > 1e-9 ||
		math.Abs(c.Radius.Mean-(wantRadii[0]+wantRadii[1]+wantRadii[2])/3) > 1e-9 {
		t.Errorf("radius summary %+v, want the mean and median of %v", c.Radius, wantRadii[:3])
	}
}
