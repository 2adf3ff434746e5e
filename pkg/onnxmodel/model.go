package onnxmodel

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/proto"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/tensor"
)

// Limits bound what a model file may make the loader allocate. Every size
// declared in a file (file length, tensor dims, external data lengths) is
// checked against them before anything is allocated, so that a hostile
// file is refused with an error instead of exhausting memory.
type Limits struct {
	// ModelBytes is the largest .onnx file Load and ReadProto read; larger
	// files are refused before they are read.
	ModelBytes int64
	// TensorBytes bounds any one tensor as the engine holds it (4 bytes a
	// float element, 8 an integer one): initializers, constants, values
	// folded at load time and shapes computed from values in the file.
	TensorBytes int64
	// TotalBytes bounds all initializers and folded constants together.
	TotalBytes int64
	// WorkingBytes bounds the working memory of one run of the graph (the
	// values and gradients its executor allocates for a batch); a run that
	// needs more stops with a *WorkingMemoryError naming a batch size that
	// fits. 0 means no bound.
	WorkingBytes int64
}

// DefaultLimits are the limits in force until SetLimits changes them.
var DefaultLimits = Limits{ModelBytes: 2 << 30, TensorBytes: 4 << 30, TotalBytes: 4 << 30}

var limModel, limTensor, limTotal, limWorking atomic.Int64

func init() { SetLimits(DefaultLimits) }

// SetLimits replaces the loader's limits for every later Load, Decode and
// run; a field that is zero or negative keeps DefaultLimits' value (for
// WorkingBytes: no bound). It is
// safe to call concurrently with loading, though a load in flight may see
// either limit.
func SetLimits(l Limits) {
	pick := func(v, def int64) int64 {
		if v <= 0 {
			return def
		}
		return v
	}
	limModel.Store(pick(l.ModelBytes, DefaultLimits.ModelBytes))
	limTensor.Store(pick(l.TensorBytes, DefaultLimits.TensorBytes))
	limTotal.Store(pick(l.TotalBytes, DefaultLimits.TotalBytes))
	limWorking.Store(max(l.WorkingBytes, 0))
}

// LimitsFor derives the loader's limits from one memory budget in bytes
// (the CLI's --max-memory): no tensor and no model's weights in total may
// take more than budget, and the file itself is at most min(budget, 2 GiB),
// the largest protobuf message. With capWorking, one run's working memory
// is bounded by budget too (Limits.WorkingBytes).
func LimitsFor(budget int64, capWorking bool) Limits {
	l := Limits{ModelBytes: min(budget, DefaultLimits.ModelBytes), TensorBytes: budget, TotalBytes: budget}
	if capWorking {
		l.WorkingBytes = budget
	}
	return l
}

// Model is a loaded ONNX graph compiled for advtest's engine: it runs
// batches forward, differentiates losses with respect to the input and to
// every float initializer, and saves itself back to ONNX.
//
// A Model may be used by several goroutines at once, except while its
// parameters are being changed (training) or it is being saved.
type Model struct {
	// Path is the file the model was loaded from ("" when built in memory).
	Path string
	// Proto is the decoded ONNX model. Save writes it back with the current
	// parameter values.
	Proto *onnxpb.ModelProto
	// Opset is the model's opset version for the default ONNX domain.
	Opset int64
	// Inputs are the graph inputs that are not initializers, in order.
	Inputs []ValueInfo
	// Outputs are the graph outputs, in order.
	Outputs []ValueInfo
	// FinalActivation is "Softmax" or "LogSoftmax" when the first output is
	// produced by that op; logits are then taken from the op's input.
	FinalActivation string
	// LogitsName is the value used as logits: the first graph output, or
	// the input of its final Softmax/LogSoftmax.
	LogitsName string
	// Params are the float initializers, by name: the trainable weights.
	// Changing their elements changes what the model computes.
	Params map[string]*tensor.Tensor
	// ParamNames lists Params' keys in the file's order.
	ParamNames []string
	// PerSample is true when the graph could not be run on batches (a
	// shape baked in for batch 1 that could not be generalised); it then
	// runs one sample at a time, with identical results, more slowly.
	PerSample bool

	baseDir    string
	slots      []string         // slot index -> value name
	slotOf     map[string]int   // value name -> slot
	consts     []*tensor.Tensor // slot -> constant value (initializers, Constant outputs), nil otherwise
	trainable  []bool           // slot -> a float initializer, or computed from one
	nodes      []*compiledNode
	poolMu     sync.Mutex
	pools      []*bufferPool // free buffer pools, one per concurrent run; kept across GCs
	numClasses int
	random     bool  // the graph has random ops (see Randomised)
	constBytes int64 // bytes of initializers and folded constants, for Limits.TotalBytes
}

