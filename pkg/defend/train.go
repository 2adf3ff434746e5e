package defend

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/tensor"
)

// Optimiser names.
const (
	SGD   = "sgd"   // stochastic gradient descent, optional (Nesterov) momentum, L2 weight decay
	Adam  = "adam"  // Adam (Kingma & Ba 2015), weight decay as L2 added to the gradient
	AdamW = "adamw" // Adam with decoupled weight decay (Loshchilov & Hutter 2019)
)

// Learning-rate schedule names.
const (
	ScheduleConstant = "constant" // lr throughout
	ScheduleStep     = "step"     // lr·gamma^⌊epoch/step_size⌋ (PyTorch StepLR)
	ScheduleCosine   = "cosine"   // lr·(1+cos(π·t/T))/2 over the T iterations (CosineAnnealingLR per batch, eta_min 0)
	ScheduleCyclic   = "cyclic"   // one triangle: 0 → lr at T/2 → 0 (Wong et al. 2020's cyclic schedule)
)

// Optimisers and Schedules list the accepted names, for parameter docs.
var (
	Optimisers = []string{SGD, Adam, AdamW}
	Schedules  = []string{ScheduleConstant, ScheduleStep, ScheduleCosine, ScheduleCyclic}
)

// TrainBatch is one training step's batch. The trainer fills X, Y, Epoch
// and Iter; a BatchHook may replace X (adversarial or noisy inputs, more or
// fewer rows), Y, set Soft targets or a custom Loss.
type TrainBatch struct {
	// X is the input batch [N, sample shape...]. The trainer's X is a
	// buffer reused between batches: a hook that keeps it must copy it.
	X *tensor.Tensor
	// Y holds the hard labels, one per row of X.
	Y []int
	// Soft, when not nil, holds target distributions [N, C] that replace Y
	// in the default loss (SoftCE).
	Soft *tensor.Tensor
	// Loss, when not nil, replaces the default loss (HardCE(Y), or
	// SoftCE(Soft) when Soft is set).
	Loss LossFunc
	// Epoch is the 0-based epoch, Iter the 0-based iteration, Iters the
	// number of iterations of the whole run.
	Epoch, Iter, Iters int
}

// BatchHook changes a batch before the training step: m is the model being
// trained (its current weights; run it in inference mode, e.g. through an
// attack), rng the training run's generator.
type BatchHook func(ctx context.Context, m *onnxmodel.Model, b *TrainBatch, rng *rand.Rand) error

// TrainConfig configures Train. The zero value is not valid: set LR, a
// batch size and Epochs or Iterations (DefaultTrainConfig fills the rest).
type TrainConfig struct {
	// Epochs is the number of passes over the data; ignored when
	// Iterations > 0.
	Epochs int
	// Iterations, when > 0, is the number of batches to train on (epochs
	// continue past the data's end, reshuffled).
	Iterations int
	// BatchSize is the number of samples per batch. A last partial batch
	// is used, unless it holds a single sample (BatchNormalization's batch
	// statistics need two).
	BatchSize int
	// Optimiser is SGD, Adam or AdamW.
	Optimiser string
	// LR is the base learning rate.
	LR float64
	// Momentum is SGD's momentum (PyTorch's form: buf = μ·buf + g).
	Momentum float64
	// Nesterov selects Nesterov momentum for SGD.
	Nesterov bool
	// WeightDecay is L2 regularisation added to the gradient (SGD, Adam),
	// or decoupled decay θ ← θ·(1 − lr·wd) (AdamW).
	WeightDecay float64
	// Beta1, Beta2 and Eps are Adam's constants (0: 0.9, 0.999, 1e-8).
	Beta1, Beta2, Eps float64
	// Schedule is a learning-rate schedule name ("" means constant).
	Schedule string
	// StepSize (epochs) and Gamma configure the step schedule.
	StepSize int
	Gamma    float64
	// Hook, when not nil, changes each batch before its step.
	Hook BatchHook
	// Progress, when not nil, is called after each batch.
	Progress func(Progress)
	// Validation, when not nil, is evaluated after each epoch (reported
	// through Progress and in TrainResult).
	Validation *dataset.Set
	// Frozen names parameters the optimiser must not change (besides the
	// BatchNormalization running statistics, always excluded).
	Frozen map[string]bool
}

