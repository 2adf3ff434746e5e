package defend

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/advtest/advtest/internal/attacktest"
	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/tensor"
)

// TestGaussianNoiseRegistered checks the registry entry that `advtest
// defences` lists: name, kind, documented parameters with their defaults,
// and refused values.
func TestGaussianNoiseRegistered(t *testing.T) {
	if !slices.Contains(Names(), InferenceNoiseDefence) {
		t.Fatalf("%s is not among the registered defences %v", InferenceNoiseDefence, Names())
	}
	f, ok := Lookup(InferenceNoiseDefence)
	if !ok || f.Kind != Preprocessor || f.Summary == "" {
		t.Fatalf("lookup: ok %v, kind %v, summary %q", ok, f.Kind, f.Summary)
	}
	var names []string
	for _, p := range f.Params {
		names = append(names, p.Name)
		if p.Doc == "" || p.Default == "" {
			t.Errorf("parameter %s undocumented: %+v", p.Name, p)
		}
	}
	if !slices.Equal(names, []string{"sigma", "clip", "min", "max"}) {
		t.Errorf("parameters %v", names)
	}
	d, err := New(InferenceNoiseDefence, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"sigma": 0.1, "clip": true, "min": 0.0, "max": 1.0}
	for k, v := range want {
		if got := d.Params()[k]; got != v {
			t.Errorf("default %s = %v (%T), want %v", k, got, got, v)
		}
	}
	for _, bad := range []map[string]string{{"sigma": "0"}, {"sigma": "-1"}, {"sigma": "inf"}, {"min": "1", "max": "0"}, {"bits": "2"}} {
		if _, err := New(InferenceNoiseDefence, bad); err == nil || !strings.Contains(err.Error(), InferenceNoiseDefence) {
			t.Errorf("%v: error %v, want one naming the defence", bad, err)
		}
	}
	if _, err := New(InferenceNoiseDefence, map[string]string{"clip": "false", "min": "1", "max": "0"}); err != nil {
		t.Errorf("clip=false ignores the range: %v", err)
	}
}

