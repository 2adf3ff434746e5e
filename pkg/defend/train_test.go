package defend

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/tensor"
)

func loadModel(t testing.TB, name string) *onnxmodel.Model {
	t.Helper()
	m, err := onnxmodel.Load("../../testdata/models/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func loadTabular(t testing.TB, train bool) *dataset.Set {
	t.Helper()
	x, y := "x.npy", "y.npy"
	if train {
		x, y = "x_train.npy", "y_train.npy"
	}
	s, err := dataset.Load("../../testdata/tabular/"+x, "../../testdata/tabular/"+y, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func loadMNIST(t testing.TB, n int) *dataset.Set {
	t.Helper()
	s, err := dataset.Load("../../testdata/mnist/test-1000-images.npy", "../../testdata/mnist/test-1000-labels.npy", dataset.Options{Limit: n})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func seeded(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 1)) }

// reinit gives m's trainable weights a fresh He-style initialisation
// (biases and 1-D parameters zero), so that training starts from scratch.
func reinit(m *onnxmodel.Model, rng *rand.Rand) {
	for _, name := range TrainableParams(m, nil) {
		p := m.Params[name]
		if p.Rank() < 2 {
			for k := range p.F {
				p.F[k] = 0
			}
			continue
		}
		fanIn := p.Len() / p.Shape[0]
		sd := math.Sqrt(2 / float64(fanIn))
		for k := range p.F {
			p.F[k] = float32(sd * rng.NormFloat64())
		}
	}
}

func cloneParams(m *onnxmodel.Model) map[string][]float32 {
	out := map[string][]float32{}
	for n, p := range m.Params {
		out[n] = append([]float32(nil), p.F...)
	}
	return out
}

func TestTrainLearnsTabular(t *testing.T) {
	for _, opt := range []string{Adam, SGD, AdamW} {
		t.Run(opt, func(t *testing.T) {
			m := loadModel(t, "tabular_mlp.onnx")
			reinit(m, seeded(7))
			train, test := loadTabular(t, true), loadTabular(t, false)
			before, err := Accuracy(context.Background(), m, test, 256)
			if err != nil {
				t.Fatal(err)
			}
			cfg := DefaultTrainConfig()
			cfg.Optimiser, cfg.Epochs, cfg.BatchSize = opt, 15, 32
			cfg.LR = map[string]float64{Adam: 0.01, AdamW: 0.01, SGD: 0.05}[opt]
			cfg.WeightDecay = 1e-4
			cfg.Schedule = ScheduleCosine
			calls := 0
			cfg.Progress = func(p Progress) { calls++ }
			res, err := Train(context.Background(), m, train, cfg, seeded(1))
			if err != nil {
				t.Fatal(err)
			}
			after, err := Accuracy(context.Background(), m, test, 256)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("loss %.3f -> %.3f, test accuracy %.3f -> %.3f", res.FirstLoss, res.LastEpochLoss, before, after)
			if !(res.LastEpochLoss < 0.5*res.FirstLoss) {
				t.Errorf("loss %.3f -> %.3f: want it at least halved", res.FirstLoss, res.LastEpochLoss)
			}
			// The shipped (PyTorch-trained) model reaches 0.92.
			if after < 0.85 || after <= before {
				t.Errorf("test accuracy %.3f -> %.3f: want >= 0.85", before, after)
			}
			if want := 15 * ((600 + 31) / 32); res.Iters != want || calls != want {
				t.Errorf("iters %d, progress calls %d, want %d", res.Iters, calls, want)
			}
		})
	}
}

// TestOptimiserStep checks two steps of each optimiser on one parameter
// (θ₀ = 1, gradients 0.5 then −0.2, lr 0.1) against values computed by
// hand from PyTorch's update rules (torch.optim.SGD/Adam/AdamW,
// dampening 0).
func TestOptimiserStep(t *testing.T) {
	cases := []struct {
		name string
		cfg  TrainConfig
		want float64
	}{
		// θ1 = 1 − 0.1·(0.5+0.01) = 0.949; θ2 = 0.949 − 0.1·(−0.2+0.00949).
		{"sgd", TrainConfig{Optimiser: SGD, WeightDecay: 0.01}, 0.968051},
		// buf1 = 0.51, θ1 = 0.949; buf2 = 0.9·0.51 − 0.19051 = 0.26849, θ2 = 0.949 − 0.026849.
		{"sgd-momentum", TrainConfig{Optimiser: SGD, Momentum: 0.9, WeightDecay: 0.01}, 0.922151},
		// g' = g + μ·buf: θ1 = 1 − 0.1·0.969 = 0.9031; θ2 = 0.9031 − 0.1·(−0.190969 + 0.9·0.268031).
		{"sgd-nesterov", TrainConfig{Optimiser: SGD, Momentum: 0.9, Nesterov: true, WeightDecay: 0.01}, 0.89807411},
		// m̂1 = 0.5, v̂1 = 0.25: θ1 = 0.9; m2 = 0.025, v2 = 0.00028975, bias corrections 0.19, 0.001999.
		{"adam", TrainConfig{Optimiser: Adam}, 0.8654394181165108},
		{"adam-l2", TrainConfig{Optimiser: Adam, WeightDecay: 0.1}, 0.8475190629593703},
		// θ ← θ·(1 − lr·wd) before each Adam step: θ1 = 0.99 − 0.1.
		{"adamw", TrainConfig{Optimiser: AdamW, WeightDecay: 0.1}, 0.8465394180965108},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			params := map[string]*tensor.Tensor{"w": tensor.FromFloat32([]float32{1}, 1)}
			o := newOptimiser(&c.cfg, params, []string{"w"})
			for _, g := range []float32{0.5, -0.2} {
				o.Step(params, map[string]*tensor.Tensor{"w": tensor.FromFloat32([]float32{g}, 1)}, 0.1)
			}
			if got := float64(params["w"].F[0]); math.Abs(got-c.want) > 1e-6 {
				t.Errorf("θ2 = %.9f, want %.9f", got, c.want)
			}
		})
	}
}

