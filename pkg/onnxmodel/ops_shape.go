package onnxmodel

// Shape and data-movement ops: Flatten, Reshape, Transpose, Concat, Split,
// Slice, Gather, Shape, Size, Unsqueeze, Squeeze, Pad, Constant,
// ConstantOfShape and Expand. Flatten, Reshape, Squeeze, Unsqueeze and
// Identity return outputs that share their input's data.

import (
	"fmt"
	"math"

	"github.com/advtest/advtest/pkg/tensor"
)

func init() {
	register("Flatten", buildFlatten)
	register("Reshape", buildReshape)
	register("Transpose", buildTranspose)
	register("Concat", buildConcat)
	register("Split", buildSplit)
	register("Slice", buildSlice)
	register("Gather", buildGather)
	register("Shape", buildShape)
	register("Size", func(n *NodeInfo) (Op, error) {
		if len(n.Inputs) != 1 {
			return nil, n.errorf("expected 1 input, got %d", len(n.Inputs))
		}
		return sizeOp{}, nil
	})
	register("Unsqueeze", func(n *NodeInfo) (Op, error) { return buildSqueeze(n, true) })
	register("Squeeze", func(n *NodeInfo) (Op, error) { return buildSqueeze(n, false) })
	register("Pad", buildPad)
	register("Constant", buildConstant)
	register("ConstantOfShape", buildConstantOfShape)
	register("Expand", func(n *NodeInfo) (Op, error) {
		if len(n.Inputs) != 2 {
			return nil, n.errorf("expected 2 inputs (input, shape), got %d", len(n.Inputs))
		}
		return expandOp{}, nil
	})
}

// noGrads is the Backward of ops without differentiable inputs.
func noGrads(in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	return make([]*tensor.Tensor, len(in)), nil
}

