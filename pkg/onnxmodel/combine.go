package onnxmodel

// Graph surgery across models: Combine merges several classifiers into one
// ensemble graph; WithOutputs exposes intermediate values; Split cuts a
// graph in two at a named value (a preprocessor and the model behind it);
// metadata helpers mark such cut points in saved files.

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/tensor"
)

// Aggregate says how Combine merges its members' logits.
type Aggregate int

const (
	// MeanLogits averages the members' logits: Sum, then Mul by 1/N.
	MeanLogits Aggregate = iota
	// MeanProbs averages the members' softmax probabilities and takes the
	// Log of the mean, so that the output is a log-probability that
	// attacks and losses use as logits (softmax(log p) = p when p sums to
	// one). The mean is floored at 1e-30 before the Log, so the output is
	// finite (≥ −69.1).
	MeanProbs
	// Vote counts, per class, the members whose argmax is that class (ties
	// within a member give each tied class a vote), and adds half the mean
	// probability as a tie-breaker below one vote. The counts have no
	// gradient; the tie-breaker's gradient is the mean-probability
	// ensemble's, so attacks differentiate the vote through its soft
	// surrogate (the BPDA view of a vote, Athalye et al. 2018 §4.1) instead
	// of seeing a zero gradient that would make the vote look robust.
	Vote
)

// String returns "mean-logits", "mean-probs" or "vote".
func (a Aggregate) String() string {
	switch a {
	case MeanLogits:
		return "mean-logits"
	case MeanProbs:
		return "mean-probs"
	case Vote:
		return "vote"
	}
	return fmt.Sprintf("Aggregate(%d)", int(a))
}

// ParseAggregate parses "mean-logits" (also "logits", "mean"),
// "mean-probs" (also "probs", "softmax") or "vote" (also "majority").
func ParseAggregate(s string) (Aggregate, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "mean-logits", "logits", "mean", "":
		return MeanLogits, nil
	case "mean-probs", "probs", "softmax", "mean-probabilities":
		return MeanProbs, nil
	case "vote", "majority", "majority-vote":
		return Vote, nil
	}
	return MeanLogits, fmt.Errorf("unknown aggregation %q (want mean-logits, mean-probs or vote)", s)
}

// EnsembleOutput is the name of the output Combine gives the ensemble.
const EnsembleOutput = "ensemble/output"

