package onnxmodel

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/advtest/advtest/internal/npyfile"
	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/tensor"
)

const modelsDir = "../../testdata/models"

// crossEntropyGrad returns d(Σ_i CE(logits_i, y_i))/dlogits.
func crossEntropyGrad(logits *tensor.Tensor, y []int) *tensor.Tensor {
	n, c := logits.Shape[0], logits.Shape[1]
	g := tensor.New(n, c)
	for i := 0; i < n; i++ {
		row := logits.F[i*c : (i+1)*c]
		mx := row[0]
		for _, v := range row {
			mx = max(mx, v)
		}
		var sum float64
		for _, v := range row {
			sum += math.Exp(float64(v - mx))
		}
		for j, v := range row {
			g.F[i*c+j] = float32(math.Exp(float64(v-mx)) / sum)
		}
		g.F[i*c+y[i]] -= 1
	}
	return g
}

func refModels(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(modelsDir, "*.onnx"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no models under %s: run testdata/gen/make_models.py", modelsDir)
	}
	var out []string
	for _, f := range files {
		if _, skip := noPyTorchRef[filepath.Base(f)]; !skip {
			out = append(out, f)
		}
	}
	return out
}

// noPyTorchRef lists the models of testdata/models that have no PyTorch
// reference outputs, with the reason; every other model must have one.
var noPyTorchRef = map[string]string{
	"mnist_cnn_at.onnx":       "trained by advtest harden (testdata/gen/pgd_step_sweep_model.yaml); used for attack strength, not engine exactness",
	"mnist_surrogate.onnx":    "the transfer attack's surrogate (testdata/gen/make_surrogate.py); its engine exactness is the CNN ops' already checked",
	"mnist_cnn_gauss025.onnx": "trained with Gaussian noise for certify's figures (testdata/gen/make_gaussian_model.py); the architecture of mnist_cnn_at.onnx, whose ops the CNN references already check",
}

