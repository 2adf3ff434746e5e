package onnxmodel

import (
	"fmt"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/tensor"
)

// Preprocessing maps data from input space (where eps is measured) to what
// the model's graph expects. It is put into the graph itself, so that
// attacks differentiate through it and a saved model carries it.
type Preprocessing struct {
	// Scale multiplies the input first (1 or 0 means no scaling).
	Scale float32
	// Mean and Std normalise per channel (axis 1 of the model's input):
	// x' = (x·Scale − Mean[c]) / Std[c]. Empty means no normalisation; a
	// single value applies to every channel.
	Mean, Std []float32
	// Layout is the layout of the data: "NCHW" (default, as the model) or
	// "NHWC", which is transposed to NCHW in the graph.
	Layout string
}

// IsIdentity reports whether p changes nothing.
func (p Preprocessing) IsIdentity() bool {
	return (p.Scale == 0 || p.Scale == 1) && len(p.Mean) == 0 && len(p.Std) == 0 && (p.Layout == "" || p.Layout == "NCHW")
}

// WithPreprocessing returns a new model whose graph starts with p: it takes
// data in input space (and in p.Layout) and feeds the original graph.
func (m *Model) WithPreprocessing(p Preprocessing) (*Model, error) {
	if p.IsIdentity() {
		return m, nil
	}
	in, err := m.input()
	if err != nil {
		return nil, err
	}
	if len(p.Mean) != len(p.Std) {
		return nil, fmt.Errorf("preprocessing: %d mean values but %d std values", len(p.Mean), len(p.Std))
	}
	for i, s := range p.Std {
		if !(s > 0) {
			return nil, fmt.Errorf("preprocessing: std[%d] = %g, want > 0", i, s)
		}
	}
	rank := len(in.Shape)
	e := m.Edit()
	var nodes []*onnxpb.NodeProto
	cur := in.Name
	step := 0
	next := func() string {
		step++
		return fmt.Sprintf("%s__advtest_pre%d", in.Name, step)
	}
	if p.Layout == "NHWC" {
		if rank != 4 {
			return nil, fmt.Errorf("preprocessing: layout NHWC needs a 4-D model input, %q has rank %d", in.Name, rank)
		}
		out := next()
		nodes = append(nodes, NewNode("Transpose", out, []string{cur}, []string{out}, AttrInts("perm", 0, 3, 1, 2)))
		cur = out
	} else if p.Layout != "" && p.Layout != "NCHW" {
		return nil, fmt.Errorf("preprocessing: layout %q, want NCHW or NHWC", p.Layout)
	}
	if p.Scale != 0 && p.Scale != 1 {
		c, out := next(), next()
		nodes = append(nodes, ConstantNode(c, tensor.FromFloat32([]float32{p.Scale})),
			NewNode("Mul", out, []string{cur, c}, []string{out}))
		cur = out
	}
	if len(p.Mean) > 0 {
		if rank < 2 {
			return nil, fmt.Errorf("preprocessing: mean/std need a model input of rank ≥ 2, %q has rank %d", in.Name, rank)
		}
		ch := len(p.Mean)
		if ch > 1 && in.Shape[1] > 0 && in.Shape[1] != ch {
			return nil, fmt.Errorf("preprocessing: %d mean/std values, the model's input has %d channels (axis 1)", ch, in.Shape[1])
		}
		shape := make([]int, rank-1) // [C, 1, 1] broadcasts against [N, C, H, W]
		for i := range shape {
			shape[i] = 1
		}
		shape[0] = ch
		mean, inv := tensor.New(shape...), tensor.New(shape...)
		for i := range p.Mean {
			mean.F[i] = p.Mean[i]
			inv.F[i] = 1 / p.Std[i]
		}
		cm, cs, o1, o2 := next(), next(), next(), next()
		nodes = append(nodes, ConstantNode(cm, mean), ConstantNode(cs, inv),
			NewNode("Sub", o1, []string{cur, cm}, []string{o1}),
			NewNode("Mul", o2, []string{o1, cs}, []string{o2}))
		cur = o2
	}
	e.Prepend(cur, nodes...)
	if p.Layout == "NHWC" {
		// The graph input now takes NHWC data.
		for _, vi := range e.Graph().GetInput() {
			if vi.GetName() != in.Name {
				continue
			}
			if sh := vi.GetType().GetTensorType().GetShape(); sh != nil && len(sh.Dim) == 4 {
				sh.Dim = []*onnxpb.TensorShapeProto_Dimension{sh.Dim[0], sh.Dim[2], sh.Dim[3], sh.Dim[1]}
			}
		}
	}
	pm, err := e.Build()
	if err != nil {
		return nil, err
	}
	pm.Path = m.Path
	return pm, nil
}
