package tensor

import "golang.org/x/sys/cpu"

// The micro-kernels are in gemm_amd64.s, declared in gemm_kernels_amd64.go;
// both are written by gemm_asmgen.go, which also states their contract.
//go:generate go run gemm_asmgen.go

// gemmTranspose8AVX is in gemm_pack_amd64.s: it transposes 8×8 blocks for
// packing (see gemmTranspose8).
//
//go:noescape
func gemmTranspose8AVX(src *float32, lds int, dst *float32, ldd int, blocks int)

// archGemmKernels returns the micro-kernels this CPU can run, fastest first.
func archGemmKernels() []*gemmKernel {
	var ks []*gemmKernel
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, &gemmKernel{
			name: "avx512", mr: 12, nr: 32, masked: true,
			mc: 144, kc: 256, nc: 2048, directAMaxN: 1024, directBMaxK: 64,
			fn: gemmAVX512Packed, fnD: gemmAVX512Direct,
		})
	}
	if cpu.X86.HasAVX {
		gemmTranspose8 = gemmTranspose8AVX
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, &gemmKernel{
			name: "avx2", mr: 6, nr: 16,
			mc: 144, kc: 256, nc: 2048, directAMaxN: 1024, directBMaxK: 64,
			fn: gemmAVX2Packed, fnD: gemmAVX2Direct,
		})
	}
	return ks
}