func TestLRSchedules(t *testing.T) {
	c := TrainConfig{LR: 1, StepSize: 2, Gamma: 0.5}
	cases := []struct {
		schedule         string
		it, total, epoch int
		want             float64
	}{
		{ScheduleConstant, 7, 10, 3, 1},
		{ScheduleStep, 0, 10, 1, 1},
		{ScheduleStep, 0, 10, 2, 0.5},
		{ScheduleStep, 0, 10, 5, 0.25},
		{ScheduleCosine, 0, 10, 0, 1},
		{ScheduleCosine, 5, 10, 0, 0.5},
		{ScheduleCyclic, 0, 10, 0, 0.1},
		{ScheduleCyclic, 4, 10, 0, 0.9},
		{ScheduleCyclic, 9, 10, 0, 0.1},
	}
	for _, tc := range cases {
		c.Schedule = tc.schedule
		if got := c.LRAt(tc.it, tc.total, tc.epoch); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s LRAt(%d, %d, %d) = %g, want %g", tc.schedule, tc.it, tc.total, tc.epoch, got, tc.want)
		}
	}
}

// TestBatchNormStats trains the BatchNorm ResNet for one step with SGD and
// a large weight decay: the running statistics must move exactly as one
// training-mode forward pass moves them (the op's update), untouched by
// the optimiser, while the BN scale and bias do train.
func TestBatchNormStats(t *testing.T) {
	m := loadModel(t, "resnet_bn_dyn_op9.onnx")
	bn := BatchNormStats(m)
	if len(bn) != 12 {
		t.Fatalf("found %d BN running statistics, want 12 (6 nodes × mean, var): %v", len(bn), bn)
	}
	trainable := TrainableParams(m, nil)
	for _, n := range trainable {
		if bn[n] {
			t.Errorf("running statistic %s is trainable", n)
		}
	}
	if len(trainable)+len(bn) != len(m.ParamNames) {
		t.Errorf("%d trainable + %d statistics != %d params", len(trainable), len(bn), len(m.ParamNames))
	}
	data := loadMNIST(t, 16)
	ref, err := m.Clone()
	if err != nil {
		t.Fatal(err)
	}
	before := cloneParams(m)
	cfg := DefaultTrainConfig()
	cfg.Optimiser, cfg.LR, cfg.WeightDecay, cfg.Momentum, cfg.BatchSize, cfg.Iterations = SGD, 0.1, 0.5, 0, 16, 1
	if _, err := Train(context.Background(), m, data, cfg, seeded(3)); err != nil {
		t.Fatal(err)
	}
	// The reference: one training-mode forward over the same 16 samples.
	if _, err := ref.Backprop(context.Background(), data.X, onnxmodel.BackpropOptions{Training: true}, nil); err != nil {
		t.Fatal(err)
	}
	for name := range bn {
		got, want, old := m.Params[name].F, ref.Params[name].F, before[name]
		moved := false
		for k := range got {
			if math.Abs(float64(got[k]-want[k])) > 1e-4*(1+math.Abs(float64(want[k]))) {
				t.Fatalf("%s[%d] = %g, want %g (the op's update alone)", name, k, got[k], want[k])
			}
			moved = moved || got[k] != old[k]
		}
		if !moved {
			t.Errorf("%s was not updated in training mode", name)
		}
	}
	changed := 0
	for _, n := range trainable {
		for k, v := range m.Params[n].F {
			if v != before[n][k] {
				changed++
				break
			}
		}
	}
	if changed < len(trainable)/2 {
		t.Errorf("only %d of %d trainable parameters changed", changed, len(trainable))
	}
}

