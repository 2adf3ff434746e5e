package onnxmodel

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/advtest/advtest/pkg/atomicfile"
	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/tensor"
)

// ToProto returns a copy of the model's ONNX protobuf with the current
// parameter values written into its initializers.
func (m *Model) ToProto() *onnxpb.ModelProto {
	mp := proto.Clone(m.Proto).(*onnxpb.ModelProto)
	for i, tp := range mp.GetGraph().GetInitializer() {
		if t, ok := m.Params[tp.GetName()]; ok {
			mp.Graph.Initializer[i] = encodeFloatTensor(tp.GetName(), t)
		}
	}
	return mp
}

// Marshal serialises the model, with its current parameters, to ONNX bytes.
func (m *Model) Marshal() ([]byte, error) {
	return proto.MarshalOptions{Deterministic: true}.Marshal(m.ToProto())
}

// Save writes the model, with its current parameters, to path. It writes a
// temporary file in the same folder and renames it, so that path never
// holds a half-written model.
func (m *Model) Save(path string) error {
	data, err := m.Marshal()
	if err != nil {
		return fmt.Errorf("encoding %s: %v", path, err)
	}
	return atomicfile.WriteFile(path, data)
}

// Clone returns an independent copy of the model (its own parameters).
func (m *Model) Clone() (*Model, error) {
	c, err := Compile(m.ToProto(), m.baseDir)
	if err != nil {
		return nil, err
	}
	c.Path = m.Path
	return c, nil
}

// SetParams copies values into the named parameters. Every name must exist
// with the same shape.
func (m *Model) SetParams(values map[string]*tensor.Tensor) error {
	for name, v := range values {
		p, ok := m.Params[name]
		if !ok {
			return fmt.Errorf("the model has no parameter %q", name)
		}
		if !tensor.SameShape(p.Shape, v.Shape) {
			return fmt.Errorf("parameter %q has shape %v, got %v", name, p.Shape, v.Shape)
		}
		copy(p.F, v.F)
	}
	return nil
}
