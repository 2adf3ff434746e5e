package defend

import (
	"context"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/params"
	"github.com/advtest/advtest/pkg/tensor"
)

// ballParams describe the perturbation ball of the built-in example
// generators (norm, eps, step, steps, random start, clip range).
type ballParams struct {
	norm        string
	eps         float64
	step        float64 // 0: derived
	steps       int
	randomStart bool
	min, max    float32
	epsRamp     float64
}

// bindRamp binds eps_ramp, the fraction of a training run over which the
// radius grows from 0 to eps.
func (p *ballParams) bindRamp(b *params.Binder) {
	b.Float("eps_ramp", &p.epsRamp, 0, "", "fraction of the training iterations over which eps (and the step) grow linearly from 0 (0: none)")
}

// rampFactor returns the fraction of eps that iteration it (0-based) of a
// run of total iterations trains at: min(1, it/(eps_ramp·total)), 1
// without a ramp. A ramp restarts with every training run (every harden
// round).
func (p *ballParams) rampFactor(it, total int) float64 {
	if p.epsRamp <= 0 || total <= 0 {
		return 1
	}
	return min(1, float64(it)/(p.epsRamp*float64(total)))
}

func (p *ballParams) bindBall(b *params.Binder, eps float64, steps int, stepDoc string, withNorm, withStart bool) {
	if withNorm {
		b.Enum("norm", &p.norm, "linf", []string{"linf", "l2"}, "norm of the perturbation ball")
	} else {
		p.norm = "linf"
	}
	b.Float("eps", &p.eps, eps, "", "radius of the ball in input space")
	b.AutoFloat("step", &p.step, stepDoc, "step size of the inner maximisation")
	if steps > 0 {
		b.Int("steps", &p.steps, steps, "", "steps of the inner maximisation")
	} else {
		p.steps = 1
	}
	if withStart {
		b.Bool("random_start", &p.randomStart, true, "start from a uniform random point of the ball")
	}
	b.Float32("min", &p.min, 0, "lower end of the clip range (input space)")
	b.Float32("max", &p.max, 1, "upper end of the clip range (input space)")
}

func (p *ballParams) validateBall(b *params.Binder) error {
	switch {
	case !(p.eps > 0):
		return b.Err("eps", p.eps, "a positive number")
	case p.step < 0:
		return b.Err("step", p.step, "a positive number or auto")
	case p.steps < 1:
		return b.Err("steps", p.steps, "a positive integer")
	case !(p.min < p.max):
		return b.Err("min/max", [2]float32{p.min, p.max}, "min < max")
	case !(p.epsRamp >= 0 && p.epsRamp <= 1):
		return b.Err("eps_ramp", p.epsRamp, "a fraction in [0, 1]")
	}
	return nil
}

func (p *ballParams) attackNorm() attack.Norm {
	if p.norm == "l2" {
		return attack.L2
	}
	return attack.Linf
}

func (p *ballParams) bounds() attack.Bounds { return attack.Bounds{Min: p.min, Max: p.max} }

// perturb runs signed-gradient ascent (Linf) or normalised-gradient ascent
// (L2) on lossGrad from x0 (already inside the ball), projecting onto the
// eps-ball around x and the clip range after every step; m runs in
// inference mode. It returns the last iterate (Madry et al. train on it,
// not on the best one).
func perturb(ctx context.Context, m *onnxmodel.Model, x, x0 *tensor.Tensor, norm attack.Norm, eps, step float64, steps int, b attack.Bounds, lossGrad rowLossGrad) (*tensor.Tensor, error) {
	xa := x0
	n := x.Shape[0]
	per := x.Len() / max(n, 1)
	for s := 0; s < steps; s++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		g, err := inputGradient(ctx, m, xa, lossGrad)
		if err != nil {
			return nil, err
		}
		for i := 0; i < n; i++ {
			xi, gi, x0i := xa.F[i*per:(i+1)*per], g.F[i*per:(i+1)*per], x.F[i*per:(i+1)*per]
			if norm == attack.L2 {
				nrm := 0.0
				for _, v := range gi {
					nrm += float64(v) * float64(v)
				}
				if nrm = math.Sqrt(nrm); nrm > 0 {
					for k, v := range gi {
						xi[k] += float32(step * float64(v) / nrm)
					}
				}
			} else {
				for k, v := range gi {
					switch {
					case v > 0:
						xi[k] += float32(step)
					case v < 0:
						xi[k] -= float32(step)
					}
				}
			}
			attack.Project(norm, xi, x0i, eps, b)
		}
	}
	return xa, nil
}