func TestSplitValidation(t *testing.T) {
	s := loadTabular(t, true)
	tr, va, err := SplitValidation(s, 0.2, 42)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Len() != 480 || va.Len() != 120 {
		t.Fatalf("split sizes %d/%d, want 480/120", tr.Len(), va.Len())
	}
	seen := map[int]bool{}
	for _, i := range append(append([]int(nil), tr.Index...), va.Index...) {
		if seen[i] {
			t.Fatalf("sample %d in both parts", i)
		}
		seen[i] = true
	}
	tr2, va2, _ := SplitValidation(s, 0.2, 42)
	for i := range va.Index {
		if va.Index[i] != va2.Index[i] {
			t.Fatal("split is not deterministic")
		}
	}
	_ = tr2
	if tr0, v0, err := SplitValidation(s, 0, 1); err != nil || tr0 != s || v0 != nil {
		t.Errorf("fraction 0: %v %v %v", tr0 == s, v0, err)
	}
	for _, f := range []float64{-0.1, 1, math.NaN()} {
		if _, _, err := SplitValidation(s, f, 1); err == nil {
			t.Errorf("fraction %g accepted", f)
		}
	}
}

func TestTrainValidationAndCancel(t *testing.T) {
	m := loadModel(t, "tabular_mlp.onnx")
	tr, va, err := SplitValidation(loadTabular(t, true), 0.25, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultTrainConfig()
	cfg.Epochs, cfg.BatchSize, cfg.Validation = 2, 64, va
	var accs []float64
	cfg.Progress = func(p Progress) {
		if p.ValAccuracy >= 0 {
			accs = append(accs, p.ValAccuracy)
		}
	}
	res, err := Train(context.Background(), m, tr, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(accs) != 2 || res.ValAccuracy != accs[1] || res.ValAccuracy < 0.8 {
		t.Errorf("validation accuracies %v (final %g): want one per epoch, >= 0.8", accs, res.ValAccuracy)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	cfg.Validation = nil
	cfg.Progress = func(Progress) {
		if n++; n == 3 {
			cancel()
		}
	}
	res, err = Train(ctx, m, tr, cfg, nil)
	if !errors.Is(err, context.Canceled) || res.Iters != 3 {
		t.Errorf("after cancel: iters %d, err %v; want 3, context.Canceled", res.Iters, err)
	}
}

func TestTrainDeterministic(t *testing.T) {
	run := func() map[string][]float32 {
		m := loadModel(t, "tabular_mlp.onnx")
		cfg := DefaultTrainConfig()
		cfg.Epochs, cfg.BatchSize = 2, 50
		if _, err := Train(context.Background(), m, loadTabular(t, true), cfg, seeded(9)); err != nil {
			t.Fatal(err)
		}
		return cloneParams(m)
	}
	a, b := run(), run()
	for n := range a {
		for k := range a[n] {
			if a[n][k] != b[n][k] {
				t.Fatalf("%s[%d]: %g vs %g with the same seed", n, k, a[n][k], b[n][k])
			}
		}
	}
}

func TestTrainErrors(t *testing.T) {
	m := loadModel(t, "tabular_mlp.onnx")
	data := loadTabular(t, true)
	bad := []func(*TrainConfig){
		func(c *TrainConfig) { c.Epochs, c.Iterations = 0, 0 },
		func(c *TrainConfig) { c.BatchSize = 0 },
		func(c *TrainConfig) { c.Optimiser = "rmsprop" },
		func(c *TrainConfig) { c.Schedule = "warmup" },
		func(c *TrainConfig) { c.LR = math.NaN() },
		func(c *TrainConfig) {
			c.Hook = func(context.Context, *onnxmodel.Model, *TrainBatch, *rand.Rand) error { return errors.New("boom") }
		},
		func(c *TrainConfig) { c.LR = 1e30 },
	}
	for i, f := range bad {
		cfg := DefaultTrainConfig()
		f(&cfg)
		if _, err := Train(context.Background(), m, data, cfg, nil); err == nil {
			t.Errorf("case %d: no error", i)
		}
	}
	if _, err := Train(context.Background(), m, loadMNIST(t, 4), DefaultTrainConfig(), nil); err == nil {
		t.Error("MNIST data accepted by the tabular model")
	}
}

// TestTrainPerSample forces the one-sample-at-a-time path
// (Model.PerSample) on the tabular MLP (no BatchNormalization, so
// inference and training mode agree) and checks that training gives the
// same weights as the batched path, for the default loss, PGD examples
// and TRADES' batch loss.
func TestTrainPerSample(t *testing.T) {
	data := loadTabular(t, true)
	for _, name := range []string{"label-smoothing", "trades", "pgd-at"} {
		run := func(perSample bool) map[string][]float32 {
			m := loadModel(t, "tabular_mlp.onnx")
			m.PerSample = perSample
			p := map[string]string{"iterations": "3", "batch_size": "16"}
			if name != "label-smoothing" {
				p["min"], p["max"], p["steps"] = "-20", "20", "2"
			}
			d, err := New(name, p)
			if err != nil {
				t.Fatal(err)
			}
			// Train m itself: Apply's clone would be compiled afresh (batched).
			cfg := d.(interface{ Config() TrainConfig }).Config()
			if _, err := Train(context.Background(), m, data, cfg, seeded(5)); err != nil {
				t.Fatal(err)
			}
			return cloneParams(m)
		}
		a, b := run(false), run(true)
		for n := range a {
			for k := range a[n] {
				if math.Abs(float64(a[n][k]-b[n][k])) > 1e-4*(1+math.Abs(float64(a[n][k]))) {
					t.Fatalf("%s: %s[%d] batched %g, per sample %g", name, n, k, a[n][k], b[n][k])
				}
			}
		}
	}
}

// saveAndReload writes m to a temporary ONNX file and loads it back, as a
// user of the hardened model would.
func saveAndReload(t *testing.T, m *onnxmodel.Model) *onnxmodel.Model {
	t.Helper()
	path := filepath.Join(t.TempDir(), "saved.onnx")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	r, err := onnxmodel.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
