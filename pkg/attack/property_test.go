package attack

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/tensor"
)

// propertySpecs exercises every registered attack with small budgets.
var propertySpecs = []string{
	"fgsm:eps=0.1",
	"fgsm:norm=l2,eps=0.5",
	"bim:eps=0.05",
	"bim:norm=l2,eps=0.3,steps=5",
	"pgd:eps=0.1,steps=10",
	"pgd:norm=l2,eps=0.4,steps=10,restarts=2",
	"pgd:eps=0.001,steps=5,loss=dlr",
	"pgd:norm=l2,eps=0.001,steps=5,loss=cw",
	"pgd:eps=0.1,steps=10,early_stop=false",
	"mifgsm:eps=0.1",
	"mifgsm:norm=l2,eps=0.5",
	"apgd:loss=cw,eps=0.05,steps=10,early_stop=false",
	"apgd-ce:eps=0.1,steps=12",
	"apgd-dlr:norm=l2,eps=0.5,steps=12",
	"apgd-t:eps=0.1,steps=10,n_targets=2",
	"deepfool",
	"deepfool:norm=linf,eps=0.05,nb_grads=2",
	"cw:max_iter=30,binary_steps=3",
	"cw:max_iter=30,binary_steps=3,eps=0.3,confidence=1",
	"jsma:gamma=0.5",
	"jsma:theta=-1,gamma=0.5",
	"lbfgs:max_iter=15,search_steps=3",
	"lbfgs:max_iter=10,search_steps=2,eps=0.2",
	"autoattack:eps=0.1,steps=10,n_targets=2",
	"autoattack:norm=l2,eps=0.5,steps=10",
}

// propertyCase is a classifier with a batch of random samples in its clip
// range and random labels (so some samples start misclassified).
type propertyCase struct {
	name   string
	clf    Classifier
	b      Batch
	bounds string // spec suffix
}

func propertyCases() []propertyCase {
	rng := rand.New(rand.NewPCG(42, 43))
	const d, n = 10, 12
	mk := func(lo, hi float32, c int) Batch {
		x := tensor.New(n, d)
		for i := range x.F {
			x.F[i] = lo + (hi-lo)*float32(rng.Float64())
		}
		x.F[0], x.F[1] = lo, hi // exercise the clip range's edges
		y := make([]int, n)
		for i := range y {
			y[i] = rng.IntN(c)
		}
		return Batch{X: x, Y: y}
	}
	lin := newLinear(rng, 3, d)
	mlp := newMLP(rng, d, 16, 4)
	return []propertyCase{
		{"linear", lin, mk(0, 1, 3), ""},
		{"mlp", mlp, mk(0, 1, 4), ""},
		{"mlp-shifted", mlp, mk(-0.5, 0.5, 4), ",min=-0.5,max=0.5"},
	}
}

func withSuffix(spec, suffix string) string {
	if suffix == "" {
		return spec
	}
	if !strings.Contains(spec, ":") {
		return spec + ":" + suffix[1:]
	}
	return spec + suffix
}

