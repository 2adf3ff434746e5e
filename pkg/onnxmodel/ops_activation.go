package onnxmodel

// Activations and pass-through ops: Relu, LeakyRelu, PRelu, Sigmoid, Tanh,
// Elu, Selu, HardSigmoid, Softplus, Softsign, Clip, Softmax, LogSoftmax,
// Identity, Dropout and Cast.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/tensor"
)

func init() {
	register("Relu", func(n *NodeInfo) (Op, error) { return buildUnary(n, unRelu, 0, 0) })
	register("Sigmoid", func(n *NodeInfo) (Op, error) { return buildUnary(n, unSigmoid, 0, 0) })
	register("Tanh", func(n *NodeInfo) (Op, error) { return buildUnary(n, unTanh, 0, 0) })
	register("Softplus", func(n *NodeInfo) (Op, error) { return buildUnary(n, unSoftplus, 0, 0) })
	register("Softsign", func(n *NodeInfo) (Op, error) { return buildUnary(n, unSoftsign, 0, 0) })
	register("LeakyRelu", func(n *NodeInfo) (Op, error) {
		a, err := n.Float("alpha", 0.01)
		if err != nil {
			return nil, err
		}
		return buildUnary(n, unLeakyRelu, a, 0)
	})
	register("Elu", func(n *NodeInfo) (Op, error) {
		a, err := n.Float("alpha", 1)
		if err != nil {
			return nil, err
		}
		return buildUnary(n, unElu, a, 0)
	})
	register("Selu", func(n *NodeInfo) (Op, error) {
		a, err := n.Float("alpha", 1.67326319217681884765625)
		if err != nil {
			return nil, err
		}
		g, err := n.Float("gamma", 1.05070102214813232421875)
		if err != nil {
			return nil, err
		}
		return buildUnary(n, unSelu, a, g)
	})
	register("HardSigmoid", func(n *NodeInfo) (Op, error) {
		a, err := n.Float("alpha", 0.2)
		if err != nil {
			return nil, err
		}
		b, err := n.Float("beta", 0.5)
		if err != nil {
			return nil, err
		}
		return buildUnary(n, unHardSigmoid, a, b)
	})
	register("Identity", func(n *NodeInfo) (Op, error) {
		if len(n.Inputs) != 1 {
			return nil, n.errorf("expected 1 input, got %d", len(n.Inputs))
		}
		return identityOp{}, nil
	})
	register("PRelu", buildPRelu)
	register("Clip", buildClip)
	register("Softmax", func(n *NodeInfo) (Op, error) { return buildSoftmax(n, false) })
	register("LogSoftmax", func(n *NodeInfo) (Op, error) { return buildSoftmax(n, true) })
	register("Dropout", buildDropout)
	register("Cast", buildCast)
}

// identityOp returns its input unchanged (the output shares the input's data).
type identityOp struct{}

// Forward returns the input.
func (identityOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	if err := checkInputs(in, 1); err != nil {
		return nil, nil, err
	}
	return []*tensor.Tensor{in[0]}, nil, nil
}

// backwardReads: Backward reads shapes only (passGrad).
func (identityOp) backwardReads(need []bool, nOut int) (in, out []bool) { return readsNone(need, nOut) }

// Backward passes a copy of the gradient through.
func (identityOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	return passGrad(rc, in, gOut, need)
}

// passGrad returns a copy of gOut[0], reshaped to in[0]'s shape, as the
// gradient of input 0 (zeros when no gradient arrives).
func passGrad(rc *RunContext, in, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, len(in))
	if len(need) == 0 || !need[0] || len(in) == 0 || in[0] == nil || in[0].DType != tensor.Float32 {
		return grads, nil
	}
	gx := rc.Alloc(in[0].Shape...)
	grads[0] = gx
	if len(gOut) > 0 && gOut[0] != nil {
		if len(gOut[0].F) != len(gx.F) {
			return nil, fmt.Errorf("backward: gradient %s does not match input %s", gOut[0], in[0])
		}
		copy(gx.F, gOut[0].F)
	}
	return grads, nil
}

// preluOp is PRelu: x for x >= 0, slope·x below, with slope broadcast to x.
type preluOp struct{}

