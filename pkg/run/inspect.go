package run

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/tensor"
)

// ModelSummary is what Inspect reports: the model file as ONNX declares it
// and whether advtest runs it.
type ModelSummary struct {
	Path             string         `json:"path"`
	IRVersion        int64          `json:"ir_version"`
	Opset            int64          `json:"opset"`
	Producer         string         `json:"producer"`
	Inputs           []ValueSummary `json:"inputs"`
	Outputs          []ValueSummary `json:"outputs"`
	OpCounts         map[string]int `json:"op_counts"`
	Parameters       int64          `json:"parameters"`
	Supported        bool           `json:"supported"`
	FirstUnsupported string         `json:"first_unsupported,omitempty"`
	// Unsupported lists every op type the engine lacks, with its node count.
	Unsupported     map[string]int `json:"unsupported,omitempty"`
	FinalActivation string         `json:"final_activation,omitempty"`
	Logits          string         `json:"logits,omitempty"`
	PerSample       bool           `json:"per_sample,omitempty"`
	LoadError       string         `json:"load_error,omitempty"`
}

// ValueSummary is one graph input or output.
type ValueSummary struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Shape string `json:"shape"`
}

// Inspect describes the ONNX model at path and whether advtest runs it,
// and writes the description to w in format (text or json).
func Inspect(w io.Writer, path, format string) (*ModelSummary, error) {
	if path == "" {
		return nil, errors.New("inspect: --model is required")
	}
	if err := checkTextFormat("inspect", format); err != nil {
		return nil, err
	}
	mp, err := onnxmodel.ReadProto(path)
	if err != nil {
		return nil, err
	}
	s := summarize(path, mp)
	if u := onnxmodel.UnsupportedOps(mp); len(u) > 0 {
		s.Unsupported = u
	}
	if m, err := onnxmodel.Load(path); err != nil {
		s.Supported = false
		s.LoadError = err.Error()
	} else if err := declaredNoClassError(m); err != nil {
		s.Supported = false
		s.LoadError = err.Error()
	} else {
		s.FinalActivation = m.FinalActivation
		s.Logits = m.LogitsName
		s.PerSample = m.PerSample
	}
	if err := writeInspect(w, format, s); err != nil {
		return s, err
	}
	if !s.Supported {
		// A model advtest cannot run fails inspect (exit 2), so that it
		// serves as a CI pre-check.
		return s, fmt.Errorf("inspect: %s cannot run in advtest: %s", path, s.LoadError)
	}
	return s, nil
}

// declaredNoClassError is noClassError on a sample of zeros of the
// model's declared sample shape; nil when the shape is not fully declared
// or over 4M elements.
func declaredNoClassError(m *onnxmodel.Model) error {
	if m.NumClasses() > 0 {
		return nil
	}
	shape := m.SampleShape()
	n := 1
	for _, d := range shape {
		if d <= 0 || n > (1<<22)/d {
			return nil // not declared, or larger than a probe should allocate
		}
		n *= d
	}
	if shape == nil {
		return nil
	}
	return noClassError(m, tensor.New(append([]int{1}, shape...)...))
}

