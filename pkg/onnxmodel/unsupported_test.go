package onnxmodel

import (
	"errors"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"google.golang.org/protobuf/proto"
)

// TestUnsupportedOpsListsAll checks that loading a model with several
// unknown op types names every one with its node count, not only the first.
func TestUnsupportedOpsListsAll(t *testing.T) {
	node := func(op, domain, in, out string) *onnxpb.NodeProto {
		return &onnxpb.NodeProto{OpType: proto.String(op), Domain: proto.String(domain), Input: []string{in}, Output: []string{out}}
	}
	vi := func(name string) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(1)}}}}
	}
	mp := &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: proto.Int64(17)}},
		Graph: &onnxpb.GraphProto{
			Node: []*onnxpb.NodeProto{
				node("Relu", "", "x", "a"), node("FooOp", "", "a", "b"), node("BarOp", "", "b", "c"),
				node("FooOp", "", "c", "d"), node("Custom", "com.example", "d", "y"),
			},
			Input:  []*onnxpb.ValueInfoProto{vi("x")},
			Output: []*onnxpb.ValueInfoProto{vi("y")},
		},
	}
	want := map[string]int{"FooOp": 2, "BarOp": 1, "com.example.Custom": 1}
	got := UnsupportedOps(mp)
	if len(got) != len(want) {
		t.Fatalf("UnsupportedOps = %v, want %v", got, want)
	}
	for op, n := range want {
		if got[op] != n {
			t.Fatalf("UnsupportedOps = %v, want %v", got, want)
		}
	}
	b, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Decode(b, "")
	var ue *UnsupportedOpsError
	if !errors.As(err, &ue) {
		t.Fatalf("Decode error %v, want an UnsupportedOpsError", err)
	}
	for _, s := range []string{"FooOp (2 nodes)", "BarOp (1 node)", "com.example.Custom (1 node)"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %s", err, s)
		}
	}
}