// rowLossGrad returns dLoss/dLogits for logits that hold rows lo.. of the
// batch.
type rowLossGrad func(logits *tensor.Tensor, lo int) (*tensor.Tensor, error)

// inputGradient returns dLoss/dx for the batch x. A graph that runs one
// sample at a time (Model.PerSample) calls its loss callback with one row
// of logits per sample, so such a model is driven sample by sample here,
// telling lossGrad which row it sees.
func inputGradient(ctx context.Context, m *onnxmodel.Model, x *tensor.Tensor, lossGrad rowLossGrad) (*tensor.Tensor, error) {
	n := x.Shape[0]
	if !m.PerSample || n <= 1 {
		_, g, err := m.InputGradient(ctx, x, func(l *tensor.Tensor) (*tensor.Tensor, error) { return lossGrad(l, 0) })
		return g, err
	}
	per := x.Len() / n
	out := tensor.New(x.Shape...)
	for i := 0; i < n; i++ {
		xi := tensor.FromFloat32(x.F[i*per:(i+1)*per], append([]int{1}, x.Shape[1:]...)...)
		_, g, err := m.InputGradient(ctx, xi, func(l *tensor.Tensor) (*tensor.Tensor, error) { return lossGrad(l, i) })
		if err != nil {
			return nil, err
		}
		copy(out.F[i*per:(i+1)*per], g.F)
	}
	return out, nil
}

// randomStart returns a copy of x moved to a uniform random point of the
// eps-ball (Linf: each coordinate uniform in [−eps, eps]; L2: uniform in
// the ball), projected into the clip range; without random start, a copy.
func randomStart(rng *rand.Rand, x *tensor.Tensor, norm attack.Norm, eps float64, random bool, b attack.Bounds) *tensor.Tensor {
	xa := x.Clone()
	n := x.Shape[0]
	per := x.Len() / max(n, 1)
	for i := 0; i < n; i++ {
		xi, x0 := xa.F[i*per:(i+1)*per], x.F[i*per:(i+1)*per]
		if random {
			if norm == attack.L2 {
				s := 0.0
				for k := range xi {
					v := rng.NormFloat64()
					xi[k] = float32(v)
					s += v * v
				}
				r := eps * math.Pow(rng.Float64(), 1/float64(per))
				if s > 0 {
					r /= math.Sqrt(s)
				}
				for k := range xi {
					xi[k] = x0[k] + float32(r*float64(xi[k]))
				}
			} else {
				for k := range xi {
					xi[k] = x0[k] + float32(eps*(2*rng.Float64()-1))
				}
			}
		}
		attack.Project(norm, xi, x0, eps, b)
	}
	return xa
}

// ceGrad is the summed cross-entropy's dLoss/dLogits, for example
// generation.
func ceGrad(y []int) rowLossGrad {
	return func(logits *tensor.Tensor, lo int) (*tensor.Tensor, error) {
		g := tensor.New(logits.Shape...)
		attack.CrossEntropy(g.F, nil, logits, y[lo:lo+logits.Shape[0]])
		return g, nil
	}
}

