package onnxmodel

// Einsum (opset 12): Einstein summation over any number of float operands,
// with "..." (broadcast) dimensions, implicit outputs and repeated labels
// (diagonals). Operands are folded pairwise: labels no later operand or the
// output needs are summed out first, then each pair is one batched GEMM
// (batch labels × free labels of A × free labels of B, contracting the
// shared labels). A term with a repeated label is first replaced by its
// diagonal; a target with one is filled on its diagonal. The gradient of operand i is itself an
// einsum: of the output gradient and the other operands, into operand i's
// labels (labels that operand i alone carried are broadcast back).

import (
	"fmt"
	"sort"
	"strings"

	"github.com/advtest/advtest/pkg/tensor"
)

func init() {
	register("Einsum", buildEinsum)
}

// esEllipsis marks the "..." position in a parsed term.
const esEllipsis = -1

// einsumOp holds the parsed equation: each input term and the output as
// label lists (letters as 0..51, esEllipsis for "..."), explicit or not.
type einsumOp struct {
	eq       string
	inputs   [][]int
	output   []int
	explicit bool
}

func esLetter(r rune) (int, bool) {
	switch {
	case r >= 'a' && r <= 'z':
		return int(r - 'a'), true
	case r >= 'A' && r <= 'Z':
		return 26 + int(r-'A'), true
	}
	return 0, false
}

// parseTerm parses one side term such as "b...ij".
func parseTerm(s string) ([]int, error) {
	var out []int
	ell := false
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "...") {
			if ell {
				return nil, fmt.Errorf("term %q has more than one ellipsis", s)
			}
			ell = true
			out = append(out, esEllipsis)
			i += 3
			continue
		}
		l, ok := esLetter(rune(s[i]))
		if !ok {
			return nil, fmt.Errorf("term %q: character %q is not a letter or an ellipsis", s, s[i])
		}
		out = append(out, l)
		i++
	}
	return out, nil
}

func buildEinsum(n *NodeInfo) (Op, error) {
	if len(n.Inputs) < 1 {
		return nil, n.errorf("expected at least 1 input, got 0")
	}
	if !n.Has("equation") {
		return nil, n.errorf("attribute equation: required")
	}
	eq, err := n.String("equation", "")
	if err != nil {
		return nil, err
	}
	op := &einsumOp{eq: eq}
	s := strings.ReplaceAll(eq, " ", "")
	lhs, rhs, explicit := strings.Cut(s, "->")
	op.explicit = explicit
	terms := strings.Split(lhs, ",")
	if len(terms) != len(n.Inputs) {
		return nil, n.errorf("attribute equation: %q has %d input terms, the node has %d inputs", eq, len(terms), len(n.Inputs))
	}
	seenIn := map[int]bool{}
	anyEll := false
	for _, t := range terms {
		l, err := parseTerm(t)
		if err != nil {
			return nil, n.errorf("attribute equation: %v", err)
		}
		for _, v := range l {
			seenIn[v] = true
			if v == esEllipsis {
				anyEll = true
			}
		}
		op.inputs = append(op.inputs, l)
	}
	if explicit {
		if strings.Contains(rhs, "->") || strings.Contains(rhs, ",") {
			return nil, n.errorf("attribute equation: %q has more than one output term", eq)
		}
		if op.output, err = parseTerm(rhs); err != nil {
			return nil, n.errorf("attribute equation: output: %v", err)
		}
		seen := map[int]bool{}
		for _, v := range op.output {
			if seen[v] {
				return nil, n.errorf("attribute equation: output label repeated in %q", rhs)
			}
			seen[v] = true
			if !seenIn[v] {
				if v == esEllipsis {
					return nil, n.errorf("attribute equation: output has an ellipsis that no input has")
				}
				return nil, n.errorf("attribute equation: output label %q appears in no input", rhs)
			}
		}
	} else {
		// Implicit output: the ellipsis, then the labels used exactly once,
		// in alphabetical (character code) order.
		count := map[int]int{}
		for _, t := range op.inputs {
			for _, v := range t {
				count[v]++
			}
		}
		if anyEll {
			op.output = append(op.output, esEllipsis)
		}
		var once []int
		for v, c := range count {
			if v != esEllipsis && c == 1 {
				once = append(once, v)
			}
		}
		// Character order: 'A'..'Z' (26..51) before 'a'..'z' (0..25).
		sort.Slice(once, func(i, j int) bool { return esCharOrder(once[i]) < esCharOrder(once[j]) })
		op.output = append(op.output, once...)
	}
	return op, nil
}

