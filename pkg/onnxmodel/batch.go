package onnxmodel

import (
	"context"
	"math"
	"math/rand/v2"

	"github.com/advtest/advtest/pkg/tensor"
)

// generaliseBatch makes a graph exported with a fixed batch size b0 run on
// batches of any size. PyTorch bakes the batch into Reshape targets
// (x.view(1, -1) becomes Reshape(x, [1, 400])); where a Reshape's constant
// target starts with b0 and the model's input is fixed at b0, the first entry
// becomes 0 ("copy the input's dimension"), which ONNX defines to keep the
// batch. selfCheck then proves the result: a batch of two must give the same
// per-sample logits as two runs of one, else the model runs per sample.
func (m *Model) generaliseBatch() {
	in, err := m.input()
	if err != nil || len(in.Shape) == 0 || in.Shape[0] <= 0 {
		return
	}
	b0 := int64(in.Shape[0])
	for _, cn := range m.nodes {
		if cn.info.OpType != "Reshape" || len(cn.in) < 2 || cn.in[1] < 0 {
			continue
		}
		if az, _ := cn.info.Int("allowzero", 0); az != 0 {
			continue
		}
		shape := m.consts[cn.in[1]]
		if shape == nil || shape.DType != tensor.Int64 || len(shape.I) == 0 || shape.I[0] != b0 {
			continue
		}
		fixed := shape.Clone()
		fixed.I[0] = 0
		s := m.slot(m.slots[cn.in[1]] + "#any_batch#" + cn.info.Outputs[0])
		m.consts[s] = fixed
		cn.in[1] = s
		cn.info.Const[1] = fixed
	}
}

// selfCheck runs two random samples as one batch and one at a time; when
// the per-sample logits differ (or the batch fails), the model is marked to
// run per sample. It also learns the number of classes. It does nothing when
// the sample shape is not fully declared. Random ops (inference-time noise)
// run at their mean for the check, so that it proves the batching of the
// graph's deterministic part and does not advance their streams.
func (m *Model) selfCheck() {
	shape := m.SampleShape()
	if shape == nil {
		return
	}
	for _, d := range shape {
		if d <= 0 {
			return
		}
	}
	per := tensor.Numel(shape)
	rng := rand.New(rand.NewPCG(7, 11))
	x := tensor.New(append([]int{2}, shape...)...)
	for i := range x.F {
		x.F[i] = rng.Float32()
	}
	ctx := context.Background()
	one := append([]int{1}, shape...)
	a, errA := m.backprop(ctx, tensor.FromFloat32(x.F[:per], one...), BackpropOptions{fixedRandom: true}, nil)
	b, errB := m.backprop(ctx, tensor.FromFloat32(x.F[per:], one...), BackpropOptions{fixedRandom: true}, nil)
	if errA != nil || errB != nil {
		return // the model fails on its own declared shape: report it at run time
	}
	m.numClasses = a.Logits.Shape[1]
	both, err := m.backprop(ctx, x, BackpropOptions{fixedRandom: true}, nil)
	if err != nil || both.Logits.Len() != a.Logits.Len()+b.Logits.Len() {
		m.PerSample = true
		return
	}
	want := append(append([]float32(nil), a.Logits.F...), b.Logits.F...)
	for i, v := range both.Logits.F {
		if d := math.Abs(float64(v - want[i])); d > 1e-4*(1+math.Abs(float64(want[i]))) || math.IsNaN(float64(v)) != math.IsNaN(float64(want[i])) {
			m.PerSample = true
			return
		}
	}
}