func writeInspect(w io.Writer, format string, s *ModelSummary) error {
	if format == "json" {
		return writeJSON(w, s)
	}
	fmt.Fprintf(w, "model:       %s\n", s.Path)
	fmt.Fprintf(w, "ir version:  %d\n", s.IRVersion)
	fmt.Fprintf(w, "opset:       %d\n", s.Opset)
	fmt.Fprintf(w, "producer:    %s\n", s.Producer)
	for _, v := range s.Inputs {
		fmt.Fprintf(w, "input:       %s %s %s\n", v.Name, v.Type, v.Shape)
	}
	for _, v := range s.Outputs {
		fmt.Fprintf(w, "output:      %s %s %s\n", v.Name, v.Type, v.Shape)
	}
	if s.FinalActivation != "" {
		fmt.Fprintf(w, "logits:      %s (the input of the final %s; attacks differentiate through it)\n", s.Logits, s.FinalActivation)
	}
	fmt.Fprintf(w, "parameters:  %d\n", s.Parameters)
	ops := make([]string, 0, len(s.OpCounts))
	for op := range s.OpCounts {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	parts := make([]string, len(ops))
	for i, op := range ops {
		parts[i] = fmt.Sprintf("%s×%d", op, s.OpCounts[op])
	}
	fmt.Fprintf(w, "ops:         %s\n", strings.Join(parts, " "))
	switch {
	case len(s.Unsupported) > 0:
		names := make([]string, 0, len(s.Unsupported))
		for op := range s.Unsupported {
			names = append(names, op)
		}
		sort.Strings(names)
		for i, op := range names {
			names[i] = fmt.Sprintf("%s×%d", op, s.Unsupported[op])
		}
		fmt.Fprintf(w, "supported:   no (unsupported ops: %s)\n", strings.Join(names, " "))
	case s.LoadError != "":
		fmt.Fprintf(w, "supported:   no (%s)\n", s.LoadError)
	default:
		fmt.Fprintf(w, "supported:   yes\n")
	}
	if s.PerSample {
		fmt.Fprintf(w, "note:        the graph bakes in its batch size; advtest runs it one sample at a time\n")
	}
	return nil
}

func summarize(path string, mp *onnxpb.ModelProto) *ModelSummary {
	s := &ModelSummary{Path: path, IRVersion: mp.GetIrVersion(), OpCounts: map[string]int{}, Supported: true}
	s.Producer = strings.TrimSpace(mp.GetProducerName() + " " + mp.GetProducerVersion())
	for _, op := range mp.GetOpsetImport() {
		if op.GetDomain() == "" || op.GetDomain() == "ai.onnx" {
			s.Opset = op.GetVersion()
		}
	}
	g := mp.GetGraph()
	inits := map[string]bool{}
	for _, tp := range g.GetInitializer() {
		inits[tp.GetName()] = true
		if tp.GetDataType() == int32(onnxpb.TensorProto_FLOAT) || tp.GetDataType() == int32(onnxpb.TensorProto_DOUBLE) || tp.GetDataType() == int32(onnxpb.TensorProto_FLOAT16) {
			n := int64(1)
			for _, d := range tp.GetDims() {
				n *= d
			}
			s.Parameters += n
		}
	}
	for _, vi := range g.GetInput() {
		if !inits[vi.GetName()] {
			s.Inputs = append(s.Inputs, describeValue(vi))
		}
	}
	for _, vi := range g.GetOutput() {
		s.Outputs = append(s.Outputs, describeValue(vi))
	}
	for _, n := range g.GetNode() {
		s.OpCounts[n.GetOpType()]++
		if s.FirstUnsupported == "" && (!onnxmodel.IsSupported(n.GetOpType()) || (n.GetDomain() != "" && n.GetDomain() != "ai.onnx")) {
			s.FirstUnsupported = fmt.Sprintf("%s (node %q)", n.GetOpType(), n.GetName())
			s.Supported = false
		}
	}
	return s
}

func describeValue(vi *onnxpb.ValueInfoProto) ValueSummary {
	v := ValueSummary{Name: vi.GetName()}
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		return v
	}
	v.Type = onnxpb.TensorProto_DataType(tt.GetElemType()).String()
	if tt.GetShape() == nil {
		v.Shape = "(no shape)"
		return v
	}
	parts := []string{}
	for _, d := range tt.GetShape().GetDim() {
		switch {
		case d.GetDimParam() != "":
			parts = append(parts, d.GetDimParam())
		case d.GetDimValue() > 0:
			parts = append(parts, fmt.Sprint(d.GetDimValue()))
		default:
			parts = append(parts, "?")
		}
	}
	v.Shape = "[" + strings.Join(parts, " ") + "]"
	return v
}