// ValueInfo describes a graph input or output.
type ValueInfo struct {
	Name string
	// Shape is the declared shape; -1 marks a dimension that is not fixed
	// (symbolic or absent). Nil when no shape is declared.
	Shape []int
	// DimNames holds symbolic dimension names ("" for fixed ones).
	DimNames []string
	// ElemType is the ONNX element type name, e.g. "FLOAT".
	ElemType string
}

type compiledNode struct {
	info *NodeInfo
	op   Op
	in   []int // slots, -1 for a left-out optional input
	out  []int // slots, -1 for a left-out optional output
}

// Load reads and compiles an ONNX model file. Every error names the file
// and, for graph problems, the node and what was expected.
func Load(path string) (*Model, error) {
	data, err := readModelFile(path)
	if err != nil {
		return nil, err
	}
	m, err := Decode(data, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m.Path = path
	return m, nil
}

// Decode parses and compiles a serialised ONNX model. baseDir is the folder
// that external tensor data is read from ("" refuses external data).
//
// A panic while compiling (an op builder or constant folding meeting a
// case it does not handle) is returned as an "internal error" instead of
// crashing the caller: the bytes come from a file someone else made.
func Decode(data []byte, baseDir string) (m *Model, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("internal error while compiling the model (please report it with the file): %v", r)
		}
	}()
	if len(data) == 0 {
		return nil, errors.New("empty file, want an ONNX model")
	}
	mp := &onnxpb.ModelProto{}
	if err := (proto.UnmarshalOptions{RecursionLimit: protoRecursionLimit}).Unmarshal(data, mp); err != nil {
		return nil, fmt.Errorf("not a valid ONNX model (protobuf decoding failed: %v)", err)
	}
	if mp.GetGraph() == nil || len(mp.GetGraph().GetNode()) == 0 {
		return nil, errors.New("not a valid ONNX model: no graph or no nodes")
	}
	return Compile(mp, baseDir)
}

