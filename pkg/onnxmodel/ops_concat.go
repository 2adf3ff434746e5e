package onnxmodel

// Join and cut ops: Concat and Split.

import (
	"fmt"

	"github.com/advtest/advtest/pkg/tensor"
)

func init() {
	register("Concat", buildConcat)
	register("Split", buildSplit)
}

// concatOp joins its inputs along axis (negative counts from the end).
type concatOp struct {
	axis int64
}

func buildConcat(n *NodeInfo) (Op, error) {
	if len(n.Inputs) < 1 {
		return nil, n.errorf("expected at least 1 input, got 0")
	}
	if !n.Has("axis") && n.Opset >= 4 {
		return nil, n.errorf("attribute axis: required")
	}
	axis, err := n.Int("axis", 1)
	if err != nil {
		return nil, err
	}
	return &concatOp{axis: axis}, nil
}

// layout checks the inputs and returns the axis, the output shape, the
// product of the dimensions before axis, and each input's chunk length
// (its dims from axis on, multiplied).
func (o *concatOp) layout(in []*tensor.Tensor) (int, []int, int, []int, error) {
	if err := checkInputs(in, len(in)); err != nil {
		return 0, nil, 0, nil, err
	}
	if len(in) == 0 {
		return 0, nil, 0, nil, fmt.Errorf("no inputs")
	}
	first := in[0]
	ax, err := normAxis(o.axis, first.Rank())
	if err != nil {
		return 0, nil, 0, nil, fmt.Errorf("attribute axis: %v", err)
	}
	shape := append([]int(nil), first.Shape...)
	shape[ax] = 0
	chunks := make([]int, len(in))
	for k, t := range in {
		if t.DType != first.DType || t.Rank() != first.Rank() {
			return 0, nil, 0, nil, fmt.Errorf("input %d is %s, input 0 is %s", k, t, first)
		}
		for d := range t.Shape {
			if d != ax && t.Shape[d] != first.Shape[d] {
				return 0, nil, 0, nil, fmt.Errorf("input %d shape %v does not match input 0 shape %v off axis %d", k, t.Shape, first.Shape, ax)
			}
		}
		shape[ax] += t.Shape[ax]
		chunks[k] = tensor.Numel(t.Shape[ax:])
	}
	return ax, shape, tensor.Numel(shape[:ax]), chunks, nil
}

// Forward copies each input's chunks into place.
func (o *concatOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	_, shape, outer, chunks, err := o.layout(in)
	if err != nil {
		return nil, nil, err
	}
	out := allocLike(rc, in[0].DType, shape)
	row := 0
	for _, c := range chunks {
		row += c
	}
	off := 0
	for k, t := range in {
		c := chunks[k]
		for i := 0; i < outer; i++ {
			if t.DType == tensor.Int64 {
				copy(out.I[i*row+off:i*row+off+c], t.I[i*c:(i+1)*c])
			} else {
				copy(out.F[i*row+off:i*row+off+c], t.F[i*c:(i+1)*c])
			}
		}
		off += c
	}
	return []*tensor.Tensor{out}, nil, nil
}

// Backward cuts the gradient back into the inputs' pieces.
func (o *concatOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	_, shape, outer, chunks, err := o.layout(in)
	if err != nil {
		return nil, err
	}
	grads := zeroGrads(rc, in, need)
	if len(gOut) == 0 || gOut[0] == nil {
		return grads, nil
	}
	g := gOut[0]
	if !tensor.SameShape(g.Shape, shape) {
		return nil, fmt.Errorf("gradient shape %v, output shape %v", g.Shape, shape)
	}
	row := tensor.Numel(shape) / max(outer, 1)
	off := 0
	for k := range in {
		c := chunks[k]
		if gk := grads[k]; gk != nil {
			for i := 0; i < outer; i++ {
				copy(gk.F[i*c:(i+1)*c], g.F[i*row+off:i*row+off+c])
			}
		}
		off += c
	}
	return grads, nil
}

// splitOp cuts its input along axis into len(outputs) pieces: sizes from
// the split attribute (opset < 13) or input (from 13), else equal pieces
// (num_outputs from opset 18, where the last piece may be smaller).
type splitOp struct {
	axis       int64
	nOut       int
	attrSplit  []int64
	splitInput bool
	numOutputs int64
}

