package report

import (
	"testing"
)

// TestMergeDetector: merging shards sums the detector's counts and
// recomputes its rates exactly; shards that disagree on the detector
// merge to none.
func TestMergeDetector(t *testing.T) {
	shard := func(n, fp, nadv, ndet int) *Report {
		return &Report{Detector: &DetectorResult{Squeezers: "bits=1", Threshold: 0.5, N: n, FalsePositiveRate: float64(fp) / float64(n),
			Attacks: []DetectorAttack{{Attack: "fgsm", Key: "fgsm", NAdversarial: nadv, NDetected: ndet}}}}
	}
	got := mergeDetector([]*Report{shard(100, 3, 40, 30), shard(50, 4, 10, 10)})
	if got == nil || got.N != 150 || got.FalsePositiveRate != 7.0/150 || got.Attacks[0].NAdversarial != 50 || got.Attacks[0].DetectionRate != 40.0/50 {
		t.Errorf("merged %+v", got)
	}
	other := shard(50, 4, 10, 10)
	other.Detector.Threshold = 0.6
	if got := mergeDetector([]*Report{shard(100, 3, 40, 30), other}); got != nil {
		t.Errorf("shards with different thresholds merged to %+v, want none", got)
	}
}
