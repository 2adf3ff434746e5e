package harden

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/certify"
	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/defend"
	"github.com/advtest/advtest/pkg/eval"
	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/report"
	"github.com/advtest/advtest/pkg/tensor"
)

// DefenceSpec is one defence of the schedule: a registry name and its
// parameters as written in the config.
type DefenceSpec struct {
	// Name is the defence's registry name (defend.Names).
	Name string `json:"name"`
	// Params are its parameters, values as strings.
	Params map[string]string `json:"params,omitempty"`
}

// Pool is what every round is measured with: the evaluation data and the
// attack pool.
type Pool struct {
	// X and Y are the evaluation samples (input space) and labels.
	X *tensor.Tensor
	Y []int
	// Data, when not nil, replaces X and Y: the evaluation samples read
	// batch by batch (a streamed set, eval.Data), so that a round's
	// measurement holds a batch, not the set.
	Data eval.Data
	// Attacks is the pool, run in this order; at least one must be bounded
	// (Eps > 0): the worst case is over the bounded ones.
	Attacks []attack.Attack
	// Specs describe the attacks for their figures, parallel to Attacks;
	// their keys name the attacks in Row.AttackSR. Nil uses
	// eval.SpecsOf(Attacks).
	Specs []eval.AttackSpec
	// BatchSize is the attack batch size.
	BatchSize int
	// Progress, when not nil, is called after each attack batch (see
	// eval.PoolOptions.Progress).
	Progress func(attackIndex int, name string, done, total int)
}

// CertifiedTarget is a certified-accuracy target of the loop: the
// smoothed classifier of randomized smoothing (Cohen, Rosenfeld & Kolter
// 2019, CERTIFY, pkg/certify) must be certified correct at L2 radius
// Radius on at least the fraction Accuracy of the certified samples.
type CertifiedTarget struct {
	// Radius is the L2 radius (input space) and Accuracy the certified
	// accuracy to reach there.
	Radius, Accuracy float64
	// Params are CERTIFY's parameters; Params.Sigma is the noise level.
	Params certify.Params
	// Samples certifies the first Samples evaluation samples of the pool
	// (0: all of them).
	Samples int
}

// Validate checks the target and its parameters, naming the config key
// that is wrong.
func (t *CertifiedTarget) Validate() error {
	switch {
	case !(t.Radius >= 0) || math.IsInf(t.Radius, 0):
		return fmt.Errorf("harden: until_certified.radius %v: want a finite L2 radius >= 0", t.Radius)
	case !(t.Accuracy >= 0 && t.Accuracy <= 1):
		return fmt.Errorf("harden: until_certified.accuracy %v: want a number in [0, 1]", t.Accuracy)
	case t.Samples < 0:
		return fmt.Errorf("harden: until_certified.samples %d: want >= 0 (0: every evaluation sample)", t.Samples)
	}
	if err := t.Params.Validate(); err != nil {
		return fmt.Errorf("harden: until_certified: %w", err)
	}
	if maxR := t.Params.MaxRadius(); t.Accuracy > 0 && t.Radius > maxR {
		return fmt.Errorf("harden: until_certified.radius %g: n = %d draws certify at most radius %.4g at sigma %g and alpha %g, so the target cannot be met; raise until_certified.n or sigma", t.Radius, t.Params.N, maxR, t.Params.Sigma, t.Params.Alpha)
	}
	return nil
}

// Config configures Run.
type Config struct {
	// UntilSR is the worst-case success rate to reach; 1 sets no bound on
	// the SR (a run with a certified-accuracy target only).
	UntilSR float64
	// UntilCertified, when not nil, is a certified-accuracy target that
	// must be met too: every round is then also certified.
	UntilCertified *CertifiedTarget
	// MaxRounds bounds the number of defence rounds (round 0 excluded).
	MaxRounds int
	// MaxCleanDrop is the most clean (and validation) accuracy a round
	// may lose against round 0 (absolute, e.g. 0.01).
	MaxCleanDrop float64
	// Schedule lists the defences in the order they are applied.
	Schedule []DefenceSpec
	// Seed drives every random choice (pool and defences).
	Seed uint64
	// Train is the data trainer defences train on; Validation the held-out
	// part (defend.SplitValidation), nil when none.
	Train, Validation *dataset.Set
	// CheckpointDir, when not empty, receives a checkpoint after every
	// round.
	CheckpointDir string
	// Resume continues from the checkpoint in CheckpointDir. The
	// checkpoint must come from the same schedule, pool, target and seed.
	Resume bool
	// OnRound, when not nil, is called with each row as its round ends
	// (rows restored from a checkpoint are not replayed).
	OnRound func(Row)
	// OnTrain, when not nil, is called after each training batch of
	// round's defence.
	OnTrain func(round int, defence string, p defend.Progress)
}

