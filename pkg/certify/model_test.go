package certify

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/defend"
	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/tensor"
)

func loadMLP(t *testing.T) *onnxmodel.Model {
	t.Helper()
	m, err := onnxmodel.Load("../../testdata/models/mnist_mlp.onnx")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestForModelNoiseOnce: a model hardened with gaussian-noise is certified
// with its own sigma and clip range, and its graph's noise is cut off: the
// base classifier is deterministic and computes the original model.
func TestForModelNoiseOnce(t *testing.T) {
	m := loadMLP(t)
	plain, err := ForModel(m, Params{})
	if err != nil {
		t.Fatal(err)
	}
	if plain.NoiseSource != NoiseFromInput || plain.Model != m || plain.Params.Sigma != DefaultSigma || plain.Params.Clip || len(plain.Warnings) != 0 {
		t.Errorf("plain model: %+v", plain)
	}
	noisy, err := defend.WithNoise(m, defend.Noise{Sigma: 0.25, Clip: true, Min: 0, Max: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, sigma := range []float64{0, 0.25} {
		b, err := ForModel(noisy, Params{Sigma: sigma, N0: 1, N: 1, Alpha: 0.1, Batch: 1})
		if err != nil {
			t.Fatalf("sigma %g: %v", sigma, err)
		}
		if b.NoiseSource != NoiseFromModel || b.Params.Sigma != 0.25 || !b.Params.Clip || b.Params.Max != 1 || b.Model.Randomised() || len(b.Notes) != 1 {
			t.Errorf("sigma %g: %+v", sigma, b)
		}
		x := tensor.New(2, 1, 28, 28)
		for i := range x.F {
			x.F[i] = float32(i%7) / 7
		}
		want, _ := m.Logits(context.Background(), x)
		got, err := b.Model.Logits(context.Background(), x)
		if err != nil || !slices.Equal(got.F, want.F) {
			t.Errorf("sigma %g: the base classifier does not compute the model without noise (%v)", sigma, err)
		}
	}
	if _, err := ForModel(noisy, Params{Sigma: 0.5}); err == nil || !strings.Contains(err.Error(), "sigma 0.25") {
		t.Errorf("certifying a sigma-0.25 model at 0.5: err %v, want one naming the model's sigma", err)
	}
}
