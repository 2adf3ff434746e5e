package cmd

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/defend"
	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/report"
)

// TestAttackReportsDetector: attacking a model that carries a
// squeeze-detector reports its false-positive rate on the clean samples
// and its detection rate on each attack's fooling examples, in JSON and in
// the table; a model without one reports nothing of the kind.
func TestAttackReportsDetector(t *testing.T) {
	ctx := context.Background()
	m, err := onnxmodel.Load(repoRoot + "/testdata/models/mnist_mlp.onnx")
	if err != nil {
		t.Fatal(err)
	}
	cal, err := dataset.Load(mnistX, mnistY, dataset.Options{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	d, err := defend.New("squeeze-detector", map[string]string{"fpr": "0.05"})
	if err != nil {
		t.Fatal(err)
	}
	dm, err := d.Apply(ctx, m, defend.TrainData{Validation: cal}, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "detector.onnx")
	if err := dm.Save(path); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		model string
		want  bool
	}{{path, true}, {repoRoot + "/testdata/models/mnist_mlp.onnx", false}} {
		out := filepath.Join(t.TempDir(), "r.json")
		code, stdout, stderr := runInProcess("attack", "-m", c.model, "-d", mnistX, "-l", mnistY, "--limit", "200",
			"-a", "fgsm:norm=linf,eps=0.2", "--sanity=false", "--no-progress", "--format", "table")
		if code != ExitOK {
			t.Fatalf("%s: exit %d: %s", c.model, code, stderr)
		}
		code, _, stderr = runInProcess("attack", "-m", c.model, "-d", mnistX, "-l", mnistY, "--limit", "200",
			"-a", "fgsm:norm=linf,eps=0.2", "--sanity=false", "--no-progress", "--format", "json", "-o", out)
		if code != ExitOK {
			t.Fatalf("%s: exit %d: %s", c.model, code, stderr)
		}
		rep, err := report.Load(out)
		if err != nil {
			t.Fatal(err)
		}
		if got := rep.Detector != nil; got != c.want || strings.Contains(stdout, "detector ") != c.want {
			t.Fatalf("%s: detector in the report %v, in the table %v, want %v\n%s", c.model, got, strings.Contains(stdout, "detector "), c.want, stdout)
		}
		if !c.want {
			continue
		}
		det := rep.Detector
		if det.N != 200 || len(det.Attacks) != 1 || det.Attacks[0].NAdversarial != rep.Attacks[0].NFooled {
			t.Errorf("detector %+v: want 200 clean samples and one attack with its %d fooling examples", det, rep.Attacks[0].NFooled)
		}
		// Calibrated to 5% on 1000 clean samples that include these 200.
		if det.FalsePositiveRate > 0.12 {
			t.Errorf("clean false-positive rate %.3f, calibrated to 0.05", det.FalsePositiveRate)
		}
		if a := det.Attacks[0]; a.NAdversarial == 0 || a.DetectionRate <= det.FalsePositiveRate {
			t.Errorf("FGSM at eps 0.2: detected %d of %d, no better than the clean FPR %.3f", a.NDetected, a.NAdversarial, det.FalsePositiveRate)
		}
		t.Logf("clean FPR %.3f; fgsm detected %d/%d", det.FalsePositiveRate, det.Attacks[0].NDetected, det.Attacks[0].NAdversarial)
	}
}