func buildPRelu(n *NodeInfo) (Op, error) {
	if len(n.Inputs) != 2 {
		return nil, n.errorf("expected 2 inputs (X, slope), got %d", len(n.Inputs))
	}
	return preluOp{}, nil
}

func (preluOp) check(in []*tensor.Tensor) error {
	if err := checkInputs(in, 2); err != nil {
		return err
	}
	x, s := in[0], in[1]
	if x.DType != tensor.Float32 || s.DType != tensor.Float32 {
		return fmt.Errorf("expected float inputs, got %s and %s", x, s)
	}
	shape, err := tensor.BroadcastShape(x.Shape, s.Shape)
	if err != nil || !tensor.SameShape(shape, x.Shape) {
		return fmt.Errorf("slope %v does not broadcast to X %v", s.Shape, x.Shape)
	}
	return nil
}

// Forward applies the leaky rectifier with per-element slopes.
func (o preluOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	if err := o.check(in); err != nil {
		return nil, nil, err
	}
	x, sl := in[0], in[1]
	out := rc.Alloc(x.Shape...)
	p := NewLoopPlan(x.Shape, tensor.Strides(x.Shape), BroadcastStrides(sl.Shape, x.Shape))
	s := p.Inner()
	p.Parallel(func(off [maxLoopOps]int, n int) {
		j := off[1]
		for i := off[0]; i < off[0]+n; i++ {
			v := x.F[i]
			if v < 0 {
				v *= sl.F[j]
			}
			out.F[i] = v
			j += s[1]
		}
	})
	return []*tensor.Tensor{out}, nil, nil
}

// Backward returns the gradients for X and for the slope.
func (o preluOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	if err := o.check(in); err != nil {
		return nil, err
	}
	if len(gOut) == 0 || gOut[0] == nil {
		return zeroGrads(rc, in, need), nil
	}
	x, sl, g := in[0], in[1], gOut[0]
	if len(g.F) != len(x.F) {
		return nil, fmt.Errorf("gradient %s does not match X %s", g, x)
	}
	grads := make([]*tensor.Tensor, 2)
	var gx, gs *tensor.Tensor
	if need[0] {
		gx = rc.Alloc(x.Shape...)
	}
	if len(need) > 1 && need[1] {
		gs = rc.Alloc(x.Shape...)
	}
	p := NewLoopPlan(x.Shape, tensor.Strides(x.Shape), BroadcastStrides(sl.Shape, x.Shape))
	s := p.Inner()
	p.Parallel(func(off [maxLoopOps]int, n int) {
		j := off[1]
		for i := off[0]; i < off[0]+n; i++ {
			v := x.F[i]
			if v < 0 {
				if gx != nil {
					gx.F[i] = g.F[i] * sl.F[j]
				}
				if gs != nil {
					gs.F[i] = g.F[i] * v
				}
			} else if gx != nil {
				gx.F[i] = g.F[i]
			}
			j += s[1]
		}
	})
	grads[0] = gx
	if gs != nil {
		grads[1] = reduceTo(rc, gs, sl.Shape, true, 1)
	}
	return grads, nil
}

// clipOp is Clip: min(max(x, lo), hi). Before opset 11 the bounds are the
// min and max attributes; from 11 they are optional inputs 1 and 2.
type clipOp struct {
	fromInputs bool
	lo, hi     float32
}

func buildClip(n *NodeInfo) (Op, error) {
	if len(n.Inputs) < 1 || len(n.Inputs) > 3 {
		return nil, n.errorf("expected 1 to 3 inputs, got %d", len(n.Inputs))
	}
	op := &clipOp{lo: float32(math.Inf(-1)), hi: float32(math.Inf(1))}
	if n.Opset >= 11 {
		op.fromInputs = true
		for _, a := range []string{"min", "max"} {
			if n.Has(a) {
				return nil, n.errorf("attribute %s: not allowed from opset 11, pass it as an input", a)
			}
		}
		return op, nil
	}
	if len(n.Inputs) != 1 {
		return nil, n.errorf("expected 1 input before opset 11, got %d", len(n.Inputs))
	}
	var err error
	if op.lo, err = n.Float("min", op.lo); err != nil {
		return nil, err
	}
	if op.hi, err = n.Float("max", op.hi); err != nil {
		return nil, err
	}
	return op, nil
}

