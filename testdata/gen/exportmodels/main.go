// Command exportmodels writes the ONNX files that advtest itself produces
// (a saved copy, a Relu→Clip rewrite, preprocessing prepended in NCHW and
// NHWC, feature squeezing, inference noise, bounded ReLU, three ensembles,
// a trained model),
// each with an input batch and advtest's own outputs for it, so that ONNX's
// checker and another runtime can verify them (testdata/gen/check_onnx.py
// --compare). It is a development tool: tests never need its output.
//
// Usage, from the repository root:
//
//	go run ./testdata/gen/exportmodels -out /tmp/advtest-exports
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/advtest/advtest/internal/npyfile"
	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/defend"
	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/tensor"
)

func main() {
	out := flag.String("out", "advtest-exports", "folder to write into")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "exportmodels:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	ctx := context.Background()
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	cnn, err := onnxmodel.Load("testdata/models/mnist_cnn.onnx")
	if err != nil {
		return err
	}
	mlp, err := onnxmodel.Load("testdata/models/mnist_mlp.onnx")
	if err != nil {
		return err
	}
	set, err := dataset.Load("testdata/mnist/test-1000-images.npy", "testdata/mnist/test-1000-labels.npy", dataset.Options{Limit: 256})
	if err != nil {
		return err
	}
	x, _ := set.Batch(0, 16)
	gelu, err := onnxmodel.Load("testdata/models/ln_gelu_mlp.onnx")
	if err != nil {
		return err
	}
	// The CNN is saved once; the rewrites use the (five times smaller) MLP.
	models := map[string]*onnxmodel.Model{"copy_cnn": cnn}

	// Relu -> Clip(0, 6) through the editor.
	e := mlp.Edit()
	for _, n := range e.Graph().GetNode() {
		if n.GetOpType() == "Relu" {
			lo, hi := n.GetName()+"_lo", n.GetName()+"_hi"
			e.AddInitializer(lo, tensor.FromFloat32([]float32{0})).AddInitializer(hi, tensor.FromFloat32([]float32{6}))
			e.ReplaceOp(n.GetName(), "Clip", []string{n.GetInput()[0], lo, hi})
		}
	}
	if models["relu_clip"], err = e.Build(); err != nil {
		return err
	}
	if models["preprocess_nchw"], err = mlp.WithPreprocessing(onnxmodel.Preprocessing{Scale: 2, Mean: []float32{0.5}, Std: []float32{2}}); err != nil {
		return err
	}
	if models["preprocess_nhwc"], err = mlp.WithPreprocessing(onnxmodel.Preprocessing{Layout: "NHWC"}); err != nil {
		return err
	}
	if models["squeeze"], err = defend.WithSqueezer(mlp, defend.Squeezer{Bits: 4, Median: 2}); err != nil {
		return err
	}
	if models["squeeze_median3"], err = defend.WithSqueezer(mlp, defend.Squeezer{Median: 3}); err != nil {
		return err
	}
	if models["gaussian_noise"], err = defend.WithNoise(mlp, defend.Noise{Sigma: 0.1, Clip: true, Min: 0, Max: 1}); err != nil {
		return err
	}
	bounds := map[string]float32{}
	for _, n := range mlp.Proto.GetGraph().GetNode() {
		if n.GetOpType() == "Relu" {
			bounds[n.GetOutput()[0]] = 2
		}
	}
	if models["bounded_relu"], err = defend.BoundRelus(mlp, bounds); err != nil {
		return err
	}
	for _, how := range []string{"mean-logits", "mean-probs", "vote"} {
		agg, err := onnxmodel.ParseAggregate(how)
		if err != nil {
			return err
		}
		if models["ensemble_"+how], err = onnxmodel.Combine([]*onnxmodel.Model{mlp, gelu}, agg); err != nil {
			return err
		}
	}
	smoothing, err := defend.New("label-smoothing", map[string]string{"epochs": "1"})
	if err != nil {
		return err
	}
	if models["trained_label_smoothing"], err = smoothing.Apply(ctx, mlp, defend.TrainData{Train: set}, rand.New(rand.NewPCG(1, 2))); err != nil {
		return err
	}
	for name, m := range models {
		input := x
		if name == "preprocess_nhwc" {
			input = toNHWC(x)
		}
		outs, err := m.Run(ctx, map[string]*tensor.Tensor{m.Inputs[0].Name: input})
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := m.Save(filepath.Join(out, name+".onnx")); err != nil {
			return err
		}
		if err := npyfile.Write(filepath.Join(out, name+".input.npy"), input); err != nil {
			return err
		}
		if m.Randomised() {
			// Random outputs: check_onnx.py --compare checks the shape of
			// another runtime's output, not its values.
			fmt.Println("wrote", name, "(random: no expected outputs)")
			continue
		}
		if err := npyfile.Write(filepath.Join(out, name+".expected.npy"), outs[m.Outputs[0].Name]); err != nil {
			return err
		}
		fmt.Println("wrote", name)
	}
	return nil
}

func toNHWC(x *tensor.Tensor) *tensor.Tensor {
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	y := tensor.New(n, h, w, c)
	for i := 0; i < n; i++ {
		for ch := 0; ch < c; ch++ {
			for r := 0; r < h; r++ {
				for col := 0; col < w; col++ {
					y.F[((i*h+r)*w+col)*c+ch] = x.F[((i*c+ch)*h+r)*w+col]
				}
			}
		}
	}
	return y
}
