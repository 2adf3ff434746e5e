package defend

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"

	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/params"
	"github.com/advtest/advtest/pkg/tensor"
)

// Metadata keys under which the squeeze-detector defence records its
// calibrated detector in the model it returns (see DetectorFromModel).
const (
	DetectorSqueezersKey = "advtest.detector.squeezers"
	DetectorThresholdKey = "advtest.detector.threshold"
	DetectorFPRKey       = "advtest.detector.fpr"
)

// InputDetector is the feature-squeezing detector of Xu, Evans and Qi (NDSS
// 2018): the score of an input x is the largest, over the squeezers s, of
// the L1 distance between the model's softmax at x and at s(x); an input
// whose score exceeds Threshold is flagged adversarial. Calibrate sets
// Threshold from clean data for a target false-positive rate.
//
// It scores with Clf.Logits, so the squeezers run in Go (Squeezer.Apply,
// the same arithmetic as the graph form).
type InputDetector struct {
	// Clf is the model whose predictions are compared.
	Clf attack.Classifier
	// Squeezers are the transformations compared against.
	Squeezers []Squeezer
	// FPR is the false-positive rate Calibrate aims for.
	FPR float64
	// Threshold flags scores strictly above it.
	Threshold float64
	// BatchSize is the number of samples per forward pass (default 128).
	BatchSize int
}

// NewInputDetector returns an uncalibrated detector (threshold +Inf).
func NewInputDetector(clf attack.Classifier, squeezers []Squeezer, fpr float64) (*InputDetector, error) {
	if len(squeezers) == 0 {
		return nil, fmt.Errorf("detector: no squeezers")
	}
	for _, s := range squeezers {
		if err := s.Validate(); err != nil {
			return nil, err
		}
	}
	if !(fpr > 0 && fpr < 1) {
		return nil, fmt.Errorf("detector: fpr=%g, want in (0, 1)", fpr)
	}
	return &InputDetector{Clf: clf, Squeezers: squeezers, FPR: fpr, Threshold: math.Inf(1), BatchSize: 128}, nil
}

// Scores returns each sample's score (in [0, 2]).
func (d *InputDetector) Scores(ctx context.Context, x *tensor.Tensor) ([]float64, error) {
	n := x.Shape[0]
	per := x.Len() / n
	bs := d.BatchSize
	if bs <= 0 {
		bs = 128
	}
	out := make([]float64, 0, n)
	for lo := 0; lo < n; lo += bs {
		hi := min(lo+bs, n)
		xb := tensor.FromFloat32(x.F[lo*per:hi*per], append([]int{hi - lo}, x.Shape[1:]...)...)
		l, err := d.Clf.Logits(ctx, xb)
		if err != nil {
			return nil, err
		}
		p := tensor.SoftmaxFloat64(l)
		best := make([]float64, hi-lo)
		for _, s := range d.Squeezers {
			ls, err := d.Clf.Logits(ctx, s.Apply(xb))
			if err != nil {
				return nil, err
			}
			q := tensor.SoftmaxFloat64(ls)
			c := l.Shape[1]
			for i := range best {
				dist := 0.0
				for j := 0; j < c; j++ {
					dist += math.Abs(p[i*c+j] - q[i*c+j])
				}
				best[i] = math.Max(best[i], dist)
			}
		}
		out = append(out, best...)
	}
	return out, nil
}

// Calibrate sets Threshold to the smallest clean score that at most a
// fraction FPR of the clean samples exceed, and returns the scores.
func (d *InputDetector) Calibrate(ctx context.Context, clean *tensor.Tensor) ([]float64, error) {
	scores, err := d.Scores(ctx, clean)
	if err != nil {
		return nil, err
	}
	if len(scores) == 0 {
		return nil, fmt.Errorf("detector: no clean samples to calibrate on")
	}
	s := append([]float64(nil), scores...)
	sort.Float64s(s)
	k := int(math.Ceil((1-d.FPR)*float64(len(s)))) - 1
	d.Threshold = s[min(max(k, 0), len(s)-1)]
	return scores, nil
}

// Detect returns, per sample, whether it is flagged and its score.
func (d *InputDetector) Detect(ctx context.Context, x *tensor.Tensor) ([]bool, []float64, error) {
	scores, err := d.Scores(ctx, x)
	if err != nil {
		return nil, nil, err
	}
	flags := make([]bool, len(scores))
	for i, s := range scores {
		flags[i] = s > d.Threshold
	}
	return flags, scores, nil
}

// Rate returns the fraction of x flagged: the false-positive rate on clean
// data, the detection rate on adversarial examples.
func (d *InputDetector) Rate(ctx context.Context, x *tensor.Tensor) (float64, error) {
	flags, _, err := d.Detect(ctx, x)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, f := range flags {
		if f {
			n++
		}
	}
	return float64(n) / float64(len(flags)), nil
}

// squeezersString writes squeezers as ParseSqueezers reads them.
func squeezersString(ss []Squeezer) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = s.String()
	}
	return strings.Join(parts, ";")
}

