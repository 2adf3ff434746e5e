package onnxmodel

import (
	"fmt"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/tensor"
)

// Editor rewrites a copy of a model's graph: it replaces ops, adds
// initializers, and puts nodes in front of the input or after the output.
// Build compiles the result into a new Model; the original is untouched.
type Editor struct {
	mp      *onnxpb.ModelProto
	baseDir string
	err     error
}

// Edit starts a rewrite of the model (with its current parameters).
func (m *Model) Edit() *Editor {
	return &Editor{mp: m.ToProto(), baseDir: m.baseDir}
}

// Graph returns the graph being edited, for rewrites the Editor does not
// offer.
func (e *Editor) Graph() *onnxpb.GraphProto { return e.mp.GetGraph() }

// Node returns the node with the given name, or nil.
func (e *Editor) Node(name string) *onnxpb.NodeProto {
	for _, n := range e.mp.GetGraph().GetNode() {
		if n.GetName() == name {
			return n
		}
	}
	return nil
}

// ReplaceOp changes node name's op type, inputs and attributes in place
// (its outputs stay). inputs nil keeps the node's inputs.
func (e *Editor) ReplaceOp(name, opType string, inputs []string, attrs ...*onnxpb.AttributeProto) *Editor {
	n := e.Node(name)
	if n == nil {
		e.fail(fmt.Errorf("no node named %q", name))
		return e
	}
	n.OpType = &opType
	if inputs != nil {
		n.Input = inputs
	}
	n.Attribute = attrs
	return e
}

// AddInitializer adds (or replaces) a named constant or parameter.
func (e *Editor) AddInitializer(name string, t *tensor.Tensor) *Editor {
	g := e.mp.GetGraph()
	tp := encodeFloatTensor(name, t)
	for i, old := range g.GetInitializer() {
		if old.GetName() == name {
			g.Initializer[i] = tp
			return e
		}
	}
	g.Initializer = append(g.Initializer, tp)
	return e
}

// Prepend puts nodes between the graph input and the rest of the graph:
// the nodes read the input under its own name and must write a value named
// to; every existing node that read the input reads to instead. Use it for
// preprocessing (scaling, normalisation, squeezing) that must travel with
// the model.
func (e *Editor) Prepend(to string, nodes ...*onnxpb.NodeProto) *Editor {
	g := e.mp.GetGraph()
	if len(g.GetInput()) == 0 {
		e.fail(fmt.Errorf("the graph has no input"))
		return e
	}
	inits := map[string]bool{}
	for _, tp := range g.GetInitializer() {
		inits[tp.GetName()] = true
	}
	input := ""
	for _, vi := range g.GetInput() {
		if !inits[vi.GetName()] {
			input = vi.GetName()
			break
		}
	}
	if input == "" {
		e.fail(fmt.Errorf("the graph has no non-initializer input"))
		return e
	}
	for _, n := range g.GetNode() {
		for i, in := range n.Input {
			if in == input {
				n.Input[i] = to
			}
		}
	}
	for _, o := range g.GetOutput() {
		if o.GetName() == input {
			e.fail(fmt.Errorf("the graph input is also its output"))
			return e
		}
	}
	g.Node = append(append([]*onnxpb.NodeProto{}, nodes...), g.Node...)
	return e
}

// Append puts nodes after the first graph output: they read the output
// under its name and must write a value named to, which becomes the first
// graph output (its declared shape is dropped).
func (e *Editor) Append(to string, nodes ...*onnxpb.NodeProto) *Editor {
	g := e.mp.GetGraph()
	if len(g.GetOutput()) == 0 {
		e.fail(fmt.Errorf("the graph has no output"))
		return e
	}
	g.Node = append(g.Node, nodes...)
	old := g.Output[0]
	g.Output[0] = &onnxpb.ValueInfoProto{Name: &to, Type: old.GetType()}
	if tt := old.GetType().GetTensorType(); tt != nil {
		elem := tt.GetElemType()
		g.Output[0].Type = &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: &elem}}}
	}
	return e
}

func (e *Editor) fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

// Build compiles the edited graph into a new Model.
func (e *Editor) Build() (*Model, error) {
	if e.err != nil {
		return nil, fmt.Errorf("editing the graph: %w", e.err)
	}
	return Compile(e.mp, e.baseDir)
}

// NewNode returns an ONNX node.
func NewNode(opType, name string, inputs, outputs []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{OpType: &opType, Name: &name, Input: inputs, Output: outputs, Attribute: attrs}
}

// AttrInt returns an integer attribute.
func AttrInt(name string, v int64) *onnxpb.AttributeProto {
	t := onnxpb.AttributeProto_INT
	return &onnxpb.AttributeProto{Name: &name, Type: &t, I: &v}
}

// AttrInts returns an integer-list attribute.
func AttrInts(name string, v ...int64) *onnxpb.AttributeProto {
	t := onnxpb.AttributeProto_INTS
	return &onnxpb.AttributeProto{Name: &name, Type: &t, Ints: v}
}

// AttrFloat returns a float attribute.
func AttrFloat(name string, v float32) *onnxpb.AttributeProto {
	t := onnxpb.AttributeProto_FLOAT
	return &onnxpb.AttributeProto{Name: &name, Type: &t, F: &v}
}

// AttrString returns a string attribute.
func AttrString(name, v string) *onnxpb.AttributeProto {
	t := onnxpb.AttributeProto_STRING
	return &onnxpb.AttributeProto{Name: &name, Type: &t, S: []byte(v)}
}

// AttrTensor returns a tensor attribute (for Constant nodes).
func AttrTensor(name string, t *tensor.Tensor) *onnxpb.AttributeProto {
	ty := onnxpb.AttributeProto_TENSOR
	return &onnxpb.AttributeProto{Name: &name, Type: &ty, T: encodeFloatTensor("", t)}
}

// ConstantNode returns a Constant node that outputs t under name. Unlike
// an initializer, a constant is never trained.
func ConstantNode(name string, t *tensor.Tensor) *onnxpb.NodeProto {
	return NewNode("Constant", name, nil, []string{name}, AttrTensor("value", t))
}