// Compile builds a Model from a decoded ModelProto.
func Compile(mp *onnxpb.ModelProto, baseDir string) (*Model, error) {
	m := &Model{Proto: mp, baseDir: baseDir, slotOf: map[string]int{}, Params: map[string]*tensor.Tensor{}}
	m.Opset = -1
	for _, os := range mp.GetOpsetImport() {
		if d := os.GetDomain(); d == "" || d == "ai.onnx" {
			m.Opset = os.GetVersion()
		}
	}
	if m.Opset < 0 {
		if len(mp.GetOpsetImport()) == 0 {
			m.Opset = 1 // IR version 2 models may leave opset_import out
		} else {
			return nil, errors.New("the model imports no opset of the default ONNX domain")
		}
	}
	g := mp.GetGraph()
	isInit := map[string]bool{}
	for _, tp := range g.GetInitializer() {
		name := tp.GetName()
		if name == "" {
			return nil, errors.New("an initializer has no name")
		}
		if isInit[name] {
			return nil, fmt.Errorf("initializer %q is defined twice", name)
		}
		t, err := decodeTensor(tp, baseDir)
		if err != nil {
			return nil, fmt.Errorf("initializer %q: %v", name, err)
		}
		if err := m.countConst(t); err != nil {
			return nil, fmt.Errorf("initializer %q: %v", name, err)
		}
		isInit[name] = true
		s := m.slot(name)
		m.setConst(s, t)
		if t.DType == tensor.Float32 {
			m.trainable[s] = true
			m.Params[name] = t
			m.ParamNames = append(m.ParamNames, name)
		}
	}
	for _, vi := range g.GetInput() {
		if isInit[vi.GetName()] {
			continue // IR < 4 lists initializers among the inputs
		}
		v := valueInfo(vi)
		if err := checkDeclaredShape(v); err != nil {
			return nil, err
		}
		m.Inputs = append(m.Inputs, v)
		m.slot(vi.GetName())
	}
	for _, vi := range g.GetOutput() {
		m.Outputs = append(m.Outputs, valueInfo(vi))
	}
	if len(m.Outputs) == 0 {
		return nil, errors.New("the graph declares no outputs")
	}
	if u := UnsupportedOps(mp); len(u) > 0 {
		return nil, &UnsupportedOpsError{Ops: u}
	}
	if err := m.compileNodes(g.GetNode()); err != nil {
		return nil, err
	}
	for _, o := range m.Outputs {
		if _, ok := m.slotOf[o.Name]; !ok {
			return nil, fmt.Errorf("graph output %q is produced by no node", o.Name)
		}
	}
	m.findLogits()
	m.generaliseBatch()
	if m.sampleFitsSelfCheck() {
		m.selfCheck()
	}
	return m, nil
}

// selfCheckMaxElements bounds the sample that selfCheck makes up from the
// declared input shape (16 MiB of float32 per sample). A larger declared
// shape is legal (the data decides what runs), but proving batching on it
// at load time would allocate what the file declares, before any data has
// been seen; such models keep batching on without the proof.
const selfCheckMaxElements = 1 << 22

// sampleFitsSelfCheck reports whether the declared sample shape is small
// enough for selfCheck to allocate two samples of it.
func (m *Model) sampleFitsSelfCheck() bool {
	n := int64(1)
	for _, d := range m.SampleShape() {
		if d <= 0 {
			return true // selfCheck skips shapes that are not fully declared
		}
		if n > selfCheckMaxElements/int64(d) {
			return false
		}
		n *= int64(d)
	}
	return true
}

// checkDeclaredShape refuses a graph input whose declared dims cannot be
// run within the TensorBytes limit (one float32 sample of it would be over
// it): a dim of 1e12 is a hostile or broken file, not a model to load.
func checkDeclaredShape(v ValueInfo) error {
	limit := limTensor.Load() / 4
	n := int64(1)
	for i, d := range v.Shape {
		if i == 0 || d <= 0 {
			continue // the batch, or a free dim: the data decides
		}
		if n > limit/int64(d) {
			return fmt.Errorf("graph input %q declares shape %s: one sample would be over the %d-byte tensor limit", v.Name, declaredShape(v), limTensor.Load())
		}
		n *= int64(d)
	}
	return nil
}

// countConst adds a constant's bytes to the model's total and refuses it
// when the total goes over the TotalBytes limit.
func (m *Model) countConst(t *tensor.Tensor) error {
	if t == nil {
		return nil
	}
	m.constBytes += 4*int64(len(t.F)) + 8*int64(len(t.I))
	if limit := limTotal.Load(); m.constBytes > limit {
		return fmt.Errorf("the model's weights and constants take more than the %d-byte limit", limit)
	}
	return nil
}

