package tensor

import (
	"math"
	"testing"
)

func TestSoftmax(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []float32
		want []float32
	}{
		// softmax([0, ln 3]) = [1/4, 3/4]; shifting a row changes nothing.
		{"two classes", []float32{0, float32(math.Log(3))}, []float32{0.25, 0.75}},
		{"shifted", []float32{100, 100 + float32(math.Log(3))}, []float32{0.25, 0.75}},
		// Logits far beyond float32 exp's range do not overflow.
		{"large", []float32{1000, 0}, []float32{1, 0}},
		{"uniform", []float32{-2, -2, -2, -2}, []float32{0.25, 0.25, 0.25, 0.25}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Softmax(FromFloat32(c.in, 1, len(c.in)))
			for j := range c.want {
				if math.Abs(float64(got.F[j]-c.want[j])) > 1e-6 {
					t.Errorf("softmax(%v) = %v, want %v", c.in, got.F, c.want)
					break
				}
			}
		})
	}
	two := Softmax(FromFloat32([]float32{0, 0, 1, 1}, 2, 2))
	if two.Shape[0] != 2 || two.F[1] != 0.5 || two.F[2] != 0.5 {
		t.Errorf("rows are independent: got %v", two.F)
	}
}

// TestLogSumExp checks the log-sum-exp and log-softmax rows against the
// closed forms, including logits that would overflow exp in float32.
func TestLogSumExp(t *testing.T) {
	for _, c := range []struct {
		name string
		z    []float32
		want float64
	}{
		{"one", []float32{2}, 2},
		{"equal", []float32{0, 0}, math.Log(2)},
		{"large", []float32{1000, 1000, 1000}, 1000 + math.Log(3)},
		{"mixed", []float32{1, 2, 3}, math.Log(math.E + math.E*math.E + math.E*math.E*math.E)},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := LogSumExp(c.z); math.Abs(got-c.want) > 1e-9 {
				t.Errorf("LogSumExp = %v, want %v", got, c.want)
			}
			ls := LogSoftmaxRow(make([]float32, len(c.z)), c.z)
			s := 0.0
			for _, v := range ls {
				s += math.Exp(float64(v))
			}
			if math.Abs(s-1) > 1e-6 {
				t.Errorf("exp(LogSoftmaxRow) sums to %v, want 1", s)
			}
			p := SoftmaxFloat64(FromFloat32(c.z, 1, len(c.z)))
			for j := range p {
				if math.Abs(p[j]-math.Exp(float64(ls[j]))) > 1e-6 {
					t.Errorf("SoftmaxFloat64[%d] = %v, exp(log-softmax) %v", j, p[j], math.Exp(float64(ls[j])))
				}
			}
		})
	}
}
