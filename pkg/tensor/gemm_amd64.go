package tensor

import "golang.org/x/sys/cpu"

//go:generate go run gemm_asmgen.go

// The micro-kernels in gemm_amd64.s; see gemm_asmgen.go for their contract.
// gemmKernelAVX512xH computes a tile of H rows × 32 columns and stores the
// columns enabled in mask; gemmKernelAVX2xH computes H rows × 16 columns and
// stores all of them.

//go:noescape
func gemmKernelAVX512x1(k int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mask uint32)

//go:noescape
func gemmKernelAVX512x2(k int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mask uint32)

//go:noescape
func gemmKernelAVX512x3(k int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mask uint32)

//go:noescape
func gemmKernelAVX512x4(k int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mask uint32)

//go:noescape
func gemmKernelAVX512x5(k int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mask uint32)

//go:noescape
func gemmKernelAVX512x6(k int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mask uint32)

//go:noescape
func gemmKernelAVX512x7(k int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mask uint32)

//go:noescape
func gemmKernelAVX512x8(k int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mask uint32)

//go:noescape
func gemmKernelAVX512x9(k int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mask uint32)

//go:noescape
func gemmKernelAVX512x10(k int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mask uint32)

//go:noescape
func gemmKernelAVX512x11(k int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mask uint32)

//go:noescape
func gemmKernelAVX512x12(k int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mask uint32)

//go:noescape
func gemmKernelAVX2x1(k int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mask uint32)

//go:noescape
func gemmKernelAVX2x2(k int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mask uint32)

//go:noescape
func gemmKernelAVX2x3(k int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mask uint32)

//go:noescape
func gemmKernelAVX2x4(k int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mask uint32)

//go:noescape
func gemmKernelAVX2x5(k int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mask uint32)

//go:noescape
func gemmKernelAVX2x6(k int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mask uint32)

// archGemmKernels returns the micro-kernels this CPU can run, fastest first.
func archGemmKernels() []*gemmKernel {
	var ks []*gemmKernel
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, &gemmKernel{
			name: "avx512", mr: 12, nr: 32, masked: true,
			mc: 144, kc: 256, nc: 2048,
			fn: []gemmKernelFunc{
				gemmKernelAVX512x1, gemmKernelAVX512x2, gemmKernelAVX512x3, gemmKernelAVX512x4,
				gemmKernelAVX512x5, gemmKernelAVX512x6, gemmKernelAVX512x7, gemmKernelAVX512x8,
				gemmKernelAVX512x9, gemmKernelAVX512x10, gemmKernelAVX512x11, gemmKernelAVX512x12,
			},
		})
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, &gemmKernel{
			name: "avx2", mr: 6, nr: 16,
			mc: 144, kc: 256, nc: 2048,
			fn: []gemmKernelFunc{
				gemmKernelAVX2x1, gemmKernelAVX2x2, gemmKernelAVX2x3,
				gemmKernelAVX2x4, gemmKernelAVX2x5, gemmKernelAVX2x6,
			},
		})
	}
	return ks
}
