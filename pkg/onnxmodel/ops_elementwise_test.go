package onnxmodel

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/tensor"
)

// attrsOf lists attributes for an opSpec.
func attrsOf(a ...*onnxpb.AttributeProto) []*onnxpb.AttributeProto { return a }

// ft makes a float tensor of shape from values.
func ft(shape []int, v ...float32) *tensor.Tensor { return tensor.FromFloat32(v, shape...) }

// it makes an int64 tensor of shape from values.
func it(shape []int, v ...int64) *tensor.Tensor { return tensor.FromInt64(v, shape...) }

// sh is shorthand for a shape.
func sh(d ...int) []int { return d }

// fwd runs op's forward, failing the test on error.
func fwd(t *testing.T, op Op, in ...*tensor.Tensor) []*tensor.Tensor {
	t.Helper()
	out, _, err := op.Forward(&RunContext{}, in)
	if err != nil {
		t.Fatalf("forward: %v", err)
	}
	return out
}

// wantTensor compares got with want (shape, type, values within 1e-5 relative).
func wantTensor(t *testing.T, got, want *tensor.Tensor) {
	t.Helper()
	if got.DType != want.DType || !tensor.SameShape(got.Shape, want.Shape) {
		t.Fatalf("got %s, want %s", got, want)
	}
	if got.DType == tensor.Int64 {
		for i := range want.I {
			if got.I[i] != want.I[i] {
				t.Fatalf("got %v, want %v", got.I, want.I)
			}
		}
		return
	}
	for i := range want.F {
		g, w := float64(got.F[i]), float64(want.F[i])
		if math.IsNaN(w) && math.IsNaN(g) {
			continue
		}
		if math.Abs(g-w) > 1e-5*math.Max(1, math.Abs(w)) {
			t.Fatalf("element %d: got %v, want %v (all: %v)", i, g, w, got.F)
		}
	}
}

// awayFrom returns a random tensor whose elements are at least gap away
// from each of the points (kinks of the op under test).
func awayFrom(rng *rand.Rand, gap float64, points []float64, shape ...int) *tensor.Tensor {
	x := randTensor(rng, shape...)
	for i := range x.F {
	retry:
		for _, p := range points {
			if math.Abs(float64(x.F[i])-p) < gap {
				x.F[i] = float32(rng.NormFloat64())
				goto retry
			}
		}
	}
	return x
}

// positive returns a random tensor with elements in [lo, lo+2).
func positive(rng *rand.Rand, lo float64, shape ...int) *tensor.Tensor {
	x := tensor.New(shape...)
	for i := range x.F {
		x.F[i] = float32(lo + 2*rng.Float64())
	}
	return x
}

func TestElementwiseBroadcastForward(t *testing.T) {
	cases := []struct {
		name string
		op   string
		a, b *tensor.Tensor
		want *tensor.Tensor
	}{
		{"row vector", "Add", ft(sh(2, 3), 1, 2, 3, 4, 5, 6), ft(sh(3), 10, 20, 30), ft(sh(2, 3), 11, 22, 33, 14, 25, 36)},
		{"column", "Sub", ft(sh(2, 3), 1, 2, 3, 4, 5, 6), ft(sh(2, 1), 1, 2), ft(sh(2, 3), 0, 1, 2, 2, 3, 4)},
		{"both ways", "Mul", ft(sh(2, 1), 1, 2), ft(sh(1, 3), 1, 2, 3), ft(sh(2, 3), 1, 2, 3, 2, 4, 6)},
		{"scalar left", "Div", ft(sh(), 6), ft(sh(3), 1, 2, 3), ft(sh(3), 6, 3, 2)},
		{"pow", "Pow", ft(sh(3), 1, 2, 3), ft(sh(), 2), ft(sh(3), 1, 4, 9)},
		{"pow int exponent", "Pow", ft(sh(2), 2, 3), it(sh(2), 3, 2), ft(sh(2), 8, 9)},
		// The output takes the base's type; the float power is truncated.
		{"pow int base float exponent", "Pow", it(sh(2, 2), 2, 3, -2, 9), ft(sh(2), 3, 0.5), it(sh(2, 2), 8, 1, -8, 3)},
		// numpy: np.array([3,-7,7]) // ... but ONNX integer Div truncates like C.
		{"int div truncates", "Div", it(sh(3), 7, -7, 7), it(sh(), 2), it(sh(3), 3, -3, 3)},
		{"int add broadcast", "Add", it(sh(2, 2), 1, 2, 3, 4), it(sh(2), 10, 20), it(sh(2, 2), 11, 22, 13, 24)},
		{"int mul", "Mul", it(sh(2), 3, -4), it(sh(2), 5, 6), it(sh(2), 15, -24)},
		{"int sub", "Sub", it(sh(1), 3), it(sh(2), 5, 6), it(sh(2), -2, -3)},
		{"max", "Max", ft(sh(3), 1, 5, 3), ft(sh(3), 4, 2, 6), ft(sh(3), 4, 5, 6)},
		{"min broadcast", "Min", ft(sh(2, 2), 1, 5, 3, 0), ft(sh(2), 2, 2), ft(sh(2, 2), 1, 2, 2, 0)},
		{"equal", "Equal", ft(sh(3), 1, 2, 3), ft(sh(), 2), it(sh(3), 0, 1, 0)},
		{"less", "Less", it(sh(3), 1, 2, 3), it(sh(), 2), it(sh(3), 1, 0, 0)},
		{"greater", "Greater", ft(sh(3), 1, 2, 3), ft(sh(), 2), it(sh(3), 0, 0, 1)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op := buildOp(t, opSpec{opType: c.op, nInputs: 2})
			wantTensor(t, fwd(t, op, c.a, c.b)[0], c.want)
		})
	}
}

