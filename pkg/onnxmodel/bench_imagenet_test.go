package onnxmodel

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/tensor"
)

// imagenetDir holds the full-size torchvision exports that
// testdata/gen/imagenet_models.py writes; the folder is git-ignored (the
// models are hundreds of MB), so the ImageNet benchmarks skip without it.
const imagenetDir = "../../testdata/bench"

// imagenetArchs are the models BenchmarkImageNet measures, in the order
// testdata/gen/bench_imagenet_side_by_side.sh reports them.
var imagenetArchs = []string{"resnet50", "vit_b_16", "convnext_tiny", "mobilenet_v2", "efficientnet_b0"}

// imagenetBatch loads the exported model <arch>.onnx and the fixed batch of
// 8 images and labels, or skips the benchmark when they are absent.
func imagenetBatch(b *testing.B, arch string) (*Model, *tensor.Tensor, []int) {
	b.Helper()
	path := filepath.Join(imagenetDir, arch+".onnx")
	if _, err := os.Stat(path); err != nil {
		b.Skipf("%s absent: run testdata/gen/imagenet_models.py", path)
	}
	m, err := Load(path)
	if err != nil {
		b.Fatal(err)
	}
	set, err := dataset.Load(filepath.Join(imagenetDir, "images.npy"), filepath.Join(imagenetDir, "labels.npy"), dataset.Options{})
	if err != nil {
		b.Fatal(err)
	}
	x, y := set.Batch(0, set.Len())
	return m, x, y
}

// BenchmarkImageNet measures forward, and forward + cross-entropy input
// gradient, of five torchvision ImageNet classifiers (random weights,
// opset 17) at batch 8, and reports samples/s: the advtest side of
// testdata/gen/bench_imagenet_side_by_side.sh, whose PyTorch side is
// testdata/gen/imagenet_bench_pytorch.py. Each run makes one untimed
// warm-up call first, as the PyTorch side does: the first call of a model
// faults in gigabytes of fresh buffers (vit_b_16's forward+backward peaks at
// about 4 GB), which later calls reuse from the model's pool; so
// -benchtime 1x times one warm call.
func BenchmarkImageNet(b *testing.B) {
	for _, arch := range imagenetArchs {
		b.Run(arch+"/forward", func(b *testing.B) {
			m, x, _ := imagenetBatch(b, arch)
			ctx := context.Background()
			if _, err := m.Logits(ctx, x); err != nil { // warm-up: fills the buffer pool
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := m.Logits(ctx, x); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(x.Shape[0]*b.N)/b.Elapsed().Seconds(), "samples/s")
		})
		b.Run(arch+"/forward+backward", func(b *testing.B) {
			m, x, y := imagenetBatch(b, arch)
			ctx := context.Background()
			seed := func(l *tensor.Tensor) (*tensor.Tensor, error) { return crossEntropyGrad(l, y), nil }
			if _, _, err := m.InputGradient(ctx, x, seed); err != nil { // warm-up: fills the buffer pool
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, _, err := m.InputGradient(ctx, x, seed); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(x.Shape[0]*b.N)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
