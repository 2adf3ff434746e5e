package onnxmodel

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/tensor"
)

// iota32 returns a float tensor of shape holding 0, 1, 2, ...
func iota32(shape ...int) *tensor.Tensor {
	x := tensor.New(shape...)
	for i := range x.F {
		x.F[i] = float32(i)
	}
	return x
}

func TestReshape(t *testing.T) {
	x := iota32(2, 3, 4)
	cases := []struct {
		spec      []int64
		allowzero int64
		want      []int
		fails     bool
	}{
		{[]int64{4, -1}, 0, sh(4, 6), false},
		{[]int64{0, -1}, 0, sh(2, 12), false},
		{[]int64{0, 0, 2, 2}, 0, sh(2, 3, 2, 2), false},
		{[]int64{-1}, 0, sh(24), false},
		{[]int64{-1, -1}, 0, nil, true},
		{[]int64{5, -1}, 0, nil, true},
		{[]int64{2, 3, 5}, 0, nil, true},
		{[]int64{0, 0, 0, 0, 0}, 0, nil, true},
		{[]int64{-2, 12}, 0, nil, true},
		{[]int64{0, 24}, 1, nil, true}, // allowzero: 0 is a real 0
	}
	for _, c := range cases {
		op := buildOp(t, opSpec{opType: "Reshape", nInputs: 2, attrs: attrsOf(attrInt("allowzero", c.allowzero))})
		out, _, err := op.Forward(&RunContext{}, []*tensor.Tensor{x, it(sh(len(c.spec)), c.spec...)})
		if c.fails {
			if err == nil {
				t.Errorf("shape %v: no error, got %v", c.spec, out[0].Shape)
			}
			continue
		}
		if err != nil || !tensor.SameShape(out[0].Shape, c.want) {
			t.Errorf("shape %v: got %v, %v; want %v", c.spec, out, err, c.want)
		}
	}
	// allowzero with an empty input.
	op := buildOp(t, opSpec{opType: "Reshape", nInputs: 2, attrs: attrsOf(attrInt("allowzero", 1))})
	out := fwd(t, op, tensor.New(0, 3), it(sh(2), 3, 0))[0]
	if !tensor.SameShape(out.Shape, sh(3, 0)) {
		t.Errorf("allowzero: got %v", out.Shape)
	}
	rng := rand.New(rand.NewPCG(19, 20))
	checkGradients(t, buildOp(t, opSpec{opType: "Reshape", nInputs: 2}), []*tensor.Tensor{randTensor(rng, 2, 3), it(sh(1), -1)}, []int{0}, 1e-2, 1e-2)
}

func TestFlattenSqueezeUnsqueeze(t *testing.T) {
	x := iota32(2, 3, 4)
	cases := []struct {
		op    string
		opset int64
		attrs []*onnxpb.AttributeProto
		in    []*tensor.Tensor
		want  []int
	}{
		{"Flatten", 0, nil, []*tensor.Tensor{x}, sh(2, 12)},
		{"Flatten", 0, attrsOf(attrInt("axis", 0)), []*tensor.Tensor{x}, sh(1, 24)},
		{"Flatten", 0, attrsOf(attrInt("axis", 3)), []*tensor.Tensor{x}, sh(24, 1)},
		{"Flatten", 0, attrsOf(attrInt("axis", -1)), []*tensor.Tensor{x}, sh(6, 4)},
		{"Unsqueeze", 13, nil, []*tensor.Tensor{x, it(sh(2), 0, -1)}, sh(1, 2, 3, 4, 1)},
		{"Unsqueeze", 11, attrsOf(attrInts("axes", 1, 3)), []*tensor.Tensor{x}, sh(2, 1, 3, 1, 4)},
		{"Squeeze", 13, nil, []*tensor.Tensor{tensor.New(1, 3, 1, 2)}, sh(3, 2)},
		{"Squeeze", 13, nil, []*tensor.Tensor{tensor.New(1, 3, 1, 2), it(sh(1), -2)}, sh(1, 3, 2)},
		{"Squeeze", 11, attrsOf(attrInts("axes", 0)), []*tensor.Tensor{tensor.New(1, 3, 1, 2)}, sh(3, 1, 2)},
	}
	for _, c := range cases {
		op := buildOp(t, opSpec{opType: c.op, opset: c.opset, nInputs: len(c.in), attrs: c.attrs})
		got := fwd(t, op, c.in...)[0]
		if !tensor.SameShape(got.Shape, c.want) {
			t.Errorf("%s %v: got %v, want %v", c.op, c.attrs, got.Shape, c.want)
		}
	}
	sq := buildOp(t, opSpec{opType: "Squeeze", opset: 13, nInputs: 2})
	if _, _, err := sq.Forward(&RunContext{}, []*tensor.Tensor{x, it(sh(1), 1)}); err == nil {
		t.Error("Squeeze of a dimension of size 3: no error")
	}
	un := buildOp(t, opSpec{opType: "Unsqueeze", opset: 13, nInputs: 2})
	if _, _, err := un.Forward(&RunContext{}, []*tensor.Tensor{x, it(sh(2), 1, 1)}); err == nil {
		t.Error("Unsqueeze with a repeated axis: no error")
	}
	fl := buildOp(t, opSpec{opType: "Flatten", nInputs: 1, attrs: attrsOf(attrInt("axis", 4))})
	if _, _, err := fl.Forward(&RunContext{}, []*tensor.Tensor{x}); err == nil {
		t.Error("Flatten axis 4 of rank 3: no error")
	}
	rng := rand.New(rand.NewPCG(21, 22))
	checkGradients(t, buildOp(t, opSpec{opType: "Flatten", nInputs: 1}), []*tensor.Tensor{randTensor(rng, 2, 3, 2)}, []int{0}, 1e-2, 1e-2)
}

