package onnxmodel

import (
	"math/rand/v2"
	"testing"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/tensor"
)

// indexCase is one forward case: the op, its attributes and opset, the
// inputs and the hand-computed outputs.
type indexCase struct {
	name  string
	op    string
	opset int64
	attrs []*onnxpb.AttributeProto
	in    []*tensor.Tensor
	want  []*tensor.Tensor
}

func runIndexCases(t *testing.T, cases []indexCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op := buildOp(t, opSpec{opType: c.op, opset: c.opset, nInputs: len(c.in), nOut: len(c.want), attrs: c.attrs})
			out := fwd(t, op, c.in...)
			for k, w := range c.want {
				wantTensor(t, out[k], w)
			}
		})
	}
}

func TestIndexOpsForward(t *testing.T) {
	x23 := ft(sh(2, 3), 1, 5, 3, 4, 2, 6)
	runIndexCases(t, []indexCase{
		{"range int", "Range", 11, nil, []*tensor.Tensor{it(sh(), 3), it(sh(), 10), it(sh(), 3)}, []*tensor.Tensor{it(sh(3), 3, 6, 9)}},
		{"range negative", "Range", 11, nil, []*tensor.Tensor{it(sh(), 10), it(sh(), 6), it(sh(), -3)}, []*tensor.Tensor{it(sh(2), 10, 7)}},
		{"range empty", "Range", 11, nil, []*tensor.Tensor{it(sh(), 5), it(sh(), 1), it(sh(), 1)}, []*tensor.Tensor{it(sh(0))}},
		{"range float", "Range", 11, nil, []*tensor.Tensor{ft(sh(), 1), ft(sh(), 2), ft(sh(), 0.25)}, []*tensor.Tensor{ft(sh(4), 1, 1.25, 1.5, 1.75)}},
		{"scatternd", "ScatterND", 13, nil,
			[]*tensor.Tensor{ft(sh(4, 2), 1, 2, 3, 4, 5, 6, 7, 8), it(sh(2, 1), 3, -4), ft(sh(2, 2), 10, 11, 12, 13)},
			[]*tensor.Tensor{ft(sh(4, 2), 12, 13, 3, 4, 5, 6, 10, 11)}},
		{"scatternd elements", "ScatterND", 13, nil,
			[]*tensor.Tensor{ft(sh(2, 2), 1, 2, 3, 4), it(sh(2, 2), 0, 1, 1, 0), ft(sh(2), 9, 8)},
			[]*tensor.Tensor{ft(sh(2, 2), 1, 9, 8, 4)}},
		{"scatternd add", "ScatterND", 16, attrsOf(attrString("reduction", "add")),
			[]*tensor.Tensor{it(sh(3), 1, 2, 3), it(sh(3, 1), 0, 2, 0), it(sh(3), 10, 20, 30)},
			[]*tensor.Tensor{it(sh(3), 41, 2, 23)}},
		{"scatternd mul", "ScatterND", 16, attrsOf(attrString("reduction", "mul")),
			[]*tensor.Tensor{ft(sh(3), 1, 2, 3), it(sh(2, 1), 1, 1), ft(sh(2), 2, 3)},
			[]*tensor.Tensor{ft(sh(3), 1, 12, 3)}},
		{"scatternd max", "ScatterND", 18, attrsOf(attrString("reduction", "max")),
			[]*tensor.Tensor{ft(sh(3), 1, 2, 3), it(sh(2, 1), 0, 2), ft(sh(2), 5, -1)},
			[]*tensor.Tensor{ft(sh(3), 5, 2, 3)}},
		{"gathernd", "GatherND", 13, nil,
			[]*tensor.Tensor{ft(sh(2, 2), 0, 1, 2, 3), it(sh(2, 1), 1, 0)},
			[]*tensor.Tensor{ft(sh(2, 2), 2, 3, 0, 1)}},
		{"gathernd elements", "GatherND", 13, nil,
			[]*tensor.Tensor{it(sh(2, 2), 0, 1, 2, 3), it(sh(2, 2), 0, 0, 1, 1)},
			[]*tensor.Tensor{it(sh(2), 0, 3)}},
		{"gathernd batch", "GatherND", 13, attrsOf(attrInt("batch_dims", 1)),
			[]*tensor.Tensor{ft(sh(2, 2, 2), 0, 1, 2, 3, 4, 5, 6, 7), it(sh(2, 1), 1, 0)},
			[]*tensor.Tensor{ft(sh(2, 2), 2, 3, 4, 5)}},
		{"gatherelements axis1", "GatherElements", 13, attrsOf(attrInt("axis", 1)),
			[]*tensor.Tensor{ft(sh(2, 2), 1, 2, 3, 4), it(sh(2, 2), 0, 0, 1, 0)},
			[]*tensor.Tensor{ft(sh(2, 2), 1, 1, 4, 3)}},
		{"gatherelements axis0 negative", "GatherElements", 13, nil,
			[]*tensor.Tensor{ft(sh(3, 2), 1, 2, 3, 4, 5, 6), it(sh(1, 2), -1, 0)},
			[]*tensor.Tensor{ft(sh(1, 2), 5, 2)}},
		{"argmax", "ArgMax", 13, attrsOf(attrInt("axis", 1)), []*tensor.Tensor{x23}, []*tensor.Tensor{it(sh(2, 1), 1, 2)}},
		{"argmin nokeep", "ArgMin", 13, attrsOf(attrInt("axis", 0), attrInt("keepdims", 0)), []*tensor.Tensor{x23}, []*tensor.Tensor{it(sh(3), 0, 1, 0)}},
		{"argmax ties", "ArgMax", 13, attrsOf(attrInt("axis", -1)), []*tensor.Tensor{it(sh(4), 2, 7, 7, 1)}, []*tensor.Tensor{it(sh(1), 1)}},
		{"argmax ties last", "ArgMax", 13, attrsOf(attrInt("select_last_index", 1)), []*tensor.Tensor{it(sh(4), 2, 7, 7, 1)}, []*tensor.Tensor{it(sh(1), 2)}},
		{"topk", "TopK", 11, nil, []*tensor.Tensor{ft(sh(2, 4), 1, 4, 4, 2, 0, -1, 3, 3), it(sh(1), 2)},
			[]*tensor.Tensor{ft(sh(2, 2), 4, 4, 3, 3), it(sh(2, 2), 1, 2, 2, 3)}},
		{"topk smallest axis0", "TopK", 11, attrsOf(attrInt("axis", 0), attrInt("largest", 0)), []*tensor.Tensor{x23, it(sh(1), 1)},
			[]*tensor.Tensor{ft(sh(1, 3), 1, 2, 3), it(sh(1, 3), 0, 1, 0)}},
		{"topk opset1", "TopK", 1, attrsOf(attrInt("k", 1)), []*tensor.Tensor{x23},
			[]*tensor.Tensor{ft(sh(2, 1), 5, 6), it(sh(2, 1), 1, 2)}},
		{"tile", "Tile", 13, nil, []*tensor.Tensor{ft(sh(2, 1), 1, 2), it(sh(2), 2, 3)},
			[]*tensor.Tensor{ft(sh(4, 3), 1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2)}},
		{"tile zero", "Tile", 13, nil, []*tensor.Tensor{it(sh(2, 1), 1, 2), it(sh(2), 0, 3)}, []*tensor.Tensor{it(sh(0, 3))}},
		{"tile 3d", "Tile", 13, nil, []*tensor.Tensor{it(sh(1, 2, 1), 1, 2), it(sh(3), 2, 1, 2)},
			[]*tensor.Tensor{it(sh(2, 2, 2), 1, 1, 2, 2, 1, 1, 2, 2)}},
		{"cumsum", "CumSum", 14, nil, []*tensor.Tensor{x23, it(sh(), 1)}, []*tensor.Tensor{ft(sh(2, 3), 1, 6, 9, 4, 6, 12)}},
		{"cumsum excl rev", "CumSum", 14, attrsOf(attrInt("exclusive", 1), attrInt("reverse", 1)), []*tensor.Tensor{it(sh(4), 1, 2, 3, 4), it(sh(1), 0)},
			[]*tensor.Tensor{it(sh(4), 9, 7, 4, 0)}},
		{"triu", "Trilu", 14, nil, []*tensor.Tensor{x23}, []*tensor.Tensor{ft(sh(2, 3), 1, 5, 3, 0, 2, 6)}},
		{"triu k1", "Trilu", 14, nil, []*tensor.Tensor{x23, it(sh(), 1)}, []*tensor.Tensor{ft(sh(2, 3), 0, 5, 3, 0, 0, 6)}},
		{"tril k-1", "Trilu", 14, attrsOf(attrInt("upper", 0)), []*tensor.Tensor{x23, it(sh(), -1)}, []*tensor.Tensor{ft(sh(2, 3), 0, 0, 0, 4, 0, 0)}},
		{"onehot", "OneHot", 11, nil, []*tensor.Tensor{it(sh(3), 0, -1, 5), it(sh(), 3), ft(sh(2), 0, 1)},
			[]*tensor.Tensor{ft(sh(3, 3), 1, 0, 0, 0, 0, 1, 0, 0, 0)}},
		{"onehot axis0", "OneHot", 11, attrsOf(attrInt("axis", 0)), []*tensor.Tensor{ft(sh(2), 1, 0), ft(sh(), 2), it(sh(2), 3, 7)},
			[]*tensor.Tensor{it(sh(2, 2), 3, 7, 7, 3)}},
		{"nonzero", "NonZero", 13, nil, []*tensor.Tensor{ft(sh(2, 2), 1, 0, 0, 3)}, []*tensor.Tensor{it(sh(2, 2), 0, 1, 0, 1)}},
		{"nonzero none", "NonZero", 13, nil, []*tensor.Tensor{it(sh(3), 0, 0, 0)}, []*tensor.Tensor{it(sh(1, 0))}},
	})
}

func TestIndexOpsGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	distinct := func(shape ...int) *tensor.Tensor {
		x := tensor.New(shape...)
		perm := rng.Perm(x.Len())
		for i := range x.F {
			x.F[i] = float32(perm[i]) * 0.37
		}
		return x
	}
	// shifted is distinct(shape) moved by 0.15, so that it ties with no
	// value of a distinct tensor (those are multiples of 0.37).
	shifted := func(shape ...int) *tensor.Tensor {
		x := distinct(shape...)
		for i := range x.F {
			x.F[i] += 0.15
		}
		return x
	}
	cases := []struct {
		name  string
		op    string
		opset int64
		attrs []*onnxpb.AttributeProto
		in    []*tensor.Tensor
		wrt   []int
		nOut  int
	}{
		// Index 1 is written twice: only the later update gets its gradient.
		{"scatternd", "ScatterND", 13, nil, []*tensor.Tensor{randTensor(rng, 4, 3), it(sh(3, 1), 1, 3, 1), randTensor(rng, 3, 3)}, []int{0, 2}, 1},
		{"scatternd add", "ScatterND", 16, attrsOf(attrString("reduction", "add")), []*tensor.Tensor{randTensor(rng, 4, 3), it(sh(3, 1), 1, 3, 1), randTensor(rng, 3, 3)}, []int{0, 2}, 1},
		{"scatternd mul", "ScatterND", 16, attrsOf(attrString("reduction", "mul")), []*tensor.Tensor{randTensor(rng, 4, 3), it(sh(3, 1), 1, 3, 1), randTensor(rng, 3, 3)}, []int{0, 2}, 1},
		{"scatternd max", "ScatterND", 18, attrsOf(attrString("reduction", "max")), []*tensor.Tensor{distinct(4, 3), it(sh(3, 1), 1, 3, 1), shifted(3, 3)}, []int{0, 2}, 1},
		{"scatternd min", "ScatterND", 18, attrsOf(attrString("reduction", "min")), []*tensor.Tensor{distinct(4, 3), it(sh(3, 1), 1, 3, 1), shifted(3, 3)}, []int{0, 2}, 1},
		{"gathernd", "GatherND", 13, nil, []*tensor.Tensor{randTensor(rng, 3, 2, 2), it(sh(3, 2), 0, 1, 2, 0, 0, 1)}, []int{0}, 1},
		{"gathernd batch", "GatherND", 13, attrsOf(attrInt("batch_dims", 1)), []*tensor.Tensor{randTensor(rng, 2, 3, 2), it(sh(2, 2, 1), 2, 2, 0, 1)}, []int{0}, 1},
		{"gatherelements", "GatherElements", 13, attrsOf(attrInt("axis", 1)), []*tensor.Tensor{randTensor(rng, 2, 3), it(sh(2, 4), 0, 2, 2, -1, 1, 0, 0, 1)}, []int{0}, 1},
		{"topk", "TopK", 11, nil, []*tensor.Tensor{distinct(3, 5), it(sh(1), 2)}, []int{0}, 2},
		{"topk axis0 smallest", "TopK", 11, attrsOf(attrInt("axis", 0), attrInt("largest", 0)), []*tensor.Tensor{distinct(3, 5), it(sh(1), 2)}, []int{0}, 2},
		{"tile", "Tile", 13, nil, []*tensor.Tensor{randTensor(rng, 2, 3), it(sh(2), 3, 2)}, []int{0}, 1},
		{"tile 3d", "Tile", 13, nil, []*tensor.Tensor{randTensor(rng, 2, 1, 3), it(sh(3), 1, 4, 2)}, []int{0}, 1},
		{"cumsum", "CumSum", 14, nil, []*tensor.Tensor{randTensor(rng, 3, 4), it(sh(), 1)}, []int{0}, 1},
		{"cumsum excl rev", "CumSum", 14, attrsOf(attrInt("exclusive", 1), attrInt("reverse", 1)), []*tensor.Tensor{randTensor(rng, 3, 4), it(sh(), 0)}, []int{0}, 1},
		{"trilu", "Trilu", 14, attrsOf(attrInt("upper", 0)), []*tensor.Tensor{randTensor(rng, 2, 3, 4), it(sh(), 1)}, []int{0}, 1},
		{"onehot values", "OneHot", 11, nil, []*tensor.Tensor{it(sh(3), 0, 2, 9), it(sh(), 3), ft(sh(2), -0.5, 2)}, []int{2}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op := buildOp(t, opSpec{opType: c.op, opset: c.opset, nInputs: len(c.in), attrs: c.attrs, nOut: c.nOut})
			checkGradients(t, op, c.in, c.wrt, 1e-2, 1e-2)
		})
	}
}

