package onnxmodel

import (
	"context"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/tensor"
)

// fuzzMaxAlloc is how much one fuzz input may make Decode and a small run
// allocate in total. The fuzz limits below keep any one tensor far under it.
const fuzzMaxAlloc = 256 << 20

// withFuzzLimits lowers the loader's limits for the fuzzer, so that an
// input that declares sizes just under the production limits cannot make a
// single iteration allocate gigabytes.
func withFuzzLimits(tb testing.TB) {
	old := CurrentLimits()
	SetLimits(Limits{ModelBytes: 8 << 20, TensorBytes: 16 << 20, TotalBytes: 64 << 20})
	tb.Cleanup(func() { SetLimits(old) })
}

// FuzzDecode feeds arbitrary bytes to Decode. A model that decodes must
// also run (or fail with an error) on a small random batch of its declared
// input shape. Nothing may panic, and one input may not allocate more than
// fuzzMaxAlloc.
func FuzzDecode(f *testing.F) {
	seeds := [][]byte{
		marshalModel(f, tinyMLP()), marshalModel(f, tinyCNN()), marshalModel(f, shapeOps()),
	}
	if b, err := os.ReadFile("../../testdata/models/tabular_mlp.onnx"); err == nil {
		seeds = append(seeds, b)
	}
	for _, s := range seeds {
		f.Add(s)
		f.Add(s[:len(s)/2])
		f.Add(s[:len(s)-1])
		m := append([]byte(nil), s...)
		m[len(m)/3] ^= 0xff
		f.Add(m)
	}
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}) // a field that declares 4 GiB
	withFuzzLimits(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		m, err := Decode(data, "")
		if err != nil {
			if strings.Contains(err.Error(), "internal error") {
				t.Fatalf("Decode recovered a panic: %v", err)
			}
			return
		}
		runSmall(t, m)
		runtime.ReadMemStats(&after)
		if d := after.TotalAlloc - before.TotalAlloc; d > fuzzMaxAlloc {
			t.Fatalf("one input allocated %d MiB", d>>20)
		}
	})
}

// runSmall runs the model on a batch of two random samples of its declared
// sample shape (free dims set to 2); errors are fine, panics are not.
func runSmall(t *testing.T, m *Model) {
	shape := m.SampleShape()
	if shape == nil {
		return
	}
	for i, d := range shape {
		if d <= 0 {
			shape[i] = 2
		}
	}
	n, err := checkedNumel(toInt64s(shape))
	if err != nil || n > 1<<16 {
		return
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := tensor.New(append([]int{2}, shape...)...)
	for i := range x.F {
		x.F[i] = rng.Float32()
	}
	_, _, _ = m.InputGradient(context.Background(), x, func(l *tensor.Tensor) (*tensor.Tensor, error) {
		g := tensor.New(l.Shape...)
		for i := range g.F {
			g.F[i] = 1
		}
		return g, nil
	})
}

func toInt64s(s []int) []int64 {
	out := make([]int64, len(s))
	for i, d := range s {
		out[i] = int64(d)
	}
	return out
}

// fuzzAttrNames are the attributes FuzzNode may set on a node, each to
// values taken from the fuzzer's bytes.
var fuzzAttrNames = []string{"axis", "perm", "pads", "kernel_shape", "strides", "dilations", "group", "transA", "transB", "axes", "keepdims", "split", "starts", "ends", "auto_pad", "ceil_mode", "count_include_pad", "epsilon", "alpha", "to", "value"}

// FuzzNode builds a one- or two-node graph from the fuzzer's choices (op
// type, declared input dims, constant int64 inputs, attribute values) and
// compiles and runs it: a structure-aware complement to FuzzDecode, whose
// random bytes rarely decode to a graph at all.
func FuzzNode(f *testing.F) {
	f.Add(uint8(0), []byte{2, 3}, []byte{1, 2}, []byte{0, 1})
	f.Add(uint8(5), []byte{1, 1, 4, 4}, []byte{}, []byte{3, 2, 2, 4, 2, 2})
	f.Add(uint8(30), []byte{2, 6}, []byte{2, 3}, []byte{})
	f.Add(uint8(40), []byte{255, 255, 255}, []byte{255, 255}, []byte{255, 255, 255})
	withFuzzLimits(f)
	ops := SupportedOps()
	f.Fuzz(func(t *testing.T, opIdx uint8, dims, consts, attrs []byte) {
		if len(dims) > 5 || len(consts) > 16 || len(attrs) > 24 {
			return
		}
		op := ops[int(opIdx)%len(ops)]
		in := make([]int64, 0, len(dims)+1)
		in = append(in, -1)
		for _, d := range dims {
			in = append(in, int64(d%9))
		}
		g := &onnxpb.GraphProto{Name: sp("fuzz"), Input: []*onnxpb.ValueInfoProto{valueInfoProto("x", in...)}, Output: []*onnxpb.ValueInfoProto{valueInfoProto("y")}}
		inputs := []string{"x"}
		// Constant inputs: consts[0] says how many, the rest are their values.
		if len(consts) > 0 {
			k := int(consts[0] % 4)
			vals := consts[1:]
			for i := 0; i < k; i++ {
				var v []int64
				for j := i; j < len(vals); j += k {
					v = append(v, int64(int8(vals[j])))
				}
				name := "c" + string(rune('0'+i))
				if consts[0]&0x80 != 0 && i == 0 {
					g.Initializer = append(g.Initializer, floatInit(name, []int64{int64(len(v))}, make([]float32, len(v))...))
				} else {
					g.Initializer = append(g.Initializer, int64Init(name, v...))
				}
				inputs = append(inputs, name)
			}
		}
		var as []*onnxpb.AttributeProto
		for i := 0; i+1 < len(attrs); i += 2 {
			name := fuzzAttrNames[int(attrs[i])%len(fuzzAttrNames)]
			v := int64(int8(attrs[i+1]))
			if attrs[i]&0x80 != 0 {
				as = append(as, attrInts(name, v, v/2, v%3, 1))
			} else if attrs[i]&0x40 != 0 {
				as = append(as, attrFloat(name, float32(v)/8))
			} else {
				as = append(as, attrInt(name, v))
			}
		}
		g.Node = []*onnxpb.NodeProto{node(op, inputs, []string{"h"}, as...), node("Flatten", []string{"h"}, []string{"y"})}
		data, err := proto.Marshal(modelProto(g))
		if err != nil {
			return
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		m, err := Decode(data, "")
		if err != nil {
			if strings.Contains(err.Error(), "internal error") {
				t.Fatalf("%s: Decode recovered a panic: %v", op, err)
			}
			return
		}
		runSmall(t, m)
		runtime.ReadMemStats(&after)
		if d := after.TotalAlloc - before.TotalAlloc; d > fuzzMaxAlloc {
			t.Fatalf("%s: one input allocated %d MiB", op, d>>20)
		}
	})
}
