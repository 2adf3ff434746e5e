package onnxmodel

import (
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/tensor"
)

// TestBackwardAddFrame pins what the ops built on backwardAdd do around
// their rule: no gradient when input 0's is not asked for, a zero gradient
// of input 0's shape when none reaches the output, and the error for an
// output gradient of the wrong shape (gradShaped's message for Pad, Slice,
// Gather and Transpose, gradFor's for the others).
func TestBackwardAddFrame(t *testing.T) {
	const shaped, strict = "gradient shape [7], output shape", "backward: gradient"
	cases := []struct {
		op      string
		opset   int64
		attrs   []*onnxpb.AttributeProto
		in      []*tensor.Tensor
		nOut    int
		wantErr string
	}{
		{"Pad", 13, nil, []*tensor.Tensor{ft(sh(2, 2), 1, 2, 3, 4), it(sh(4), 1, 1, 1, 1)}, 1, shaped},
		{"Slice", 13, nil, []*tensor.Tensor{ft(sh(4), 1, 2, 3, 4), it(sh(1), 1), it(sh(1), 3)}, 1, shaped},
		{"Gather", 13, nil, []*tensor.Tensor{ft(sh(3, 2), 1, 2, 3, 4, 5, 6), it(sh(2), 0, 2)}, 1, shaped},
		{"Transpose", 13, nil, []*tensor.Tensor{ft(sh(2, 3), 1, 2, 3, 4, 5, 6)}, 1, shaped},
		{"GatherND", 13, nil, []*tensor.Tensor{ft(sh(2, 2), 1, 2, 3, 4), it(sh(2, 2), 0, 0, 1, 1)}, 1, strict},
		{"GatherElements", 13, nil, []*tensor.Tensor{ft(sh(2, 2), 1, 2, 3, 4), it(sh(2, 2), 0, 1, 1, 0)}, 1, strict},
		{"TopK", 11, nil, []*tensor.Tensor{ft(sh(4), 3, 1, 4, 2), it(sh(1), 2)}, 2, strict},
		{"Tile", 13, nil, []*tensor.Tensor{ft(sh(2), 1, 2), it(sh(1), 2)}, 1, strict},
		{"CumSum", 14, nil, []*tensor.Tensor{ft(sh(3), 1, 2, 3), it(sh(), 0)}, 1, strict},
		{"Trilu", 14, attrsOf(attrInt("upper", 0)), []*tensor.Tensor{ft(sh(2, 2), 1, 2, 3, 4)}, 1, strict},
	}
	rc := &RunContext{}
	for _, c := range cases {
		op := buildOp(t, opSpec{opType: c.op, opset: c.opset, attrs: c.attrs, nInputs: len(c.in), nOut: c.nOut})
		out, saved, err := op.Forward(rc, c.in)
		if err != nil {
			t.Fatalf("%s: forward: %v", c.op, err)
		}
		x := c.in[0]
		grads, err := op.Backward(rc, c.in, out, saved, nil, []bool{false})
		if err != nil || len(grads) != len(c.in) || grads[0] != nil {
			t.Errorf("%s: input 0 not needed: got %v, %v; want %d nil gradients", c.op, grads, err, len(c.in))
		}
		grads, err = op.Backward(rc, c.in, out, saved, nil, []bool{true})
		if err != nil || len(grads) != len(c.in) || grads[0] == nil || !tensor.SameShape(grads[0].Shape, x.Shape) {
			t.Fatalf("%s: no output gradient: got %v, %v; want a zero gradient of shape %v", c.op, grads, err, x.Shape)
		}
		for _, v := range grads[0].F {
			if v != 0 {
				t.Errorf("%s: no output gradient: gradient %v is not zero", c.op, grads[0].F)
				break
			}
		}
		_, err = op.Backward(rc, c.in, out, saved, []*tensor.Tensor{ft(sh(7), 1, 1, 1, 1, 1, 1, 1)}, []bool{true})
		if err == nil || !strings.HasPrefix(err.Error(), c.wantErr) {
			t.Errorf("%s: wrong-shaped gradient: got error %v, want one starting %q", c.op, err, c.wantErr)
		}
	}
}