func esCharOrder(l int) int {
	if l >= 26 {
		return l - 26
	}
	return l + 26
}

// esTerm is an operand with one label per axis.
type esTerm struct {
	t      *tensor.Tensor
	labels []int
}

// esResolved is an equation bound to concrete operands: ellipsis axes get
// labels 52, 53, … (right-aligned across operands), size-1 axes broadcast
// against a larger size are dropped, and every label has one size.
type esResolved struct {
	terms  []esTerm
	output []int
	dims   map[int]int
}

func (o *einsumOp) resolve(in []*tensor.Tensor) (*esResolved, error) {
	if err := checkInputs(in, len(o.inputs)); err != nil {
		return nil, err
	}
	if len(in) != len(o.inputs) {
		return nil, fmt.Errorf("equation %q: %d operands for %d terms", o.eq, len(in), len(o.inputs))
	}
	ellRank := 0
	for i, t := range o.inputs {
		if in[i].DType != tensor.Float32 {
			return nil, fmt.Errorf("equation %q: operand %d must be a float tensor, got %s", o.eq, i, in[i])
		}
		letters := 0
		hasEll := false
		for _, v := range t {
			if v == esEllipsis {
				hasEll = true
			} else {
				letters++
			}
		}
		r := in[i].Rank()
		if (!hasEll && r != letters) || (hasEll && r < letters) {
			return nil, fmt.Errorf("equation %q: operand %d has shape %v, term %d needs %d labelled axes", o.eq, i, in[i].Shape, i, letters)
		}
		if hasEll {
			ellRank = max(ellRank, r-letters)
		}
	}
	full := make([][]int, len(in))
	for i, t := range o.inputs {
		r := in[i].Rank()
		letters := 0
		for _, v := range t {
			if v != esEllipsis {
				letters++
			}
		}
		for _, v := range t {
			if v != esEllipsis {
				full[i] = append(full[i], v)
				continue
			}
			k := r - letters
			for j := 0; j < k; j++ {
				full[i] = append(full[i], 52+ellRank-k+j)
			}
		}
	}
	var out []int
	for _, v := range o.output {
		if v != esEllipsis {
			out = append(out, v)
			continue
		}
		for j := 0; j < ellRank; j++ {
			out = append(out, 52+j)
		}
	}
	// Sizes: every label has one size; 1 broadcasts against a larger size.
	dims := map[int]int{}
	for i, ls := range full {
		for a, l := range ls {
			d := in[i].Shape[a]
			if cur, ok := dims[l]; !ok || cur == 1 {
				dims[l] = d
			} else if d != cur && d != 1 {
				return nil, fmt.Errorf("equation %q: label %s has sizes %d and %d", o.eq, esName(l), cur, d)
			}
		}
	}
	res := &esResolved{output: out, dims: dims}
	for i, ls := range full {
		t := in[i]
		var keep []int
		var shape []int
		for a, l := range ls {
			if t.Shape[a] == 1 && dims[l] != 1 {
				continue // broadcast: drop the axis
			}
			keep = append(keep, l)
			shape = append(shape, t.Shape[a])
		}
		res.terms = append(res.terms, esTerm{t: t.Reshaped(shape...), labels: keep})
	}
	return res, nil
}

func esName(l int) string {
	switch {
	case l < 26:
		return string(rune('a' + l))
	case l < 52:
		return string(rune('A' + l - 26))
	}
	return fmt.Sprintf("...[%d]", l-52)
}

func hasRepeat(ls []int) bool {
	seen := map[int]bool{}
	for _, l := range ls {
		if seen[l] {
			return true
		}
		seen[l] = true
	}
	return false
}

