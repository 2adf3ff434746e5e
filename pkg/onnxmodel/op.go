package onnxmodel

import (
	"fmt"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/tensor"
)

// Op is one compiled ONNX node: its forward rule and its backward
// (vector-Jacobian) rule. An Op is built once at load time and is shared by
// every run, concurrently: it must keep no per-run state of its own; what
// Backward needs from Forward travels in the saved value.
type Op interface {
	// Forward computes the node's outputs. An optional input that the node
	// leaves out is nil in in. saved is handed back to Backward unchanged.
	Forward(rc *RunContext, in []*tensor.Tensor) (out []*tensor.Tensor, saved any, err error)
	// Backward returns the gradients of a scalar loss with respect to the
	// inputs, given the gradients gOut with respect to the outputs (an entry
	// of gOut is nil when no gradient reaches that output: treat it as zero).
	// It computes only the gradients with need[i] set; the others, and those
	// of non-differentiable inputs (shapes, indices), are nil.
	Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error)
}

// backwardReader is an Op whose backward rule reads the data of only some
// of its inputs and outputs; it may read every shape and dtype. The tape
// of a gradient run drops the data of a value that no backward rule reads
// once the forward pass is past its last reader (Backward then sees a
// tensor with its shape and dtype and no data). An Op that does not
// implement it is taken to read the data of all its inputs and outputs.
type backwardReader interface {
	// backwardReads reports whether Backward reads the data of input i
	// and of output j (of nOut) when it is asked for the gradients of the
	// inputs with need set (or of fewer of them).
	backwardReads(need []bool, nOut int) (in, out []bool)
}

// readsNone is backwardReads for a rule that reads only shapes and dtypes.
func readsNone(need []bool, nOut int) (in, out []bool) {
	return make([]bool, len(need)), make([]bool, nOut)
}

// NodeInfo is what an op builder sees of a node at load time.
type NodeInfo struct {
	Name   string
	OpType string
	// Opset is the model's opset version for the default ONNX domain.
	Opset int64
	// Inputs and Outputs are the value names ("" marks a left-out optional input).
	Inputs, Outputs []string
	// Const holds the value of each input that is known at load time
	// (an initializer or a Constant node's output), nil for the others.
	Const []*tensor.Tensor
	Attrs map[string]*onnxpb.AttributeProto
}

// builder compiles one node into an Op; it checks every attribute and
// returns an error that names the attribute and what was expected.
type builder func(n *NodeInfo) (Op, error)

var registry = map[string]builder{}

// register adds an op type to the engine. It is called from init functions.
func register(opType string, b builder) {
	if _, dup := registry[opType]; dup {
		panic("onnxmodel: op registered twice: " + opType)
	}
	registry[opType] = b
}

// IsSupported reports whether the engine has an op of this type.
func IsSupported(opType string) bool {
	_, ok := registry[opType]
	return ok
}

// errorf formats an error that names the node.
func (n *NodeInfo) errorf(format string, args ...any) error {
	name := n.Name
	if name == "" && len(n.Outputs) > 0 {
		name = n.Outputs[0]
	}
	return fmt.Errorf("node %q (%s): %s", name, n.OpType, fmt.Sprintf(format, args...))
}

// Has reports whether the node sets attribute name.
func (n *NodeInfo) Has(name string) bool {
	_, ok := n.Attrs[name]
	return ok
}

// Int returns integer attribute name, or def when it is not set.
func (n *NodeInfo) Int(name string, def int64) (int64, error) {
	a, ok := n.Attrs[name]
	if !ok {
		return def, nil
	}
	if a.GetType() != onnxpb.AttributeProto_INT {
		return 0, n.errorf("attribute %s: expected an int, got %s", name, a.GetType())
	}
	return a.GetI(), nil
}

// flag returns the 0/1 integer attribute name (def when it is not set) as
// a bool, with an error naming the attribute for any other value.
func (n *NodeInfo) flag(name string, def int64) (bool, error) {
	v, err := n.Int(name, def)
	if err != nil {
		return false, err
	}
	if v != 0 && v != 1 {
		return false, n.errorf("attribute %s: expected 0 or 1, got %d", name, v)
	}
	return v == 1, nil
}

