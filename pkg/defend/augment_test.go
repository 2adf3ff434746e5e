package defend

import (
	"context"
	"math"
	"strconv"
	"strings"
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
	d, _ := New("gaussian-augmentation", map[string]string{"inference_noise": "true", "iterations": "1"})
	if _, ok := Lookup(InferenceNoiseDefence); !ok {
		_, e := d.Apply(context.Background(), loadModel(t, "tabular_mlp.onnx"), TrainData{Train: loadTabular(t, true)}, nil)
		if e == nil || !strings.Contains(e.Error(), InferenceNoiseDefence) {
			t.Errorf("inference_noise without the preprocessor: %v", e)
		}
	}
}
