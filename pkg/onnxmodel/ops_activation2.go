package onnxmodel

// Element-wise activations added for newer exports: HardSwish (opset 14),
// Mish (18), Celu (12), ThresholdedRelu (10) and Gelu (20, approximate
// "none" or "tanh"). Each computes in float64 and has an exact derivative.

import (
	"fmt"
	"math"

	"github.com/advtest/advtest/pkg/tensor"
)

func init() {
	register("HardSwish", func(n *NodeInfo) (Op, error) {
		if err := checkInputCount(n, 1, 1, "X"); err != nil {
			return nil, err
		}
		return &act2Op{name: "HardSwish", f: hardSwish, df: hardSwishGrad}, nil
	})
	register("Mish", func(n *NodeInfo) (Op, error) {
		if err := checkInputCount(n, 1, 1, "X"); err != nil {
			return nil, err
		}
		return &act2Op{name: "Mish", f: mish, df: mishGrad}, nil
	})
	register("Celu", func(n *NodeInfo) (Op, error) {
		if err := checkInputCount(n, 1, 1, "X"); err != nil {
			return nil, err
		}
		a32, err := n.Float("alpha", 1)
		if err != nil {
			return nil, err
		}
		if a32 == 0 || math.IsNaN(float64(a32)) || math.IsInf(float64(a32), 0) {
			return nil, n.errorf("attribute alpha: expected a finite non-zero value, got %g", a32)
		}
		a := float64(a32)
		return &act2Op{name: "Celu",
			f: func(x float64) float64 {
				if x > 0 {
					return x
				}
				return a * math.Expm1(x/a)
			},
			df: func(x float64) float64 {
				if x > 0 {
					return 1
				}
				return math.Exp(x / a)
			}}, nil
	})
	register("ThresholdedRelu", func(n *NodeInfo) (Op, error) {
		if err := checkInputCount(n, 1, 1, "X"); err != nil {
			return nil, err
		}
		a32, err := n.Float("alpha", 1)
		if err != nil {
			return nil, err
		}
		if math.IsNaN(float64(a32)) {
			return nil, n.errorf("attribute alpha: expected a number, got NaN")
		}
		a := float64(a32)
		return &act2Op{name: "ThresholdedRelu",
			f: func(x float64) float64 {
				if x > a {
					return x
				}
				return 0
			},
			df: func(x float64) float64 {
				if x > a {
					return 1
				}
				return 0
			}}, nil
	})
	register("Gelu", func(n *NodeInfo) (Op, error) {
		if err := checkInputCount(n, 1, 1, "X"); err != nil {
			return nil, err
		}
		approx, err := n.String("approximate", "none")
		if err != nil {
			return nil, err
		}
		switch approx {
		case "none":
			return &act2Op{name: "Gelu", f: gelu, df: geluGrad}, nil
		case "tanh":
			return &act2Op{name: "Gelu", f: geluTanh, df: geluTanhGrad}, nil
		}
		return nil, n.errorf("attribute approximate: expected \"none\" or \"tanh\", got %q", approx)
	})
}

// act2Op applies f element-wise; df is its derivative.
type act2Op struct {
	name  string
	f, df func(float64) float64
}

// Forward applies f to every element of the float input.
func (o *act2Op) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	if err := checkInputs(in, 1); err != nil {
		return nil, nil, err
	}
	x, err := floatInput(in, 0, "X")
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %v", o.name, err)
	}
	y := rc.AllocNoZero(x.Shape...)
	tensor.ParallelFor(len(x.F), parallelGrain, func(lo, hi int) {
		if o.name == "HardSwish" {
			// The hot case (MobileNetV3): a float32 loop without calls.
			for i, v := range x.F[lo:hi] {
				y.F[lo+i] = v * min(1, max(0, v*(1.0/6)+0.5))
			}
			return
		}
		for i := lo; i < hi; i++ {
			y.F[i] = float32(o.f(float64(x.F[i])))
		}
	})
	return []*tensor.Tensor{y}, nil, nil
}

// Backward multiplies the gradient by df.
func (o *act2Op) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	grads, x, g, gx, err := backwardUnary(rc, in, gOut, need, 1, "X")
	if err != nil || g == nil {
		return grads, err
	}
	tensor.ParallelFor(len(x.F), parallelGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			gx.F[i] = g.F[i] * float32(o.df(float64(x.F[i])))
		}
	})
	return grads, nil
}

// hardSwish is x·max(0, min(1, x/6 + 1/2)) (ONNX's alpha = 1/6, beta = 0.5).
func hardSwish(x float64) float64 {
	return x * math.Max(0, math.Min(1, x/6+0.5))
}

func hardSwishGrad(x float64) float64 {
	switch {
	case x <= -3:
		return 0
	case x >= 3:
		return 1
	}
	return x/3 + 0.5
}

// softplus64 is log(1 + e^x), computed without overflow.
func softplus64(x float64) float64 {
	if x > 20 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

func sigmoid64(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// mish is x·tanh(softplus(x)).
func mish(x float64) float64 { return x * math.Tanh(softplus64(x)) }

func mishGrad(x float64) float64 {
	t := math.Tanh(softplus64(x))
	return t + x*(1-t*t)*sigmoid64(x)
}

// gelu is x·Φ(x) = x/2·(1 + erf(x/√2)).
func gelu(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }

func geluGrad(x float64) float64 {
	return 0.5*(1+math.Erf(x/math.Sqrt2)) + x*math.Exp(-0.5*x*x)/math.Sqrt(2*math.Pi)
}

// geluTanhC is √(2/π).
var geluTanhC = math.Sqrt(2 / math.Pi)

// geluTanh is x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
func geluTanh(x float64) float64 {
	return 0.5 * x * (1 + math.Tanh(geluTanhC*(x+0.044715*x*x*x)))
}

func geluTanhGrad(x float64) float64 {
	u := geluTanhC * (x + 0.044715*x*x*x)
	t := math.Tanh(u)
	du := geluTanhC * (1 + 3*0.044715*x*x)
	return 0.5*(1+t) + 0.5*x*(1-t*t)*du
}