func loadRef(t *testing.T, model string) map[string]*tensor.Tensor {
	t.Helper()
	ref, err := npyfile.ReadArrays(strings.TrimSuffix(model, ".onnx") + ".ref.npz")
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func labels(t *tensor.Tensor) []int {
	y := make([]int, t.Len())
	for i, v := range t.F {
		y[i] = int(v)
	}
	return y
}

// TestPyTorchExports checks logits (1e-4 absolute) and input gradients of
// the summed cross-entropy (1e-3 relative) against PyTorch's, on 64 samples.
func TestPyTorchExports(t *testing.T) {
	for _, path := range refModels(t) {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			m, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			ref := loadRef(t, path)
			x, y := ref["x"], labels(ref["y"])
			g, err := m.Backprop(context.Background(), x, BackpropOptions{Input: true}, func(l *tensor.Tensor) (*tensor.Tensor, error) {
				return crossEntropyGrad(l, y), nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := sameTensor(g.Logits, ref["logits"], 1e-4, 0); err != nil {
				t.Errorf("logits: %v", err)
			}
			if err := closeRelative(g.Input, ref["grad_x"], 1e-3); err != nil {
				t.Errorf("input gradient: %v", err)
			}
			if m.FinalActivation != "" {
				out, err := m.Run(context.Background(), map[string]*tensor.Tensor{m.Inputs[0].Name: x})
				if err != nil {
					t.Fatal(err)
				}
				if err := sameTensor(out[m.Outputs[0].Name], ref["output"], 1e-5, 1e-4); err != nil {
					t.Errorf("graph output after %s: %v", m.FinalActivation, err)
				}
			}
		})
	}
}

// closeRelative checks ‖got−want‖₂ ≤ tol·‖want‖₂ and, element by element,
// |got−want| ≤ tol·max|want|.
func closeRelative(got, want *tensor.Tensor, tol float64) error {
	if got == nil || got.Len() != want.Len() {
		return errorf("shape %v, want %v", shapeOf(got), want.Shape)
	}
	var diff, norm, peak float64
	for i, w := range want.F {
		d := float64(got.F[i] - w)
		diff += d * d
		norm += float64(w) * float64(w)
		peak = math.Max(peak, math.Abs(float64(w)))
	}
	if math.Sqrt(diff) > tol*math.Sqrt(norm) {
		return errorf("relative L2 error %.3g > %g", math.Sqrt(diff/norm), tol)
	}
	for i, w := range want.F {
		if math.Abs(float64(got.F[i]-w)) > tol*peak {
			return errorf("element %d: %g, want %g (tolerance %.3g)", i, got.F[i], w, tol*peak)
		}
	}
	return nil
}

func TestParamGradients(t *testing.T) {
	path := filepath.Join(modelsDir, "mnist_mlp.onnx")
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ref := loadRef(t, path)
	want, err := npyfile.ReadArrays(filepath.Join(modelsDir, "mnist_mlp.param_grads.npz"))
	if err != nil {
		t.Fatal(err)
	}
	y := labels(ref["y"])
	g, err := m.Backprop(context.Background(), ref["x"], BackpropOptions{Params: true}, func(l *tensor.Tensor) (*tensor.Tensor, error) {
		return crossEntropyGrad(l, y), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 {
		t.Fatal("no reference parameter gradients")
	}
	for name, w := range want {
		got, ok := g.Params[name]
		if !ok {
			t.Errorf("no gradient for parameter %s", name)
			continue
		}
		if err := closeRelative(got, w, 1e-3); err != nil {
			t.Errorf("parameter %s: %v", name, err)
		}
	}
}

// TestCleanAccuracyMatchesPyTorch counts argmax predictions over the whole
// shipped test set; the counts must equal PyTorch's exactly.
func TestCleanAccuracyMatchesPyTorch(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(modelsDir, "accuracy.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Models map[string]struct {
			Correct int `json:"correct"`
			N       int `json:"n"`
		} `json:"models"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	mnist, err := dataset.Load("../../testdata/mnist/test-1000-images.npy", "../../testdata/mnist/test-1000-labels.npy", dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tab, err := dataset.Load("../../testdata/tabular/x.npy", "../../testdata/tabular/y.npy", dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range doc.Models {
		t.Run(file, func(t *testing.T) {
			m, err := Load(filepath.Join(modelsDir, file))
			if err != nil {
				t.Fatal(err)
			}
			set := mnist
			if strings.HasPrefix(file, "tabular") {
				set = tab
			}
			correct := 0
			for lo := 0; lo < set.Len(); lo += 250 {
				xb, yb := set.Batch(lo, min(lo+250, set.Len()))
				logits, err := m.Logits(context.Background(), xb)
				if err != nil {
					t.Fatal(err)
				}
				c := logits.Shape[1]
				for i, yi := range yb {
					row := logits.F[i*c : (i+1)*c]
					best := 0
					for j := range row {
						if row[j] > row[best] {
							best = j
						}
					}
					if best == yi {
						correct++
					}
				}
			}
			if correct != want.Correct || set.Len() != want.N {
				t.Errorf("%d/%d correct, PyTorch %d/%d", correct, set.Len(), want.Correct, want.N)
			}
		})
	}
}

func TestFixedBatchExportRunsBatched(t *testing.T) {
	m, err := Load(filepath.Join(modelsDir, "resnet_bn_fixed1_op17.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if m.PerSample {
		t.Fatal("the fixed-batch export fell back to per-sample execution")
	}
	ref := loadRef(t, filepath.Join(modelsDir, "resnet_bn_fixed1_op17.onnx"))
	x := ref["x"]
	all, err := m.Logits(context.Background(), x)
	if err != nil {
		t.Fatal(err)
	}
	per := x.Len() / x.Shape[0]
	c := all.Shape[1]
	for i := 0; i < 3; i++ {
		one, err := m.Logits(context.Background(), tensor.FromFloat32(x.F[i*per:(i+1)*per], append([]int{1}, x.Shape[1:]...)...))
		if err != nil {
			t.Fatal(err)
		}
		if err := sameTensor(tensor.FromFloat32(all.F[i*c:(i+1)*c], 1, c), one, 1e-5, 1e-5); err != nil {
			t.Errorf("sample %d: batched vs alone: %v", i, err)
		}
	}
}

func TestSaveReloadAndRewrite(t *testing.T) {
	path := filepath.Join(modelsDir, "mnist_cnn.onnx")
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ref := loadRef(t, path)
	x := ref["x"]
	want, err := m.Logits(context.Background(), x)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "copy.onnx")
	if err := m.Save(out); err != nil {
		t.Fatal(err)
	}
	m2, err := Load(out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m2.Logits(context.Background(), x)
	if err != nil {
		t.Fatal(err)
	}
	if err := sameTensor(got, want, 0, 0); err != nil {
		t.Errorf("reloaded logits: %v", err)
	}

	// Relu -> Clip(0, 6): saved, reloaded, runs, and differs from Relu only
	// where an activation exceeded 6.
	e := m.Edit()
	n := 0
	for _, node := range e.Graph().GetNode() {
		if node.GetOpType() == "Relu" {
			if node.GetName() == "" {
				t.Fatal("Relu node without a name")
			}
			lo, hi := node.GetName()+"_lo", node.GetName()+"_hi"
			e.AddInitializer(lo, tensor.FromFloat32([]float32{0})).AddInitializer(hi, tensor.FromFloat32([]float32{6}))
			e.ReplaceOp(node.GetName(), "Clip", []string{node.GetInput()[0], lo, hi})
			n++
		}
	}
	if n == 0 {
		t.Fatal("no Relu in the CNN")
	}
	clipped, err := e.Build()
	if err != nil {
		t.Fatal(err)
	}
	cpath := filepath.Join(dir, "clipped.onnx")
	if err := clipped.Save(cpath); err != nil {
		t.Fatal(err)
	}
	c2, err := Load(cpath)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := c2.Logits(context.Background(), x)
	if err != nil {
		t.Fatal(err)
	}
	if cl.Len() != want.Len() {
		t.Fatalf("clipped logits shape %v", cl.Shape)
	}
	for _, op := range c2.Proto.GetGraph().GetNode() {
		if op.GetOpType() == "Relu" {
			t.Errorf("a Relu survived the rewrite")
		}
	}
}

// TestPerSampleMatchesBatched forces per-sample execution and checks that
// logits and gradients equal the batched run's, with a loss that indexes
// its labels by row (it must see the whole batch's logits at once).
func TestPerSampleMatchesBatched(t *testing.T) {
	path := filepath.Join(modelsDir, "mnist_mlp.onnx")
	ref := loadRef(t, path)
	x, y := ref["x"], labels(ref["y"])
	loss := func(l *tensor.Tensor) (*tensor.Tensor, error) {
		if l.Shape[0] != len(y) {
			return nil, errorf("loss saw %d rows, want %d", l.Shape[0], len(y))
		}
		return crossEntropyGrad(l, y), nil
	}
	var got [2]*Grads
	for i, perSample := range []bool{false, true} {
		m, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		m.PerSample = perSample
		if got[i], err = m.Backprop(context.Background(), x, BackpropOptions{Input: true, Params: true}, loss); err != nil {
			t.Fatal(err)
		}
	}
	if err := sameTensor(got[1].Logits, got[0].Logits, 1e-5, 1e-5); err != nil {
		t.Errorf("logits: %v", err)
	}
	if err := closeRelative(got[1].Input, got[0].Input, 1e-5); err != nil {
		t.Errorf("input gradient: %v", err)
	}
	for name, g := range got[0].Params {
		if err := closeRelative(got[1].Params[name], g, 1e-4); err != nil {
			t.Errorf("parameter %s: %v", name, err)
		}
	}
}

// TestInputGradientsMatchesInputGradient checks that InputGradients, which
// back-propagates several seeds through one forward pass, returns for each
// seed the logits and the gradient that InputGradient returns for it, on
// every shipped model, batched and (mnist_mlp) one sample at a time.
func TestInputGradientsMatchesInputGradient(t *testing.T) {
	type tc struct {
		path      string
		perSample bool
	}
	var cases []tc
	for _, p := range refModels(t) {
		cases = append(cases, tc{p, false})
	}
	cases = append(cases, tc{filepath.Join(modelsDir, "mnist_mlp.onnx"), true})
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/perSample=%v", filepath.Base(c.path), c.perSample), func(t *testing.T) {
			m, err := Load(c.path)
			if err != nil {
				t.Fatal(err)
			}
			m.PerSample = c.perSample
			x := loadRef(t, c.path)["x"]
			if n := x.Shape[0]; n > 8 {
				x = tensor.FromFloat32(x.F[:8*x.Len()/n], append([]int{8}, x.Shape[1:]...)...)
			}
			ctx := context.Background()
			// Seeds: one-hot differences e_k − e_0 (DeepFool's) and a dense one.
			mkSeeds := func(logits *tensor.Tensor) []*tensor.Tensor {
				n, nc := logits.Shape[0], logits.Shape[1]
				var out []*tensor.Tensor
				for k := 1; k < min(nc, 4); k++ {
					s := tensor.New(n, nc)
					for i := 0; i < n; i++ {
						s.F[i*nc+k], s.F[i*nc] = 1, -1
					}
					out = append(out, s)
				}
				dense := tensor.New(n, nc)
				for i := range dense.F {
					dense.F[i] = float32(i%7) - 3
				}
				return append(out, dense)
			}
			logits, grads, err := m.InputGradients(ctx, x, func(l *tensor.Tensor) ([]*tensor.Tensor, error) { return mkSeeds(l), nil })
			if err != nil {
				t.Fatal(err)
			}
			seeds := mkSeeds(logits)
			if len(grads) != len(seeds) {
				t.Fatalf("%d gradients for %d seeds", len(grads), len(seeds))
			}
			for q, seed := range seeds {
				wantLogits, want, err := m.InputGradient(ctx, x, func(*tensor.Tensor) (*tensor.Tensor, error) { return seed, nil })
				if err != nil {
					t.Fatal(err)
				}
				if err := sameTensor(logits, wantLogits, 0, 0); err != nil {
					t.Errorf("logits: %v", err)
				}
				if err := sameTensor(grads[q], want, 1e-7, 1e-6); err != nil {
					t.Errorf("seed %d: gradient: %v", q, err)
				}
			}
		})
	}
}

// TestInputGradientsBadSeed checks that a seed of the wrong shape is an
// error that says which seed and what shape was expected.
func TestInputGradientsBadSeed(t *testing.T) {
	m, err := Load(filepath.Join(modelsDir, "mnist_mlp.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(2, 1, 28, 28)
	_, _, err = m.InputGradients(context.Background(), x, func(l *tensor.Tensor) ([]*tensor.Tensor, error) {
		return []*tensor.Tensor{tensor.New(l.Shape...), tensor.New(3, 10)}, nil
	})
	if err == nil || !strings.Contains(err.Error(), "loss gradient 1 has shape [3 10], want [2 10]") {
		t.Errorf("error %v, want one naming seed 1 and shape [2 10]", err)
	}
}