// Combine merges classifiers into one ONNX graph that feeds its single
// input to every member and aggregates their logits (each member's
// LogitsName, the value before a final Softmax) as how says.
//
// Member i's node, value and initializer names are prefixed "m<i>/"; its
// graph input becomes the shared input (named after member 0's). Members
// must have one float input each with the same per-sample shape (fixed
// dimensions must agree), the same number of classes, and the same opset
// of the default domain: mixed opsets are refused, because an op's
// semantics and attribute forms change between opsets and re-targeting a
// member is not done silently. The result imports that opset and the
// highest IR version of the members; the members are not changed.
func Combine(models []*Model, how Aggregate) (*Model, error) {
	if len(models) == 0 {
		return nil, fmt.Errorf("combine: no models")
	}
	if how < MeanLogits || how > Vote {
		return nil, fmt.Errorf("combine: unknown aggregation %d", int(how))
	}
	in0, err := models[0].input()
	if err != nil {
		return nil, fmt.Errorf("combine: member 0: %w", err)
	}
	opset := models[0].Opset
	classes := numClassesOf(models[0])
	var ir int64
	for i, m := range models {
		in, err := m.input()
		if err != nil {
			return nil, fmt.Errorf("combine: member %d: %w", i, err)
		}
		if m.Opset != opset {
			return nil, fmt.Errorf("combine: member %d has opset %d, member 0 has opset %d; export the members with the same opset", i, m.Opset, opset)
		}
		if in.Shape != nil && in0.Shape != nil {
			if len(in.Shape) != len(in0.Shape) {
				return nil, fmt.Errorf("combine: member %d's input has rank %d, member 0's rank %d", i, len(in.Shape), len(in0.Shape))
			}
			for d := 1; d < len(in.Shape); d++ {
				if in.Shape[d] > 0 && in0.Shape[d] > 0 && in.Shape[d] != in0.Shape[d] {
					return nil, fmt.Errorf("combine: member %d's input is %s, member 0's %s", i, declaredShape(in), declaredShape(in0))
				}
			}
		}
		if c := numClassesOf(m); c > 0 && classes > 0 && c != classes {
			return nil, fmt.Errorf("combine: member %d has %d classes, member 0 has %d", i, c, classes)
		} else if classes == 0 {
			classes = c
		}
		ir = max(ir, m.Proto.GetIrVersion())
	}
	if how == Vote && opset < 7 {
		return nil, fmt.Errorf("combine: a vote needs opset ≥ 7 (the members have opset %d)", opset)
	}

	shared := in0.Name
	g := &onnxpb.GraphProto{Name: proto.String("advtest_ensemble")}
	for _, vi := range models[0].Proto.GetGraph().GetInput() {
		if vi.GetName() == shared {
			g.Input = append(g.Input, proto.Clone(vi).(*onnxpb.ValueInfoProto))
		}
	}
	var logits []string
	for i, m := range models {
		prefix := fmt.Sprintf("m%d/", i)
		in, _ := m.input()
		ren := func(s string) string {
			switch s {
			case "":
				return ""
			case in.Name:
				return shared
			}
			return prefix + s
		}
		mp := m.ToProto()
		inits := map[string]bool{}
		for _, tp := range mp.GetGraph().GetInitializer() {
			inits[tp.GetName()] = true
			tp.Name = proto.String(ren(tp.GetName()))
			g.Initializer = append(g.Initializer, tp)
		}
		for _, vi := range mp.GetGraph().GetInput() {
			if inits[vi.GetName()] { // IR < 4 lists initializers as inputs
				vi.Name = proto.String(ren(vi.GetName()))
				g.Input = append(g.Input, vi)
			}
		}
		for j, n := range mp.GetGraph().GetNode() {
			if n.GetName() == "" {
				n.Name = proto.String(fmt.Sprintf("node%d", j))
			}
			n.Name = proto.String(prefix + n.GetName())
			for k := range n.Input {
				n.Input[k] = ren(n.Input[k])
			}
			for k := range n.Output {
				n.Output[k] = ren(n.Output[k])
			}
			g.Node = append(g.Node, n)
		}
		logits = append(logits, ren(m.LogitsName))
	}

	b := &nodeBuf{prefix: "ensemble/", opset: opset}
	var out string
	switch how {
	case MeanLogits:
		out = b.mean(logits)
	case MeanProbs:
		out = b.logMeanProbs(logits)
	case Vote:
		votes := make([]string, len(logits))
		for i, l := range logits {
			mx := b.name("max")
			if opset >= 18 {
				b.add(NewNode("ReduceMax", mx, []string{l, b.constInt([]int64{1})}, []string{mx}, AttrInt("keepdims", 1)))
			} else {
				b.add(NewNode("ReduceMax", mx, []string{l}, []string{mx}, AttrInts("axes", 1), AttrInt("keepdims", 1)))
			}
			// l ≥ max (Not(Less)) is l == max without Equal, whose float
			// form needs opset 11.
			less, is, oh := b.name("less"), b.name("is_max"), b.name("one_hot")
			b.add(NewNode("Less", less, []string{l, mx}, []string{less}),
				NewNode("Not", is, []string{less}, []string{is}),
				NewNode("Cast", oh, []string{is}, []string{oh}, AttrInt("to", int64(onnxpb.TensorProto_FLOAT))))
			votes[i] = oh
		}
		sum := b.name("votes")
		b.add(NewNode("Sum", sum, votes, []string{sum}))
		probs := b.meanProbs(logits)
		half, tie := b.constFloat(0.5), b.name("tie_break")
		b.add(NewNode("Mul", tie, []string{probs, half}, []string{tie}))
		out = b.name("vote")
		b.add(NewNode("Add", out, []string{sum, tie}, []string{out}))
	}
	// Give the aggregate the documented output name.
	for _, n := range b.nodes {
		if n.Output[0] == out {
			n.Output[0] = EnsembleOutput
		}
	}
	g.Node = append(g.Node, b.nodes...)

	elem := int32(onnxpb.TensorProto_FLOAT)
	tt := &onnxpb.TypeProto_Tensor{ElemType: &elem}
	if classes > 0 {
		batch := &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}}
		if sh := g.GetInput()[0].GetType().GetTensorType().GetShape(); sh != nil && len(sh.GetDim()) > 0 {
			batch = proto.Clone(sh.GetDim()[0]).(*onnxpb.TensorShapeProto_Dimension)
		}
		tt.Shape = &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{batch,
			{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(classes)}}}}
	}
	g.Output = []*onnxpb.ValueInfoProto{{Name: proto.String(EnsembleOutput), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: tt}}}}
	if ir == 0 {
		ir = 7
	}
	mp := &onnxpb.ModelProto{
		IrVersion:    &ir,
		ProducerName: proto.String("advtest"),
		OpsetImport:  []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: &opset}},
		Graph:        g,
		MetadataProps: []*onnxpb.StringStringEntryProto{
			{Key: proto.String("advtest.ensemble"), Value: proto.String(fmt.Sprintf("%d members, %s", len(models), how))},
		},
	}
	c, err := Compile(mp, models[0].baseDir)
	if err != nil {
		return nil, fmt.Errorf("combine: %w", err)
	}
	return c, nil
}