func valueInfo(vi *onnxpb.ValueInfoProto) ValueInfo {
	v := ValueInfo{Name: vi.GetName()}
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		return v
	}
	v.ElemType = onnxpb.TensorProto_DataType(tt.GetElemType()).String()
	if tt.GetShape() == nil {
		return v
	}
	for _, d := range tt.GetShape().GetDim() {
		if d.Value == nil {
			v.Shape = append(v.Shape, -1)
			v.DimNames = append(v.DimNames, "")
			continue
		}
		if dv, ok := d.Value.(*onnxpb.TensorShapeProto_Dimension_DimValue); ok && dv.DimValue > 0 {
			v.Shape = append(v.Shape, int(dv.DimValue))
			v.DimNames = append(v.DimNames, "")
		} else {
			v.Shape = append(v.Shape, -1)
			v.DimNames = append(v.DimNames, d.GetDimParam())
		}
	}
	return v
}

func (m *Model) slot(name string) int {
	if s, ok := m.slotOf[name]; ok {
		return s
	}
	s := len(m.slots)
	m.slots = append(m.slots, name)
	m.consts = append(m.consts, nil)
	m.trainable = append(m.trainable, false)
	m.slotOf[name] = s
	return s
}

func (m *Model) setConst(s int, t *tensor.Tensor) { m.consts[s] = t }

// compileNodes orders the nodes topologically, evaluates Constant nodes and
// builds an Op for every other node, refusing unknown ops up front.
func (m *Model) compileNodes(nodes []*onnxpb.NodeProto) error {
	order, err := topoOrder(nodes, m.slotOf)
	if err != nil {
		return err
	}
	for _, np := range order {
		info := &NodeInfo{
			Name: np.GetName(), OpType: np.GetOpType(), Opset: m.Opset,
			Inputs: np.GetInput(), Outputs: np.GetOutput(),
			Attrs: map[string]*onnxpb.AttributeProto{},
		}
		if d := np.GetDomain(); d != "" && d != "ai.onnx" {
			return info.errorf("op domain %q is not supported (only the default ONNX domain is)", d)
		}
		for _, a := range np.GetAttribute() {
			info.Attrs[a.GetName()] = a
		}
		b, ok := registry[info.OpType]
		if !ok {
			return info.errorf("op type %s is not supported by advtest's engine (supported: see `advtest inspect`)", info.OpType)
		}
		cn := &compiledNode{info: info}
		info.Const = make([]*tensor.Tensor, len(info.Inputs))
		for i, name := range info.Inputs {
			if name == "" {
				cn.in = append(cn.in, -1)
				continue
			}
			s, ok := m.slotOf[name]
			if !ok {
				return info.errorf("input %q is not produced by any node, initializer or graph input", name)
			}
			cn.in = append(cn.in, s)
			info.Const[i] = m.consts[s]
		}
		op, err := b(info)
		if err != nil {
			return err
		}
		cn.op = op
		for _, name := range info.Outputs {
			if name == "" {
				cn.out = append(cn.out, -1)
				continue
			}
			if _, dup := m.slotOf[name]; dup {
				return info.errorf("output %q is already defined elsewhere in the graph", name)
			}
			cn.out = append(cn.out, m.slot(name))
		}
		// Fold nodes whose inputs are all constant (Constant nodes, shape
		// arithmetic on initializers) so that later builders see their values.
		// Nodes computed from float initializers stay in the graph, so that
		// gradients reach those parameters.
		fromParams := false
		for _, s := range cn.in {
			if s >= 0 && m.trainable[s] {
				fromParams = true
			}
		}
		if fromParams {
			for _, s := range cn.out {
				if s >= 0 {
					m.trainable[s] = true
				}
			}
		}
		// Random ops are not functions of their inputs: never fold them
		// (their outputs then stay unknown, so nothing after them folds).
		_, random := op.(nondeterministic)
		if random {
			m.random = true
		}
		if !fromParams && !random && allConst(info.Const, cn.in) {
			out, _, err := op.Forward(&RunContext{}, info.Const)
			if err != nil {
				return err
			}
			for i, s := range cn.out {
				if s >= 0 && i < len(out) {
					if err := m.countConst(out[i]); err != nil {
						return info.errorf("folding constants: %v", err)
					}
					m.consts[s] = out[i]
				}
			}
			continue
		}
		m.nodes = append(m.nodes, cn)
	}
	return nil
}

