package onnxmodel

import (
	"fmt"
	"math"
	"testing"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/tensor"
)

// TestNewOpsHostileInputs feeds every combination of a pool of awkward
// tensors (empty, scalar, NaN, negative and huge integers, mismatched
// shapes, missing optional inputs) to the ops of the newer op files: each
// must return an error or outputs, never panic, and its backward must not
// panic either.
func TestNewOpsHostileInputs(t *testing.T) {
	nan := float32(math.NaN())
	pool := []*tensor.Tensor{
		nil,
		ft(sh(), 2.5),
		it(sh(), 3),
		ft(sh(0)),
		it(sh(0)),
		it(sh(1), -7),
		it(sh(1), 1<<40),
		ft(sh(4), 1, nan, -2, 0.5),
		it(sh(2), 2, -1),
		ft(sh(2), 0.5, -1),
		ft(sh(2, 2), 1, 2, 3, 4),
		it(sh(4), 1, 1, 2, 3),
		ft(sh(2, 3), 1, -2, 3, 0, 5, -6),
		it(sh(2, 3), 0, 1, -1, 2, 1, 0),
		it(sh(2, 1), 1, 0),
		ft(sh(1, 4, 2, 2), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16),
	}
	type spec struct {
		op    string
		opset int64
		nIn   int
		attrs []*onnxpb.AttributeProto
		nOut  int
	}
	specs := []spec{
		{"HardSwish", 14, 1, nil, 1}, {"Mish", 18, 1, nil, 1}, {"Celu", 12, 1, nil, 1},
		{"ThresholdedRelu", 10, 1, nil, 1}, {"Gelu", 20, 1, attrsOf(attrString("approximate", "tanh")), 1},
		{"And", 7, 2, nil, 1}, {"Xor", 7, 2, nil, 1}, {"Mod", 13, 2, nil, 1}, {"Mod", 13, 2, attrsOf(attrInt("fmod", 1)), 1},
		{"Range", 11, 3, nil, 1}, {"ScatterND", 16, 3, attrsOf(attrString("reduction", "add")), 1}, {"ScatterND", 13, 3, nil, 1},
		{"GatherElements", 13, 2, attrsOf(attrInt("axis", -1)), 1}, {"GatherND", 13, 2, nil, 1},
		{"GatherND", 13, 2, attrsOf(attrInt("batch_dims", 1)), 1},
		{"ArgMax", 13, 1, attrsOf(attrInt("axis", 1)), 1}, {"ArgMin", 13, 1, attrsOf(attrInt("keepdims", 0)), 1},
		{"TopK", 11, 2, nil, 2}, {"Tile", 13, 2, nil, 1}, {"CumSum", 14, 2, nil, 1}, {"Trilu", 14, 2, nil, 1},
		{"OneHot", 11, 3, nil, 1}, {"NonZero", 13, 1, nil, 1},
		{"Resize", 13, 4, attrsOf(attrString("mode", "linear")), 1}, {"Resize", 13, 4, nil, 1},
		{"Resize", 18, 4, attrsOf(attrString("mode", "cubic"), attrInt("antialias", 1), attrInts("axes", 2, 3)), 1},
		{"Resize", 13, 4, attrsOf(attrString("coordinate_transformation_mode", "tf_crop_and_resize")), 1},
		{"Resize", 10, 2, nil, 1}, {"Upsample", 9, 2, nil, 1},
		{"DepthToSpace", 13, 1, attrsOf(attrInt("blocksize", 2)), 1}, {"SpaceToDepth", 13, 1, attrsOf(attrInt("blocksize", 2)), 1},
		{"InstanceNormalization", 13, 3, nil, 1}, {"GroupNormalization", 18, 3, attrsOf(attrInt("num_groups", 2)), 1},
		{"GroupNormalization", 21, 3, attrsOf(attrInt("num_groups", 2)), 1},
		{"LRN", 13, 1, attrsOf(attrInt("size", 3)), 1},
		{"Einsum", 12, 2, attrsOf(attrString("equation", "...ij,jk->...ik")), 1}, {"Einsum", 12, 1, attrsOf(attrString("equation", "ii->i")), 1},
	}
	for _, s := range specs {
		op := buildOp(t, opSpec{opType: s.op, opset: s.opset, nInputs: s.nIn, attrs: s.attrs, nOut: s.nOut})
		idx := make([]int, s.nIn)
		ran, ok := 0, 0
		for {
			in := make([]*tensor.Tensor, s.nIn)
			for i, k := range idx {
				in[i] = pool[k]
			}
			succeeded, err := noPanic(op, in)
			if err != nil {
				t.Errorf("%s opset %d, inputs %v: %v", s.op, s.opset, in, err)
			}
			ran++
			if succeeded {
				ok++
			}
			// Next combination.
			i := 0
			for ; i < s.nIn; i++ {
				idx[i]++
				if idx[i] < len(pool) {
					break
				}
				idx[i] = 0
			}
			if i == s.nIn {
				break
			}
		}
		if ok == 0 {
			t.Errorf("%s opset %d: none of %d input combinations ran (the pool no longer exercises it)", s.op, s.opset, ran)
		}
		t.Logf("%s opset %d: %d of %d input combinations ran", s.op, s.opset, ok, ran)
	}
}

// noPanic runs op forward and, when that succeeds, backward with every
// gradient asked for; it turns a panic into an error.
func noPanic(op Op, in []*tensor.Tensor) (ok bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	rc := &RunContext{}
	out, saved, ferr := op.Forward(rc, in)
	if ferr != nil {
		return false, nil
	}
	g := make([]*tensor.Tensor, len(out))
	for k, o := range out {
		if o != nil && o.DType == tensor.Float32 {
			g[k] = tensor.New(o.Shape...)
			for i := range g[k].F {
				g[k].F[i] = 1
			}
		}
	}
	need := make([]bool, len(in))
	for i := range need {
		need[i] = true
	}
	_, _ = op.Backward(rc, in, out, saved, g, need)
	return true, nil
}