// Row is one round of the loop.
type Row struct {
	// Round numbers the rounds from 0 (the model as given).
	Round int `json:"round"`
	// Defence is the defence applied; empty for round 0.
	Defence string `json:"defence"`
	// Params are the defence's resolved parameters, values as strings.
	Params map[string]string `json:"params,omitempty"`
	// CleanAccuracy is the accuracy on the evaluation data.
	CleanAccuracy float64 `json:"clean_accuracy"`
	// ValAccuracy is the accuracy on the validation data; −1 without.
	ValAccuracy float64 `json:"val_accuracy"`
	// AttackSR maps each attack key to its success rate.
	AttackSR map[string]float64 `json:"attack_sr"`
	// WorstCaseSR is the worst case over the pool's bounded attacks.
	WorstCaseSR float64 `json:"worst_case_sr"`
	// CertifiedAccuracy is the certified accuracy at the target's radius,
	// with Config.UntilCertified; nil without.
	CertifiedAccuracy *float64 `json:"certified_accuracy,omitempty"`
	// Seconds is the round's wall time (defence and measurement).
	Seconds float64 `json:"seconds"`
	// Accepted is true when the round's model was kept (always for round
	// 0).
	Accepted bool `json:"accepted"`
	// Reason says why a round was rejected; empty when accepted.
	Reason string `json:"reason,omitempty"`
}

// Result is the outcome of Run.
type Result struct {
	// Rows are the rounds in order, those restored from a checkpoint
	// included.
	Rows []Row
	// Model is the last accepted model (the input when no round was
	// accepted).
	Model *onnxmodel.Model
	// Final is the pool's figures on Model (attacked through
	// defend.AdaptiveWith); nil when Run stopped early with an error.
	Final *eval.Result
	// Certification is Model's certification (Config.UntilCertified's
	// samples, at certify.DefaultRadii and the target's radius); nil
	// without a certified target or when Run stopped early with an error.
	Certification *report.Certification
	// Reached is true when Model's worst-case SR is at or below UntilSR
	// and, with UntilCertified, its certified accuracy at the target's
	// radius is at least the target's.
	Reached bool
	// Stop says why the loop ended.
	Stop string
	// ResumedAt is the number of rounds restored from a checkpoint (0 for
	// a fresh run).
	ResumedAt int
}

// Measure runs the pool against defend.AdaptiveWith(m) with seed (which
// also seeds EOT's noise draws, DefaultEOTDraws per call) and returns its
// figures. It attacks a clone of m, so that the buffers the attacks grow
// go with the clone and m keeps none (a loop that holds several models
// would otherwise hold every model's run buffers).
func Measure(ctx context.Context, m *onnxmodel.Model, pool Pool, seed uint64) (*eval.Result, error) {
	c, err := m.Clone()
	if err != nil {
		return nil, err
	}
	clf, err := defend.AdaptiveWith(c, defend.AdaptiveOptions{Seed: seed})
	if err != nil {
		return nil, err
	}
	opts := eval.PoolOptions{BatchSize: pool.BatchSize, Seed: seed, Progress: pool.Progress}
	var res *eval.PoolResult
	if pool.Data != nil {
		res, err = eval.RunPoolData(ctx, clf, pool.Data, pool.Attacks, opts)
	} else {
		res, err = eval.RunPool(ctx, clf, pool.X, pool.Y, pool.Attacks, opts)
	}
	if err != nil {
		return nil, err
	}
	if res.Incomplete != nil {
		return nil, res.Incomplete
	}
	return eval.NewResult(res, pool.specs())
}

// data is the evaluation set as eval.Data: Data, or X and Y.
func (p Pool) data() eval.Data {
	if p.Data != nil {
		return p.Data
	}
	return eval.TensorData(p.X, p.Y)
}

// labels are the evaluation labels.
func (p Pool) labels() []int {
	if p.Data != nil {
		return p.Data.Labels()
	}
	return p.Y
}

func (p Pool) specs() []eval.AttackSpec {
	if p.Specs != nil {
		return p.Specs
	}
	return eval.SpecsOf(p.Attacks)
}

