package onnxmodel

import (
	"math/rand/v2"
	"testing"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/tensor"
)

func TestResizeForward(t *testing.T) {
	x14 := ft(sh(1, 4), 1, 2, 3, 4)
	x44 := ft(sh(1, 1, 4, 4), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)
	none := tensor.New(0)
	cases := []indexCase{
		// PyTorch's bilinear, align_corners=False: source (p+0.5)/2-0.5, clamped.
		{"linear half_pixel x2", "Resize", 13, attrsOf(attrString("mode", "linear")),
			[]*tensor.Tensor{x14, nil, ft(sh(2), 1, 2)}, []*tensor.Tensor{ft(sh(1, 8), 1, 1.25, 1.75, 2.25, 2.75, 3.25, 3.75, 4)}},
		{"linear align_corners sizes", "Resize", 13, attrsOf(attrString("mode", "linear"), attrString("coordinate_transformation_mode", "align_corners")),
			[]*tensor.Tensor{x14, none, none, it(sh(2), 1, 7)}, []*tensor.Tensor{ft(sh(1, 7), 1, 1.5, 2, 2.5, 3, 3.5, 4)}},
		// round_prefer_floor at half_pixel x2: sources -0.25, 0.25, 0.75, ... round to 0, 0, 1, 1, ...
		{"nearest x2", "Resize", 13, nil,
			[]*tensor.Tensor{x14, nil, ft(sh(2), 1, 2)}, []*tensor.Tensor{ft(sh(1, 8), 1, 1, 2, 2, 3, 3, 4, 4)}},
		{"nearest int asymmetric floor", "Resize", 13, attrsOf(attrString("coordinate_transformation_mode", "asymmetric"), attrString("nearest_mode", "floor")),
			[]*tensor.Tensor{it(sh(1, 3), 5, 6, 7), nil, ft(sh(2), 1, 1.5)}, []*tensor.Tensor{it(sh(1, 4), 5, 5, 6, 7)}},
		// Downsampling by 0.5 with half_pixel samples at 0.5 + 2p: the mean of each pair.
		{"linear downsample", "Resize", 13, attrsOf(attrString("mode", "linear")),
			[]*tensor.Tensor{x14, nil, ft(sh(2), 1, 0.5)}, []*tensor.Tensor{ft(sh(1, 2), 1.5, 3.5)}},
		// Hand-computed: scale 0.6 stretches the triangle to taps -1..2 around
		// the source; row/column p=0 (source 1/3) has weights (.2, .8, .6, 0)/1.6
		// at positions 0 (clamped), 0, 1, 2: mean position 0.375; p=1 (source 2)
		// has (.4, 1, .4, 0)/1.8 at 1, 2, 3, 3: mean 2. Element (i, j) is 1+4i+j.
		{"linear antialias", "Resize", 18, attrsOf(attrString("mode", "linear"), attrInt("antialias", 1)),
			[]*tensor.Tensor{x44, nil, ft(sh(4), 1, 1, 0.6, 0.6)}, []*tensor.Tensor{ft(sh(1, 1, 2, 2), 2.875, 4.5, 9.375, 11)}},
		// ONNX's documented output (test_resize_downsample_scales_cubic_antialias).
		{"cubic antialias", "Resize", 18, attrsOf(attrString("mode", "cubic"), attrInt("antialias", 1)),
			[]*tensor.Tensor{x44, nil, ft(sh(4), 1, 1, 0.6, 0.6)}, []*tensor.Tensor{ft(sh(1, 1, 2, 2), 2.5180721, 4.2858863, 9.589329, 11.357142)}},
		// axes with sizes; not_larger keeps the aspect ratio: scale min(3/4, 3/2) = 0.75 gives 3×2 (round(1.5) = 2).
		{"not_larger axes", "Resize", 18, attrsOf(attrInts("axes", 2, 3), attrString("keep_aspect_ratio_policy", "not_larger")),
			[]*tensor.Tensor{ft(sh(1, 1, 4, 2), 1, 2, 3, 4, 5, 6, 7, 8), nil, nil, it(sh(2), 3, 3)},
			// half_pixel sources rows (p+.5)/.75-.5 = 0.17, 1.5, 2.83 -> 0, 1, 3; cols 0.17, 1.5 -> 0, 1.
			[]*tensor.Tensor{ft(sh(1, 1, 3, 2), 1, 2, 3, 4, 7, 8)}},
		// tf_crop_and_resize: roi [0.5, 1.5] of a length-4 axis maps to sources 1.5, 3, 4.5; the last is outside.
		{"crop extrapolate", "Resize", 13, attrsOf(attrString("mode", "linear"), attrString("coordinate_transformation_mode", "tf_crop_and_resize"), attrFloat("extrapolation_value", -9)),
			[]*tensor.Tensor{x14, ft(sh(4), 0, 0.5, 1, 1.5), none, it(sh(2), 1, 3)}, []*tensor.Tensor{ft(sh(1, 3), 2.5, 4, -9)}},
		{"resize10 nearest", "Resize", 10, nil,
			[]*tensor.Tensor{x14, ft(sh(2), 1, 2)}, []*tensor.Tensor{ft(sh(1, 8), 1, 1, 2, 2, 3, 3, 4, 4)}},
		{"upsample9 nearest", "Upsample", 9, nil,
			[]*tensor.Tensor{ft(sh(1, 2), 1, 2), ft(sh(2), 2, 3)}, []*tensor.Tensor{ft(sh(2, 6), 1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2)}},
		{"upsample7 linear", "Upsample", 7, attrsOf(attrString("mode", "linear"), floatsAttr("scales", 1, 2)),
			[]*tensor.Tensor{ft(sh(1, 2), 1, 3)}, []*tensor.Tensor{ft(sh(1, 4), 1, 2, 3, 3)}},
		{"depthtospace dcr", "DepthToSpace", 13, attrsOf(attrInt("blocksize", 2)),
			[]*tensor.Tensor{ft(sh(1, 8, 1, 1), 0, 1, 2, 3, 4, 5, 6, 7)}, []*tensor.Tensor{ft(sh(1, 2, 2, 2), 0, 2, 4, 6, 1, 3, 5, 7)}},
		{"depthtospace crd", "DepthToSpace", 13, attrsOf(attrInt("blocksize", 2), attrString("mode", "CRD")),
			[]*tensor.Tensor{ft(sh(1, 8, 1, 1), 0, 1, 2, 3, 4, 5, 6, 7)}, []*tensor.Tensor{ft(sh(1, 2, 2, 2), 0, 1, 2, 3, 4, 5, 6, 7)}},
		{"spacetodepth", "SpaceToDepth", 13, attrsOf(attrInt("blocksize", 2)),
			[]*tensor.Tensor{ft(sh(1, 2, 2, 2), 0, 2, 4, 6, 1, 3, 5, 7)}, []*tensor.Tensor{ft(sh(1, 8, 1, 1), 0, 1, 2, 3, 4, 5, 6, 7)}},
	}
	runIndexCases(t, cases)
}

func TestResizeGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	none := tensor.New(0)
	cases := []struct {
		name  string
		op    string
		opset int64
		attrs []*onnxpb.AttributeProto
		in    []*tensor.Tensor
	}{
		{"nearest", "Resize", 13, nil, []*tensor.Tensor{randTensor(rng, 1, 2, 3, 3), nil, ft(sh(4), 1, 1, 2, 1.5)}},
		{"linear up", "Resize", 13, attrsOf(attrString("mode", "linear")), []*tensor.Tensor{randTensor(rng, 1, 2, 3, 3), nil, ft(sh(4), 1, 1, 2, 1.7)}},
		{"linear down sizes", "Resize", 13, attrsOf(attrString("mode", "linear"), attrString("coordinate_transformation_mode", "pytorch_half_pixel")), []*tensor.Tensor{randTensor(rng, 1, 1, 5, 6), none, none, it(sh(4), 1, 1, 3, 2)}},
		{"cubic exclude", "Resize", 13, attrsOf(attrString("mode", "cubic"), attrInt("exclude_outside", 1)), []*tensor.Tensor{randTensor(rng, 1, 1, 4, 4), nil, ft(sh(4), 1, 1, 1.5, 1.5)}},
		{"linear antialias", "Resize", 18, attrsOf(attrString("mode", "linear"), attrInt("antialias", 1)), []*tensor.Tensor{randTensor(rng, 1, 1, 7, 7), nil, ft(sh(4), 1, 1, 0.4, 0.6)}},
		{"crop", "Resize", 13, attrsOf(attrString("mode", "linear"), attrString("coordinate_transformation_mode", "tf_crop_and_resize")), []*tensor.Tensor{randTensor(rng, 1, 5), ft(sh(4), 0, 0.2, 1, 1.4), none, it(sh(2), 1, 4)}},
		{"upsample linear", "Upsample", 9, attrsOf(attrString("mode", "linear")), []*tensor.Tensor{randTensor(rng, 1, 1, 2, 3), ft(sh(4), 1, 1, 2, 2)}},
		{"depthtospace", "DepthToSpace", 13, attrsOf(attrInt("blocksize", 2), attrString("mode", "CRD")), []*tensor.Tensor{randTensor(rng, 1, 8, 2, 3)}},
		{"spacetodepth", "SpaceToDepth", 13, attrsOf(attrInt("blocksize", 2)), []*tensor.Tensor{randTensor(rng, 2, 2, 4, 2)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op := buildOp(t, opSpec{opType: c.op, opset: c.opset, nInputs: len(c.in), attrs: c.attrs})
			checkGradients(t, op, c.in, []int{0}, 1e-2, 1e-2)
		})
	}
}