// checkOutcome asserts the contract every attack keeps.
func checkOutcome(t *testing.T, a Attack, clf Classifier, b Batch, o *Outcome, bounds Bounds) {
	t.Helper()
	n := b.Len()
	d := len(b.X.F) / n
	if !tensor.SameShape(o.XAdv.Shape, b.X.Shape) || len(o.Fooled) != n || len(o.Skipped) != n || len(o.GradEvals) != n || len(o.Queries) != n {
		t.Fatalf("outcome shapes: XAdv %v for X %v, %d/%d/%d/%d per-sample entries", o.XAdv.Shape, b.X.Shape, len(o.Fooled), len(o.Skipped), len(o.GradEvals), len(o.Queries))
	}
	lg, _ := clf.Logits(context.Background(), o.XAdv)
	clean, _ := clf.Logits(context.Background(), b.X)
	c := clf.NumClasses()
	for i := 0; i < n; i++ {
		xa, x := o.XAdv.F[i*d:(i+1)*d], b.X.F[i*d:(i+1)*d]
		for _, v := range xa {
			if !(v >= bounds.Min && v <= bounds.Max) {
				t.Fatalf("sample %d: value %g outside [%g, %g]", i, v, bounds.Min, bounds.Max)
			}
		}
		if eps := a.Eps(); eps > 0 {
			if dist := Dist(a.Norm(), xa, x); dist > eps*(1+1e-6) {
				t.Fatalf("sample %d: %s distance %.9g > eps %g", i, a.Norm(), dist, eps)
			}
		}
		wantSkip := argmax(clean.F[i*c:(i+1)*c]) != b.Y[i] || (b.Targets != nil && b.Targets[i] == b.Y[i])
		if o.Skipped[i] != wantSkip {
			t.Fatalf("sample %d: skipped %v, want %v", i, o.Skipped[i], wantSkip)
		}
		p := argmax(lg.F[i*c : (i+1)*c])
		want := p != b.Y[i]
		if b.Targets != nil {
			want = p == b.Targets[i]
		}
		if o.Skipped[i] {
			want = false
			if L0Dist(xa, x) != 0 {
				t.Fatalf("skipped sample %d was changed", i)
			}
		}
		if o.Fooled[i] != want {
			t.Fatalf("sample %d: Fooled %v but XAdv is classified %d (label %d)", i, o.Fooled[i], p, b.Y[i])
		}
		if o.Queries[i] < 1 {
			t.Fatalf("sample %d: %d queries counted", i, o.Queries[i])
		}
	}
}

// targetedOK lists the attacks without a targeted form.
func targetedOK(name string) bool { return name != "deepfool" && name != "autoattack" }

func TestAttackContract(t *testing.T) {
	cases := propertyCases()
	for _, spec := range propertySpecs {
		for _, pc := range cases {
			full := withSuffix(spec, pc.bounds)
			t.Run(pc.name+"/"+full, func(t *testing.T) {
				a := mustNew(t, full)
				bounds := DefaultBounds()
				if pc.bounds != "" {
					bounds = Bounds{-0.5, 0.5}
				}
				o := run(t, a, pc.clf, pc.b, 9)
				checkOutcome(t, a, pc.clf, pc.b, o, bounds)
				// Deterministic given the seed.
				o2 := run(t, a, pc.clf, pc.b, 9)
				for k := range o.XAdv.F {
					if math.Float32bits(o.XAdv.F[k]) != math.Float32bits(o2.XAdv.F[k]) {
						t.Fatalf("element %d differs between two runs with the same seed", k)
					}
				}
				if !targetedOK(a.Name()) {
					tb := pc.b
					tb.Targets = make([]int, tb.Len())
					if _, err := a.Run(context.Background(), pc.clf, tb, nil); err == nil {
						t.Fatal("targeted batch accepted by an untargeted-only attack")
					}
					return
				}
				tb := pc.b
				tb.Targets = make([]int, tb.Len())
				for i, y := range tb.Y {
					tb.Targets[i] = (y + 1 + i%2) % pc.clf.NumClasses()
				}
				tb.Targets[2] = tb.Y[2] // target = label: skipped
				ot := run(t, a, pc.clf, tb, 9)
				checkOutcome(t, a, pc.clf, tb, ot, bounds)
			})
		}
	}
}

// coveredElsewhere names attacks whose contract tests live in their own
// file, with the reason.
var coveredElsewhere = map[string]string{
	"transfer": "transfer_test.go: needs a surrogate ONNX model of the test data's shape",
}

// TestEverySpecNamesAnAttack keeps propertySpecs in step with the registry.
func TestEverySpecNamesAnAttack(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range propertySpecs {
		sp, err := ParseSpec(s)
		if err != nil {
			t.Fatal(err)
		}
		seen[sp.Name] = true
	}
	for _, n := range Names() {
		if !seen[n] && coveredElsewhere[n] == "" {
			t.Errorf("attack %s has no property test", n)
		}
	}
}

// cancelClf cancels its context after a number of calls.
type cancelClf struct {
	Classifier
	calls  int
	after  int
	cancel context.CancelFunc
}

