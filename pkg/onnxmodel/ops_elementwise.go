package onnxmodel

// Element-wise ops with numpy broadcasting: Add, Sub, Mul, Div, Pow, the
// variadic Max, Min, Sum and Mean, the comparisons Equal, Less, Greater,
// Where, and the unary math ops.

import (
	"fmt"
	"math"

	"github.com/advtest/advtest/pkg/tensor"
)

// binKind selects a binary element-wise operation.
type binKind int

const (
	binAdd binKind = iota
	binSub
	binMul
	binDiv
	binPow
	binMax
	binMin
)

var binNames = map[binKind]string{binAdd: "Add", binSub: "Sub", binMul: "Mul", binDiv: "Div", binPow: "Pow", binMax: "Max", binMin: "Min"}

func init() {
	for _, k := range []binKind{binAdd, binSub, binMul, binDiv, binPow} {
		kind := k
		register(binNames[k], func(n *NodeInfo) (Op, error) { return buildBinary(n, kind) })
	}
	register("Max", func(n *NodeInfo) (Op, error) { return buildVariadic(n, binMax) })
	register("Min", func(n *NodeInfo) (Op, error) { return buildVariadic(n, binMin) })
	register("Sum", func(n *NodeInfo) (Op, error) { return buildVariadic(n, binAdd) })
	register("Mean", func(n *NodeInfo) (Op, error) { return buildVariadic(n, -1) })
	for _, c := range []cmpKind{cmpEqual, cmpLess, cmpGreater, cmpLessEq, cmpGreaterEq} {
		kind := c
		register(cmpNames[c], func(n *NodeInfo) (Op, error) {
			if len(n.Inputs) != 2 {
				return nil, n.errorf("expected 2 inputs, got %d", len(n.Inputs))
			}
			return &compareOp{kind: kind}, nil
		})
	}
	register("Where", func(n *NodeInfo) (Op, error) {
		if len(n.Inputs) != 3 {
			return nil, n.errorf("expected 3 inputs (condition, X, Y), got %d", len(n.Inputs))
		}
		return whereOp{}, nil
	})
	register("Not", func(n *NodeInfo) (Op, error) {
		if len(n.Inputs) != 1 {
			return nil, n.errorf("expected 1 input, got %d", len(n.Inputs))
		}
		return notOp{}, nil
	})
	for name, k := range map[string]unaryKind{
		"Neg": unNeg, "Sqrt": unSqrt, "Exp": unExp, "Log": unLog, "Erf": unErf,
		"Abs": unAbs, "Reciprocal": unReciprocal, "Floor": unFloor, "Ceil": unCeil,
		"Sin": unSin, "Cos": unCos, "Round": unRound, "Sign": unSign,
	} {
		kind := k
		register(name, func(n *NodeInfo) (Op, error) { return buildUnary(n, kind, 0, 0) })
	}
}

// binaryOp is Add, Sub, Mul, Div or Pow with numpy broadcasting. Add, Sub,
// Mul and Div also run on int64 tensors (integer semantics, no gradient).
type binaryOp struct {
	kind binKind
	// legacyAxis >= 0 marks opset < 7 broadcasting with an explicit axis.
	legacyAxis int
}

func buildBinary(n *NodeInfo, kind binKind) (Op, error) {
	if len(n.Inputs) != 2 {
		return nil, n.errorf("expected 2 inputs, got %d", len(n.Inputs))
	}
	op := &binaryOp{kind: kind, legacyAxis: -1}
	if n.Opset < 7 && kind != binPow {
		bc, err := n.flag("broadcast", 0)
		if err != nil {
			return nil, err
		}
		if n.Has("axis") {
			if !bc {
				return nil, n.errorf("attribute axis: set without broadcast=1")
			}
			ax, err := n.Int("axis", 0)
			if err != nil {
				return nil, err
			}
			if ax < 0 {
				return nil, n.errorf("attribute axis: expected a non-negative axis, got %d", ax)
			}
			op.legacyAxis = int(ax)
		}
	}
	return op, nil
}

// legacyB reshapes b for opset < 7 broadcasting with an axis: b's dims are
// aligned with a's dims starting at axis.
func (o *binaryOp) legacyB(a, b *tensor.Tensor) (*tensor.Tensor, error) {
	if o.legacyAxis < 0 {
		return b, nil
	}
	if o.legacyAxis+b.Rank() > a.Rank() {
		return nil, fmt.Errorf("legacy broadcast: B%v does not fit A%v at axis %d", b.Shape, a.Shape, o.legacyAxis)
	}
	shape := append([]int(nil), b.Shape...)
	for len(shape) < a.Rank()-o.legacyAxis {
		shape = append(shape, 1)
	}
	return b.Reshaped(shape...), nil
}