// esContract computes Σ Π terms into a tensor with labels target (labels of
// target that no term has are broadcast).
func esContract(rc *RunContext, terms []esTerm, target []int, dims map[int]int) *tensor.Tensor {
	if hasRepeat(target) {
		// Contract into the distinct labels, then write the result onto the
		// diagonal of a zero tensor of the target's shape.
		uniq := esUnique(target)
		r := esContract(rc, terms, uniq, dims)
		shape := make([]int, len(target))
		for i, l := range target {
			shape[i] = dims[l]
		}
		out := rc.Alloc(shape...)
		if out.Len() > 0 {
			copyTensor(NewLoopPlan(r.Shape, esDiagStrides(shape, target, uniq), tensor.Strides(r.Shape)), out, 0, r, 0)
		}
		return out
	}
	terms = append([]esTerm(nil), terms...)
	for i, t := range terms {
		if hasRepeat(t.labels) {
			terms[i] = esDiagonal(rc, t)
		}
	}
	cur := terms[0]
	for k := 1; k < len(terms); k++ {
		need := map[int]bool{}
		for _, l := range target {
			need[l] = true
		}
		for _, t := range terms[k+1:] {
			for _, l := range t.labels {
				need[l] = true
			}
		}
		cur = esPair(rc, cur, terms[k], need)
	}
	keep := map[int]bool{}
	for _, l := range target {
		keep[l] = true
	}
	cur = esSum(rc, cur, keep)
	return esArrange(rc, cur, target, dims)
}

// esUnique returns the distinct labels of ls in first-occurrence order.
func esUnique(ls []int) []int {
	var out []int
	for _, l := range ls {
		if indexOf(out, l) < 0 {
			out = append(out, l)
		}
	}
	return out
}

// esDiagStrides returns, for each label of uniq, its stride in a dense
// tensor of shape with labels ls: the sum of the strides of the axes that
// carry it (so that walking uniq walks the diagonal).
func esDiagStrides(shape, ls, uniq []int) []int {
	st := tensor.Strides(shape)
	out := make([]int, len(uniq))
	for a, l := range ls {
		out[indexOf(uniq, l)] += st[a]
	}
	return out
}

// esDiagonal returns t's diagonal over its repeated labels: a term with
// each label once.
func esDiagonal(rc *RunContext, t esTerm) esTerm {
	uniq := esUnique(t.labels)
	shape := make([]int, len(uniq))
	for i, l := range uniq {
		shape[i] = t.t.Shape[indexOf(t.labels, l)]
	}
	out := rc.Alloc(shape...)
	if out.Len() > 0 {
		copyTensor(NewLoopPlan(shape, tensor.Strides(shape), esDiagStrides(t.t.Shape, t.labels, uniq)), out, 0, t.t, 0)
	}
	return esTerm{t: out, labels: uniq}
}

// esSum sums t over the labels not in keep (the others keep their order).
func esSum(rc *RunContext, t esTerm, keep map[int]bool) esTerm {
	var kept, gone []int
	for a, l := range t.labels {
		if keep[l] {
			kept = append(kept, a)
		} else {
			gone = append(gone, a)
		}
	}
	if len(gone) == 0 {
		return t
	}
	perm := append(append([]int{}, kept...), gone...)
	p := permuteTensor(rc, t.t, perm)
	outShape := make([]int, len(kept))
	labels := make([]int, len(kept))
	for i, a := range kept {
		outShape[i] = t.t.Shape[a]
		labels[i] = t.labels[a]
	}
	inner := 1
	for _, a := range gone {
		inner *= t.t.Shape[a]
	}
	out := rc.Alloc(outShape...)
	for i := range out.F {
		var s float64
		for _, v := range p.F[i*inner : (i+1)*inner] {
			s += float64(v)
		}
		out.F[i] = float32(s)
	}
	return esTerm{t: out, labels: labels}
}

// esArrange permutes t to the label order target, broadcasting labels t
// lacks.
func esArrange(rc *RunContext, t esTerm, target []int, dims map[int]int) *tensor.Tensor {
	pos := map[int]int{}
	for a, l := range t.labels {
		pos[l] = a
	}
	var perm []int
	for _, l := range target {
		if a, ok := pos[l]; ok {
			perm = append(perm, a)
		}
	}
	p := permuteTensor(rc, t.t, perm)
	if len(perm) == len(target) {
		return p
	}
	// Broadcast: view p with size-1 axes where target has labels t lacks.
	view := make([]int, len(target))
	shape := make([]int, len(target))
	for i, l := range target {
		shape[i] = dims[l]
		view[i] = 1
		if a, ok := pos[l]; ok {
			view[i] = t.t.Shape[a]
		}
	}
	out := rc.Alloc(shape...)
	BroadcastTo(out, p.Reshaped(view...))
	return out
}

