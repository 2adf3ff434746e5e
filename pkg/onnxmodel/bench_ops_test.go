package onnxmodel

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/tensor"
)

// opBenchCase is one node at a shape that the ImageNet models
// (torchvision vit_b_16, convnext_tiny, mobilenet_v2, efficientnet_b0) run
// at batch 8, 224×224. testdata/gen/op_bench_pytorch.py times the same
// cases, by the same names, in PyTorch.
type opBenchCase struct {
	name   string
	spec   opSpec
	shapes [][]int // input shapes; nil entries are left out
	// need lists the inputs whose gradient the input-gradient pass asks
	// for (activations, not weights).
	need []int
	// flops is the forward pass's floating-point operations, 0 for ops
	// measured by bytes moved (inputs and output, 4 bytes each).
	flops float64
}

func dwConvCase(name string, n, c, hw, k, stride int) opBenchCase {
	oh := (hw+2*(k/2)-k)/stride + 1
	return opBenchCase{
		name: name,
		spec: opSpec{opType: "Conv", nInputs: 3, attrs: []*onnxpb.AttributeProto{
			attrInt("group", int64(c)),
			attrInts("kernel_shape", int64(k), int64(k)),
			attrInts("pads", int64(k/2), int64(k/2), int64(k/2), int64(k/2)),
			attrInts("strides", int64(stride), int64(stride)),
		}},
		shapes: [][]int{{n, c, hw, hw}, {c, 1, k, k}, {c}},
		need:   []int{0},
		flops:  2 * float64(n*c*oh*oh*k*k),
	}
}

func opBenchCases() []opBenchCase {
	last := []*onnxpb.AttributeProto{attrInt("axis", -1)}
	return []opBenchCase{
		dwConvCase("dwconv7_convnext_96x56", 8, 96, 56, 7, 1),
		dwConvCase("dwconv7_convnext_768x7", 8, 768, 7, 7, 1),
		dwConvCase("dwconv3_mobilenet_144x56_s1", 8, 144, 56, 3, 1),
		dwConvCase("dwconv3_mobilenet_144x56_s2", 8, 144, 56, 3, 2),
		dwConvCase("dwconv5_effnet_240x28_s2", 8, 240, 28, 5, 2),
		{name: "matmul_vit_qk", spec: opSpec{opType: "MatMul", nInputs: 2},
			shapes: [][]int{{8, 12, 197, 64}, {8, 12, 64, 197}}, need: []int{0, 1}, flops: 2 * 8 * 12 * 197 * 197 * 64},
		{name: "matmul_vit_av", spec: opSpec{opType: "MatMul", nInputs: 2},
			shapes: [][]int{{8, 12, 197, 197}, {8, 12, 197, 64}}, need: []int{0, 1}, flops: 2 * 8 * 12 * 197 * 197 * 64},
		{name: "matmul_vit_qkv_dense", spec: opSpec{opType: "MatMul", nInputs: 2},
			shapes: [][]int{{8, 197, 768}, {768, 2304}}, need: []int{0}, flops: 2 * 8 * 197 * 768 * 2304},
		{name: "layernorm_vit", spec: opSpec{opType: "LayerNormalization", nInputs: 3, attrs: last},
			shapes: [][]int{{8, 197, 768}, {768}, {768}}, need: []int{0}},
		{name: "layernorm_convnext", spec: opSpec{opType: "LayerNormalization", nInputs: 3, attrs: last},
			shapes: [][]int{{8, 56, 56, 96}, {96}, {96}}, need: []int{0}},
		{name: "erf_vit", spec: opSpec{opType: "Erf", nInputs: 1},
			shapes: [][]int{{8, 197, 3072}}, need: []int{0}},
		{name: "softmax_vit", spec: opSpec{opType: "Softmax", nInputs: 1, attrs: last},
			shapes: [][]int{{8, 12, 197, 197}}, need: []int{0}},
		{name: "add_bias_vit", spec: opSpec{opType: "Add", nInputs: 2},
			shapes: [][]int{{8, 197, 3072}, {3072}}, need: []int{0}},
		{name: "mul_same_vit", spec: opSpec{opType: "Mul", nInputs: 2},
			shapes: [][]int{{8, 197, 3072}, {8, 197, 3072}}, need: []int{0, 1}},
		{name: "div_scalar_vit", spec: opSpec{opType: "Div", nInputs: 2},
			shapes: [][]int{{8, 12, 197, 197}, {}}, need: []int{0}},
		{name: "transpose_convnext", spec: opSpec{opType: "Transpose", nInputs: 1, attrs: []*onnxpb.AttributeProto{attrInts("perm", 0, 2, 3, 1)}},
			shapes: [][]int{{8, 96, 56, 56}}, need: []int{0}},
	}
}

