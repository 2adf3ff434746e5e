package report

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Certification is the section that `advtest certify` writes: randomized
// smoothing (Cohen, Rosenfeld & Kolter, "Certified Adversarial Robustness
// via Randomized Smoothing", ICML 2019, Algorithm CERTIFY). A sample is
// certified at L2 radius r when the smoothed classifier predicts its label
// and its certified radius is at least r; an abstaining sample is
// certified at no radius. The figures are computed by pkg/certify; this
// type holds them.
type Certification struct {
	// Sigma is the standard deviation of the Gaussian noise, in input space.
	Sigma float64 `json:"sigma"`
	// N0 is the number of noise draws that select the top class.
	N0 int `json:"n0"`
	// NDraws is the number of noise draws that estimate its probability
	// (the paper's n).
	NDraws int `json:"n_draws"`
	// Alpha is the failure probability of each certificate (the
	// Clopper-Pearson bound holds with probability 1 - alpha).
	Alpha float64 `json:"alpha"`
	// BatchSize is the number of noisy copies classified per batch.
	BatchSize int `json:"batch_size"`
	// Clip, when set, is the [min, max] range each noisy input was clipped
	// to (part of the base classifier, as in a model hardened with
	// gaussian-noise clip=true).
	Clip []float64 `json:"clip,omitempty"`
	// NoiseSource says where the noise comes from: "input" (certify adds
	// it to the data) or "model" (the model carried it in its graph;
	// certify cut it off and draws the same noise, so it is added once).
	NoiseSource string `json:"noise_source"`
	// N is the number of samples certified.
	N int `json:"n"`
	// NAbstain is the number of samples on which the smoothed classifier
	// abstained (the lower bound of the top class's probability was below
	// 1/2).
	NAbstain int `json:"n_abstain"`
	// AbstainRate is NAbstain/N.
	AbstainRate float64 `json:"abstain_rate"`
	// Accuracy is the smoothed classifier's accuracy: the fraction of
	// samples it predicts correctly without abstaining (certified accuracy
	// at radius 0).
	Accuracy float64 `json:"accuracy"`
	// Radii holds the certified accuracy at each requested L2 radius, in
	// increasing radius order.
	Radii []CertifiedAccuracy `json:"radii"`
	// Radius is the mean and median certified radius over the samples
	// predicted correctly (those certified at radius 0; an abstention or
	// a wrong prediction certifies nothing); zeros when there are none.
	// Optional: nil in reports written before it existed.
	Radius *NormStats `json:"radius,omitempty"`
	// Samples holds each sample's outcome, in data order.
	Samples []CertifiedSample `json:"samples"`
	// Seconds is the wall-clock time of the certification.
	Seconds float64 `json:"seconds"`
}

// CertifiedAccuracy is the certified accuracy at one L2 radius.
type CertifiedAccuracy struct {
	// Radius is the L2 radius, in input space.
	Radius float64 `json:"radius"`
	// NCertified is the number of samples predicted correctly with a
	// certified radius of at least Radius.
	NCertified int `json:"n_certified"`
	// CertifiedAccuracy is NCertified/N.
	CertifiedAccuracy float64 `json:"certified_accuracy"`
}

// CertifiedSample is one sample's certificate.
type CertifiedSample struct {
	// Index is the sample's index in the data.
	Index int `json:"index"`
	// Label is its true class.
	Label int `json:"label"`
	// Prediction is the smoothed classifier's class, -1 when it abstained.
	Prediction int `json:"prediction"`
	// CountTop is how many of the n draws the base classifier gave the top
	// class selected by the n0 draws.
	CountTop int `json:"count_top"`
	// PLower is the one-sided (1 - alpha) Clopper-Pearson lower bound of
	// the top class's probability under noise.
	PLower float64 `json:"p_lower"`
	// Radius is the certified L2 radius sigma·Φ⁻¹(PLower); 0 when the
	// classifier abstained.
	Radius float64 `json:"radius"`
	// Correct is true when Prediction is Label.
	Correct bool `json:"correct"`
}

// AbstainPrediction is CertifiedSample.Prediction of an abstaining sample.
const AbstainPrediction = -1