func TestTranspose(t *testing.T) {
	x := iota32(2, 3)
	op := buildOp(t, opSpec{opType: "Transpose", nInputs: 1})
	wantTensor(t, fwd(t, op, x)[0], ft(sh(3, 2), 0, 3, 1, 4, 2, 5))
	p := buildOp(t, opSpec{opType: "Transpose", nInputs: 1, attrs: attrsOf(attrInts("perm", 1, 2, 0))})
	y := iota32(2, 3, 4)
	got := fwd(t, p, y)[0]
	if !tensor.SameShape(got.Shape, sh(3, 4, 2)) {
		t.Fatalf("shape %v", got.Shape)
	}
	for a := 0; a < 2; a++ {
		for b := 0; b < 3; b++ {
			for c := 0; c < 4; c++ {
				if got.F[(b*4+c)*2+a] != y.F[(a*3+b)*4+c] {
					t.Fatalf("at %d %d %d", a, b, c)
				}
			}
		}
	}
	wantTensor(t, fwd(t, op, it(sh(2, 2), 1, 2, 3, 4))[0], it(sh(2, 2), 1, 3, 2, 4))
	if _, err := registry["Transpose"](&NodeInfo{OpType: "Transpose", Inputs: []string{"x"}, Attrs: attrMap(attrInts("perm", 0, 0))}); err == nil {
		t.Error("perm [0 0]: no error")
	}
	if _, _, err := p.Forward(&RunContext{}, []*tensor.Tensor{x}); err == nil {
		t.Error("perm of rank 3 on rank 2: no error")
	}
	rng := rand.New(rand.NewPCG(23, 24))
	checkGradients(t, p, []*tensor.Tensor{randTensor(rng, 2, 3, 4)}, []int{0}, 1e-2, 1e-2)
	// Large transpose (parallel path) against the naive rule.
	big := randTensor(rng, 4, 64, 32, 16)
	tp := buildOp(t, opSpec{opType: "Transpose", nInputs: 1, attrs: attrsOf(attrInts("perm", 0, 2, 3, 1))})
	bt := fwd(t, tp, big)[0]
	for n := 0; n < 4; n++ {
		for c := 0; c < 64; c++ {
			for h := 0; h < 32; h++ {
				for w := 0; w < 16; w++ {
					if bt.F[((n*32+h)*16+w)*64+c] != big.F[((n*64+c)*32+h)*16+w] {
						t.Fatalf("large transpose at %d %d %d %d", n, c, h, w)
					}
				}
			}
		}
	}
}