func (o *binaryOp) operands(in []*tensor.Tensor) (a, b *tensor.Tensor, shape []int, err error) {
	if err = checkInputs(in, 2); err != nil {
		return
	}
	a, b = in[0], in[1]
	if b, err = o.legacyB(a, b); err != nil {
		return
	}
	shape, err = tensor.BroadcastShape(a.Shape, b.Shape)
	return
}

// Forward computes the broadcast element-wise result.
func (o *binaryOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	a, b, shape, err := o.operands(in)
	if err != nil {
		return nil, nil, err
	}
	if o.kind == binPow && a.DType == tensor.Float32 && b.DType == tensor.Int64 {
		b = intToFloat(rc, b)
	}
	if o.kind == binPow && a.DType == tensor.Int64 && b.DType == tensor.Float32 {
		// Pow's output takes the base's type: an integer base with a float
		// exponent gives pow(float64(a), b) truncated to an integer, as
		// numpy's astype does.
		out := rc.AllocInt(shape...)
		powIntFloat(out.I, shape, a, b)
		return []*tensor.Tensor{out}, nil, nil
	}
	if a.DType != b.DType {
		return nil, nil, fmt.Errorf("%s: input types differ: %s and %s", binNames[o.kind], a, b)
	}
	if a.DType == tensor.Int64 {
		out := rc.AllocInt(shape...)
		if err := binaryInt(o.kind, out.I, shape, a, b); err != nil {
			return nil, nil, err
		}
		return []*tensor.Tensor{out}, nil, nil
	}
	out := rc.AllocNoZero(shape...) // applyBinary writes every element
	applyBinary(o.kind, out.F, shape, a.F, a.Shape, b.F, b.Shape)
	return []*tensor.Tensor{out}, nil, nil
}

// Backward reduces the broadcast gradient back to each input's shape.
func (o *binaryOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	a, b, shape, err := o.operands(in)
	if err != nil {
		return nil, err
	}
	grads := make([]*tensor.Tensor, len(in))
	if a.DType != tensor.Float32 {
		return grads, nil
	}
	if len(gOut) == 0 || gOut[0] == nil {
		return zeroGrads(rc, in, need), nil
	}
	g := gOut[0]
	if !tensor.SameShape(g.Shape, shape) {
		return nil, fmt.Errorf("%s backward: gradient shape %v, output shape %v", binNames[o.kind], g.Shape, shape)
	}
	if b.DType == tensor.Int64 {
		b = intToFloat(rc, b)
		need = []bool{need[0], false}
	}
	needA, needB := len(need) > 0 && need[0], len(need) > 1 && need[1]
	bShapeOrig := in[1].Shape
	switch o.kind {
	case binAdd, binSub:
		if needA {
			grads[0] = reduceTo(rc, g, a.Shape, false, 1)
		}
		if needB {
			s := float32(1)
			if o.kind == binSub {
				s = -1
			}
			grads[1] = reduceTo(rc, g, b.Shape, false, s)
		}
	case binMul:
		if needA {
			t := rc.AllocNoZero(shape...) // applyBinary writes every element
			applyBinary(binMul, t.F, shape, g.F, shape, b.F, b.Shape)
			grads[0] = reduceTo(rc, t, a.Shape, true, 1)
		}
		if needB {
			t := rc.AllocNoZero(shape...) // applyBinary writes every element
			applyBinary(binMul, t.F, shape, g.F, shape, a.F, a.Shape)
			grads[1] = reduceTo(rc, t, b.Shape, true, 1)
		}
	case binDiv:
		if needA {
			t := rc.AllocNoZero(shape...) // applyBinary writes every element
			applyBinary(binDiv, t.F, shape, g.F, shape, b.F, b.Shape)
			grads[0] = reduceTo(rc, t, a.Shape, true, 1)
		}
		if needB {
			// d(a/b)/db = -y/b.
			y := out[0]
			t := rc.AllocNoZero(shape...) // applyBinary writes every element
			applyBinary(binMul, t.F, shape, g.F, shape, y.F, shape)
			applyBinary(binDiv, t.F, shape, t.F, shape, b.F, b.Shape)
			grads[1] = reduceTo(rc, t, b.Shape, true, -1)
		}
	case binPow:
		y := out[0]
		var ta, tb *tensor.Tensor
		if needA {
			ta = rc.Alloc(shape...)
		}
		if needB {
			tb = rc.Alloc(shape...)
		}
		p := NewLoopPlan(shape, tensor.Strides(shape), BroadcastStrides(a.Shape, shape), BroadcastStrides(b.Shape, shape))
		s := p.Inner()
		p.Parallel(func(off [maxLoopOps]int, n int) {
			ia, ib := off[1], off[2]
			for i := off[0]; i < off[0]+n; i++ {
				av, bv := float64(a.F[ia]), float64(b.F[ib])
				if ta != nil {
					// d(a^b)/da = b·a^(b-1).
					if bv == 0 {
						ta.F[i] = 0
					} else {
						ta.F[i] = g.F[i] * float32(bv*math.Pow(av, bv-1))
					}
				}
				if tb != nil {
					// d(a^b)/db = a^b·ln a, taken as 0 where a <= 0.
					if av > 0 {
						tb.F[i] = g.F[i] * y.F[i] * float32(math.Log(av))
					}
				}
				ia += s[1]
				ib += s[2]
			}
		})
		if ta != nil {
			grads[0] = reduceTo(rc, ta, a.Shape, true, 1)
		}
		if tb != nil {
			grads[1] = reduceTo(rc, tb, bShapeOrig, true, 1)
		}
	}
	if needB && grads[1] != nil && !tensor.SameShape(grads[1].Shape, bShapeOrig) {
		// Legacy broadcasting reshaped b; hand the gradient back in b's shape.
		grads[1] = grads[1].Reshaped(bShapeOrig...)
	}
	return grads, nil
}

