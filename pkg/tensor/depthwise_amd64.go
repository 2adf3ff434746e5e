package tensor

import "golang.org/x/sys/cpu"

// dwRowS1AVX512 is in depthwise_amd64.s: dwRow for unit stride and
// dilation, 16 outputs per AVX-512 step.
//
//go:noescape
func dwRowS1AVX512(y, x, w *float32, n, kw int)

// dwUseAVX512 selects dwRowS1AVX512; tests clear it to cover the Go loops.
var dwUseAVX512 = cpu.X86.HasAVX512F

// dwRowS1Fast runs dwRow's unit-stride, unit-dilation case in assembly
// when the CPU has AVX-512, and reports whether it did.
func dwRowS1Fast(yrow, xrow, wr []float32) bool {
	if !dwUseAVX512 || len(yrow) == 0 || len(wr) == 0 {
		return false
	}
	if len(xrow) < len(yrow)+len(wr)-1 {
		panic("tensor: dwRowS1Fast: input row too short")
	}
	dwRowS1AVX512(&yrow[0], &xrow[0], &wr[0], len(yrow), len(wr))
	return true
}