// TrainerAttack returns the spec of the pool's first bounded white-box
// attack, which adversarial-training defences are given as their
// "attack" parameter when the schedule leaves it unset; ok is false when
// the pool has none.
func TrainerAttack(attacks []attack.Attack) (spec string, ok bool) {
	for _, a := range attacks {
		if _, bb := a.(attack.BlackBox); bb || a.Eps() <= 0 {
			continue
		}
		return eval.SpecOf(a, nil).String(), true
	}
	return "", false
}

// scheduled returns the defence of round r (1-based) and whether it is a
// repeat past the schedule's end; ok is false when the schedule is
// exhausted and holds no trainer defence.
func scheduled(schedule []DefenceSpec, r int) (d DefenceSpec, repeat, ok bool) {
	if r-1 < len(schedule) {
		return schedule[r-1], false, true
	}
	for i := len(schedule) - 1; i >= 0; i-- {
		if f, found := defend.Lookup(schedule[i].Name); found && f.Kind == defend.Trainer {
			return schedule[i], true, true
		}
	}
	return DefenceSpec{}, false, false
}

// build makes the defence of a spec, passing the pool's attack to a
// defence with an unset "attack" parameter.
func build(spec DefenceSpec, trainerAttack string) (defend.Defence, error) {
	f, ok := defend.Lookup(spec.Name)
	if !ok {
		_, err := defend.New(spec.Name, nil)
		return nil, err
	}
	p := map[string]string{}
	for k, v := range spec.Params {
		p[k] = v
	}
	if _, set := p["attack"]; !set && trainerAttack != "" {
		for _, doc := range f.Params {
			if doc.Name == "attack" {
				p["attack"] = trainerAttack
			}
		}
	}
	return f.New(p)
}

// Validate checks cfg and pool before anything runs: the target and
// bounds, that the pool has a bounded attack, that every defence of the
// schedule builds, and that training data is there when a defence needs
// it.
func Validate(cfg Config, pool Pool) error {
	switch {
	case !(cfg.UntilSR >= 0 && cfg.UntilSR <= 1):
		return fmt.Errorf("harden: until_sr %v: want a rate in [0, 1]", cfg.UntilSR)
	case cfg.MaxRounds < 1:
		return fmt.Errorf("harden: max_rounds %d: want >= 1", cfg.MaxRounds)
	case !(cfg.MaxCleanDrop >= 0 && cfg.MaxCleanDrop <= 1):
		return fmt.Errorf("harden: max_clean_drop %v: want a number in [0, 1]", cfg.MaxCleanDrop)
	case len(cfg.Schedule) == 0:
		return errors.New("harden: no defences: add `harden.defences` to the config")
	case pool.X == nil && pool.Data == nil || len(pool.labels()) == 0:
		return errors.New("harden: no evaluation data")
	case pool.BatchSize < 1:
		return fmt.Errorf("harden: batch size %d: want >= 1", pool.BatchSize)
	case cfg.Resume && cfg.CheckpointDir == "":
		return errors.New("harden: resume needs a checkpoint folder")
	}
	if cfg.UntilCertified != nil {
		if err := cfg.UntilCertified.Validate(); err != nil {
			return err
		}
	}
	bounded := false
	for _, a := range pool.Attacks {
		if a.Eps() > 0 {
			bounded = true
		}
	}
	if !bounded {
		return errors.New("harden: the attack pool has no bounded attack (eps > 0); the worst case the loop drives down is over bounded attacks")
	}
	ta, _ := TrainerAttack(pool.Attacks)
	pre := -1 // the first preprocessor defence of the schedule
	for i, s := range cfg.Schedule {
		d, err := build(s, ta)
		if err != nil {
			return fmt.Errorf("harden.defences[%d]: %w", i, err)
		}
		needs := d.Kind().NeedsData()
		if nd, ok := d.(interface{ NeedsTrainingData() bool }); ok {
			needs = needs || nd.NeedsTrainingData()
		}
		if needs && (cfg.Train == nil || cfg.Train.Len() == 0) {
			return fmt.Errorf("harden.defences[%d]: %s needs training data: set `train.data` in the config", i, s.Name)
		}
		addsNoise := s.Name == "gaussian-augmentation" && strings.EqualFold(s.Params["inference_noise"], "true")
		if err := sameSigma(cfg.UntilCertified, d, addsNoise); err != nil {
			return fmt.Errorf("harden.defences[%d]: %w", i, err)
		}
		if (d.Kind() == defend.Preprocessor || addsNoise) && pre < 0 {
			pre = i
		}
		if pre >= 0 && adversarialTrainers[s.Name] {
			return fmt.Errorf("harden.defences[%d]: %s after %s (defences[%d]) would make its examples through the preprocessor's masked gradient; put the preprocessor defences last", i, s.Name, cfg.Schedule[pre].Name, pre)
		}
	}
	if r, repeat, ok := scheduled(cfg.Schedule, len(cfg.Schedule)+1); pre >= 0 && ok && repeat && adversarialTrainers[r.Name] && cfg.MaxRounds > len(cfg.Schedule) {
		return fmt.Errorf("harden: max_rounds %d repeats %s after the schedule ends, behind %s (defences[%d]), whose gradient it cannot train through; set max_rounds to %d or drop the preprocessor", cfg.MaxRounds, r.Name, cfg.Schedule[pre].Name, pre, len(cfg.Schedule))
	}
	return nil
}

