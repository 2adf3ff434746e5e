package onnxmodel

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/tensor"
)

func TestActivationForward(t *testing.T) {
	x := ft(sh(5), -2, -0.5, 0, 0.5, 2)
	sig := func(v float64) float32 { return float32(1 / (1 + math.Exp(-v))) }
	cases := []struct {
		op    string
		attrs []*onnxpb.AttributeProto
		want  *tensor.Tensor
	}{
		{"Relu", nil, ft(sh(5), 0, 0, 0, 0.5, 2)},
		{"LeakyRelu", nil, ft(sh(5), -0.02, -0.005, 0, 0.5, 2)},
		{"LeakyRelu", attrsOf(attrFloat("alpha", 0.1)), ft(sh(5), -0.2, -0.05, 0, 0.5, 2)},
		{"Sigmoid", nil, ft(sh(5), sig(-2), sig(-0.5), 0.5, sig(0.5), sig(2))},
		{"Tanh", nil, ft(sh(5), float32(math.Tanh(-2)), float32(math.Tanh(-0.5)), 0, float32(math.Tanh(0.5)), float32(math.Tanh(2)))},
		{"Elu", nil, ft(sh(5), float32(math.Expm1(-2)), float32(math.Expm1(-0.5)), 0, 0.5, 2)},
		{"HardSigmoid", nil, ft(sh(5), 0.1, 0.4, 0.5, 0.6, 0.9)},
		{"Softsign", nil, ft(sh(5), -2.0/3, -0.5/1.5, 0, 0.5/1.5, 2.0/3)},
		{"Softplus", nil, ft(sh(5), float32(math.Log1p(math.Exp(-2))), float32(math.Log1p(math.Exp(-0.5))), float32(math.Log(2)), float32(math.Log1p(math.Exp(0.5))), float32(math.Log1p(math.Exp(2))))},
		{"Identity", nil, x},
		{"Clip", attrsOf(attrFloat("min", -1), attrFloat("max", 1)), ft(sh(5), -1, -0.5, 0, 0.5, 1)},
	}
	for _, c := range cases {
		t.Run(c.op, func(t *testing.T) {
			opset := int64(0)
			if c.op == "Clip" {
				opset = 6
			}
			op := buildOp(t, opSpec{opType: c.op, opset: opset, nInputs: 1, attrs: c.attrs})
			wantTensor(t, fwd(t, op, x)[0], c.want)
		})
	}
}

func TestActivationGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	kink0 := []float64{0}
	cases := []struct {
		op    string
		opset int64
		attrs []*onnxpb.AttributeProto
		in    []*tensor.Tensor
		wrt   []int
	}{
		{"Relu", 0, nil, []*tensor.Tensor{awayFrom(rng, 0.1, kink0, 3, 5)}, []int{0}},
		{"LeakyRelu", 0, attrsOf(attrFloat("alpha", 0.2)), []*tensor.Tensor{awayFrom(rng, 0.1, kink0, 3, 5)}, []int{0}},
		{"Sigmoid", 0, nil, []*tensor.Tensor{randTensor(rng, 3, 5)}, []int{0}},
		{"Tanh", 0, nil, []*tensor.Tensor{randTensor(rng, 3, 5)}, []int{0}},
		{"Elu", 0, nil, []*tensor.Tensor{awayFrom(rng, 0.1, kink0, 3, 5)}, []int{0}},
		{"Selu", 0, nil, []*tensor.Tensor{awayFrom(rng, 0.1, kink0, 3, 5)}, []int{0}},
		{"HardSigmoid", 0, nil, []*tensor.Tensor{awayFrom(rng, 0.2, []float64{-2.5, 2.5}, 3, 5)}, []int{0}},
		{"Softplus", 0, nil, []*tensor.Tensor{randTensor(rng, 3, 5)}, []int{0}},
		{"Softsign", 0, nil, []*tensor.Tensor{awayFrom(rng, 0.1, kink0, 3, 5)}, []int{0}},
		{"Identity", 0, nil, []*tensor.Tensor{randTensor(rng, 3, 5)}, []int{0}},
		{"PRelu", 0, nil, []*tensor.Tensor{awayFrom(rng, 0.1, kink0, 2, 3, 2, 2), randTensor(rng, 3, 1, 1)}, []int{0, 1}},
		{"Clip", 6, attrsOf(attrFloat("min", -0.5), attrFloat("max", 0.7)), []*tensor.Tensor{awayFrom(rng, 0.1, []float64{-0.5, 0.7}, 3, 5)}, []int{0}},
		{"Clip", 13, nil, []*tensor.Tensor{awayFrom(rng, 0.1, []float64{-0.5, 0.7}, 3, 5), ft(sh(), -0.5), ft(sh(), 0.7)}, []int{0}},
		{"Clip", 13, nil, []*tensor.Tensor{awayFrom(rng, 0.1, []float64{0.7}, 3, 5), nil, ft(sh(), 0.7)}, []int{0}},
		{"Softmax", 13, nil, []*tensor.Tensor{randTensor(rng, 2, 3, 4)}, []int{0}},
		{"Softmax", 13, attrsOf(attrInt("axis", 1)), []*tensor.Tensor{randTensor(rng, 2, 3, 4)}, []int{0}},
		{"Softmax", 11, nil, []*tensor.Tensor{randTensor(rng, 2, 3, 4)}, []int{0}},
		{"LogSoftmax", 13, attrsOf(attrInt("axis", -2)), []*tensor.Tensor{randTensor(rng, 2, 3, 4)}, []int{0}},
		{"LogSoftmax", 11, attrsOf(attrInt("axis", 2)), []*tensor.Tensor{randTensor(rng, 2, 3, 4)}, []int{0}},
		{"Dropout", 13, nil, []*tensor.Tensor{randTensor(rng, 3, 5)}, []int{0}},
		{"Cast", 13, attrsOf(attrInt("to", int64(onnxpb.TensorProto_DOUBLE))), []*tensor.Tensor{randTensor(rng, 3, 5)}, []int{0}},
	}
	for _, c := range cases {
		t.Run(c.op, func(t *testing.T) {
			op := buildOp(t, opSpec{opType: c.op, opset: c.opset, nInputs: len(c.in), attrs: c.attrs})
			checkGradients(t, op, c.in, c.wrt, 1e-2, 1e-2)
		})
	}
}