// powIntFloat writes int64(a^b), broadcast to shape, into dst: a is an
// int64 tensor, b a float32 one.
func powIntFloat(dst []int64, shape []int, a, b *tensor.Tensor) {
	p := NewLoopPlan(shape, tensor.Strides(shape), BroadcastStrides(a.Shape, shape), BroadcastStrides(b.Shape, shape))
	s := p.Inner()
	p.ForRange(0, p.Total(), func(off [maxLoopOps]int, n int) {
		ia, ib := off[1], off[2]
		for i := off[0]; i < off[0]+n; i++ {
			dst[i] = int64(math.Pow(float64(a.I[ia]), float64(b.F[ib])))
			ia += s[1]
			ib += s[2]
		}
	})
}

// intToFloat converts an int64 tensor to float32.
func intToFloat(rc *RunContext, t *tensor.Tensor) *tensor.Tensor {
	f := rc.Alloc(t.Shape...)
	for i, v := range t.I {
		f.F[i] = float32(v)
	}
	return f
}

// applyBinary writes a (op) b, broadcast to shape, into dst (dense, of
// shape). dst may be the same slice as a or b when that operand has shape.
func applyBinary(k binKind, dst []float32, shape []int, a []float32, aShape []int, b []float32, bShape []int) {
	p := NewLoopPlan(shape, tensor.Strides(shape), BroadcastStrides(aShape, shape), BroadcastStrides(bShape, shape))
	s := p.Inner()
	p.Parallel(func(off [maxLoopOps]int, n int) {
		binRow(k, dst[off[0]:off[0]+n], a, off[1], s[1], b, off[2], s[2])
	})
}

// binRow computes one run of a binary op: d[i] = a[ao+i·as] (op) b[bo+i·bs].
// The hot cases (both contiguous, one a scalar) have their own loops.
func binRow(k binKind, d, a []float32, ao, as int, b []float32, bo, bs int) {
	n := len(d)
	switch {
	case as == 1 && bs == 1:
		x, y := a[ao:ao+n], b[bo:bo+n]
		switch k {
		case binAdd:
			for i := range d {
				d[i] = x[i] + y[i]
			}
		case binSub:
			for i := range d {
				d[i] = x[i] - y[i]
			}
		case binMul:
			for i := range d {
				d[i] = x[i] * y[i]
			}
		case binDiv:
			for i := range d {
				d[i] = x[i] / y[i]
			}
		default:
			for i := range d {
				d[i] = binScalar(k, x[i], y[i])
			}
		}
	case as == 1 && bs == 0:
		x, y := a[ao:ao+n], b[bo]
		switch k {
		case binAdd:
			for i := range d {
				d[i] = x[i] + y
			}
		case binSub:
			for i := range d {
				d[i] = x[i] - y
			}
		case binMul:
			for i := range d {
				d[i] = x[i] * y
			}
		case binDiv:
			for i := range d {
				d[i] = x[i] / y
			}
		default:
			for i := range d {
				d[i] = binScalar(k, x[i], y)
			}
		}
	case as == 0 && bs == 1:
		x, y := a[ao], b[bo:bo+n]
		switch k {
		case binAdd:
			for i := range d {
				d[i] = x + y[i]
			}
		case binSub:
			for i := range d {
				d[i] = x - y[i]
			}
		case binMul:
			for i := range d {
				d[i] = x * y[i]
			}
		case binDiv:
			for i := range d {
				d[i] = x / y[i]
			}
		default:
			for i := range d {
				d[i] = binScalar(k, x, y[i])
			}
		}
	default:
		for i := range d {
			d[i] = binScalar(k, a[ao], b[bo])
			ao += as
			bo += bs
		}
	}
}