// shapeFromInts converts a run-time shape to ints, refusing negative
// dimensions and absurd element counts.
func shapeFromInts(dims []int64) ([]int, error) {
	if _, err := checkedNumel(dims); err != nil {
		return nil, err
	}
	out := make([]int, len(dims))
	for i, d := range dims {
		out[i] = int(d)
	}
	return out, nil
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
	allowzero, err := n.Int("allowzero", 0)
	if err != nil {
		return nil, err
	}
	if allowzero != 0 && allowzero != 1 {
		return nil, n.errorf("attribute allowzero: expected 0 or 1, got %d", allowzero)
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
		return reshapeShape(in[0].Shape, spec, allowzero == 1)
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
	grads := make([]*tensor.Tensor, 1)
	if len(need) == 0 || !need[0] || in[0].DType != tensor.Float32 {
		return grads, nil
	}
	x := in[0]
	perm, err := o.permFor(x)
	if err != nil {
		return nil, err
	}
	gx := rc.Alloc(x.Shape...)
	grads[0] = gx
	if len(gOut) == 0 || gOut[0] == nil {
		return grads, nil
	}
	shape, dst := permuted(x.Shape, perm)
	if !tensor.SameShape(gOut[0].Shape, shape) {
		return nil, fmt.Errorf("gradient shape %v, output shape %v", gOut[0].Shape, shape)
	}
	copyTensor(NewLoopPlan(shape, dst, tensor.Strides(shape)), gx, 0, gOut[0], 0)
	return grads, nil
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

// sliceOp is Slice: starts, ends, axes and steps from attributes (opset <
// 10) or inputs 1 to 4 (from 10), with negative indices, clamping and
// negative steps.
type sliceOp struct {
	fromInputs                bool
	attrStarts, attrEnds, axs []int64
}

func buildSlice(n *NodeInfo) (Op, error) {
	op := &sliceOp{fromInputs: n.Opset >= 10}
	if op.fromInputs {
		if len(n.Inputs) < 3 || len(n.Inputs) > 5 {
			return nil, n.errorf("expected 3 to 5 inputs (data, starts, ends, axes, steps), got %d", len(n.Inputs))
		}
		for _, a := range []string{"starts", "ends", "axes"} {
			if n.Has(a) {
				return nil, n.errorf("attribute %s: not allowed from opset 10, pass it as an input", a)
			}
		}
		return op, nil
	}
	if len(n.Inputs) != 1 {
		return nil, n.errorf("expected 1 input before opset 10, got %d", len(n.Inputs))
	}
	var err error
	if !n.Has("starts") || !n.Has("ends") {
		return nil, n.errorf("attributes starts and ends: required before opset 10")
	}
	if op.attrStarts, err = n.Ints("starts", nil); err != nil {
		return nil, err
	}
	if op.attrEnds, err = n.Ints("ends", nil); err != nil {
		return nil, err
	}
	if op.axs, err = n.Ints("axes", nil); err != nil {
		return nil, err
	}
	if len(op.attrStarts) != len(op.attrEnds) || (op.axs != nil && len(op.axs) != len(op.attrStarts)) {
		return nil, n.errorf("attributes starts, ends, axes: lengths %d, %d, %d differ", len(op.attrStarts), len(op.attrEnds), len(op.axs))
	}
	return op, nil
}

// sliceGeom is one run's slice: output shape, source offset of the first
// element, and source stride along each output axis.
type sliceGeom struct {
	shape   []int
	base    int
	strides []int
}

func (o *sliceOp) geometry(in []*tensor.Tensor) (sliceGeom, error) {
	var g sliceGeom
	n := 1
	if o.fromInputs {
		n = 3
	}
	if err := checkInputs(in, n); err != nil {
		return g, err
	}
	x := in[0]
	starts, ends, axes := o.attrStarts, o.attrEnds, o.axs
	var steps []int64
	var err error
	if o.fromInputs {
		if starts, err = int64sOf(in[1], "starts"); err != nil {
			return g, err
		}
		if ends, err = int64sOf(in[2], "ends"); err != nil {
			return g, err
		}
		axes = nil
		if len(in) > 3 && in[3] != nil {
			if axes, err = int64sOf(in[3], "axes"); err != nil {
				return g, err
			}
		}
		if len(in) > 4 && in[4] != nil {
			if steps, err = int64sOf(in[4], "steps"); err != nil {
				return g, err
			}
		}
	}
	if len(ends) != len(starts) || (axes != nil && len(axes) != len(starts)) || (steps != nil && len(steps) != len(starts)) {
		return g, fmt.Errorf("starts, ends, axes, steps have lengths %d, %d, %d, %d", len(starts), len(ends), len(axes), len(steps))
	}
	r := x.Rank()
	var ax []int
	if axes == nil {
		if len(starts) > r {
			return g, fmt.Errorf("%d starts for rank %d", len(starts), r)
		}
		ax = make([]int, len(starts))
		for i := range ax {
			ax[i] = i
		}
	} else if ax, err = normAxes(axes, r); err != nil {
		return g, fmt.Errorf("axes: %v", err)
	}
	xs := tensor.Strides(x.Shape)
	g.shape = append([]int(nil), x.Shape...)
	g.strides = append([]int(nil), xs...)
	for i, a := range ax {
		step := int64(1)
		if steps != nil {
			step = steps[i]
		}
		if step == 0 {
			return g, fmt.Errorf("step 0 on axis %d", a)
		}
		dim := int64(x.Shape[a])
		s, e := starts[i], ends[i]
		if s < 0 {
			s += dim
		}
		if e < 0 {
			e += dim
		}
		var cnt int64
		if step > 0 {
			s = min(max(s, 0), dim)
			e = min(max(e, 0), dim)
			if e > s {
				cnt = (e - s + step - 1) / step
			}
		} else {
			s = min(max(s, 0), dim-1)
			e = min(max(e, -1), dim-1)
			if s > e {
				cnt = (s - e - step - 1) / -step
			}
		}
		g.shape[a] = int(cnt)
		if cnt > 0 {
			g.base += int(s) * xs[a]
		}
		g.strides[a] = xs[a] * int(step)
	}
	return g, nil
}

// Forward gathers the slice.
func (o *sliceOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	g, err := o.geometry(in)
	if err != nil {
		return nil, nil, err
	}
	x := in[0]
	out := allocLike(rc, x.DType, g.shape)
	if out.Len() > 0 {
		copyTensor(NewLoopPlan(g.shape, tensor.Strides(g.shape), g.strides), out, 0, x, g.base)
	}
	return []*tensor.Tensor{out}, nil, nil
}

// Backward scatters the gradient into the sliced positions.
func (o *sliceOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, len(in))
	if len(need) == 0 || !need[0] || in[0].DType != tensor.Float32 {
		return grads, nil
	}
	g, err := o.geometry(in)
	if err != nil {
		return nil, err
	}
	gx := rc.Alloc(in[0].Shape...)
	grads[0] = gx
	if len(gOut) == 0 || gOut[0] == nil {
		return grads, nil
	}
	if !tensor.SameShape(gOut[0].Shape, g.shape) {
		return nil, fmt.Errorf("gradient shape %v, output shape %v", gOut[0].Shape, g.shape)
	}
	if tensor.Numel(g.shape) > 0 {
		copyTensor(NewLoopPlan(g.shape, g.strides, tensor.Strides(g.shape)), gx, g.base, gOut[0], 0)
	}
	return grads, nil
}

// gatherOp is Gather: picks entries along axis by int64 indices (negative
// count from the end); the gradient is scatter-added back.
type gatherOp struct {
	axis int64
}

func buildGather(n *NodeInfo) (Op, error) {
	if len(n.Inputs) != 2 {
		return nil, n.errorf("expected 2 inputs (data, indices), got %d", len(n.Inputs))
	}
	axis, err := n.Int("axis", 0)
	if err != nil {
		return nil, err
	}
	return &gatherOp{axis: axis}, nil
}

// geometry returns the axis, output shape, outer and inner sizes, and the
// normalised indices.
func (o *gatherOp) geometry(in []*tensor.Tensor) (int, []int, int, int, []int, error) {
	if err := checkInputs(in, 2); err != nil {
		return 0, nil, 0, 0, nil, err
	}
	x, idx := in[0], in[1]
	ax, err := normAxis(o.axis, x.Rank())
	if err != nil {
		return 0, nil, 0, 0, nil, fmt.Errorf("attribute axis: %v", err)
	}
	raw, err := int64sOf(idx, "indices")
	if err != nil {
		return 0, nil, 0, 0, nil, err
	}
	dim := int64(x.Shape[ax])
	ids := make([]int, len(raw))
	for i, v := range raw {
		if v < 0 {
			v += dim
		}
		if v < 0 || v >= dim {
			return 0, nil, 0, 0, nil, fmt.Errorf("index %d is out of range for dimension %d of size %d", raw[i], ax, dim)
		}
		ids[i] = int(v)
	}
	shape := append(append(append([]int{}, x.Shape[:ax]...), idx.Shape...), x.Shape[ax+1:]...)
	return ax, shape, tensor.Numel(x.Shape[:ax]), tensor.Numel(x.Shape[ax+1:]), ids, nil
}

// Forward copies the picked slices.
func (o *gatherOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	ax, shape, outer, inner, ids, err := o.geometry(in)
	if err != nil {
		return nil, nil, err
	}
	x := in[0]
	out := allocLike(rc, x.DType, shape)
	dim := x.Shape[ax]
	for i := 0; i < outer; i++ {
		for j, id := range ids {
			d := (i*len(ids) + j) * inner
			s := (i*dim + id) * inner
			if x.DType == tensor.Int64 {
				copy(out.I[d:d+inner], x.I[s:s+inner])
			} else {
				copy(out.F[d:d+inner], x.F[s:s+inner])
			}
		}
	}
	return []*tensor.Tensor{out}, nil, nil
}

// Backward scatter-adds the gradient to the picked positions.
func (o *gatherOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, len(in))
	if len(need) == 0 || !need[0] || in[0].DType != tensor.Float32 {
		return grads, nil
	}
	ax, shape, outer, inner, ids, err := o.geometry(in)
	if err != nil {
		return nil, err
	}
	x := in[0]
	gx := rc.Alloc(x.Shape...)
	grads[0] = gx
	if len(gOut) == 0 || gOut[0] == nil {
		return grads, nil
	}
	g := gOut[0]
	if !tensor.SameShape(g.Shape, shape) {
		return nil, fmt.Errorf("gradient shape %v, output shape %v", g.Shape, shape)
	}
	dim := x.Shape[ax]
	for i := 0; i < outer; i++ {
		for j, id := range ids {
			d := (i*len(ids) + j) * inner
			s := (i*dim + id) * inner
			dst := gx.F[s : s+inner]
			for k, v := range g.F[d : d+inner] {
				dst[k] += v
			}
		}
	}
	return grads, nil
}