// positiveInt returns the integer attribute name, which the node must set,
// with an error naming it unless it is at least 1.
func (n *NodeInfo) positiveInt(name string) (int64, error) {
	if !n.Has(name) {
		return 0, n.errorf("attribute %s: required", name)
	}
	v, err := n.Int(name, 0)
	if err != nil {
		return 0, err
	}
	if v < 1 {
		return 0, n.errorf("attribute %s: expected a positive value, got %d", name, v)
	}
	return v, nil
}

// Float returns float attribute name, or def when it is not set.
func (n *NodeInfo) Float(name string, def float32) (float32, error) {
	a, ok := n.Attrs[name]
	if !ok {
		return def, nil
	}
	if a.GetType() != onnxpb.AttributeProto_FLOAT {
		return 0, n.errorf("attribute %s: expected a float, got %s", name, a.GetType())
	}
	return a.GetF(), nil
}

// String returns string attribute name, or def when it is not set.
func (n *NodeInfo) String(name string, def string) (string, error) {
	a, ok := n.Attrs[name]
	if !ok {
		return def, nil
	}
	if a.GetType() != onnxpb.AttributeProto_STRING {
		return "", n.errorf("attribute %s: expected a string, got %s", name, a.GetType())
	}
	return string(a.GetS()), nil
}

// Ints returns integer-list attribute name, or def when it is not set.
func (n *NodeInfo) Ints(name string, def []int64) ([]int64, error) {
	a, ok := n.Attrs[name]
	if !ok {
		return def, nil
	}
	if a.GetType() != onnxpb.AttributeProto_INTS {
		return nil, n.errorf("attribute %s: expected a list of ints, got %s", name, a.GetType())
	}
	return a.GetInts(), nil
}

// Floats returns float-list attribute name, or def when it is not set.
func (n *NodeInfo) Floats(name string, def []float32) ([]float32, error) {
	a, ok := n.Attrs[name]
	if !ok {
		return def, nil
	}
	if a.GetType() != onnxpb.AttributeProto_FLOATS {
		return nil, n.errorf("attribute %s: expected a list of floats, got %s", name, a.GetType())
	}
	return a.GetFloats(), nil
}

// TensorAttr returns tensor attribute name decoded, or nil when it is not set.
func (n *NodeInfo) TensorAttr(name string) (*tensor.Tensor, error) {
	a, ok := n.Attrs[name]
	if !ok {
		return nil, nil
	}
	if a.GetType() != onnxpb.AttributeProto_TENSOR {
		return nil, n.errorf("attribute %s: expected a tensor, got %s", name, a.GetType())
	}
	t, err := decodeTensor(a.GetT(), "")
	if err != nil {
		return nil, n.errorf("attribute %s: %v", name, err)
	}
	return t, nil
}

// RunContext carries what one run of the graph shares between its ops:
// whether it trains, and the buffers it may reuse.
type RunContext struct {
	// Training selects training-mode behaviour (BatchNormalization uses
	// batch statistics and updates its running statistics; Dropout drops).
	Training bool
	// fixedRandom makes random ops (RandomNormalLike, RandomUniformLike)
	// output their distribution's mean instead of drawing: the load-time
	// batching self-check compares two runs, which draws would tell apart.
	fixedRandom bool
	pool        *bufferPool
}

// Alloc returns a zeroed float32 tensor of the given shape, reusing a buffer
// from an earlier run where one of that size is free.
func (rc *RunContext) Alloc(shape ...int) *tensor.Tensor {
	n := tensor.Numel(shape)
	var data []float32
	if rc != nil && rc.pool != nil {
		data = rc.pool.get(n)
		clear(data)
	} else {
		data = make([]float32, n)
	}
	return &tensor.Tensor{Shape: append([]int(nil), shape...), F: data}
}

// AllocNoZero is Alloc without clearing: the tensor's elements are
// whatever the reused buffer held. Use it only for outputs that the op
// overwrites entirely.
func (rc *RunContext) AllocNoZero(shape ...int) *tensor.Tensor {
	n := tensor.Numel(shape)
	var data []float32
	if rc != nil && rc.pool != nil {
		data = rc.pool.get(n)
	} else {
		data = make([]float32, n)
	}
	return &tensor.Tensor{Shape: append([]int(nil), shape...), F: data}
}

// AllocInt returns a zeroed int64 tensor of the given shape.
func (rc *RunContext) AllocInt(shape ...int) *tensor.Tensor {
	return tensor.NewInt(shape...)
}