// binScalar applies a binary op to one pair of floats.
func binScalar(k binKind, x, y float32) float32 {
	switch k {
	case binAdd:
		return x + y
	case binSub:
		return x - y
	case binMul:
		return x * y
	case binDiv:
		return x / y
	case binPow:
		return powf(x, y)
	case binMax:
		if y > x || x != x {
			if x != x {
				return x
			}
			return y
		}
		return x
	case binMin:
		if y < x || x != x {
			if x != x {
				return x
			}
			return y
		}
		return x
	}
	return 0
}

// powf computes x^y, with the common small integer exponents exact and fast.
func powf(x, y float32) float32 {
	switch y {
	case 2:
		return x * x
	case 1:
		return x
	case 3:
		return x * x * x
	case 0.5:
		return float32(math.Sqrt(float64(x)))
	}
	return float32(math.Pow(float64(x), float64(y)))
}

// binaryInt computes an integer binary op into dst (dense, of shape).
func binaryInt(k binKind, dst []int64, shape []int, a, b *tensor.Tensor) error {
	if k == binDiv {
		for _, v := range b.I {
			if v == 0 {
				return fmt.Errorf("integer division by zero")
			}
		}
	}
	p := NewLoopPlan(shape, tensor.Strides(shape), BroadcastStrides(a.Shape, shape), BroadcastStrides(b.Shape, shape))
	s := p.Inner()
	p.ForRange(0, p.Total(), func(off [maxLoopOps]int, n int) {
		ia, ib := off[1], off[2]
		for i := off[0]; i < off[0]+n; i++ {
			x, y := a.I[ia], b.I[ib]
			var r int64
			switch k {
			case binAdd:
				r = x + y
			case binSub:
				r = x - y
			case binMul:
				r = x * y
			case binDiv:
				r = x / y
			case binPow:
				r = int64(math.Pow(float64(x), float64(y)))
			case binMax:
				r = max(x, y)
			case binMin:
				r = min(x, y)
			}
			dst[i] = r
			ia += s[1]
			ib += s[2]
		}
	})
	return nil
}

// variadicOp is Max, Min, Sum (kind binAdd) or Mean (kind -1) over one or
// more inputs with numpy broadcasting.
type variadicOp struct {
	kind binKind
}

func buildVariadic(n *NodeInfo, kind binKind) (Op, error) {
	if len(n.Inputs) < 1 {
		return nil, n.errorf("expected at least 1 input, got 0")
	}
	return &variadicOp{kind: kind}, nil
}

func (o *variadicOp) shape(in []*tensor.Tensor) ([]int, error) {
	if err := checkInputs(in, len(in)); err != nil {
		return nil, err
	}
	if len(in) == 0 {
		return nil, fmt.Errorf("expected at least 1 input")
	}
	shape := in[0].Shape
	for _, t := range in[1:] {
		if t.DType != in[0].DType {
			return nil, fmt.Errorf("input types differ: %s and %s", in[0], t)
		}
		var err error
		if shape, err = tensor.BroadcastShape(shape, t.Shape); err != nil {
			return nil, err
		}
	}
	return shape, nil
}

// Forward folds the inputs pairwise.
func (o *variadicOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	shape, err := o.shape(in)
	if err != nil {
		return nil, nil, err
	}
	k := o.kind
	if k < 0 {
		k = binAdd
	}
	out := allocLike(rc, in[0].DType, shape)
	BroadcastTo(out, in[0])
	for _, t := range in[1:] {
		if t.DType == tensor.Int64 {
			if err := binaryInt(k, out.I, shape, out, t); err != nil {
				return nil, nil, err
			}
		} else {
			applyBinary(k, out.F, shape, out.F, shape, t.F, t.Shape)
		}
	}
	if o.kind < 0 {
		if out.DType == tensor.Int64 {
			for i := range out.I {
				out.I[i] /= int64(len(in))
			}
		} else {
			inv := 1 / float32(len(in))
			for i := range out.F {
				out.F[i] *= inv
			}
		}
	}
	return []*tensor.Tensor{out}, nil, nil
}

