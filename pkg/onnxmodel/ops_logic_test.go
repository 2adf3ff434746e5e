package onnxmodel

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/advtest/advtest/pkg/tensor"
)

func TestLogicOps(t *testing.T) {
	a := it(sh(2, 2), 0, 0, 1, 1)
	b := it(sh(2), 0, 1)
	cases := []struct {
		op   string
		want *tensor.Tensor
	}{
		{"And", it(sh(2, 2), 0, 0, 0, 1)},
		{"Or", it(sh(2, 2), 0, 1, 1, 1)},
		{"Xor", it(sh(2, 2), 0, 1, 1, 0)},
	}
	for _, c := range cases {
		op := buildOp(t, opSpec{opType: c.op, nInputs: 2})
		wantTensor(t, fwd(t, op, a, b)[0], c.want)
		if _, _, err := op.Forward(&RunContext{}, []*tensor.Tensor{ft(sh(1), 1), b}); err == nil {
			t.Errorf("%s on a float tensor: no error", c.op)
		}
		if _, _, err := op.Forward(&RunContext{}, []*tensor.Tensor{a, it(sh(3), 1, 1, 1)}); err == nil {
			t.Errorf("%s with shapes that do not broadcast: no error", c.op)
		}
	}
}

func TestMod(t *testing.T) {
	x := it(sh(6), -4, 7, 5, 4, -7, 8)
	y := it(sh(6), 2, -3, 8, -2, 3, 5)
	py := buildOp(t, opSpec{opType: "Mod", nInputs: 2})
	// Python %: the sign of the divisor.
	wantTensor(t, fwd(t, py, x, y)[0], it(sh(6), 0, -2, 5, 0, 2, 3))
	c := buildOp(t, opSpec{opType: "Mod", nInputs: 2, attrs: attrsOf(attrInt("fmod", 1))})
	// C fmod: the sign of the dividend.
	wantTensor(t, fwd(t, c, x, y)[0], it(sh(6), 0, 1, 5, 0, -1, 3))
	xf := ft(sh(4), -4.3, 7.2, 5, -7.5)
	wantTensor(t, fwd(t, c, xf, ft(sh(), 2))[0], ft(sh(4), float32(math.Mod(-4.3, 2)), float32(math.Mod(7.2, 2)), 1, -1.5))
	// Broadcast.
	wantTensor(t, fwd(t, py, it(sh(2, 2), 5, 6, 7, 8), it(sh(2), 3, 4))[0], it(sh(2, 2), 2, 2, 1, 0))
	for _, bad := range [][]*tensor.Tensor{
		{xf, ft(sh(), 2)},                     // float with fmod=0 (on py)
		{it(sh(1), 1), it(sh(1), 0)},          // division by zero
		{it(sh(2), 1, 2), it(sh(3), 1, 2, 3)}, // no broadcast
	} {
		if _, _, err := py.Forward(&RunContext{}, bad); err == nil {
			t.Errorf("Mod %v %v: no error", bad[0], bad[1])
		}
	}
	if _, err := registry["Mod"](&NodeInfo{OpType: "Mod", Opset: 13, Inputs: []string{"a", "b"}, Attrs: attrMap(attrInt("fmod", 2))}); err == nil {
		t.Error("Mod fmod=2: no error")
	}
	// Gradient of float fmod, away from the jumps of trunc(a/b).
	rng := rand.New(rand.NewPCG(31, 32))
	a := randTensor(rng, 3, 4)
	bb := ft(sh(4), 0.7, -1.3, 2.1, 0.9)
	for i := range a.F {
		for {
			q := float64(a.F[i]) / float64(bb.F[i%4])
			if math.Abs(q-math.Round(q)) > 0.1 {
				break
			}
			a.F[i] = float32(rng.NormFloat64())
		}
	}
	checkGradients(t, c, []*tensor.Tensor{a, bb}, []int{0, 1}, 1e-2, 1e-2)
}
