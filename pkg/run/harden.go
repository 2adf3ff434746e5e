package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/advtest/advtest/pkg/certify"
	"github.com/advtest/advtest/pkg/config"
	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/defend"
	"github.com/advtest/advtest/pkg/eval"
	"github.com/advtest/advtest/pkg/harden"
	"github.com/advtest/advtest/pkg/report"
)

// HardenOptions are harden's own settings on top of Options.
type HardenOptions struct {
	// OutputModel is where the hardened model goes; empty: beside the
	// report file (or in the working directory when the report goes to
	// stdout), named <model>-hardened.onnx.
	OutputModel string
	// CheckpointDir is the checkpoint folder; empty: <output
	// model>.checkpoint, removed when the run ends.
	CheckpointDir string
	// Resume continues from the checkpoint in CheckpointDir.
	Resume bool
}

// Harden runs the harden loop of the plan (plan.Harden, with a target
// set): round 0 measures the model, each later round applies a defence
// and measures again (pkg/harden). It prints each round as it ends (to
// Stdout, or Stderr when a machine-readable report goes to stdout),
// writes the last accepted model to the output model path, runs the
// sanity checks on it, and writes the report with every round in every
// configured format. Errors as Attack's: ErrGateFailed when the target
// was missed or a gate failed (the report written), ErrInterrupted (the
// report written, marked incomplete, when the loop was cut short; the
// checkpoint kept for Resume), any other error for a usage, config or
// input problem.
func Harden(ctx context.Context, o Options, ho HardenOptions) (*report.Report, error) {
	start := time.Now()
	plan := o.Plan
	if plan.Harden.UntilSR == nil && plan.Harden.UntilCertified == nil {
		return nil, errors.New("no target: set --until-sr or `harden.until_sr` (or --until-certified or `harden.until_certified`) in the config")
	}
	lo := o
	lo.Stderr, lo.Target, lo.Shard = nil, Target{}, Shard{}
	// The evaluation set is streamed: each round's measurement reads it
	// batch by batch. The training set is loaded whole (loadTrain).
	w, err := loadWorkload(ctx, &lo)
	if err != nil {
		return nil, err
	}
	defer w.data.Close()
	gate, err := gateOf(plan)
	if err != nil {
		return nil, err
	}
	train, val, err := loadTrain(&o, w)
	if err != nil {
		return nil, err
	}
	modelOut := outputModelPath(plan, ho.OutputModel)
	if err := checkOutputDir("--output-model", modelOut); err != nil {
		return nil, err
	}
	if err := checkOutputs(plan); err != nil {
		return nil, err
	}
	ckpt, defaultCkpt := ho.CheckpointDir, false
	if ckpt == "" {
		ckpt, defaultCkpt = strings.TrimSuffix(modelOut, ".onnx")+".checkpoint", true
	}
	rt := newRoundTable(roundsOut(&o), w.specs)
	if u := plan.Harden.UntilCertified; u != nil {
		r := u.Radius
		rt.certRadius = &r
	}
	cfg, pool, bars := hardenConfig(&o, w, train, val, ckpt, ho.Resume, rt)
	if err := harden.Validate(cfg, pool); err != nil {
		return nil, err
	}
	if err := rt.start(ho.Resume, ckpt); err != nil {
		return nil, err
	}
	res, err := harden.Run(ctx, w.model, pool, cfg)
	bars.finish()
	rt.close()
	if err != nil {
		if ctx.Err() == nil {
			return nil, err
		}
		return interruptedHarden(&o, w, res, cfg, gate, ckpt, start)
	}
	if err := res.Model.Save(modelOut); err != nil {
		return nil, fmt.Errorf("--output-model: %w", err)
	}
	fmt.Fprintf(rt.w, "%s: %s; hardened model written to %s\n", verdictWord(res.Reached), res.Stop, modelOut)
	return finishHarden(ctx, &o, w, res, cfg, gate, modelOut, start, func() {
		if defaultCkpt {
			os.RemoveAll(ckpt)
		}
	})
}

// finishHarden runs the sanity checks on the hardened model, then writes
// the report; done runs after the report is written.
func finishHarden(ctx context.Context, o *Options, w *workload, res *harden.Result, cfg harden.Config, gate report.Gate, modelOut string, start time.Time, done func()) (*report.Report, error) {
	clf, err := defend.AdaptiveWith(res.Model, defend.AdaptiveOptions{Seed: w.plan.Seed})
	if err != nil {
		return nil, err
	}
	// A failure of the sanity checks keeps the report, with a note.
	var checks []report.SanityCheck
	var sanityErr error
	if w.plan.Sanity.Enabled {
		checks, sanityErr = sanity(ctx, o, clf, w, res.Final)
		if sanityErr != nil && ctx.Err() != nil {
			return nil, fmt.Errorf("%w during the sanity checks; the hardened model is written", ErrInterrupted)
		}
		if sanityErr != nil {
			o.warn(sanityErr.Error())
		}
	}
	rep := hardenReport(o.ToolVersion, w, res.Final, res, cfg)
	sum, err := fileSHA256(modelOut)
	if err != nil {
		return nil, err
	}
	rep.Model.Path, rep.Model.SHA256 = modelOut, sum
	rep.Sanity = checks
	rep.Timing = timing(start)
	rep.ApplyGate(gate)
	addHardenVerdict(rep, res, cfg, w.plan.Model)
	if sanityErr != nil {
		rep.Gate.Notes = append(rep.Gate.Notes, "the sanity checks could not run to the end: "+sanityErr.Error())
	}
	if err := writeOutputs(o, rep, nil); err != nil {
		return rep, err
	}
	done()
	if !rep.Gate.Passed {
		return rep, ErrGateFailed
	}
	return rep, nil
}