// Backward sends the gradient to every input for Sum and Mean, and to the
// input that holds the extreme value for Max and Min (the first on ties).
func (o *variadicOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	shape, err := o.shape(in)
	if err != nil {
		return nil, err
	}
	grads := make([]*tensor.Tensor, len(in))
	if in[0].DType != tensor.Float32 {
		return grads, nil
	}
	if len(gOut) == 0 || gOut[0] == nil {
		return zeroGrads(rc, in, need), nil
	}
	g := gOut[0]
	if !tensor.SameShape(g.Shape, shape) {
		return nil, fmt.Errorf("backward: gradient shape %v, output shape %v", g.Shape, shape)
	}
	if o.kind == binAdd || o.kind < 0 {
		scale := float32(1)
		if o.kind < 0 {
			scale = 1 / float32(len(in))
		}
		for i, t := range in {
			if i < len(need) && need[i] {
				grads[i] = reduceTo(rc, g, t.Shape, false, scale)
			}
		}
		return grads, nil
	}
	y := out[0]
	taken := make([]bool, len(y.F))
	full := tensor.Strides(shape)
	for i, t := range in {
		want := i < len(need) && need[i]
		var tg *tensor.Tensor
		if want {
			tg = rc.Alloc(shape...)
		}
		p := NewLoopPlan(shape, full, BroadcastStrides(t.Shape, shape))
		s := p.Inner()
		p.ForRange(0, p.Total(), func(off [maxLoopOps]int, n int) {
			j := off[1]
			for e := off[0]; e < off[0]+n; e++ {
				if !taken[e] && t.F[j] == y.F[e] {
					taken[e] = true
					if tg != nil {
						tg.F[e] = g.F[e]
					}
				}
				j += s[1]
			}
		})
		if want {
			grads[i] = reduceTo(rc, tg, t.Shape, true, 1)
		}
	}
	return grads, nil
}

// cmpKind selects a comparison.
type cmpKind int

const (
	cmpEqual cmpKind = iota
	cmpLess
	cmpGreater
	cmpLessEq
	cmpGreaterEq
)

var cmpNames = map[cmpKind]string{cmpEqual: "Equal", cmpLess: "Less", cmpGreater: "Greater", cmpLessEq: "LessOrEqual", cmpGreaterEq: "GreaterOrEqual"}

// compareOp is Equal, Less, Greater, LessOrEqual or GreaterOrEqual: a
// broadcast comparison whose boolean output is held as int64 0/1. It has no
// gradient.
type compareOp struct {
	kind cmpKind
}

// Forward compares the inputs element by element.
func (o *compareOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	if err := checkInputs(in, 2); err != nil {
		return nil, nil, err
	}
	a, b := in[0], in[1]
	shape, err := tensor.BroadcastShape(a.Shape, b.Shape)
	if err != nil {
		return nil, nil, err
	}
	if a.DType != b.DType {
		return nil, nil, fmt.Errorf("%s: input types differ: %s and %s", cmpNames[o.kind], a, b)
	}
	out := rc.AllocInt(shape...)
	p := NewLoopPlan(shape, tensor.Strides(shape), BroadcastStrides(a.Shape, shape), BroadcastStrides(b.Shape, shape))
	s := p.Inner()
	p.ForRange(0, p.Total(), func(off [maxLoopOps]int, n int) {
		ia, ib := off[1], off[2]
		for i := off[0]; i < off[0]+n; i++ {
			var c int
			if a.DType == tensor.Int64 {
				c = cmpVals(a.I[ia], b.I[ib])
			} else {
				x, y := a.F[ia], b.F[ib]
				if x != x || y != y {
					c = 2 // unordered: every comparison is false
				} else {
					c = cmpVals(x, y)
				}
			}
			var r bool
			switch o.kind {
			case cmpEqual:
				r = c == 0
			case cmpLess:
				r = c == -1
			case cmpGreater:
				r = c == 1
			case cmpLessEq:
				r = c == -1 || c == 0
			case cmpGreaterEq:
				r = c == 1 || c == 0
			}
			if r {
				out.I[i] = 1
			}
			ia += s[1]
			ib += s[2]
		}
	})
	return []*tensor.Tensor{out}, nil, nil
}

