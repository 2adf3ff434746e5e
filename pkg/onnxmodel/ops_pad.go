package onnxmodel

// Pad, in constant, reflect and edge modes.

import (
	"fmt"
	"math"

	"github.com/advtest/advtest/pkg/tensor"
)

func init() {
	register("Pad", buildPad)
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
	var geo padGeom
	return backwardAdd(rc, in, gOut, need, len(in), gradShaped, func() ([]int, error) {
		var err error
		if geo, err = o.geometry(in); err != nil {
			return nil, err
		}
		return geo.shape, nil
	}, func(gx, gy *tensor.Tensor) {
		geo.walk(in[0].Shape, func(i, s int) {
			if s >= 0 {
				gx.F[s] += gy.F[i]
			}
		})
	})
}
