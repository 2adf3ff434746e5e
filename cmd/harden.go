package cmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/advtest/advtest/pkg/config"
	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/defend"
	"github.com/advtest/advtest/pkg/eval"
	"github.com/advtest/advtest/pkg/harden"
	"github.com/advtest/advtest/pkg/report"
)

func init() {
	extraCommands = append(extraCommands, newHardenCommand)
}

// hardenFlags are harden's own flags, on top of the shared plan flags.
type hardenFlags struct {
	untilSR       float64
	maxRounds     int
	outputModel   string
	checkpointDir string
	resume        bool
}

func newHardenCommand() *cobra.Command {
	pf := &planFlags{}
	hf := &hardenFlags{}
	c := &cobra.Command{
		Use:   "harden --config advtest.yaml [--until-sr 0.05] [--max-rounds N] [--output-model hardened.onnx]",
		Short: "Apply defences round by round until the attack success rate meets a target",
		Long: `harden measures the model with the attack pool (round 0), then applies the
defences of harden.defences one per round, training on train.data, and
measures again with the same pool and seed, until the worst-case success rate
is at or below harden.until_sr (--until-sr) or max_rounds rounds have run.
Hardened models are attacked through BPDA when a squeezer is in their graph
and with EOT when inference noise is (defend.AdaptiveWith, seeded by the
run's seed), so neither can hide the gradient.

Rules: once the schedule is exhausted its last trainer defence is repeated;
adversarial trainers with an unset "attack" parameter train against the
pool's first bounded white-box attack; a round that loses more than
max_clean_drop clean (or validation) accuracy against round 0, or that does
not lower the worst-case SR, is rejected and its model dropped.

Each round's row is printed as it ends. The last accepted model is written
atomically to --output-model (default: <model>-hardened.onnx beside the
report file, or in the working directory when the report goes to stdout).
It takes input-space data: the config's preprocessing (scale, mean/std,
layout) is part of its graph, so attack it without those keys.

On the final model harden runs the gradient-masking sanity checks of
Carlini et al. 2019 (§5): SR must approach 100% as eps grows to the clip
range, an unbounded attack must reach ~100%, a black-box attack must not
beat the white-box one, and more steps must not lower the SR. A flagged
check fails the gate ("gradient masking suspected"); --sanity=false skips
them.

A checkpoint (the current model and a small JSON state) is written after
every round to --checkpoint-dir (default: <output model>.checkpoint, removed
when the run ends); after an interrupt (exit 130) --resume continues from it
to the same result as an uninterrupted run.

Exit codes: 0 target met and every gate passed, 1 target missed or a gate
failed (sanity checks included), 2 usage, config or input error,
130 interrupted.`,
		Example: `  advtest harden --config configs/mnist-cnn-harden.yaml
  advtest harden -c advtest.yaml --until-sr 0.05 --max-rounds 3 --output-model hardened.onnx
  advtest harden -c advtest.yaml --checkpoint-dir ckpt --resume`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runHarden(c, pf, hf)
		},
	}
	addPlanFlags(c, pf)
	f := c.Flags()
	f.Float64Var(&hf.untilSR, "until-sr", 0, "worst-case success rate to reach (overrides harden.until_sr)")
	f.IntVar(&hf.maxRounds, "max-rounds", 0, "most defence rounds (overrides harden.max_rounds)")
	f.StringVar(&hf.outputModel, "output-model", "", "write the hardened model here (default <model>-hardened.onnx beside the report file, else in the working directory)")
	f.StringVar(&hf.checkpointDir, "checkpoint-dir", "", "checkpoint folder (default <output model>.checkpoint, removed at the end)")
	f.BoolVar(&hf.resume, "resume", false, "continue from the checkpoint in --checkpoint-dir")
	return c
}

