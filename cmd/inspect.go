package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
)

type inspectOptions struct {
	model  string
	format string
}

func newInspectCommand() *cobra.Command {
	o := &inspectOptions{}
	c := &cobra.Command{
		Use:   "inspect --model m.onnx",
		Short: "Describe an ONNX model and whether advtest can run it",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runInspect(c.OutOrStdout(), o)
		},
	}
	c.Flags().StringVarP(&o.model, "model", "m", "", "ONNX model file (required)")
	c.Flags().StringVar(&o.format, "format", "table", "output format: table or json")
	return c
}

// modelSummary is what inspect reports.
type modelSummary struct {
	Path             string         `json:"path"`
	IRVersion        int64          `json:"ir_version"`
	Opset            int64          `json:"opset"`
	Producer         string         `json:"producer"`
	Inputs           []valueSummary `json:"inputs"`
	Outputs          []valueSummary `json:"outputs"`
	OpCounts         map[string]int `json:"op_counts"`
	Parameters       int64          `json:"parameters"`
	Supported        bool           `json:"supported"`
	FirstUnsupported string         `json:"first_unsupported,omitempty"`
	Unsupported      map[string]int `json:"unsupported,omitempty"` // every unsupported op type, with its node count
	FinalActivation  string         `json:"final_activation,omitempty"`
	Logits           string         `json:"logits,omitempty"`
	PerSample        bool           `json:"per_sample,omitempty"`
	LoadError        string         `json:"load_error,omitempty"`
}

type valueSummary struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Shape string `json:"shape"`
}

func runInspect(w io.Writer, o *inspectOptions) error {
	if o.model == "" {
		return usageError(fmt.Errorf("inspect: --model is required"))
	}
	if o.format != "table" && o.format != "json" {
		return usageError(fmt.Errorf("inspect: --format %q: want table or json", o.format))
	}
	mp, err := onnxmodel.ReadProto(o.model)
	if err != nil {
		return usageError(err)
	}
	s := summarize(o.model, mp)
	if u := onnxmodel.UnsupportedOps(mp); len(u) > 0 {
		s.Unsupported = u
	}
	if m, err := onnxmodel.Load(o.model); err != nil {
		s.Supported = false
		s.LoadError = err.Error()
	} else {
		s.FinalActivation = m.FinalActivation
		s.Logits = m.LogitsName
		s.PerSample = m.PerSample
	}
	if o.format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(s); err != nil {
			return err
		}
		return inspectExit(s)
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
	case s.LoadError != "": // lists every unsupported op type with its count
		fmt.Fprintf(w, "supported:   no (%s)\n", s.LoadError)
	case s.FirstUnsupported != "":
		fmt.Fprintf(w, "supported:   no (first unsupported op: %s)\n", s.FirstUnsupported)
	default:
		fmt.Fprintf(w, "supported:   yes\n")
	}
	if s.PerSample {
		fmt.Fprintf(w, "note:        the graph bakes in its batch size; advtest runs it one sample at a time\n")
	}
	return inspectExit(s)
}

// inspectExit is exit status 2 when the model cannot run.
func inspectExit(s *modelSummary) error {
	if s.LoadError != "" {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("inspect: %s cannot run: %s", s.Path, s.LoadError)}
	}
	return nil
}

func summarize(path string, mp *onnxpb.ModelProto) *modelSummary {
	s := &modelSummary{Path: path, IRVersion: mp.GetIrVersion(), OpCounts: map[string]int{}, Supported: true}
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

func describeValue(vi *onnxpb.ValueInfoProto) valueSummary {
	v := valueSummary{Name: vi.GetName()}
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
