package onnxmodel

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/tensor"
)

// trainingOp runs an op with RunContext.Training set, so that checkGradients
// (which makes its own RunContext) checks training-mode gradients.
type trainingOp struct{ Op }

func (o trainingOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	return o.Op.Forward(&RunContext{Training: true}, in)
}

func (o trainingOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	return o.Op.Backward(&RunContext{Training: true}, in, out, saved, gOut, need)
}

// bnInputs returns X and per-channel scale, bias, mean and (positive) var.
func bnInputs(rng *rand.Rand, shape ...int) []*tensor.Tensor {
	c := shape[1]
	v := randTensor(rng, c)
	for i := range v.F {
		v.F[i] = 0.5 + v.F[i]*v.F[i]
	}
	return []*tensor.Tensor{randTensor(rng, shape...), randTensor(rng, c), randTensor(rng, c), randTensor(rng, c), v}
}

// refBatchNorm normalises x per channel with the given statistics, in float64.
func refBatchNorm(x *tensor.Tensor, scale, bias, mean, variance []float64, eps float64) *tensor.Tensor {
	n, c := x.Shape[0], x.Shape[1]
	sz := x.Len() / (n * c)
	y := tensor.New(x.Shape...)
	for i := range x.F {
		ch := (i / sz) % c
		y.F[i] = float32((float64(x.F[i])-mean[ch])/math.Sqrt(variance[ch]+eps)*scale[ch] + bias[ch])
	}
	return y
}

func f64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func TestBatchNormInference(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	for _, shape := range [][]int{{2, 3, 4, 5}, {4, 3}, {2, 2, 7}} {
		in := bnInputs(rng, shape...)
		op := buildOp(t, opSpec{opType: "BatchNormalization", nInputs: 5, attrs: []*onnxpb.AttributeProto{attrFloat("epsilon", 1e-3)}})
		out, _, err := op.Forward(&RunContext{}, in)
		if err != nil {
			t.Fatal(err)
		}
		want := refBatchNorm(in[0], f64(in[1].F), f64(in[2].F), f64(in[3].F), f64(in[4].F), 1e-3)
		assertClose(t, "Y", out[0], want, 1e-5)
		checkGradients(t, op, in, []int{0, 1, 2, 3, 4}, 1e-2, 2e-3)
	}
}

func TestBatchNormTraining(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	in := bnInputs(rng, 3, 2, 4, 3)
	x := in[0]
	oldMean, oldVar := append([]float32(nil), in[3].F...), append([]float32(nil), in[4].F...)
	op := buildOp(t, opSpec{opType: "BatchNormalization", nInputs: 5, nOut: 3, attrs: []*onnxpb.AttributeProto{attrFloat("momentum", 0.8)}})
	out, _, err := op.Forward(&RunContext{Training: true}, in)
	if err != nil {
		t.Fatal(err)
	}
	c, sz := 2, 12
	mean, bvar := make([]float64, c), make([]float64, c)
	cnt := float64(3 * sz)
	for i, v := range x.F {
		mean[(i/sz)%c] += float64(v) / cnt
	}
	for i, v := range x.F {
		d := float64(v) - mean[(i/sz)%c]
		bvar[(i/sz)%c] += d * d / cnt
	}
	want := refBatchNorm(x, f64(in[1].F), f64(in[2].F), mean, bvar, 1e-5)
	assertClose(t, "Y", out[0], want, 1e-4)
	for ch := 0; ch < c; ch++ {
		wm := float64(oldMean[ch])*0.8 + mean[ch]*0.2
		// In place: PyTorch's unbiased batch variance; the outputs: ONNX's
		// biased one.
		wv := float64(oldVar[ch])*0.8 + bvar[ch]*cnt/(cnt-1)*0.2
		if math.Abs(float64(in[3].F[ch])-wm) > 1e-5 || math.Abs(float64(in[4].F[ch])-wv) > 1e-5 {
			t.Fatalf("channel %d: running stats (%g, %g), want (%g, %g)", ch, in[3].F[ch], in[4].F[ch], wm, wv)
		}
		wv = float64(oldVar[ch])*0.8 + bvar[ch]*0.2
		if math.Abs(float64(out[1].F[ch])-wm) > 1e-5 || math.Abs(float64(out[2].F[ch])-wv) > 1e-5 {
			t.Fatalf("channel %d: running stat outputs (%g, %g), want (%g, %g)", ch, out[1].F[ch], out[2].F[ch], wm, wv)
		}
	}
	// In inference the running statistics stay as they are.
	before := append([]float32(nil), in[3].F...)
	if _, _, err := op.Forward(&RunContext{}, in); err != nil {
		t.Fatal(err)
	}
	assertClose(t, "running mean after inference", in[3], tensor.FromFloat32(before, c), 0)
	// The running-statistics outputs are not differentiated: check Y alone.
	yOnly := buildOp(t, opSpec{opType: "BatchNormalization", nInputs: 5, attrs: []*onnxpb.AttributeProto{attrFloat("momentum", 0.8)}})
	checkGradients(t, trainingOp{yOnly}, in, []int{0, 1, 2}, 2e-2, 3e-3)
}

