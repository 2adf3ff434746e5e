package onnxmodel

import (
	"math/rand/v2"
	"testing"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/tensor"
)

func TestNorm2Forward(t *testing.T) {
	eps0 := attrFloat("epsilon", 0)
	runIndexCases(t, []indexCase{
		// Channel 0 [1 3]: mean 2, sd 1; channel 1 [4 0]: mean 2, sd 2.
		{"instancenorm", "InstanceNormalization", 13, attrsOf(eps0),
			[]*tensor.Tensor{ft(sh(1, 2, 2), 1, 3, 4, 0), ft(sh(2), 2, 1), ft(sh(2), 0.5, 0)},
			[]*tensor.Tensor{ft(sh(1, 2, 2), -1.5, 2.5, 1, -1)}},
		// Groups [1 3] and [2 6] normalise to [-1 1]; opset 18 scales per group.
		{"groupnorm18", "GroupNormalization", 18, attrsOf(eps0, attrInt("num_groups", 2)),
			[]*tensor.Tensor{ft(sh(1, 4, 1), 1, 3, 2, 6), ft(sh(2), 2, 3), ft(sh(2), 0, 1)},
			[]*tensor.Tensor{ft(sh(1, 4, 1), -2, 2, -2, 4)}},
		{"groupnorm21", "GroupNormalization", 21, attrsOf(eps0, attrInt("num_groups", 2)),
			[]*tensor.Tensor{ft(sh(1, 4, 1), 1, 3, 2, 6), ft(sh(4), 1, 2, 3, 4), ft(sh(4), 0, 0, 0, 1)},
			[]*tensor.Tensor{ft(sh(1, 4, 1), -1, 2, -3, 5)}},
		// size 2: channel c sums c and c+1; alpha/size = 0.5, beta 1, bias 1.
		{"lrn", "LRN", 13, attrsOf(attrInt("size", 2), attrFloat("alpha", 1), attrFloat("beta", 1)),
			[]*tensor.Tensor{ft(sh(1, 3, 1, 1), 1, 2, 3)},
			[]*tensor.Tensor{ft(sh(1, 3, 1, 1), 1/3.5, 2/7.5, 3/5.5)}},
	})
}

func TestNorm2Gradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	cases := []struct {
		name  string
		op    string
		opset int64
		attrs []*onnxpb.AttributeProto
		in    []*tensor.Tensor
	}{
		{"instancenorm", "InstanceNormalization", 13, nil, []*tensor.Tensor{randTensor(rng, 2, 3, 2, 2), randTensor(rng, 3), randTensor(rng, 3)}},
		{"groupnorm18", "GroupNormalization", 18, attrsOf(attrInt("num_groups", 2)), []*tensor.Tensor{randTensor(rng, 2, 4, 3), randTensor(rng, 2), randTensor(rng, 2)}},
		{"groupnorm21", "GroupNormalization", 21, attrsOf(attrInt("num_groups", 3)), []*tensor.Tensor{randTensor(rng, 2, 6, 2), randTensor(rng, 6), randTensor(rng, 6)}},
		{"lrn", "LRN", 13, attrsOf(attrInt("size", 3), attrFloat("alpha", 0.5)), []*tensor.Tensor{randTensor(rng, 2, 5, 2)}},
		{"lrn even", "LRN", 13, attrsOf(attrInt("size", 4), attrFloat("alpha", 0.3), attrFloat("bias", 2)), []*tensor.Tensor{randTensor(rng, 1, 6, 3)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op := buildOp(t, opSpec{opType: c.op, opset: c.opset, nInputs: len(c.in), attrs: c.attrs})
			wrt := []int{0, 1, 2}[:len(c.in)]
			checkGradients(t, op, c.in, wrt, 2e-2, 2e-2)
		})
	}
}

func TestNorm2Errors(t *testing.T) {
	buildErr := []struct {
		op    string
		opset int64
		nIn   int
		attrs []*onnxpb.AttributeProto
	}{
		{"GroupNormalization", 18, 3, nil},
		{"GroupNormalization", 18, 3, attrsOf(attrInt("num_groups", 0))},
		{"GroupNormalization", 18, 3, attrsOf(attrInt("num_groups", 2), attrInt("stash_type", 1))},
		{"GroupNormalization", 21, 3, attrsOf(attrInt("num_groups", 2), attrInt("stash_type", 7))},
		{"InstanceNormalization", 13, 3, attrsOf(attrFloat("epsilon", -1))},
		{"InstanceNormalization", 13, 2, nil},
		{"LRN", 13, 1, nil},
		{"LRN", 13, 1, attrsOf(attrInt("size", 0))},
	}
	for _, c := range buildErr {
		n := &NodeInfo{Name: "bad", OpType: c.op, Opset: c.opset, Inputs: make([]string, c.nIn), Outputs: []string{"y"}, Attrs: attrMap(c.attrs...)}
		if _, err := registry[c.op](n); err == nil {
			t.Errorf("%s opset %d %v: no build error", c.op, c.opset, c.attrs)
		}
	}
	gn := buildOp(t, opSpec{opType: "GroupNormalization", opset: 18, nInputs: 3, attrs: attrsOf(attrInt("num_groups", 2))})
	for _, in := range [][]*tensor.Tensor{
		{tensor.New(1, 3, 2), tensor.New(2), tensor.New(2)}, // 3 channels, 2 groups
		{tensor.New(1, 4, 2), tensor.New(4), tensor.New(4)}, // per-channel params at opset 18
	} {
		if _, _, err := gn.Forward(&RunContext{}, in); err == nil {
			t.Errorf("GroupNormalization %v: no error", in)
		}
	}
}