func cmpVals[T float32 | int64](x, y T) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// Backward returns no gradients: comparisons are not differentiable.
func (o *compareOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	return make([]*tensor.Tensor, len(in)), nil
}

// notOp is the logical Not of a boolean (int64 0/1) tensor.
type notOp struct{}

// Forward negates each element.
func (notOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	if err := checkInputs(in, 1); err != nil {
		return nil, nil, err
	}
	x := in[0]
	if x.DType != tensor.Int64 {
		return nil, nil, fmt.Errorf("expected a boolean tensor, got %s", x)
	}
	out := rc.AllocInt(x.Shape...)
	for i, v := range x.I {
		if v == 0 {
			out.I[i] = 1
		}
	}
	return []*tensor.Tensor{out}, nil, nil
}

// Backward returns no gradient.
func (notOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	return make([]*tensor.Tensor, len(in)), nil
}

// whereOp selects X where the condition is true and Y elsewhere, with
// three-way broadcasting; the gradient flows to X and Y accordingly.
type whereOp struct{}

func (whereOp) shape(in []*tensor.Tensor) ([]int, error) {
	if err := checkInputs(in, 3); err != nil {
		return nil, err
	}
	if in[0].DType != tensor.Int64 {
		return nil, fmt.Errorf("condition must be boolean, got %s", in[0])
	}
	if in[1].DType != in[2].DType {
		return nil, fmt.Errorf("input X and Y types differ: %s and %s", in[1], in[2])
	}
	s, err := tensor.BroadcastShape(in[0].Shape, in[1].Shape)
	if err != nil {
		return nil, err
	}
	return tensor.BroadcastShape(s, in[2].Shape)
}

// Forward selects element by element.
func (w whereOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	shape, err := w.shape(in)
	if err != nil {
		return nil, nil, err
	}
	c, x, y := in[0], in[1], in[2]
	out := allocLike(rc, x.DType, shape)
	p := NewLoopPlan(shape, BroadcastStrides(c.Shape, shape), BroadcastStrides(x.Shape, shape), BroadcastStrides(y.Shape, shape))
	s := p.Inner()
	e := 0
	p.ForRange(0, p.Total(), func(off [maxLoopOps]int, n int) {
		ic, ix, iy := off[0], off[1], off[2]
		for i := 0; i < n; i++ {
			if x.DType == tensor.Int64 {
				if c.I[ic] != 0 {
					out.I[e] = x.I[ix]
				} else {
					out.I[e] = y.I[iy]
				}
			} else {
				if c.I[ic] != 0 {
					out.F[e] = x.F[ix]
				} else {
					out.F[e] = y.F[iy]
				}
			}
			e++
			ic += s[0]
			ix += s[1]
			iy += s[2]
		}
	})
	return []*tensor.Tensor{out}, nil, nil
}

// Backward routes the gradient to X where the condition holds, else to Y.
func (w whereOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	shape, err := w.shape(in)
	if err != nil {
		return nil, err
	}
	grads := make([]*tensor.Tensor, 3)
	if in[1].DType != tensor.Float32 {
		return grads, nil
	}
	if len(gOut) == 0 || gOut[0] == nil {
		return zeroGrads(rc, in, need), nil
	}
	g := gOut[0]
	c := in[0]
	for k := 1; k <= 2; k++ {
		if k >= len(need) || !need[k] {
			continue
		}
		t := rc.Alloc(shape...)
		p := NewLoopPlan(shape, tensor.Strides(shape), BroadcastStrides(c.Shape, shape))
		s := p.Inner()
		want := k == 1
		p.ForRange(0, p.Total(), func(off [maxLoopOps]int, n int) {
			ic := off[1]
			for i := off[0]; i < off[0]+n; i++ {
				if (c.I[ic] != 0) == want {
					t.F[i] = g.F[i]
				}
				ic += s[1]
			}
		})
		grads[k] = reduceTo(rc, t, in[k].Shape, true, 1)
	}
	return grads, nil
}

// unaryKind selects a unary element-wise operation.
type unaryKind int

const (
	unNeg unaryKind = iota
	unSqrt
	unExp
	unLog
	unErf
	unAbs
	unReciprocal
	unFloor
	unCeil
	unSin
	unCos
	unRound
	unSign
	unRelu
	unLeakyRelu
	unSigmoid
	unTanh
	unElu
	unSelu
	unHardSigmoid
	unSoftplus
	unSoftsign
	unIdentity
)

