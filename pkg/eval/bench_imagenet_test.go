package eval

import (
	"context"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/advtest/advtest/internal/attacktest"
	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/tensor"
)

// BenchmarkImageNetPGD runs PGD-Linf-10 (eps 4/255, constant step eps/4 =
// 1/255, random start, one restart, every sample for all 10 steps:
// early_stop=false) on the full-size torchvision resnet50 (random weights)
// at batch 8, labelled with the model's clean predictions so that every
// sample is attacked, and reports samples/s: the advtest side of the PGD figure of
// testdata/gen/bench_imagenet_side_by_side.sh. The model comes from
// testdata/gen/imagenet_models.py into the git-ignored testdata/bench/; the
// benchmark skips when it is absent.
func BenchmarkImageNetPGD(b *testing.B) {
	const path = "../../testdata/bench/resnet50.onnx"
	if _, err := os.Stat(path); err != nil {
		b.Skipf("%s absent: run testdata/gen/imagenet_models.py", path)
	}
	m, err := onnxmodel.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	set, err := dataset.Load("../../testdata/bench/images.npy", "../../testdata/bench/labels.npy", dataset.Options{})
	if err != nil {
		b.Fatal(err)
	}
	a, err := attacktest.New("pgd:norm=linf,eps=0.01568627450980392,steps=10,step=0.00392156862745098,restarts=1,early_stop=false")
	if err != nil {
		b.Fatal(err)
	}
	x, _ := set.Batch(0, set.Len())
	ctx := context.Background()
	// The labels are the model's clean predictions: PGD skips samples that
	// are misclassified before the attack, which the fixed random labels of
	// labels.npy almost all are for random weights.
	logits, err := m.Logits(ctx, x)
	if err != nil {
		b.Fatal(err)
	}
	y := make([]int, logits.Shape[0])
	for i := range y {
		row := logits.F[i*logits.Shape[1] : (i+1)*logits.Shape[1]]
		for j, v := range row {
			if v > row[y[i]] {
				y[i] = j
			}
		}
	}
	// One untimed gradient pass, as imagenet_bench_pytorch.py makes before
	// its PGD run, so that -benchtime 1x does not time first-use costs.
	if _, _, err := m.InputGradient(ctx, x, func(l *tensor.Tensor) (*tensor.Tensor, error) { return l, nil }); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := a.Run(ctx, m, attack.Batch{X: x, Y: y}, rand.New(rand.NewPCG(1, uint64(i)))); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(set.Len()*b.N)/b.Elapsed().Seconds(), "samples/s")
}