// numClassesOf returns m's class count, running one zero sample when the
// output shape does not declare it and the input shape is fixed; 0 when
// unknown.
func numClassesOf(m *Model) int {
	if c := m.NumClasses(); c > 0 {
		return c
	}
	shape := m.SampleShape()
	if shape == nil {
		return 0
	}
	for _, d := range shape {
		if d <= 0 {
			return 0
		}
	}
	l, err := m.Logits(context.Background(), tensor.New(append([]int{1}, shape...)...))
	if err != nil || len(l.Shape) != 2 {
		return 0
	}
	return l.Shape[1]
}

// nodeBuf collects nodes with unique names under a prefix.
type nodeBuf struct {
	prefix string
	opset  int64
	n      int
	nodes  []*onnxpb.NodeProto
}

func (b *nodeBuf) name(s string) string {
	b.n++
	return fmt.Sprintf("%s%s_%d", b.prefix, s, b.n)
}

func (b *nodeBuf) add(n ...*onnxpb.NodeProto) { b.nodes = append(b.nodes, n...) }

func (b *nodeBuf) constFloat(v float32) string {
	c := b.name("const")
	b.add(ConstantNode(c, tensor.FromFloat32([]float32{v})))
	return c
}

func (b *nodeBuf) constInt(v []int64) string {
	c := b.name("const")
	b.add(ConstantNode(c, tensor.FromInt64(v, len(v))))
	return c
}

// mean returns the value holding the element-wise mean of vals.
func (b *nodeBuf) mean(vals []string) string {
	sum, out := b.name("sum"), b.name("mean")
	b.add(NewNode("Sum", sum, vals, []string{sum}),
		NewNode("Mul", out, []string{sum, b.constFloat(1 / float32(len(vals)))}, []string{out}))
	return out
}

// meanProbs returns the mean of the softmax (over axis 1) of each of logits.
func (b *nodeBuf) meanProbs(logits []string) string {
	probs := make([]string, len(logits))
	for i, l := range logits {
		p := b.name("softmax")
		b.add(NewNode("Softmax", p, []string{l}, []string{p}, AttrInt("axis", 1)))
		probs[i] = p
	}
	return b.mean(probs)
}

// logMeanProbs returns Log(max(meanProbs, 1e-30)).
func (b *nodeBuf) logMeanProbs(logits []string) string {
	m := b.meanProbs(logits)
	fl, lg := b.name("floor"), b.name("log")
	if b.opset >= 8 {
		b.add(NewNode("Max", fl, []string{m, b.constFloat(1e-30)}, []string{fl}))
	} else { // Max broadcasts from opset 8; Clip's attribute form is older
		b.add(NewNode("Clip", fl, []string{m}, []string{fl}, AttrFloat("min", 1e-30)))
	}
	b.add(NewNode("Log", lg, []string{fl}, []string{lg}))
	return lg
}

