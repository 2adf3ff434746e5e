package onnxmodel

// Ops that make tensors rather than move data: Constant, ConstantOfShape,
// Shape and Size, and helpers shared by the shape ops.

import (
	"fmt"

	"github.com/advtest/advtest/pkg/tensor"
)

func init() {
	register("Shape", buildShape)
	register("Size", func(n *NodeInfo) (Op, error) {
		if len(n.Inputs) != 1 {
			return nil, n.errorf("expected 1 input, got %d", len(n.Inputs))
		}
		return sizeOp{}, nil
	})
	register("Constant", buildConstant)
	register("ConstantOfShape", buildConstantOfShape)
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
