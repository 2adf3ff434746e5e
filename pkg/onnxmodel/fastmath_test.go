package onnxmodel

import (
	"math"
	"testing"
)

// TestFastMath bounds the float32 functions' error against math's float64
// ones, rounded to float32, over a dense sweep of their useful range and
// at the edges (NaN, ±Inf, overflow, subnormal results).
func TestFastMath(t *testing.T) {
	cases := []struct {
		name       string
		f          func(float32) float32
		ref        func(float64) float64
		lo, hi     float32
		rtol, atol float64
	}{
		{"expf32", expf32, math.Exp, -100, 100, 4e-7, 0},
		{"erff32", erff32, math.Erf, -6, 6, 1e-6, 1e-7},
	}
	for _, c := range cases {
		var worst float64
		check := func(x float32) {
			got, want := float64(c.f(x)), float64(float32(c.ref(float64(x))))
			if math.IsNaN(want) || math.IsInf(want, 0) {
				if got != want && !(math.IsNaN(got) && math.IsNaN(want)) {
					t.Errorf("%s(%g) = %g, want %g", c.name, x, got, want)
				}
				return
			}
			d := math.Abs(got - want)
			if d > c.atol+c.rtol*math.Abs(want) {
				t.Errorf("%s(%g) = %.9g, want %.9g", c.name, x, got, want)
			}
			if tol := c.atol + c.rtol*math.Abs(want); tol > 0 {
				worst = max(worst, d/tol)
			}
		}
		for i := 0; i <= 1_000_000; i++ {
			check(c.lo + (c.hi-c.lo)*float32(i)/1e6)
		}
		for _, x := range []float32{0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, 1e-8, 88.7, 89, -87.3, -87.4, -103, -200, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())} {
			check(x)
		}
		t.Logf("%s: worst error %.3g of the tolerance", c.name, worst)
	}
	// expShiftRow is expf32 written out: the same values bit for bit.
	xs := make([]float32, 0, 4096)
	for i := 0; i < 4000; i++ {
		xs = append(xs, -120+float32(i)*0.06)
	}
	xs = append(xs, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()))
	ys := make([]float32, len(xs))
	var sum float64
	for _, m := range []float32{0, 3.5} {
		got := expShiftRow(ys, xs, m)
		sum = 0
		for j, v := range xs {
			want := expf32(v - m)
			if math.Float32bits(ys[j]) != math.Float32bits(want) && !(want != want && ys[j] != ys[j]) {
				t.Fatalf("expShiftRow: e^(%g−%g) = %g, expf32 gives %g", v, m, ys[j], want)
			}
			sum += float64(want)
		}
		if got != sum && !(got != got && sum != sum) {
			t.Errorf("expShiftRow sum %g, want %g", got, sum)
		}
	}
}