// unaryOp is a unary element-wise op; alpha and beta are its parameters
// (LeakyRelu's slope, Elu's alpha, HardSigmoid's alpha and beta, Selu's
// alpha and gamma). Neg, Abs, Sign and Relu also run on int64 tensors.
type unaryOp struct {
	kind        unaryKind
	alpha, beta float32
}

func buildUnary(n *NodeInfo, kind unaryKind, alpha, beta float32) (Op, error) {
	if len(n.Inputs) != 1 {
		return nil, n.errorf("expected 1 input, got %d", len(n.Inputs))
	}
	return &unaryOp{kind: kind, alpha: alpha, beta: beta}, nil
}

// Forward applies the function to every element.
func (o *unaryOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	if err := checkInputs(in, 1); err != nil {
		return nil, nil, err
	}
	x := in[0]
	if x.DType == tensor.Int64 {
		out := rc.AllocInt(x.Shape...)
		for i, v := range x.I {
			switch o.kind {
			case unNeg:
				out.I[i] = -v
			case unAbs:
				out.I[i] = max(v, -v)
			case unRelu:
				out.I[i] = max(v, 0)
			case unSign:
				out.I[i] = int64(cmpVals(v, 0))
			case unIdentity, unFloor, unCeil, unRound:
				out.I[i] = v
			default:
				return nil, nil, fmt.Errorf("unary op %d does not take integer input %s", o.kind, x)
			}
		}
		return []*tensor.Tensor{out}, nil, nil
	}
	out := rc.AllocNoZero(x.Shape...) // forward writes every element
	tensor.ParallelFor(len(x.F), parallelGrain, func(lo, hi int) {
		o.forward(out.F[lo:hi], x.F[lo:hi])
	})
	return []*tensor.Tensor{out}, nil, nil
}

func (o *unaryOp) forward(y, x []float32) {
	switch o.kind {
	case unNeg:
		for i, v := range x {
			y[i] = -v
		}
	case unRelu:
		// Branch-free: activations are positive about half the time, so
		// a branch mispredicts constantly. The mask keeps NaN (v > 0 is
		// false for NaN, so NaN becomes 0, as the branchy form did).
		y = y[:len(x)]
		for i, v := range x {
			y[i] = math.Float32frombits(math.Float32bits(v) & reluMask(v))
		}
	case unLeakyRelu:
		for i, v := range x {
			if v >= 0 {
				y[i] = v
			} else {
				y[i] = o.alpha * v
			}
		}
	case unSigmoid:
		for i, v := range x {
			y[i] = sigmoid(v)
		}
	case unErf:
		y = y[:len(x)]
		for i, v := range x {
			y[i] = erff32(v)
		}
	case unIdentity:
		copy(y, x)
	default:
		for i, v := range x {
			y[i] = o.scalar(v)
		}
	}
}

func sigmoid(v float32) float32 {
	if v >= 0 {
		return float32(1 / (1 + math.Exp(-float64(v))))
	}
	e := math.Exp(float64(v))
	return float32(e / (1 + e))
}

func (o *unaryOp) scalar(v float32) float32 {
	x := float64(v)
	switch o.kind {
	case unSqrt:
		return float32(math.Sqrt(x))
	case unExp:
		return float32(math.Exp(x))
	case unLog:
		return float32(math.Log(x))
	case unErf:
		return erff32(v)
	case unAbs:
		return float32(math.Abs(x))
	case unReciprocal:
		return 1 / v
	case unFloor:
		return float32(math.Floor(x))
	case unCeil:
		return float32(math.Ceil(x))
	case unSin:
		return float32(math.Sin(x))
	case unCos:
		return float32(math.Cos(x))
	case unRound:
		return float32(math.RoundToEven(x))
	case unSign:
		switch {
		case v > 0:
			return 1
		case v < 0:
			return -1
		}
		return v
	case unTanh:
		return float32(math.Tanh(x))
	case unElu:
		if v >= 0 {
			return v
		}
		return o.alpha * float32(math.Expm1(x))
	case unSelu:
		if v > 0 {
			return o.beta * v
		}
		return o.beta * o.alpha * float32(math.Expm1(x))
	case unHardSigmoid:
		return max(0, min(1, o.alpha*v+o.beta))
	case unSoftplus:
		if x > 20 {
			return v
		}
		return float32(math.Log1p(math.Exp(x)))
	case unSoftsign:
		return v / (1 + float32(math.Abs(x)))
	}
	return 0
}