func TestConcatSplit(t *testing.T) {
	a, b := iota32(2, 2), ft(sh(2, 1), 10, 11)
	op := buildOp(t, opSpec{opType: "Concat", nInputs: 2, attrs: attrsOf(attrInt("axis", -1))})
	wantTensor(t, fwd(t, op, a, b)[0], ft(sh(2, 3), 0, 1, 10, 2, 3, 11))
	wantTensor(t, fwd(t, op, it(sh(1), 1), it(sh(2), 2, 3))[0], it(sh(3), 1, 2, 3))
	if _, _, err := op.Forward(&RunContext{}, []*tensor.Tensor{a, ft(sh(3, 1), 1, 2, 3)}); err == nil {
		t.Error("Concat of [2 2] and [3 1] on axis -1: no error")
	}
	rng := rand.New(rand.NewPCG(25, 26))
	c0 := buildOp(t, opSpec{opType: "Concat", nInputs: 3, attrs: attrsOf(attrInt("axis", 1))})
	checkGradients(t, c0, []*tensor.Tensor{randTensor(rng, 2, 1, 3), randTensor(rng, 2, 2, 3), randTensor(rng, 2, 3, 3)}, []int{0, 1, 2}, 1e-2, 1e-2)

	x := iota32(2, 5)
	s13 := buildOp(t, opSpec{opType: "Split", opset: 13, nInputs: 2, nOut: 2, attrs: attrsOf(attrInt("axis", -1))})
	out := fwd(t, s13, x, it(sh(2), 2, 3))
	wantTensor(t, out[0], ft(sh(2, 2), 0, 1, 5, 6))
	wantTensor(t, out[1], ft(sh(2, 3), 2, 3, 4, 7, 8, 9))
	s11 := buildOp(t, opSpec{opType: "Split", opset: 11, nInputs: 1, nOut: 2, attrs: attrsOf(attrInt("axis", 0))})
	out = fwd(t, s11, x)
	wantTensor(t, out[1], ft(sh(1, 5), 5, 6, 7, 8, 9))
	s18 := buildOp(t, opSpec{opType: "Split", opset: 18, nInputs: 1, nOut: 3, attrs: attrsOf(attrInt("axis", 1), attrInt("num_outputs", 3))})
	out = fwd(t, s18, x)
	for k, w := range []int{2, 2, 1} {
		if out[k].Shape[1] != w {
			t.Errorf("num_outputs split %d: shape %v", k, out[k].Shape)
		}
	}
	if _, _, err := s13.Forward(&RunContext{}, []*tensor.Tensor{x, it(sh(2), 2, 2)}); err == nil {
		t.Error("split sizes that do not add up: no error")
	}
	checkGradients(t, s13, []*tensor.Tensor{randTensor(rng, 3, 5), it(sh(2), 4, 1)}, []int{0}, 1e-2, 1e-2)
}

func TestSlice(t *testing.T) {
	x := iota32(3, 4)
	const big = math.MaxInt64
	cases := []struct {
		name                      string
		starts, ends, axes, steps []int64
		want                      *tensor.Tensor
	}{
		{"basic", []int64{0, 1}, []int64{2, 3}, nil, nil, ft(sh(2, 2), 1, 2, 5, 6)},
		{"axis -1 to INT64_MAX", []int64{1}, []int64{big}, []int64{-1}, nil, ft(sh(3, 3), 1, 2, 3, 5, 6, 7, 9, 10, 11)},
		{"negative start", []int64{-1}, []int64{big}, []int64{0}, nil, ft(sh(1, 4), 8, 9, 10, 11)},
		{"negative step reverses", []int64{-1}, []int64{math.MinInt64}, []int64{1}, []int64{-1}, ft(sh(3, 4), 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8)},
		{"step -2 from clamped start", []int64{10}, []int64{0}, []int64{1}, []int64{-2}, ft(sh(3, 2), 3, 1, 7, 5, 11, 9)},
		{"step 2", []int64{0}, []int64{3}, []int64{0}, []int64{2}, ft(sh(2, 4), 0, 1, 2, 3, 8, 9, 10, 11)},
		{"empty", []int64{2}, []int64{1}, []int64{1}, nil, ft(sh(3, 0))},
		{"clamped ends", []int64{-100}, []int64{100}, []int64{0}, nil, x},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := []*tensor.Tensor{x, it(sh(len(c.starts)), c.starts...), it(sh(len(c.ends)), c.ends...), nil, nil}
			if c.axes != nil {
				in[3] = it(sh(len(c.axes)), c.axes...)
			}
			if c.steps != nil {
				in[4] = it(sh(len(c.steps)), c.steps...)
			}
			op := buildOp(t, opSpec{opType: "Slice", nInputs: 5})
			wantTensor(t, fwd(t, op, in...)[0], c.want)
		})
	}
	old := buildOp(t, opSpec{opType: "Slice", opset: 9, nInputs: 1, attrs: attrsOf(attrInts("starts", 1), attrInts("ends", -1), attrInts("axes", 1))})
	wantTensor(t, fwd(t, old, x)[0], ft(sh(3, 2), 1, 2, 5, 6, 9, 10))
	op := buildOp(t, opSpec{opType: "Slice", nInputs: 5})
	if _, _, err := op.Forward(&RunContext{}, []*tensor.Tensor{x, it(sh(1), 0), it(sh(1), 2), it(sh(1), 0), it(sh(1), 0)}); err == nil {
		t.Error("step 0: no error")
	}
	if _, _, err := op.Forward(&RunContext{}, []*tensor.Tensor{x, it(sh(1), 0), it(sh(1), 2), it(sh(1), 2), nil}); err == nil {
		t.Error("axis 2 of rank 2: no error")
	}
	rng := rand.New(rand.NewPCG(27, 28))
	checkGradients(t, op, []*tensor.Tensor{randTensor(rng, 4, 5), it(sh(2), -1, 1), it(sh(2), 0, big), it(sh(2), 0, 1), it(sh(2), -2, 2)}, []int{0}, 1e-2, 1e-2)
}