// sameSigma refuses a defence that puts Gaussian noise into the graph at
// another sigma than the certified target's: certify.ForModel certifies
// such a model with its own noise and refuses any other sigma.
func sameSigma(t *CertifiedTarget, d defend.Defence, addsNoise bool) error {
	if t == nil || (d.Name() != defend.InferenceNoiseDefence && !addsNoise) {
		return nil
	}
	sigma, ok := d.Params()["sigma"].(float64)
	if ok && math.Abs(sigma-t.Params.Sigma) > 1e-6*t.Params.Sigma {
		return fmt.Errorf("%s adds Gaussian noise of sigma %g in the graph, but until_certified.sigma is %g: the smoothed classifier certified must be the one deployed; give both the same sigma", d.Name(), sigma, t.Params.Sigma)
	}
	return nil
}

// adversarialTrainers make their training examples from the model's own
// input gradient, which a preprocessor defence in the graph masks (see
// defend's refusal of such models).
var adversarialTrainers = map[string]bool{"pgd-at": true, "adversarial-training": true, "fast-at": true, "trades": true}

// roundRNG is round r's generator: a function of (seed, r) only.
func roundRNG(seed uint64, r int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x68617264656e0000+uint64(r)))
}

// Run runs the loop on m (which it does not change) and returns the
// rounds and the hardened model. When ctx is cancelled it returns the
// rows finished so far with ctx's error; the checkpoint then holds the
// last finished round, from which Resume continues.
func Run(ctx context.Context, m *onnxmodel.Model, pool Pool, cfg Config) (*Result, error) {
	if err := Validate(cfg, pool); err != nil {
		return nil, err
	}
	ta, _ := TrainerAttack(pool.Attacks)
	fp, err := fingerprint(cfg, pool, ta)
	if err != nil {
		return nil, err
	}
	res := &Result{Model: m}
	var cur *eval.Result // the current model's measurement, when taken in this run
	var curCert *report.Certification
	if cfg.Resume {
		st, model, err := LoadCheckpoint(cfg.CheckpointDir)
		if err != nil {
			return nil, err
		}
		if st.Fingerprint != fp {
			return nil, fmt.Errorf("harden: the checkpoint in %s was made with another schedule, pool, target, data or seed; start afresh without --resume", cfg.CheckpointDir)
		}
		res.Rows, res.Model, res.ResumedAt = st.Rows, model, len(st.Rows)
	}
	if len(res.Rows) == 0 {
		start := time.Now()
		ms, err := Measure(ctx, m, pool, cfg.Seed)
		if err != nil {
			return res, err
		}
		val, err := valAccuracy(ctx, m, cfg.Validation)
		if err != nil {
			return res, err
		}
		cert, err := certifyModel(ctx, m, pool, cfg)
		if err != nil {
			return res, err
		}
		row := Row{Round: 0, CleanAccuracy: ms.CleanAccuracy, ValAccuracy: val, AttackSR: ms.AttackSR(),
			WorstCaseSR: ms.WorstCase.SuccessRate, CertifiedAccuracy: certifiedAt(cert, cfg), Seconds: time.Since(start).Seconds(), Accepted: true}
		cur, curCert = ms, cert
		res.Rows = append(res.Rows, row)
		if err := save(cfg, fp, res.Rows, m); err != nil {
			return res, err
		}
		if cfg.OnRound != nil {
			cfg.OnRound(row)
		}
	}
	r0 := res.Rows[0]
	curRow := lastAccepted(res.Rows)

	for res.Stop = stopReason(res.Rows, cfg); res.Stop == ""; res.Stop = stopReason(res.Rows, cfg) {
		r := len(res.Rows)
		spec, _, _ := scheduled(cfg.Schedule, r)
		start := time.Now()
		d, err := build(spec, ta)
		if err != nil {
			return res, err
		}
		data := defend.TrainData{Train: cfg.Train, Validation: cfg.Validation}
		if cfg.OnTrain != nil {
			data.Progress = func(p defend.Progress) { cfg.OnTrain(r, spec.Name, p) }
		}
		hm, err := d.Apply(ctx, res.Model, data, roundRNG(cfg.Seed, r))
		if err != nil {
			return res, fmt.Errorf("round %d: %w", r, err)
		}
		// A fresh copy drops the buffers training grew (the same weights).
		if hm, err = hm.Clone(); err != nil {
			return res, fmt.Errorf("round %d: %w", r, err)
		}
		ms, err := Measure(ctx, hm, pool, cfg.Seed)
		if err != nil {
			return res, fmt.Errorf("round %d: %w", r, err)
		}
		val, err := valAccuracy(ctx, hm, cfg.Validation)
		if err != nil {
			return res, fmt.Errorf("round %d: %w", r, err)
		}
		cert, err := certifyModel(ctx, hm, pool, cfg)
		if err != nil {
			return res, fmt.Errorf("round %d: %w", r, err)
		}
		row := Row{Round: r, Defence: spec.Name, Params: stringParams(d.Params()), CleanAccuracy: ms.CleanAccuracy,
			ValAccuracy: val, AttackSR: ms.AttackSR(), WorstCaseSR: ms.WorstCase.SuccessRate, CertifiedAccuracy: certifiedAt(cert, cfg)}
		row.Reason = rejection(row, r0, curRow, cfg)
		row.Accepted = row.Reason == ""
		row.Seconds = time.Since(start).Seconds()
		if row.Accepted {
			res.Model, cur, curCert, curRow = hm, ms, cert, row
		}
		res.Rows = append(res.Rows, row)
		if err := save(cfg, fp, res.Rows, res.Model); err != nil {
			return res, err
		}
		if cfg.OnRound != nil {
			cfg.OnRound(row)
		}
	}
	if cur == nil {
		// Resumed past the current model's round: measure it again (the
		// same seed gives the same figures).
		var err error
		if cur, err = Measure(ctx, res.Model, pool, cfg.Seed); err != nil {
			return res, err
		}
		if curCert, err = certifyModel(ctx, res.Model, pool, cfg); err != nil {
			return res, err
		}
	}
	res.Final, res.Certification = cur, curCert
	res.Reached = reached(curRow, cfg)
	return res, nil
}