// DefaultTrainConfig returns the defaults trainer defences start from:
// Adam, lr 1e-3, batch 128, 1 epoch, constant schedule, SGD momentum 0.9,
// step schedule gamma 0.1 every 1 epoch.
func DefaultTrainConfig() TrainConfig {
	return TrainConfig{Epochs: 1, BatchSize: 128, Optimiser: Adam, LR: 1e-3, Momentum: 0.9,
		Schedule: ScheduleConstant, StepSize: 1, Gamma: 0.1}
}

func (c *TrainConfig) validate() error {
	switch {
	case c.Epochs < 1 && c.Iterations < 1:
		return fmt.Errorf("train: want epochs >= 1 or iterations >= 1")
	case c.BatchSize < 1:
		return fmt.Errorf("train: batch size %d: want >= 1", c.BatchSize)
	case !(c.LR >= 0) || math.IsInf(c.LR, 0):
		return fmt.Errorf("train: learning rate %g: want a finite number >= 0", c.LR)
	case c.Momentum < 0 || c.Momentum >= 1:
		return fmt.Errorf("train: momentum %g: want [0, 1)", c.Momentum)
	case c.WeightDecay < 0:
		return fmt.Errorf("train: weight decay %g: want >= 0", c.WeightDecay)
	}
	switch c.Optimiser {
	case SGD, Adam, AdamW:
	default:
		return fmt.Errorf("train: unknown optimiser %q (want sgd, adam or adamw)", c.Optimiser)
	}
	switch c.Schedule {
	case "", ScheduleConstant, ScheduleCosine, ScheduleCyclic:
	case ScheduleStep:
		if c.StepSize < 1 || !(c.Gamma > 0) {
			return fmt.Errorf("train: step schedule needs step_size >= 1 and gamma > 0")
		}
	default:
		return fmt.Errorf("train: unknown schedule %q", c.Schedule)
	}
	return nil
}

// LRAt returns the learning rate of iteration it (0-based) of total, in
// epoch epoch, under the configured schedule.
func (c *TrainConfig) LRAt(it, total, epoch int) float64 {
	t := float64(it) / float64(max(total, 1))
	switch c.Schedule {
	case ScheduleStep:
		return c.LR * math.Pow(c.Gamma, float64(epoch/c.StepSize))
	case ScheduleCosine:
		return c.LR * 0.5 * (1 + math.Cos(math.Pi*t))
	case ScheduleCyclic:
		// Evaluated at the middle of the step, so no step has lr 0.
		t = (float64(it) + 0.5) / float64(max(total, 1))
		if t <= 0.5 {
			return c.LR * 2 * t
		}
		return c.LR * 2 * (1 - t)
	}
	return c.LR
}

// TrainResult summarises a training run.
type TrainResult struct {
	// Epochs and Iters count what was done.
	Epochs, Iters int
	// FirstLoss is the first batch's loss; LastEpochLoss the mean batch
	// loss of the last epoch (or of the batches since its start).
	FirstLoss, LastEpochLoss float64
	// ValAccuracy is the validation accuracy after training (−1 without
	// validation data).
	ValAccuracy float64
	// Trained lists the parameters the optimiser updated.
	Trained []string
}

// BatchNormStats returns the names of the initializers that feed
// BatchNormalization nodes as running mean or variance (inputs 3 and 4).
// Training mode updates them in place (running = running·momentum +
// batch·(1 − momentum)); they get no gradient, so the optimiser must not
// touch them (weight decay would otherwise shrink them).
func BatchNormStats(m *onnxmodel.Model) map[string]bool {
	out := map[string]bool{}
	for _, n := range m.Proto.GetGraph().GetNode() {
		if n.GetOpType() != "BatchNormalization" || (n.GetDomain() != "" && n.GetDomain() != "ai.onnx") {
			continue
		}
		for _, k := range []int{3, 4} {
			if k < len(n.GetInput()) && n.GetInput()[k] != "" {
				out[n.GetInput()[k]] = true
			}
		}
	}
	return out
}

// TrainableParams returns the names of the parameters the optimiser
// updates: every float initializer except the BatchNormalization running
// statistics (BatchNormStats) and the frozen ones, in the file's order.
func TrainableParams(m *onnxmodel.Model, frozen map[string]bool) []string {
	bn := BatchNormStats(m)
	var out []string
	for _, name := range m.ParamNames {
		if !bn[name] && !frozen[name] {
			out = append(out, name)
		}
	}
	return out
}

