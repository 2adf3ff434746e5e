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
