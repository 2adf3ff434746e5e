//go:build !amd64

package tensor

// archGemmKernels returns no micro-kernels: other architectures use the
// portable path.
func archGemmKernels() []*gemmKernel { return nil }