// esPair contracts two terms (unique labels each), keeping the labels in
// need and those the pair shares with nothing else summed out.
func esPair(rc *RunContext, a, b esTerm, need map[int]bool) esTerm {
	inA, inB := map[int]bool{}, map[int]bool{}
	for _, l := range a.labels {
		inA[l] = true
	}
	for _, l := range b.labels {
		inB[l] = true
	}
	keepA, keepB := map[int]bool{}, map[int]bool{}
	for l := range inA {
		keepA[l] = need[l] || inB[l]
	}
	for l := range inB {
		keepB[l] = need[l] || inA[l]
	}
	a, b = esSum(rc, a, keepA), esSum(rc, b, keepB)
	var batch, free1, contract, free2 []int
	for _, l := range a.labels {
		switch {
		case inB[l] && need[l]:
			batch = append(batch, l)
		case inB[l]:
			contract = append(contract, l)
		default:
			free1 = append(free1, l)
		}
	}
	for _, l := range b.labels {
		if !inA[l] {
			free2 = append(free2, l)
		}
	}
	size := func(t esTerm, ls []int) int {
		n := 1
		for _, l := range ls {
			for ax, m := range t.labels {
				if m == l {
					n *= t.t.Shape[ax]
				}
			}
		}
		return n
	}
	nb, m, k, nn := size(a, batch), size(a, free1), size(a, contract), size(b, free2)
	at := esArrange(rc, a, append(append(append([]int{}, batch...), free1...), contract...), nil)
	bt := esArrange(rc, b, append(append(append([]int{}, batch...), contract...), free2...), nil)
	labels := append(append(append([]int{}, batch...), free1...), free2...)
	shape := make([]int, 0, len(labels))
	for _, l := range labels {
		if inA[l] {
			shape = append(shape, at.Shape[indexOf(append(append(append([]int{}, batch...), free1...), contract...), l)])
		} else {
			shape = append(shape, bt.Shape[indexOf(append(append(append([]int{}, batch...), contract...), free2...), l)])
		}
	}
	out := rc.Alloc(shape...)
	if m*nn > 0 {
		for i := 0; i < nb; i++ {
			tensor.Gemm(false, false, m, nn, k, 1, at.F[i*m*k:(i+1)*m*k], max(1, k), bt.F[i*k*nn:(i+1)*k*nn], max(1, nn), 0, out.F[i*m*nn:(i+1)*m*nn], max(1, nn))
		}
	}
	return esTerm{t: out, labels: labels}
}

func indexOf(ls []int, l int) int {
	for i, v := range ls {
		if v == l {
			return i
		}
	}
	return -1
}

// Forward evaluates the equation.
func (o *einsumOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	r, err := o.resolve(in)
	if err != nil {
		return nil, nil, err
	}
	shape := make([]int, len(r.output))
	for i, l := range r.output {
		shape[i] = r.dims[l]
	}
	dims := make([]int64, len(shape))
	for i, d := range shape {
		dims[i] = int64(d)
	}
	if _, err := checkedNumel(dims); err != nil {
		return nil, nil, fmt.Errorf("equation %q: output %v: %v", o.eq, shape, err)
	}
	return []*tensor.Tensor{esContract(rc, r.terms, r.output, r.dims)}, nil, nil
}

// Backward: the gradient of operand i is the einsum of the output gradient
// (output labels) and the other operands into operand i's labels.
func (o *einsumOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, len(in))
	r, err := o.resolve(in)
	if err != nil {
		return nil, err
	}
	shape := make([]int, len(r.output))
	for i, l := range r.output {
		shape[i] = r.dims[l]
	}
	g, err := gradFor(gOut, 0, shape)
	if err != nil {
		return nil, err
	}
	for i := range in {
		if !wants(need, i) {
			continue
		}
		if g == nil {
			grads[i] = rc.Alloc(in[i].Shape...)
			continue
		}
		terms := []esTerm{{t: g, labels: r.output}}
		for j, t := range r.terms {
			if j != i {
				terms = append(terms, t)
			}
		}
		// With a repeated label the gradient lives on the diagonal only.
		gi := esContract(rc, terms, r.terms[i].labels, r.dims)
		grads[i] = gi.Reshaped(in[i].Shape...)
	}
	return grads, nil
}
