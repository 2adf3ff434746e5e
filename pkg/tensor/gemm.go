package tensor

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// Gemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices, where
// op(X) is X or its transpose. op(A) is m×k, op(B) is k×n and C is m×n;
// lda, ldb and ldc are the row strides of A, B and C as stored.
// When beta is 0, C need not be initialised (NaNs in C are overwritten).
func Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	gemmPortable(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
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
