package run

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/config"
	"github.com/advtest/advtest/pkg/defend"
	"github.com/advtest/advtest/pkg/eval"
	"github.com/advtest/advtest/pkg/report"
	"github.com/advtest/advtest/pkg/report/format"
)

// Attack runs the plan's attack pool (on its model file, or on o.Target),
// then the eps sweep, the detector's scoring and the sanity checks, applies
// the gates and writes the report in every configured format. The report
// is written before the error is decided: it returns ErrGateFailed when a
// gate failed, an error wrapping ErrInterrupted when ctx was cancelled
// (the report then marked incomplete), and any other error for a usage,
// config or input problem — or an attack that failed part-way, whose
// report is written and marked incomplete. The report is nil when the
// run failed before it could be made.
func Attack(ctx context.Context, o Options) (*report.Report, error) {
	start := time.Now()
	plan := o.Plan
	// Output paths and the baseline first: a bad path must not cost a run.
	if err := checkOutputs(plan); err != nil {
		return nil, err
	}
	gate, err := gateOf(plan)
	if err != nil {
		return nil, err
	}
	load := o.progress()
	load.Update(0, "loading the model and data", 0, 1)
	w, err := loadWorkload(ctx, &o)
	if err == nil {
		load.Update(0, "loading the model and data", 1, 1)
	}
	load.Finish()
	if err != nil {
		if ctx.Err() != nil {
			return interruptedEarly(&o, gate, start, "while loading the model and data")
		}
		return nil, err
	}
	defer w.data.Close()
	keep := examplesToKeep(w)
	bar := o.progress()
	pool, runErr := eval.RunPoolData(ctx, w.clf, w.data, w.attacks, eval.PoolOptions{BatchSize: plan.BatchSize, Seed: plan.Seed, Progress: bar.Update, KeepExamples: keep, SampleIndex: w.data.Index})
	bar.Finish()
	if runErr != nil && pool == nil {
		if ctx.Err() != nil {
			return interruptedEarly(&o, gate, start, "before the first attack finished a batch")
		}
		var nf *eval.NonFiniteError
		if errors.As(runErr, &nf) {
			return nil, fmt.Errorf("model %s: %w", modelName(&o), runErr)
		}
		return nil, runErr
	}
	res, err := eval.NewResult(pool, w.specs)
	if err != nil {
		return nil, err
	}
	rep, err := newReport(o.ToolVersion, w, res)
	if err != nil {
		return nil, err
	}
	if runErr != nil {
		// An attack failed part-way (a remote endpoint that errs, a spent
		// query budget): the report keeps what was measured and says why
		// it stopped.
		rep.Incomplete, rep.IncompleteReason = true, runErr.Error()
	}
	if o.Shard.Count > 0 {
		rep.Config["shard"] = o.Shard.Spec
	}
	var notes []string
	if res.Complete() && runErr == nil {
		notes, err = afterPool(ctx, &o, w, res, rep)
		if err != nil {
			return nil, err
		}
	}
	rep.Timing = timing(start)
	passed := rep.ApplyGate(gate)
	rep.Gate.Notes = append(rep.Gate.Notes, notes...)
	if w.model != nil && w.clf != attack.Classifier(w.model) {
		rep.Gate.Notes = append(rep.Gate.Notes, "the model's graph holds a preprocessor defence: gradient attacks ran through BPDA (straight-through gradients) or, for inference noise, EOT over "+strconv.Itoa(defend.DefaultEOTDraws)+" draws, as its critics would")
	}
	var gallery format.Gallery
	if keep > 0 {
		gallery = buildGallery(ctx, w, pool)
	}
	if err := writeOutputs(&o, rep, gallery); err != nil {
		return rep, err
	}
	switch {
	case runErr != nil:
		return rep, fmt.Errorf("%w (the report is marked incomplete)", runErr)
	case rep.Incomplete && ctx.Err() != nil:
		return rep, fmt.Errorf("%w: the report is marked incomplete", ErrInterrupted)
	case !passed:
		return rep, ErrGateFailed
	}
	return rep, nil
}

// modelName names the model under test: the file, or the endpoint.
func modelName(o *Options) string {
	if o.Target.URL != "" {
		return o.Target.URL
	}
	return o.Plan.Model
}

// interruptedEarly writes the report of a run interrupted before any
// attack ran: no figures, marked incomplete with the stage it reached, so
// that a pipeline always finds the report it was promised.
func interruptedEarly(o *Options, gate report.Gate, start time.Time, stage string) (*report.Report, error) {
	plan := o.Plan
	rep := report.New(o.ToolVersion)
	rep.Seed = plan.Seed
	rep.Model.Path, rep.Data.Path, rep.Data.LabelsPath = plan.Model, plan.Data, plan.Labels
	rep.Incomplete, rep.IncompleteReason = true, "interrupted "+stage+"; nothing was measured"
	rep.Timing = timing(start)
	rep.ApplyGate(gate)
	if err := writeOutputs(o, rep, nil); err != nil {
		return rep, err
	}
	return rep, fmt.Errorf("%w %s: the report is marked incomplete", ErrInterrupted, stage)
}

