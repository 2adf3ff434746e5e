package onnxmodel

// Reductions: ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceSumSquare,
// ReduceL1 and ReduceL2.

import (
	"fmt"
	"math"

	"github.com/advtest/advtest/pkg/tensor"
)

// redKind selects a reduction.
type redKind int

const (
	redSum redKind = iota
	redMean
	redMax
	redMin
	redSumSquare
	redL1
	redL2
)

func init() {
	for name, k := range map[string]redKind{
		"ReduceSum": redSum, "ReduceMean": redMean, "ReduceMax": redMax, "ReduceMin": redMin,
		"ReduceSumSquare": redSumSquare, "ReduceL1": redL1, "ReduceL2": redL2,
	} {
		kind := k
		register(name, func(n *NodeInfo) (Op, error) { return buildReduce(n, kind) })
	}
}

// reduceOp reduces over axes: given by the axes attribute before the opset
// at which ONNX moved them to optional input 1 (13 for ReduceSum, 18 for
// the others). Empty axes reduce over every axis, or leave the input as it
// is when noop_with_empty_axes is 1.
type reduceOp struct {
	kind       redKind
	keepdims   bool
	noop       bool
	axesInput  bool
	attrAxes   []int64
	hasAttrAxs bool
}

func buildReduce(n *NodeInfo, kind redKind) (Op, error) {
	op := &reduceOp{kind: kind}
	threshold := int64(18)
	if kind == redSum {
		threshold = 13
	}
	op.axesInput = n.Opset >= threshold
	maxIn := 1
	if op.axesInput {
		maxIn = 2
		if n.Has("axes") {
			return nil, n.errorf("attribute axes: not allowed from opset %d, pass axes as input 1", threshold)
		}
	} else {
		var err error
		op.hasAttrAxs = n.Has("axes")
		if op.attrAxes, err = n.Ints("axes", nil); err != nil {
			return nil, err
		}
	}
	if len(n.Inputs) < 1 || len(n.Inputs) > maxIn {
		return nil, n.errorf("expected 1 to %d inputs at opset %d, got %d", maxIn, n.Opset, len(n.Inputs))
	}
	var err error
	if op.keepdims, err = n.flag("keepdims", 1); err != nil {
		return nil, err
	}
	if op.noop, err = n.flag("noop_with_empty_axes", 0); err != nil {
		return nil, err
	}
	return op, nil
}

// reduceGeom is what one run of a reduction works with.
type reduceGeom struct {
	noop      bool
	keepShape []int // the input shape with reduced axes set to 1
	outShape  []int
	count     int // elements reduced into each output
}

func (o *reduceOp) geometry(in []*tensor.Tensor) (reduceGeom, error) {
	var g reduceGeom
	if err := checkInputs(in, 1); err != nil {
		return g, err
	}
	x := in[0]
	axes := o.attrAxes
	if o.axesInput {
		axes = nil
		if len(in) > 1 && in[1] != nil {
			var err error
			if axes, err = int64sOf(in[1], "axes"); err != nil {
				return g, err
			}
		}
	}
	if len(axes) == 0 {
		if o.noop {
			g.noop = true
			return g, nil
		}
		axes = make([]int64, x.Rank())
		for i := range axes {
			axes[i] = int64(i)
		}
	}
	ax, err := normAxes(axes, x.Rank())
	if err != nil {
		return g, fmt.Errorf("axes: %v", err)
	}
	reduced := make([]bool, x.Rank())
	for _, a := range ax {
		reduced[a] = true
	}
	g.keepShape = append([]int(nil), x.Shape...)
	g.count = 1
	for a, r := range reduced {
		if r {
			g.count *= x.Shape[a]
			g.keepShape[a] = 1
			if !o.keepdims {
				continue
			}
		}
		g.outShape = append(g.outShape, g.keepShape[a])
	}
	if g.outShape == nil {
		g.outShape = []int{}
	}
	return g, nil
}

type reduceSaved struct {
	arg []int // for Max and Min: the input index of each output's extreme
}

