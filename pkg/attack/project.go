package attack

import (
	"math"
)

// The helpers below work on one sample at a time (flat slices of its
// elements); norms are measured in float64 on the float32 values actually
// stored, which is how the property tests measure them too.

// Clip clamps every element of x into b.
func Clip(x []float32, b Bounds) {
	for i, v := range x {
		if v < b.Min {
			x[i] = b.Min
		} else if v > b.Max {
			x[i] = b.Max
		}
	}
}

// linfBox returns the float32 interval [lo, hi] = [x−eps, x+eps] ∩ b,
// rounded inward so that |lo−x| ≤ eps and |hi−x| ≤ eps hold exactly in
// float64. x must lie in b.
func linfBox(x float32, eps float64, b Bounds) (lo, hi float32) {
	l, h := float64(x)-eps, float64(x)+eps
	lo, hi = float32(l), float32(h)
	if float64(lo) < l {
		lo = math.Nextafter32(lo, float32(math.Inf(1)))
	}
	if float64(hi) > h {
		hi = math.Nextafter32(hi, float32(math.Inf(-1)))
	}
	if lo < b.Min {
		lo = b.Min
	}
	if hi > b.Max {
		hi = b.Max
	}
	if lo > x { // eps smaller than float32 resolution at x
		lo = x
	}
	if hi < x {
		hi = x
	}
	return lo, hi
}

// ProjectLinf projects xadv onto the Linf ball of radius eps around x and
// then into b, in place. Afterwards max_i |xadv_i − x_i| ≤ eps exactly.
func ProjectLinf(xadv, x []float32, eps float64, b Bounds) {
	for i, v := range xadv {
		lo, hi := linfBox(x[i], eps, b)
		if v < lo {
			xadv[i] = lo
		} else if v > hi {
			xadv[i] = hi
		} else if v != v { // NaN
			xadv[i] = x[i]
		}
	}
}

// clampBox clamps xadv elementwise into [lo, hi] (precomputed linfBox
// intervals), mapping NaN to lo.
func clampBox(xadv, lo, hi []float32) {
	for i, v := range xadv {
		if v < lo[i] || v != v {
			xadv[i] = lo[i]
		} else if v > hi[i] {
			xadv[i] = hi[i]
		}
	}
}

// ProjectL2 projects xadv onto the L2 ball of radius eps around x and then
// into b, in place. Clipping into a box that contains x never lengthens the
// perturbation; float32 rounding is corrected so that ‖xadv − x‖₂ ≤ eps
// holds exactly in float64.
func ProjectL2(xadv, x []float32, eps float64, b Bounds) {
	for i, v := range xadv {
		if v != v {
			xadv[i] = x[i]
		}
	}
	n := L2Dist(xadv, x)
	if n > eps {
		scaleToward(xadv, x, eps/n)
	}
	Clip(xadv, b)
	for k := 0; k < 8; k++ {
		n = L2Dist(xadv, x)
		if n <= eps {
			return
		}
		scaleToward(xadv, x, eps/n*(1-1e-7*float64(int(1)<<(2*k))))
		Clip(xadv, b)
	}
	copy(xadv, x) // unreachable in practice: fall back to the centre
}

// scaleToward sets xadv = x + s·(xadv − x).
func scaleToward(xadv, x []float32, s float64) {
	for i := range xadv {
		xadv[i] = float32(float64(x[i]) + s*(float64(xadv[i])-float64(x[i])))
	}
}

// Project projects xadv onto the ball of the given norm and radius around x
// (Linf, L2 or L1; eps ≤ 0 or another norm means no ball) and then into b.
func Project(norm Norm, xadv, x []float32, eps float64, b Bounds) {
	switch {
	case eps > 0 && norm == Linf:
		ProjectLinf(xadv, x, eps, b)
	case eps > 0 && norm == L2:
		ProjectL2(xadv, x, eps, b)
	case eps > 0 && norm == L1:
		ProjectL1(xadv, x, eps, b)
	default:
		for i, v := range xadv {
			if v != v {
				xadv[i] = x[i]
			}
		}
		Clip(xadv, b)
	}
}

// L2Dist returns ‖a − b‖₂.
func L2Dist(a, b []float32) float64 {
	s := 0.0
	for i, v := range a {
		d := float64(v) - float64(b[i])
		s += d * d
	}
	return math.Sqrt(s)
}

// LinfDist returns max_i |a_i − b_i|.
func LinfDist(a, b []float32) float64 {
	m := 0.0
	for i, v := range a {
		if d := math.Abs(float64(v) - float64(b[i])); d > m {
			m = d
		}
	}
	return m
}

// L0Dist returns the number of elements where a and b differ.
func L0Dist(a, b []float32) float64 {
	n := 0
	for i, v := range a {
		if v != b[i] {
			n++
		}
	}
	return float64(n)
}

// Dist returns ‖a − b‖ in the given norm (L2 for NormNone).
func Dist(norm Norm, a, b []float32) float64 {
	switch norm {
	case Linf:
		return LinfDist(a, b)
	case L0:
		return L0Dist(a, b)
	case L1:
		return L1Dist(a, b)
	}
	return L2Dist(a, b)
}

// signf returns the sign of v as −1, 0 or +1.
func signf(v float32) float32 {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}
