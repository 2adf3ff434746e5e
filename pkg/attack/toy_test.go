package attack

import (
	"context"
	"math"
	"math/rand/v2"

	"github.com/advtest/advtest/pkg/tensor"
)

// linearClf is logits = W·x + b, W of shape [C, D].
type linearClf struct {
	w    []float64
	b    []float64
	c, d int
}

func (m *linearClf) NumClasses() int   { return m.c }
func (m *linearClf) InputShape() []int { return []int{m.d} }

func (m *linearClf) Logits(ctx context.Context, x *tensor.Tensor) (*tensor.Tensor, error) {
	n := x.Shape[0]
	out := tensor.New(n, m.c)
	for i := 0; i < n; i++ {
		xi := x.F[i*m.d : (i+1)*m.d]
		for k := 0; k < m.c; k++ {
			s := m.b[k]
			for j, v := range xi {
				s += m.w[k*m.d+j] * float64(v)
			}
			out.F[i*m.c+k] = float32(s)
		}
	}
	return out, nil
}

func (m *linearClf) InputGradient(ctx context.Context, x *tensor.Tensor, lossGrad func(*tensor.Tensor) (*tensor.Tensor, error)) (*tensor.Tensor, *tensor.Tensor, error) {
	lg, _ := m.Logits(ctx, x)
	dl, err := lossGrad(lg)
	if err != nil {
		return nil, nil, err
	}
	n := x.Shape[0]
	g := tensor.New(x.Shape...)
	for i := 0; i < n; i++ {
		for k := 0; k < m.c; k++ {
			a := float64(dl.F[i*m.c+k])
			if a == 0 {
				continue
			}
			for j := 0; j < m.d; j++ {
				g.F[i*m.d+j] += float32(a * m.w[k*m.d+j])
			}
		}
	}
	return lg, g, nil
}

func newLinear(rng *rand.Rand, c, d int) *linearClf {
	m := &linearClf{w: make([]float64, c*d), b: make([]float64, c), c: c, d: d}
	for i := range m.w {
		m.w[i] = rng.NormFloat64()
	}
	for i := range m.b {
		m.b[i] = 0.1 * rng.NormFloat64()
	}
	return m
}

// mlpClf is a 2-layer ReLU network: logits = W2·relu(W1·x + b1) + b2.
type mlpClf struct {
	w1, b1, w2, b2 []float64
	d, h, c        int
}

func (m *mlpClf) NumClasses() int   { return m.c }
func (m *mlpClf) InputShape() []int { return []int{m.d} }

// forward fills hidden pre-activations (n*h) and logits (n*c).
func (m *mlpClf) forward(x []float32, n int, pre []float64, out []float32) {
	for i := 0; i < n; i++ {
		xi := x[i*m.d : (i+1)*m.d]
		for u := 0; u < m.h; u++ {
			s := m.b1[u]
			row := m.w1[u*m.d : (u+1)*m.d]
			for j, v := range xi {
				s += row[j] * float64(v)
			}
			pre[i*m.h+u] = s
		}
		for k := 0; k < m.c; k++ {
			s := m.b2[k]
			for u := 0; u < m.h; u++ {
				if a := pre[i*m.h+u]; a > 0 {
					s += m.w2[k*m.h+u] * a
				}
			}
			out[i*m.c+k] = float32(s)
		}
	}
}

func (m *mlpClf) Logits(ctx context.Context, x *tensor.Tensor) (*tensor.Tensor, error) {
	n := x.Shape[0]
	out := tensor.New(n, m.c)
	m.forward(x.F, n, make([]float64, n*m.h), out.F)
	return out, nil
}

func (m *mlpClf) InputGradient(ctx context.Context, x *tensor.Tensor, lossGrad func(*tensor.Tensor) (*tensor.Tensor, error)) (*tensor.Tensor, *tensor.Tensor, error) {
	n := x.Shape[0]
	pre := make([]float64, n*m.h)
	lg := tensor.New(n, m.c)
	m.forward(x.F, n, pre, lg.F)
	dl, err := lossGrad(lg)
	if err != nil {
		return nil, nil, err
	}
	g := tensor.New(x.Shape...)
	dh := make([]float64, m.h)
	for i := 0; i < n; i++ {
		for u := 0; u < m.h; u++ {
			dh[u] = 0
			if pre[i*m.h+u] <= 0 {
				continue
			}
			for k := 0; k < m.c; k++ {
				dh[u] += float64(dl.F[i*m.c+k]) * m.w2[k*m.h+u]
			}
		}
		gi := g.F[i*m.d : (i+1)*m.d]
		for u, a := range dh {
			if a == 0 {
				continue
			}
			row := m.w1[u*m.d : (u+1)*m.d]
			for j := range gi {
				gi[j] += float32(a * row[j])
			}
		}
	}
	return lg, g, nil
}

