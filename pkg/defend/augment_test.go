package defend

import (
	"context"
	"math"
	"strconv"
	"testing"

	"github.com/advtest/advtest/pkg/tensor"
)

func tensorFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// TestGaussianAugmentationNoise checks the batch the hook builds: the
// originals unchanged, ratio·N noisy copies labelled as their originals,
// with noise of standard deviation sigma (within 3% over 20 000 draws) and
// mean ≈ 0, clipped when clip is set.
func TestGaussianAugmentationNoise(t *testing.T) {
	const n, dim, sigma = 400, 50, 0.3
	for _, clip := range []bool{false, true} {
		d, err := New("gaussian-augmentation", map[string]string{"sigma": tensorFloat(sigma), "ratio": "1", "clip": strconv.FormatBool(clip), "min": "0", "max": "1"})
		if err != nil {
			t.Fatal(err)
		}
		x := tensor.New(n, dim)
		y := make([]int, n)
		for i := range y {
			y[i] = i % 7
			for j := 0; j < dim; j++ {
				x.F[i*dim+j] = 0.5 + float32(i%7)/100
			}
		}
		b := &TrainBatch{X: x.Clone(), Y: append([]int(nil), y...)}
		if err := d.(*GaussianAugmentation).hook(context.Background(), nil, b, seeded(4)); err != nil {
			t.Fatal(err)
		}
		if b.X.Shape[0] != 2*n || len(b.Y) != 2*n {
			t.Fatalf("augmented batch has %d rows, %d labels; want %d", b.X.Shape[0], len(b.Y), 2*n)
		}
		for k := 0; k < n*dim; k++ {
			if b.X.F[k] != x.F[k] {
				t.Fatal("an original sample changed")
			}
		}
		var s, s2 float64
		for r := n; r < 2*n; r++ {
			base := 0.5 + float64(b.Y[r]%7)/100 // the label identifies the source row's value
			for j := 0; j < dim; j++ {
				v := float64(b.X.F[r*dim+j])
				if clip && (v < 0 || v > 1) {
					t.Fatalf("clipped value %g outside [0, 1]", v)
				}
				e := v - base
				s += e
				s2 += e * e
			}
		}
		cnt := float64(n * dim)
		mean, sd := s/cnt, math.Sqrt(s2/cnt-(s/cnt)*(s/cnt))
		if !clip && (math.Abs(mean) > 0.01 || math.Abs(sd-sigma) > 0.03*sigma) {
			t.Errorf("noise mean %g, sd %g; want 0, %g", mean, sd, sigma)
		}
		if clip && !(sd < sigma) {
			t.Errorf("clipped noise sd %g, want < %g", sd, sigma)
		}
	}
}

// TestGaussianAugmentationInferenceNoise trains the tabular MLP with
// inference_noise: the result carries the noise (same sigma and clip
// settings) in its graph and the mark, saves and reloads through
// onnxmodel's loader, and Adaptive attacks the reloaded model through EOT.
// Without inference_noise the model has neither.
func TestGaussianAugmentationInferenceNoise(t *testing.T) {
	ctx := context.Background()
	m := loadModel(t, "tabular_mlp.onnx")
	data := TrainData{Train: loadTabular(t, true)}
	d, err := New("gaussian-augmentation", map[string]string{"sigma": "0.2", "inference_noise": "true", "iterations": "3", "batch_size": "32"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := d.Apply(ctx, m, data, seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	r := saveAndReload(t, h)
	mk, ok, err := NoiseMarkOf(r)
	if err != nil || !ok {
		t.Fatalf("reloaded mark: ok %v, %v", ok, err)
	}
	if mk.Noise != (Noise{Sigma: 0.2, Clip: false, Min: 0, Max: 1}) || !r.Randomised() {
		t.Errorf("mark %+v (randomised %v), want sigma 0.2 without clipping, as the augmentation's defaults", mk, r.Randomised())
	}
	clf, err := Adaptive(r)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := clf.(*EOT)
	if !ok {
		t.Fatalf("Adaptive returned %T, want *EOT", clf)
	}
	x, _ := loadTabular(t, false).Batch(0, 16)
	if _, err := e.Logits(ctx, x); err != nil {
		t.Fatal(err)
	}
	plain, err := New("gaussian-augmentation", map[string]string{"iterations": "1"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := plain.Apply(ctx, m, data, seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := NoiseMarkOf(p); ok || p.Randomised() {
		t.Error("without inference_noise the model has noise")
	}
}