// pickRows returns the rows of an n-row batch to replace: all when ratio
// is 1, else ⌈ratio·n⌉ drawn without replacement (as ART's
// AdversarialTrainer), in increasing order.
func pickRows(rng *rand.Rand, n int, ratio float64) []int {
	k := min(n, int(math.Ceil(ratio*float64(n))))
	if k >= n {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	perm := rng.Perm(n)[:k]
	sel := make([]bool, n)
	for _, i := range perm {
		sel[i] = true
	}
	out := make([]int, 0, k)
	for i, s := range sel {
		if s {
			out = append(out, i)
		}
	}
	return out
}

// gatherRows copies rows idx of x ([N, ...]) and of y into new ones.
func gatherRows(x *tensor.Tensor, y []int, idx []int) (*tensor.Tensor, []int) {
	per := x.Len() / max(x.Shape[0], 1)
	out := tensor.New(append([]int{len(idx)}, x.Shape[1:]...)...)
	oy := make([]int, len(idx))
	for r, i := range idx {
		copy(out.F[r*per:(r+1)*per], x.F[i*per:(i+1)*per])
		oy[r] = y[i]
	}
	return out, oy
}

// scatterRows copies the rows of src into rows idx of dst.
func scatterRows(dst, src *tensor.Tensor, idx []int) {
	per := dst.Len() / max(dst.Shape[0], 1)
	for r, i := range idx {
		copy(dst.F[i*per:(i+1)*per], src.F[r*per:(r+1)*per])
	}
}

// PGDTraining is the adversarial training of Madry, Makelov, Schmidt,
// Tsipras & Vladu, "Towards Deep Learning Models Resistant to Adversarial
// Attacks" (ICLR 2018): every batch, a ratio of its samples (all, as Madry;
// ART's AdversarialTrainer uses 0.5) is replaced by adversarial examples
// found against the current model, and the model takes a step on the
// cross-entropy of the mixed batch.
//
// The examples come from the built-in PGD (uniform random start in the
// ball, steps signed (Linf) or normalised (L2) gradient steps of size
// step, projection onto the ball and the clip range; the last iterate is
// used; every selected sample is perturbed, misclassified or not), or, when
// the attack parameter holds an attack spec ("pgd:norm=linf,eps=0.3,steps=7"),
// from that attack of pkg/attack — the harden loop passes its pool's
// definition this way. An attack from a spec follows the attack contract:
// samples the model already misclassifies are not attacked and train
// clean; for pgd and bim, early_stop defaults to false so that every
// sample gets all its steps, and for pgd restarts to 1 and step_schedule to
// constant (Madry's training attack, not the evaluation default).
//
// eps_ramp r (default 0, off) grows the radius of iteration t of T
// linearly, eps·min(1, t/(r·T)), with the step in proportion; the first
// batch trains clean. Ramping eps up is the schedule of Gowal et al.,
// "On the Effectiveness of Interval Bound Propagation" (2018) and of
// curriculum adversarial training (Cai, Liu & Song, IJCAI 2018); on the
// MNIST CNN at eps 0.3 PGD-AT with 10 steps and no ramp collapsed to a
// near-constant classifier, and with it trained normally
// (testdata/reference/harden_sweep).
//
// Defaults: pgd-at: ratio 1 (Madry); adversarial-training: ratio 0.5
// (ART). Both: norm linf, eps 0.3 (Madry's MNIST), steps 10, step
// 2.5·eps/steps, random_start true, clip range [0, 1], and the shared
// training parameters (10 epochs of batch 128, Adam lr 1e-3, constant lr).
// The examples are generated with the model in inference mode.
type PGDTraining struct {
	name string
	ballParams
	trainerParams
	ratio      float64
	defRatio   float64
	attackSpec string
	spec       attack.Spec
	atk        attack.Attack
}

// Bind returns the binder of the defence's parameters.
func (d *PGDTraining) Bind() *params.Binder {
	b := params.New("defence", d.name)
	b.String("attack", &d.attackSpec, "", "built-in PGD", "attack spec that makes the examples (e.g. pgd:eps=0.3,steps=7); empty: the built-in PGD below")
	d.bindBall(b, 0.3, 10, "2.5*eps/steps", true, true)
	b.Float("ratio", &d.ratio, d.defRatio, "", "fraction of each batch replaced by adversarial examples")
	d.bindRamp(b)
	d.trainerParams.bind(b, stdTrainer)
	return b
}

// Validate checks the parameters and builds the spec's attack.
func (d *PGDTraining) Validate() error {
	b := params.New("defence", d.name)
	if err := d.validateBall(b); err != nil {
		return err
	}
	if err := d.trainerParams.validate(b); err != nil {
		return err
	}
	if !(d.ratio > 0 && d.ratio <= 1) {
		return b.Err("ratio", d.ratio, "a number in (0, 1]")
	}
	d.atk = nil
	if d.attackSpec != "" {
		sp, err := attack.ParseSpec(d.attackSpec)
		if err != nil {
			return fmt.Errorf("defence %s: parameter attack: %w", d.name, err)
		}
		if _, set := sp.Params["early_stop"]; !set && (sp.Name == "pgd" || sp.Name == "bim") {
			sp.Params["early_stop"] = "false"
		}
		if sp.Name == "pgd" {
			// Training uses Madry's PGD (one start, constant step, eps/4 when
			// the step is auto), not the evaluation default's five restarts
			// of a mixed schedule, which would multiply the cost of training.
			for k, v := range map[string]string{"restarts": "1", "step_schedule": "constant"} {
				if _, set := sp.Params[k]; !set {
					sp.Params[k] = v
				}
			}
		}
		if d.atk, err = attack.New(sp.Name, sp.Params); err != nil {
			return fmt.Errorf("defence %s: parameter attack: %w", d.name, err)
		}
		if d.epsRamp > 0 && !(d.atk.Eps() > 0) {
			return b.Err("eps_ramp", d.epsRamp, "0 with an attack that has no eps ("+sp.Name+")")
		}
		d.spec = sp
	}
	return nil
}

// scaledAttack returns the spec's attack with its eps, and an explicit
// step, multiplied by f (the eps ramp).
func (d *PGDTraining) scaledAttack(f float64) (attack.Attack, error) {
	p := maps.Clone(d.spec.Params)
	p["eps"] = strconv.FormatFloat(d.atk.Eps()*f, 'g', -1, 64)
	if s, ok := p["step"]; ok {
		if v, err := strconv.ParseFloat(s, 64); err == nil {
			p["step"] = strconv.FormatFloat(v*f, 'g', -1, 64)
		}
	}
	return attack.New(d.spec.Name, p)
}

func (d *PGDTraining) stepSize() float64 {
	if d.step > 0 {
		return d.step
	}
	return 2.5 * d.eps / float64(d.steps)
}

// Name returns "pgd-at" or "adversarial-training".
func (d *PGDTraining) Name() string { return d.name }

// Kind returns Trainer.
func (d *PGDTraining) Kind() Kind { return Trainer }

// Params returns the resolved parameters.
func (d *PGDTraining) Params() map[string]any {
	p := d.Bind().Values()
	p["step"] = d.stepSize()
	return p
}

// hook replaces the chosen rows of each batch by adversarial examples.
// At the start of an eps ramp (factor 0) the batch trains clean.
func (d *PGDTraining) hook(ctx context.Context, m *onnxmodel.Model, b *TrainBatch, rng *rand.Rand) error {
	f := d.rampFactor(b.Iter, b.Iters)
	if f == 0 {
		return nil
	}
	idx := pickRows(rng, len(b.Y), d.ratio)
	sub, ys := gatherRows(b.X, b.Y, idx)
	var adv *tensor.Tensor
	if d.atk != nil {
		atk := d.atk
		if f < 1 {
			var err error
			if atk, err = d.scaledAttack(f); err != nil {
				return err
			}
		}
		out, err := atk.Run(ctx, m, attack.Batch{X: sub, Y: ys}, rng)
		if err != nil {
			return err
		}
		adv = out.XAdv
	} else {
		norm := d.attackNorm()
		eps := d.eps * f
		x0 := randomStart(rng, sub, norm, eps, d.randomStart, d.bounds())
		var err error
		if adv, err = perturb(ctx, m, sub, x0, norm, eps, d.stepSize()*f, d.steps, d.bounds(), ceGrad(ys)); err != nil {
			return err
		}
	}
	scatterRows(b.X, adv, idx)
	return nil
}

// Config returns the training configuration Apply uses (its hook included).
func (d *PGDTraining) Config() TrainConfig {
	c := d.config()
	c.Hook = d.hook
	return c
}

// Apply adversarially trains a clone of m on data.Train.
func (d *PGDTraining) Apply(ctx context.Context, m *onnxmodel.Model, data TrainData, rng *rand.Rand) (*onnxmodel.Model, error) {
	if err := refuseMaskedExamples(d.name, m); err != nil {
		return nil, err
	}
	return fitClone(ctx, d.name, m, data, d.Config(), rng)
}

// refuseMaskedExamples refuses adversarial training of a model whose graph
// carries a preprocessor or noise defence: the training examples come
// from the model's own gradient, which a squeezer zeroes and one noise
// draw blurs, so the model would train on examples that are not
// adversarial. Apply those defences after the trainers in the schedule.
func refuseMaskedExamples(name string, m *onnxmodel.Model) error {
	for _, k := range []string{PreprocessorKey, NoiseKey} {
		if _, ok := m.Metadata(k); ok {
			return fmt.Errorf("defence %s: the model already carries a preprocessor defence (%s): its examples would come from a masked or single-draw gradient; put squeeze and gaussian-noise after the adversarial trainers in harden.defences", name, k)
		}
	}
	return nil
}

// FastAT is the "fast" adversarial training of Wong, Rice & Kolter, "Fast
// is better than free: Revisiting adversarial training" (ICLR 2020): each
// batch is replaced by FGSM examples from a random start, δ ~ U(−eps,
// eps)ⁿ, δ ← clip(δ + α·sign(∇ₓ CE), −eps, eps), x+δ clipped to the clip
// range, with α = 1.25·eps, trained with a cyclic learning rate (0 → lr at
// half-way → 0).
//
// eps_ramp ramps the radius up as for PGDTraining.
//
// Defaults: eps 0.3, step (α) 1.25·eps, clip range [0, 1], Adam with the
// cyclic schedule at peak lr 5e-3 (the paper's MNIST setting), 10 epochs
// of batch 128.
type FastAT struct {
	ballParams
	trainerParams
}

// Bind returns the binder of the defence's parameters.
func (d *FastAT) Bind() *params.Binder {
	b := params.New("defence", "fast-at")
	d.bindBall(b, 0.3, 0, "1.25*eps", false, false)
	d.randomStart = true
	d.bindRamp(b)
	d.trainerParams.bind(b, trainerDefaults{epochs: 10, optimiser: Adam, lr: 5e-3, schedule: ScheduleCyclic})
	return b
}

// Validate checks the parameters.
func (d *FastAT) Validate() error {
	b := params.New("defence", "fast-at")
	if err := d.validateBall(b); err != nil {
		return err
	}
	return d.trainerParams.validate(b)
}

func (d *FastAT) stepSize() float64 {
	if d.step > 0 {
		return d.step
	}
	return 1.25 * d.eps
}

// Name returns "fast-at".
func (d *FastAT) Name() string { return "fast-at" }

// Kind returns Trainer.
func (d *FastAT) Kind() Kind { return Trainer }

// Params returns the resolved parameters.
func (d *FastAT) Params() map[string]any {
	p := d.Bind().Values()
	p["step"] = d.stepSize()
	return p
}

func (d *FastAT) hook(ctx context.Context, m *onnxmodel.Model, b *TrainBatch, rng *rand.Rand) error {
	f := d.rampFactor(b.Iter, b.Iters)
	if f == 0 {
		return nil
	}
	eps := d.eps * f
	x0 := randomStart(rng, b.X, attack.Linf, eps, true, d.bounds())
	adv, err := perturb(ctx, m, b.X, x0, attack.Linf, eps, d.stepSize()*f, 1, d.bounds(), ceGrad(b.Y))
	if err != nil {
		return err
	}
	b.X = adv
	return nil
}

// Config returns the training configuration Apply uses (its hook included).
func (d *FastAT) Config() TrainConfig {
	c := d.config()
	c.Hook = d.hook
	return c
}

// Apply trains a clone of m on FGSM examples of data.Train.
func (d *FastAT) Apply(ctx context.Context, m *onnxmodel.Model, data TrainData, rng *rand.Rand) (*onnxmodel.Model, error) {
	if err := refuseMaskedExamples("fast-at", m); err != nil {
		return nil, err
	}
	return fitClone(ctx, "fast-at", m, data, d.Config(), rng)
}

// TRADES is the defence of Zhang, Yu, Jiao, Xing, El Ghaoui & Jordan,
// "Theoretically Principled Trade-off between Robustness and Accuracy"
// (ICML 2019): it minimises
//
//	CE(f(x), y) + β·KL(f(x) ‖ f(x'))
//
// where x' maximises the KL term inside the Linf eps-ball: from x +
// 0.001·N(0, 1), steps signed-gradient steps of size step, each projected
// onto the ball and the clip range, with the model in inference mode (as
// the authors' code). The training step differentiates both terms through
// the natural and the adversarial logits (one forward pass over [x; x'],
// so BatchNormalization sees both halves in one batch).
//
// eps_ramp ramps the radius up as for PGDTraining (a batch at radius 0
// trains on plain cross-entropy).
//
// Defaults: beta 6 (the paper's), eps 0.3, steps 10, step 2.5·eps/steps,
// clip range [0, 1], and the shared training parameters (10 epochs of batch
// 128, Adam lr 1e-3).
type TRADES struct {
	ballParams
	trainerParams
	beta float64
}

// Bind returns the binder of the defence's parameters.
func (d *TRADES) Bind() *params.Binder {
	b := params.New("defence", "trades")
	b.Float("beta", &d.beta, 6, "", "weight of the KL (robustness) term")
	d.bindBall(b, 0.3, 10, "2.5*eps/steps", false, false)
	d.bindRamp(b)
	d.trainerParams.bind(b, stdTrainer)
	return b
}

// Validate checks the parameters.
func (d *TRADES) Validate() error {
	b := params.New("defence", "trades")
	if !(d.beta >= 0) {
		return b.Err("beta", d.beta, "a number >= 0")
	}
	if err := d.validateBall(b); err != nil {
		return err
	}
	return d.trainerParams.validate(b)
}

func (d *TRADES) stepSize() float64 {
	if d.step > 0 {
		return d.step
	}
	return 2.5 * d.eps / float64(d.steps)
}

// Name returns "trades".
func (d *TRADES) Name() string { return "trades" }

// Kind returns Trainer.
func (d *TRADES) Kind() Kind { return Trainer }

// Params returns the resolved parameters.
func (d *TRADES) Params() map[string]any {
	p := d.Bind().Values()
	p["step"] = d.stepSize()
	return p
}

func (d *TRADES) hook(ctx context.Context, m *onnxmodel.Model, b *TrainBatch, rng *rand.Rand) error {
	f := d.rampFactor(b.Iter, b.Iters)
	if f == 0 {
		return nil // x' = x: the KL term vanishes, plain cross-entropy
	}
	eps := d.eps * f
	nat, err := m.Logits(ctx, b.X)
	if err != nil {
		return err
	}
	x0 := b.X.Clone()
	for k := range x0.F {
		x0.F[k] += float32(0.001 * rng.NormFloat64())
	}
	n := b.X.Shape[0]
	per := b.X.Len() / max(n, 1)
	for i := 0; i < n; i++ {
		attack.Project(attack.Linf, x0.F[i*per:(i+1)*per], b.X.F[i*per:(i+1)*per], eps, d.bounds())
	}
	c := nat.Shape[1]
	klGrad := func(logits *tensor.Tensor, lo int) (*tensor.Tensor, error) {
		g := tensor.New(logits.Shape...)
		k := logits.Shape[0]
		KLDivergence(nil, g.F, nil, tensor.FromFloat32(nat.F[lo*c:(lo+k)*c], k, c), logits)
		return g, nil
	}
	adv, err := perturb(ctx, m, b.X, x0, attack.Linf, eps, d.stepSize()*f, d.steps, d.bounds(), klGrad)
	if err != nil {
		return err
	}
	both := tensor.New(append([]int{2 * n}, b.X.Shape[1:]...)...)
	copy(both.F, b.X.F)
	copy(both.F[n*per:], adv.F)
	b.X = both
	b.Loss = TRADESLoss(b.Y, d.beta)
	return nil
}

// Config returns the training configuration Apply uses (its hook included).
func (d *TRADES) Config() TrainConfig {
	c := d.config()
	c.Hook = d.hook
	return c
}

// Apply trains a clone of m with the TRADES objective on data.Train.
func (d *TRADES) Apply(ctx context.Context, m *onnxmodel.Model, data TrainData, rng *rand.Rand) (*onnxmodel.Model, error) {
	if err := refuseMaskedExamples("trades", m); err != nil {
		return nil, err
	}
	return fitClone(ctx, "trades", m, data, d.Config(), rng)
}

func init() {
	mustRegister("pgd-at", FactoryFor("PGD adversarial training (Madry et al. 2018): every batch replaced by PGD examples",
		func() Configurable { return &PGDTraining{name: "pgd-at", defRatio: 1} }))
	mustRegister("adversarial-training", FactoryFor("adversarial training as ART's AdversarialTrainer: half of each batch replaced by attack examples (Madry et al. 2018)",
		func() Configurable { return &PGDTraining{name: "adversarial-training", defRatio: 0.5} }))
	mustRegister("fast-at", FactoryFor("fast adversarial training (Wong et al. 2020): FGSM from a random start, step 1.25·eps, cyclic lr",
		func() Configurable { return &FastAT{} }))
	mustRegister("trades", FactoryFor("TRADES (Zhang et al. 2019): CE + β·KL(f(x)‖f(x')) with x' from PGD on the KL term",
		func() Configurable { return &TRADES{} }))
}