// derivative returns dy/dx at x, where y is the output at x.
func (o *unaryOp) derivative(x, y float32) float32 {
	switch o.kind {
	case unNeg:
		return -1
	case unSqrt:
		return 0.5 / y
	case unExp:
		return y
	case unLog:
		return 1 / x
	case unErf:
		return 2 / math.SqrtPi * expf32(-x*x)
	case unAbs, unSign:
		if o.kind == unSign {
			return 0
		}
		switch {
		case x > 0:
			return 1
		case x < 0:
			return -1
		}
		return 0
	case unReciprocal:
		return -y * y
	case unSin:
		return float32(math.Cos(float64(x)))
	case unCos:
		return -float32(math.Sin(float64(x)))
	case unRelu:
		if x > 0 {
			return 1
		}
		return 0
	case unLeakyRelu:
		if x >= 0 {
			return 1
		}
		return o.alpha
	case unSigmoid:
		return y * (1 - y)
	case unTanh:
		return 1 - y*y
	case unElu:
		if x >= 0 {
			return 1
		}
		return y + o.alpha
	case unSelu:
		if x > 0 {
			return o.beta
		}
		return y + o.beta*o.alpha
	case unHardSigmoid:
		if v := o.alpha*x + o.beta; v > 0 && v < 1 {
			return o.alpha
		}
		return 0
	case unSoftplus:
		return sigmoid(x)
	case unSoftsign:
		d := 1 + float32(math.Abs(float64(x)))
		return 1 / (d * d)
	case unIdentity:
		return 1
	}
	// Floor, Ceil, Round: zero almost everywhere.
	return 0
}

// readsOutput reports whether Backward reads the output's data: Relu's
// and Neg's rules read only X (their cases below).
func (o *unaryOp) readsOutput() bool { return o.kind != unRelu && o.kind != unNeg && o.kind != unErf }

// backwardReads: X's data always; Y's unless readsOutput says not.
func (o *unaryOp) backwardReads(need []bool, nOut int) (in, out []bool) {
	in, out = make([]bool, len(need)), make([]bool, nOut)
	for i := range in {
		in[i] = true
	}
	for j := range out {
		out[j] = o.readsOutput()
	}
	return in, out
}

// Backward multiplies the output gradient by the derivative.
func (o *unaryOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, 1)
	if len(need) == 0 || !need[0] || len(in) == 0 || in[0] == nil || in[0].DType != tensor.Float32 {
		return grads, nil
	}
	x := in[0]
	if len(gOut) == 0 || gOut[0] == nil {
		grads[0] = rc.Alloc(x.Shape...)
		return grads, nil
	}
	gx := rc.AllocNoZero(x.Shape...) // every element is written below
	grads[0] = gx
	g := gOut[0]
	if len(g.F) != len(x.F) || len(out) == 0 || out[0] == nil || out[0].Len() != len(x.F) || (o.readsOutput() && len(out[0].F) != len(x.F)) {
		return nil, fmt.Errorf("backward: gradient or output does not match input %s", x)
	}
	y := out[0]
	tensor.ParallelFor(len(x.F), parallelGrain, func(lo, hi int) {
		switch o.kind {
		case unRelu:
			xs, gs, gxs := x.F[lo:hi], g.F[lo:hi], gx.F[lo:hi]
			for i, v := range xs {
				gxs[i] = math.Float32frombits(math.Float32bits(gs[i]) & reluMask(v))
			}
		case unSigmoid:
			for i := lo; i < hi; i++ {
				gx.F[i] = g.F[i] * y.F[i] * (1 - y.F[i])
			}
		case unNeg:
			for i := lo; i < hi; i++ {
				gx.F[i] = -g.F[i]
			}
		case unErf:
			xs, gs, gxs := x.F[lo:hi], g.F[lo:hi], gx.F[lo:hi]
			gs, gxs = gs[:len(xs)], gxs[:len(xs)]
			for i, v := range xs {
				gxs[i] = gs[i] * (2 / math.SqrtPi) * expf32(-v*v)
			}
		default:
			for i := lo; i < hi; i++ {
				gx.F[i] = g.F[i] * o.derivative(x.F[i], y.F[i])
			}
		}
	})
	return grads, nil
}

// reluMask is all ones when v > 0 and zero otherwise (NaN included),
// computed without a branch.
func reluMask(v float32) uint32 {
	var b uint32
	if v > 0 {
		b = 1
	}
	return -b
}