// afterPool runs what follows a complete pool: the eps sweep, the
// detector's scoring and the sanity checks. A detector or sanity failure
// keeps the pool's figures and returns a note for the gate; an interrupt
// marks the report incomplete; a sweep error is returned.
func afterPool(ctx context.Context, o *Options, w *workload, res *eval.Result, rep *report.Report) (notes []string, err error) {
	if w.plan.Sweep.Attack != "" {
		if err := runSweep(ctx, w, rep); err != nil {
			if ctx.Err() == nil {
				return nil, err
			}
			rep.Incomplete, rep.IncompleteReason = true, "interrupted during the eps sweep"
		}
	}
	if rep.Detector, err = detectorResult(ctx, w, res.Pool); err != nil {
		if ctx.Err() != nil {
			rep.Incomplete, rep.IncompleteReason = true, "interrupted while scoring the detector"
		} else {
			o.warn(err.Error())
			notes = append(notes, "the detector could not be scored: "+err.Error())
		}
	}
	if rep.Incomplete || !w.plan.Sanity.Enabled {
		return notes, nil
	}
	if w.remote != nil {
		return append(notes, "sanity checks skipped: a remote target answers scores only, and the checks rerun gradient attacks"), nil
	}
	checks, err := sanity(ctx, o, w.clf, w, res)
	switch {
	case err != nil && ctx.Err() != nil:
		rep.Incomplete, rep.IncompleteReason = true, "interrupted during the sanity checks"
	case err != nil:
		o.warn(err.Error())
		notes = append(notes, "the sanity checks could not run to the end: "+err.Error())
	}
	rep.Sanity = checks
	return notes, nil
}

// examplesToKeep is how many adversarial examples per attack the pool
// keeps: a gallery's worth for an HTML report, every one for a model that
// carries a detector (it scores them all).
func examplesToKeep(w *workload) int {
	keep := 0
	if wantsHTML(w.plan) {
		keep = galleryPerAttack
	}
	if w.model != nil {
		if _, ok := w.model.Metadata(defend.DetectorSqueezersKey); ok {
			keep = max(keep, w.data.Len())
		}
	}
	return keep
}

// gateOf is the plan's gate, with its baseline report loaded.
func gateOf(plan *config.Plan) (report.Gate, error) {
	var base *report.Report
	if plan.Gate.Baseline != "" {
		var err error
		if base, err = report.Load(plan.Gate.Baseline); err != nil {
			return report.Gate{}, fmt.Errorf("baseline: %w", err)
		}
	}
	g := plan.Gate.ReportGate(base)
	g.KeyOf = resolvedKey
	return g, nil
}

// resolvedKey is an attack's key with every default filled in (the
// parameters the registry resolves), so that a baseline and a run that
// spell the same attack differently are matched. An attack the registry
// cannot build (a baseline from another version) keeps its recorded key.
func resolvedKey(a report.AttackResult) string {
	att, err := attack.New(a.Name, a.Params)
	if err != nil {
		return report.Key(a.Name, a.Params)
	}
	return report.Key(a.Name, eval.SpecOf(att, nil).Params)
}

func timing(start time.Time) report.Timing {
	return report.Timing{Created: start.UTC().Format(time.RFC3339), Seconds: time.Since(start).Seconds()}
}

// sanityIDs are the checks eval.Sanity runs, in its order.
var sanityIDs = []string{eval.CheckEpsGrowth, eval.CheckUnbounded, eval.CheckBlackBox, eval.CheckMoreSteps}

// sanity runs the gradient-masking sanity checks (Carlini et al. 2019)
// on clf, given the pool's figures on the workload's data, with the plan's
// batch size, seed and sample bound. clf must be what the pool attacked
// (the adaptive view of a defended model), so the reruns are as honest as
// the pool.
func sanity(ctx context.Context, o *Options, clf attack.Classifier, w *workload, res *eval.Result) ([]report.SanityCheck, error) {
	bar := o.progress()
	defer bar.Finish()
	plan := w.plan
	return eval.Sanity(ctx, clf, w.data, res, eval.SanityOptions{
		BatchSize: plan.BatchSize, Seed: plan.Seed, Samples: plan.Sanity.Samples,
		Progress: func(check string) {
			for i, id := range sanityIDs {
				if id == check {
					bar.Update(-2, "sanity checks", i, len(sanityIDs))
				}
			}
		},
	})
}
