package onnxmodel

import (
	"fmt"
	"sort"
	"strings"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
)

// UnsupportedOps returns every op type of the model's main graph that the
// engine has no op for, with the number of nodes using it. Ops of another
// domain than the default ONNX one are keyed "domain.OpType". An empty map
// means every op type is registered (the model may still fail to load for
// other reasons: attributes, shapes).
func UnsupportedOps(mp *onnxpb.ModelProto) map[string]int {
	out := map[string]int{}
	for _, n := range mp.GetGraph().GetNode() {
		op := n.GetOpType()
		if d := n.GetDomain(); d != "" && d != "ai.onnx" {
			out[d+"."+op]++
		} else if !IsSupported(op) {
			out[op]++
		}
	}
	return out
}

// UnsupportedOpsError is the load error of a model that uses op types the
// engine lacks: Ops holds all of them with their node counts.
type UnsupportedOpsError struct {
	Ops map[string]int
}

// Error lists the op types, most used first.
func (e *UnsupportedOpsError) Error() string {
	names := make([]string, 0, len(e.Ops))
	for op := range e.Ops {
		names = append(names, op)
	}
	sort.Slice(names, func(i, j int) bool {
		if e.Ops[names[i]] != e.Ops[names[j]] {
			return e.Ops[names[i]] > e.Ops[names[j]]
		}
		return names[i] < names[j]
	})
	parts := make([]string, len(names))
	for i, op := range names {
		s := "s"
		if e.Ops[op] == 1 {
			s = ""
		}
		parts[i] = fmt.Sprintf("%s (%d node%s)", op, e.Ops[op], s)
	}
	return fmt.Sprintf("%d op type(s) not supported by advtest's engine: %s (supported: see `advtest inspect`)", len(names), strings.Join(parts, ", "))
}
