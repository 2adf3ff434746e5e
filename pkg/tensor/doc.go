// Package tensor holds advtest's dense tensors and the numeric kernels the
// ONNX engine runs on: GEMM, im2col and depthwise convolution, parallel
// loops and shape arithmetic.
//
// A Tensor is row-major (C order). Float tensors keep their elements in F;
// integer tensors (shape arithmetic, indices) keep theirs in I. Exactly one of
// the two is used, as DType says.
package tensor