// WithOutputs returns a copy of the model that also outputs the named
// values (after its own outputs, in the order given), so that Run returns
// intermediate activations. The first output, and so the logits, stay as
// they were. Each name must be a value the graph computes.
func (m *Model) WithOutputs(names ...string) (*Model, error) {
	mp := m.ToProto()
	g := mp.GetGraph()
	have := map[string]bool{}
	for _, o := range g.GetOutput() {
		have[o.GetName()] = true
	}
	for _, name := range names {
		if _, ok := m.slotOf[name]; !ok {
			return nil, fmt.Errorf("the graph has no value named %q", name)
		}
		if have[name] {
			continue
		}
		have[name] = true
		g.Output = append(g.Output, &onnxpb.ValueInfoProto{Name: proto.String(name)})
	}
	c, err := Compile(mp, m.baseDir)
	if err != nil {
		return nil, err
	}
	c.Path = m.Path
	return c, nil
}

// NodesOfType returns the nodes of the given op type, in file order.
func (m *Model) NodesOfType(opType string) []*onnxpb.NodeProto {
	var out []*onnxpb.NodeProto
	for _, n := range m.Proto.GetGraph().GetNode() {
		if n.GetOpType() == opType {
			out = append(out, n)
		}
	}
	return out
}

// Split cuts the graph at the value boundary into pre, the nodes that
// compute boundary from the graph input (its single output is boundary),
// and post, the rest of the graph, whose single input is boundary and
// whose outputs are the model's. pre(x) fed to post gives the model's
// outputs. It fails when boundary is not computed from the input, or when
// a node after the cut reads the graph input directly.
//
// post's input is declared with the shape boundary has for one zero sample
// when the input's sample shape is fixed, else with the input's type.
func (m *Model) Split(boundary string) (pre, post *Model, err error) {
	in, err := m.input()
	if err != nil {
		return nil, nil, err
	}
	mp := m.ToProto()
	g := mp.GetGraph()
	producer := map[string]int{}
	for i, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			if o != "" {
				producer[o] = i
			}
		}
	}
	if _, ok := producer[boundary]; !ok {
		return nil, nil, fmt.Errorf("split: no node computes %q", boundary)
	}
	// ancestors marks the nodes needed for targets, not expanding stop.
	ancestors := func(targets []string, stop string) []bool {
		keep := make([]bool, len(g.GetNode()))
		stack := append([]string(nil), targets...)
		for len(stack) > 0 {
			v := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			i, ok := producer[v]
			if !ok || keep[i] || v == stop {
				continue
			}
			keep[i] = true
			for _, x := range g.GetNode()[i].GetInput() {
				if x != "" {
					stack = append(stack, x)
				}
			}
		}
		return keep
	}
	preKeep := ancestors([]string{boundary}, "")
	var outs []string
	for _, o := range g.GetOutput() {
		outs = append(outs, o.GetName())
	}
	postKeep := ancestors(outs, boundary)
	readsInput := false
	for i, n := range g.GetNode() {
		for _, x := range n.GetInput() {
			if x != in.Name {
				continue
			}
			if postKeep[i] && !preKeep[i] {
				return nil, nil, fmt.Errorf("split: node %q (%s) after %q reads the graph input %q directly", n.GetName(), n.GetOpType(), boundary, in.Name)
			}
			if preKeep[i] {
				readsInput = true
			}
		}
	}
	if !readsInput {
		return nil, nil, fmt.Errorf("split: %q is not computed from the graph input %q", boundary, in.Name)
	}
	var inVI *onnxpb.ValueInfoProto
	for _, vi := range g.GetInput() {
		if vi.GetName() == in.Name {
			inVI = vi
		}
	}
	sub := func(keep []bool, inputs, outputs []*onnxpb.ValueInfoProto) (*Model, error) {
		sg := &onnxpb.GraphProto{Name: proto.String(g.GetName()), Input: inputs, Output: outputs}
		used := map[string]bool{}
		for i, n := range g.GetNode() {
			if keep[i] {
				sg.Node = append(sg.Node, proto.Clone(n).(*onnxpb.NodeProto))
				for _, x := range n.GetInput() {
					used[x] = true
				}
			}
		}
		for _, tp := range g.GetInitializer() {
			if used[tp.GetName()] {
				sg.Initializer = append(sg.Initializer, tp)
			}
		}
		for _, vi := range g.GetInput() {
			if vi.GetName() != in.Name && used[vi.GetName()] { // IR < 4 initializer inputs
				sg.Input = append(sg.Input, vi)
			}
		}
		smp := proto.Clone(&onnxpb.ModelProto{IrVersion: mp.IrVersion, OpsetImport: mp.OpsetImport, ProducerName: mp.ProducerName, MetadataProps: mp.MetadataProps}).(*onnxpb.ModelProto)
		smp.Graph = sg
		return Compile(smp, m.baseDir)
	}
	elem := int32(onnxpb.TensorProto_FLOAT)
	bVI := &onnxpb.ValueInfoProto{Name: proto.String(boundary), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: &elem}}}}
	pre, err = sub(preKeep, []*onnxpb.ValueInfoProto{proto.Clone(inVI).(*onnxpb.ValueInfoProto)}, []*onnxpb.ValueInfoProto{bVI})
	if err != nil {
		return nil, nil, fmt.Errorf("split: the part before %q: %w", boundary, err)
	}
	postIn := proto.Clone(inVI).(*onnxpb.ValueInfoProto)
	postIn.Name = proto.String(boundary)
	if shape := m.SampleShape(); shape != nil && !hasFree(shape) {
		res, err := pre.Run(context.Background(), map[string]*tensor.Tensor{in.Name: tensor.New(append([]int{1}, shape...)...)})
		if err == nil && res[boundary] != nil && res[boundary].Rank() >= 1 {
			dims := []*onnxpb.TensorShapeProto_Dimension{{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}}}
			if sh := inVI.GetType().GetTensorType().GetShape(); sh != nil && len(sh.GetDim()) > 0 {
				dims[0] = proto.Clone(sh.GetDim()[0]).(*onnxpb.TensorShapeProto_Dimension)
			}
			for _, d := range res[boundary].Shape[1:] {
				dims = append(dims, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
			}
			postIn.Type = &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: &elem, Shape: &onnxpb.TensorShapeProto{Dim: dims}}}}
		}
	}
	var outVIs []*onnxpb.ValueInfoProto
	for _, o := range g.GetOutput() {
		outVIs = append(outVIs, proto.Clone(o).(*onnxpb.ValueInfoProto))
	}
	post, err = sub(postKeep, []*onnxpb.ValueInfoProto{postIn}, outVIs)
	if err != nil {
		return nil, nil, fmt.Errorf("split: the part after %q: %w", boundary, err)
	}
	pre.Path, post.Path = m.Path, m.Path
	return pre, post, nil
}

func hasFree(shape []int) bool {
	for _, d := range shape {
		if d <= 0 {
			return true
		}
	}
	return false
}

// Metadata returns the model's metadata_props value for key, and whether
// it is set.
func (m *Model) Metadata(key string) (string, bool) {
	for _, p := range m.Proto.GetMetadataProps() {
		if p.GetKey() == key {
			return p.GetValue(), true
		}
	}
	return "", false
}

// SetMetadata sets (or replaces) a metadata_props entry of the edited
// model; saved files carry it, and other runtimes ignore it.
func (e *Editor) SetMetadata(key, value string) *Editor {
	for _, p := range e.mp.GetMetadataProps() {
		if p.GetKey() == key {
			p.Value = proto.String(value)
			return e
		}
	}
	e.mp.MetadataProps = append(e.mp.MetadataProps, &onnxpb.StringStringEntryProto{Key: proto.String(key), Value: proto.String(value)})
	return e
}

// InputName returns the name of the model's single float graph input.
func (m *Model) InputName() (string, error) {
	in, err := m.input()
	return in.Name, err
}