// shapeOp is Shape: the input's dimensions as a 1-D int64 tensor, from
// start to end (opset 15; negative values count from the end; clamped).
type shapeOp struct {
	start, end int64
	hasEnd     bool
}

func buildShape(n *NodeInfo) (Op, error) {
	if len(n.Inputs) != 1 {
		return nil, n.errorf("expected 1 input, got %d", len(n.Inputs))
	}
	op := &shapeOp{}
	var err error
	if op.start, err = n.Int("start", 0); err != nil {
		return nil, err
	}
	op.hasEnd = n.Has("end")
	if op.end, err = n.Int("end", 0); err != nil {
		return nil, err
	}
	return op, nil
}

// Forward returns the shape.
func (o *shapeOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	if len(in) < 1 || in[0] == nil {
		return nil, nil, fmt.Errorf("input is missing")
	}
	r := int64(in[0].Rank())
	clamp := func(v int64) int64 {
		if v < 0 {
			v += r
		}
		return min(max(v, 0), r)
	}
	s, e := clamp(o.start), r
	if o.hasEnd {
		e = clamp(o.end)
	}
	n := max(e-s, 0)
	out := rc.AllocInt(int(n))
	for i := range out.I {
		out.I[i] = int64(in[0].Shape[s+int64(i)])
	}
	return []*tensor.Tensor{out}, nil, nil
}

