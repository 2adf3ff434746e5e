package onnxmodel

// Reshape-family ops: Flatten, Reshape, Squeeze, Unsqueeze, Transpose and
// Expand. Flatten, Reshape, Squeeze and Unsqueeze return outputs that share
// their input's data.

import (
	"fmt"
	"math"

	"github.com/advtest/advtest/pkg/tensor"
)

func init() {
	register("Flatten", buildFlatten)
	register("Reshape", buildReshape)
	register("Transpose", buildTranspose)
	register("Unsqueeze", func(n *NodeInfo) (Op, error) { return buildSqueeze(n, true) })
	register("Squeeze", func(n *NodeInfo) (Op, error) { return buildSqueeze(n, false) })
	register("Expand", func(n *NodeInfo) (Op, error) {
		if len(n.Inputs) != 2 {
			return nil, n.errorf("expected 2 inputs (input, shape), got %d", len(n.Inputs))
		}
		return expandOp{}, nil
	})
}

// viewOp returns its input's data under a new shape computed per run; the
// gradient is the output gradient under the input's shape.
type viewOp struct {
	shape func(in []*tensor.Tensor) ([]int, error)
}

// Forward reshapes the input without copying.
func (o *viewOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	if err := checkInputs(in, 1); err != nil {
		return nil, nil, err
	}
	shape, err := o.shape(in)
	if err != nil {
		return nil, nil, err
	}
	if tensor.Numel(shape) != in[0].Len() {
		return nil, nil, fmt.Errorf("cannot reshape %v (%d elements) to %v", in[0].Shape, in[0].Len(), shape)
	}
	return []*tensor.Tensor{in[0].Reshaped(shape...)}, nil, nil
}

// backwardReads: Backward reads shapes only (passGrad).
func (o *viewOp) backwardReads(need []bool, nOut int) (in, out []bool) { return readsNone(need, nOut) }

// Backward copies the gradient under the input's shape.
func (o *viewOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	return passGrad(rc, in, gOut, need)
}

func buildFlatten(n *NodeInfo) (Op, error) {
	if len(n.Inputs) != 1 {
		return nil, n.errorf("expected 1 input, got %d", len(n.Inputs))
	}
	axis, err := n.Int("axis", 1)
	if err != nil {
		return nil, err
	}
	return &viewOp{shape: func(in []*tensor.Tensor) ([]int, error) {
		r := in[0].Rank()
		a := axis
		if a < 0 {
			a += int64(r)
		}
		if a < 0 || a > int64(r) {
			return nil, fmt.Errorf("attribute axis: %d is out of range for rank %d", axis, r)
		}
		return []int{tensor.Numel(in[0].Shape[:a]), tensor.Numel(in[0].Shape[a:])}, nil
	}}, nil
}

func buildReshape(n *NodeInfo) (Op, error) {
	allowzero, err := n.flag("allowzero", 0)
	if err != nil {
		return nil, err
	}
	if n.Opset < 5 {
		if len(n.Inputs) != 1 {
			return nil, n.errorf("expected 1 input before opset 5, got %d", len(n.Inputs))
		}
		spec, err := n.Ints("shape", nil)
		if err != nil {
			return nil, err
		}
		return &viewOp{shape: func(in []*tensor.Tensor) ([]int, error) {
			return reshapeShape(in[0].Shape, spec, false)
		}}, nil
	}
	if len(n.Inputs) != 2 {
		return nil, n.errorf("expected 2 inputs (data, shape), got %d", len(n.Inputs))
	}
	if c := n.Const[1]; c != nil {
		if _, err := int64sOf(c, "shape"); err != nil {
			return nil, n.errorf("input shape: %v", err)
		}
	}
	return &viewOp{shape: func(in []*tensor.Tensor) ([]int, error) {
		if len(in) < 2 || in[1] == nil {
			return nil, fmt.Errorf("input shape is missing")
		}
		spec, err := int64sOf(in[1], "shape")
		if err != nil {
			return nil, err
		}
		if in[1].Rank() != 1 {
			return nil, fmt.Errorf("shape must be 1-D, got %v", in[1].Shape)
		}
		return reshapeShape(in[0].Shape, spec, allowzero)
	}}, nil
}