// CertifiedAccuracyAt returns the number and fraction of samples predicted
// correctly with a certified radius of at least r, counted from Samples
// (so any radius works, not only those of Radii).
func (c *Certification) CertifiedAccuracyAt(r float64) (n int, acc float64) {
	for _, s := range c.Samples {
		if s.Correct && s.Prediction != AbstainPrediction && s.Radius >= r-tolerance {
			n++
		}
	}
	return n, ratio(n, len(c.Samples))
}

// CertifiedAccuracyGate fails a run whose certified accuracy at Radius is
// below MinAccuracy (--min-certified-accuracy R:ACC).
type CertifiedAccuracyGate struct {
	Radius      float64
	MinAccuracy float64
}

// String returns the gate as ParseCertifiedAccuracyGate reads it.
func (g CertifiedAccuracyGate) String() string { return num(g.Radius) + ":" + num(g.MinAccuracy) }

// ParseCertifiedAccuracyGate parses R:ACC, a radius R >= 0 and an accuracy
// ACC in [0, 1], e.g. "0.5:0.6": at least 60% of the samples certified at
// L2 radius 0.5.
func ParseCertifiedAccuracyGate(s string) (CertifiedAccuracyGate, error) {
	return ParseRadiusAccuracy("--min-certified-accuracy", s)
}

// ParseRadiusAccuracy is ParseCertifiedAccuracyGate for the R:ACC value
// of the flag named flag (harden's --until-certified too), which its
// errors name.
func ParseRadiusAccuracy(flag, s string) (CertifiedAccuracyGate, error) {
	bad := func(why string) error {
		return fmt.Errorf("%s %q: %s; want RADIUS:ACCURACY, e.g. 0.5:0.6", flag, s, why)
	}
	rs, as, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return CertifiedAccuracyGate{}, bad("no colon")
	}
	r, err := strconv.ParseFloat(strings.TrimSpace(rs), 64)
	if err != nil || !finite(r) || r < 0 {
		return CertifiedAccuracyGate{}, bad("the radius is not a finite number >= 0")
	}
	a, err := strconv.ParseFloat(strings.TrimSpace(as), 64)
	if err != nil || !finite(a) || a < 0 || a > 1 {
		return CertifiedAccuracyGate{}, bad("the accuracy is not a number in [0, 1]")
	}
	return CertifiedAccuracyGate{Radius: r, MinAccuracy: a}, nil
}

// CheckCertified returns one reason per gate that c fails, in radius
// order; none when all pass. A gate fails when the certified accuracy at
// its radius is below its minimum (with the same float tolerance as the
// other gates).
func CheckCertified(c *Certification, gates []CertifiedAccuracyGate) []string {
	gs := append([]CertifiedAccuracyGate(nil), gates...)
	sort.SliceStable(gs, func(i, j int) bool { return gs[i].Radius < gs[j].Radius })
	var reasons []string
	for _, g := range gs {
		n, acc := c.CertifiedAccuracyAt(g.Radius)
		if acc < g.MinAccuracy-tolerance {
			reasons = append(reasons, fmt.Sprintf("certified accuracy at L2 radius %s is %s (%d/%d), below the minimum %s",
				num(g.Radius), num4(acc), n, len(c.Samples), num(g.MinAccuracy)))
		}
	}
	return reasons
}

// ApplyCertifiedGate records the certified-accuracy gates' verdict in r's
// Gate (adding to any reason already there) and returns whether r passed
// every gate. r must have a Certification.
func (r *Report) ApplyCertifiedGate(gates []CertifiedAccuracyGate) bool {
	if r.Certification == nil {
		r.Gate.Reasons = append(r.Gate.Reasons, "no certification to gate on")
	} else {
		r.Gate.Reasons = append(r.Gate.Reasons, CheckCertified(r.Certification, gates)...)
	}
	if r.Incomplete && len(r.Gate.Reasons) == 0 {
		r.Gate.Reasons = append(r.Gate.Reasons, "the run is incomplete: "+r.IncompleteReason)
	}
	r.Gate.Passed = len(r.Gate.Reasons) == 0
	return r.Gate.Passed
}