// Backward returns no gradient.
func (o *shapeOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	return noGrads(in)
}

// sizeOp is Size: the number of elements, as an int64 scalar.
type sizeOp struct{}

// Forward returns the element count.
func (sizeOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	if len(in) < 1 || in[0] == nil {
		return nil, nil, fmt.Errorf("input is missing")
	}
	out := rc.AllocInt()
	out.I[0] = int64(in[0].Len())
	return []*tensor.Tensor{out}, nil, nil
}

// Backward returns no gradient.
func (sizeOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	return noGrads(in)
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

// padMode selects how Pad fills.
type padMode int

const (
	padConstant padMode = iota
	padReflect
	padEdge
	padWrap
)

// padOp is Pad. Pads (begin values for each axis, then end values; negative
// crops) and the constant value are attributes before opset 11 and inputs
// from 11; opset 18 adds the axes input.
type padOp struct {
	mode       padMode
	fromInputs bool
	attrPads   []int64
	attrValue  float32
}

func buildPad(n *NodeInfo) (Op, error) {
	m, err := n.String("mode", "constant")
	if err != nil {
		return nil, err
	}
	op := &padOp{fromInputs: n.Opset >= 11}
	switch m {
	case "constant":
		op.mode = padConstant
	case "reflect":
		op.mode = padReflect
	case "edge":
		op.mode = padEdge
	case "wrap":
		op.mode = padWrap
	default:
		return nil, n.errorf("attribute mode: expected constant, reflect, edge or wrap, got %q", m)
	}
	if op.fromInputs {
		if len(n.Inputs) < 2 || len(n.Inputs) > 4 {
			return nil, n.errorf("expected 2 to 4 inputs (data, pads, constant_value, axes), got %d", len(n.Inputs))
		}
		if len(n.Inputs) == 4 && n.Opset < 18 {
			return nil, n.errorf("input axes: only from opset 18")
		}
		return op, nil
	}
	if len(n.Inputs) != 1 {
		return nil, n.errorf("expected 1 input before opset 11, got %d", len(n.Inputs))
	}
	name := "pads"
	if n.Opset < 2 {
		name = "paddings"
	}
	if !n.Has(name) {
		return nil, n.errorf("attribute %s: required", name)
	}
	if op.attrPads, err = n.Ints(name, nil); err != nil {
		return nil, err
	}
	if op.attrValue, err = n.Float("value", 0); err != nil {
		return nil, err
	}
	return op, nil
}

// padGeom holds, per axis, the source index of each output index (-1: the
// constant value).
type padGeom struct {
	shape []int
	maps  [][]int
	value float64
}

func (o *padOp) geometry(in []*tensor.Tensor) (padGeom, error) {
	var g padGeom
	if err := checkInputs(in, 1); err != nil {
		return g, err
	}
	x := in[0]
	r := x.Rank()
	pads := o.attrPads
	g.value = float64(o.attrValue)
	axes := make([]int, r)
	for i := range axes {
		axes[i] = i
	}
	if o.fromInputs {
		var err error
		if len(in) < 2 || in[1] == nil {
			return g, fmt.Errorf("input pads is missing")
		}
		if pads, err = int64sOf(in[1], "pads"); err != nil {
			return g, err
		}
		if len(in) > 2 && in[2] != nil && in[2].Len() > 0 {
			if g.value, err = scalarFloat(in[2], "Pad constant_value"); err != nil {
				return g, err
			}
		}
		if len(in) > 3 && in[3] != nil {
			a, err := int64sOf(in[3], "axes")
			if err != nil {
				return g, err
			}
			if axes, err = normAxes(a, r); err != nil {
				return g, fmt.Errorf("axes: %v", err)
			}
		}
	}
	if len(pads) != 2*len(axes) {
		return g, fmt.Errorf("%d pads for %d axes of input %v, expected %d", len(pads), len(axes), x.Shape, 2*len(axes))
	}
	begin, end := make([]int64, r), make([]int64, r)
	for i, a := range axes {
		begin[a], end[a] = pads[i], pads[i+len(axes)]
	}
	g.shape = make([]int, r)
	dims := make([]int64, r)
	for a := 0; a < r; a++ {
		dims[a] = int64(x.Shape[a]) + begin[a] + end[a]
		if dims[a] < 0 || begin[a] > math.MaxInt32 || end[a] > math.MaxInt32 {
			return g, fmt.Errorf("pads %v on input %v give dimension %d", pads, x.Shape, dims[a])
		}
		g.shape[a] = int(dims[a])
	}
	if _, err := checkedNumel(dims); err != nil {
		return g, fmt.Errorf("%v", err)
	}
	g.maps = make([][]int, r)
	for a := 0; a < r; a++ {
		n := x.Shape[a]
		m := make([]int, g.shape[a])
		for j := range m {
			s := j - int(begin[a])
			if s < 0 || s >= n {
				switch {
				case o.mode == padConstant:
					s = -1
				case n == 0:
					return g, fmt.Errorf("cannot pad empty axis %d in %s mode", a, map[padMode]string{padReflect: "reflect", padEdge: "edge", padWrap: "wrap"}[o.mode])
				case o.mode == padEdge:
					s = min(max(s, 0), n-1)
				case o.mode == padWrap:
					s = ((s % n) + n) % n
				case n == 1:
					s = 0
				default: // reflect, without repeating the edge
					p := 2 * (n - 1)
					s = ((s % p) + p) % p
					if s >= n {
						s = p - s
					}
				}
			}
			m[j] = s
		}
		g.maps[a] = m
	}
	return g, nil
}

// walk calls fn(outIndex, srcIndex) for every output element, srcIndex -1
// for the constant fill.
func (g *padGeom) walk(xShape []int, fn func(o, s int)) {
	r := len(g.shape)
	total := tensor.Numel(g.shape)
	if r == 0 {
		if total == 1 {
			fn(0, 0)
		}
		return
	}
	if total == 0 {
		return
	}
	xs := tensor.Strides(xShape)
	idx := make([]int, r-1)
	last := g.maps[r-1]
	o := 0
	for {
		base, inside := 0, true
		for a := 0; a < r-1; a++ {
			s := g.maps[a][idx[a]]
			if s < 0 {
				inside = false
				break
			}
			base += s * xs[a]
		}
		for _, s := range last {
			if inside && s >= 0 {
				fn(o, base+s)
			} else {
				fn(o, -1)
			}
			o++
		}
		a := r - 2
		for ; a >= 0; a-- {
			idx[a]++
			if idx[a] < g.shape[a] {
				break
			}
			idx[a] = 0
		}
		if a < 0 {
			return
		}
	}
}

// Forward builds the padded tensor.
func (o *padOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	g, err := o.geometry(in)
	if err != nil {
		return nil, nil, err
	}
	x := in[0]
	out := allocLike(rc, x.DType, g.shape)
	if x.DType == tensor.Int64 {
		v := int64(g.value)
		g.walk(x.Shape, func(i, s int) {
			if s < 0 {
				out.I[i] = v
			} else {
				out.I[i] = x.I[s]
			}
		})
	} else {
		v := float32(g.value)
		g.walk(x.Shape, func(i, s int) {
			if s < 0 {
				out.F[i] = v
			} else {
				out.F[i] = x.F[s]
			}
		})
	}
	return []*tensor.Tensor{out}, nil, nil
}

// Backward adds each output gradient to the element it was copied from.
func (o *padOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, len(in))
	if len(need) == 0 || !need[0] || in[0].DType != tensor.Float32 {
		return grads, nil
	}
	g, err := o.geometry(in)
	if err != nil {
		return nil, err
	}
	x := in[0]
	gx := rc.Alloc(x.Shape...)
	grads[0] = gx
	if len(gOut) == 0 || gOut[0] == nil {
		return grads, nil
	}
	gy := gOut[0]
	if !tensor.SameShape(gy.Shape, g.shape) {
		return nil, fmt.Errorf("gradient shape %v, output shape %v", gy.Shape, g.shape)
	}
	g.walk(x.Shape, func(i, s int) {
		if s >= 0 {
			gx.F[s] += gy.F[i]
		}
	})
	return grads, nil
}

