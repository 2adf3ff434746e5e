package attack

import (
	"context"
	"fmt"
	"math"

	"github.com/advtest/advtest/pkg/tensor"
)

// LabelFunc is a forward-only model that answers only the top class of each
// of the N samples of x.
type LabelFunc func(ctx context.Context, x *tensor.Tensor) ([]int, error)

// labelOracle is a counting LabelOracle over a LabelFunc.
type labelOracle struct {
	counter
	f       LabelFunc
	classes int
	shape   []int
}

// NewLabelFuncOracle returns a label oracle over a forward-only function
// answering top labels, with a per-sample budget (0: none).
func NewLabelFuncOracle(f LabelFunc, numClasses int, inputShape []int, budget int) LabelOracle {
	return &labelOracle{counter: counter{budget: max(budget, 0)}, f: f, classes: numClasses, shape: append([]int(nil), inputShape...)}
}

func (o *labelOracle) NumClasses() int { return o.classes }

func (o *labelOracle) InputShape() []int { return append([]int(nil), o.shape...) }

func (o *labelOracle) Labels(ctx context.Context, ids []int, x *tensor.Tensor, dst []int) error {
	if err := checkCall(ctx, ids, x); err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	if err := o.charge(ids); err != nil {
		return err
	}
	lab, err := o.f(ctx, x)
	if err != nil {
		return err
	}
	if len(lab) != len(ids) {
		return fmt.Errorf("oracle: model returned %d labels for %d samples", len(lab), len(ids))
	}
	for j, v := range lab {
		if v < 0 || v >= o.classes {
			return fmt.Errorf("oracle: model returned label %d outside [0, %d)", v, o.classes)
		}
		dst[j] = v
	}
	return nil
}

// NormalizeL2 divides g by its L2 norm in place and returns that norm; a
// zero vector is left unchanged.
func NormalizeL2(g []float32) float64 {
	s := 0.0
	for _, v := range g {
		s += float64(v) * float64(v)
	}
	n := math.Sqrt(s)
	if n > 0 {
		inv := 1 / n
		for i, v := range g {
			g[i] = float32(float64(v) * inv)
		}
	}
	return n
}

// PerturbationNorms returns, per sample, ‖xadv[i] − x[i]‖ in the given norm
// (L2 for NormNone) for two tensors of shape [N, ...].
func PerturbationNorms(norm Norm, xadv, x *tensor.Tensor) []float64 {
	n := x.Shape[0]
	out := make([]float64, n)
	if n == 0 {
		return out
	}
	d := len(x.F) / n
	for i := range out {
		out[i] = Dist(norm, xadv.F[i*d:(i+1)*d], x.F[i*d:(i+1)*d])
	}
	return out
}