// hardenPlan applies harden's flags to the plan and checks what harden
// needs.
func hardenPlan(c *cobra.Command, plan *config.Plan, hf *hardenFlags) error {
	if c.Flags().Changed("until-sr") {
		if !(hf.untilSR >= 0 && hf.untilSR <= 1) {
			return fmt.Errorf("--until-sr %v: want a rate in [0, 1]", hf.untilSR)
		}
		v := hf.untilSR
		plan.Harden.UntilSR = &v
	}
	if c.Flags().Changed("max-rounds") {
		if hf.maxRounds < 1 {
			return fmt.Errorf("--max-rounds %d: want >= 1", hf.maxRounds)
		}
		plan.Harden.MaxRounds = hf.maxRounds
	}
	if plan.Harden.UntilSR == nil {
		return errors.New("no target: set --until-sr or `harden.until_sr` in the config")
	}
	return nil
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
func loadTrain(plan *config.Plan, w *workload) (train, val *dataset.Set, err error) {
	if plan.Train.Data == "" {
		return nil, nil, nil
	}
	set, err := dataset.Load(plan.Train.Data, plan.Train.Labels, dataset.Options{MaxBytes: memoryBudget()})
	if err != nil {
		return nil, nil, fmt.Errorf("train.data: %w", err)
	}
	if err := fitSampleShape(w.model, set); err != nil {
		return nil, nil, fmt.Errorf("train.data: %w", err)
	}
	if nc := w.model.NumClasses(); nc > 0 {
		for i, y := range set.Y {
			if y < 0 || y >= nc {
				return nil, nil, fmt.Errorf("%s: label %d of sample %d is not a class of the model (it has %d classes)", labelsOrData(set), y, i, nc)
			}
		}
	}
	lo, hi := float32(plan.Preprocessing.ClipMin), float32(plan.Preprocessing.ClipMax)
	per := set.X.Len() / max(set.Len(), 1)
	for i, v := range set.X.F {
		if v < lo || v > hi {
			return nil, nil, fmt.Errorf("%s: training sample %d has value %g outside the clip range [%g, %g]", set.Path, i/per, v, lo, hi)
		}
	}
	train, val, err = defend.SplitValidation(set, plan.Train.ValidationSplit, plan.Seed)
	if err != nil {
		return nil, nil, fmt.Errorf("train.validation_split: %w", err)
	}
	return train, val, nil
}

func runHarden(c *cobra.Command, pf *planFlags, hf *hardenFlags) error {
	start := time.Now()
	plan, err := resolvePlan(c, pf)
	if err != nil {
		return usageError(err)
	}
	if err := hardenPlan(c, plan, hf); err != nil {
		return usageError(err)
	}
	w, err := loadWorkload(plan)
	if err != nil {
		return usageError(err)
	}
	gate, err := gateOf(plan)
	if err != nil {
		return usageError(err)
	}
	train, val, err := loadTrain(plan, w)
	if err != nil {
		return usageError(err)
	}
	modelOut := outputModelPath(plan, hf.outputModel)
	if err := checkOutputDir("--output-model", modelOut); err != nil {
		return usageError(err)
	}
	if err := checkOutputs(plan); err != nil {
		return usageError(err)
	}
	ckpt, defaultCkpt := hf.checkpointDir, false
	if ckpt == "" {
		ckpt, defaultCkpt = strings.TrimSuffix(modelOut, ".onnx")+".checkpoint", true
	}
	stdout, stderr := c.OutOrStdout(), c.ErrOrStderr()
	rowsOut := stdout
	for _, o := range plan.AllOutputs() {
		if config.IsStdout(o.Path) && o.Format != "table" && o.Format != "markdown" {
			rowsOut = stderr // keep machine-readable stdout clean
		}
	}
	keys := make([]string, len(w.specs))
	labels := make([]string, len(w.specs))
	for i, s := range w.specs {
		keys[i] = report.Key(s.Name, s.Params)
		labels[i] = s.Name
	}
	rt := newRoundTable(rowsOut, keys, labels)
	pbar := newProgress(stderr, !pf.noProgress)
	tbar := newProgress(stderr, !pf.noProgress)
	defs := make([]harden.DefenceSpec, len(plan.Harden.Defences))
	for i, d := range plan.Harden.Defences {
		defs[i] = harden.DefenceSpec{Name: d.Name, Params: d.Params}
	}
	cfg := harden.Config{
		UntilSR: *plan.Harden.UntilSR, MaxRounds: plan.Harden.MaxRounds, MaxCleanDrop: plan.Harden.MaxCleanDrop,
		Schedule: defs, Seed: plan.Seed, Train: train, Validation: val,
		CheckpointDir: ckpt, Resume: hf.resume,
		OnRound: func(r harden.Row) {
			pbar.finish()
			tbar.finish()
			rt.row(r)
		},
		OnTrain: func(round int, name string, p defend.Progress) {
			tbar.update(round, fmt.Sprintf("round %d %s", round, name), p.Iter, p.Iters)
		},
	}
	pool := harden.Pool{X: w.set.X, Y: w.set.Y, Attacks: w.attacks, Keys: keys, BatchSize: plan.BatchSize, Progress: pbar.update}
	if err := harden.Validate(cfg, pool); err != nil {
		return usageError(err)
	}
	ctx := c.Context()
	rt.header()
	if hf.resume {
		st, _, err := harden.LoadCheckpoint(ckpt)
		if err != nil {
			return usageError(err)
		}
		for _, r := range st.Rows {
			rt.row(r)
		}
	}
	res, err := harden.Run(ctx, w.model, pool, cfg)
	pbar.finish()
	tbar.finish()
	if err != nil {
		if ctx.Err() != nil {
			rep := hardenReport(w, nil, res, cfg)
			rep.Incomplete, rep.IncompleteReason = true, "interrupted: resume with --resume --checkpoint-dir "+ckpt
			rep.Timing = report.Timing{Created: start.UTC().Format(time.RFC3339), Seconds: time.Since(start).Seconds()}
			rep.ApplyGate(gate)
			if werr := writeOutputs(stdout, stderr, plan, rep); werr != nil {
				fmt.Fprintf(stderr, "advtest: %v\n", werr)
			}
			done := 0
			if res != nil {
				done = len(res.Rows)
			}
			return &ExitError{Code: ExitInterrupted, Err: fmt.Errorf("interrupted after %d rounds; continue with: advtest harden ... --resume --checkpoint-dir %s", done, ckpt)}
		}
		return usageError(err)
	}
	if err := res.Model.Save(modelOut); err != nil {
		return usageError(fmt.Errorf("--output-model: %w", err))
	}
	fmt.Fprintf(rowsOut, "%s: %s; hardened model written to %s\n", verdictWord(res.Reached), res.Stop, modelOut)

	clf, err := defend.AdaptiveWith(res.Model, defend.AdaptiveOptions{Seed: plan.Seed})
	if err != nil {
		return usageError(err)
	}
	// A failure of the sanity checks keeps the report, with a note.
	var checks []report.SanityCheck
	var sanityErr error
	if plan.Sanity.Enabled {
		checks, sanityErr = runSanity(ctx, clf, w.set, res.Final, plan, newProgress(stderr, !pf.noProgress))
		if sanityErr != nil && ctx.Err() != nil {
			return &ExitError{Code: ExitInterrupted, Err: errors.New("interrupted during the sanity checks; the hardened model is written")}
		}
		if sanityErr != nil {
			fmt.Fprintf(stderr, "advtest: warning: %v\n", sanityErr)
		}
	}

	rep := hardenReport(w, res.Final, res, cfg)
	sum, err := fileSHA256(modelOut)
	if err != nil {
		return usageError(err)
	}
	rep.Model.Path, rep.Model.SHA256 = modelOut, sum
	rep.Sanity = checks
	rep.Timing = report.Timing{Created: start.UTC().Format(time.RFC3339), Seconds: time.Since(start).Seconds()}
	rep.ApplyGate(gate)
	addHardenVerdict(rep, res, cfg, plan.Model)
	if sanityErr != nil {
		rep.Gate.Notes = append(rep.Gate.Notes, "the sanity checks could not run to the end: "+sanityErr.Error())
	}
	if err := writeOutputs(stdout, stderr, plan, rep); err != nil {
		return usageError(err)
	}
	if defaultCkpt {
		os.RemoveAll(ckpt)
	}
	if !rep.Gate.Passed {
		return &ExitError{Code: ExitGateFailed}
	}
	return nil
}

func verdictWord(reached bool) string {
	if reached {
		return "target met"
	}
	return "target NOT met"
}

// hardenReport builds the report: the final model's attack results (when
// final is not nil) and every round.
func hardenReport(w *workload, final *eval.PoolResult, res *harden.Result, cfg harden.Config) *report.Report {
	var rep *report.Report
	if final != nil {
		r, err := buildReport(w, final)
		if err == nil {
			rep = r
		}
	}
	if rep == nil {
		rep = report.New(toolVersion())
		rep.Seed = w.plan.Seed
		rep.Config = w.plan.Map()
		sum, _ := fileSHA256(w.plan.Model)
		rep.Model = report.Model{Path: w.plan.Model, SHA256: sum, Opset: w.model.Opset, Producer: producerOf(w.model), EndsWithSoftmax: w.model.FinalActivation != ""}
		rep.Data = report.Data{Path: w.set.Path, LabelsPath: w.set.LabelsPath, SHA256: w.set.DataSHA256, LabelsSHA256: w.set.LabelsSHA256, N: w.set.Len()}
	}
	h := &report.Harden{UntilSR: cfg.UntilSR}
	if res != nil {
		h.Reached = res.Reached
		for _, r := range res.Rows {
			hr := report.HardenRound{Round: r.Round, Defence: r.Defence, Params: r.Params,
				CleanAccuracy: r.CleanAccuracy, WorstCaseSR: r.WorstCaseSR, AttackSR: r.AttackSR, Seconds: r.Seconds,
				Accepted: r.Accepted, Reason: r.Reason}
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
	last := res.Rows[len(res.Rows)-1]
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
		cur := last
		for i := len(res.Rows) - 1; i >= 0; i-- {
			if res.Rows[i].Accepted {
				cur = res.Rows[i]
				break
			}
		}
		g.Reasons = append(g.Reasons, fmt.Sprintf("harden: worst-case success rate %.4g is above until_sr %g (%s)", cur.WorstCaseSR, cfg.UntilSR, res.Stop))
	}
	g.Passed = len(g.Reasons) == 0
}

// roundTable prints harden rows as they finish, in fixed-width columns.
type roundTable struct {
	w      io.Writer
	keys   []string
	labels []string
}

func newRoundTable(w io.Writer, keys, labels []string) *roundTable {
	count := map[string]int{}
	for _, l := range labels {
		count[l]++
	}
	out := make([]string, len(labels))
	for i, l := range labels {
		out[i] = l
		if count[l] > 1 {
			out[i] = fmt.Sprintf("%s#%d", l, i+1)
		}
	}
	return &roundTable{w: w, keys: keys, labels: out}
}

func (t *roundTable) header() {
	fmt.Fprintf(t.w, "%-5s  %-20s  %8s  %8s", "round", "defence", "clean", "worst SR")
	for _, l := range t.labels {
		fmt.Fprintf(t.w, "  %10s", trunc(l, 10))
	}
	fmt.Fprintf(t.w, "  %8s  %s\n", "seconds", "accepted")
}

func (t *roundTable) row(r harden.Row) {
	d := r.Defence
	if d == "" {
		d = "(as given)"
	}
	fmt.Fprintf(t.w, "%-5d  %-20s  %7.2f%%  %7.2f%%", r.Round, trunc(d, 20), 100*r.CleanAccuracy, 100*r.WorstCaseSR)
	for _, k := range t.keys {
		fmt.Fprintf(t.w, "  %9.2f%%", 100*r.AttackSR[k])
	}
	acc := "yes"
	if !r.Accepted {
		acc = "no: " + r.Reason
	}
	fmt.Fprintf(t.w, "  %8.1f  %s\n", r.Seconds, acc)
}

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
