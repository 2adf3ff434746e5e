package tensor

import (
	"math/rand"
	"testing"
)

// gemmBenchShapes are the products the engine runs: square references, the
// convolutions of the MNIST CNN as im2col GEMMs (batch 128 as one W·cols
// product, per sample, and as cols·Wᵀ) and its dense layers.
var gemmBenchShapes = []struct {
	name    string
	m, n, k int
	transA  bool // A stored k×m
	transB  bool // B stored n×k, as ONNX Gemm nodes exported from torch.nn.Linear have it
}{
	{"128x128x128", 128, 128, 128, false, false},
	{"512x512x512", 512, 512, 512, false, false},
	{"1024x1024x1024", 1024, 1024, 1024, false, false},
	{"conv1-batch-32x86528x9", 32, 86528, 9, false, false},
	{"conv2-batch-64x73728x288", 64, 73728, 288, false, false},
	{"conv1-sample-32x676x9", 32, 676, 9, false, false},
	{"conv2-sample-64x576x288", 64, 576, 288, false, false},
	{"conv1-T-6272x32x9", 6272, 32, 9, false, false},
	{"dense1-128x128x9216", 128, 128, 9216, false, false},
	{"dense2-128x10x128", 128, 10, 128, false, false},
	{"dense1-tB-128x128x9216", 128, 128, 9216, false, true},
	{"dense2-tB-128x10x128", 128, 10, 128, false, true},
	// The backward pass of the per-sample convolutions: Wᵀ·dY and dY·colsᵀ.
	{"conv1-dcols-tA-9x676x32", 9, 676, 32, true, false},
	{"conv2-dcols-tA-288x576x64", 288, 576, 64, true, false},
	{"conv1-dW-tB-32x9x676", 32, 9, 676, false, true},
	{"conv2-dW-tB-64x288x576", 64, 288, 576, false, true},
}

// BenchmarkGemm times C = op(A)·op(B) (row-major, beta 0) for each
// shape, on the kernel Gemm picks ("auto"), every other micro-kernel the CPU
// has, and gonum's blas32 ("portable"). Run with -cpu 1,2 for 1 and 2 threads.
func BenchmarkGemm(b *testing.B) {
	paths := []gemmPath{{"auto", gemmActive, gemmTinyMax}}
	for _, kn := range gemmKernels[min(1, len(gemmKernels)):] {
		paths = append(paths, gemmPath{kn.name, kn, gemmTinyMax})
	}
	paths = append(paths, gemmPath{"portable", nil, gemmTinyMax})
	rng := rand.New(rand.NewSource(1))
	for _, s := range gemmBenchShapes {
		a := randSlice(rng, s.m*s.k)
		bb := randSlice(rng, s.k*s.n)
		c := make([]float32, s.m*s.n)
		for _, p := range paths {
			b.Run(s.name+"/"+p.name, func(b *testing.B) {
				lda, ldb := s.k, s.n
				if s.transA {
					lda = s.m
				}
				if s.transB {
					ldb = s.k
				}
				for b.Loop() {
					gemmDispatch(p.kn, p.tinyMax, s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
				}
				flops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