// reshapeShape resolves a Reshape target: 0 copies the input's dimension
// (unless allowzero), -1 is inferred from the remaining elements.
func reshapeShape(in []int, spec []int64, allowzero bool) ([]int, error) {
	out := make([]int, len(spec))
	infer := -1
	known := 1
	hasZero := false
	for i, d := range spec {
		switch {
		case d == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("shape %v has more than one -1", spec)
			}
			infer = i
			continue
		case d == 0 && !allowzero:
			if i >= len(in) {
				return nil, fmt.Errorf("shape %v copies dimension %d, but the input %v has rank %d", spec, i, in, len(in))
			}
			out[i] = in[i]
		case d < 0:
			return nil, fmt.Errorf("invalid dimension %d in shape %v", d, spec)
		case d > math.MaxInt32*2:
			return nil, fmt.Errorf("dimension %d in shape %v is too large", d, spec)
		default:
			out[i] = int(d)
		}
		if out[i] == 0 {
			hasZero = true
		}
		known *= out[i]
	}
	total := tensor.Numel(in)
	if infer >= 0 {
		if hasZero {
			if allowzero {
				return nil, fmt.Errorf("shape %v has both 0 and -1 with allowzero", spec)
			}
			return nil, fmt.Errorf("cannot infer -1 in %v for input %v: other dimensions hold no elements", spec, in)
		}
		if total%known != 0 {
			return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v", in, total, spec)
		}
		out[infer] = total / known
	} else if known != total {
		return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v", in, total, spec)
	}
	return out, nil
}

// transposeOp permutes the axes (perm; default reversed).
type transposeOp struct {
	perm []int // nil: reverse
}

func buildTranspose(n *NodeInfo) (Op, error) {
	if len(n.Inputs) != 1 {
		return nil, n.errorf("expected 1 input, got %d", len(n.Inputs))
	}
	p, err := n.Ints("perm", nil)
	if err != nil {
		return nil, err
	}
	op := &transposeOp{}
	if p != nil {
		seen := make([]bool, len(p))
		op.perm = make([]int, len(p))
		for i, v := range p {
			if v < 0 || v >= int64(len(p)) || seen[v] {
				return nil, n.errorf("attribute perm: %v is not a permutation of 0..%d", p, len(p)-1)
			}
			seen[v] = true
			op.perm[i] = int(v)
		}
	}
	return op, nil
}

func (o *transposeOp) permFor(x *tensor.Tensor) ([]int, error) {
	if o.perm == nil {
		p := make([]int, x.Rank())
		for i := range p {
			p[i] = x.Rank() - 1 - i
		}
		return p, nil
	}
	if len(o.perm) != x.Rank() {
		return nil, fmt.Errorf("perm %v has %d entries, input %v has rank %d", o.perm, len(o.perm), x.Shape, x.Rank())
	}
	return o.perm, nil
}

// permuted returns the output shape and, for each output axis, the input's
// stride along it.
func permuted(shape []int, perm []int) (outShape, inStrides []int) {
	st := tensor.Strides(shape)
	outShape = make([]int, len(perm))
	inStrides = make([]int, len(perm))
	for i, p := range perm {
		outShape[i] = shape[p]
		inStrides[i] = st[p]
	}
	return
}

// Forward copies the input into the permuted layout.
func (o *transposeOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	if err := checkInputs(in, 1); err != nil {
		return nil, nil, err
	}
	x := in[0]
	perm, err := o.permFor(x)
	if err != nil {
		return nil, nil, err
	}
	shape, src := permuted(x.Shape, perm)
	out := allocLike(rc, x.DType, shape)
	copyTensor(NewLoopPlan(shape, tensor.Strides(shape), src), out, 0, x, 0)
	return []*tensor.Tensor{out}, nil, nil
}

// Backward applies the inverse permutation to the gradient.
func (o *transposeOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	var dst []int
	return backwardAdd(rc, in, gOut, need, 1, gradShaped, func() (shape []int, err error) {
		perm, err := o.permFor(in[0])
		if err != nil {
			return nil, err
		}
		shape, dst = permuted(in[0].Shape, perm)
		return shape, nil
	}, func(gx, g *tensor.Tensor) {
		copyTensor(NewLoopPlan(g.Shape, dst, tensor.Strides(g.Shape)), gx, 0, g, 0)
	})
}

