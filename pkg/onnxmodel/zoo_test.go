package onnxmodel_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/advtest/advtest/internal/attacktest"
	"github.com/advtest/advtest/internal/npyfile"
	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/tensor"
)

// zooDir holds the reduced-width torchvision exports written by
// testdata/gen/zoo.py (see testdata/zoo/README.md).
const zooDir = "../../testdata/zoo"

// zooDoc is testdata/zoo/zoo.json.
type zooDoc struct {
	N      int `json:"n"`
	Models map[string]struct {
		InputShape []int `json:"input_shape"`
		FGSM       struct {
			Eps float64 `json:"eps"`
			SR  float64 `json:"sr"`
			N   int     `json:"n"`
		} `json:"fgsm"`
		Files map[string]struct {
			File string `json:"file"`
		} `json:"files"`
	} `json:"models"`
}

// zooFigures are one file's measured agreement with PyTorch.
type zooFigures struct {
	logitRelDiff float64 // max|Δlogit| / max|logit|
	gradCosine   float64 // cosine of the flattened input gradients
	srEngine     float64 // FGSM success rate, advtest's pkg/attack
	srPyTorch    float64
}

// TestZoo runs every reduced-width torchvision export of testdata/zoo
// (13 architectures, opsets 13 and 17, dynamic batch) through the engine
// and compares with PyTorch: logits within 1e-4 of the logits' scale, the
// cross-entropy input gradient (engine backward) at cosine ≥ 0.9999, the
// same predictions on a batch of another size, and pkg/attack's FGSM at
// PyTorch's eps fooling exactly the samples PyTorch's FGSM fooled.
func TestZoo(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(zooDir, "zoo.json"))
	if err != nil {
		t.Fatalf("%v: run testdata/gen/zoo.py", err)
	}
	var doc zooDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("zoo.json: %v", err)
	}
	if len(doc.Models) != 13 {
		t.Errorf("zoo.json lists %d architectures, want 13", len(doc.Models))
	}
	archs := make([]string, 0, len(doc.Models))
	for a := range doc.Models {
		archs = append(archs, a)
	}
	sort.Strings(archs)
	seen := map[string]bool{}
	for _, arch := range archs {
		entry := doc.Models[arch]
		ref, err := npyfile.ReadArrays(filepath.Join(zooDir, arch+".ref.npz"))
		if err != nil {
			t.Fatal(err)
		}
		for _, opset := range []string{"13", "17"} {
			f, ok := entry.Files[opset]
			if !ok {
				t.Errorf("%s: no opset %s file in zoo.json", arch, opset)
				continue
			}
			name := strings.TrimSuffix(f.File, ".onnx")
			seen[name] = true
			t.Run(name, func(t *testing.T) {
				fig, err := checkZooModel(filepath.Join(zooDir, f.File), ref, entry.FGSM.Eps, entry.FGSM.SR)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("logits max|diff|/max|logit| %.2e, grad 1-cosine %.1e, FGSM eps %g SR advtest %.3f PyTorch %.3f",
					fig.logitRelDiff, 1-fig.gradCosine, entry.FGSM.Eps, fig.srEngine, fig.srPyTorch)
			})
		}
	}
}

// checkZooModel loads one zoo file and returns its figures, or the first
// disagreement with PyTorch (including a load error such as an unsupported
// op).
func checkZooModel(path string, ref map[string]*tensor.Tensor, eps, srWant float64) (*zooFigures, error) {
	m, err := onnxmodel.Load(path)
	if err != nil {
		return nil, err
	}
	x, y := ref["x"], zooLabels(ref["y"])
	ctx := context.Background()
	g, err := m.Backprop(ctx, x, onnxmodel.BackpropOptions{Input: true}, func(l *tensor.Tensor) (*tensor.Tensor, error) {
		return onnxmodel.CrossEntropyGrad(l, y), nil
	})
	if err != nil {
		return nil, fmt.Errorf("backprop: %w", err)
	}
	fig := &zooFigures{srPyTorch: srWant}
	want := ref["logits"]
	if g.Logits == nil || g.Logits.Len() != want.Len() {
		return nil, fmt.Errorf("logits shape %v, want %v", g.Logits.Shape, want.Shape)
	}
	var diff, scale float64
	for i, w := range want.F {
		diff = math.Max(diff, math.Abs(float64(g.Logits.F[i]-w)))
		scale = math.Max(scale, math.Abs(float64(w)))
	}
	fig.logitRelDiff = diff / scale
	if !(fig.logitRelDiff <= 1e-4) {
		return fig, fmt.Errorf("logits: max|diff| %.3g = %.3g of max|logit| %.3g, want ≤ 1e-4", diff, fig.logitRelDiff, scale)
	}
	gw := ref["grad_x"]
	if g.Input == nil || g.Input.Len() != gw.Len() {
		return fig, fmt.Errorf("input gradient shape %v, want %v", g.Input.Shape, gw.Shape)
	}
	var dot, n1, n2 float64
	for i, w := range gw.F {
		a := float64(g.Input.F[i])
		dot += a * float64(w)
		n1 += a * a
		n2 += float64(w) * float64(w)
	}
	fig.gradCosine = dot / math.Sqrt(n1*n2)
	if !(fig.gradCosine >= 0.9999) {
		return fig, fmt.Errorf("input gradient cosine %.7f, want ≥ 0.9999", fig.gradCosine)
	}

	// The batch axis is dynamic: a batch of 3 gives the first 3 rows.
	sub := subBatch(x, 3)
	l3, err := m.Logits(ctx, sub)
	if err != nil {
		return fig, fmt.Errorf("batch of 3: %w", err)
	}
	c := want.Shape[1]
	for i := 0; i < l3.Len(); i++ {
		if d := math.Abs(float64(l3.F[i] - want.F[i])); d > 1e-4*scale {
			return fig, fmt.Errorf("batch of 3: logit %d of sample %d is %g, want %g", i%c, i/c, l3.F[i], want.F[i])
		}
	}

	a, err := attacktest.New(fmt.Sprintf("fgsm:eps=%g", eps))
	if err != nil {
		return fig, err
	}
	out, err := a.Run(ctx, m, attack.Batch{X: x, Y: y}, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		return fig, fmt.Errorf("fgsm: %w", err)
	}
	var nAttacked int
	fig.srEngine, nAttacked = out.SuccessRate()
	if nAttacked != len(y) {
		return fig, fmt.Errorf("fgsm attacked %d of %d samples; PyTorch's labels are its predictions, so all are clean-correct", nAttacked, len(y))
	}
	fooled := ref["fgsm_fooled"]
	for i, f := range out.Fooled {
		if f != (fooled.F[i] != 0) {
			return fig, fmt.Errorf("fgsm eps %g: sample %d fooled=%v, PyTorch %v (SR %.3f, PyTorch %.3f)", eps, i, f, !f, fig.srEngine, srWant)
		}
	}
	if fig.srEngine != srWant {
		return fig, fmt.Errorf("fgsm eps %g: SR %.4f, PyTorch %.4f", eps, fig.srEngine, srWant)
	}
	return fig, nil
}

// subBatch returns a copy of the first n samples of x.
func subBatch(x *tensor.Tensor, n int) *tensor.Tensor {
	shape := append([]int{n}, x.Shape[1:]...)
	s := tensor.New(shape...)
	copy(s.F, x.F[:s.Len()])
	return s
}

// zooLabels reads the class ids stored as floats in a reference file.
func zooLabels(t *tensor.Tensor) []int {
	y := make([]int, t.Len())
	for i, v := range t.F {
		y[i] = int(v)
	}
	return y
}