// BenchmarkOps times single nodes at ImageNet shapes: forward, and forward
// followed by the backward rule for the activations' gradients (what one
// node costs in an input-gradient run). GFLOP/s is reported for
// convolutions and matrix products, GB/s (inputs and output read or
// written once) for the others, and the process's CPU time per op
// (cpu-ms/op, unix only; GOMAXPROCS workers add up), which the load of a
// shared machine disturbs less than ns/op.
func BenchmarkOps(b *testing.B) {
	for _, c := range opBenchCases() {
		// setup builds the node and its inputs inside the sub-benchmark, so
		// that a -bench filter skips the cases it does not run; b.Loop
		// starts the clock after it.
		setup := func(b *testing.B) (op Op, rc *RunContext, in, gOut []*tensor.Tensor, need []bool, report func(cpu0 time.Duration)) {
			op = buildOp(b, c.spec)
			rng := rand.New(rand.NewPCG(3, 4))
			in = make([]*tensor.Tensor, len(c.shapes))
			bytes := 0
			for i, s := range c.shapes {
				in[i] = randTensor(rng, s...)
				bytes += 4 * in[i].Len()
			}
			rc = &RunContext{pool: newBufferPool()}
			out, saved, err := op.Forward(rc, in)
			if err != nil {
				b.Fatal(err)
			}
			bytes += 4 * out[0].Len()
			gOut = []*tensor.Tensor{randTensor(rng, out[0].Shape...)}
			need = make([]bool, len(in))
			for _, i := range c.need {
				need[i] = true
			}
			// One backward pass too, so that the pool holds every buffer
			// the timed runs take (a fresh buffer's page faults would
			// otherwise land in the first of them).
			if _, err := op.Backward(rc, in, out, saved, gOut, need); err != nil {
				b.Fatal(err)
			}
			rc.pool.releaseAll()
			report = func(cpu0 time.Duration) {
				if cpu := processCPU(); cpu > 0 {
					b.ReportMetric(float64(cpu-cpu0)/1e6/float64(b.N), "cpu-ms/op")
				}
				sec := b.Elapsed().Seconds() / float64(b.N)
				if c.flops > 0 {
					b.ReportMetric(c.flops/sec/1e9, "GFLOP/s")
				} else {
					b.ReportMetric(float64(bytes)/sec/1e9, "GB/s")
				}
			}
			return op, rc, in, gOut, need, report
		}
		b.Run(c.name+"/fwd", func(b *testing.B) {
			op, rc, in, _, _, report := setup(b)
			cpu0 := processCPU()
			for b.Loop() {
				if _, _, err := op.Forward(rc, in); err != nil {
					b.Fatal(err)
				}
				rc.pool.releaseAll()
			}
			report(cpu0)
		})
		b.Run(c.name+"/fwdbwd", func(b *testing.B) {
			op, rc, in, gOut, need, report := setup(b)
			cpu0 := processCPU()
			for b.Loop() {
				out, saved, err := op.Forward(rc, in)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := op.Backward(rc, in, out, saved, gOut, need); err != nil {
					b.Fatal(err)
				}
				rc.pool.releaseAll()
			}
			report(cpu0)
		})
	}
}