// certifyModel certifies m's smoothed classifier for cfg's certified
// target, or returns nil without one: certify.ForModel (a model that
// carries the advtest.noise mark is certified with its own noise, cut off
// and drawn by certify) on the target's first samples of the pool, with
// the run's seed, so that every round is certified with the same noise
// draws. It certifies a clone of m, as Measure attacks one.
func certifyModel(ctx context.Context, m *onnxmodel.Model, pool Pool, cfg Config) (*report.Certification, error) {
	t := cfg.UntilCertified
	if t == nil {
		return nil, nil
	}
	start := time.Now()
	c, err := m.Clone()
	if err != nil {
		return nil, err
	}
	base, err := certify.ForModel(c, t.Params)
	if err != nil {
		return nil, err
	}
	d := pool.data()
	n := d.Len()
	if t.Samples > 0 && t.Samples < n {
		n = t.Samples
	}
	x := tensor.New(append([]int{n}, d.SampleShape()...)...)
	if err := d.ReadBatch(x.F, 0, n); err != nil {
		return nil, err
	}
	samples, err := certify.Certify(ctx, base.Model, x, d.Labels()[:n], certify.Options{Params: base.Params, Seed: cfg.Seed})
	if err != nil {
		return nil, fmt.Errorf("certify: %w", err)
	}
	radii := append(append([]float64(nil), certify.DefaultRadii...), t.Radius)
	return certify.Summarize(samples, radii, base.Params, base.NoiseSource, time.Since(start)), nil
}

// certifiedAt is c's certified accuracy at the target's radius, nil
// without a certified target.
func certifiedAt(c *report.Certification, cfg Config) *float64 {
	if c == nil || cfg.UntilCertified == nil {
		return nil
	}
	_, acc := c.CertifiedAccuracyAt(cfg.UntilCertified.Radius)
	return &acc
}

const tol = 1e-9

func met(sr, until float64) bool { return sr <= until+1e-12 }