// bounds returns the clip range for this run.
func (o *clipOp) bounds(in []*tensor.Tensor) (lo, hi float64, err error) {
	if err = checkInputs(in, 1); err != nil {
		return
	}
	lo, hi = float64(o.lo), float64(o.hi)
	if !o.fromInputs {
		return
	}
	if in[0].DType == tensor.Int64 {
		lo, hi = math.MinInt64, math.MaxInt64
	}
	for k, name := range []string{"min", "max"} {
		if k+1 < len(in) && in[k+1] != nil {
			if in[k+1].DType != in[0].DType {
				return 0, 0, fmt.Errorf("%s type %s differs from input %s", name, in[k+1], in[0])
			}
			v, e := scalarFloat(in[k+1], "Clip "+name)
			if e != nil {
				return 0, 0, e
			}
			if k == 0 {
				lo = v
			} else {
				hi = v
			}
		}
	}
	return
}

// Forward clamps every element.
func (o *clipOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	lo, hi, err := o.bounds(in)
	if err != nil {
		return nil, nil, err
	}
	x := in[0]
	if x.DType == tensor.Int64 {
		out := rc.AllocInt(x.Shape...)
		l, h := in64(in, 1, math.MinInt64), in64(in, 2, math.MaxInt64)
		for i, v := range x.I {
			out.I[i] = min(max(v, l), h)
		}
		return []*tensor.Tensor{out}, nil, nil
	}
	l, h := float32(lo), float32(hi)
	out := rc.Alloc(x.Shape...)
	tensor.ParallelFor(len(x.F), parallelGrain, func(a, b int) {
		for i := a; i < b; i++ {
			v := x.F[i]
			if v < l {
				v = l
			}
			if v > h {
				v = h
			}
			out.F[i] = v
		}
	})
	return []*tensor.Tensor{out}, nil, nil
}

// in64 returns the integer scalar input k, or def when it is absent.
func in64(in []*tensor.Tensor, k int, def int64) int64 {
	if k < len(in) && in[k] != nil && len(in[k].I) == 1 {
		return in[k].I[0]
	}
	return def
}

// Backward passes the gradient where lo <= x <= hi (PyTorch's convention).
func (o *clipOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	lo, hi, err := o.bounds(in)
	if err != nil {
		return nil, err
	}
	grads := make([]*tensor.Tensor, len(in))
	x := in[0]
	if len(need) == 0 || !need[0] || x.DType != tensor.Float32 {
		return grads, nil
	}
	gx := rc.Alloc(x.Shape...)
	grads[0] = gx
	if len(gOut) == 0 || gOut[0] == nil {
		return grads, nil
	}
	g := gOut[0]
	if len(g.F) != len(x.F) {
		return nil, fmt.Errorf("gradient %s does not match input %s", g, x)
	}
	l, h := float32(lo), float32(hi)
	for i, v := range x.F {
		if v >= l && v <= h {
			gx.F[i] = g.F[i]
		}
	}
	return grads, nil
}

// softmaxOp is Softmax or LogSoftmax. Before opset 13 the input is coerced
// to 2-D at axis (default 1) and normalised over the flattened trailing
// dimensions; from opset 13 it is normalised over the single axis
// (default -1).
type softmaxOp struct {
	axis   int64
	legacy bool
	log    bool
}

func buildSoftmax(n *NodeInfo, log bool) (Op, error) {
	if len(n.Inputs) != 1 {
		return nil, n.errorf("expected 1 input, got %d", len(n.Inputs))
	}
	op := &softmaxOp{legacy: n.Opset < 13, log: log}
	def := int64(-1)
	if op.legacy {
		def = 1
	}
	var err error
	if op.axis, err = n.Int("axis", def); err != nil {
		return nil, err
	}
	return op, nil
}

