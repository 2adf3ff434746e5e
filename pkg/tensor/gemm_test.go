package tensor

import (
	"fmt"
	"math"
	"math/rand"
	"runtime"
	"testing"
)

// gemmPath is one way Gemm can compute a product.
type gemmPath struct {
	name    string
	kn      *gemmKernel
	tinyMax int
}

// gemmPaths returns every path this machine can run: each micro-kernel with
// its real blocking and with tiny blocks (to exercise every loop of the
// driver on small shapes), the portable gonum path and the plain loops.
func gemmPaths() []gemmPath {
	var ps []gemmPath
	for _, kn := range gemmKernels {
		ps = append(ps, gemmPath{kn.name, kn, 0})
		// Real blocks, every operand packed.
		packed := *kn
		packed.directAMaxN, packed.directBMaxK = -1, -1
		ps = append(ps, gemmPath{kn.name + "-packed", &packed, 0})
		// Tiny blocks (mc not a multiple of mr on purpose), nothing read
		// in place.
		small := *kn
		small.mc, small.kc, small.nc = 2*kn.mr+1, 7, 3*kn.nr
		small.directAMaxN, small.directBMaxK = -1, -1
		ps = append(ps, gemmPath{kn.name + "-smallblocks", &small, 0})
		// Tiny blocks, every row-major operand read in place.
		direct := small
		direct.directAMaxN, direct.directBMaxK = math.MaxInt, math.MaxInt
		ps = append(ps, gemmPath{kn.name + "-direct", &direct, 0})
	}
	ps = append(ps, gemmPath{"portable", nil, 0}, gemmPath{"tiny", nil, math.MaxInt})
	return ps
}

type gemmCase struct {
	m, n, k        int
	transA, transB bool
	alpha, beta    float32
	padA, padB     int // extra row stride
	padC           int
}

func gemmCases() []gemmCase {
	dims := [][3]int{
		{1, 1, 1}, {1, 7, 3}, {5, 1, 9}, {3, 5, 1}, {7, 13, 17}, {12, 32, 8}, {13, 33, 9},
		{6, 16, 4}, {25, 47, 31}, {32, 676, 9}, {64, 100, 288}, {128, 10, 128}, {10, 128, 64},
		{100, 3, 70}, {32, 9, 676}, {37, 70, 300}, {150, 90, 40}, {70, 80, 50}, {200, 45, 66}, {3, 300, 5},
		// Large enough to be split over goroutines: by columns, by rows.
		{45, 1000, 60}, {150, 201, 80}, {300, 40, 200},
	}
	var cs []gemmCase
	ab := [][2]float32{{1, 0}, {1, 1}, {-0.5, 2}, {2, -1}, {0.75, 0}}
	i := 0
	for _, d := range dims {
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				x := ab[i%len(ab)]
				pad := i % 3
				cs = append(cs, gemmCase{d[0], d[1], d[2], tA, tB, x[0], x[1], pad, (pad + 1) % 3, 2 * pad})
				i++
			}
		}
	}
	// alpha = 0 and k = 0 only scale C.
	cs = append(cs, gemmCase{m: 5, n: 6, k: 7, alpha: 0, beta: 2}, gemmCase{m: 5, n: 6, k: 0, alpha: 1, beta: 0, padC: 1})
	return cs
}

func TestGemm(t *testing.T) {
	// An odd number of goroutines, to exercise uneven splits.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(3))
	rng := rand.New(rand.NewSource(1))
	for _, path := range gemmPaths() {
		for _, tc := range gemmCases() {
			name := fmt.Sprintf("%s/%dx%dx%d/tA=%v,tB=%v/a=%g,b=%g", path.name, tc.m, tc.n, tc.k, tc.transA, tc.transB, tc.alpha, tc.beta)
			t.Run(name, func(t *testing.T) { checkGemm(t, rng, path, tc) })
		}
	}
}

const gemmSentinel = 12345.5

