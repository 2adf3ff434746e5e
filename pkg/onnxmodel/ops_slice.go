package onnxmodel

// Indexing ops: Slice and Gather.

import (
	"fmt"

	"github.com/advtest/advtest/pkg/tensor"
)

func init() {
	register("Slice", buildSlice)
	register("Gather", buildGather)
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
	var geo sliceGeom
	return backwardAdd(rc, in, gOut, need, len(in), gradShaped, func() ([]int, error) {
		var err error
		if geo, err = o.geometry(in); err != nil {
			return nil, err
		}
		return geo.shape, nil
	}, func(gx, g *tensor.Tensor) {
		if tensor.Numel(geo.shape) > 0 {
			copyTensor(NewLoopPlan(geo.shape, geo.strides, tensor.Strides(geo.shape)), gx, geo.base, g, 0)
		}
	})
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
	var ax, outer, inner int
	var ids []int
	return backwardAdd(rc, in, gOut, need, len(in), gradShaped, func() (shape []int, err error) {
		ax, shape, outer, inner, ids, err = o.geometry(in)
		return shape, err
	}, func(gx, g *tensor.Tensor) {
		dim := in[0].Shape[ax]
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
	})
}