func TestBatchNormErrors(t *testing.T) {
	op := buildOp(t, opSpec{opType: "BatchNormalization", nInputs: 5})
	in := bnInputs(rand.New(rand.NewPCG(1, 2)), 2, 3, 2, 2)
	in[1] = tensor.New(4)
	if _, _, err := op.Forward(&RunContext{}, in); err == nil || !strings.Contains(err.Error(), "scale") {
		t.Errorf("scale of the wrong length: error %v", err)
	}
	n := &NodeInfo{Name: "bn", OpType: "BatchNormalization", Opset: 7, Inputs: []string{"x", "s", "b", "m", "v"}, Outputs: []string{"y"},
		Attrs: map[string]*onnxpb.AttributeProto{"spatial": attrInt("spatial", 0)}}
	if _, err := registry["BatchNormalization"](n); err == nil || !strings.Contains(err.Error(), "spatial") {
		t.Errorf("spatial 0: error %v", err)
	}
	n.Attrs = map[string]*onnxpb.AttributeProto{"momentum": attrFloat("momentum", 2)}
	if _, err := registry["BatchNormalization"](n); err == nil || !strings.Contains(err.Error(), "momentum") {
		t.Errorf("momentum 2: error %v", err)
	}
}

func TestLayerNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(35, 36))
	for _, tc := range []struct {
		x     []int
		axis  int64
		scale []int
		bias  bool
	}{
		{[]int{3, 5}, -1, []int{5}, true},
		{[]int{2, 3, 4}, 1, []int{3, 4}, true},
		{[]int{2, 3, 4}, -1, []int{4}, false},
		{[]int{2, 3, 4}, 0, []int{2, 3, 4}, true},
	} {
		x := randTensor(rng, tc.x...)
		in := []*tensor.Tensor{x, randTensor(rng, tc.scale...)}
		if tc.bias {
			in = append(in, randTensor(rng, tc.scale...))
		}
		op := buildOp(t, opSpec{opType: "LayerNormalization", nInputs: len(in), nOut: 3, attrs: []*onnxpb.AttributeProto{attrInt("axis", tc.axis)}})
		out, _, err := op.Forward(&RunContext{}, in)
		if err != nil {
			t.Fatal(err)
		}
		d := tensor.Numel(tc.scale)
		want := tensor.New(tc.x...)
		for r := 0; r < x.Len()/d; r++ {
			var m, v float64
			for _, e := range x.F[r*d : (r+1)*d] {
				m += float64(e) / float64(d)
			}
			for _, e := range x.F[r*d : (r+1)*d] {
				v += (float64(e) - m) * (float64(e) - m) / float64(d)
			}
			for j, e := range x.F[r*d : (r+1)*d] {
				y := (float64(e) - m) / math.Sqrt(v+1e-5) * float64(in[1].F[j])
				if tc.bias {
					y += float64(in[2].F[j])
				}
				want.F[r*d+j] = float32(y)
			}
			if math.Abs(float64(out[1].F[r])-m) > 1e-5 || math.Abs(float64(out[2].F[r])-1/math.Sqrt(v+1e-5)) > 1e-4 {
				t.Fatalf("row %d: Mean %g InvStdDev %g, want %g %g", r, out[1].F[r], out[2].F[r], m, 1/math.Sqrt(v+1e-5))
			}
		}
		assertClose(t, "Y", out[0], want, 1e-4)
		wrt := []int{0, 1}
		if tc.bias {
			wrt = append(wrt, 2)
		}
		checkGradients(t, op, in, wrt, 2e-2, 3e-3)
	}
}
