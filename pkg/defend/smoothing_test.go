package defend

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/tensor"
)

// TestLabelSmoothingTargets records the targets the loss sees during a
// label-smoothing run: max_value on the true class, (1 − max_value)/(C − 1)
// elsewhere.
func TestLabelSmoothingTargets(t *testing.T) {
	for _, mv := range []float64{0.9, 0.6} {
		d, err := New("label-smoothing", map[string]string{"max_value": tensorFloat(mv), "iterations": "3", "batch_size": "16"})
		if err != nil {
			t.Fatal(err)
		}
		cfg := d.(*LabelSmoothing).Config()
		inner := cfg.Hook
		var seen []*tensor.Tensor
		var labels [][]int
		cfg.Hook = func(ctx context.Context, m *onnxmodel.Model, b *TrainBatch, rng *rand.Rand) error {
			if err := inner(ctx, m, b, rng); err != nil {
				return err
			}
			seen = append(seen, b.Soft.Clone())
			labels = append(labels, append([]int(nil), b.Y...))
			return nil
		}
		m := loadModel(t, "tabular_mlp.onnx")
		if _, err := Train(context.Background(), m, loadTabular(t, true), cfg, nil); err != nil {
			t.Fatal(err)
		}
		if len(seen) != 3 {
			t.Fatalf("hook saw %d batches", len(seen))
		}
		const c = 3
		other := (1 - mv) / (c - 1)
		for bi, soft := range seen {
			for i, y := range labels[bi] {
				row := soft.F[i*c : (i+1)*c]
				sum := 0.0
				for j, v := range row {
					want := other
					if j == y {
						want = mv
					}
					if math.Abs(float64(v)-want) > 1e-7 {
						t.Fatalf("max_value %g: target[%d][%d] = %g, want %g", mv, i, j, v, want)
					}
					sum += float64(v)
				}
				if math.Abs(sum-1) > 1e-6 {
					t.Fatalf("target row sums to %g", sum)
				}
			}
		}
	}
	d, _ := New("label-smoothing", map[string]string{"max_value": "0.2", "iterations": "1"})
	if _, err := d.Apply(context.Background(), loadModel(t, "tabular_mlp.onnx"), TrainData{Train: loadTabular(t, true)}, nil); err == nil {
		t.Error("max_value below 1/C accepted")
	}
}
