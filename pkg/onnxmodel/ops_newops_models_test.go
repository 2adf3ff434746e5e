package onnxmodel

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/advtest/advtest/pkg/tensor"
)

// newopsRef is a reference written by testdata/gen/newops_sink.py.
type newopsRef struct {
	X, Logits, Grad struct {
		Shape []int
		Data  []float32
	}
}

// TestNewOpsMatchPyTorch runs small PyTorch modules exported by
// testdata/gen/newops_sink.py (Resize, DepthToSpace, InstanceNormalization,
// HardSwish, Celu, Einsum, TopK, CumSum, Trilu, ArgMax, GatherElements,
// Tile, Mod; Upsample at opset 9) and compares the logits and the input
// gradient with PyTorch's.
func TestNewOpsMatchPyTorch(t *testing.T) {
	cases := []struct{ ref, model string }{
		{"sink", "sink_op14"},
		{"sink", "sink_op17"},
		{"upsample", "upsample_op9"},
	}
	for _, c := range cases {
		t.Run(c.model, func(t *testing.T) {
			b, err := os.ReadFile("../../testdata/newops/" + c.ref + ".ref.json")
			if err != nil {
				t.Fatal(err)
			}
			var ref newopsRef
			if err := json.Unmarshal(b, &ref); err != nil {
				t.Fatal(err)
			}
			m, err := Load("../../testdata/newops/" + c.model + ".onnx")
			if err != nil {
				t.Fatal(err)
			}
			x := tensor.FromFloat32(ref.X.Data, ref.X.Shape...)
			logits, g, err := m.InputGradient(context.Background(), x, func(l *tensor.Tensor) (*tensor.Tensor, error) {
				r := tensor.New(l.Shape...)
				for i := 0; i < l.Shape[0]; i++ {
					r.F[i*l.Shape[1]] = 1
					r.F[i*l.Shape[1]+1] = -1
				}
				return r, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			compare := func(what string, got *tensor.Tensor, want []float32, shape []int, rtol float64) {
				t.Helper()
				if !tensor.SameShape(got.Shape, shape) {
					t.Fatalf("%s: shape %v, PyTorch %v", what, got.Shape, shape)
				}
				var scale float64
				for _, v := range want {
					scale = math.Max(scale, math.Abs(float64(v)))
				}
				for i, w := range want {
					if d := math.Abs(float64(got.F[i] - w)); d > rtol*scale {
						t.Fatalf("%s element %d: %v, PyTorch %v (max |value| %v)", what, i, got.F[i], w, scale)
					}
				}
			}
			compare("logits", logits, ref.Logits.Data, ref.Logits.Shape, 1e-5)
			compare("input gradient", g, ref.Grad.Data, ref.Grad.Shape, 1e-5)
		})
	}
}