func TestGatherShape(t *testing.T) {
	x := iota32(3, 2)
	op := buildOp(t, opSpec{opType: "Gather", nInputs: 2})
	wantTensor(t, fwd(t, op, x, it(sh(2), -1, 0))[0], ft(sh(2, 2), 4, 5, 0, 1))
	ax1 := buildOp(t, opSpec{opType: "Gather", nInputs: 2, attrs: attrsOf(attrInt("axis", 1))})
	wantTensor(t, fwd(t, ax1, x, it(sh(), 1))[0], ft(sh(3), 1, 3, 5))
	wantTensor(t, fwd(t, ax1, x, it(sh(2, 1), 1, -2))[0], ft(sh(3, 2, 1), 1, 0, 3, 2, 5, 4))
	if _, _, err := op.Forward(&RunContext{}, []*tensor.Tensor{x, it(sh(1), 3)}); err == nil {
		t.Error("index 3 of 3: no error")
	}
	// Shape -> Gather, as exporters write for a batch size.
	shp := buildOp(t, opSpec{opType: "Shape", nInputs: 1})
	s := fwd(t, shp, tensor.New(5, 3, 2))[0]
	wantTensor(t, s, it(sh(3), 5, 3, 2))
	wantTensor(t, fwd(t, op, s, it(sh(), 0))[0], it(sh(), 5))
	s15 := buildOp(t, opSpec{opType: "Shape", opset: 15, nInputs: 1, attrs: attrsOf(attrInt("start", -2), attrInt("end", 10))})
	wantTensor(t, fwd(t, s15, tensor.New(5, 3, 2))[0], it(sh(2), 3, 2))
	wantTensor(t, fwd(t, buildOp(t, opSpec{opType: "Size", nInputs: 1}), tensor.New(5, 3))[0], it(sh(), 15))
	rng := rand.New(rand.NewPCG(29, 30))
	// Repeated indices: the gradient is accumulated.
	checkGradients(t, ax1, []*tensor.Tensor{randTensor(rng, 2, 4, 3), it(sh(3), 1, -3, 3)}, []int{0}, 1e-2, 1e-2)
	gx, err := op.Backward(&RunContext{}, []*tensor.Tensor{x, it(sh(3), 0, 0, -1)}, nil, nil, []*tensor.Tensor{ft(sh(3, 2), 1, 1, 1, 1, 1, 1)}, []bool{true, false})
	if err != nil {
		t.Fatal(err)
	}
	wantTensor(t, gx[0], ft(sh(3, 2), 2, 2, 0, 0, 1, 1))
}