// geometry returns the number of independent lines, their length, and the
// stride between a line's elements.
func (o *softmaxOp) geometry(x *tensor.Tensor) (outer, n, inner int, err error) {
	r := x.Rank()
	if r == 0 {
		return 1, 1, 1, nil
	}
	ax, err := normAxis(o.axis, r)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("attribute axis: %v", err)
	}
	outer = tensor.Numel(x.Shape[:ax])
	if o.legacy {
		return outer, tensor.Numel(x.Shape[ax:]), 1, nil
	}
	return outer, x.Shape[ax], tensor.Numel(x.Shape[ax+1:]), nil
}

// Forward normalises every line.
func (o *softmaxOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	if err := checkInputs(in, 1); err != nil {
		return nil, nil, err
	}
	x := in[0]
	if x.DType != tensor.Float32 {
		return nil, nil, fmt.Errorf("expected a float input, got %s", x)
	}
	outer, n, inner, err := o.geometry(x)
	if err != nil {
		return nil, nil, err
	}
	y := rc.AllocNoZero(x.Shape...) // every line is written below
	lines := outer * inner
	if n == 0 || lines == 0 {
		return []*tensor.Tensor{y}, nil, nil
	}
	tensor.ParallelFor(lines, max(1, parallelGrain/n), func(lo, hi int) {
		for l := lo; l < hi; l++ {
			base := (l/inner)*n*inner + l%inner
			m := float32(math.Inf(-1))
			if inner == 1 {
				// A comparison rather than max, whose NaN and signed-zero
				// rules cost a branch chain per element; a NaN it skips
				// still makes the whole line NaN through the sum.
				for _, v := range x.F[base : base+n] {
					if v > m {
						m = v
					}
				}
			} else {
				for j := 0; j < n; j++ {
					m = max(m, x.F[base+j*inner])
				}
			}
			var sum float64
			if inner == 1 && !o.log {
				// The common case (the last axis): contiguous lines.
				sum = expShiftRow(y.F[base:base+n], x.F[base:base+n], m)
			} else {
				for j := 0; j < n; j++ {
					e := expf32(x.F[base+j*inner] - m)
					sum += float64(e)
					if !o.log {
						y.F[base+j*inner] = e
					}
				}
			}
			if o.log {
				ls := float32(math.Log(sum))
				for j := 0; j < n; j++ {
					y.F[base+j*inner] = x.F[base+j*inner] - m - ls
				}
			} else {
				inv := float32(1 / sum)
				for j := 0; j < n; j++ {
					y.F[base+j*inner] *= inv
				}
			}
		}
	})
	return []*tensor.Tensor{y}, nil, nil
}

// Backward: softmax gx = y·(g - Σ g·y); log-softmax gx = g - exp(y)·Σ g.
func (o *softmaxOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, 1)
	if len(need) == 0 || !need[0] {
		return grads, nil
	}
	if err := checkInputs(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	gx := rc.Alloc(x.Shape...)
	grads[0] = gx
	if len(gOut) == 0 || gOut[0] == nil {
		return grads, nil
	}
	g, y := gOut[0], out[0]
	if len(g.F) != len(x.F) || len(y.F) != len(x.F) {
		return nil, fmt.Errorf("backward: gradient or output does not match input %s", x)
	}
	outer, n, inner, err := o.geometry(x)
	if err != nil {
		return nil, err
	}
	lines := outer * inner
	if n == 0 || lines == 0 {
		return grads, nil
	}
	tensor.ParallelFor(lines, max(1, parallelGrain/n), func(lo, hi int) {
		for l := lo; l < hi; l++ {
			base := (l/inner)*n*inner + l%inner
			var dot float64
			for j := 0; j < n; j++ {
				k := base + j*inner
				if o.log {
					dot += float64(g.F[k])
				} else {
					dot += float64(g.F[k]) * float64(y.F[k])
				}
			}
			d := float32(dot)
			for j := 0; j < n; j++ {
				k := base + j*inner
				if o.log {
					gx.F[k] = g.F[k] - float32(math.Exp(float64(y.F[k])))*d
				} else {
					gx.F[k] = y.F[k] * (g.F[k] - d)
				}
			}
		}
	})
	return grads, nil
}

