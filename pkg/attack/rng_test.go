package attack

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/advtest/advtest/pkg/tensor"
)

// shardSpecs gives each registered attack small budgets for the sharding
// test; an attack missing here runs with its defaults.
var shardSpecs = map[string]string{
	"fgsm":       "fgsm:eps=0.1",
	"bim":        "bim:eps=0.05,steps=5",
	"pgd":        "pgd:eps=0.08,steps=6,restarts=3",
	"mifgsm":     "mifgsm:eps=0.1,steps=5",
	"apgd":       "apgd:eps=0.05,steps=8,restarts=2,loss=cw",
	"apgd-ce":    "apgd-ce:eps=0.05,steps=8,restarts=2",
	"apgd-dlr":   "apgd-dlr:norm=l2,eps=0.3,steps=8",
	"apgd-t":     "apgd-t:eps=0.05,steps=6,n_targets=2",
	"autoattack": "autoattack:eps=0.05,steps=6,n_targets=2",
	"deepfool":   "deepfool:max_iter=10",
	"cw":         "cw:max_iter=20,binary_steps=2",
	"jsma":       "jsma:gamma=0.3",
	"lbfgs":      "lbfgs:max_iter=8,search_steps=2",
	"square":     "square:eps=0.1,max_queries=80",
	"simba":      "simba:max_queries=80",
	"nes":        "nes:eps=0.1,samples=6,max_queries=80",
	"hsja":       "hsja:max_queries=150",
	"boundary":   "boundary:max_queries=150",
	"onepixel":   "onepixel:pop_size=6,max_queries=60",
	"transfer":   "", // needs a surrogate file: transfer_test.go covers it
}

// chunk is a part of a batch run on its own: batch positions pos of the
// whole batch, in that order.
type chunk []int

// runChunks runs a over the samples of whole in the given chunks (each a
// batch of its own, carrying the samples' global indices) and assembles
// the per-sample outcome in whole's order. Every chunk gets a generator in
// the same state, as pkg/eval gives every batch of one attack.
func runChunks(t *testing.T, a Attack, clf Classifier, whole Batch, chunks []chunk) *Outcome {
	t.Helper()
	n, d := whole.Len(), len(whole.X.F)/whole.Len()
	out := &Outcome{
		XAdv:          tensor.New(whole.X.Shape...),
		Fooled:        make([]bool, n),
		Misclassified: make([]bool, n),
		Skipped:       make([]bool, n),
		GradEvals:     make([]int, n),
		Queries:       make([]int, n),
	}
	for _, ch := range chunks {
		x := tensor.New(append([]int{len(ch)}, whole.X.Shape[1:]...)...)
		b := Batch{X: x, Y: make([]int, len(ch)), Index: make([]int, len(ch))}
		if whole.Targets != nil {
			b.Targets = make([]int, len(ch))
		}
		for j, i := range ch {
			copy(x.F[j*d:(j+1)*d], whole.X.F[i*d:(i+1)*d])
			b.Y[j], b.Index[j] = whole.Y[i], whole.SampleIndex(i)
			if whole.Targets != nil {
				b.Targets[j] = whole.Targets[i]
			}
		}
		o, err := a.Run(context.Background(), clf, b, rand.New(rand.NewPCG(7, 11)))
		if err != nil {
			t.Fatalf("%s: %v", a.Name(), err)
		}
		if o.Targets != nil && out.Targets == nil {
			out.Targets = make([]int, n)
		}
		for j, i := range ch {
			copy(out.XAdv.F[i*d:(i+1)*d], o.XAdv.F[j*d:(j+1)*d])
			out.Fooled[i], out.Misclassified[i], out.Skipped[i] = o.Fooled[j], o.Misclassified[j], o.Skipped[j]
			out.GradEvals[i], out.Queries[i] = o.GradEvals[j], o.Queries[j]
			if o.Targets != nil {
				out.Targets[i] = o.Targets[j]
			}
		}
	}
	return out
}