func TestPad(t *testing.T) {
	x := ft(sh(2, 3), 1, 2, 3, 4, 5, 6)
	pads := it(sh(4), 0, 2, 1, 1) // axis 0: 0 before, 1 after; axis 1: 2 before, 1 after
	cases := []struct {
		mode string
		want *tensor.Tensor
	}{
		// numpy.pad(x, ((0,1),(2,1)), mode=...)
		{"constant", ft(sh(3, 6), 9, 9, 1, 2, 3, 9, 9, 9, 4, 5, 6, 9, 9, 9, 9, 9, 9, 9)},
		{"reflect", ft(sh(3, 6), 3, 2, 1, 2, 3, 2, 6, 5, 4, 5, 6, 5, 3, 2, 1, 2, 3, 2)},
		{"edge", ft(sh(3, 6), 1, 1, 1, 2, 3, 3, 4, 4, 4, 5, 6, 6, 4, 4, 4, 5, 6, 6)},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			op := buildOp(t, opSpec{opType: "Pad", opset: 13, nInputs: 3, attrs: attrsOf(attrString("mode", c.mode))})
			wantTensor(t, fwd(t, op, x, pads, ft(sh(), 9))[0], c.want)
			rng := rand.New(rand.NewPCG(31, 32))
			checkGradients(t, op, []*tensor.Tensor{randTensor(rng, 3, 4), it(sh(4), 1, 3, 2, 2), nil}, []int{0}, 1e-2, 1e-2)
		})
	}
	// Opset 2 attributes, negative pads crop.
	old := buildOp(t, opSpec{opType: "Pad", opset: 2, nInputs: 1, attrs: attrsOf(attrInts("pads", 0, -1, 0, 1), attrFloat("value", -1))})
	wantTensor(t, fwd(t, old, x)[0], ft(sh(2, 3), 2, 3, -1, 5, 6, -1))
	// Opset 18 axes input.
	op18 := buildOp(t, opSpec{opType: "Pad", opset: 18, nInputs: 4})
	wantTensor(t, fwd(t, op18, x, it(sh(2), 1, 0), nil, it(sh(1), -1))[0], ft(sh(2, 4), 0, 1, 2, 3, 0, 4, 5, 6))
	if _, _, err := op18.Forward(&RunContext{}, []*tensor.Tensor{x, it(sh(3), 1, 0, 0), nil, nil}); err == nil {
		t.Error("3 pads for rank 2: no error")
	}
	if _, err := registry["Pad"](&NodeInfo{OpType: "Pad", Opset: 13, Inputs: []string{"x", "p"}, Attrs: attrMap(attrString("mode", "mirror"))}); err == nil {
		t.Error("mode mirror: no error")
	}
	// Integer data.
	op := buildOp(t, opSpec{opType: "Pad", opset: 13, nInputs: 2})
	wantTensor(t, fwd(t, op, it(sh(2), 7, 8), it(sh(2), 1, 0))[0], it(sh(3), 0, 7, 8))
}

func TestConstants(t *testing.T) {
	c := buildOp(t, opSpec{opType: "Constant", attrs: attrsOf(attrInts("value_ints", 1, 2))})
	wantTensor(t, fwd(t, c)[0], it(sh(2), 1, 2))
	cf := buildOp(t, opSpec{opType: "Constant", attrs: attrsOf(attrFloat("value_float", 2.5))})
	wantTensor(t, fwd(t, cf)[0], ft(sh(), 2.5))
	dt := int32(onnxpb.TensorProto_FLOAT)
	tp := &onnxpb.TensorProto{Dims: []int64{2}, DataType: &dt, FloatData: []float32{3, 4}}
	name, typ := "value", onnxpb.AttributeProto_TENSOR
	ct := buildOp(t, opSpec{opType: "Constant", attrs: attrsOf(&onnxpb.AttributeProto{Name: &name, Type: &typ, T: tp})})
	wantTensor(t, fwd(t, ct)[0], ft(sh(2), 3, 4))
	if _, err := registry["Constant"](&NodeInfo{OpType: "Constant", Attrs: attrMap()}); err == nil {
		t.Error("Constant without a value: no error")
	}

	cs := buildOp(t, opSpec{opType: "ConstantOfShape", nInputs: 1})
	wantTensor(t, fwd(t, cs, it(sh(2), 2, 1))[0], ft(sh(2, 1), 0, 0))
	dti := int32(onnxpb.TensorProto_INT64)
	csi := buildOp(t, opSpec{opType: "ConstantOfShape", nInputs: 1, attrs: attrsOf(&onnxpb.AttributeProto{Name: &name, Type: &typ, T: &onnxpb.TensorProto{Dims: []int64{1}, DataType: &dti, Int64Data: []int64{7}}})})
	wantTensor(t, fwd(t, csi, it(sh(1), 3))[0], it(sh(3), 7, 7, 7))
	if _, _, err := cs.Forward(&RunContext{}, []*tensor.Tensor{it(sh(2), -1, 2)}); err == nil {
		t.Error("negative dimension: no error")
	}
	if _, _, err := cs.Forward(&RunContext{}, []*tensor.Tensor{it(sh(3), 1<<20, 1<<20, 1<<20)}); err == nil {
		t.Error("absurd size: no error")
	}

	ex := buildOp(t, opSpec{opType: "Expand", nInputs: 2})
	wantTensor(t, fwd(t, ex, ft(sh(2, 1), 1, 2), it(sh(2), 1, 3))[0], ft(sh(2, 3), 1, 1, 1, 2, 2, 2))
	wantTensor(t, fwd(t, ex, ft(sh(3), 1, 2, 3), it(sh(2), 2, 1))[0], ft(sh(2, 3), 1, 2, 3, 1, 2, 3))
	rng := rand.New(rand.NewPCG(33, 34))
	checkGradients(t, ex, []*tensor.Tensor{randTensor(rng, 3, 1), it(sh(3), 2, 1, 4)}, []int{0}, 1e-2, 1e-2)
}