// optimiser holds per-parameter state.
type optimiser struct {
	cfg    *TrainConfig
	names  []string
	m, v   map[string][]float32 // Adam moments, or SGD momentum buffers (m)
	step   int
	b1, b2 float64
	eps    float64
}

func newOptimiser(cfg *TrainConfig, params map[string]*tensor.Tensor, names []string) *optimiser {
	o := &optimiser{cfg: cfg, names: names, m: map[string][]float32{}, v: map[string][]float32{},
		b1: cfg.Beta1, b2: cfg.Beta2, eps: cfg.Eps}
	if o.b1 == 0 {
		o.b1 = 0.9
	}
	if o.b2 == 0 {
		o.b2 = 0.999
	}
	if o.eps == 0 {
		o.eps = 1e-8
	}
	for _, n := range names {
		sz := params[n].Len()
		if cfg.Optimiser != SGD || cfg.Momentum > 0 {
			o.m[n] = make([]float32, sz)
		}
		if cfg.Optimiser != SGD {
			o.v[n] = make([]float32, sz)
		}
	}
	return o
}

// Step applies one update with learning rate lr, as PyTorch's SGD, Adam
// and AdamW do (SGD: dampening 0, the first momentum buffer is the
// gradient).
func (o *optimiser) Step(params, grads map[string]*tensor.Tensor, lr float64) {
	o.step++
	wd := o.cfg.WeightDecay
	switch o.cfg.Optimiser {
	case SGD:
		mu := o.cfg.Momentum
		for _, n := range o.names {
			p, g := params[n].F, grads[n].F
			buf := o.m[n]
			for k := range p {
				gk := float64(g[k]) + wd*float64(p[k])
				if buf != nil {
					b := gk
					if o.step > 1 {
						b = mu*float64(buf[k]) + gk
					}
					buf[k] = float32(b)
					if o.cfg.Nesterov {
						gk += mu * b
					} else {
						gk = b
					}
				}
				p[k] = float32(float64(p[k]) - lr*gk)
			}
		}
	default:
		bc1 := 1 - math.Pow(o.b1, float64(o.step))
		bc2 := 1 - math.Pow(o.b2, float64(o.step))
		decoupled := o.cfg.Optimiser == AdamW
		for _, n := range o.names {
			p, g := params[n].F, grads[n].F
			mm, vv := o.m[n], o.v[n]
			for k := range p {
				pk := float64(p[k])
				gk := float64(g[k])
				if decoupled {
					pk *= 1 - lr*wd
				} else {
					gk += wd * pk
				}
				mk := o.b1*float64(mm[k]) + (1-o.b1)*gk
				vk := o.b2*float64(vv[k]) + (1-o.b2)*gk*gk
				mm[k], vv[k] = float32(mk), float32(vk)
				p[k] = float32(pk - lr*(mk/bc1)/(math.Sqrt(vk/bc2)+o.eps))
			}
		}
	}
}