func TestElementwiseErrors(t *testing.T) {
	op := buildOp(t, opSpec{opType: "Add", nInputs: 2})
	if _, _, err := op.Forward(&RunContext{}, []*tensor.Tensor{ft(sh(2), 1, 2), ft(sh(3), 1, 2, 3)}); err == nil {
		t.Error("Add of [2] and [3]: no error")
	}
	if _, _, err := op.Forward(&RunContext{}, []*tensor.Tensor{ft(sh(2), 1, 2), it(sh(2), 1, 2)}); err == nil {
		t.Error("Add of float and int: no error")
	}
	if _, _, err := op.Forward(&RunContext{}, []*tensor.Tensor{ft(sh(2), 1, 2), nil}); err == nil {
		t.Error("Add with a missing input: no error")
	}
	if _, _, err := op.Forward(&RunContext{}, []*tensor.Tensor{ft(sh(2), 1, 2), {Shape: []int{3}}}); err == nil {
		t.Error("Add with a malformed input: no error")
	}
	div := buildOp(t, opSpec{opType: "Div", nInputs: 2})
	if _, _, err := div.Forward(&RunContext{}, []*tensor.Tensor{it(sh(2), 1, 2), it(sh(2), 1, 0)}); err == nil {
		t.Error("integer division by zero: no error")
	}
}

func TestElementwiseLegacyBroadcast(t *testing.T) {
	// Opset 6: B [3] aligned at axis 1 of A [2,3,2].
	op := buildOp(t, opSpec{opType: "Add", opset: 6, nInputs: 2, attrs: attrsOf(attrInt("broadcast", 1), attrInt("axis", 1))})
	a := tensor.New(2, 3, 2)
	got := fwd(t, op, a, ft(sh(3), 1, 2, 3))[0]
	wantTensor(t, got, ft(sh(2, 3, 2), 1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3))
}

func TestVariadic(t *testing.T) {
	a, b, c := ft(sh(3), 1, 5, 3), ft(sh(3), 4, 2, 3), ft(sh(), 3.5)
	for _, tc := range []struct {
		op   string
		want *tensor.Tensor
	}{
		{"Max", ft(sh(3), 4, 5, 3.5)},
		{"Min", ft(sh(3), 1, 2, 3)},
		{"Sum", ft(sh(3), 8.5, 10.5, 9.5)},
		{"Mean", ft(sh(3), 8.5/3, 10.5/3, 9.5/3)},
	} {
		op := buildOp(t, opSpec{opType: tc.op, nInputs: 3})
		wantTensor(t, fwd(t, op, a, b, c)[0], tc.want)
	}
	one := buildOp(t, opSpec{opType: "Max", nInputs: 1})
	wantTensor(t, fwd(t, one, a)[0], a)
}

