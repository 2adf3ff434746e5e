package onnxmodel

// Broadcast binary ops on booleans and integers: And, Or, Xor (boolean
// tensors held as int64 0/1) and Mod (integer or float, with the fmod
// attribute choosing C's fmod or Python's sign-of-divisor remainder).

import (
	"fmt"
	"math"

	"github.com/advtest/advtest/pkg/tensor"
)

type logicKind int

const (
	logicAnd logicKind = iota
	logicOr
	logicXor
)

func init() {
	for name, k := range map[string]logicKind{"And": logicAnd, "Or": logicOr, "Xor": logicXor} {
		kind, opName := k, name
		register(name, func(n *NodeInfo) (Op, error) {
			if err := checkInputCount(n, 2, 2, "A, B"); err != nil {
				return nil, err
			}
			if n.Opset < 7 && (n.Has("broadcast") || n.Has("axis")) {
				return nil, n.errorf("attribute broadcast/axis: legacy (opset < 7) broadcasting is not supported")
			}
			return &logicOp{kind: kind, name: opName}, nil
		})
	}
	register("Mod", buildMod)
}

// logicOp is And, Or or Xor of two broadcast boolean tensors.
type logicOp struct {
	kind logicKind
	name string
}

// Forward combines the inputs element by element.
func (o *logicOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	if err := checkInputs(in, 2); err != nil {
		return nil, nil, err
	}
	a, b := in[0], in[1]
	if a.DType != tensor.Int64 || b.DType != tensor.Int64 {
		return nil, nil, fmt.Errorf("%s: expected boolean inputs, got %s and %s", o.name, a, b)
	}
	shape, err := tensor.BroadcastShape(a.Shape, b.Shape)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %v", o.name, err)
	}
	out := rc.AllocInt(shape...)
	if out.Len() == 0 {
		return []*tensor.Tensor{out}, nil, nil
	}
	p := NewLoopPlan(shape, tensor.Strides(shape), BroadcastStrides(a.Shape, shape), BroadcastStrides(b.Shape, shape))
	s := p.Inner()
	p.ForRange(0, p.Total(), func(off [maxLoopOps]int, n int) {
		ia, ib := off[1], off[2]
		for i := off[0]; i < off[0]+n; i++ {
			x, y := a.I[ia] != 0, b.I[ib] != 0
			var r bool
			switch o.kind {
			case logicAnd:
				r = x && y
			case logicOr:
				r = x || y
			case logicXor:
				r = x != y
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

// Backward returns no gradients: boolean ops are not differentiable.
func (o *logicOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	return make([]*tensor.Tensor, len(in)), nil
}

// modOp is Mod (opset 10): with fmod=0 the remainder takes the divisor's
// sign (Python's %), with fmod=1 the dividend's (C's fmod). ONNX requires
// fmod=1 for floating inputs.
type modOp struct {
	fmod bool
}

func buildMod(n *NodeInfo) (Op, error) {
	if err := checkInputCount(n, 2, 2, "A, B"); err != nil {
		return nil, err
	}
	f, err := n.Int("fmod", 0)
	if err != nil {
		return nil, err
	}
	if err := checkOneOf(n, "fmod", f, 0, 1); err != nil {
		return nil, err
	}
	return &modOp{fmod: f == 1}, nil
}

func (o *modOp) operands(in []*tensor.Tensor) (a, b *tensor.Tensor, shape []int, err error) {
	if err = checkInputs(in, 2); err != nil {
		return
	}
	a, b = in[0], in[1]
	if a.DType != b.DType {
		return nil, nil, nil, fmt.Errorf("input types differ: %s and %s", a, b)
	}
	if a.DType == tensor.Float32 && !o.fmod {
		return nil, nil, nil, fmt.Errorf("floating-point inputs need attribute fmod=1 (ONNX spec), got fmod=0")
	}
	shape, err = tensor.BroadcastShape(a.Shape, b.Shape)
	if err != nil {
		err = fmt.Errorf("%v", err)
	}
	return
}

// Forward computes the remainder element by element.
func (o *modOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	a, b, shape, err := o.operands(in)
	if err != nil {
		return nil, nil, err
	}
	out := allocLike(rc, a.DType, shape)
	if out.Len() == 0 {
		return []*tensor.Tensor{out}, nil, nil
	}
	p := NewLoopPlan(shape, tensor.Strides(shape), BroadcastStrides(a.Shape, shape), BroadcastStrides(b.Shape, shape))
	s := p.Inner()
	var divZero bool
	p.ForRange(0, p.Total(), func(off [maxLoopOps]int, n int) {
		ia, ib := off[1], off[2]
		for i := off[0]; i < off[0]+n; i++ {
			if a.DType == tensor.Float32 {
				out.F[i] = float32(math.Mod(float64(a.F[ia]), float64(b.F[ib])))
			} else {
				x, y := a.I[ia], b.I[ib]
				if y == 0 {
					divZero = true
				} else {
					r := x % y
					if !o.fmod && r != 0 && (r < 0) != (y < 0) {
						r += y
					}
					out.I[i] = r
				}
			}
			ia += s[1]
			ib += s[2]
		}
	})
	if divZero {
		return nil, nil, fmt.Errorf("integer division by zero")
	}
	return []*tensor.Tensor{out}, nil, nil
}

// Backward (float fmod): d/dA = 1, d/dB = -trunc(A/B), each reduced to its
// input's shape. Integer Mod has no gradient.
func (o *modOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, 2)
	if len(in) < 2 || in[0] == nil || in[0].DType != tensor.Float32 {
		return grads, nil
	}
	a, b, shape, err := o.operands(in)
	if err != nil {
		return nil, err
	}
	g, err := gradFor(gOut, 0, shape)
	if err != nil {
		return nil, err
	}
	if g == nil {
		return zeroGrads(rc, in, need), nil
	}
	if wants(need, 0) {
		grads[0] = reduceTo(rc, g, a.Shape, false, 1)
	}
	if wants(need, 1) {
		t := rc.Alloc(shape...)
		p := NewLoopPlan(shape, tensor.Strides(shape), BroadcastStrides(a.Shape, shape), BroadcastStrides(b.Shape, shape))
		s := p.Inner()
		p.ForRange(0, p.Total(), func(off [maxLoopOps]int, n int) {
			ia, ib := off[1], off[2]
			for i := off[0]; i < off[0]+n; i++ {
				t.F[i] = -g.F[i] * float32(math.Trunc(float64(a.F[ia])/float64(b.F[ib])))
				ia += s[1]
				ib += s[2]
			}
		})
		grads[1] = reduceTo(rc, t, b.Shape, true, 1)
	}
	return grads, nil
}