func TestIndexOpsErrors(t *testing.T) {
	buildErr := []struct {
		op    string
		opset int64
		nIn   int
		attrs []*onnxpb.AttributeProto
	}{
		{"ScatterND", 13, 3, attrsOf(attrString("reduction", "add"))},
		{"ScatterND", 16, 3, attrsOf(attrString("reduction", "max"))},
		{"ScatterND", 18, 3, attrsOf(attrString("reduction", "sum"))},
		{"GatherND", 13, 2, attrsOf(attrInt("batch_dims", -1))},
		{"ArgMax", 13, 1, attrsOf(attrInt("keepdims", 2))},
		{"TopK", 11, 2, attrsOf(attrInt("largest", 3))},
		{"TopK", 1, 1, nil},
		{"CumSum", 14, 2, attrsOf(attrInt("reverse", 5))},
		{"Trilu", 14, 1, attrsOf(attrInt("upper", -1))},
		{"Tile", 13, 3, nil},
		{"Range", 11, 2, nil},
	}
	for _, c := range buildErr {
		n := &NodeInfo{Name: "bad", OpType: c.op, Opset: c.opset, Inputs: make([]string, c.nIn), Outputs: []string{"a", "b"}, Attrs: attrMap(c.attrs...)}
		if _, err := registry[c.op](n); err == nil {
			t.Errorf("%s opset %d %v: no build error", c.op, c.opset, c.attrs)
		}
	}
	runErr := []struct {
		op string
		in []*tensor.Tensor
	}{
		{"Range", []*tensor.Tensor{it(sh(), 0), it(sh(), 5), it(sh(), 0)}},
		{"Range", []*tensor.Tensor{it(sh(), 0), ft(sh(), 5), it(sh(), 1)}},
		{"ScatterND", []*tensor.Tensor{ft(sh(2), 1, 2), it(sh(1, 1), 2), ft(sh(1), 1)}},
		{"ScatterND", []*tensor.Tensor{ft(sh(2), 1, 2), it(sh(1, 1), 0), ft(sh(2), 1, 1)}},
		{"GatherND", []*tensor.Tensor{ft(sh(2), 1, 2), it(sh(1, 2), 0, 0)}},
		{"GatherElements", []*tensor.Tensor{ft(sh(2, 2), 1, 2, 3, 4), it(sh(2), 0, 0)}},
		{"GatherElements", []*tensor.Tensor{ft(sh(2, 2), 1, 2, 3, 4), it(sh(1, 1), 5)}},
		{"TopK", []*tensor.Tensor{ft(sh(2), 1, 2), it(sh(1), 3)}},
		{"Tile", []*tensor.Tensor{ft(sh(2), 1, 2), it(sh(2), 1, 1)}},
		{"Tile", []*tensor.Tensor{ft(sh(2), 1, 2), it(sh(1), -1)}},
		{"CumSum", []*tensor.Tensor{ft(sh(2), 1, 2), it(sh(), 1)}},
		{"Trilu", []*tensor.Tensor{ft(sh(2), 1, 2)}},
		{"OneHot", []*tensor.Tensor{it(sh(1), 0), it(sh(), 0), ft(sh(2), 0, 1)}},
		{"OneHot", []*tensor.Tensor{it(sh(1), 0), it(sh(), 2), ft(sh(3), 0, 1, 2)}},
	}
	for _, c := range runErr {
		opset := int64(14)
		op := buildOp(t, opSpec{opType: c.op, opset: opset, nInputs: len(c.in), nOut: map[bool]int{true: 2, false: 1}[c.op == "TopK"]})
		if _, _, err := op.Forward(&RunContext{}, c.in); err == nil {
			t.Errorf("%s %v: no error", c.op, c.in)
		}
	}
}