// srOpen and certOpen say whether row misses the SR target and the
// certified target.
func srOpen(row Row, cfg Config) bool { return !met(row.WorstCaseSR, cfg.UntilSR) }

func certOpen(row Row, cfg Config) bool {
	t := cfg.UntilCertified
	return t != nil && (row.CertifiedAccuracy == nil || *row.CertifiedAccuracy < t.Accuracy-1e-12)
}

func orMinus1(p *float64) float64 {
	if p == nil {
		return -1
	}
	return *p
}

// reached says whether row meets every target.
func reached(row Row, cfg Config) bool { return !srOpen(row, cfg) && !certOpen(row, cfg) }

// stopReason says why the loop ends after rows, or "" when it goes on.
// It depends on the rows only, so a resumed run stops where an
// uninterrupted one would.
func stopReason(rows []Row, cfg Config) string {
	last := rows[len(rows)-1]
	switch {
	case last.Accepted && reached(last, cfg) && last.Round == 0:
		return "target met by the model as given"
	case last.Accepted && reached(last, cfg):
		return fmt.Sprintf("target met in round %d", last.Round)
	case !last.Accepted && last.Round > len(cfg.Schedule):
		return fmt.Sprintf("round %d: the repeated defence %s was rejected", last.Round, last.Defence)
	case last.Round >= cfg.MaxRounds:
		return fmt.Sprintf("max_rounds (%d) reached", cfg.MaxRounds)
	}
	if _, _, ok := scheduled(cfg.Schedule, last.Round+1); !ok {
		return "schedule exhausted (no trainer defence to repeat)"
	}
	return ""
}

// rejection returns why row must be rejected, or "".
func rejection(row, r0, cur Row, cfg Config) string {
	maxDrop := cfg.MaxCleanDrop
	if drop := r0.CleanAccuracy - row.CleanAccuracy; drop > maxDrop+tol {
		return fmt.Sprintf("clean accuracy %.4f is %.4f below round 0's %.4f (max_clean_drop %g)", row.CleanAccuracy, drop, r0.CleanAccuracy, maxDrop)
	}
	if row.ValAccuracy >= 0 && r0.ValAccuracy >= 0 {
		if drop := r0.ValAccuracy - row.ValAccuracy; drop > maxDrop+tol {
			return fmt.Sprintf("validation accuracy %.4f is %.4f below round 0's %.4f (max_clean_drop %g)", row.ValAccuracy, drop, r0.ValAccuracy, maxDrop)
		}
	}
	return noProgress(row, cur, cfg)
}

// noProgress returns why row improves none of the targets that the
// current model misses (its worst-case SR must fall, its certified
// accuracy at the target's radius must rise), or "" when it improves one.
func noProgress(row, cur Row, cfg Config) string {
	var why []string
	if srOpen(cur, cfg) {
		if row.WorstCaseSR < cur.WorstCaseSR-tol {
			return ""
		}
		why = append(why, fmt.Sprintf("worst-case SR %.4f did not fall below the current model's %.4f (round %d)", row.WorstCaseSR, cur.WorstCaseSR, cur.Round))
	}
	if certOpen(cur, cfg) {
		got, was := orMinus1(row.CertifiedAccuracy), orMinus1(cur.CertifiedAccuracy)
		if got > was+tol {
			return ""
		}
		why = append(why, fmt.Sprintf("certified accuracy %.4f at L2 radius %g did not rise above the current model's %.4f (round %d)", got, cfg.UntilCertified.Radius, was, cur.Round))
	}
	return strings.Join(why, "; ")
}

func lastAccepted(rows []Row) Row {
	for i := len(rows) - 1; i >= 0; i-- {
		if rows[i].Accepted {
			return rows[i]
		}
	}
	return rows[0]
}

func valAccuracy(ctx context.Context, m *onnxmodel.Model, val *dataset.Set) (float64, error) {
	if val == nil || val.Len() == 0 {
		return -1, nil
	}
	return defend.Accuracy(ctx, m, val, 256)
}

// stringParams formats resolved parameters as strings.
func stringParams(p map[string]any) map[string]string {
	out := make(map[string]string, len(p))
	for k, v := range p {
		switch x := v.(type) {
		case float64:
			out[k] = strconv.FormatFloat(x, 'g', -1, 64)
		case float32:
			out[k] = strconv.FormatFloat(float64(x), 'g', -1, 32)
		default:
			out[k] = fmt.Sprint(v)
		}
	}
	return out
}