// buildSqueeze builds Unsqueeze (insert size-1 axes) or Squeeze (remove
// size-1 axes; all of them when axes is absent). Axes are an attribute
// before opset 13 and optional input 1 from 13.
func buildSqueeze(n *NodeInfo, unsqueeze bool) (Op, error) {
	fromInput := n.Opset >= 13
	var attr []int64
	if fromInput {
		if n.Has("axes") {
			return nil, n.errorf("attribute axes: not allowed from opset 13, pass axes as input 1")
		}
		if len(n.Inputs) < 1 || len(n.Inputs) > 2 || (unsqueeze && len(n.Inputs) != 2) {
			return nil, n.errorf("expected %s inputs, got %d", map[bool]string{true: "2 (data, axes)", false: "1 or 2"}[unsqueeze], len(n.Inputs))
		}
	} else {
		if len(n.Inputs) != 1 {
			return nil, n.errorf("expected 1 input before opset 13, got %d", len(n.Inputs))
		}
		var err error
		if attr, err = n.Ints("axes", nil); err != nil {
			return nil, err
		}
		if unsqueeze && attr == nil {
			return nil, n.errorf("attribute axes: required")
		}
	}
	return &viewOp{shape: func(in []*tensor.Tensor) ([]int, error) {
		axes := attr
		if fromInput && len(in) > 1 && in[1] != nil {
			var err error
			if axes, err = int64sOf(in[1], "axes"); err != nil {
				return nil, err
			}
		}
		x := in[0]
		if unsqueeze {
			r := x.Rank() + len(axes)
			ax, err := normAxes(axes, r)
			if err != nil {
				return nil, fmt.Errorf("axes: %v", err)
			}
			ins := make([]bool, r)
			for _, a := range ax {
				ins[a] = true
			}
			shape := make([]int, r)
			j := 0
			for i := range shape {
				if ins[i] {
					shape[i] = 1
				} else {
					shape[i] = x.Shape[j]
					j++
				}
			}
			return shape, nil
		}
		drop := make([]bool, x.Rank())
		if axes == nil {
			for i, d := range x.Shape {
				drop[i] = d == 1
			}
		} else {
			ax, err := normAxes(axes, x.Rank())
			if err != nil {
				return nil, fmt.Errorf("axes: %v", err)
			}
			for _, a := range ax {
				if x.Shape[a] != 1 {
					return nil, fmt.Errorf("axis %d of %v has size %d, not 1", a, x.Shape, x.Shape[a])
				}
				drop[a] = true
			}
		}
		shape := []int{}
		for i, d := range x.Shape {
			if !drop[i] {
				shape = append(shape, d)
			}
		}
		return shape, nil
	}}, nil
}

// expandOp is Expand: broadcasts the input with the shape input (numpy
// rules, both ways).
type expandOp struct{}

func (expandOp) shape(in []*tensor.Tensor) ([]int, error) {
	if err := checkInputs(in, 2); err != nil {
		return nil, err
	}
	dims, err := int64sOf(in[1], "shape")
	if err != nil {
		return nil, err
	}
	s, err := shapeFromInts(dims)
	if err != nil {
		return nil, fmt.Errorf("%v", err)
	}
	out, err := tensor.BroadcastShape(in[0].Shape, s)
	if err != nil {
		return nil, fmt.Errorf("%v", err)
	}
	n64 := make([]int64, len(out))
	for i, d := range out {
		n64[i] = int64(d)
	}
	if _, err := checkedNumel(n64); err != nil {
		return nil, fmt.Errorf("%v", err)
	}
	return out, nil
}

// Forward broadcasts the input.
func (e expandOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	shape, err := e.shape(in)
	if err != nil {
		return nil, nil, err
	}
	out := allocLike(rc, in[0].DType, shape)
	BroadcastTo(out, in[0])
	return []*tensor.Tensor{out}, nil, nil
}

// Backward sums the gradient over the broadcast axes.
func (e expandOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, len(in))
	if len(need) == 0 || !need[0] || in[0].DType != tensor.Float32 {
		return grads, nil
	}
	shape, err := e.shape(in)
	if err != nil {
		return nil, err
	}
	if len(gOut) == 0 || gOut[0] == nil {
		grads[0] = rc.Alloc(in[0].Shape...)
		return grads, nil
	}
	if !tensor.SameShape(gOut[0].Shape, shape) {
		return nil, fmt.Errorf("gradient shape %v, output shape %v", gOut[0].Shape, shape)
	}
	grads[0] = reduceTo(rc, gOut[0], in[0].Shape, false, 1)
	return grads, nil
}