// Train trains m's parameters IN PLACE on data (mini-batches drawn in an
// order shuffled by rng each epoch; nil rng means a fixed seed) with
// Model.Backprop in training mode: BatchNormalization uses batch
// statistics and updates its running mean and variance, which the
// optimiser leaves alone (see BatchNormStats). Each batch goes through
// cfg.Hook, then its loss (HardCE, SoftCE or the hook's) is
// differentiated and the optimiser steps. ctx is checked between batches.
// A graph that runs one sample at a time (Model.PerSample) has its batch
// loss evaluated on inference-mode logits, then each sample is
// back-propagated in training mode with its row of the loss gradient.
//
// Callers that must not change their model train a Clone.
func Train(ctx context.Context, m *onnxmodel.Model, data *dataset.Set, cfg TrainConfig, rng *rand.Rand) (*TrainResult, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if data == nil || data.Len() == 0 {
		return nil, fmt.Errorf("train: no training data")
	}
	if err := m.CheckInput(data.X); err != nil {
		return nil, fmt.Errorf("train: training data: %w", err)
	}
	if rng == nil {
		rng = rand.New(rand.NewPCG(0x5eed, 0x7a1))
	}
	names := TrainableParams(m, cfg.Frozen)
	if len(names) == 0 {
		return nil, fmt.Errorf("train: the model has no trainable parameters")
	}
	opt := newOptimiser(&cfg, m.Params, names)

	n := data.Len()
	bs := min(cfg.BatchSize, n)
	perEpoch := (n + bs - 1) / bs
	if n%bs == 1 && perEpoch > 1 {
		perEpoch-- // a trailing single sample is dropped
	}
	total := cfg.Iterations
	epochs := cfg.Epochs
	if total <= 0 {
		total = epochs * perEpoch
	} else {
		epochs = (total + perEpoch - 1) / perEpoch
	}

	per := tensor.Numel(data.X.Shape[1:])
	buf := tensor.New(append([]int{bs}, data.X.Shape[1:]...)...)
	ybuf := make([]int, bs)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	res := &TrainResult{ValAccuracy: -1, Trained: names}
	it := 0
	for ep := 0; it < total; ep++ {
		rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
		epochLoss, epochBatches := 0.0, 0
		for bi := 0; bi < perEpoch && it < total; bi++ {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			lo, hi := bi*bs, min((bi+1)*bs, n)
			k := hi - lo
			x := buf
			if k != bs {
				x = tensor.FromFloat32(buf.F[:k*per], append([]int{k}, data.X.Shape[1:]...)...)
			}
			for r, idx := range order[lo:hi] {
				copy(x.F[r*per:(r+1)*per], data.X.F[idx*per:(idx+1)*per])
				ybuf[r] = data.Y[idx]
			}
			b := &TrainBatch{X: x, Y: ybuf[:k], Epoch: ep, Iter: it, Iters: total}
			if cfg.Hook != nil {
				if err := cfg.Hook(ctx, m, b, rng); err != nil {
					return res, fmt.Errorf("train: epoch %d, batch %d: %w", ep, bi, err)
				}
			}
			loss, err := trainStep(ctx, m, b, opt, cfg.LRAt(it, total, ep))
			if err != nil {
				return res, fmt.Errorf("train: epoch %d, batch %d: %w", ep, bi, err)
			}
			if it == 0 {
				res.FirstLoss = loss
			}
			epochLoss += loss
			epochBatches++
			it++
			res.Iters = it
			last := bi == perEpoch-1 || it == total
			pr := Progress{Epoch: ep, Epochs: epochs, Iter: it, Iters: total, Loss: loss,
				LR: cfg.LRAt(it-1, total, ep), ValAccuracy: -1}
			if last && cfg.Validation != nil {
				acc, err := Accuracy(ctx, m, cfg.Validation, 256)
				if err != nil {
					return res, err
				}
				pr.ValAccuracy, res.ValAccuracy = acc, acc
			}
			if cfg.Progress != nil {
				cfg.Progress(pr)
			}
		}
		res.Epochs = ep + 1
		res.LastEpochLoss = epochLoss / float64(max(epochBatches, 1))
	}
	return res, nil
}

// trainStep differentiates b's loss and steps the optimiser; it returns
// the batch loss.
func trainStep(ctx context.Context, m *onnxmodel.Model, b *TrainBatch, opt *optimiser, lr float64) (float64, error) {
	if len(b.Y) != b.X.Shape[0] && b.Loss == nil {
		return 0, fmt.Errorf("batch has %d inputs and %d labels", b.X.Shape[0], len(b.Y))
	}
	lossFn := b.Loss
	if lossFn == nil {
		if b.Soft != nil {
			lossFn = SoftCE(b.Soft)
		} else {
			lossFn = HardCE(b.Y)
		}
	}
	var loss float64
	if m.PerSample && b.X.Shape[0] > 1 {
		return perSampleStep(ctx, m, b, lossFn, opt, lr)
	}
	g, err := m.Backprop(ctx, b.X, onnxmodel.BackpropOptions{Params: true, Training: true}, func(logits *tensor.Tensor) (*tensor.Tensor, error) {
		if b.Soft != nil && b.Soft.Len() != logits.Len() {
			return nil, fmt.Errorf("soft targets have shape %v, logits %v", b.Soft.Shape, logits.Shape)
		}
		if b.Loss == nil && b.Soft == nil {
			for _, y := range b.Y {
				if y < 0 || y >= logits.Shape[1] {
					return nil, fmt.Errorf("label %d out of range for %d classes", y, logits.Shape[1])
				}
			}
		}
		grad := tensor.New(logits.Shape...)
		loss = lossFn(grad.F, logits)
		return grad, nil
	})
	if err != nil {
		return 0, err
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, fmt.Errorf("loss is %g (learning rate too high?)", loss)
	}
	opt.Step(m.Params, g.Params, lr)
	return loss, nil
}