// interruptedHarden writes the report of the rounds done and says how to
// resume.
func interruptedHarden(o *Options, w *workload, res *harden.Result, cfg harden.Config, gate report.Gate, ckpt string, start time.Time) (*report.Report, error) {
	rep := hardenReport(o.ToolVersion, w, nil, res, cfg)
	rep.Incomplete, rep.IncompleteReason = true, "interrupted: resume with --resume --checkpoint-dir "+ckpt
	rep.Timing = timing(start)
	rep.ApplyGate(gate)
	if err := writeOutputs(o, rep, nil); err != nil {
		fmt.Fprintf(o.Stderr, "advtest: %v\n", err)
	}
	done := 0
	if res != nil {
		done = len(res.Rows)
	}
	return rep, fmt.Errorf("%w after %d rounds; continue with: advtest harden ... --resume --checkpoint-dir %s", ErrInterrupted, done, ckpt)
}

// progressBars are harden's two progress displays: the attack pool's and
// the defence's training.
type progressBars struct{ pool, train Progress }

func (b progressBars) finish() {
	b.pool.Finish()
	b.train.Finish()
}

// hardenConfig turns the plan into harden's config and pool.
func hardenConfig(o *Options, w *workload, train, val *dataset.Set, ckpt string, resume bool, rt *roundTable) (harden.Config, harden.Pool, progressBars) {
	plan := w.plan
	bars := progressBars{pool: o.progress(), train: o.progress()}
	defs := make([]harden.DefenceSpec, len(plan.Harden.Defences))
	for i, d := range plan.Harden.Defences {
		defs[i] = harden.DefenceSpec{Name: d.Name, Params: d.Params}
	}
	untilSR := 1.0 // no SR target: a certified target only
	if plan.Harden.UntilSR != nil {
		untilSR = *plan.Harden.UntilSR
	}
	cfg := harden.Config{
		UntilSR: untilSR, UntilCertified: certifiedTarget(plan.Harden.UntilCertified), MaxRounds: plan.Harden.MaxRounds, MaxCleanDrop: plan.Harden.MaxCleanDrop,
		Schedule: defs, Seed: plan.Seed, Train: train, Validation: val,
		CheckpointDir: ckpt, Resume: resume,
		OnRound: func(r harden.Row) {
			bars.finish()
			rt.row(r)
		},
		OnTrain: func(round int, name string, p defend.Progress) {
			bars.train.Update(round, fmt.Sprintf("round %d %s", round, name), p.Iter, p.Iters)
		},
	}
	pool := harden.Pool{Data: w.data, Attacks: w.attacks, Specs: w.specs, BatchSize: plan.BatchSize, Progress: bars.pool.Update}
	return cfg, pool, bars
}

// certifiedTarget turns the config's until_certified (defaults filled
// in) into harden's target; nil for nil.
func certifiedTarget(u *config.UntilCertified) *harden.CertifiedTarget {
	if u == nil {
		return nil
	}
	d := u.WithDefaults()
	return &harden.CertifiedTarget{
		Radius: d.Radius, Accuracy: d.Accuracy, Samples: d.Samples,
		Params: certify.Params{Sigma: d.Sigma, N0: d.N0, N: d.N, Alpha: d.Alpha, Batch: d.Batch},
	}
}

// roundsOut is where harden prints its rounds: stdout, unless a
// machine-readable report goes there.
func roundsOut(o *Options) io.Writer {
	for _, out := range o.Plan.AllOutputs() {
		if config.IsStdout(out.Path) && out.Format != "table" && out.Format != "markdown" {
			return o.Stderr
		}
	}
	return o.Stdout
}

// outputModelPath returns where the hardened model goes.
func outputModelPath(plan *config.Plan, flag string) string {
	if flag != "" {
		return flag
	}
	base := strings.TrimSuffix(filepath.Base(plan.Model), filepath.Ext(plan.Model)) + "-hardened.onnx"
	if p := plan.Output.Path; !config.IsStdout(p) && p != "stderr" {
		return filepath.Join(filepath.Dir(p), base)
	}
	return base
}

