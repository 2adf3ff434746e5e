package onnxmodel

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/owulveryck/onnx-go/backend/testbackend"
	_ "github.com/owulveryck/onnx-go/backend/testbackend/onnx" // registers the ONNX node tests
	gtensor "gorgonia.org/tensor"

	"github.com/advtest/advtest/pkg/tensor"
)

// conformanceKnownGaps lists ONNX node tests of supported op types that
// the engine deliberately does not pass, with the reason. Keep it empty
// where possible; every entry is a documented limitation.
var conformanceKnownGaps = map[string]string{}

// conformanceRandomOps are op types whose outputs are random draws: a
// conformance case for them can only be checked on its outputs' shapes and
// types, not their values. onnx-go's suite (like ONNX's own backend node
// tests, for this reason) has no case for them at present: their values
// are tested in ops_random_test.go (moments, seeding, gradient, folding).
var conformanceRandomOps = map[string]bool{"RandomNormalLike": true, "RandomUniformLike": true}

// TestConformance runs onnx-go's copy of the ONNX backend node tests for
// every op type the engine supports: the serialised one-node model is
// decoded by our loader, run, and compared with ONNX's expected outputs
// (on shape and type only for conformanceRandomOps).
func TestConformance(t *testing.T) {
	ran := map[string]int{}
	for _, mk := range testbackend.GetAllRegisteredTests() {
		tc := mk()
		if !IsSupported(tc.OpType) {
			continue
		}

		t.Run(tc.Title, func(t *testing.T) {
			if why, ok := conformanceKnownGaps[tc.Title]; ok {
				t.Skip(why)
			}
			m, err := Decode(tc.ModelB, "")
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if len(tc.Input) != len(m.Inputs) {
				t.Fatalf("test has %d inputs, graph declares %d", len(tc.Input), len(m.Inputs))
			}
			feeds := map[string]*tensor.Tensor{}
			for i, in := range tc.Input {
				v, err := fromGorgonia(in)
				if err != nil {
					t.Fatalf("input %d: %v", i, err)
				}
				// onnx-go's generator stored some int64 inputs (Slice's
				// starts, ends, axes, steps) as float32: restore the type
				// the graph declares.
				v = asDeclared(v, m.Inputs[i].ElemType)
				feeds[m.Inputs[i].Name] = v
			}
			out, err := m.Run(context.Background(), feeds)
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			for i, exp := range tc.ExpectedOutput {
				want, err := fromGorgonia(exp)
				if err != nil {
					t.Fatalf("expected output %d: %v", i, err)
				}
				want = asDeclared(want, m.Outputs[i].ElemType)
				got := out[m.Outputs[i].Name]
				if conformanceRandomOps[tc.OpType] {
					if got == nil || got.DType != want.DType || tensor.Numel(got.Shape) != tensor.Numel(want.Shape) {
						t.Errorf("output %d (%s): got %v, want %s of shape %v (values are random and not compared)", i, m.Outputs[i].Name, got, want.DType, want.Shape)
					}
					continue
				}
				if err := sameTensor(got, want, 1e-4, 1e-4); err != nil {
					t.Errorf("output %d (%s): %v", i, m.Outputs[i].Name, err)
				}
			}
		})
		ran[tc.OpType]++
	}
	for _, op := range SupportedOps() {
		if ran[op] == 0 && conformanceRandomOps[op] {
			t.Logf("op %s: no conformance case in onnx-go's suite (random outputs: covered by ops_random_test.go)", op)
		} else if ran[op] == 0 {
			t.Logf("op %s: no conformance case in onnx-go's suite", op)
		}
	}
}

// asDeclared converts a float tensor that onnx-go's generator wrote for an
// integer-typed graph value back to int64.
func asDeclared(v *tensor.Tensor, elemType string) *tensor.Tensor {
	if (elemType != "INT64" && elemType != "INT32") || v.DType != tensor.Float32 {
		return v
	}
	ints := make([]int64, len(v.F))
	for j, f := range v.F {
		ints[j] = int64(f)
	}
	return tensor.FromInt64(ints, v.Shape...)
}

func fromGorgonia(g gtensor.Tensor) (*tensor.Tensor, error) {
	shape := append([]int(nil), g.Shape()...)
	if len(shape) == 1 && shape[0] == 1 && g.IsScalar() {
		shape = nil
	}
	n := tensor.Numel(shape)
	switch d := g.Data().(type) {
	case []float32:
		return tensor.FromFloat32(append([]float32(nil), d[:n]...), shape...), nil
	case float32:
		return tensor.FromFloat32([]float32{d}, shape...), nil
	case []float64:
		f := make([]float32, n)
		for i := range f {
			f[i] = float32(d[i])
		}
		return tensor.FromFloat32(f, shape...), nil
	case []int64:
		return tensor.FromInt64(append([]int64(nil), d[:n]...), shape...), nil
	case int64:
		return tensor.FromInt64([]int64{d}, shape...), nil
	case []int32:
		v := make([]int64, n)
		for i := range v {
			v[i] = int64(d[i])
		}
		return tensor.FromInt64(v, shape...), nil
	case []bool:
		v := make([]int64, n)
		for i := range v {
			if d[i] {
				v[i] = 1
			}
		}
		return tensor.FromInt64(v, shape...), nil
	}
	return nil, fmt.Errorf("unsupported test tensor type %T", g.Data())
}

// sameTensor compares shapes and values within |a-b| <= atol + rtol·|b|.
func sameTensor(got, want *tensor.Tensor, atol, rtol float64) error {
	if got == nil {
		return fmt.Errorf("missing")
	}
	// onnx-go stores scalars with shape [1]; a scalar and a one-element
	// vector are compared by value.
	scalarLike := len(got.Shape) <= 1 && len(want.Shape) <= 1
	if tensor.Numel(got.Shape) != tensor.Numel(want.Shape) || (!scalarLike && !tensor.SameShape(got.Shape, want.Shape)) {
		return fmt.Errorf("shape %v, want %v", got.Shape, want.Shape)
	}
	if want.DType == tensor.Int64 {
		gi := got.I
		if got.DType != tensor.Int64 {
			return fmt.Errorf("dtype %s, want int64", got.DType)
		}
		for i := range want.I {
			if gi[i] != want.I[i] {
				return fmt.Errorf("element %d: %d, want %d", i, gi[i], want.I[i])
			}
		}
		return nil
	}
	if got.DType != tensor.Float32 {
		return fmt.Errorf("dtype %s, want float32", got.DType)
	}
	for i := range want.F {
		a, b := float64(got.F[i]), float64(want.F[i])
		if math.IsNaN(b) && math.IsNaN(a) {
			continue
		}
		if math.IsInf(b, 0) && a == b {
			continue
		}
		if math.Abs(a-b) > atol+rtol*math.Abs(b) || math.IsNaN(a) {
			return fmt.Errorf("element %d: %g, want %g", i, a, b)
		}
	}
	return nil
}
