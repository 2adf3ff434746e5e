package onnxmodel

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/tensor"
)

func TestActivation2Forward(t *testing.T) {
	x := ft(sh(6), -4, -1.5, 0, 0.5, 2, 4)
	f := func(fn func(float64) float64) *tensor.Tensor {
		out := tensor.New(6)
		for i, v := range x.F {
			out.F[i] = float32(fn(float64(v)))
		}
		return out
	}
	cases := []struct {
		op    string
		attrs []*onnxpb.AttributeProto
		want  *tensor.Tensor
	}{
		// Hand-computed: x·clip(x/6+0.5, 0, 1).
		{"HardSwish", nil, ft(sh(6), 0, -1.5*0.25, 0, 0.5*(0.5/6+0.5), 2*(2.0/6+0.5), 4)},
		{"ThresholdedRelu", nil, ft(sh(6), 0, 0, 0, 0, 2, 4)},
		{"ThresholdedRelu", attrsOf(attrFloat("alpha", 0.2)), ft(sh(6), 0, 0, 0, 0.5, 2, 4)},
		{"Celu", nil, ft(sh(6), float32(math.Expm1(-4)), float32(math.Expm1(-1.5)), 0, 0.5, 2, 4)},
		{"Celu", attrsOf(attrFloat("alpha", 2)), ft(sh(6), float32(2*math.Expm1(-2)), float32(2*math.Expm1(-0.75)), 0, 0.5, 2, 4)},
		{"Mish", nil, f(func(v float64) float64 { return v * math.Tanh(math.Log(1+math.Exp(v))) })},
		{"Gelu", nil, f(func(v float64) float64 { return v * 0.5 * math.Erfc(-v/math.Sqrt2) })},
		{"Gelu", attrsOf(attrString("approximate", "tanh")), f(func(v float64) float64 {
			return 0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v)))
		})},
	}
	for _, c := range cases {
		t.Run(c.op, func(t *testing.T) {
			op := buildOp(t, opSpec{opType: c.op, opset: 20, nInputs: 1, attrs: c.attrs})
			wantTensor(t, fwd(t, op, x)[0], c.want)
		})
	}
	// Mish of a large input does not overflow.
	op := buildOp(t, opSpec{opType: "Mish", opset: 18, nInputs: 1})
	wantTensor(t, fwd(t, op, ft(sh(2), 100, -100))[0], ft(sh(2), 100, 0))
}

func TestActivation2Gradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	cases := []struct {
		op    string
		attrs []*onnxpb.AttributeProto
		kinks []float64
	}{
		{"HardSwish", nil, []float64{-3, 3}},
		{"Mish", nil, nil},
		{"Celu", attrsOf(attrFloat("alpha", 0.7)), []float64{0}},
		{"ThresholdedRelu", attrsOf(attrFloat("alpha", 0.3)), []float64{0.3}},
		{"Gelu", nil, nil},
		{"Gelu", attrsOf(attrString("approximate", "tanh")), nil},
	}
	for _, c := range cases {
		t.Run(c.op, func(t *testing.T) {
			op := buildOp(t, opSpec{opType: c.op, opset: 20, nInputs: 1, attrs: c.attrs})
			x := awayFrom(rng, 0.1, c.kinks, 4, 5)
			for i := range x.F {
				x.F[i] *= 2
			}
			checkGradients(t, op, []*tensor.Tensor{x}, []int{0}, 1e-2, 1e-2)
		})
	}
}

func TestActivation2Errors(t *testing.T) {
	cases := []struct {
		op    string
		attrs []*onnxpb.AttributeProto
	}{
		{"Gelu", attrsOf(attrString("approximate", "erf"))},
		{"Gelu", attrsOf(attrInt("approximate", 1))},
		{"Celu", attrsOf(attrFloat("alpha", 0))},
		{"ThresholdedRelu", attrsOf(attrString("alpha", "x"))},
	}
	for _, c := range cases {
		if _, err := registry[c.op](&NodeInfo{OpType: c.op, Opset: 20, Inputs: []string{"x"}, Attrs: attrMap(c.attrs...)}); err == nil {
			t.Errorf("%s %v: no error", c.op, c.attrs)
		}
	}
	op := buildOp(t, opSpec{opType: "HardSwish", nInputs: 1})
	if _, _, err := op.Forward(&RunContext{}, []*tensor.Tensor{it(sh(1), 1)}); err == nil {
		t.Error("HardSwish on an integer tensor: no error")
	}
}
