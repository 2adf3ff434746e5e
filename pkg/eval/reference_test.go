package eval

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"testing"

	"github.com/advtest/advtest/internal/attacktest"
	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/onnxmodel"
)

// refDoc is testdata/reference/attacks.json, written by
// testdata/gen/attack_refs.py from plain-PyTorch attacks on the same
// models and samples.
type refDoc struct {
	N      int `json:"n"`
	Models map[string]struct {
		NCleanCorrect int `json:"n_clean_correct"`
		Attacks       []struct {
			Attack       string         `json:"attack"`
			Params       map[string]any `json:"params"`
			SR           float64        `json:"sr"`
			MedianL2     *float64       `json:"median_l2_successful"`
			NCleanCorect int            `json:"n_clean_correct"`
		} `json:"attacks"`
	} `json:"models"`
}

func loadRefs(t *testing.T) *refDoc {
	t.Helper()
	data, err := os.ReadFile("../../testdata/reference/attacks.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc refDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return &doc
}

// srOf runs one attack over the first n shipped samples and returns its SR
// and the perturbation L2 norms of the fooled samples.
func srOf(t *testing.T, m *onnxmodel.Model, set *dataset.Set, spec string) (float64, []float64, int) {
	t.Helper()
	a, err := attacktest.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	res, err := RunPool(context.Background(), m, set.X, set.Y, []attack.Attack{a}, PoolOptions{BatchSize: 250, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	run := res.Attacks[0]
	fooled, n := 0, 0
	var l2 []float64
	for i, ok := range res.Clean.Correct {
		if !ok {
			continue
		}
		n++
		if run.Fooled[i] {
			fooled++
			l2 = append(l2, run.L2[i])
		}
	}
	return float64(fooled) / float64(n), l2, n
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return math.NaN()
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// TestAgainstPyTorchReferences checks advtest's attacks against the
// plain-PyTorch figures on the same models and samples: FGSM/FGM SR equal
// within 1 point (they are deterministic), PGD SR no lower than PyTorch's
// minus 1 point, and DeepFool's median L2 within 10%. With -short only the
// MLP runs.
func TestAgainstPyTorchReferences(t *testing.T) {
	doc := loadRefs(t)
	set, err := dataset.Load("../../testdata/mnist/test-1000-images.npy", "../../testdata/mnist/test-1000-labels.npy", dataset.Options{Limit: doc.N})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"mnist_mlp", "mnist_cnn"} {
		if testing.Short() && name == "mnist_cnn" {
			continue
		}
		mdoc, ok := doc.Models[name]
		if !ok {
			t.Fatalf("no reference figures for %s", name)
		}
		m, err := onnxmodel.Load("../../testdata/models/" + name + ".onnx")
		if err != nil {
			t.Fatal(err)
		}
		for _, ref := range mdoc.Attacks {
			eps, _ := ref.Params["eps"].(float64)
			var spec string
			lower := 0.01 // PGD may beat PyTorch, never trail it by more than a point
			upper := math.Inf(1)
			switch ref.Attack {
			case "fgsm_linf":
				spec, upper = fmt.Sprintf("fgsm:norm=linf,eps=%g", eps), 0.01
			case "fgm_l2":
				spec, upper = fmt.Sprintf("fgsm:norm=l2,eps=%g", eps), 0.01
			case "pgd_linf":
				spec = fmt.Sprintf("pgd:norm=linf,eps=%g,steps=40,step=0.01", eps)
			case "pgd_l2":
				spec = fmt.Sprintf("pgd:norm=l2,eps=%g,steps=40", eps)
			case "deepfool":
				spec = "deepfool:max_iter=50,overshoot=0.02"
			default:
				t.Fatalf("unknown reference attack %q", ref.Attack)
			}
			t.Run(name+"/"+spec, func(t *testing.T) {
				sr, l2, n := srOf(t, m, set, spec)
				if n != mdoc.NCleanCorrect {
					t.Fatalf("%d clean-correct samples, PyTorch %d", n, mdoc.NCleanCorrect)
				}
				if ref.Attack == "deepfool" {
					if ref.MedianL2 == nil {
						t.Fatal("no reference median L2")
					}
					got := median(l2)
					if math.Abs(got-*ref.MedianL2) > 0.1**ref.MedianL2 {
						t.Errorf("DeepFool median L2 %.4f, PyTorch %.4f (more than 10%% apart)", got, *ref.MedianL2)
					}
					t.Logf("DeepFool SR %.4f (PyTorch %.4f), median L2 %.4f (PyTorch %.4f)", sr, ref.SR, got, *ref.MedianL2)
					return
				}
				if sr < ref.SR-lower || sr > ref.SR+upper {
					t.Errorf("SR %.4f, PyTorch %.4f (allowed [%.4f, %.4f])", sr, ref.SR, ref.SR-lower, ref.SR+upper)
				}
				t.Logf("SR %.4f, PyTorch %.4f", sr, ref.SR)
			})
		}
	}
}

// TestAPGDWorstCaseAtLeastPGD: on the testdata models, the worst case of
// APGD-CE and APGD-DLR (Croce & Hein 2020, the core of AutoAttack) finds at
// least as many adversarial examples as PGD-40 at the same Linf budget.
// With -short only the MLP runs.
func TestAPGDWorstCaseAtLeastPGD(t *testing.T) {
	set, err := dataset.Load("../../testdata/mnist/test-1000-images.npy", "../../testdata/mnist/test-1000-labels.npy", dataset.Options{Limit: 150})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		model string
		eps   float64
	}{{"mnist_mlp", 0.05}, {"mnist_cnn", 0.1}} {
		if testing.Short() && tc.model == "mnist_cnn" {
			continue
		}
		m, err := onnxmodel.Load("../../testdata/models/" + tc.model + ".onnx")
		if err != nil {
			t.Fatal(err)
		}
		pgd, _, _ := srOf(t, m, set, fmt.Sprintf("pgd:norm=linf,eps=%g,steps=40,step=0.01", tc.eps))
		var pool []attack.Attack
		for _, name := range []string{"apgd-ce", "apgd-dlr"} {
			a, err := attacktest.New(fmt.Sprintf("%s:norm=linf,eps=%g", name, tc.eps))
			if err != nil {
				t.Fatal(err)
			}
			pool = append(pool, a)
		}
		res, err := RunPool(context.Background(), m, set.X, set.Y, pool, PoolOptions{BatchSize: 150, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		figs, err := NewResult(res, SpecsOf(pool))
		if err != nil {
			t.Fatal(err)
		}
		apgd := figs.WorstCase.SuccessRate
		if apgd < pgd {
			t.Errorf("%s eps %g: APGD worst-case SR %.4f below PGD-40's %.4f", tc.model, tc.eps, apgd, pgd)
		}
		t.Logf("%s eps %g: PGD-40 SR %.4f, APGD-CE/DLR worst case %.4f", tc.model, tc.eps, pgd, apgd)
	}
}