// constOp returns a fixed tensor (Constant). The output is shared between
// runs and must not be written to.
type constOp struct {
	value *tensor.Tensor
}

func buildConstant(n *NodeInfo) (Op, error) {
	if len(n.Inputs) != 0 {
		return nil, n.errorf("expected no inputs, got %d", len(n.Inputs))
	}
	if len(n.Attrs) != 1 {
		return nil, n.errorf("expected exactly one of the attributes value, value_float, value_floats, value_int, value_ints; got %d attributes", len(n.Attrs))
	}
	var t *tensor.Tensor
	switch {
	case n.Has("value"):
		var err error
		if t, err = n.TensorAttr("value"); err != nil {
			return nil, err
		}
	case n.Has("value_float"):
		v, err := n.Float("value_float", 0)
		if err != nil {
			return nil, err
		}
		t = tensor.FromFloat32([]float32{v})
	case n.Has("value_floats"):
		v, err := n.Floats("value_floats", nil)
		if err != nil {
			return nil, err
		}
		t = tensor.FromFloat32(append([]float32{}, v...), len(v))
	case n.Has("value_int"):
		v, err := n.Int("value_int", 0)
		if err != nil {
			return nil, err
		}
		t = tensor.FromInt64([]int64{v})
	case n.Has("value_ints"):
		v, err := n.Ints("value_ints", nil)
		if err != nil {
			return nil, err
		}
		t = tensor.FromInt64(append([]int64{}, v...), len(v))
	default:
		for name := range n.Attrs {
			return nil, n.errorf("attribute %s: not supported (use value, value_float(s) or value_int(s))", name)
		}
	}
	return &constOp{value: t}, nil
}

