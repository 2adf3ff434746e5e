package onnxmodel

import "math"

// Float32 elementary functions for the hot element-wise ops (Softmax,
// Erf and their backward rules). They work in float32 throughout, where
// math's functions work in float64 with far more care than a float32
// result needs; fastmath_test.go bounds their error against math's.

// expf32 returns e^x to within a few float32 ulps. It follows Cephes'
// expf (S. L. Moshier, Cephes Math Library, expf.c): x = n·ln2 + r with
// |r| ≤ ln2/2, e^r by a degree-6 polynomial, the result scaled by 2^n
// through its exponent bits. Arguments whose result would be subnormal,
// overflow, or NaN go to math.Exp.
func expf32(x float32) float32 {
	if !(x > -87.3 && x < 88) { // also NaN
		return float32(math.Exp(float64(x)))
	}
	const (
		log2e = 1.44269504088896341
		c1    = 0.693359375
		c2    = -2.12194440e-4
	)
	// n = round(x·log2e): adding and subtracting 1.5·2^23 rounds a float32
	// of magnitude below 2^22 to an integer (no call to math.Floor).
	const round = 12582912
	n := (x*log2e + round) - round
	r := x - n*c1 - n*c2
	z := r * r
	p := ((((1.9875691500e-4*r+1.3981999507e-3)*r+8.3334519073e-3)*r+4.1665795894e-2)*r+1.6666665459e-1)*r + 5.0000001201e-1
	p = p*z + r + 1
	return p * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// erff32 returns erf(x) in float32 by the rational approximation of
// Eigen's generic_fast_erf_float (odd degree-13 numerator over even
// degree-8 denominator on [-4, 4]; erf is ±1 in float32 beyond).
// NaN stays NaN (min and max propagate it).
func erff32(v float32) float32 {
	x := max(min(v, 4), -4)
	x2 := x * x
	p := float32(-2.72614225801306e-10)
	p = p*x2 + 2.77068142495902e-08
	p = p*x2 - 2.10102402082508e-06
	p = p*x2 - 5.69250639462346e-05
	p = p*x2 - 7.34990630326855e-04
	p = p*x2 - 2.95459980854025e-03
	p = p*x2 - 1.60960333262415e-02
	q := float32(-1.45660718464996e-05)
	q = q*x2 - 2.13374055278905e-04
	q = q*x2 - 1.68282697438203e-03
	q = q*x2 - 7.37332916720468e-03
	q = q*x2 - 1.42647390514189e-02
	return x * p / q
}

// expShiftRow writes ys[j] = e^(xs[j]−m) (expf32, written out in the loop:
// the call cost as much as the polynomial) and returns Σ ys in float64.
func expShiftRow(ys, xs []float32, m float32) float64 {
	const (
		log2e = 1.44269504088896341
		c1    = 0.693359375
		c2    = -2.12194440e-4
		round = 12582912
	)
	ys = ys[:len(xs)]
	var sum float64
	for j, v := range xs {
		x := v - m
		var e float32
		if x > -87.3 && x < 88 {
			n := (x*log2e + round) - round
			r := x - n*c1 - n*c2
			p := ((((1.9875691500e-4*r+1.3981999507e-3)*r+8.3334519073e-3)*r+4.1665795894e-2)*r+1.6666665459e-1)*r + 5.0000001201e-1
			e = (p*(r*r) + r + 1) * math.Float32frombits(uint32(int32(n)+127)<<23)
		} else {
			e = expf32(x)
		}
		ys[j] = e
		sum += float64(e)
	}
	return sum
}
