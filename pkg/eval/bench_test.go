package eval

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/advtest/advtest/internal/attacktest"
	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/onnxmodel"
)

// BenchmarkPGD runs PGD-Linf-40 (eps 0.3, step 0.01, random start, every
// sample for all 40 steps: early_stop=false, as PyTorch's reference loop
// does) on the MNIST CNN at batch 128 and reports samples/s, comparable with
// testdata/reference/pytorch_bench.json's pgd figure.
func BenchmarkPGD(b *testing.B) {
	m, err := onnxmodel.Load("../../testdata/models/mnist_cnn.onnx")
	if err != nil {
		b.Fatal(err)
	}
	set, err := dataset.Load("../../testdata/mnist/test-1000-images.npy", "../../testdata/mnist/test-1000-labels.npy", dataset.Options{Limit: 128})
	if err != nil {
		b.Fatal(err)
	}
	a, err := attacktest.New("pgd:norm=linf,eps=0.3,steps=40,step=0.01,restarts=1,early_stop=false")
	if err != nil {
		b.Fatal(err)
	}
	x, y := set.Batch(0, 128)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := a.Run(ctx, m, attack.Batch{X: x, Y: y}, rand.New(rand.NewPCG(1, uint64(i)))); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(128*b.N)/b.Elapsed().Seconds(), "samples/s")
}

// BenchmarkDeepFoolResNet runs DeepFool (L2, all classes, 50 iterations,
// overshoot 0.02) on the residual BN CNN over the first 1000 shipped
// samples at batch 128 through the pool, as `advtest attack --attack
// deepfool` does, and reports samples/s and the median L2 of the fooled
// samples; testdata/gen/deepfool_bench.py is the PyTorch side.
func BenchmarkDeepFoolResNet(b *testing.B) {
	m, err := onnxmodel.Load("../../testdata/models/resnet_bn_dyn_op9.onnx")
	if err != nil {
		b.Fatal(err)
	}
	set, err := dataset.Load("../../testdata/mnist/test-1000-images.npy", "../../testdata/mnist/test-1000-labels.npy", dataset.Options{})
	if err != nil {
		b.Fatal(err)
	}
	a, err := attacktest.New("deepfool")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	var med float64
	for i := 0; i < b.N; i++ {
		pool, err := RunPool(ctx, m, set.X, set.Y, []attack.Attack{a}, PoolOptions{BatchSize: 128, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		res, err := NewResult(pool, SpecsOf([]attack.Attack{a}))
		if err != nil {
			b.Fatal(err)
		}
		med = res.Attacks[0].Perturbation.L2.Median
	}
	b.ReportMetric(float64(set.Len()*b.N)/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(med, "median_l2")
}
