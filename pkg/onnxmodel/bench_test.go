package onnxmodel

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/advtest/advtest/pkg/tensor"
)

// benchModel loads a testdata model and a random batch in [0,1].
func benchModel(b *testing.B, name string, batch int) (*Model, *tensor.Tensor, []int) {
	b.Helper()
	m, err := Load(filepath.Join(modelsDir, name))
	if err != nil {
		b.Fatal(err)
	}
	shape := append([]int{batch}, m.SampleShape()...)
	x := tensor.New(shape...)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range x.F {
		x.F[i] = rng.Float32()
	}
	y := make([]int, batch)
	for i := range y {
		y[i] = rng.IntN(10)
	}
	return m, x, y
}

// BenchmarkModel measures forward, and forward+backward with respect to the
// input (cross-entropy), on the MNIST MLP and CNN at batch 128; samples/s
// is reported as a metric so that it compares directly with
// testdata/reference/pytorch_bench.json.
func BenchmarkModel(b *testing.B) {
	for _, name := range []string{"mnist_mlp.onnx", "mnist_cnn.onnx"} {
		const batch = 128
		b.Run(name+"/forward", func(b *testing.B) {
			m, x, _ := benchModel(b, name, batch)
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := m.Logits(ctx, x); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "samples/s")
		})
		b.Run(name+"/forward+backward", func(b *testing.B) {
			m, x, y := benchModel(b, name, batch)
			ctx := context.Background()
			seed := func(l *tensor.Tensor) (*tensor.Tensor, error) { return crossEntropyGrad(l, y), nil }
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, _, err := m.InputGradient(ctx, x, seed); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
