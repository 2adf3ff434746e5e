package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/report"
)

// tabHardenConfig is a harden config for the tabular MLP that runs in
// well under a second: 200 evaluation samples, PGD-10 at eps 0.5 in
// feature units, one short PGD-AT round. Round 0's worst-case SR is about
// 0.8, round 1's about 0.6.
func tabHardenConfig(t *testing.T, untilSR string, extra string) (cfgPath, dir string) {
	t.Helper()
	dir = t.TempDir()
	abs := func(p string) string {
		a, err := filepath.Abs(filepath.Join(repoRoot, p))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	cfg := `model: ` + abs("testdata/models/tabular_mlp.onnx") + `
data: ` + abs("testdata/tabular/x.npy") + `
labels: ` + abs("testdata/tabular/y.npy") + `
limit: 200
seed: 3
batch_size: 100
preprocessing: {clip_min: -20, clip_max: 20}
attacks:
  - name: pgd
    params: {eps: 0.5, steps: 10}
train:
  data: ` + abs("testdata/tabular/x_train.npy") + `
  labels: ` + abs("testdata/tabular/y_train.npy") + `
  validation_split: 0.1
harden:
  until_sr: ` + untilSR + `
  max_rounds: 1
  max_clean_drop: 0.1
  defences:
    - name: pgd-at
      params: {eps: 0.5, steps: 5, min: -20, max: 20, epochs: 4, batch_size: 32}
output:
  format: json
  path: ` + filepath.Join(dir, "report.json") + `
` + extra
	return writeFile(t, "harden.yaml", []byte(cfg)), dir
}

func TestHardenExitCodes(t *testing.T) {
	// Target met after round 1: exit 0, the model and the report written.
	cfg, dir := tabHardenConfig(t, "0.7", "")
	code, stdout, stderr := runInProcess("harden", "--config", cfg, "--no-progress")
	if code != ExitOK {
		t.Fatalf("exit %d, want 0\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "pgd-at") || !strings.Contains(stdout, "target met") {
		t.Errorf("stdout does not show the rounds:\n%s", stdout)
	}
	rep, err := report.Load(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Harden == nil || len(rep.Harden.Rounds) != 2 || !rep.Harden.Reached || !rep.Gate.Passed {
		t.Fatalf("report harden %+v, gate %+v", rep.Harden, rep.Gate)
	}
	last := rep.Harden.Rounds[1]
	if !last.Accepted || last.CleanAccuracy != rep.CleanAccuracy || last.WorstCaseSR != rep.WorstCase.SuccessRate {
		t.Errorf("the report's attack results are not round 1's: %+v vs clean %v, worst %v", last, rep.CleanAccuracy, rep.WorstCase.SuccessRate)
	}
	model := filepath.Join(dir, "tabular_mlp-hardened.onnx")
	if rep.Model.Path != model {
		t.Errorf("report model %q, want the hardened model beside the report, %q", rep.Model.Path, model)
	}
	if _, err := os.Stat(strings.TrimSuffix(model, ".onnx") + ".checkpoint"); !os.IsNotExist(err) {
		t.Errorf("the default checkpoint folder is left behind (%v)", err)
	}
	if len(rep.Sanity) != 4 {
		t.Errorf("%d sanity checks in the report, want 4: %+v", len(rep.Sanity), rep.Sanity)
	}
	for _, r := range rep.Harden.Rounds[1:] {
		if r.ValAccuracy == nil {
			t.Errorf("round %d has no validation accuracy (the config holds back 10%%)", r.Round)
		}
	}
	// The hardened model reloads in advtest with the same accuracy.
	code, out, stderr := runInProcess("eval", "-m", model, "-d", repoRoot+"/testdata/tabular/x.npy", "-l", repoRoot+"/testdata/tabular/y.npy", "--limit", "200", "--format", "json")
	if code != 0 {
		t.Fatalf("eval of the hardened model: exit %d: %s", code, stderr)
	}
	var ev struct {
		CleanAccuracy float64 `json:"clean_accuracy"`
	}
	if err := json.Unmarshal([]byte(out), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.CleanAccuracy != rep.CleanAccuracy {
		t.Errorf("reloaded accuracy %v, report %v", ev.CleanAccuracy, rep.CleanAccuracy)
	}

	// Target missed after max_rounds: exit 1 with a reason, the model
	// still written where --output-model says.
	cfg, dir = tabHardenConfig(t, "0.01", "")
	out1 := filepath.Join(dir, "h.onnx")
	code, _, stderr = runInProcess("harden", "--config", cfg, "--no-progress", "--output-model", out1)
	if code != ExitGateFailed {
		t.Fatalf("exit %d, want 1: %s", code, stderr)
	}
	rep, err = report.Load(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Gate.Passed || len(rep.Gate.Reasons) == 0 || !strings.Contains(rep.Gate.Reasons[0], "until_sr") || rep.Harden.Reached {
		t.Errorf("gate %+v: want failed on until_sr", rep.Gate)
	}
	if _, err := os.Stat(out1); err != nil {
		t.Errorf("--output-model: %v", err)
	}
	// --until-sr overrides the config: 1 is met by the model as given.
	code, _, stderr = runInProcess("harden", "--config", cfg, "--no-progress", "--output-model", out1, "--until-sr", "1")
	if code != ExitOK {
		t.Errorf("--until-sr 1: exit %d: %s", code, stderr)
	}
}

func TestHardenUsageErrors(t *testing.T) {
	cfg, _ := tabHardenConfig(t, "0.5", "")
	noTarget, _ := tabHardenConfig(t, "null", "")
	bad := strings.Replace(string(must(os.ReadFile(cfg))), "name: pgd-at", "name: nosuch", 1)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no target", []string{"harden", "-c", noTarget}, "until-sr"},
		{"bad target", []string{"harden", "-c", cfg, "--until-sr", "1.5"}, "until_sr"},
		{"unknown defence", []string{"harden", "-c", writeFile(t, "bad.yaml", []byte(bad))}, "nosuch"},
		{"bad certified target", []string{"harden", "-c", cfg, "--until-certified", "0.25"}, `--until-certified "0.25": no colon; want RADIUS:ACCURACY`},
		{"certified target out of range", []string{"harden", "-c", noTarget, "--until-certified", "0.25:1.5"}, `--until-certified "0.25:1.5": the accuracy is not a number in [0, 1]`},
		{"certified target beyond n's reach", []string{"harden", "-c", noTarget, "--until-certified", "3:0.5"}, "until_certified.radius 3: n = 1000 draws certify at most radius 0.6158"},
		{"resume without checkpoint", []string{"harden", "-c", cfg, "--resume", "--checkpoint-dir", t.TempDir()}, "nothing to resume"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runInProcess(tc.args...)
			if code != ExitUsage || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q: want 2 mentioning %q", code, stderr, tc.want)
			}
		})
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestMNISTTrainingSet checks the shipped MNIST training set (IDX gz, as
// MNIST ships it): 60000 images viewed as [1, 28, 28], values in [0, 1],
// labels 0..9.
func TestMNISTTrainingSet(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 10 MB")
	}
	set, err := dataset.Load(repoRoot+"/testdata/mnist/train-images-idx3-ubyte.gz", repoRoot+"/testdata/mnist/train-labels-idx1-ubyte.gz", dataset.Options{SampleShape: []int{1, 28, 28}})
	if err != nil {
		t.Fatal(err)
	}
	if set.Len() != 60000 || len(set.X.Shape) != 4 || set.X.Shape[1] != 1 || set.X.Shape[2] != 28 || set.X.Shape[3] != 28 {
		t.Fatalf("%d samples of shape %v", set.Len(), set.X.Shape)
	}
	counts := make([]int, 10)
	for _, y := range set.Y {
		counts[y]++
	}
	// MNIST's training label counts (LeCun et al.).
	want := []int{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}
	for c := range want {
		if counts[c] != want[c] {
			t.Errorf("class %d: %d samples, want %d", c, counts[c], want[c])
		}
	}
	for _, v := range set.X.F {
		if v < 0 || v > 1 {
			t.Fatalf("value %v outside [0, 1]", v)
		}
	}
}
