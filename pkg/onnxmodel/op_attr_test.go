package onnxmodel

import (
	"testing"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
)

// TestAttrErrors pins the errors of the shared attribute checks (flag,
// positiveInt) on the ops that use them: each names the node, the
// attribute and what was expected.
func TestAttrErrors(t *testing.T) {
	cases := []struct {
		op     string
		opset  int64
		inputs []string
		attrs  []*onnxpb.AttributeProto
		want   string
	}{
		{"MaxPool", 13, []string{"x"}, attrsOf(attrInts("kernel_shape", 2, 2), attrInt("ceil_mode", 2)), `node "n" (MaxPool): attribute ceil_mode: expected 0 or 1, got 2`},
		{"MaxPool", 13, []string{"x"}, attrsOf(attrInts("kernel_shape", 2, 2), attrInt("storage_order", -1)), `node "n" (MaxPool): attribute storage_order: expected 0 or 1, got -1`},
		{"AveragePool", 13, []string{"x"}, attrsOf(attrInts("kernel_shape", 2, 2), attrInt("count_include_pad", 3)), `node "n" (AveragePool): attribute count_include_pad: expected 0 or 1, got 3`},
		{"ReduceMean", 13, []string{"x"}, attrsOf(attrInt("keepdims", 2)), `node "n" (ReduceMean): attribute keepdims: expected 0 or 1, got 2`},
		{"ReduceSum", 13, []string{"x"}, attrsOf(attrInt("noop_with_empty_axes", 5)), `node "n" (ReduceSum): attribute noop_with_empty_axes: expected 0 or 1, got 5`},
		{"Reshape", 14, []string{"x", "s"}, attrsOf(attrInt("allowzero", 2)), `node "n" (Reshape): attribute allowzero: expected 0 or 1, got 2`},
		{"Add", 6, []string{"a", "b"}, attrsOf(attrInt("broadcast", 2)), `node "n" (Add): attribute broadcast: expected 0 or 1, got 2`},
		{"Add", 6, []string{"a", "b"}, attrsOf(attrInt("axis", 1)), `node "n" (Add): attribute axis: set without broadcast=1`},
		{"BatchNormalization", 15, []string{"x", "s", "b", "m", "v"}, attrsOf(attrInt("training_mode", 2)), `node "n" (BatchNormalization): attribute training_mode: expected 0 or 1, got 2`},
		{"MaxPool", 13, []string{"x"}, attrsOf(attrInts("kernel_shape", 2, 2), attrString("ceil_mode", "yes")), `node "n" (MaxPool): attribute ceil_mode: expected an int, got STRING`},
		{"GroupNormalization", 18, []string{"x", "s", "b"}, nil, `node "n" (GroupNormalization): attribute num_groups: required`},
		{"GroupNormalization", 18, []string{"x", "s", "b"}, attrsOf(attrInt("num_groups", 0)), `node "n" (GroupNormalization): attribute num_groups: expected a positive value, got 0`},
		{"LRN", 13, []string{"x"}, nil, `node "n" (LRN): attribute size: required`},
		{"LRN", 13, []string{"x"}, attrsOf(attrInt("size", -2)), `node "n" (LRN): attribute size: expected a positive value, got -2`},
		{"DepthToSpace", 13, []string{"x"}, nil, `node "n" (DepthToSpace): attribute blocksize: required`},
		{"SpaceToDepth", 13, []string{"x"}, attrsOf(attrInt("blocksize", 0)), `node "n" (SpaceToDepth): attribute blocksize: expected a positive value, got 0`},
		{"SpaceToDepth", 13, []string{"x"}, attrsOf(attrInt("blocksize", 1<<16+1)), `node "n" (SpaceToDepth): attribute blocksize: expected a positive value, got 65537`},
	}
	for _, c := range cases {
		_, err := registry[c.op](&NodeInfo{Name: "n", OpType: c.op, Opset: c.opset, Inputs: c.inputs, Outputs: []string{"y"}, Attrs: attrMap(c.attrs...)})
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: got error %v, want %s", c.op, err, c.want)
		}
	}
}