// Forward reduces the input.
func (o *reduceOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	g, err := o.geometry(in)
	if err != nil {
		return nil, nil, err
	}
	x := in[0]
	if g.noop {
		return []*tensor.Tensor{x}, nil, nil
	}
	if x.DType == tensor.Int64 {
		out, err := o.reduceInt(rc, x, g)
		if err != nil {
			return nil, nil, err
		}
		return []*tensor.Tensor{out}, nil, nil
	}
	out := rc.Alloc(g.outShape...)
	switch o.kind {
	case redSum, redMean:
		scale := float32(1)
		if o.kind == redMean {
			scale = 1 / float32(g.count)
		}
		SumInto(out.F, g.keepShape, x.F, x.Shape, scale)
	case redSumSquare, redL1, redL2:
		t := rc.Alloc(x.Shape...)
		for i, v := range x.F {
			if o.kind == redL1 {
				t.F[i] = float32(math.Abs(float64(v)))
			} else {
				t.F[i] = v * v
			}
		}
		SumInto(out.F, g.keepShape, t.F, x.Shape, 1)
		if o.kind == redL2 {
			for i, v := range out.F {
				out.F[i] = float32(math.Sqrt(float64(v)))
			}
		}
	case redMax, redMin:
		sv := &reduceSaved{arg: make([]int, len(out.F))}
		init := float32(math.Inf(-1))
		if o.kind == redMin {
			init = float32(math.Inf(1))
		}
		for i := range out.F {
			out.F[i] = init
			sv.arg[i] = -1
		}
		p := NewLoopPlan(x.Shape, tensor.Strides(x.Shape), BroadcastStrides(g.keepShape, x.Shape))
		s := p.Inner()
		isMax := o.kind == redMax
		p.ForRange(0, p.Total(), func(off [maxLoopOps]int, n int) {
			j := off[1]
			for i := off[0]; i < off[0]+n; i++ {
				v := x.F[i]
				if sv.arg[j] < 0 || (isMax && v > out.F[j]) || (!isMax && v < out.F[j]) || (v != v && out.F[j] == out.F[j]) {
					out.F[j] = v
					sv.arg[j] = i
				}
				j += s[1]
			}
		})
		return []*tensor.Tensor{out}, sv, nil
	}
	return []*tensor.Tensor{out}, nil, nil
}

// reduceInt reduces an int64 tensor (Sum, Mean, Max and Min only).
func (o *reduceOp) reduceInt(rc *RunContext, x *tensor.Tensor, g reduceGeom) (*tensor.Tensor, error) {
	out := rc.AllocInt(g.outShape...)
	switch o.kind {
	case redSum, redMean, redMax, redMin:
	default:
		return nil, fmt.Errorf("reduction does not take integer input %s", x)
	}
	seen := make([]bool, len(out.I))
	p := NewLoopPlan(x.Shape, tensor.Strides(x.Shape), BroadcastStrides(g.keepShape, x.Shape))
	s := p.Inner()
	p.ForRange(0, p.Total(), func(off [maxLoopOps]int, n int) {
		j := off[1]
		for i := off[0]; i < off[0]+n; i++ {
			v := x.I[i]
			switch {
			case o.kind == redSum || o.kind == redMean:
				out.I[j] += v
			case !seen[j] || (o.kind == redMax && v > out.I[j]) || (o.kind == redMin && v < out.I[j]):
				out.I[j] = v
			}
			seen[j] = true
			j += s[1]
		}
	})
	if o.kind == redMean && g.count > 0 {
		for i := range out.I {
			out.I[i] /= int64(g.count)
		}
	}
	return out, nil
}

// Backward spreads the output gradient back over the reduced elements.
func (o *reduceOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, len(in))
	if len(need) == 0 || !need[0] {
		return grads, nil
	}
	geo, err := o.geometry(in)
	if err != nil {
		return nil, err
	}
	x := in[0]
	if x.DType != tensor.Float32 {
		return grads, nil
	}
	if geo.noop {
		return passGrad(rc, in, gOut, need)
	}
	gx := rc.Alloc(x.Shape...)
	grads[0] = gx
	if len(gOut) == 0 || gOut[0] == nil {
		return grads, nil
	}
	g := gOut[0]
	if g.Len() != tensor.Numel(geo.keepShape) {
		return nil, fmt.Errorf("backward: gradient %s does not match output shape %v", g, geo.outShape)
	}
	switch o.kind {
	case redMax, redMin:
		sv, ok := saved.(*reduceSaved)
		if !ok || len(sv.arg) != len(g.F) {
			return nil, fmt.Errorf("backward: missing saved argmax")
		}
		for j, i := range sv.arg {
			if i >= 0 {
				gx.F[i] += g.F[j]
			}
		}
		return grads, nil
	}
	y := out[0]
	scale := float32(1)
	if o.kind == redMean {
		scale = 1 / float32(geo.count)
	}
	p := NewLoopPlan(x.Shape, tensor.Strides(x.Shape), BroadcastStrides(geo.keepShape, x.Shape))
	s := p.Inner()
	p.Parallel(func(off [maxLoopOps]int, n int) {
		j := off[1]
		for i := off[0]; i < off[0]+n; i++ {
			gv := g.F[j]
			switch o.kind {
			case redSum, redMean:
				gx.F[i] = gv * scale
			case redSumSquare:
				gx.F[i] = 2 * x.F[i] * gv
			case redL1:
				if v := x.F[i]; v > 0 {
					gx.F[i] = gv
				} else if v < 0 {
					gx.F[i] = -gv
				}
			case redL2:
				if y.F[j] != 0 {
					gx.F[i] = gv * x.F[i] / y.F[j]
				}
			}
			j += s[1]
		}
	})
	return grads, nil
}