func TestResizeErrors(t *testing.T) {
	buildErr := []struct {
		op    string
		opset int64
		nIn   int
		attrs []*onnxpb.AttributeProto
	}{
		{"Resize", 13, 3, attrsOf(attrString("mode", "area"))},
		{"Resize", 13, 3, attrsOf(attrString("coordinate_transformation_mode", "tf_half_pixel_for_nn"))},
		{"Resize", 18, 3, attrsOf(attrString("coordinate_transformation_mode", "half_pixel_symmetric"))},
		{"Resize", 13, 3, attrsOf(attrString("nearest_mode", "round"))},
		{"Resize", 13, 3, attrsOf(attrInt("exclude_outside", 2))},
		{"Resize", 13, 3, attrsOf(attrInt("antialias", 1))},
		{"Resize", 18, 3, attrsOf(attrString("keep_aspect_ratio_policy", "fit"))},
		{"Resize", 10, 2, attrsOf(attrString("mode", "cubic"))},
		{"Upsample", 7, 1, nil},
		{"Upsample", 9, 2, attrsOf(attrString("mode", "cubic"))},
		{"DepthToSpace", 13, 1, nil},
		{"DepthToSpace", 13, 1, attrsOf(attrInt("blocksize", 2), attrString("mode", "XYZ"))},
		{"SpaceToDepth", 13, 1, attrsOf(attrInt("blocksize", 0))},
	}
	for _, c := range buildErr {
		n := &NodeInfo{Name: "bad", OpType: c.op, Opset: c.opset, Inputs: make([]string, c.nIn), Outputs: []string{"y"}, Attrs: attrMap(c.attrs...)}
		if _, err := registry[c.op](n); err == nil {
			t.Errorf("%s opset %d %v: no build error", c.op, c.opset, c.attrs)
		}
	}
	x := ft(sh(1, 4), 1, 2, 3, 4)
	op := buildOp(t, opSpec{opType: "Resize", opset: 13, nInputs: 4, attrs: attrsOf(attrString("mode", "linear"))})
	for _, in := range [][]*tensor.Tensor{
		{x, nil, ft(sh(2), 1, 2), it(sh(2), 1, 8)}, // both scales and sizes
		{x, nil, nil, nil},                         // neither
		{x, nil, ft(sh(3), 1, 1, 2), nil},          // wrong count
		{x, nil, ft(sh(2), 1, -2), nil},            // negative scale
		{it(sh(1, 2), 1, 2), nil, ft(sh(2), 1, 2), nil},
	} {
		if _, _, err := op.Forward(&RunContext{}, in); err == nil {
			t.Errorf("Resize %v: no error", in)
		}
	}
	up := buildOp(t, opSpec{opType: "Upsample", opset: 9, nInputs: 2})
	if _, _, err := up.Forward(&RunContext{}, []*tensor.Tensor{x, ft(sh(2), 1, 0.5)}); err == nil {
		t.Error("Upsample with a scale below 1: no error")
	}
	d2s := buildOp(t, opSpec{opType: "DepthToSpace", opset: 13, nInputs: 1, attrs: attrsOf(attrInt("blocksize", 2))})
	if _, _, err := d2s.Forward(&RunContext{}, []*tensor.Tensor{tensor.New(1, 6, 1, 1)}); err == nil {
		t.Error("DepthToSpace with channels not a multiple of 4: no error")
	}
}

// floatsAttr returns a float-list attribute.
func floatsAttr(name string, v ...float32) *onnxpb.AttributeProto {
	t := onnxpb.AttributeProto_FLOATS
	return &onnxpb.AttributeProto{Name: &name, Type: &t, Floats: v}
}
