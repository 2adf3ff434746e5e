package tensor

import "math"

// Softmax returns the row-wise softmax of [N, C] scores as a new [N, C]
// tensor: each row minus its maximum, exponentiated and summed in float64,
// so that large logits neither overflow nor lose the small probabilities.
// It panics if t is not two-dimensional.
func Softmax(t *Tensor) *Tensor {
	if len(t.Shape) != 2 {
		panic("tensor: Softmax of a tensor that is not [N, C]")
	}
	n, c := t.Shape[0], t.Shape[1]
	out := New(n, c)
	for i := 0; i < n; i++ {
		row, dst := t.F[i*c:(i+1)*c], out.F[i*c:(i+1)*c]
		if c == 0 {
			continue
		}
		mx := row[0]
		for _, v := range row {
			mx = max(mx, v)
		}
		var sum float64
		for j, v := range row {
			e := math.Exp(float64(v - mx))
			dst[j] = float32(e)
			sum += e
		}
		for j := range dst {
			dst[j] /= float32(sum)
		}
	}
	return out
}

// LogSumExp returns log Σ_j exp(z_j) computed in float64 around the row's
// maximum m, as m + log Σ_j exp(z_j − m), so that no term overflows. It is
// the one log-sum-exp behind the cross-entropy losses (pkg/attack) and
// the log-softmax rows (LogSoftmaxRow).
func LogSumExp(z []float32) float64 {
	m := math.Inf(-1)
	for _, v := range z {
		if float64(v) > m {
			m = float64(v)
		}
	}
	s := 0.0
	for _, v := range z {
		s += math.Exp(float64(v) - m)
	}
	return m + math.Log(s)
}

// LogSoftmaxRow writes log softmax(z) = z − LogSumExp(z) into dst (len(z)
// values) and returns dst.
func LogSoftmaxRow(dst, z []float32) []float32 {
	lse := LogSumExp(z)
	for j, v := range z {
		dst[j] = float32(float64(v) - lse)
	}
	return dst
}

// SoftmaxFloat64 returns the row-wise softmax of [N, C] scores in float64
// (row-major, N·C values): each row minus its maximum, exponentiated and
// divided by the row's sum, all in float64. Statistics that sum many
// probabilities (pkg/defend's detectors) use it rather than Softmax's
// float32 output.
func SoftmaxFloat64(t *Tensor) []float64 {
	n, c := t.Shape[0], t.Shape[1]
	out := make([]float64, n*c)
	for i := 0; i < n; i++ {
		row := t.F[i*c : (i+1)*c]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, float64(v))
		}
		sum := 0.0
		for j, v := range row {
			e := math.Exp(float64(v) - mx)
			out[i*c+j] = e
			sum += e
		}
		for j := range row {
			out[i*c+j] /= sum
		}
	}
	return out
}
