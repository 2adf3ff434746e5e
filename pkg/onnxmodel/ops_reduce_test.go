package onnxmodel

import (
	"math/rand/v2"
	"testing"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/tensor"
)

func TestReduceForward(t *testing.T) {
	// x = [[[1,2],[3,4]],[[5,6],[7,8]]], shape [2,2,2].
	x := ft(sh(2, 2, 2), 1, 2, 3, 4, 5, 6, 7, 8)
	cases := []struct {
		name  string
		op    string
		opset int64
		attrs []*onnxpb.AttributeProto
		axes  *tensor.Tensor // input 1 (opset 13+ ReduceSum, 18+ others)
		want  *tensor.Tensor
	}{
		{"sum all", "ReduceSum", 13, nil, nil, ft(sh(1, 1, 1), 36)},
		{"sum axis 1 input", "ReduceSum", 13, nil, it(sh(1), 1), ft(sh(2, 1, 2), 4, 6, 12, 14)},
		{"sum negative axis no keepdims", "ReduceSum", 13, attrsOf(attrInt("keepdims", 0)), it(sh(1), -1), ft(sh(2, 2), 3, 7, 11, 15)},
		{"sum empty axes noop", "ReduceSum", 13, attrsOf(attrInt("noop_with_empty_axes", 1)), it(sh(0)), x},
		{"sum opset 11 attribute", "ReduceSum", 11, attrsOf(attrInts("axes", 0, 2)), nil, ft(sh(1, 2, 1), 14, 22)},
		{"mean opset 13 attribute", "ReduceMean", 13, attrsOf(attrInts("axes", 0)), nil, ft(sh(1, 2, 2), 3, 4, 5, 6)},
		{"mean opset 18 input", "ReduceMean", 18, attrsOf(attrInt("keepdims", 0)), it(sh(2), 1, 2), ft(sh(2), 2.5, 6.5)},
		{"mean all no keepdims", "ReduceMean", 13, attrsOf(attrInt("keepdims", 0)), nil, ft(sh(), 4.5)},
		{"max axis 0", "ReduceMax", 13, attrsOf(attrInts("axes", 0)), nil, ft(sh(1, 2, 2), 5, 6, 7, 8)},
		{"min axis -2", "ReduceMin", 13, attrsOf(attrInts("axes", -2), attrInt("keepdims", 0)), nil, ft(sh(2, 2), 1, 2, 5, 6)},
		{"sumsquare", "ReduceSumSquare", 13, attrsOf(attrInts("axes", 2)), nil, ft(sh(2, 2, 1), 5, 25, 61, 113)},
		{"l1", "ReduceL1", 13, attrsOf(attrInts("axes", 2)), nil, ft(sh(2, 2, 1), 3, 7, 11, 15)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := 1
			in := []*tensor.Tensor{x}
			if c.axes != nil {
				n = 2
				in = append(in, c.axes)
			}
			op := buildOp(t, opSpec{opType: c.op, opset: c.opset, nInputs: n, attrs: c.attrs})
			wantTensor(t, fwd(t, op, in...)[0], c.want)
		})
	}
	// Integer reductions.
	op := buildOp(t, opSpec{opType: "ReduceSum", opset: 11, nInputs: 1, attrs: attrsOf(attrInt("keepdims", 0))})
	wantTensor(t, fwd(t, op, it(sh(3), 2, 3, 4))[0], it(sh(), 9))
	mx := buildOp(t, opSpec{opType: "ReduceMax", opset: 11, nInputs: 1, attrs: attrsOf(attrInts("axes", 1))})
	wantTensor(t, fwd(t, mx, it(sh(2, 2), -5, -7, 3, 1))[0], it(sh(2, 1), -5, 3))
}

func TestReduceErrors(t *testing.T) {
	if _, err := registry["ReduceSum"](&NodeInfo{OpType: "ReduceSum", Opset: 13, Inputs: []string{"x"}, Attrs: attrMap(attrInts("axes", 0))}); err == nil {
		t.Error("ReduceSum opset 13 with an axes attribute: no error")
	}
	if _, err := registry["ReduceMean"](&NodeInfo{OpType: "ReduceMean", Opset: 13, Inputs: []string{"x"}, Attrs: attrMap(attrInt("keepdims", 2))}); err == nil {
		t.Error("keepdims 2: no error")
	}
	op := buildOp(t, opSpec{opType: "ReduceSum", opset: 13, nInputs: 2})
	for _, axes := range []*tensor.Tensor{it(sh(1), 3), it(sh(2), 0, -2), ft(sh(1), 0)} {
		if _, _, err := op.Forward(&RunContext{}, []*tensor.Tensor{tensor.New(2, 3), axes}); err == nil {
			t.Errorf("axes %v: no error", axes)
		}
	}
}

func TestReduceGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	distinct := func(shape ...int) *tensor.Tensor {
		x := tensor.New(shape...)
		for i, p := range rng.Perm(x.Len()) {
			x.F[i] = float32(p) * 0.5
		}
		return x
	}
	cases := []struct {
		op    string
		opset int64
		attrs []*onnxpb.AttributeProto
		in    []*tensor.Tensor
	}{
		{"ReduceSum", 13, nil, []*tensor.Tensor{randTensor(rng, 2, 3, 4), it(sh(2), 0, -1)}},
		{"ReduceSum", 11, attrsOf(attrInt("keepdims", 0)), []*tensor.Tensor{randTensor(rng, 2, 3, 4)}},
		{"ReduceMean", 13, attrsOf(attrInts("axes", 1), attrInt("keepdims", 0)), []*tensor.Tensor{randTensor(rng, 2, 3, 4)}},
		{"ReduceMean", 18, nil, []*tensor.Tensor{randTensor(rng, 2, 3, 4), it(sh(1), 2)}},
		{"ReduceMax", 13, attrsOf(attrInts("axes", 1, 2)), []*tensor.Tensor{distinct(2, 3, 4)}},
		{"ReduceMin", 13, attrsOf(attrInt("keepdims", 0)), []*tensor.Tensor{distinct(3, 4)}},
		{"ReduceSumSquare", 13, attrsOf(attrInts("axes", 0)), []*tensor.Tensor{randTensor(rng, 3, 4)}},
		{"ReduceL2", 13, attrsOf(attrInts("axes", 1)), []*tensor.Tensor{randTensor(rng, 3, 4)}},
		{"ReduceL1", 13, attrsOf(attrInts("axes", 1)), []*tensor.Tensor{awayFrom(rng, 0.1, []float64{0}, 3, 4)}},
	}
	for _, c := range cases {
		t.Run(c.op, func(t *testing.T) {
			op := buildOp(t, opSpec{opType: c.op, opset: c.opset, nInputs: len(c.in), attrs: c.attrs})
			checkGradients(t, op, c.in, []int{0}, 1e-2, 1e-2)
		})
	}
	// ReduceMax sends the gradient to the first maximum on ties.
	op := buildOp(t, opSpec{opType: "ReduceMax", opset: 13, nInputs: 1, attrs: attrsOf(attrInt("keepdims", 0))})
	x := ft(sh(4), 1, 3, 3, 2)
	rc := &RunContext{}
	out, saved, err := op.Forward(rc, []*tensor.Tensor{x})
	if err != nil {
		t.Fatal(err)
	}
	g, err := op.Backward(rc, []*tensor.Tensor{x}, out, saved, []*tensor.Tensor{ft(sh(), 1)}, []bool{true})
	if err != nil {
		t.Fatal(err)
	}
	wantTensor(t, g[0], ft(sh(4), 0, 1, 0, 0))
}

func TestReduceLarge(t *testing.T) {
	// Large enough for the bucketed parallel sum.
	rng := rand.New(rand.NewPCG(17, 18))
	x := randTensor(rng, 8, 32, 32, 32)
	op := buildOp(t, opSpec{opType: "ReduceMean", opset: 13, nInputs: 1, attrs: attrsOf(attrInts("axes", 0, 2, 3))})
	got := fwd(t, op, x)[0]
	for c := 0; c < 32; c++ {
		var s float64
		for n := 0; n < 8; n++ {
			for i := 0; i < 1024; i++ {
				s += float64(x.F[(n*32+c)*1024+i])
			}
		}
		s /= 8 * 1024
		if d := float64(got.F[c]) - s; d > 1e-5 || d < -1e-5 {
			t.Fatalf("channel %d: %v, want %v", c, got.F[c], s)
		}
	}
}