func buildSplit(n *NodeInfo) (Op, error) {
	op := &splitOp{nOut: len(n.Outputs)}
	if op.nOut < 1 {
		return nil, n.errorf("expected at least 1 output")
	}
	var err error
	if op.axis, err = n.Int("axis", 0); err != nil {
		return nil, err
	}
	if n.Opset >= 13 {
		op.splitInput = true
		if n.Has("split") {
			return nil, n.errorf("attribute split: not allowed from opset 13, pass it as input 1")
		}
		if len(n.Inputs) < 1 || len(n.Inputs) > 2 {
			return nil, n.errorf("expected 1 or 2 inputs, got %d", len(n.Inputs))
		}
	} else {
		if op.attrSplit, err = n.Ints("split", nil); err != nil {
			return nil, err
		}
		if len(n.Inputs) == 2 && n.Opset < 2 {
			op.splitInput = true
		} else if len(n.Inputs) != 1 {
			return nil, n.errorf("expected 1 input, got %d", len(n.Inputs))
		}
	}
	if n.Opset >= 18 && n.Has("num_outputs") {
		if op.numOutputs, err = n.Int("num_outputs", 0); err != nil {
			return nil, err
		}
		if op.numOutputs != int64(op.nOut) {
			return nil, n.errorf("attribute num_outputs: %d, but the node has %d outputs", op.numOutputs, op.nOut)
		}
	}
	if op.attrSplit != nil && len(op.attrSplit) != op.nOut {
		return nil, n.errorf("attribute split: %d sizes for %d outputs", len(op.attrSplit), op.nOut)
	}
	return op, nil
}

// sizes returns the axis and the size of each piece.
func (o *splitOp) sizes(in []*tensor.Tensor) (int, []int, error) {
	if err := checkInputs(in, 1); err != nil {
		return 0, nil, err
	}
	x := in[0]
	ax, err := normAxis(o.axis, x.Rank())
	if err != nil {
		return 0, nil, fmt.Errorf("attribute axis: %v", err)
	}
	dim := x.Shape[ax]
	split := o.attrSplit
	if o.splitInput && len(in) > 1 && in[1] != nil {
		if split, err = int64sOf(in[1], "split"); err != nil {
			return 0, nil, err
		}
	}
	sizes := make([]int, o.nOut)
	if split == nil {
		if o.numOutputs > 0 {
			each := (dim + o.nOut - 1) / o.nOut
			rest := dim
			for i := range sizes {
				sizes[i] = min(each, rest)
				rest -= sizes[i]
			}
			return ax, sizes, nil
		}
		if dim%o.nOut != 0 {
			return 0, nil, fmt.Errorf("dimension %d of %v does not split into %d equal parts", dim, x.Shape, o.nOut)
		}
		for i := range sizes {
			sizes[i] = dim / o.nOut
		}
		return ax, sizes, nil
	}
	if len(split) != o.nOut {
		return 0, nil, fmt.Errorf("%d sizes for %d outputs", len(split), o.nOut)
	}
	total := 0
	for i, s := range split {
		if s < 0 {
			return 0, nil, fmt.Errorf("negative size in %v", split)
		}
		sizes[i] = int(s)
		total += int(s)
	}
	if total != dim {
		return 0, nil, fmt.Errorf("sizes %v add up to %d, dimension %d of %v is %d", split, total, ax, x.Shape, dim)
	}
	return ax, sizes, nil
}

// Forward copies each piece out.
func (o *splitOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	ax, sizes, err := o.sizes(in)
	if err != nil {
		return nil, nil, err
	}
	x := in[0]
	outer := tensor.Numel(x.Shape[:ax])
	inner := tensor.Numel(x.Shape[ax+1:])
	row := x.Shape[ax] * inner
	outs := make([]*tensor.Tensor, len(sizes))
	off := 0
	for k, s := range sizes {
		shape := append([]int(nil), x.Shape...)
		shape[ax] = s
		t := allocLike(rc, x.DType, shape)
		c := s * inner
		for i := 0; i < outer; i++ {
			if x.DType == tensor.Int64 {
				copy(t.I[i*c:(i+1)*c], x.I[i*row+off:i*row+off+c])
			} else {
				copy(t.F[i*c:(i+1)*c], x.F[i*row+off:i*row+off+c])
			}
		}
		outs[k] = t
		off += c
	}
	return outs, nil, nil
}

// Backward joins the pieces' gradients (zeros where none arrives).
func (o *splitOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, len(in))
	if len(need) == 0 || !need[0] || in[0].DType != tensor.Float32 {
		return grads, nil
	}
	ax, sizes, err := o.sizes(in)
	if err != nil {
		return nil, err
	}
	x := in[0]
	gx := rc.Alloc(x.Shape...)
	grads[0] = gx
	outer := tensor.Numel(x.Shape[:ax])
	inner := tensor.Numel(x.Shape[ax+1:])
	row := x.Shape[ax] * inner
	off := 0
	for k, s := range sizes {
		c := s * inner
		if k < len(gOut) && gOut[k] != nil {
			g := gOut[k]
			if g.Len() != outer*c {
				return nil, fmt.Errorf("gradient %d is %s, expected %d elements", k, g, outer*c)
			}
			for i := 0; i < outer; i++ {
				copy(gx.F[i*row+off:i*row+off+c], g.F[i*c:(i+1)*c])
			}
		}
		off += c
	}
	return grads, nil
}