// DetectorFromModel rebuilds the detector the squeeze-detector defence
// recorded in m's metadata, scoring with m itself. ok is false when m
// carries no detector.
func DetectorFromModel(m *onnxmodel.Model) (d *InputDetector, ok bool, err error) {
	spec, ok := m.Metadata(DetectorSqueezersKey)
	if !ok {
		return nil, false, nil
	}
	ss, err := ParseSqueezers(spec)
	if err != nil {
		return nil, true, fmt.Errorf("detector metadata: %w", err)
	}
	th, _ := m.Metadata(DetectorThresholdKey)
	fs, _ := m.Metadata(DetectorFPRKey)
	t, err1 := strconv.ParseFloat(th, 64)
	f, err2 := strconv.ParseFloat(fs, 64)
	if err1 != nil || err2 != nil {
		return nil, true, fmt.Errorf("detector metadata: threshold %q, fpr %q: want numbers", th, fs)
	}
	d, err = NewInputDetector(m, ss, f)
	if err != nil {
		return nil, true, err
	}
	d.Threshold = t
	return d, true, nil
}

// SqueezeDetector is the "squeeze-detector" defence (Xu et al. 2018): it
// calibrates an InputDetector on clean data (the validation set when there is
// one, else the training data) and returns the model, unchanged in its
// graph, with the detector (squeezers, threshold, target FPR) in its
// metadata; DetectorFromModel rebuilds it. Other runtimes see the plain
// classifier. Defaults: squeezers "bits=1;median=2" (the paper's MNIST
// pair; "bits=5;median=2" for CIFAR-10), fpr 0.05 (the paper's 5%), at most
// 2000 calibration samples.
//
// A detector is not robustness: an adaptive attacker who also fools the
// detector (Carlini and Wagner 2017; He et al. 2017 for feature squeezing)
// is outside what this defence measures.
type SqueezeDetector struct {
	squeezers  string
	fpr        float64
	maxSamples int
	// Detector is the detector calibrated by the last Apply.
	Detector *InputDetector
}

// NewSqueezeDetector returns the squeeze-detector defence with its defaults.
func NewSqueezeDetector() *SqueezeDetector {
	return &SqueezeDetector{squeezers: "bits=1;median=2", fpr: 0.05, maxSamples: 2000}
}

// Name returns "squeeze-detector".
func (d *SqueezeDetector) Name() string { return "squeeze-detector" }

// Kind returns Detector.
func (d *SqueezeDetector) Kind() Kind { return Detector }

// Bind ties the parameters to their fields.
func (d *SqueezeDetector) Bind() *params.Binder {
	b := params.New("defence", d.Name())
	b.String("squeezers", &d.squeezers, "bits=1;median=2", "", "squeezers, ';'-separated, each bits=B and/or median=K joined by '+' (Xu et al.: bits=1;median=2 for MNIST, bits=5;median=2 for CIFAR-10)")
	b.Float("fpr", &d.fpr, 0.05, "", "false-positive rate on clean data that the threshold is calibrated to")
	b.Int("max_samples", &d.maxSamples, 2000, "", "at most this many clean samples for calibration")
	return b
}

// Validate checks the parameters.
func (d *SqueezeDetector) Validate() error {
	if _, err := ParseSqueezers(d.squeezers); err != nil {
		return params.Errf("defence", d.Name(), "squeezers", d.squeezers, err.Error())
	}
	if !(d.fpr > 0 && d.fpr < 1) {
		return params.Errf("defence", d.Name(), "fpr", d.fpr, "a rate in (0, 1)")
	}
	if d.maxSamples < 1 {
		return params.Errf("defence", d.Name(), "max_samples", d.maxSamples, "a positive integer")
	}
	return nil
}

// Params returns the resolved parameters.
func (d *SqueezeDetector) Params() map[string]any { return d.Bind().Values() }

// Apply calibrates the detector on clean data and returns a copy of m
// carrying it in its metadata.
func (d *SqueezeDetector) Apply(ctx context.Context, m *onnxmodel.Model, data TrainData, _ *rand.Rand) (*onnxmodel.Model, error) {
	set := data.Validation
	if set == nil || set.Len() == 0 {
		set = data.Train
	}
	if set == nil || set.Len() == 0 {
		return nil, fmt.Errorf("squeeze-detector: needs clean data (validation or train) to calibrate its threshold")
	}
	ss, err := ParseSqueezers(d.squeezers)
	if err != nil {
		return nil, err
	}
	det, err := NewInputDetector(m, ss, d.fpr)
	if err != nil {
		return nil, err
	}
	x, _ := set.Batch(0, min(set.Len(), d.maxSamples))
	if _, err := det.Calibrate(ctx, x); err != nil {
		return nil, fmt.Errorf("squeeze-detector: %w", err)
	}
	out, err := m.Edit().
		SetMetadata(DetectorSqueezersKey, squeezersString(ss)).
		SetMetadata(DetectorThresholdKey, strconv.FormatFloat(det.Threshold, 'g', -1, 64)).
		SetMetadata(DetectorFPRKey, strconv.FormatFloat(d.fpr, 'g', -1, 64)).
		Build()
	if err != nil {
		return nil, err
	}
	out.Path = m.Path
	det.Clf = out
	d.Detector = det
	return out, nil
}

func init() {
	mustRegister("squeeze-detector", FactoryFor("feature-squeezing detector: flags inputs whose prediction moves (L1 of softmax) under squeezing, threshold calibrated to a clean FPR (Xu et al. 2018, NDSS)", func() Configurable { return NewSqueezeDetector() }))
}