// Forward returns the constant.
func (o *constOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	return []*tensor.Tensor{o.value}, nil, nil
}

// Backward returns no gradients (there are no inputs).
func (o *constOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	return noGrads(in)
}

// constOfShapeOp is ConstantOfShape: a tensor of the shape given by its
// input, filled with the value attribute (default float 0).
type constOfShapeOp struct {
	value *tensor.Tensor
}

func buildConstantOfShape(n *NodeInfo) (Op, error) {
	if len(n.Inputs) != 1 {
		return nil, n.errorf("expected 1 input, got %d", len(n.Inputs))
	}
	v, err := n.TensorAttr("value")
	if err != nil {
		return nil, err
	}
	if v == nil {
		v = tensor.FromFloat32([]float32{0})
	}
	if v.Len() != 1 {
		return nil, n.errorf("attribute value: expected a one-element tensor, got shape %v", v.Shape)
	}
	return &constOfShapeOp{value: v}, nil
}

// Forward fills the new tensor.
func (o *constOfShapeOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	if err := checkInputs(in, 1); err != nil {
		return nil, nil, err
	}
	dims, err := int64sOf(in[0], "shape")
	if err != nil {
		return nil, nil, err
	}
	shape, err := shapeFromInts(dims)
	if err != nil {
		return nil, nil, fmt.Errorf("%v", err)
	}
	out := allocLike(rc, o.value.DType, shape)
	if o.value.DType == tensor.Int64 {
		if v := o.value.I[0]; v != 0 {
			for i := range out.I {
				out.I[i] = v
			}
		}
	} else if v := o.value.F[0]; v != 0 {
		for i := range out.F {
			out.F[i] = v
		}
	}
	return []*tensor.Tensor{out}, nil, nil
}

// Backward returns no gradient.
func (o *constOfShapeOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	return noGrads(in)
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
