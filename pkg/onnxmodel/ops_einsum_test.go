package onnxmodel

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/advtest/advtest/pkg/tensor"
)

func einsumOpFor(t *testing.T, eq string, n int) Op {
	t.Helper()
	return buildOp(t, opSpec{opType: "Einsum", opset: 12, nInputs: n, attrs: attrsOf(attrString("equation", eq))})
}

func TestEinsumHandComputed(t *testing.T) {
	a := ft(sh(2, 3), 1, 2, 3, 4, 5, 6)
	b := ft(sh(3, 2), 1, 0, 0, 1, 1, 1)
	sq := ft(sh(2, 2), 1, 2, 3, 4)
	cases := []struct {
		eq   string
		in   []*tensor.Tensor
		want *tensor.Tensor
	}{
		{"ij,jk->ik", []*tensor.Tensor{a, b}, ft(sh(2, 2), 4, 5, 10, 11)},
		{"ij,jk", []*tensor.Tensor{a, b}, ft(sh(2, 2), 4, 5, 10, 11)},
		{"ij->ji", []*tensor.Tensor{a}, ft(sh(3, 2), 1, 4, 2, 5, 3, 6)},
		{"ba", []*tensor.Tensor{a}, ft(sh(3, 2), 1, 4, 2, 5, 3, 6)}, // implicit output "ab"
		{"ij->", []*tensor.Tensor{a}, ft(sh(), 21)},
		{"ij->j", []*tensor.Tensor{a}, ft(sh(3), 5, 7, 9)},
		{"ii->i", []*tensor.Tensor{sq}, ft(sh(2), 1, 4)},
		{"ii", []*tensor.Tensor{sq}, ft(sh(), 5)},
		{"i,i", []*tensor.Tensor{ft(sh(3), 1, 2, 3), ft(sh(3), 4, 5, 6)}, ft(sh(), 32)},
		{"i,j->ij", []*tensor.Tensor{ft(sh(2), 1, 2), ft(sh(2), 3, 4)}, ft(sh(2, 2), 3, 4, 6, 8)},
		{"...j,j->...", []*tensor.Tensor{a, ft(sh(3), 1, 1, 1)}, ft(sh(2), 6, 15)},
		{"Ab,bC->AC", []*tensor.Tensor{a, b}, ft(sh(2, 2), 4, 5, 10, 11)},
		{"ij,jk,kl->il", []*tensor.Tensor{a, b, sq}, ft(sh(2, 2), 19, 28, 43, 64)},
	}
	for _, c := range cases {
		t.Run(c.eq, func(t *testing.T) {
			wantTensor(t, fwd(t, einsumOpFor(t, c.eq, len(c.in)), c.in...)[0], c.want)
		})
	}
}

// TestEinsumMatchesDirectLoop checks the GEMM path against the direct
// label-assignment loop on shapes classifier exports use.
func TestEinsumMatchesDirectLoop(t *testing.T) {
	rng := rand.New(rand.NewPCG(71, 72))
	cases := []struct {
		eq     string
		shapes [][]int
	}{
		{"bhqd,bhkd->bhqk", [][]int{{2, 3, 4, 5}, {2, 3, 6, 5}}},
		{"bhqk,bhkd->bhqd", [][]int{{2, 3, 4, 6}, {2, 3, 6, 5}}},
		{"nchw,kc->nkhw", [][]int{{2, 3, 2, 2}, {4, 3}}},
		{"bij,bjk->bik", [][]int{{3, 2, 4}, {3, 4, 5}}},
		{"...ij,...jk->...ik", [][]int{{2, 1, 2, 3}, {4, 3, 2}}},
		{"bid,jd->bij", [][]int{{2, 3, 4}, {5, 4}}},
		{"abc,cd,de->abe", [][]int{{2, 3, 4}, {4, 5}, {5, 2}}},
		{"ijk->kij", [][]int{{2, 3, 4}}},
		{"ij,ij->i", [][]int{{3, 4}, {3, 4}}},
		{"ab,cd->", [][]int{{2, 3}, {3, 2}}},
		{"bii,bj->bj", [][]int{{2, 3, 3}, {2, 4}}},
		{"iij->j", [][]int{{3, 3, 2}}},
		{"ij,jj->i", [][]int{{2, 3}, {3, 3}}},
		{"ii->", [][]int{{4, 4}}},
	}
	for _, c := range cases {
		t.Run(c.eq, func(t *testing.T) {
			in := make([]*tensor.Tensor, len(c.shapes))
			for i, s := range c.shapes {
				in[i] = randTensor(rng, s...)
			}
			op := einsumOpFor(t, c.eq, len(in)).(*einsumOp)
			got := fwd(t, op, in...)[0]
			r, err := op.resolve(in)
			if err != nil {
				t.Fatal(err)
			}
			want := esSlow(&RunContext{}, r.terms, r.output, r.dims)
			if !tensor.SameShape(got.Shape, want.Shape) {
				t.Fatalf("shape %v, direct loop %v", got.Shape, want.Shape)
			}
			for i := range want.F {
				if math.Abs(float64(got.F[i]-want.F[i])) > 1e-4*(1+math.Abs(float64(want.F[i]))) {
					t.Fatalf("element %d: %v, direct loop %v", i, got.F[i], want.F[i])
				}
			}
		})
	}
}

func TestEinsumGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(73, 74))
	cases := []struct {
		eq     string
		shapes [][]int
	}{
		{"bhqd,bhkd->bhqk", [][]int{{1, 2, 3, 4}, {1, 2, 2, 4}}},
		{"ij,jk->ik", [][]int{{2, 3}, {3, 2}}},
		{"ij->", [][]int{{2, 3}}},
		{"ij,k->ik", [][]int{{2, 3}, {2}}}, // j summed from operand 0 alone
		{"ii->i", [][]int{{3, 3}}},
		{"bii,bj->bj", [][]int{{2, 2, 2}, {2, 3}}},
		{"...ij,...jk->...ik", [][]int{{2, 1, 2, 3}, {2, 3, 2}}},
		{"ab,bc,cd->ad", [][]int{{2, 3}, {3, 2}, {2, 2}}},
	}
	for _, c := range cases {
		t.Run(c.eq, func(t *testing.T) {
			in := make([]*tensor.Tensor, len(c.shapes))
			wrt := make([]int, len(c.shapes))
			for i, s := range c.shapes {
				in[i] = randTensor(rng, s...)
				wrt[i] = i
			}
			checkGradients(t, einsumOpFor(t, c.eq, len(in)), in, wrt, 1e-2, 1e-2)
		})
	}
}

func TestEinsumErrors(t *testing.T) {
	for _, c := range []struct {
		eq  string
		nIn int
	}{
		{"ij,jk->ik", 1},   // term count
		{"ij->ii", 1},      // repeated output label
		{"ij->k", 1},       // output label in no input
		{"i.j->ij", 1},     // bad character
		{"...i...->i", 1},  // two ellipses
		{"ij->...", 1},     // output ellipsis without input ellipsis
		{"ij->i->j", 1},    // two arrows
		{"ij,jk->ik,k", 2}, // two outputs
	} {
		n := &NodeInfo{Name: "bad", OpType: "Einsum", Opset: 12, Inputs: make([]string, c.nIn), Outputs: []string{"y"}, Attrs: attrMap(attrString("equation", c.eq))}
		if _, err := registry["Einsum"](n); err == nil {
			t.Errorf("Einsum %q with %d inputs: no build error", c.eq, c.nIn)
		}
	}
	if _, err := registry["Einsum"](&NodeInfo{OpType: "Einsum", Opset: 12, Inputs: []string{"a"}, Attrs: attrMap()}); err == nil {
		t.Error("Einsum without equation: no error")
	}
	op := einsumOpFor(t, "ij,jk->ik", 2)
	for _, in := range [][]*tensor.Tensor{
		{tensor.New(2, 3), tensor.New(4, 2)},    // size mismatch
		{tensor.New(2, 3, 1), tensor.New(3, 2)}, // rank mismatch
		{tensor.NewInt(2, 3), tensor.New(3, 2)}, // integer operand
	} {
		if _, _, err := op.Forward(&RunContext{}, in); err == nil {
			t.Errorf("Einsum %v: no error", in)
		}
	}
}

// esSlow evaluates the contraction by visiting every assignment of every
// label: target[…] += Π term[…], repeated labels (diagonals) included. It
// is the tests' reference for esContract.
func esSlow(rc *RunContext, terms []esTerm, target []int, dims map[int]int) *tensor.Tensor {
	var all []int
	seen := map[int]bool{}
	add := func(ls []int) {
		for _, l := range ls {
			if !seen[l] {
				seen[l] = true
				all = append(all, l)
			}
		}
	}
	for _, t := range terms {
		add(t.labels)
	}
	add(target)
	slot := map[int]int{}
	ext := make([]int, len(all))
	for i, l := range all {
		slot[l] = i
		ext[i] = dims[l]
	}
	// stride of every label slot in each operand and in the target.
	strideOf := func(shape []int, labels []int) []int {
		s := make([]int, len(all))
		st := tensor.Strides(shape)
		for a, l := range labels {
			s[slot[l]] += st[a]
		}
		return s
	}
	tshape := make([]int, len(target))
	for i, l := range target {
		tshape[i] = dims[l]
	}
	out := rc.Alloc(tshape...)
	ts := strideOf(tshape, target)
	os := make([][]int, len(terms))
	for i, t := range terms {
		os[i] = strideOf(t.t.Shape, t.labels)
	}
	total := tensor.Numel(ext)
	idx := make([]int, len(all))
	offs := make([]int, len(terms))
	for n := 0; n < total; n++ {
		unravel(n, ext, idx)
		to := 0
		for s, v := range idx {
			to += v * ts[s]
		}
		p := float32(1)
		for i := range terms {
			offs[i] = 0
			for s, v := range idx {
				offs[i] += v * os[i][s]
			}
			p *= terms[i].t.F[offs[i]]
		}
		out.F[to] += p
	}
	return out
}
