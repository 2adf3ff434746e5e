package onnxmodel

// Random ops: RandomNormalLike and RandomUniformLike, the ONNX way to put
// inference-time noise (randomised smoothing, Gaussian noise defences) into
// a graph that any runtime executes.

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"sync/atomic"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/tensor"
)

func init() {
	register("RandomNormalLike", func(n *NodeInfo) (Op, error) { return buildRandomLike(n, false) })
	register("RandomUniformLike", func(n *NodeInfo) (Op, error) { return buildRandomLike(n, true) })
}

// randomDefaultSeed seeds the random ops of a node that sets no seed
// attribute, mixed with a hash of the node's name and output so that two
// such nodes of one model draw different values.
const randomDefaultSeed = 0x7a6e_6f69_7365_5eed

// nondeterministic is implemented by ops whose outputs are not a function
// of their inputs (random draws). Compile never folds them into constants,
// even when every input is known at load time, and the load-time batching
// self-check runs them in their fixed mode (see RunContext.fixedRandom).
type nondeterministic interface {
	nondeterministic()
}

// randomLikeOp is RandomNormalLike (mean + scale·N(0, 1)) or
// RandomUniformLike (U[low, high)): a float32 tensor of the input's shape
// whose values do not depend on the input's values.
//
// Randomness: every run of the node draws from its own stream, PCG(seed, k)
// for the node's k-th run (counted atomically, so concurrent runs never
// share a stream and need no lock). seed comes from the seed attribute when
// the node sets one (the same model then gives the same draws for the same
// sequence of runs, as ONNX Runtime's kernels do with a seed: a generator
// seeded once and advanced by every run); without it, from a fixed
// constant mixed with the node's name, so that runs of a loaded model are
// reproducible too. A compiled model (Load, Decode, Clone, an Edit's
// Build) starts at k = 0. Which concurrent run gets which stream depends on
// the scheduler; sequential runs are deterministic.
//
// Backward: the output does not depend on the input's values (only on its
// shape), so the gradient to the input is zero; Backward returns no
// gradient (nil), which the executor treats as zero. x + RandomNormalLike(x)
// therefore has the identity Jacobian with respect to x, through Add.
type randomLikeOp struct {
	uniform bool
	// a, b are (mean, scale) for the normal, (low, high) for the uniform.
	a, b float32
	// dtypeSet records whether the dtype attribute was given; without it
	// the output takes the input's type, which must be a float.
	dtypeSet bool
	seed     uint64
	runs     *atomic.Uint64
}

func (*randomLikeOp) nondeterministic() {}

func buildRandomLike(n *NodeInfo, uniform bool) (Op, error) {
	if len(n.Inputs) != 1 || n.Inputs[0] == "" {
		return nil, n.errorf("expected 1 input, got %d", len(n.Inputs))
	}
	if len(n.Outputs) != 1 {
		return nil, n.errorf("expected 1 output, got %d", len(n.Outputs))
	}
	op := &randomLikeOp{uniform: uniform, runs: new(atomic.Uint64)}
	var err error
	if uniform {
		if op.a, err = n.Float("low", 0); err != nil {
			return nil, err
		}
		if op.b, err = n.Float("high", 1); err != nil {
			return nil, err
		}
		if !(op.a <= op.b) {
			return nil, n.errorf("attributes low=%g, high=%g: expected low ≤ high", op.a, op.b)
		}
	} else {
		if op.a, err = n.Float("mean", 0); err != nil {
			return nil, err
		}
		if op.b, err = n.Float("scale", 1); err != nil {
			return nil, err
		}
		if !(op.b >= 0) || math.IsInf(float64(op.b), 0) {
			return nil, n.errorf("attribute scale=%g: expected a finite number ≥ 0", op.b)
		}
	}
	if n.Has("dtype") {
		dt, err := n.Int("dtype", 0)
		if err != nil {
			return nil, err
		}
		// DOUBLE draws are held as float32, as the engine holds every
		// DOUBLE tensor (the Bernoulli function's expansion asks for them).
		if t := onnxpb.TensorProto_DataType(dt); t != onnxpb.TensorProto_FLOAT && t != onnxpb.TensorProto_DOUBLE {
			return nil, n.errorf("attribute dtype: %s (%d) is not supported; advtest's engine draws FLOAT (1) and DOUBLE (11, held as float32) only", t, dt)
		}
		op.dtypeSet = true
	}
	if n.Has("seed") {
		s, err := n.Float("seed", 0)
		if err != nil {
			return nil, err
		}
		op.seed = uint64(math.Float32bits(s))
	} else {
		h := fnv.New64a()
		h.Write([]byte(n.Name))
		h.Write([]byte{0})
		h.Write([]byte(n.Outputs[0]))
		op.seed = randomDefaultSeed ^ h.Sum64()
	}
	return op, nil
}

// Forward draws a tensor of the input's shape. In a RunContext with
// fixedRandom set (the load-time self-check), it returns the distribution's
// mean instead, without drawing: mean for the normal, (low+high)/2 for
// the uniform.
func (o *randomLikeOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	if err := checkInputs(in, 1); err != nil {
		return nil, nil, err
	}
	x := in[0]
	if x.DType != tensor.Float32 && !o.dtypeSet {
		return nil, nil, fmt.Errorf("input is %s and the dtype attribute is not set: the output would take the input's non-float type (set dtype=1, FLOAT)", x.DType)
	}
	out := rc.AllocNoZero(x.Shape...)
	if rc != nil && rc.fixedRandom {
		m := o.a
		if o.uniform {
			m = o.a + (o.b-o.a)/2
		}
		for i := range out.F {
			out.F[i] = m
		}
		return []*tensor.Tensor{out}, nil, nil
	}
	rng := rand.New(rand.NewPCG(o.seed, o.runs.Add(1)))
	if o.uniform {
		lo, w := float64(o.a), float64(o.b-o.a)
		for i := range out.F {
			out.F[i] = float32(lo + w*rng.Float64())
		}
	} else {
		mean, scale := float64(o.a), float64(o.b)
		for i := range out.F {
			out.F[i] = float32(mean + scale*rng.NormFloat64())
		}
	}
	return []*tensor.Tensor{out}, nil, nil
}

// Backward returns no gradient: the output does not depend on the input's
// values, so dOut/dIn = 0.
func (o *randomLikeOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	return make([]*tensor.Tensor, len(in)), nil
}