func TestClipOptionalBounds(t *testing.T) {
	op := buildOp(t, opSpec{opType: "Clip", opset: 13, nInputs: 3})
	x := ft(sh(4), -3, -1, 1, 3)
	wantTensor(t, fwd(t, op, x, nil, ft(sh(), 2))[0], ft(sh(4), -3, -1, 1, 2))
	wantTensor(t, fwd(t, op, x, ft(sh(), 0), nil)[0], ft(sh(4), 0, 0, 1, 3))
	wantTensor(t, fwd(t, op, x)[0], x)
	wantTensor(t, fwd(t, op, it(sh(3), -5, 0, 5), it(sh(), -1), it(sh(), 1))[0], it(sh(3), -1, 0, 1))
	// Gradient passes at the bounds (PyTorch's convention).
	g, err := op.Backward(&RunContext{}, []*tensor.Tensor{ft(sh(3), -1, 0, 1), ft(sh(), -1), ft(sh(), 1)}, nil, nil, []*tensor.Tensor{ft(sh(3), 1, 1, 1)}, []bool{true, false, false})
	if err != nil {
		t.Fatal(err)
	}
	wantTensor(t, g[0], ft(sh(3), 1, 1, 1))
	if _, err := registry["Clip"](&NodeInfo{OpType: "Clip", Opset: 13, Inputs: []string{"x"}, Attrs: attrMap(attrFloat("min", 0))}); err == nil {
		t.Error("Clip opset 13 with a min attribute: no error")
	}
}

// attrMap builds a NodeInfo attribute map.
func attrMap(a ...*onnxpb.AttributeProto) map[string]*onnxpb.AttributeProto {
	m := map[string]*onnxpb.AttributeProto{}
	for _, v := range a {
		m[v.GetName()] = v
	}
	return m
}

// TestSoftmaxOpsetSemantics checks that opset 11 normalises over the
// flattened trailing dimensions and opset 13 over the single axis.
func TestSoftmaxOpsetSemantics(t *testing.T) {
	x := ft(sh(1, 2, 2), 0, 1, 2, 3)
	e := func(v float64) float64 { return math.Exp(v) }
	// Opset 11, axis 1: one softmax over all four values.
	s11 := e(0) + e(1) + e(2) + e(3)
	want11 := ft(sh(1, 2, 2), float32(e(0)/s11), float32(e(1)/s11), float32(e(2)/s11), float32(e(3)/s11))
	op11 := buildOp(t, opSpec{opType: "Softmax", opset: 11, nInputs: 1})
	wantTensor(t, fwd(t, op11, x)[0], want11)
	// Opset 13, axis 1: over pairs (0,2) and (1,3).
	a, b := e(0)/(e(0)+e(2)), e(1)/(e(1)+e(3))
	want13 := ft(sh(1, 2, 2), float32(a), float32(b), float32(1-a), float32(1-b))
	op13 := buildOp(t, opSpec{opType: "Softmax", opset: 13, nInputs: 1, attrs: attrsOf(attrInt("axis", 1))})
	wantTensor(t, fwd(t, op13, x)[0], want13)
	// Opset 13 default axis -1: over (0,1) and (2,3).
	c := e(0) / (e(0) + e(1))
	opDef := buildOp(t, opSpec{opType: "Softmax", opset: 13, nInputs: 1})
	wantTensor(t, fwd(t, opDef, x)[0], ft(sh(1, 2, 2), float32(c), float32(1-c), float32(c), float32(1-c)))
	// LogSoftmax is the log of Softmax.
	lop := buildOp(t, opSpec{opType: "LogSoftmax", opset: 11, nInputs: 1})
	got := fwd(t, lop, x)[0]
	for i := range got.F {
		if math.Abs(float64(got.F[i])-math.Log(float64(want11.F[i]))) > 1e-5 {
			t.Errorf("LogSoftmax %d: %v", i, got.F[i])
		}
	}
	// Large values do not overflow.
	big := fwd(t, opDef, ft(sh(2), 1000, 1000))[0]
	wantTensor(t, big, ft(sh(2), 0.5, 0.5))
	if _, _, err := op13.Forward(&RunContext{}, []*tensor.Tensor{ft(sh(2), 1, 2)}); err == nil {
		t.Error("Softmax axis 1 on rank 1: no error")
	}
}

