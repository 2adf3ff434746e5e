package report

import (
	"math"
)

// DetectorResult is how an input detector that the model carries (the
// squeeze-detector defence: Xu, Evans & Qi, "Feature Squeezing", NDSS
// 2018) did on the run: its false-positive rate on the clean evaluation
// samples and its detection rate on each attack's fooling examples. The
// attacks did not try to evade it; Note says so.
type DetectorResult struct {
	// Squeezers are the detector's squeezers, e.g. "bits=1;median=2".
	Squeezers string `json:"squeezers"`
	// Threshold is the calibrated score threshold; a larger score flags.
	Threshold float64 `json:"threshold"`
	// TargetFPR is the false-positive rate the threshold was calibrated to.
	TargetFPR float64 `json:"target_fpr"`
	// N is the number of clean samples scored.
	N int `json:"n"`
	// FalsePositiveRate is the fraction of the N clean samples flagged.
	FalsePositiveRate float64 `json:"false_positive_rate"`
	// Attacks holds one entry per attack of the pool, in pool order.
	Attacks []DetectorAttack `json:"attacks"`
	// Note says what the figures do not cover (adaptive attacks).
	Note string `json:"note"`
}

// DetectorAttack is the detector's result on one attack's fooling
// examples.
type DetectorAttack struct {
	// Attack is the attack's name.
	Attack string `json:"attack"`
	// Key is the attack's key (name and parameters), as in Attacks.
	Key string `json:"key"`
	// NAdversarial is the number of adversarial examples that fooled the
	// model.
	NAdversarial int `json:"n_adversarial"`
	// NDetected is how many of them the detector flagged.
	NDetected int `json:"n_detected"`
	// DetectionRate is NDetected/NAdversarial (0 when there are none).
	DetectionRate float64 `json:"detection_rate"`
}

// mergeDetector merges the shards' detector results (disjoint samples):
// counts are summed and the rates recomputed from them, so the merge is
// exact. It is nil unless every shard has one, with the same squeezers,
// threshold and attacks.
func mergeDetector(shards []*Report) *DetectorResult {
	first := shards[0].Detector
	if first == nil {
		return nil
	}
	out := *first
	out.Attacks = append([]DetectorAttack(nil), first.Attacks...)
	flagged := first.FalsePositiveRate * float64(first.N)
	for _, s := range shards[1:] {
		d := s.Detector
		if d == nil || d.Squeezers != first.Squeezers || d.Threshold != first.Threshold || len(d.Attacks) != len(first.Attacks) {
			return nil
		}
		flagged += d.FalsePositiveRate * float64(d.N)
		out.N += d.N
		for i, a := range d.Attacks {
			if a.Key != out.Attacks[i].Key {
				return nil
			}
			out.Attacks[i].NAdversarial += a.NAdversarial
			out.Attacks[i].NDetected += a.NDetected
		}
	}
	if out.N > 0 {
		out.FalsePositiveRate = math.Round(flagged) / float64(out.N)
	}
	for i := range out.Attacks {
		a := &out.Attacks[i]
		a.DetectionRate = 0
		if a.NAdversarial > 0 {
			a.DetectionRate = float64(a.NDetected) / float64(a.NAdversarial)
		}
	}
	return &out
}