func (c *cancelClf) tick() {
	c.calls++
	if c.calls == c.after {
		c.cancel()
	}
}

func (c *cancelClf) Logits(ctx context.Context, x *tensor.Tensor) (*tensor.Tensor, error) {
	c.tick()
	return c.Classifier.Logits(ctx, x)
}

func (c *cancelClf) InputGradient(ctx context.Context, x *tensor.Tensor, f func(*tensor.Tensor) (*tensor.Tensor, error)) (*tensor.Tensor, *tensor.Tensor, error) {
	c.tick()
	return c.Classifier.InputGradient(ctx, x, f)
}

func TestCancellation(t *testing.T) {
	toy := newToyMLP(3, 10, 16, 3, 10)
	for _, spec := range []string{"pgd:eps=0.01,steps=50", "apgd-ce:eps=0.01", "deepfool", "cw", "jsma:gamma=1", "lbfgs", "mifgsm:eps=0.01", "autoattack:eps=0.01"} {
		ctx, cancel := context.WithCancel(context.Background())
		clf := &cancelClf{Classifier: toy.clf, after: 3, cancel: cancel}
		_, err := mustNew(t, spec).Run(ctx, clf, toy.b, nil)
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: error %v after cancellation, want context.Canceled", spec, err)
		}
	}
}

func TestBadInput(t *testing.T) {
	toy := newToyMLP(3, 10, 16, 3, 4)
	a := mustNew(t, "pgd")
	out := toy.b.X.Clone()
	out.F[3] = 1.5
	for name, b := range map[string]Batch{
		"nil X":          {Y: toy.b.Y},
		"label count":    {X: toy.b.X, Y: toy.b.Y[:2]},
		"label range":    {X: toy.b.X, Y: []int{0, 1, 2, 3}},
		"target count":   {X: toy.b.X, Y: toy.b.Y, Targets: []int{1}},
		"outside bounds": {X: out, Y: toy.b.Y},
		"wrong shape":    {X: tensor.New(4, 7), Y: toy.b.Y},
	} {
		if _, err := a.Run(context.Background(), toy.clf, b, nil); err == nil || !strings.Contains(err.Error(), "pgd") {
			t.Errorf("%s: error %v, want one naming the attack", name, err)
		}
	}
	// An empty batch is not an error.
	o, err := a.Run(context.Background(), toy.clf, Batch{X: tensor.New(0, 10), Y: []int{}}, nil)
	if err != nil || o.XAdv.Len() != 0 {
		t.Errorf("empty batch: %v", err)
	}
}

// TestProjectionExact checks that the projections hold the ball exactly in
// float64, even for radii near float32 resolution.
func TestProjectionExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	const d = 300
	x := make([]float32, d)
	xa := make([]float32, d)
	for _, eps := range []float64{1e-7, 1e-5, 1e-3, 0.3, 3} {
		for trial := 0; trial < 20; trial++ {
			for k := range x {
				x[k] = float32(rng.Float64())
				xa[k] = x[k] + float32(rng.NormFloat64())
			}
			ProjectLinf(xa, x, eps, DefaultBounds())
			if got := LinfDist(xa, x); got > eps {
				t.Fatalf("Linf eps %g: distance %.10g", eps, got)
			}
			for k := range x {
				xa[k] = x[k] + float32(rng.NormFloat64())
			}
			ProjectL2(xa, x, eps, DefaultBounds())
			if got := L2Dist(xa, x); got > eps {
				t.Fatalf("L2 eps %g: distance %.10g", eps, got)
			}
			for _, v := range xa {
				if v < 0 || v > 1 {
					t.Fatalf("value %g outside [0, 1]", v)
				}
			}
		}
	}
	g := []float32{3, 4}
	if n := NormalizeL2(g); n != 5 || g[0] != 0.6 || g[1] != 0.8 {
		t.Errorf("NormalizeL2: norm %g, g %v", n, g)
	}
	if L0Dist([]float32{1, 2, 3}, []float32{1, 0, 0}) != 2 {
		t.Error("L0Dist")
	}
}
