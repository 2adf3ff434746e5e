package onnxmodel

import (
	"encoding/binary"
	"math"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
)

// Builders for small, possibly hostile, ONNX models. They are shared by the
// hostile-input tests and the fuzz seeds.

func sp(s string) *string { return &s }

// valueInfoProto declares a float tensor with the given dims; a negative dim
// is written as a symbolic "N".
func valueInfoProto(name string, dims ...int64) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		dim := &onnxpb.TensorShapeProto_Dimension{}
		if d < 0 {
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}
		} else {
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}
		}
		shape.Dim = append(shape.Dim, dim)
	}
	et := int32(onnxpb.TensorProto_FLOAT)
	return &onnxpb.ValueInfoProto{Name: sp(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: &et, Shape: shape},
	}}}
}

// floatInit is a float initializer with raw data.
func floatInit(name string, dims []int64, v ...float32) *onnxpb.TensorProto {
	dt := int32(onnxpb.TensorProto_FLOAT)
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	return &onnxpb.TensorProto{Name: sp(name), Dims: dims, DataType: &dt, RawData: raw}
}

// int64Init is an int64 initializer stored in int64_data.
func int64Init(name string, v ...int64) *onnxpb.TensorProto {
	dt := int32(onnxpb.TensorProto_INT64)
	return &onnxpb.TensorProto{Name: sp(name), Dims: []int64{int64(len(v))}, DataType: &dt, Int64Data: v}
}

func node(op string, in, out []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{OpType: sp(op), Name: sp(op + "_" + out[0]), Input: in, Output: out, Attribute: attrs}
}

// modelProto wraps a graph in a ModelProto importing opset 17.
func modelProto(g *onnxpb.GraphProto) *onnxpb.ModelProto {
	ir, v := int64(8), int64(17)
	return &onnxpb.ModelProto{IrVersion: &ir, OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: sp(""), Version: &v}}, Graph: g}
}

// tinyMLP is x[N,4] -> Gemm(W[3,4], b[3]) -> Relu -> Softmax: a valid
// three-class classifier of a few hundred bytes.
func tinyMLP() *onnxpb.ModelProto {
	w := make([]float32, 12)
	for i := range w {
		w[i] = float32(i%5) - 2
	}
	return modelProto(&onnxpb.GraphProto{
		Name:        sp("tiny"),
		Input:       []*onnxpb.ValueInfoProto{valueInfoProto("x", -1, 4)},
		Output:      []*onnxpb.ValueInfoProto{valueInfoProto("y", -1, 3)},
		Initializer: []*onnxpb.TensorProto{floatInit("W", []int64{3, 4}, w...), floatInit("b", []int64{3}, 0.1, -0.2, 0.3)},
		Node: []*onnxpb.NodeProto{
			node("Gemm", []string{"x", "W", "b"}, []string{"h"}, attrInt("transB", 1)),
			node("Relu", []string{"h"}, []string{"r"}),
			node("Softmax", []string{"r"}, []string{"y"}, attrInt("axis", 1)),
		},
	})
}

// tinyCNN is x[N,1,6,6] -> Conv(2 filters 3x3, pad 1) -> MaxPool 2 ->
// Reshape([1,-1] baked batch) -> Gemm -> y[N,2].
func tinyCNN() *onnxpb.ModelProto {
	k := make([]float32, 2*1*3*3)
	for i := range k {
		k[i] = float32(i%3) - 1
	}
	w := make([]float32, 2*18)
	for i := range w {
		w[i] = float32(i%7)/7 - 0.5
	}
	return modelProto(&onnxpb.GraphProto{
		Name:   sp("cnn"),
		Input:  []*onnxpb.ValueInfoProto{valueInfoProto("x", 1, 1, 6, 6)},
		Output: []*onnxpb.ValueInfoProto{valueInfoProto("y", 1, 2)},
		Initializer: []*onnxpb.TensorProto{
			floatInit("K", []int64{2, 1, 3, 3}, k...), floatInit("W", []int64{18, 2}, w...),
			int64Init("shape", 1, -1),
		},
		Node: []*onnxpb.NodeProto{
			node("Conv", []string{"x", "K"}, []string{"c"}, attrInts("pads", 1, 1, 1, 1)),
			node("MaxPool", []string{"c"}, []string{"p"}, attrInts("kernel_shape", 2, 2), attrInts("strides", 2, 2)),
			node("Reshape", []string{"p", "shape"}, []string{"f"}),
			node("MatMul", []string{"f", "W"}, []string{"y"}),
		},
	})
}

// shapeOps exercises the ops whose output sizes come from values in the
// file: ConstantOfShape, Expand, Pad, Concat, Slice, Gather, Transpose.
func shapeOps() *onnxpb.ModelProto {
	return modelProto(&onnxpb.GraphProto{
		Name:   sp("shapes"),
		Input:  []*onnxpb.ValueInfoProto{valueInfoProto("x", -1, 2)},
		Output: []*onnxpb.ValueInfoProto{valueInfoProto("y", -1, 4)},
		Initializer: []*onnxpb.TensorProto{
			int64Init("cshape", 1, 2), int64Init("eshape", 1, 2), int64Init("pads", 0, 1, 0, 1),
			int64Init("starts", 0), int64Init("ends", 4), int64Init("axes", 1), int64Init("idx", 0, 1, 2, 3),
		},
		Node: []*onnxpb.NodeProto{
			node("ConstantOfShape", []string{"cshape"}, []string{"z"}),
			node("Expand", []string{"z", "eshape"}, []string{"ze"}),
			node("Add", []string{"x", "ze"}, []string{"a"}),
			node("Pad", []string{"a", "pads"}, []string{"p"}),
			node("Slice", []string{"p", "starts", "ends", "axes"}, []string{"s"}),
			node("Gather", []string{"s", "idx"}, []string{"g"}, attrInt("axis", 1)),
			node("Transpose", []string{"g"}, []string{"t"}, attrInts("perm", 1, 0)),
			node("Transpose", []string{"t"}, []string{"y"}, attrInts("perm", 1, 0)),
		},
	})
}

func marshalModel(t testing.TB, mp *onnxpb.ModelProto) []byte {
	t.Helper()
	b, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