// dropoutOp is Dropout. At inference it is the identity (and its optional
// mask output is all true). It drops elements with probability ratio, and
// scales the others by 1/(1-ratio), when the run trains (RunContext.Training)
// or, from opset 12, when the training_mode input is true.
type dropoutOp struct {
	opset int64
	ratio float32
	nOut  int
	seq   *atomic.Uint64
}

// dropoutSeed seeds training-mode dropout masks; each run of a Dropout node
// draws the next stream, so a fixed sequence of runs gives fixed masks.
const dropoutSeed = 0x5eed_d0d0

func buildDropout(n *NodeInfo) (Op, error) {
	if len(n.Inputs) < 1 || len(n.Inputs) > 3 {
		return nil, n.errorf("expected 1 to 3 inputs, got %d", len(n.Inputs))
	}
	if len(n.Outputs) > 2 {
		return nil, n.errorf("expected 1 or 2 outputs, got %d", len(n.Outputs))
	}
	op := &dropoutOp{opset: n.Opset, ratio: 0.5, nOut: max(1, len(n.Outputs)), seq: new(atomic.Uint64)}
	if n.Opset < 12 {
		var err error
		if op.ratio, err = n.Float("ratio", 0.5); err != nil {
			return nil, err
		}
		if op.ratio < 0 || op.ratio >= 1 {
			return nil, n.errorf("attribute ratio: expected a value in [0, 1), got %g", op.ratio)
		}
	} else if n.Has("ratio") {
		return nil, n.errorf("attribute ratio: not allowed from opset 12, pass it as input 1")
	}
	return op, nil
}

type dropoutSaved struct {
	mask  []bool
	scale float32
}

// Forward copies the input, or drops elements in training mode.
func (o *dropoutOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	if err := checkInputs(in, 1); err != nil {
		return nil, nil, err
	}
	x := in[0]
	ratio := o.ratio
	training := rc != nil && rc.Training
	if o.opset >= 12 {
		if len(in) > 1 && in[1] != nil {
			r, err := scalarFloat(in[1], "Dropout ratio")
			if err != nil {
				return nil, nil, err
			}
			ratio = float32(r)
		}
		if len(in) > 2 && in[2] != nil {
			t, err := scalarFloat(in[2], "Dropout training_mode")
			if err != nil {
				return nil, nil, err
			}
			training = training || t != 0
		}
	}
	if ratio < 0 || ratio >= 1 {
		return nil, nil, fmt.Errorf("ratio must be in [0, 1), got %g", ratio)
	}
	var mask *tensor.Tensor
	if o.nOut < 2 {
		mask = &tensor.Tensor{} // not an output: a dummy with no elements
	} else if o.opset >= 10 {
		mask = rc.AllocInt(x.Shape...)
	} else {
		mask = rc.Alloc(x.Shape...)
	}
	if !training || ratio == 0 || x.DType != tensor.Float32 {
		for i := range mask.I {
			mask.I[i] = 1
		}
		for i := range mask.F {
			mask.F[i] = 1
		}
		return []*tensor.Tensor{x, mask}[:o.nOut], nil, nil
	}
	rng := rand.New(rand.NewPCG(dropoutSeed, o.seq.Add(1)))
	sv := &dropoutSaved{mask: make([]bool, len(x.F)), scale: 1 / (1 - ratio)}
	y := rc.Alloc(x.Shape...)
	for i, v := range x.F {
		if rng.Float32() >= ratio {
			sv.mask[i] = true
			y.F[i] = v * sv.scale
			if mask.DType == tensor.Int64 && mask.I != nil {
				mask.I[i] = 1
			} else if mask.F != nil {
				mask.F[i] = 1
			}
		}
	}
	return []*tensor.Tensor{y, mask}[:o.nOut], sv, nil
}

// Backward passes the gradient through the kept elements.
func (o *dropoutOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	grads, err := passGrad(rc, in, gOut, need)
	if err != nil || grads[0] == nil {
		return grads, err
	}
	if sv, ok := saved.(*dropoutSaved); ok {
		for i := range grads[0].F {
			if sv.mask[i] {
				grads[0].F[i] *= sv.scale
			} else {
				grads[0].F[i] = 0
			}
		}
	}
	return grads, nil
}

