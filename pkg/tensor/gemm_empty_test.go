package tensor

import "testing"

// TestGemmEmptyOperands: ONNX allows empty tensors (a layer with 0
// outputs); Gemm with m, n or k = 0 and a stride of 0 must not panic, and
// with k = 0 it only scales C.
func TestGemmEmptyOperands(t *testing.T) {
	cases := []struct {
		name           string
		m, n, k        int
		lda, ldb, ldc  int
		a, b, c, wantC []float32
	}{
		{"n=0", 2, 0, 3, 3, 0, 0, make([]float32, 6), nil, nil, nil},
		{"m=0", 0, 2, 3, 3, 2, 2, nil, make([]float32, 6), nil, nil},
		{"k=0", 1, 2, 0, 0, 2, 2, nil, nil, []float32{1, 2}, []float32{0.5, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			Gemm(false, false, tc.m, tc.n, tc.k, 1, tc.a, tc.lda, tc.b, tc.ldb, 0.5, tc.c, tc.ldc)
			for i := range tc.wantC {
				if tc.c[i] != tc.wantC[i] {
					t.Errorf("C = %v, want %v", tc.c, tc.wantC)
				}
			}
		})
	}
}