// Randomised reports whether the graph has random ops (RandomNormalLike,
// RandomUniformLike): two runs on the same input may then give different
// outputs, and an honest attack averages over draws (EOT) instead of
// trusting one.
func (m *Model) Randomised() bool { return m.random }

func allConst(c []*tensor.Tensor, in []int) bool {
	for i, s := range in {
		if s >= 0 && c[i] == nil {
			return false
		}
	}
	return true
}

// topoOrder returns the nodes in an order where every input is defined
// before it is used. ONNX requires files to be sorted already; this also
// accepts files that are not.
func topoOrder(nodes []*onnxpb.NodeProto, defined map[string]int) ([]*onnxpb.NodeProto, error) {
	have := map[string]bool{}
	for name := range defined {
		have[name] = true
	}
	producer := map[string]bool{}
	for _, n := range nodes {
		for _, o := range n.GetOutput() {
			producer[o] = true
		}
	}
	order := make([]*onnxpb.NodeProto, 0, len(nodes))
	done := make([]bool, len(nodes))
	for len(order) < len(nodes) {
		progress := false
		for i, n := range nodes {
			if done[i] {
				continue
			}
			ready := true
			for _, in := range n.GetInput() {
				if in != "" && !have[in] {
					if !producer[in] {
						return nil, fmt.Errorf("node %q (%s): input %q is not produced by any node, initializer or graph input", n.GetName(), n.GetOpType(), in)
					}
					ready = false
					break
				}
			}
			if !ready {
				continue
			}
			done[i] = true
			progress = true
			order = append(order, n)
			for _, o := range n.GetOutput() {
				have[o] = true
			}
		}
		if !progress {
			return nil, errors.New("the graph has a cycle")
		}
	}
	return order, nil
}

// findLogits decides which value is the model's logits.
func (m *Model) findLogits() {
	out := m.Outputs[0].Name
	m.LogitsName = out
	for _, cn := range m.nodes {
		if len(cn.info.Outputs) > 0 && cn.info.Outputs[0] == out && (cn.info.OpType == "Softmax" || cn.info.OpType == "LogSoftmax") {
			m.FinalActivation = cn.info.OpType
			m.LogitsName = cn.info.Inputs[0]
		}
	}
}

// ReadProto reads and decodes an ONNX file without compiling it, for tools
// that describe models the engine may not run.
func ReadProto(path string) (*onnxpb.ModelProto, error) {
	data, err := readModelFile(path)
	if err != nil {
		return nil, err
	}
	mp := &onnxpb.ModelProto{}
	if err := (proto.UnmarshalOptions{RecursionLimit: protoRecursionLimit}).Unmarshal(data, mp); err != nil {
		return nil, fmt.Errorf("%s: not a valid ONNX model (protobuf decoding failed: %v)", path, err)
	}
	if mp.GetGraph() == nil {
		return nil, fmt.Errorf("%s: not a valid ONNX model: no graph", path)
	}
	return mp, nil
}

// protoRecursionLimit bounds the nesting of protobuf messages (graphs in
// attributes in nodes in graphs...), so that a hostile file cannot make the
// decoder recurse deeply. Real models nest subgraphs a few levels at most.
const protoRecursionLimit = 64

// readModelFile reads an .onnx file, refusing folders and special files
// (a FIFO would block, /dev/zero would never end) and files over the
// ModelBytes limit, before reading them. The read itself is bounded too, in
// case the file grows meanwhile.
func readModelFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: is a folder, want an .onnx file", path)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: is not a regular file (a device, pipe or socket), want an .onnx file", path)
	}
	limit := limModel.Load()
	if st.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes is larger than the %d-byte model limit", path, st.Size(), limit)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than the %d-byte model limit", path, limit)
	}
	return data, nil
}