// sameOutcome reports the first per-sample difference between two
// outcomes, bit for bit.
func sameOutcome(t *testing.T, what string, want, got *Outcome, d int) {
	t.Helper()
	for i := range want.Fooled {
		for k := i * d; k < (i+1)*d; k++ {
			if math.Float32bits(want.XAdv.F[k]) != math.Float32bits(got.XAdv.F[k]) {
				t.Errorf("%s: sample %d: x_adv[%d] = %v, single batch gave %v", what, i, k-i*d, got.XAdv.F[k], want.XAdv.F[k])
				return
			}
		}
		if want.Fooled[i] != got.Fooled[i] || want.Misclassified[i] != got.Misclassified[i] || want.Skipped[i] != got.Skipped[i] {
			t.Errorf("%s: sample %d: fooled/misclassified/skipped %v/%v/%v, single batch %v/%v/%v", what, i,
				got.Fooled[i], got.Misclassified[i], got.Skipped[i], want.Fooled[i], want.Misclassified[i], want.Skipped[i])
			return
		}
		if want.GradEvals[i] != got.GradEvals[i] || want.Queries[i] != got.Queries[i] {
			t.Errorf("%s: sample %d: %d grad evals and %d queries, single batch %d and %d", what, i,
				got.GradEvals[i], got.Queries[i], want.GradEvals[i], want.Queries[i])
			return
		}
	}
	if !slices.Equal(want.Targets, got.Targets) {
		t.Errorf("%s: targets %v, single batch %v", what, got.Targets, want.Targets)
	}
}

// TestShardingReproducesSingleRun runs every registered attack over N
// samples as one batch and as three uneven chunks (different batch sizes,
// offsets, one of them out of order) and asks for bit-identical per-sample
// outcomes: each sample's randomness comes from (run key, global index)
// alone. The batch starts at global index 100, as a shard would.
func TestShardingReproducesSingleRun(t *testing.T) {
	toy := newToyMLP(5, 16, 24, 4, 13)
	whole := toy.b
	n, d := whole.Len(), len(whole.X.F)/whole.Len()
	whole.Y = append([]int(nil), whole.Y...)
	whole.Y[3] = (whole.Y[3] + 1) % 4 // a misclassified sample: skipped
	whole.Index = make([]int, n)
	for i := range whole.Index {
		whole.Index[i] = 100 + i
	}
	all := make(chunk, n)
	for i := range all {
		all[i] = i
	}
	split := []chunk{{0, 1, 2, 3, 4, 5}, {11, 6, 9}, {7, 8, 10, 12}}
	for _, name := range Names() {
		spec, ok := shardSpecs[name]
		if ok && spec == "" {
			continue
		}
		if !ok {
			spec = name
		}
		for _, targeted := range []bool{false, true} {
			s := spec
			if targeted {
				if noTargetedForm[name] {
					continue
				}
				s = withSuffix(s, ",targeted=true,target=random")
			}
			t.Run(s, func(t *testing.T) {
				a := mustNew(t, s)
				one := runChunks(t, a, toy.clf, whole, []chunk{all})
				if targeted && one.Targets == nil {
					t.Fatal("targeted run reports no targets")
				}
				sameOutcome(t, "3 chunks", one, runChunks(t, a, toy.clf, whole, split), d)
				// Different randomness for different global indices: the
				// same samples at other indices must not all repeat.
				shifted := whole
				shifted.Index = make([]int, n)
				for i := range shifted.Index {
					shifted.Index[i] = 5000 + i
				}
				if targeted {
					o := runChunks(t, a, toy.clf, shifted, []chunk{all})
					if slices.Equal(o.Targets, one.Targets) {
						t.Errorf("random targets do not depend on the sample index: %v", o.Targets)
					}
				}
			})
		}
	}
}

// TestSampleRNGStreams checks that SampleRNG depends on both the key and
// the index, and that RunKey takes exactly one draw.
func TestSampleRNGStreams(t *testing.T) {
	a, b, c := SampleRNG(1, 0).Uint64(), SampleRNG(1, 1).Uint64(), SampleRNG(2, 0).Uint64()
	if a == b || a == c || b == c {
		t.Errorf("streams collide: %x %x %x", a, b, c)
	}
	if SampleRNG(1, 1).Uint64() != b {
		t.Error("SampleRNG is not deterministic")
	}
	r1, r2 := rand.New(rand.NewPCG(3, 4)), rand.New(rand.NewPCG(3, 4))
	RunKey(r1)
	r2.Uint64()
	if r1.Uint64() != r2.Uint64() {
		t.Error("RunKey does not take exactly one draw")
	}
}