func newMLP(rng *rand.Rand, d, h, c int) *mlpClf {
	m := &mlpClf{w1: make([]float64, h*d), b1: make([]float64, h), w2: make([]float64, c*h), b2: make([]float64, c), d: d, h: h, c: c}
	s1, s2 := math.Sqrt(2/float64(d)), math.Sqrt(1/float64(h))
	for i := range m.w1 {
		m.w1[i] = s1 * rng.NormFloat64()
	}
	for i := range m.w2 {
		m.w2[i] = s2 * rng.NormFloat64()
	}
	return m
}

// train runs full-batch gradient descent on the cross-entropy of (x, y).
func (m *mlpClf) train(x []float32, y []int, epochs int, lr float64) {
	n := len(y)
	pre := make([]float64, n*m.h)
	out := make([]float32, n*m.c)
	gw1, gb1 := make([]float64, len(m.w1)), make([]float64, len(m.b1))
	gw2, gb2 := make([]float64, len(m.w2)), make([]float64, len(m.b2))
	dlt := make([]float32, m.c)
	dh := make([]float64, m.h)
	logits := &tensor.Tensor{Shape: []int{1, m.c}}
	for e := 0; e < epochs; e++ {
		m.forward(x, n, pre, out)
		clear(gw1)
		clear(gb1)
		clear(gw2)
		clear(gb2)
		for i := 0; i < n; i++ {
			logits.F = out[i*m.c : (i+1)*m.c]
			CrossEntropy(dlt, nil, logits, y[i:i+1])
			for k := 0; k < m.c; k++ {
				gb2[k] += float64(dlt[k])
				for u := 0; u < m.h; u++ {
					if a := pre[i*m.h+u]; a > 0 {
						gw2[k*m.h+u] += float64(dlt[k]) * a
					}
				}
			}
			for u := 0; u < m.h; u++ {
				dh[u] = 0
				if pre[i*m.h+u] <= 0 {
					continue
				}
				for k := 0; k < m.c; k++ {
					dh[u] += float64(dlt[k]) * m.w2[k*m.h+u]
				}
				gb1[u] += dh[u]
				xi := x[i*m.d : (i+1)*m.d]
				for j, v := range xi {
					gw1[u*m.d+j] += dh[u] * float64(v)
				}
			}
		}
		s := lr / float64(n)
		for i := range m.w1 {
			m.w1[i] -= s * gw1[i]
		}
		for i := range m.b1 {
			m.b1[i] -= s * gb1[i]
		}
		for i := range m.w2 {
			m.w2[i] -= s * gw2[i]
		}
		for i := range m.b2 {
			m.b2[i] -= s * gb2[i]
		}
	}
}

// blobs draws n points in [0,1]^d around c random centres (std sigma,
// clipped), with their labels.
func blobs(rng *rand.Rand, n, d, c int, sigma float64) ([]float32, []int) {
	centres := make([]float64, c*d)
	for i := range centres {
		centres[i] = 0.2 + 0.6*rng.Float64()
	}
	x := make([]float32, n*d)
	y := make([]int, n)
	for i := 0; i < n; i++ {
		y[i] = i % c
		for j := 0; j < d; j++ {
			v := centres[y[i]*d+j] + sigma*rng.NormFloat64()
			x[i*d+j] = float32(math.Min(1, math.Max(0, v)))
		}
	}
	return x, y
}

// toyMLP is a trained MLP on blob data with a clean-correct batch of it.
type toyMLP struct {
	clf *mlpClf
	b   Batch
}

// newToyMLP trains a d-h-c MLP on 4·nTest blob points and returns it with
// up to nTest clean-correct test samples.
func newToyMLP(seed uint64, d, h, c, nTest int) toyMLP {
	rng := rand.New(rand.NewPCG(seed, 7))
	m := newMLP(rng, d, h, c)
	xtr, ytr := blobs(rng, 4*nTest, d, c, 0.15)
	m.train(xtr, ytr, 150, 0.5)
	xte := make([]float32, 0, nTest*d)
	yte := make([]int, 0, nTest)
	out := make([]float32, c)
	pre := make([]float64, h)
	for i := 0; i < len(ytr) && len(yte) < nTest; i++ {
		xi := xtr[i*d : (i+1)*d]
		m.forward(xi, 1, pre, out)
		if argmax(out) == ytr[i] {
			xte = append(xte, xi...)
			yte = append(yte, ytr[i])
		}
	}
	return toyMLP{clf: m, b: Batch{X: tensor.FromFloat32(xte, len(yte), d), Y: yte}}
}