func checkGemm(t *testing.T, rng *rand.Rand, path gemmPath, tc gemmCase) {
	t.Helper()
	m, n, k := tc.m, tc.n, tc.k
	ar, ac := m, k
	if tc.transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if tc.transB {
		br, bc = n, k
	}
	lda, ldb, ldc := max(1, ac+tc.padA), max(1, bc+tc.padB), n+tc.padC
	a := randSlice(rng, ar*lda)
	b := randSlice(rng, br*ldb)
	c := make([]float32, m*ldc)
	for i := range c {
		if i%ldc >= n {
			c[i] = gemmSentinel
		} else if tc.beta == 0 {
			c[i] = float32(math.NaN())
		} else {
			c[i] = rng.Float32()*2 - 1
		}
	}
	c0 := append([]float32(nil), c...)
	gemmDispatch(path.kn, path.tinyMax, tc.transA, tc.transB, m, n, k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
	at := func(i, p int) float64 {
		if tc.transA {
			return float64(a[p*lda+i])
		}
		return float64(a[i*lda+p])
	}
	bt := func(p, j int) float64 {
		if tc.transB {
			return float64(b[j*ldb+p])
		}
		return float64(b[p*ldb+j])
	}
	bad := 0
	for i := 0; i < m; i++ {
		for j := 0; j < ldc; j++ {
			got := c[i*ldc+j]
			if j >= n {
				if got != gemmSentinel {
					t.Fatalf("C[%d][%d] outside the matrix changed to %g", i, j, got)
				}
				continue
			}
			var s, mag float64
			for p := 0; p < k; p++ {
				s += at(i, p) * bt(p, j)
				mag += math.Abs(at(i, p) * bt(p, j))
			}
			want := float64(tc.alpha) * s
			mag *= math.Abs(float64(tc.alpha))
			if tc.beta != 0 {
				want += float64(tc.beta) * float64(c0[i*ldc+j])
				mag += math.Abs(float64(tc.beta) * float64(c0[i*ldc+j]))
			}
			if d := math.Abs(float64(got) - want); !(d <= 1e-5*mag+1e-6) {
				if bad++; bad <= 5 {
					t.Errorf("C[%d][%d] = %g, want %g", i, j, got, want)
				}
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d wrong elements", bad)
	}
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = rng.Float32()*2 - 1
	}
	return s
}

// TestGemmPanics checks that short slices and strides are refused before
// any kernel runs.
func TestGemmPanics(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"short c", func() {
			Gemm(false, false, 2, 2, 2, 1, make([]float32, 4), 2, make([]float32, 4), 2, 0, make([]float32, 3), 2)
		}},
		{"short lda", func() {
			Gemm(false, false, 2, 2, 3, 1, make([]float32, 6), 2, make([]float32, 6), 2, 0, make([]float32, 4), 2)
		}},
		{"short a (trans)", func() {
			Gemm(true, false, 3, 2, 2, 1, make([]float32, 5), 3, make([]float32, 4), 2, 0, make([]float32, 6), 2)
		}},
		{"negative", func() { Gemm(false, false, -1, 2, 2, 1, nil, 2, nil, 2, 0, nil, 2) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tc.f()
		})
	}
}

// TestGemmNoAlloc checks that a warm Gemm allocates nothing, serial or
// split over goroutines.
func TestGemmNoAlloc(t *testing.T) {
	if gemmActive == nil {
		t.Skip("no micro-kernel on this CPU")
	}
	if gemmRace {
		t.Skip("sync.Pool drops items under the race detector")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	for _, d := range [][3]int{{40, 50, 60}, {200, 300, 100}, {300, 40, 200}} {
		m, n, k := d[0], d[1], d[2]
		a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
		f := func() { Gemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n) }
		f()
		// sync.Pool may drop its buffers at a GC; allow for a rare refill.
		if allocs := testing.AllocsPerRun(50, f); allocs > 0.1 {
			t.Errorf("%dx%dx%d: %v allocations per call", m, n, k, allocs)
		}
	}
}
