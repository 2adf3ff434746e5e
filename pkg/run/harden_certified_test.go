package run

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/config"
	"github.com/advtest/advtest/pkg/report"
)

// tabCertifiedPlan is a harden plan for the tabular MLP with the harden
// section hardenYAML that runs in about a second: 100 evaluation samples
// and a 5-step PGD pool; the certified targets below certify 40 samples
// with n 200.
func tabCertifiedPlan(t *testing.T, hardenYAML string) (*config.Plan, string) {
	t.Helper()
	dir := t.TempDir()
	abs := func(p string) string {
		a, err := filepath.Abs(filepath.Join("..", "..", p))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	cfg := `model: ` + abs("testdata/models/tabular_mlp.onnx") + `
data: ` + abs("testdata/tabular/x.npy") + `
labels: ` + abs("testdata/tabular/y.npy") + `
limit: 100
seed: 3
batch_size: 100
preprocessing: {clip_min: -20, clip_max: 20}
attacks:
  - name: pgd
    params: {eps: 0.5, steps: 5}
sanity: {enabled: false}
train:
  data: ` + abs("testdata/tabular/x_train.npy") + `
  labels: ` + abs("testdata/tabular/y_train.npy") + `
  validation_split: 0.1
` + hardenYAML + `
output:
  format: json
  path: ` + filepath.Join(dir, "report.json") + `
`
	path := filepath.Join(dir, "harden.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	v := config.NewViper()
	if err := config.ReadFile(v, path); err != nil {
		t.Fatal(err)
	}
	plan, err := config.FromViper(v)
	if err != nil {
		t.Fatal(err)
	}
	return plan, dir
}

// certHarden is a harden section with a certified target at L2 radius
// 0.25 (sigma 0.5, n 200, 40 samples) and gaussian-augmentation at the
// same sigma. With seed 3 the rounds' certified accuracies at 0.25 are
// 0.50 (round 0), 0.55 and 0.60, each round accepted.
func certHarden(accuracy string, maxRounds string) string {
	return `harden:
  until_certified: {radius: 0.25, accuracy: ` + accuracy + `, sigma: 0.5, n0: 20, n: 200, batch: 200, samples: 40}
  max_rounds: ` + maxRounds + `
  max_clean_drop: 0.2
  defences:
    - name: gaussian-augmentation
      params: {sigma: 0.5, epochs: 10, lr: 0.003, batch_size: 32}
`
}

func runHarden(t *testing.T, plan *config.Plan, dir string) (*report.Report, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	rep, err := Harden(context.Background(), Options{Plan: plan, Stdout: &out, Stderr: &errb}, HardenOptions{OutputModel: filepath.Join(dir, "hardened.onnx")})
	t.Logf("%s%s", out.String(), errb.String())
	return rep, out.String(), err
}

func certifiedAccuracies(h *report.Harden) []float64 {
	var out []float64
	for _, r := range h.Rounds {
		if r.CertifiedAccuracy == nil {
			return nil
		}
		out = append(out, *r.CertifiedAccuracy)
	}
	return out
}

// TestHardenUntilCertified: harden with until_certified certifies every
// round (randomized smoothing), accepts a round that raises the certified
// accuracy at the target's radius, stops when it meets the target, and
// records the final model's certification in the report; a target that
// is not met fails the gate with a reason naming it.
func TestHardenUntilCertified(t *testing.T) {
	// An unreachable accuracy: both rounds run, the gate fails.
	plan, dir := tabCertifiedPlan(t, certHarden("1", "2"))
	long, stdout, err := runHarden(t, plan, dir)
	if !errors.Is(err, ErrGateFailed) {
		t.Fatalf("error %v, want ErrGateFailed", err)
	}
	want := []float64{0.5, 0.55, 0.6}
	if got := certifiedAccuracies(long.Harden); !reflect.DeepEqual(got, want) {
		t.Fatalf("certified accuracies at 0.25 per round %v, want %v", got, want)
	}
	if !strings.Contains(stdout, "cert@0.25") {
		t.Errorf("the round table has no certified-accuracy column:\n%s", stdout)
	}
	if !strings.Contains(strings.Join(long.Gate.Reasons, "\n"), "certified accuracy 0.6 at L2 radius 0.25 is below until_certified's 1") {
		t.Errorf("gate reasons %q do not name the missed certified target", long.Gate.Reasons)
	}
	for _, r := range long.Gate.Reasons {
		if strings.Contains(r, "until_sr") {
			t.Errorf("a certified-only target gave an SR reason: %q", r)
		}
	}

	// The accuracy round 1 reached: the loop stops there, target met.
	plan, dir = tabCertifiedPlan(t, certHarden("0.55", "5"))
	short, _, err := runHarden(t, plan, dir)
	if err != nil {
		t.Fatal(err)
	}
	h := short.Harden
	if len(h.Rounds) != 2 || !h.Reached || !short.Gate.Passed {
		t.Fatalf("%d rounds, reached %v, gate %+v: want to stop after round 1", len(h.Rounds), h.Reached, short.Gate)
	}
	noTime := func(rs []report.HardenRound) []report.HardenRound {
		out := append([]report.HardenRound(nil), rs...)
		for i := range out {
			out[i].Seconds = 0
		}
		return out
	}
	if !reflect.DeepEqual(noTime(h.Rounds), noTime(long.Harden.Rounds[:2])) {
		t.Errorf("the short run's rounds differ from the long run's first two:\n%+v\n%+v", h.Rounds, long.Harden.Rounds[:2])
	}
	if h.UntilSR != 1 || h.UntilCertified == nil || *h.UntilCertified != (report.CertifiedTarget{Radius: 0.25, Accuracy: 0.55, Sigma: 0.5, N0: 20, N: 200, Alpha: 0.001, Samples: 40}) {
		t.Errorf("report targets until_sr %v, until_certified %+v", h.UntilSR, h.UntilCertified)
	}
	c := short.Certification
	if c == nil {
		t.Fatal("the report has no certification of the final model")
	}
	if n, acc := c.CertifiedAccuracyAt(0.25); c.N != 40 || c.Sigma != 0.5 || c.NDraws != 200 || acc != 0.55 || n != 22 {
		t.Errorf("final certification: %d samples, sigma %v, n %d, %d certified at 0.25 (%v); want round 1's 22/40 at sigma 0.5, n 200", c.N, c.Sigma, c.NDraws, n, acc)
	}
	saved, err := report.Load(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if saved.Certification == nil || saved.Harden.UntilCertified == nil || saved.Harden.Rounds[1].CertifiedAccuracy == nil {
		t.Errorf("the JSON report lost the certification or the target")
	}

	// A target round 0 meets: no defence round.
	plan, dir = tabCertifiedPlan(t, certHarden("0.5", "5"))
	none, _, err := runHarden(t, plan, dir)
	if err != nil || len(none.Harden.Rounds) != 1 || !none.Harden.Reached {
		t.Errorf("error %v, %d rounds: want round 0 only, target met", err, len(none.Harden.Rounds))
	}
}

// TestHardenUntilCertifiedErrors: a certified target that cannot be met or
// a schedule that certifies another classifier is refused before anything
// runs, naming the key.
func TestHardenUntilCertifiedErrors(t *testing.T) {
	for _, c := range []struct{ name, harden, want string }{
		{"radius beyond n's reach", `harden:
  until_certified: {radius: 2, accuracy: 0.5, sigma: 0.5, n: 200}
  defences: [{name: gaussian-augmentation}]
`, "until_certified.radius 2: n = 200 draws certify at most radius 0.9"},
		{"in-graph noise of another sigma", `harden:
  until_certified: {radius: 0.25, accuracy: 0.5, sigma: 0.5, n: 200}
  defences: [{name: gaussian-noise, params: {sigma: 0.25}}]
`, "harden.defences[0]: gaussian-noise adds Gaussian noise of sigma 0.25 in the graph, but until_certified.sigma is 0.5"},
		{"augmentation with inference noise of another sigma", `harden:
  until_certified: {radius: 0.25, accuracy: 0.5}
  defences: [{name: gaussian-augmentation, params: {sigma: 0.5, inference_noise: true}}]
`, "harden.defences[0]: gaussian-augmentation adds Gaussian noise of sigma 0.5 in the graph, but until_certified.sigma is 0.25"},
		{"no target", `harden:
  defences: [{name: gaussian-augmentation}]
`, "no target: set --until-sr or `harden.until_sr`"},
	} {
		t.Run(c.name, func(t *testing.T) {
			plan, dir := tabCertifiedPlan(t, c.harden)
			_, _, err := runHarden(t, plan, dir)
			if err == nil || errors.Is(err, ErrGateFailed) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want an input error containing %q", err, c.want)
			}
		})
	}
}
