package onnxmodel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/tensor"
)

// Attribute constructors for building nodes in tests: the exported ones.
var (
	attrInt    = AttrInt
	attrInts   = AttrInts
	attrFloat  = AttrFloat
	attrString = AttrString
)

// opSpec describes one node for a test.
type opSpec struct {
	opType string
	opset  int64 // 0 means 17
	attrs  []*onnxpb.AttributeProto
	// consts marks inputs whose values the builder may read at load time
	// (shapes, axes, pads); the test passes the same tensors to Forward.
	consts  map[int]*tensor.Tensor
	nInputs int
	nOut    int // 0 means 1
}

// buildOp compiles spec into an Op or fails the test.
func buildOp(t testing.TB, spec opSpec) Op {
	t.Helper()
	b, ok := registry[spec.opType]
	if !ok {
		t.Fatalf("op %s is not registered", spec.opType)
	}
	n := &NodeInfo{Name: "test_" + spec.opType, OpType: spec.opType, Opset: spec.opset, Attrs: map[string]*onnxpb.AttributeProto{}}
	if n.Opset == 0 {
		n.Opset = 17
	}
	for _, a := range spec.attrs {
		n.Attrs[a.GetName()] = a
	}
	n.Inputs = make([]string, spec.nInputs)
	n.Const = make([]*tensor.Tensor, spec.nInputs)
	for i := range n.Inputs {
		n.Inputs[i] = "in" + string(rune('0'+i))
		if c, ok := spec.consts[i]; ok {
			n.Const[i] = c
		}
	}
	nOut := spec.nOut
	if nOut == 0 {
		nOut = 1
	}
	n.Outputs = make([]string, nOut)
	for i := range n.Outputs {
		n.Outputs[i] = "out" + string(rune('0'+i))
	}
	op, err := b(n)
	if err != nil {
		t.Fatalf("building %s: %v", spec.opType, err)
	}
	return op
}

// randTensor returns a float tensor with elements drawn from N(0,1), seeded.
func randTensor(rng *rand.Rand, shape ...int) *tensor.Tensor {
	x := tensor.New(shape...)
	for i := range x.F {
		x.F[i] = float32(rng.NormFloat64())
	}
	return x
}

// checkGradients compares op's Backward against central finite differences
// of the scalar loss L = Σ_k r_k · out_k (r random, one per output) for every
// float input listed in wrt. Elements are checked exhaustively up to 64 per
// input, then at 64 random positions. Forward runs in float32, so the step
// and tolerance are sized for it: the check is |g - fd| <= atol + rtol·|fd|.
func checkGradients(t *testing.T, op Op, in []*tensor.Tensor, wrt []int, rtol, atol float64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	rc := &RunContext{}
	out, saved, err := op.Forward(rc, in)
	if err != nil {
		t.Fatalf("forward: %v", err)
	}
	r := make([]*tensor.Tensor, len(out))
	for k, o := range out {
		if o == nil || o.DType != tensor.Float32 {
			continue
		}
		r[k] = randTensor(rng, o.Shape...)
	}
	loss := func() float64 {
		o, _, err := op.Forward(rc, in)
		if err != nil {
			t.Fatalf("forward: %v", err)
		}
		var s float64
		for k := range o {
			if r[k] == nil {
				continue
			}
			for i, v := range o[k].F {
				s += float64(v) * float64(r[k].F[i])
			}
		}
		return s
	}
	need := make([]bool, len(in))
	for _, i := range wrt {
		need[i] = true
	}
	cloned := func() []*tensor.Tensor {
		c := make([]*tensor.Tensor, len(r))
		for k, v := range r {
			if v != nil {
				c[k] = v.Clone()
			}
		}
		return c
	}
	grads, err := op.Backward(rc, in, out, saved, cloned(), need)
	if err != nil {
		t.Fatalf("backward: %v", err)
	}
	// A rule may run again on the same forward pass (InputGradients runs
	// one backward pass per seed over one tape): it must not have written
	// into its inputs, outputs or saved value.
	again, err := op.Backward(rc, in, out, saved, cloned(), need)
	if err != nil {
		t.Fatalf("second backward: %v", err)
	}
	for _, i := range wrt {
		if i < len(grads) && grads[i] != nil && (i >= len(again) || sameTensor(again[i], grads[i], 0, 0) != nil) {
			t.Fatalf("input %d: a second backward pass over the same forward pass gives another gradient", i)
		}
	}
	for _, i := range wrt {
		if i >= len(grads) || grads[i] == nil {
			t.Fatalf("input %d: no gradient returned", i)
		}
		g := grads[i]
		if !tensor.SameShape(g.Shape, in[i].Shape) {
			t.Fatalf("input %d: gradient shape %v, input shape %v", i, g.Shape, in[i].Shape)
		}
		positions := make([]int, 0, 64)
		if n := in[i].Len(); n <= 64 {
			for p := 0; p < n; p++ {
				positions = append(positions, p)
			}
		} else {
			for p := 0; p < 64; p++ {
				positions = append(positions, rng.IntN(n))
			}
		}
		for _, p := range positions {
			orig := in[i].F[p]
			h := float32(1e-2) * float32(math.Max(1, math.Abs(float64(orig))))
			in[i].F[p] = orig + h
			lp := loss()
			in[i].F[p] = orig - h
			lm := loss()
			in[i].F[p] = orig
			fd := (lp - lm) / (2 * float64(h))
			got := float64(g.F[p])
			if math.Abs(got-fd) > atol+rtol*math.Abs(fd) {
				t.Errorf("input %d element %d: backward %.6g, finite difference %.6g", i, p, got, fd)
			}
		}
	}
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