// castOp is Cast. Floating types (FLOAT, DOUBLE, FLOAT16, BFLOAT16) become
// float32 tensors, integer and bool types become int64 tensors; converting
// to a narrower integer type wraps as C does, and to BOOL gives 0/1. The
// gradient passes through float-to-float casts only.
type castOp struct {
	to onnxpb.TensorProto_DataType
}

func buildCast(n *NodeInfo) (Op, error) {
	if len(n.Inputs) != 1 {
		return nil, n.errorf("expected 1 input, got %d", len(n.Inputs))
	}
	if !n.Has("to") {
		return nil, n.errorf("attribute to: required (the target data type)")
	}
	to, err := n.Int("to", 0)
	if err != nil {
		return nil, err
	}
	dt := onnxpb.TensorProto_DataType(to)
	switch dt {
	case onnxpb.TensorProto_FLOAT, onnxpb.TensorProto_DOUBLE, onnxpb.TensorProto_FLOAT16, onnxpb.TensorProto_BFLOAT16,
		onnxpb.TensorProto_INT64, onnxpb.TensorProto_INT32, onnxpb.TensorProto_INT16, onnxpb.TensorProto_INT8,
		onnxpb.TensorProto_UINT64, onnxpb.TensorProto_UINT32, onnxpb.TensorProto_UINT16, onnxpb.TensorProto_UINT8,
		onnxpb.TensorProto_BOOL:
	default:
		return nil, n.errorf("attribute to: unsupported target type %s (%d)", dt, to)
	}
	return &castOp{to: dt}, nil
}

func (o *castOp) toFloat() bool {
	switch o.to {
	case onnxpb.TensorProto_FLOAT, onnxpb.TensorProto_DOUBLE, onnxpb.TensorProto_FLOAT16, onnxpb.TensorProto_BFLOAT16:
		return true
	}
	return false
}

// wrapInt converts v to the target integer type and back to int64.
func (o *castOp) wrapInt(v int64) int64 {
	switch o.to {
	case onnxpb.TensorProto_INT32:
		return int64(int32(v))
	case onnxpb.TensorProto_INT16:
		return int64(int16(v))
	case onnxpb.TensorProto_INT8:
		return int64(int8(v))
	case onnxpb.TensorProto_UINT32:
		return int64(uint32(v))
	case onnxpb.TensorProto_UINT16:
		return int64(uint16(v))
	case onnxpb.TensorProto_UINT8:
		return int64(uint8(v))
	case onnxpb.TensorProto_BOOL:
		if v != 0 {
			return 1
		}
		return 0
	}
	return v
}

// Forward converts every element.
func (o *castOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	if err := checkInputs(in, 1); err != nil {
		return nil, nil, err
	}
	x := in[0]
	if o.toFloat() {
		if x.DType == tensor.Float32 {
			return []*tensor.Tensor{x}, nil, nil
		}
		return []*tensor.Tensor{intToFloat(rc, x)}, nil, nil
	}
	out := rc.AllocInt(x.Shape...)
	if x.DType == tensor.Int64 {
		for i, v := range x.I {
			out.I[i] = o.wrapInt(v)
		}
		return []*tensor.Tensor{out}, nil, nil
	}
	for i, v := range x.F {
		switch {
		case o.to == onnxpb.TensorProto_BOOL:
			if v != 0 {
				out.I[i] = 1
			}
		case v != v:
			out.I[i] = 0
		case o.to == onnxpb.TensorProto_UINT64 && float64(v) >= 1<<63:
			out.I[i] = int64(uint64(v))
		case float64(v) >= math.MaxInt64:
			out.I[i] = math.MaxInt64
		case float64(v) <= math.MinInt64:
			out.I[i] = math.MinInt64
		default:
			out.I[i] = o.wrapInt(int64(v))
		}
	}
	return []*tensor.Tensor{out}, nil, nil
}

// Backward passes the gradient through float-to-float casts.
func (o *castOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	if !o.toFloat() {
		return make([]*tensor.Tensor, len(in)), nil
	}
	return passGrad(rc, in, gOut, need)
}