// TestGaussianNoiseSavesAndMarks applies the defence to the MNIST MLP,
// saves and reloads it (onnxmodel's loader runs the random op), and
// checks: the mark survives; the graph's noise has the asked-for
// distribution (mean 0, sd σ before clipping, every value in [0, 1]); a
// fresh compile replays the same draws while successive runs differ; the
// model is not marked per-sample; Adaptive returns EOT over the rest of
// the graph with the mark's noise, and AdaptiveWith passes seed and draws.
func TestGaussianNoiseSavesAndMarks(t *testing.T) {
	m := needModel(t, "mnist_mlp.onnx")
	x := needMNIST(t, 16).X
	ctx := context.Background()
	d, err := New(InferenceNoiseDefence, map[string]string{"sigma": "0.3"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := d.Apply(ctx, m, TrainData{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := saveAndReload(t, h)
	mk, ok, err := NoiseMarkOf(r)
	if err != nil || !ok {
		t.Fatalf("reloaded mark: ok %v, %v", ok, err)
	}
	if want := (Noise{Sigma: 0.3, Clip: true, Min: 0, Max: 1}); mk.Noise != want || mk.Output == "" {
		t.Fatalf("mark %+v, want %+v and an output", mk, want)
	}
	if !r.Randomised() || r.PerSample || len(r.NodesOfType("RandomNormalLike")) != 1 {
		t.Fatalf("Randomised %v, PerSample %v, %d RandomNormalLike nodes", r.Randomised(), r.PerSample, len(r.NodesOfType("RandomNormalLike")))
	}
	// Same first draws from the saved and the reloaded model, fresh ones next.
	a1, _ := h.Logits(ctx, x)
	b1, _ := r.Logits(ctx, x)
	b2, _ := r.Logits(ctx, x)
	if !slices.Equal(a1.F, b1.F) {
		t.Error("the reloaded model's first run differs from the saved model's")
	}
	if slices.Equal(b1.F, b2.F) {
		t.Error("two runs of the noisy model gave the same logits")
	}
	// The noise itself, from the part of the graph in front of the mark:
	// on x = 0.5 everywhere, clipping to [0, 1] cuts at 1.67σ.
	pre, _, err := r.Split(mk.Output)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := r.InputName()
	half := tensor.New(64, 1, 28, 28)
	for i := range half.F {
		half.F[i] = 0.5
	}
	res, err := pre.Run(ctx, map[string]*tensor.Tensor{in: half})
	if err != nil {
		t.Fatal(err)
	}
	noisy := res[mk.Output]
	var s, s2 float64
	for _, v := range noisy.F {
		if v < 0 || v > 1 {
			t.Fatalf("noisy value %g outside the clip range", v)
		}
		s += float64(v) - 0.5
		s2 += (float64(v) - 0.5) * (float64(v) - 0.5)
	}
	n := float64(noisy.Len())
	mean, sd := s/n, math.Sqrt(s2/n-(s/n)*(s/n))
	// The sd of N(0, 0.3²) clipped at ±0.5 (±1.667σ) is 0.2747.
	t.Logf("noise on 0.5: mean %.4f, sd %.4f over %d values (clipped N(0, 0.3²): 0, 0.2747)", mean, sd, noisy.Len())
	if math.Abs(mean) > 0.005 || math.Abs(sd-0.2747) > 0.005 {
		t.Errorf("noise mean %g, sd %g; want 0, 0.2747", mean, sd)
	}
	// Adaptive: EOT over the graph behind the noise.
	clf, err := Adaptive(r)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := clf.(*EOT)
	if !ok || e.K != DefaultEOTDraws {
		t.Fatalf("Adaptive returned %T (K %v), want *EOT with K %d", clf, e, DefaultEOTDraws)
	}
	post, ok := e.Clf.(*onnxmodel.Model)
	if !ok || post.Randomised() {
		t.Fatalf("EOT wraps %T (randomised %v), want the deterministic graph behind the noise", e.Clf, ok && post.Randomised())
	}
	// Its draws are the mark's noise, seeded: EOT by hand agrees.
	c5, err := AdaptiveWith(r, AdaptiveOptions{Seed: 5, Draws: 3})
	if err != nil {
		t.Fatal(err)
	}
	byHand, _ := NewEOT(post, mk.Sampler(), 3, 5)
	l1, _ := c5.Logits(ctx, x)
	l2, _ := byHand.Logits(ctx, x)
	if c5.(*EOT).K != 3 || !slices.Equal(l1.F, l2.F) {
		t.Error("AdaptiveWith(seed 5, 3 draws) differs from EOT(post, mark's noise, 3, 5)")
	}
	if _, err := AdaptiveWith(r, AdaptiveOptions{Draws: -1}); err == nil {
		t.Error("draws=-1: no error")
	}
	// A second noise layer is refused; so is a mark that lies about the graph.
	if _, err := d.Apply(ctx, r, TrainData{}, nil); err == nil || !strings.Contains(err.Error(), "already carries") {
		t.Errorf("noise on noise: %v", err)
	}
	liar, err := r.Edit().SetMetadata(NoiseKey, `{"sigma":0.5,"clip":true,"min":0,"max":1,"output":"`+mk.Output+`"}`).Build()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Adaptive(liar); err == nil || !strings.Contains(err.Error(), "scale") {
		t.Errorf("mark with the wrong sigma: %v", err)
	}
}

// TestNoiseComposesWithSqueeze checks Adaptive on both orders of noise and
// 2-bit squeezing, on the CNN, against the classifiers composed by hand
// with the same seed, and that the mark survives later rewrites:
//
//   - squeeze, then noise (x → noise → squeeze → f): EOT over BPDA;
//   - noise, then squeeze (x → squeeze → noise → f): BPDA in front of EOT,
//     its gradient the EOT gradient at the squeezed point;
//   - noise, then bounded-relu (an Edit rewrite): the mark is kept;
//   - noise, then a normalisation folded in front (x·2): the gradient is
//     exact through it, 2 × the EOT gradient at 2x;
//   - squeeze, noise, squeeze: refused.
func TestNoiseComposesWithSqueeze(t *testing.T) {
	m := needModel(t, "mnist_cnn.onnx")
	set := needMNIST(t, 8)
	ctx := context.Background()
	nz := Noise{Sigma: 0.2, Clip: true, Min: 0, Max: 1}
	sq := Squeezer{Bits: 2}
	ce := func(l *tensor.Tensor) (*tensor.Tensor, error) {
		g := tensor.New(l.Shape...)
		attack.CrossEntropy(g.F, nil, l, set.Y)
		return g, nil
	}
	opts := AdaptiveOptions{Seed: 9, Draws: 2}
	same := func(what string, a, b *tensor.Tensor, tol float32) {
		t.Helper()
		if a.Len() != b.Len() {
			t.Fatalf("%s: %v vs %v", what, a.Shape, b.Shape)
		}
		for i := range a.F {
			if abs32(a.F[i]-b.F[i]) > tol*(1+abs32(b.F[i])) {
				t.Fatalf("%s: element %d: %g vs %g", what, i, a.F[i], b.F[i])
			}
		}
	}

	// Noise outermost.
	s1, err := WithSqueezer(m, sq)
	if err != nil {
		t.Fatal(err)
	}
	outer, err := WithNoise(s1, nz)
	if err != nil {
		t.Fatal(err)
	}
	clf, err := AdaptiveWith(outer, opts)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := clf.(*EOT)
	if !ok {
		t.Fatalf("noise outermost: Adaptive returned %T, want *EOT", clf)
	}
	if _, ok := e.Clf.(*BPDA); !ok {
		t.Fatalf("noise outermost: EOT wraps %T, want *BPDA", e.Clf)
	}
	bp, _ := NewBPDA(s1)
	ref, _ := NewEOT(bp, nz.Sampler(), 2, 9)
	l, g, err := e.InputGradient(ctx, set.X, ce)
	if err != nil {
		t.Fatal(err)
	}
	lr, gr, _ := ref.InputGradient(ctx, set.X, ce)
	same("noise outermost: logits", l, lr, 1e-5)
	same("noise outermost: gradient", g, gr, 1e-5)

	// Noise innermost.
	n1, err := WithNoise(m, nz)
	if err != nil {
		t.Fatal(err)
	}
	inner, err := WithSqueezer(n1, sq)
	if err != nil {
		t.Fatal(err)
	}
	clf, err = AdaptiveWith(inner, opts)
	if err != nil {
		t.Fatal(err)
	}
	ch, ok := clf.(*chained)
	if !ok || !ch.straight {
		t.Fatalf("noise innermost: Adaptive returned %T, want BPDA (straight) in front of EOT", clf)
	}
	if _, ok := ch.post.(*EOT); !ok {
		t.Fatalf("noise innermost: behind the squeezer is %T, want *EOT", ch.post)
	}
	ref, _ = NewEOT(m, nz.Sampler(), 2, 9)
	xs := sq.Apply(set.X)
	l, g, err = clf.InputGradient(ctx, set.X, ce)
	if err != nil {
		t.Fatal(err)
	}
	lr, gr, _ = ref.InputGradient(ctx, xs, ce)
	same("noise innermost: logits", l, lr, 1e-4)
	same("noise innermost: gradient", g, gr, 1e-4)
	nonzero := false
	for _, v := range g.F {
		nonzero = nonzero || v != 0
	}
	if !nonzero {
		t.Error("noise innermost: the gradient is zero (Round's gradient was not bypassed)")
	}

	// Later rewrites keep the mark.
	br, err := New("bounded-relu", map[string]string{"t": "6"})
	if err != nil {
		t.Fatal(err)
	}
	rw, err := br.Apply(ctx, n1, TrainData{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := NoiseMarkOf(rw); !ok {
		t.Error("bounded-relu dropped the noise mark")
	}
	if clf, err := Adaptive(rw); err != nil {
		t.Errorf("bounded-relu after noise: %v", err)
	} else if _, ok := clf.(*EOT); !ok {
		t.Errorf("bounded-relu after noise: Adaptive returned %T, want *EOT", clf)
	}

	// A normalisation folded in front of the noise: exact gradient.
	scaled, err := n1.WithPreprocessing(onnxmodel.Preprocessing{Scale: 2})
	if err != nil {
		t.Fatal(err)
	}
	clf, err = AdaptiveWith(scaled, opts)
	if err != nil {
		t.Fatal(err)
	}
	if ch, ok := clf.(*chained); !ok || ch.straight {
		t.Fatalf("normalisation in front: Adaptive returned %T, want an exact chain in front of EOT", clf)
	}
	half := set.X.Clone()
	for i := range half.F {
		half.F[i] /= 2
	}
	l, g, err = clf.InputGradient(ctx, half, ce)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ = NewEOT(m, nz.Sampler(), 2, 9)
	lr, gr, _ = ref.InputGradient(ctx, set.X, ce)
	for i := range gr.F {
		gr.F[i] *= 2
	}
	same("normalisation in front: logits", l, lr, 1e-4)
	same("normalisation in front: gradient", g, gr, 1e-4)

	// Squeeze, noise, squeeze: the outer squeezer would have no mark.
	if _, err := WithSqueezer(outer, Squeezer{Median: 2}); err == nil || !strings.Contains(err.Error(), "behind its inference noise") {
		t.Errorf("squeeze, noise, squeeze: %v", err)
	}
}

// TestEOTUnmasksNoise is the randomised counterpart of
// TestBPDAUnmasksBitDepth (Athalye, Carlini and Wagner 2018, §4.3): the
// MNIST MLP behind large inference noise (σ = 0.5, clipped to [0, 1])
// looks robust to PGD that trusts one draw per step (the model itself as
// the classifier: each call runs the graph's RandomNormalLike once), but
// PGD through Adaptive's EOT (10 draws) fools it, at the same eps, on the
// same 40 samples. Both adversarial sets are judged by the same reference,
// the mean logits of 32 fresh draws (another seed), on the samples it
// classifies correctly; EOT's own reported SR is not lower than the
// single-draw attack's.
func TestEOTUnmasksNoise(t *testing.T) {
	m := needModel(t, "mnist_mlp.onnx")
	set := needMNIST(t, 40)
	ctx := context.Background()
	nz := Noise{Sigma: 0.5, Clip: true, Min: 0, Max: 1}
	h, err := WithNoise(m, nz)
	if err != nil {
		t.Fatal(err)
	}
	eot, err := AdaptiveWith(h, AdaptiveOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := NewEOT(m, nz.Sampler(), 32, 99)
	if err != nil {
		t.Fatal(err)
	}
	lr, err := ref.Logits(ctx, set.X)
	if err != nil {
		t.Fatal(err)
	}
	correct := make([]bool, set.Len())
	nCorrect := 0
	for i := range correct {
		correct[i] = sqArgmax(lr.F[i*10:(i+1)*10]) == set.Y[i]
		if correct[i] {
			nCorrect++
		}
	}
	if nCorrect < 30 {
		t.Fatalf("the reference classifies only %d of %d clean samples correctly", nCorrect, set.Len())
	}
	atk, err := attacktest.New("pgd:norm=linf,eps=0.15,steps=10")
	if err != nil {
		t.Fatal(err)
	}
	run := func(clf attack.Classifier) (reported, judged float64) {
		o, err := atk.Run(ctx, clf, attack.Batch{X: set.X, Y: set.Y}, rand.New(rand.NewPCG(3, 4)))
		if err != nil {
			t.Fatal(err)
		}
		reported, _ = o.SuccessRate()
		la, err := ref.Logits(ctx, o.XAdv)
		if err != nil {
			t.Fatal(err)
		}
		fooled := 0
		for i, ok := range correct {
			if ok && sqArgmax(la.F[i*10:(i+1)*10]) != set.Y[i] {
				fooled++
			}
		}
		return reported, float64(fooled) / float64(nCorrect)
	}
	singleRep, single := run(h)
	eotRep, through := run(eot)
	t.Logf("MLP + noise σ=0.5, PGD linf eps=0.15, 10 steps: reported SR %.2f one draw, %.2f EOT(10); judged by 32 fresh draws on %d samples: %.2f one draw, %.2f EOT", singleRep, eotRep, nCorrect, single, through)
	if single > 0.35 {
		t.Errorf("single-draw PGD: judged SR %.2f, expected the noisy gradient to keep it low", single)
	}
	if through < single+0.3 {
		t.Errorf("EOT PGD: judged SR %.2f, want at least 0.3 above the single-draw attack's %.2f", through, single)
	}
	if eotRep < singleRep {
		t.Errorf("EOT's reported SR %.2f is lower than the single-draw attack's %.2f", eotRep, singleRep)
	}
}