// loadTrain loads the plan's training data (all of it: limit applies to
// the evaluation data only) and holds back the validation split.
func loadTrain(o *Options, w *workload) (train, val *dataset.Set, err error) {
	plan := w.plan
	if plan.Train.Data == "" {
		return nil, nil, nil
	}
	set, err := dataset.Load(plan.Train.Data, plan.Train.Labels, dataset.Options{LabelColumn: plan.LabelColumn, MaxBytes: o.MaxMemory})
	if err != nil {
		return nil, nil, fmt.Errorf("train.data: %w", err)
	}
	if err := fitData(w.model, set); err != nil {
		return nil, nil, fmt.Errorf("train.data: %w", err)
	}
	if err := checkClipRange(set, plan, "training sample"); err != nil {
		return nil, nil, err
	}
	train, val, err = defend.SplitValidation(set, plan.Train.ValidationSplit, plan.Seed)
	if err != nil {
		return nil, nil, fmt.Errorf("train.validation_split: %w", err)
	}
	return train, val, nil
}

func verdictWord(reached bool) string {
	if reached {
		return "target met"
	}
	return "target NOT met"
}

// hardenReport builds the report: the final model's attack results (when
// final is not nil) and every round.
func hardenReport(toolVersion string, w *workload, final *eval.Result, res *harden.Result, cfg harden.Config) *report.Report {
	var rep *report.Report
	if final != nil {
		if r, err := newReport(toolVersion, w, final); err == nil {
			rep = r
		}
	}
	if rep == nil {
		rep, _ = emptyReport(toolVersion, w)
	}
	h := &report.Harden{UntilSR: cfg.UntilSR}
	if t := cfg.UntilCertified; t != nil {
		h.UntilCertified = &report.CertifiedTarget{Radius: t.Radius, Accuracy: t.Accuracy, Sigma: t.Params.Sigma,
			N0: t.Params.N0, N: t.Params.N, Alpha: t.Params.Alpha, Samples: t.Samples}
	}
	if res != nil {
		h.Reached = res.Reached
		// The final model's certification (nil without a certified target).
		rep.Certification = res.Certification
		for _, r := range res.Rows {
			hr := report.HardenRound{Round: r.Round, Defence: r.Defence, Params: r.Params,
				CleanAccuracy: r.CleanAccuracy, WorstCaseSR: r.WorstCaseSR, CertifiedAccuracy: r.CertifiedAccuracy,
				AttackSR: r.AttackSR, Seconds: r.Seconds, Accepted: r.Accepted, Reason: r.Reason}
			if r.ValAccuracy >= 0 {
				v := r.ValAccuracy
				hr.ValAccuracy = &v
			}
			h.Rounds = append(h.Rounds, hr)
		}
	}
	rep.Harden = h
	return rep
}

// addHardenVerdict adds the loop's verdict to the gate (after ApplyGate,
// which sets it, flagged sanity checks included): a missed target is a
// reason, rejected rounds and resumption are notes.
func addHardenVerdict(rep *report.Report, res *harden.Result, cfg harden.Config, input string) {
	g := &rep.Gate
	for _, r := range res.Rows {
		if !r.Accepted {
			g.Notes = append(g.Notes, fmt.Sprintf("harden round %d (%s) rejected: %s", r.Round, r.Defence, r.Reason))
		}
	}
	if res.ResumedAt > 0 {
		g.Notes = append(g.Notes, fmt.Sprintf("harden resumed from a checkpoint after %d rounds", res.ResumedAt))
	}
	g.Notes = append(g.Notes, fmt.Sprintf("harden: %s; the attack results are the hardened model's (input model %s)", res.Stop, input))
	if !res.Reached {
		cur := res.Rows[len(res.Rows)-1]
		for i := len(res.Rows) - 1; i >= 0; i-- {
			if res.Rows[i].Accepted {
				cur = res.Rows[i]
				break
			}
		}
		if cur.WorstCaseSR > cfg.UntilSR+1e-12 {
			g.Reasons = append(g.Reasons, fmt.Sprintf("harden: worst-case success rate %.4g is above until_sr %g (%s)", cur.WorstCaseSR, cfg.UntilSR, res.Stop))
		}
		if t := cfg.UntilCertified; t != nil && cur.CertifiedAccuracy != nil && *cur.CertifiedAccuracy < t.Accuracy-1e-12 {
			g.Reasons = append(g.Reasons, fmt.Sprintf("harden: certified accuracy %.4g at L2 radius %g is below until_certified's %g (sigma %g, n %d; %s)", *cur.CertifiedAccuracy, t.Radius, t.Accuracy, t.Params.Sigma, t.Params.N, res.Stop))
		}
		if len(g.Reasons) == 0 {
			g.Reasons = append(g.Reasons, "harden: target not met ("+res.Stop+")")
		}
	}
	g.Passed = len(g.Reasons) == 0
}