// perSampleStep trains a graph that runs one sample at a time
// (Model.PerSample): the batch loss and its dLoss/dLogits are computed
// from the whole batch's logits (in inference mode, so that a batch loss
// such as TRADES' sees every row), then each sample is back-propagated in
// training mode with its row of that gradient, and the parameter gradients
// summed.
func perSampleStep(ctx context.Context, m *onnxmodel.Model, b *TrainBatch, lossFn LossFunc, opt *optimiser, lr float64) (float64, error) {
	logits, err := m.Logits(ctx, b.X)
	if err != nil {
		return 0, err
	}
	if b.Soft != nil && b.Soft.Len() != logits.Len() {
		return 0, fmt.Errorf("soft targets have shape %v, logits %v", b.Soft.Shape, logits.Shape)
	}
	n, c := logits.Shape[0], logits.Shape[1]
	grad := make([]float32, n*c)
	loss := lossFn(grad, logits)
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, fmt.Errorf("loss is %g (learning rate too high?)", loss)
	}
	per := b.X.Len() / n
	var sum map[string]*tensor.Tensor
	for i := 0; i < n; i++ {
		xi := tensor.FromFloat32(b.X.F[i*per:(i+1)*per], append([]int{1}, b.X.Shape[1:]...)...)
		row := tensor.FromFloat32(append([]float32(nil), grad[i*c:(i+1)*c]...), 1, c)
		g, err := m.Backprop(ctx, xi, onnxmodel.BackpropOptions{Params: true, Training: true}, func(*tensor.Tensor) (*tensor.Tensor, error) { return row, nil })
		if err != nil {
			return 0, fmt.Errorf("sample %d: %w", i, err)
		}
		if sum == nil {
			sum = g.Params
			continue
		}
		for k, v := range g.Params {
			d := sum[k].F
			for j, x := range v.F {
				d[j] += x
			}
		}
	}
	opt.Step(m.Params, sum, lr)
	return loss, nil
}

// Accuracy returns the fraction of set's samples that m classifies
// correctly (inference mode), in batches of batch samples.
func Accuracy(ctx context.Context, m *onnxmodel.Model, set *dataset.Set, batch int) (float64, error) {
	if set == nil || set.Len() == 0 {
		return 0, fmt.Errorf("accuracy: no data")
	}
	batch = max(batch, 1)
	correct := 0
	for lo := 0; lo < set.Len(); lo += batch {
		hi := min(lo+batch, set.Len())
		x, y := set.Batch(lo, hi)
		logits, err := m.Logits(ctx, x)
		if err != nil {
			return 0, err
		}
		c := logits.Shape[1]
		for i := range y {
			if argmaxRow(logits.F[i*c:(i+1)*c]) == y[i] {
				correct++
			}
		}
	}
	return float64(correct) / float64(set.Len()), nil
}

func argmaxRow(z []float32) int {
	best := 0
	for j, v := range z {
		if v > z[best] {
			best = j
		}
	}
	return best
}

// SplitValidation holds back fraction (in [0, 1)) of set for validation,
// as the plan's train.validation_split asks: the samples are ordered by a
// permutation drawn from a generator seeded with seed, the last
// ⌊fraction·N⌋ form the validation set (at least one when fraction > 0)
// and the rest, in their original order, the training set. The split
// depends only on N, fraction and seed. With fraction 0 it returns set and
// nil.
func SplitValidation(set *dataset.Set, fraction float64, seed uint64) (train, val *dataset.Set, err error) {
	if !(fraction >= 0 && fraction < 1) {
		return nil, nil, fmt.Errorf("validation split %g: want [0, 1)", fraction)
	}
	if fraction == 0 {
		return set, nil, nil
	}
	n := set.Len()
	nv := max(1, int(math.Floor(fraction*float64(n))))
	if nv >= n {
		return nil, nil, fmt.Errorf("validation split %g of %d samples leaves none to train on", fraction, n)
	}
	perm := rand.New(rand.NewPCG(seed, 0x5711)).Perm(n)
	vi := append([]int(nil), perm[n-nv:]...)
	ti := append([]int(nil), perm[:n-nv]...)
	sort.Ints(vi)
	sort.Ints(ti)
	if train, err = set.Subset(ti); err != nil {
		return nil, nil, err
	}
	if val, err = set.Subset(vi); err != nil {
		return nil, nil, err
	}
	return train, val, nil
}
