package onnxmodel

// Small helpers shared by the ops in ops_activation2.go, ops_logic.go,
// ops_index.go, ops_resize.go, ops_norm2.go and ops_einsum.go; backwardAdd
// and gradShaped also by Pad, Slice, Gather and Transpose.

import (
	"fmt"

	"github.com/advtest/advtest/pkg/tensor"
)

// wants reports whether the gradient of input i is asked for.
func wants(need []bool, i int) bool { return i < len(need) && need[i] }

// gradFor returns gOut[k], or nil when no gradient reaches output k; it
// checks that the gradient has out's shape.
func gradFor(gOut []*tensor.Tensor, k int, shape []int) (*tensor.Tensor, error) {
	if k >= len(gOut) || gOut[k] == nil {
		return nil, nil
	}
	g := gOut[k]
	if g.DType != tensor.Float32 || !tensor.SameShape(g.Shape, shape) || len(g.F) != tensor.Numel(shape) {
		return nil, fmt.Errorf("backward: gradient %s does not match output shape %v", g, shape)
	}
	return g, nil
}

// floatInput returns in[i] after checking that it is a float tensor.
func floatInput(in []*tensor.Tensor, i int, name string) (*tensor.Tensor, error) {
	if i >= len(in) || in[i] == nil {
		return nil, fmt.Errorf("input %s is missing", name)
	}
	if in[i].DType != tensor.Float32 {
		return nil, fmt.Errorf("input %s must be a float tensor, got %s", name, in[i])
	}
	return in[i], nil
}

// present reports whether optional input i is given.
func present(in []*tensor.Tensor, i int) bool { return i < len(in) && in[i] != nil }

// permuteTensor returns x's elements laid out with its axes permuted: output
// axis i is input axis perm[i].
func permuteTensor(rc *RunContext, x *tensor.Tensor, perm []int) *tensor.Tensor {
	st := tensor.Strides(x.Shape)
	shape := make([]int, len(perm))
	src := make([]int, len(perm))
	for i, p := range perm {
		shape[i] = x.Shape[p]
		src[i] = st[p]
	}
	out := allocLike(rc, x.DType, shape)
	if out.Len() > 0 {
		copyTensor(NewLoopPlan(shape, tensor.Strides(shape), src), out, 0, x, 0)
	}
	return out
}

// inversePerm returns the permutation that undoes perm.
func inversePerm(perm []int) []int {
	inv := make([]int, len(perm))
	for i, p := range perm {
		inv[p] = i
	}
	return inv
}

// checkOneOf returns an error naming attribute name unless v is in allowed.
func checkOneOf(n *NodeInfo, name string, v int64, allowed ...int64) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return n.errorf("attribute %s: expected one of %v, got %d", name, allowed, v)
}

// checkInputCount returns an error unless the node has lo to hi inputs.
func checkInputCount(n *NodeInfo, lo, hi int, what string) error {
	if len(n.Inputs) < lo || len(n.Inputs) > hi {
		if lo == hi {
			return n.errorf("expected %d inputs (%s), got %d", lo, what, len(n.Inputs))
		}
		return n.errorf("expected %d to %d inputs (%s), got %d", lo, hi, what, len(n.Inputs))
	}
	return nil
}

// unravel writes the multi-index of flat index i (row-major, shape) into idx.
func unravel(i int, shape []int, idx []int) {
	for d := len(shape) - 1; d >= 0; d-- {
		if shape[d] == 0 {
			idx[d] = 0
			continue
		}
		idx[d] = i % shape[d]
		i /= shape[d]
	}
}

// backwardUnary is the start of a Backward whose only differentiable input
// is the float input 0 (called name in errors), out of nIn inputs: it
// returns the grads slice, that input x, the output gradient g and gx, a
// zeroed gradient for x already stored in grads[0]. When input 0's gradient
// is not asked for or no gradient reaches the output, g is nil and grads is
// the Backward's result as it stands.
func backwardUnary(rc *RunContext, in, gOut []*tensor.Tensor, need []bool, nIn int, name string) (grads []*tensor.Tensor, x, g, gx *tensor.Tensor, err error) {
	grads = make([]*tensor.Tensor, nIn)
	if !wants(need, 0) {
		return grads, nil, nil, nil, nil
	}
	if x, err = floatInput(in, 0, name); err != nil {
		return nil, nil, nil, nil, err
	}
	if g, err = gradFor(gOut, 0, x.Shape); err != nil {
		return nil, nil, nil, nil, err
	}
	gx = rc.Alloc(x.Shape...)
	grads[0] = gx
	return grads, x, g, gx, nil
}

// backwardAdd is the frame of a Backward, out of nIn inputs, whose only
// differentiable input is input 0 and whose rule adds the output gradient
// into a zeroed gradient of input 0's shape. Input 0 gets a gradient only
// when it is asked for and is float; then outShape checks the inputs and
// returns the output's shape, fetch takes output 0's gradient checked
// against it (gradFor, or gradShaped for the ops that check the shape
// alone), and add runs when a gradient reaches the output.
func backwardAdd(rc *RunContext, in, gOut []*tensor.Tensor, need []bool, nIn int,
	fetch func(gOut []*tensor.Tensor, k int, shape []int) (*tensor.Tensor, error),
	outShape func() ([]int, error), add func(gx, g *tensor.Tensor)) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, nIn)
	if !wants(need, 0) || in[0].DType != tensor.Float32 {
		return grads, nil
	}
	shape, err := outShape()
	if err != nil {
		return nil, err
	}
	g, err := fetch(gOut, 0, shape)
	if err != nil {
		return nil, err
	}
	gx := rc.Alloc(in[0].Shape...)
	grads[0] = gx
	if g != nil {
		add(gx, g)
	}
	return grads, nil
}

// gradShaped is like gradFor but checks only the gradient's shape, with
// its own message: the check of Pad, Slice, Gather and Transpose.
func gradShaped(gOut []*tensor.Tensor, k int, shape []int) (*tensor.Tensor, error) {
	if k >= len(gOut) || gOut[k] == nil {
		return nil, nil
	}
	if !tensor.SameShape(gOut[k].Shape, shape) {
		return nil, fmt.Errorf("gradient shape %v, output shape %v", gOut[k].Shape, shape)
	}
	return gOut[k], nil
}