func TestDropout(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	x := positive(rng, 1, 1000)
	op := buildOp(t, opSpec{opType: "Dropout", opset: 13, nInputs: 3, nOut: 2})
	out := fwd(t, op, x, ft(sh(), 0.3), nil)
	wantTensor(t, out[0], x)
	if out[1].DType != tensor.Int64 || out[1].I[0] != 1 {
		t.Errorf("mask at inference: %v", out[1])
	}
	// Training mode through the input.
	out = fwd(t, op, x, ft(sh(), 0.3), it(sh(), 1))
	dropped := 0
	for i, v := range out[0].F {
		switch {
		case v == 0:
			dropped++
			if out[1].I[i] != 0 {
				t.Fatal("dropped element marked kept")
			}
		case math.Abs(float64(v-x.F[i]/0.7)) > 1e-5:
			t.Fatalf("kept element %d: %v, want %v", i, v, x.F[i]/0.7)
		}
	}
	if dropped < 230 || dropped > 370 {
		t.Errorf("dropped %d of 1000 at ratio 0.3", dropped)
	}
	// Training mode through the run context, opset 7 ratio attribute.
	op7 := buildOp(t, opSpec{opType: "Dropout", opset: 7, nInputs: 1, attrs: attrsOf(attrFloat("ratio", 0.5))})
	rc := &RunContext{Training: true}
	o7, saved, err := op7.Forward(rc, []*tensor.Tensor{x})
	if err != nil {
		t.Fatal(err)
	}
	g, err := op7.Backward(rc, []*tensor.Tensor{x}, o7, saved, []*tensor.Tensor{ft(sh(1000), make([]float32, 1000)...)}, []bool{true})
	if err != nil || len(g) != 1 || g[0] == nil {
		t.Fatalf("backward: %v %v", g, err)
	}
	if len(o7) != 1 {
		t.Errorf("one output expected, got %d", len(o7))
	}
}

func TestCast(t *testing.T) {
	cases := []struct {
		to   onnxpb.TensorProto_DataType
		in   *tensor.Tensor
		want *tensor.Tensor
	}{
		{onnxpb.TensorProto_INT64, ft(sh(4), -1.7, -0.2, 0.9, 3.5), it(sh(4), -1, 0, 0, 3)},
		{onnxpb.TensorProto_BOOL, ft(sh(3), 0, 0.1, -2), it(sh(3), 0, 1, 1)},
		{onnxpb.TensorProto_UINT8, it(sh(2), 257, -1), it(sh(2), 1, 255)},
		{onnxpb.TensorProto_INT32, it(sh(1), 1<<32+5), it(sh(1), 5)},
		{onnxpb.TensorProto_FLOAT, it(sh(2), 3, -4), ft(sh(2), 3, -4)},
		{onnxpb.TensorProto_DOUBLE, ft(sh(2), 1.5, 2), ft(sh(2), 1.5, 2)},
	}
	for _, c := range cases {
		op := buildOp(t, opSpec{opType: "Cast", nInputs: 1, attrs: attrsOf(attrInt("to", int64(c.to)))})
		wantTensor(t, fwd(t, op, c.in)[0], c.want)
	}
	for _, to := range []int64{int64(onnxpb.TensorProto_STRING), 99} {
		if _, err := registry["Cast"](&NodeInfo{OpType: "Cast", Opset: 13, Inputs: []string{"x"}, Attrs: attrMap(attrInt("to", to))}); err == nil {
			t.Errorf("Cast to %d: no error", to)
		}
	}
	if _, err := registry["Cast"](&NodeInfo{OpType: "Cast", Opset: 13, Inputs: []string{"x"}, Attrs: attrMap()}); err == nil {
		t.Error("Cast without to: no error")
	}
}

func TestPReluForward(t *testing.T) {
	op := buildOp(t, opSpec{opType: "PRelu", nInputs: 2})
	x := ft(sh(1, 2, 2), -1, 2, -3, 4)
	wantTensor(t, fwd(t, op, x, ft(sh(2, 1), 0.1, 0.5))[0], ft(sh(1, 2, 2), -0.1, 2, -1.5, 4))
	if _, _, err := op.Forward(&RunContext{}, []*tensor.Tensor{x, ft(sh(3), 1, 2, 3)}); err == nil {
		t.Error("PRelu with a slope that does not broadcast: no error")
	}
}
