package tensor

import (
	"fmt"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// Gemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices, where
// op(X) is X or its transpose. op(A) is m×k, op(B) is k×n and C is m×n;
// lda, ldb and ldc are the row strides of A, B and C as stored.
// When beta is 0, C need not be initialised (NaNs in C are overwritten).
//
// On amd64 CPUs with AVX2 and FMA (or AVX-512) it runs a packed, cache-blocked
// GEMM with an assembly micro-kernel, split over GOMAXPROCS goroutines for
// large problems; elsewhere it uses gonum's blas32. It panics when a stride
// or slice is too short for the shape.
func Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemmDispatch(gemmActive, gemmTinyMax, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmDispatch is Gemm with the kernel (nil: portable) and the size up to
// which plain loops run made explicit, so that tests can force each path.
func gemmDispatch(kn *gemmKernel, tinyMax int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemmArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	A := gemmOperand{a, lda, 1}
	if transA {
		A = gemmOperand{a, 1, lda}
	}
	B := gemmOperand{b, ldb, 1}
	if transB {
		B = gemmOperand{b, 1, ldb}
	}
	C := gemmOperand{c, ldc, 1}
	switch {
	case m*n*k <= tinyMax:
		gemmTiny(m, n, k, A, B, C, alpha, beta)
	case kn != nil:
		kn.gemm(m, n, k, A, B, C, alpha, beta)
	default:
		gemmPortable(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}
}

// checkGemmArgs panics unless every stride and slice is large enough for the
// shape (the assembly kernels must never run off a slice).
func checkGemmArgs(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("tensor: Gemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	check := func(name string, s []float32, rows, cols, ld int) {
		if rows == 0 || cols == 0 {
			return // an empty operand (ONNX allows them): nothing is read or written
		}
		if ld < cols {
			panic(fmt.Sprintf("tensor: Gemm: ld%s=%d < %d", name, ld, cols))
		}
		if len(s) < (rows-1)*ld+cols {
			panic(fmt.Sprintf("tensor: Gemm: len(%s)=%d too short for %d×%d with stride %d", name, len(s), rows, cols, ld))
		}
	}
	if transA {
		check("a", a, k, m, lda)
	} else {
		check("a", a, m, k, lda)
	}
	if transB {
		check("b", b, n, k, ldb)
	} else {
		check("b", b, k, n, ldb)
	}
	check("c", c, m, n, ldc)
}

func scaleC(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// gemmTiny runs problems too small to repay packing with plain loops.
func gemmTiny(m, n, k int, A, B, C gemmOperand, alpha, beta float32) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			ai, bj := i*A.rs, j*B.cs
			for p := 0; p < k; p++ {
				s += A.d[ai+p*A.cs] * B.d[bj+p*B.rs]
			}
			o := i*C.rs + j*C.cs
			if beta == 0 {
				C.d[o] = alpha * s
			} else {
				C.d[o] = alpha*s + beta*C.d[o]
			}
		}
	}
}

// gemmPortable is the fallback path: gonum's blas32, split over rows of C.
func gemmPortable(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if beta == 0 {
		scaleC(m, n, 0, c, ldc)
	}
	tA, tB := blas.NoTrans, blas.NoTrans
	if transA {
		tA = blas.Trans
	}
	if transB {
		tB = blas.Trans
	}
	ParallelFor(m, 64, func(lo, hi int) {
		rows := hi - lo
		var aSub []float32
		var aRows, aCols int
		if transA {
			// A is stored k×m; the rows lo..hi of op(A) are columns lo..hi.
			aSub = a[lo:]
			aRows, aCols = k, rows
		} else {
			aSub = a[lo*lda:]
			aRows, aCols = rows, k
		}
		bRows, bCols := k, n
		if transB {
			bRows, bCols = n, k
		}
		blas32.Gemm(tA, tB, alpha,
			blas32.General{Rows: aRows, Cols: aCols, Stride: lda, Data: aSub[:(aRows-1)*lda+aCols]},
			blas32.General{Rows: bRows, Cols: bCols, Stride: ldb, Data: b[:(bRows-1)*ldb+bCols]},
			beta,
			blas32.General{Rows: rows, Cols: n, Stride: ldc, Data: c[lo*ldc : (hi-1)*ldc+n]})
	})
}