// TestBroadcastHotPaths compares the per-channel and scalar fast paths, and
// the bucketed parallel reduction in Backward, with a naive loop on tensors
// large enough to run in parallel.
func TestBroadcastHotPaths(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	n, c, h, w := 4, 16, 40, 40
	x := randTensor(rng, n, c, h, w)
	bias := randTensor(rng, c, 1, 1)
	op := buildOp(t, opSpec{opType: "Mul", nInputs: 2})
	rc := &RunContext{}
	out, saved, err := op.Forward(rc, []*tensor.Tensor{x, bias})
	if err != nil {
		t.Fatal(err)
	}
	g := randTensor(rng, n, c, h, w)
	grads, err := op.Backward(rc, []*tensor.Tensor{x, bias}, out, saved, []*tensor.Tensor{g}, []bool{true, true})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float64, c)
	for i := range x.F {
		ch := (i / (h * w)) % c
		if out[0].F[i] != x.F[i]*bias.F[ch] {
			t.Fatalf("element %d: %v, want %v", i, out[0].F[i], x.F[i]*bias.F[ch])
		}
		if grads[0].F[i] != g.F[i]*bias.F[ch] {
			t.Fatalf("grad x %d: %v, want %v", i, grads[0].F[i], g.F[i]*bias.F[ch])
		}
		want[ch] += float64(g.F[i]) * float64(x.F[i])
	}
	for ch := range want {
		if math.Abs(float64(grads[1].F[ch])-want[ch]) > 1e-3*math.Max(1, math.Abs(want[ch])) {
			t.Errorf("grad bias %d: %v, want %v", ch, grads[1].F[ch], want[ch])
		}
	}
	// Scalar on the left, equal shapes.
	add := buildOp(t, opSpec{opType: "Sub", nInputs: 2})
	s := fwd(t, add, ft(sh(), 2), x)[0]
	e := fwd(t, add, x, x)[0]
	for i := range x.F {
		if s.F[i] != 2-x.F[i] || e.F[i] != 0 {
			t.Fatalf("element %d: %v %v", i, s.F[i], e.F[i])
		}
	}
}

func TestElementwiseGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	cases := []struct {
		op  string
		in  []*tensor.Tensor
		wrt []int
	}{
		{"Add", []*tensor.Tensor{randTensor(rng, 2, 3, 4), randTensor(rng, 3, 1)}, []int{0, 1}},
		{"Sub", []*tensor.Tensor{randTensor(rng, 3, 1), randTensor(rng, 2, 3, 4)}, []int{0, 1}},
		{"Mul", []*tensor.Tensor{randTensor(rng, 2, 3, 4), randTensor(rng, 4)}, []int{0, 1}},
		{"Mul", []*tensor.Tensor{randTensor(rng, 2, 1, 4), randTensor(rng, 1, 3, 1)}, []int{0, 1}},
		{"Div", []*tensor.Tensor{randTensor(rng, 2, 3), positive(rng, 0.5, 2, 1)}, []int{0, 1}},
		{"Pow", []*tensor.Tensor{positive(rng, 0.5, 2, 3), randTensor(rng, 3)}, []int{0, 1}},
		{"Pow", []*tensor.Tensor{randTensor(rng, 2, 3), ft(sh(), 2)}, []int{0}},
		{"Max", []*tensor.Tensor{ft(sh(4), -1, 2, 0.5, 3), ft(sh(4), 1, 1, 1, 1), ft(sh(2, 1), -2, 2.5)}, []int{0, 1, 2}},
		{"Min", []*tensor.Tensor{ft(sh(4), -1, 2, 0.5, 3), ft(sh(1), 1)}, []int{0, 1}},
		{"Sum", []*tensor.Tensor{randTensor(rng, 2, 3), randTensor(rng, 3), randTensor(rng, 2, 1)}, []int{0, 1, 2}},
		{"Mean", []*tensor.Tensor{randTensor(rng, 2, 3), randTensor(rng, 3)}, []int{0, 1}},
	}
	for _, c := range cases {
		t.Run(c.op, func(t *testing.T) {
			op := buildOp(t, opSpec{opType: c.op, nInputs: len(c.in)})
			checkGradients(t, op, c.in, c.wrt, 1e-2, 1e-2)
		})
	}
}

