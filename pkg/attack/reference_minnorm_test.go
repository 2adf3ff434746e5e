package attack

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"testing"

	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/onnxmodel"
)

// minnormRefs is testdata/reference/attacks_minnorm.json, written by
// testdata/gen/attack_refs_minnorm.py from plain-PyTorch versions of FAB,
// FAB-T, L1-APGD, EAD and FMN on the shipped models and samples.
type minnormRefs struct {
	Models map[string]struct {
		N             int `json:"n"`
		NCleanCorrect int `json:"n_clean_correct"`
		Attacks       []struct {
			Attack   string         `json:"attack"`
			Params   map[string]any `json:"params"`
			SR       float64        `json:"sr"`
			MedianL0 *float64       `json:"median_l0"`
			MedianL1 *float64       `json:"median_l1"`
			MedianL2 *float64       `json:"median_l2"`
			MedianLi *float64       `json:"median_linf"`
		} `json:"attacks"`
	} `json:"models"`
}

func loadMinnormRefs(t *testing.T) *minnormRefs {
	t.Helper()
	data, err := os.ReadFile("../../testdata/reference/attacks_minnorm.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc minnormRefs
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return &doc
}

// shippedMNIST loads the first n shipped MNIST test samples and a model.
func shippedMNIST(t *testing.T, model string, n int) (*onnxmodel.Model, Batch) {
	t.Helper()
	set, err := dataset.Load("../../testdata/mnist/test-1000-images.npy", "../../testdata/mnist/test-1000-labels.npy", dataset.Options{Limit: n})
	if err != nil {
		t.Fatal(err)
	}
	m, err := onnxmodel.Load("../../testdata/models/" + model + ".onnx")
	if err != nil {
		t.Fatal(err)
	}
	return m, Batch{X: set.X, Y: set.Y}
}

// medianFooledNorm returns the median perturbation norm over fooled
// samples.
func medianFooledNorm(o *Outcome, b Batch, norm Norm) float64 {
	var v []float64
	for i, d := range PerturbationNorms(norm, o.XAdv, b.X) {
		if o.Fooled[i] {
			v = append(v, d)
		}
	}
	sort.Float64s(v)
	switch {
	case len(v) == 0:
		return math.NaN()
	case len(v)%2 == 1:
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// TestMinNormAgainstPyTorch pins FAB, FAB-T, L1-APGD, EAD and FMN against
// the plain-PyTorch figures on the shipped MNIST models: advtest's attack
// must be no weaker than the reference, i.e. SR ≥ reference − 2 samples
// (float32 rounding and, for L1-APGD, a different random start) and each
// median norm over fooled samples ≤ reference × 1.03 (L0: + 1 element).
// With -short only the MLP runs.
func TestMinNormAgainstPyTorch(t *testing.T) {
	doc := loadMinnormRefs(t)
	for _, name := range []string{"mnist_mlp", "mnist_cnn"} {
		mdoc, ok := doc.Models[name]
		if !ok {
			t.Fatalf("no reference figures for %s", name)
		}
		if testing.Short() && name == "mnist_cnn" {
			continue
		}
		m, b := shippedMNIST(t, name, mdoc.N)
		for _, ref := range mdoc.Attacks {
			norm, _ := ref.Params["norm"].(string)
			var spec string
			switch ref.Attack {
			case "fab-t":
				spec = fmt.Sprintf("fab-t:norm=%s,eps=%g", norm, ref.Params["eps"])
			case "fab":
				spec = fmt.Sprintf("fab:norm=%s,eps=1e10,early_stop=false", norm)
			case "apgd-ce":
				spec = fmt.Sprintf("apgd-ce:norm=%s,eps=%g", norm, ref.Params["eps"])
			case "ead":
				spec = "ead"
			case "fmn":
				spec = fmt.Sprintf("fmn:norm=%s,steps=100", norm)
			default:
				t.Fatalf("unknown reference attack %q", ref.Attack)
			}
			t.Run(name+"/"+spec, func(t *testing.T) {
				o := run(t, mustNew(t, spec), m, b, 1)
				sr, n := o.SuccessRate()
				if n != mdoc.NCleanCorrect {
					t.Fatalf("%d clean-correct samples, PyTorch %d", n, mdoc.NCleanCorrect)
				}
				margin := 2 / float64(n)
				t.Logf("SR %.4f (PyTorch %.4f)", sr, ref.SR)
				if sr < ref.SR-margin-1e-9 {
					t.Errorf("SR %.4f below PyTorch's %.4f by more than 2 samples", sr, ref.SR)
				}
				for _, mc := range []struct {
					norm Norm
					ref  *float64
				}{{L0, ref.MedianL0}, {L1, ref.MedianL1}, {L2, ref.MedianL2}, {Linf, ref.MedianLi}} {
					if mc.ref == nil {
						continue
					}
					got := medianFooledNorm(o, b, mc.norm)
					limit := *mc.ref * 1.03
					if mc.norm == L0 {
						limit = *mc.ref + 1
					}
					t.Logf("median %s %.4f (PyTorch %.4f)", mc.norm, got, *mc.ref)
					if !(got <= limit) {
						t.Errorf("median %s %.4f above PyTorch's %.4f (limit %.4f)", mc.norm, got, *mc.ref, limit)
					}
				}
			})
		}
	}
}

// TestAutoAttackStandardOnShippedCNN: on the shipped MNIST CNN (no
// adversarially trained model is shipped; configs/mnist-cnn-harden.yaml
// makes one), AutoAttack's standard version finds at least as many
// adversarial examples as each attack of the pool run alone at the same
// Linf budget: PGD-40 (the harden config's), APGD-CE, APGD-DLR, and the
// PyTorch FAB-T figure. Skipped with -short.
func TestAutoAttackStandardOnShippedCNN(t *testing.T) {
	if testing.Short() {
		t.Skip("CNN AutoAttack run")
	}
	const eps, n0 = 0.15, 50
	m, b := shippedMNIST(t, "mnist_cnn", n0)
	aa, n := run(t, mustNew(t, fmt.Sprintf("autoattack:eps=%g", eps)), m, b, 1).SuccessRate()
	best, bestName := 0.0, ""
	for _, spec := range []string{
		fmt.Sprintf("pgd:eps=%g,steps=40", eps),
		fmt.Sprintf("apgd-ce:eps=%g", eps),
		fmt.Sprintf("apgd-dlr:eps=%g", eps),
	} {
		sr, _ := run(t, mustNew(t, spec), m, b, 1).SuccessRate()
		t.Logf("%s: SR %.4f", spec, sr)
		if sr > best {
			best, bestName = sr, spec
		}
	}
	doc := loadMinnormRefs(t)
	for _, ref := range doc.Models["mnist_cnn"].Attacks {
		if ref.Attack == "fab-t" && ref.Params["eps"] == eps && doc.Models["mnist_cnn"].N == n0 && ref.SR > best {
			best, bestName = ref.SR, "PyTorch FAB-T"
		}
	}
	t.Logf("AutoAttack standard SR %.4f (n=%d), best single %.4f (%s)", aa, n, best, bestName)
	if aa < best {
		t.Errorf("AutoAttack standard SR %.4f below %s's %.4f", aa, bestName, best)
	}
	if best == 0 || best == 1 {
		t.Errorf("degenerate comparison: best single SR %.4f", best)
	}
}
