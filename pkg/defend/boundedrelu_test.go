package defend

import (
	"context"
	"testing"

	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/tensor"
)

// clipOutputs runs m on x with every Clip's output exposed and returns the
// largest and smallest value each holds, by output name.
func clipOutputs(t *testing.T, m *onnxmodel.Model, x *tensor.Tensor) map[string][2]float32 {
	t.Helper()
	var names []string
	for _, n := range m.NodesOfType("Clip") {
		names = append(names, n.GetOutput()[0])
	}
	probe, err := m.WithOutputs(names...)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := m.InputName()
	res, err := probe.Run(context.Background(), map[string]*tensor.Tensor{in: x})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][2]float32{}
	for _, name := range names {
		lo, hi := res[name].F[0], res[name].F[0]
		for _, v := range res[name].F {
			lo, hi = min(lo, v), max(hi, v)
		}
		out[name] = [2]float32{lo, hi}
	}
	return out
}

// TestBoundedReLUFixedT bounds every Relu of the CNN at t=1, checks each
// rewritten activation stays in [0, 1] on real data (and reaches 1, so the
// bound acts), and that the model saves and reloads with the same logits.
func TestBoundedReLUFixedT(t *testing.T) {
	m := needModel(t, "mnist_cnn.onnx")
	x := needMNIST(t, 32).X
	d, err := New("bounded-relu", map[string]string{"t": "1"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := d.Apply(context.Background(), m, TrainData{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.NodesOfType("Relu")) != 0 || len(h.NodesOfType("Clip")) != len(m.NodesOfType("Relu")) {
		t.Fatalf("%d Relu and %d Clip left", len(h.NodesOfType("Relu")), len(h.NodesOfType("Clip")))
	}
	for name, r := range clipOutputs(t, h, x) {
		if r[0] < 0 || r[1] > 1 || r[1] != 1 {
			t.Errorf("%s: values in [%g, %g], want within [0, 1] reaching 1", name, r[0], r[1])
		}
	}
	r := saveAndReload(t, h)
	a, _ := h.Logits(context.Background(), x)
	b, _ := r.Logits(context.Background(), x)
	for i := range a.F {
		if a.F[i] != b.F[i] {
			t.Fatalf("logit %d: %g before saving, %g after", i, a.F[i], b.F[i])
		}
	}
}

// TestBoundedReLUPercentile calibrates per-layer bounds at the 99.9th
// percentile on 200 clean samples and checks: the bounds hold, a per-layer
// override wins, and clean accuracy stays close to the original model's.
func TestBoundedReLUPercentile(t *testing.T) {
	m := needModel(t, "mnist_cnn.onnx")
	set := needMNIST(t, 300)
	calib, _ := set.Subset(seq(0, 200))
	test, _ := set.Subset(seq(200, 300))
	first := m.NodesOfType("Relu")[0].GetOutput()[0]
	d := NewBoundedReLU()
	if err := d.Bind().Apply(map[string]string{"percentile": "99.9", "thresholds": first + "=0.5", "max_samples": "200"}); err != nil {
		t.Fatal(err)
	}
	h, err := d.Apply(context.Background(), m, TrainData{Train: calib}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Bounds[first] != 0.5 || len(d.Bounds) != len(m.NodesOfType("Relu")) {
		t.Fatalf("bounds %v", d.Bounds)
	}
	t.Logf("bounds: %v", d.Bounds)
	for name, r := range clipOutputs(t, h, test.X) {
		if r[0] < 0 || r[1] > d.Bounds[name] {
			t.Errorf("%s: values in [%g, %g], bound %g", name, r[0], r[1], d.Bounds[name])
		}
	}
	acc := func(mm *onnxmodel.Model) int {
		l, err := mm.Logits(context.Background(), test.X)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for i, y := range test.Y {
			if sqArgmax(l.F[i*10:(i+1)*10]) == y {
				n++
			}
		}
		return n
	}
	if a0, a1 := acc(m), acc(h); a1 < a0-5 {
		t.Errorf("clean accuracy %d/100 after bounding, %d before", a1, a0)
	}
	if _, err := NewBoundedReLU().Apply(context.Background(), m, TrainData{}, nil); err == nil {
		t.Error("percentile without data: no error")
	}
	if _, err := New("bounded-relu", map[string]string{"thresholds": "nosuch=1"}); err != nil {
		t.Fatal(err)
	} else if d2, _ := New("bounded-relu", map[string]string{"thresholds": "nosuch=1", "t": "1"}); d2 != nil {
		if _, err := d2.Apply(context.Background(), m, TrainData{}, nil); err == nil {
			t.Error("unknown layer name in thresholds: no error")
		}
	}
}