func TestUnary(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	x := ft(sh(4), -2, -0.5, 0.5, 2)
	cases := []struct {
		op   string
		want []float64
		in   *tensor.Tensor // gradient check input; nil: no gradient check
	}{
		{"Neg", []float64{2, 0.5, -0.5, -2}, randTensor(rng, 3, 4)},
		{"Abs", []float64{2, 0.5, 0.5, 2}, awayFrom(rng, 0.1, []float64{0}, 3, 4)},
		{"Exp", []float64{math.Exp(-2), math.Exp(-0.5), math.Exp(0.5), math.Exp(2)}, randTensor(rng, 3, 4)},
		{"Erf", []float64{math.Erf(-2), math.Erf(-0.5), math.Erf(0.5), math.Erf(2)}, randTensor(rng, 3, 4)},
		{"Reciprocal", []float64{-0.5, -2, 2, 0.5}, positive(rng, 0.5, 3, 4)},
		{"Floor", []float64{-2, -1, 0, 2}, nil},
		{"Ceil", []float64{-2, -0, 1, 2}, nil},
		{"Sin", []float64{math.Sin(-2), math.Sin(-0.5), math.Sin(0.5), math.Sin(2)}, randTensor(rng, 3, 4)},
		{"Cos", []float64{math.Cos(-2), math.Cos(-0.5), math.Cos(0.5), math.Cos(2)}, randTensor(rng, 3, 4)},
		{"Sign", []float64{-1, -1, 1, 1}, nil},
	}
	for _, c := range cases {
		t.Run(c.op, func(t *testing.T) {
			op := buildOp(t, opSpec{opType: c.op, nInputs: 1})
			want := tensor.New(4)
			for i, v := range c.want {
				want.F[i] = float32(v)
			}
			wantTensor(t, fwd(t, op, x)[0], want)
			if c.in != nil {
				checkGradients(t, op, []*tensor.Tensor{c.in}, []int{0}, 1e-2, 1e-2)
			}
		})
	}
	pos := ft(sh(3), 0.25, 1, 4)
	wantTensor(t, fwd(t, buildOp(t, opSpec{opType: "Sqrt", nInputs: 1}), pos)[0], ft(sh(3), 0.5, 1, 2))
	wantTensor(t, fwd(t, buildOp(t, opSpec{opType: "Log", nInputs: 1}), pos)[0], ft(sh(3), float32(math.Log(0.25)), 0, float32(math.Log(4))))
	for _, name := range []string{"Sqrt", "Log"} {
		checkGradients(t, buildOp(t, opSpec{opType: name, nInputs: 1}), []*tensor.Tensor{positive(rng, 0.5, 3, 4)}, []int{0}, 1e-2, 1e-2)
	}
	// Zero-gradient ops return zeros.
	fl := buildOp(t, opSpec{opType: "Floor", nInputs: 1})
	g, err := fl.Backward(&RunContext{}, []*tensor.Tensor{x}, fwd(t, fl, x), nil, []*tensor.Tensor{ft(sh(4), 1, 1, 1, 1)}, []bool{true})
	if err != nil || g[0] == nil || g[0].F[0] != 0 {
		t.Errorf("Floor backward: %v, %v", g, err)
	}
	// Integer Neg and Abs.
	wantTensor(t, fwd(t, buildOp(t, opSpec{opType: "Neg", nInputs: 1}), it(sh(2), 3, -4))[0], it(sh(2), -3, 4))
	wantTensor(t, fwd(t, buildOp(t, opSpec{opType: "Abs", nInputs: 1}), it(sh(2), 3, -4))[0], it(sh(2), 3, 4))
}

func TestWhereAndNot(t *testing.T) {
	op := buildOp(t, opSpec{opType: "Where", nInputs: 3})
	cond := it(sh(2, 1), 1, 0)
	x := ft(sh(2, 2), 1, 2, 3, 4)
	y := ft(sh(2), -1, -2)
	wantTensor(t, fwd(t, op, cond, x, y)[0], ft(sh(2, 2), 1, 2, -1, -2))
	rng := rand.New(rand.NewPCG(9, 10))
	checkGradients(t, op, []*tensor.Tensor{it(sh(3, 1), 1, 0, 1), randTensor(rng, 3, 4), randTensor(rng, 4)}, []int{1, 2}, 1e-2, 1e-2)
	wantTensor(t, fwd(t, op, cond, it(sh(2), 5, 6), it(sh(), 0))[0], it(sh(2, 2), 5, 6, 0, 0))
	not := buildOp(t, opSpec{opType: "Not", nInputs: 1})
	wantTensor(t, fwd(t, not, it(sh(3), 1, 0, 1))[0], it(sh(3), 0, 1, 0))
}
