package defend

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/advtest/advtest/internal/attacktest"
	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/tensor"
)

const (
	modelsDir = "../../testdata/models"
	mnistDir  = "../../testdata/mnist"
)

func needModel(t *testing.T, name string) *onnxmodel.Model {
	t.Helper()
	p := filepath.Join(modelsDir, name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s is absent", p)
	}
	m, err := onnxmodel.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func needMNIST(t *testing.T, limit int) *dataset.Set {
	t.Helper()
	x, y := filepath.Join(mnistDir, "test-1000-images.npy"), filepath.Join(mnistDir, "test-1000-labels.npy")
	if _, err := os.Stat(x); err != nil {
		t.Skipf("%s is absent", x)
	}
	s, err := dataset.Load(x, y, dataset.Options{Limit: limit})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// identityModel is a graph y = Identity(x) with input [N, C, H, W]
// (dynamic N, H, W) at the given opset, to run squeezers on their own.
func identityModel(t *testing.T, opset int64, c int) *onnxmodel.Model {
	t.Helper()
	m, err := onnxmodel.Compile(identityProto(opset, c), "")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func randomTensor(rng *rand.Rand, shape ...int) *tensor.Tensor {
	x := tensor.New(shape...)
	for i := range x.F {
		// 8-bit pixel values, as images carry, with many ties for the median.
		x.F[i] = float32(rng.IntN(8)*32) / 255
	}
	return x
}

// TestSqueezeGraphMatchesGo checks the ONNX form of every squeezer (bits
// 1, 2, 5; median 2 and 3; both) against the direct Go implementation, at
// opset 13 (Round, Pad/Slice inputs) and 9 (Floor, attribute forms), on
// odd sizes and several channels.
func TestSqueezeGraphMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := randomTensor(rng, 2, 3, 5, 7)
	for _, opset := range []int64{13, 9} {
		base := identityModel(t, opset, 3)
		for _, s := range []Squeezer{{Bits: 1}, {Bits: 2}, {Bits: 5}, {Median: 2}, {Median: 3}, {Median: 2, Bits: 3}, {Median: 3, Bits: 1}} {
			m, err := WithSqueezer(base, s)
			if err != nil {
				t.Fatalf("opset %d, %s: %v", opset, s, err)
			}
			res, err := m.Run(context.Background(), map[string]*tensor.Tensor{"x": x})
			if err != nil {
				t.Fatalf("opset %d, %s: %v", opset, s, err)
			}
			got := res["y"]
			want := s.Apply(x)
			for i := range want.F {
				if got.F[i] != want.F[i] {
					t.Fatalf("opset %d, %s: element %d: graph %g, Go %g", opset, s, i, got.F[i], want.F[i])
				}
			}
		}
	}
	// The Go median itself, on a hand-checked 3×3 plane.
	p := tensor.FromFloat32([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9}, 1, 1, 3, 3)
	m3 := Squeezer{Median: 3}.Apply(p)
	// Centre: median of 1..9 = 5; corner (0,0) window with edge repeats
	// {1,1,2,1,1,2,4,4,5} → 2.
	if m3.F[4] != 5 || m3.F[0] != 2 {
		t.Errorf("median 3: centre %g (want 5), corner %g (want 2)", m3.F[4], m3.F[0])
	}
	m2 := Squeezer{Median: 2}.Apply(p)
	// (1,1): window {1,2,4,5}, upper median 4; (0,0): {1,1,1,1} → 1.
	if m2.F[4] != 4 || m2.F[0] != 1 {
		t.Errorf("median 2: (1,1) %g (want 4), (0,0) %g (want 1)", m2.F[4], m2.F[0])
	}
}

// TestSqueezeDefenceSavesAndMarks applies the registered defence to the
// CNN, saves and reloads it, and checks the BPDA mark survives.
func TestSqueezeDefenceSavesAndMarks(t *testing.T) {
	m := needModel(t, "mnist_cnn.onnx")
	d, err := New("squeeze", map[string]string{"bits": "2", "median": "3"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := d.Apply(context.Background(), m, TrainData{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := saveAndReload(t, h)
	if _, ok := r.Metadata(PreprocessorKey); !ok {
		t.Fatal("the reloaded model lost its preprocessor mark")
	}
	x := needMNIST(t, 8).X
	a, _ := h.Logits(context.Background(), x)
	b, _ := r.Logits(context.Background(), x)
	want, _ := m.Logits(context.Background(), Squeezer{Bits: 2, Median: 3}.Apply(x))
	for i := range a.F {
		if a.F[i] != b.F[i] || abs32(a.F[i]-want.F[i]) > 1e-4 {
			t.Fatalf("logit %d: squeezed %g, reloaded %g, model(Go squeeze) %g", i, a.F[i], b.F[i], want.F[i])
		}
	}
	if _, err := New("squeeze", map[string]string{"median": "4"}); err == nil {
		t.Error("median=4: no error")
	}
}

func abs32(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}

// TestBPDAUnmasksBitDepth is the gradient-masking check the adaptive
// evaluation exists for (Athalye et al. 2018): the CNN behind 2-bit
// squeezing looks robust to plain PGD (Round's zero gradient leaves PGD
// with its random start only), but PGD through BPDA fools it.
func TestBPDAUnmasksBitDepth(t *testing.T) {
	m := needModel(t, "mnist_cnn.onnx")
	set := needMNIST(t, 100)
	h, err := WithSqueezer(m, Squeezer{Bits: 2})
	if err != nil {
		t.Fatal(err)
	}
	bpda, err := NewBPDA(h)
	if err != nil {
		t.Fatal(err)
	}
	if adaptive, err := Adaptive(h); err != nil || adaptive == attack.Classifier(h) {
		t.Fatalf("Adaptive did not pick BPDA (%v)", err)
	}
	atk, err := attacktest.New("pgd:norm=linf,eps=0.3,steps=20")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b := attack.Batch{X: set.X, Y: set.Y}
	sr := func(clf attack.Classifier) float64 {
		o, err := atk.Run(ctx, clf, b, rand.New(rand.NewPCG(3, 4)))
		if err != nil {
			t.Fatal(err)
		}
		r, n := o.SuccessRate()
		if n < 90 {
			t.Fatalf("only %d clean-correct samples", n)
		}
		// Fooled is measured on clf's own forward pass: for BPDA that is
		// the squeezed model itself.
		l, err := h.Logits(ctx, o.XAdv)
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range o.Fooled {
			if f && sqArgmax(l.F[i*10:(i+1)*10]) == set.Y[i] {
				t.Fatalf("sample %d counted fooled but the squeezed model classifies it correctly", i)
			}
		}
		return r
	}
	plain, through := sr(h), sr(bpda)
	t.Logf("2-bit squeezed CNN, PGD linf eps=0.3, 20 steps: SR %.2f plain, %.2f through BPDA", plain, through)
	if plain > 0.15 {
		t.Errorf("plain PGD SR %.2f: expected the masked gradient to keep it near 0", plain)
	}
	if through < 0.6 {
		t.Errorf("BPDA PGD SR %.2f: expected BPDA to break the squeezing", through)
	}
	// BPDA's forward pass is the hardened model's.
	l1, _ := bpda.Logits(ctx, set.X)
	l2, _ := h.Logits(ctx, set.X)
	for i := range l1.F {
		if l1.F[i] != l2.F[i] {
			t.Fatal("BPDA logits differ from the model's")
		}
	}
}

func sqArgmax(v []float32) int {
	best := 0
	for i := range v {
		if v[i] > v[best] {
			best = i
		}
	}
	return best
}

// TestDetectorCalibratedFPR calibrates the squeezing detector on 500 clean
// MNIST samples and checks its FPR on the other 500 is within 2 points of
// the 5% target; it also checks the defence's metadata round trip and
// logs the detection rate on FGSM examples.
func TestDetectorCalibratedFPR(t *testing.T) {
	m := needModel(t, "mnist_cnn.onnx")
	set := needMNIST(t, 1000)
	calib, err := set.Subset(seq(0, 500))
	if err != nil {
		t.Fatal(err)
	}
	held, err := set.Subset(seq(500, 1000))
	if err != nil {
		t.Fatal(err)
	}
	d, err := New("squeeze-detector", map[string]string{"fpr": "0.05"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h, err := d.Apply(ctx, m, TrainData{Validation: calib}, nil)
	if err != nil {
		t.Fatal(err)
	}
	det, ok, err := DetectorFromModel(h)
	if err != nil || !ok {
		t.Fatalf("DetectorFromModel: ok %v, %v", ok, err)
	}
	if det.Threshold != d.(*SqueezeDetector).Detector.Threshold {
		t.Fatalf("threshold %g from metadata, %g calibrated", det.Threshold, d.(*SqueezeDetector).Detector.Threshold)
	}
	fpr, err := det.Rate(ctx, held.X)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("threshold %.4f, held-out clean FPR %.3f (target 0.05)", det.Threshold, fpr)
	if fpr < 0.03 || fpr > 0.07 {
		t.Errorf("held-out FPR %.3f, want 0.05 ± 0.02", fpr)
	}
	atk, err := attacktest.New("fgsm:norm=linf,eps=0.3")
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := held.Subset(seq(0, 100))
	o, err := atk.Run(ctx, m, attack.Batch{X: sub.X, Y: sub.Y}, nil)
	if err != nil {
		t.Fatal(err)
	}
	flags, _, err := det.Detect(ctx, o.XAdv)
	if err != nil {
		t.Fatal(err)
	}
	hit, n := 0, 0
	for i, f := range o.Fooled {
		if f {
			n++
			if flags[i] {
				hit++
			}
		}
	}
	t.Logf("detection rate on %d successful FGSM examples: %.2f", n, float64(hit)/float64(max(n, 1)))
}

func seq(lo, hi int) []int {
	s := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		s = append(s, i)
	}
	return s
}

// identityProto is a one-node graph y = Identity(x), x: [N, c, H, W].
func identityProto(opset int64, c int) *onnxpb.ModelProto {
	elem := int32(onnxpb.TensorProto_FLOAT)
	dim := func(name string, v int64) *onnxpb.TensorShapeProto_Dimension {
		if name != "" {
			return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: name}}
		}
		return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: v}}
	}
	vi := func(name string) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: &elem, Shape: &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{dim("n", 0), dim("", int64(c)), dim("h", 0), dim("w", 0)}}}}}}
	}
	ir := int64(7)
	return &onnxpb.ModelProto{
		IrVersion:   &ir,
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: &opset}},
		Graph: &onnxpb.GraphProto{
			Name:   proto.String("identity"),
			Node:   []*onnxpb.NodeProto{onnxmodel.NewNode("Identity", "id", []string{"x"}, []string{"y"})},
			Input:  []*onnxpb.ValueInfoProto{vi("x")},
			Output: []*onnxpb.ValueInfoProto{vi("y")},
		},
	}
}
