package cmd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/config"
	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/defend"
	"github.com/advtest/advtest/pkg/eval"
	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/report"
	"github.com/advtest/advtest/pkg/tensor"
)

func init() {
	extraCommands = append(extraCommands, newAttackCommand)
}

func newAttackCommand() *cobra.Command {
	pf := &planFlags{}
	c := &cobra.Command{
		Use:   "attack --model m.onnx --data x.npy --labels y.npy [--config advtest.yaml]",
		Short: "Attack a model with a pool of adversarial attacks and report how often it is fooled",
		Long: `attack classifies every sample, runs each attack of the pool on the samples the
model gets right, and reports per attack and for the worst case over the pool
the success rate (SR), robust accuracy and perturbation sizes.

A model whose graph holds an advtest preprocessor defence is attacked the way
its critics would: through BPDA for a squeezer, with EOT for inference noise.
After the pool it runs the gradient-masking sanity checks of Carlini et al.
2019 (--sanity=false skips them): SR must approach 100% as eps grows and for
an unbounded attack, more steps must not lower it, and black-box must not
beat white-box; a flagged check fails the gate. A model that carries a
squeeze-detector gets its false-positive and detection rates reported.

It exits 1 when a gate fails (--fail-above, max_sr, --baseline with
--max-regression, a flagged sanity check) and 2 on a usage, config or input
error. The report is always written before the exit code is decided.`,
		Example: `  advtest attack --config configs/mnist-cnn.yaml
  advtest attack -m model.onnx -d x.npy -l y.npy -a pgd:norm=linf,eps=0.1,steps=40 --fail-above 0.5
  advtest attack --config advtest.yaml --format json -o report.json --baseline last.json --max-regression 0.02`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runAttack(c, pf)
		},
	}
	addPlanFlags(c, pf)
	return c
}

// workload is what a plan resolves to: the model as attacks see it (with
// preprocessing in its graph), the data and the attack pool.
type workload struct {
	plan *config.Plan
	// model is the model file with its preprocessing (nil for a remote target).
	model *onnxmodel.Model
	// clf is what the pool attacks: the model, or the remote endpoint.
	clf    attack.Classifier
	remote *remoteClassifier
	set    *dataset.Set
	// totalN is the number of samples of the whole run (before --shard).
	totalN  int
	attacks []attack.Attack
	specs   []report.AttackSpec
}

// loadWorkload loads a plan's model file, data and attack pool.
func loadWorkload(plan *config.Plan) (*workload, error) {
	return loadWorkloadWith(context.Background(), plan, &planFlags{}, func(string) {})
}

// loadWorkloadWith loads a plan's data and attack pool, and its model file
// or (with pf.target) connects to its remote endpoint; pf.shard keeps one
// shard of the samples.
func loadWorkloadWith(ctx context.Context, plan *config.Plan, pf *planFlags, warn func(string)) (*workload, error) {
	w := &workload{plan: plan}
	im := plan.Images
	opts := dataset.Options{Limit: plan.Limit, MaxBytes: memoryBudget(), Images: dataset.ImageOptions{
		Width: im.Width, Height: im.Height, ShorterSide: im.ShorterSide, CropWidth: im.CropWidth, CropHeight: im.CropHeight,
		Interpolation: im.Interpolation, ChannelOrder: im.ChannelOrder, Grayscale: im.Grayscale,
	}}
	if pf.target != "" {
		set, err := dataset.Load(plan.Data, plan.Labels, opts)
		if err != nil {
			return nil, err
		}
		p := plan.Preprocessing
		if p.Scale != 1 || len(p.Mean) > 0 || (p.Layout != "" && p.Layout != "NCHW") {
			return nil, errors.New("preprocessing scale, mean/std and layout apply to a model file's graph; a remote --target receives the data as given")
		}
		w.set = set
	} else {
		m, set, err := loadModelAndData(plan.Model, plan.Data, plan.Labels, opts)
		if err != nil {
			return nil, err
		}
		pre := onnxmodel.Preprocessing{Scale: float32(plan.Preprocessing.Scale), Layout: plan.Preprocessing.Layout}
		for i := range plan.Preprocessing.Mean {
			pre.Mean = append(pre.Mean, float32(plan.Preprocessing.Mean[i]))
			pre.Std = append(pre.Std, float32(plan.Preprocessing.Std[i]))
		}
		if m, err = m.WithPreprocessing(pre); err != nil {
			return nil, fmt.Errorf("%s: %w", plan.Model, err)
		}
		// A model with a preprocessor defence in its graph (a squeezer) is
		// attacked through BPDA, one with inference noise through EOT, as
		// harden measures them: plain gradients through a quantiser, or
		// one noise draw's, would report a masked gradient as robustness.
		clf, err := defend.AdaptiveWith(m, defend.AdaptiveOptions{Seed: plan.Seed})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", plan.Model, err)
		}
		if clf == attack.Classifier(m) && m.Randomised() {
			warn(plan.Model + ": the graph draws random numbers (RandomNormal/RandomUniform ops) without advtest's noise mark: every attack step sees one draw, which understates the SR of a randomised defence; harden such a model with the gaussian-noise defence to get EOT")
		}
		w.model, w.clf, w.set = m, clf, set
	}
	w.totalN = w.set.Len()
	if pf.numShards > 0 {
		shard, err := w.set.Shard(pf.shardIndex, pf.numShards)
		if err != nil {
			return nil, err
		}
		w.set = shard
	}
	set := w.set
	lo, hi := float32(plan.Preprocessing.ClipMin), float32(plan.Preprocessing.ClipMax)
	for i, v := range set.X.F {
		if v < lo || v > hi {
			return nil, fmt.Errorf("%s: sample %d has value %g outside the clip range [%g, %g] (set preprocessing.clip_min/clip_max or preprocessing.scale)", set.Path, i/(set.X.Len()/set.Len()), v, lo, hi)
		}
	}
	if len(plan.Attacks) == 0 {
		return nil, errors.New("the attack pool is empty: add `attacks:` to the config or pass --attack")
	}
	for i, ca := range plan.Attacks {
		a, spec, err := buildAttack(ca, plan)
		if err != nil {
			return nil, fmt.Errorf("attacks[%d]: %w", i, err)
		}
		// A shard keeps its fooled samples' norms, so that merging the
		// shards' reports gives exact medians.
		spec.KeepNorms = pf.numShards > 0
		w.attacks = append(w.attacks, a)
		w.specs = append(w.specs, spec)
	}
	if pf.target != "" {
		if err := checkRemotePool(w.attacks); err != nil {
			return nil, err
		}
		rc, err := dialTarget(ctx, pf, set.SampleShape(), warn)
		if err != nil {
			return nil, err
		}
		w.clf, w.remote = rc, rc
	}
	return w, nil
}

// buildAttack makes an attack from its config, with the plan's clip range
// unless the attack sets its own.
func buildAttack(ca config.Attack, plan *config.Plan) (attack.Attack, report.AttackSpec, error) {
	params := map[string]string{}
	for k, v := range ca.Params {
		params[k] = v
	}
	if _, ok := params["min"]; !ok {
		params["min"] = strconv.FormatFloat(plan.Preprocessing.ClipMin, 'g', -1, 64)
	}
	if _, ok := params["max"]; !ok {
		params["max"] = strconv.FormatFloat(plan.Preprocessing.ClipMax, 'g', -1, 64)
	}
	a, err := attack.New(ca.Name, params)
	if err != nil {
		return nil, report.AttackSpec{}, err
	}
	_, blackBox := a.(attack.BlackBox)
	spec := report.AttackSpec{
		Name: ca.Name, Params: ca.Params, Eps: a.Eps(), MaxSR: ca.MaxSR,
		Targeted: isTrue(ca.Params["targeted"]), CountsQueries: blackBox,
	}
	if a.Norm() != attack.NormNone {
		spec.Norm = a.Norm().String()
	}
	return a, spec, nil
}

func isTrue(s string) bool {
	b, err := strconv.ParseBool(s)
	return err == nil && b
}

func runAttack(c *cobra.Command, pf *planFlags) error {
	start := time.Now()
	plan, err := resolvePlan(c, pf)
	if err != nil {
		return usageError(err)
	}
	ctx := c.Context()
	warn := func(msg string) { fmt.Fprintln(c.ErrOrStderr(), "advtest: warning:", msg) }
	w, err := loadWorkloadWith(ctx, plan, pf, warn)
	if err != nil {
		return usageError(err)
	}
	gate, err := gateOf(plan)
	if err != nil {
		return usageError(err)
	}
	if err := checkOutputs(plan); err != nil {
		return usageError(err)
	}
	progress := newProgress(c.ErrOrStderr(), !pf.noProgress)
	keep := 0
	if wantsHTML(plan) {
		keep = galleryPerAttack
	}
	if w.model != nil {
		if _, ok := w.model.Metadata(defend.DetectorSqueezersKey); ok {
			keep = max(keep, w.set.Len()) // the detector scores every fooling example
		}
	}
	res, runErr := eval.RunPool(ctx, w.clf, w.set.X, w.set.Y, w.attacks, eval.PoolOptions{BatchSize: plan.BatchSize, Seed: plan.Seed, Progress: progress.update, KeepExamples: keep, SampleIndex: w.set.Index})
	progress.finish()
	if runErr != nil && res == nil {
		return usageError(runErr)
	}
	rep, err := buildReport(w, res)
	if err != nil {
		return usageError(err)
	}
	if runErr != nil {
		// An attack failed part-way (a remote endpoint that errs, a spent
		// query budget): the report keeps what was measured, says why it
		// stopped, and the run exits 2 after writing it.
		rep.Incomplete, rep.IncompleteReason = true, runErr.Error()
	}
	if pf.numShards > 0 {
		rep.Config["shard"] = pf.shard
	}
	if res.Incomplete == nil && runErr == nil && plan.Sweep.Attack != "" {
		if err := runSweep(ctx, w, rep); err != nil {
			if ctx.Err() == nil {
				return usageError(err)
			}
			rep.Incomplete, rep.IncompleteReason = true, "interrupted during the eps sweep"
		}
	}
	// The detector and the sanity checks come after the pool: when one of
	// them fails, the pool's figures are still written, with a note.
	var lateNotes []string
	if res.Incomplete == nil && runErr == nil {
		if rep.Detector, err = detectorResult(ctx, w, res); err != nil {
			if ctx.Err() != nil {
				rep.Incomplete, rep.IncompleteReason = true, "interrupted while scoring the detector"
			} else {
				warn(err.Error())
				lateNotes = append(lateNotes, "the detector could not be scored: "+err.Error())
			}
		}
	}
	if res.Incomplete == nil && runErr == nil && !rep.Incomplete && plan.Sanity.Enabled {
		if w.remote != nil {
			lateNotes = append(lateNotes, "sanity checks skipped: a remote target answers scores only, and the checks rerun gradient attacks")
		} else {
			checks, err := runSanity(ctx, w.clf, w.set, res, plan, progress)
			switch {
			case err != nil && ctx.Err() != nil:
				rep.Incomplete, rep.IncompleteReason = true, "interrupted during the sanity checks"
			case err != nil:
				warn(err.Error())
				lateNotes = append(lateNotes, "the sanity checks could not run to the end: "+err.Error())
			}
			rep.Sanity = checks
		}
	}
	rep.Timing = report.Timing{Created: start.UTC().Format(time.RFC3339), Seconds: time.Since(start).Seconds()}
	passed := rep.ApplyGate(gate)
	rep.Gate.Notes = append(rep.Gate.Notes, lateNotes...)
	if w.model != nil && w.clf != attack.Classifier(w.model) {
		rep.Gate.Notes = append(rep.Gate.Notes, "the model's graph holds a preprocessor defence: gradient attacks ran through BPDA (straight-through gradients) or, for inference noise, EOT over "+strconv.Itoa(defend.DefaultEOTDraws)+" draws, as its critics would")
	}
	var gallery report.Gallery
	if keep > 0 {
		gallery = buildGallery(ctx, w, res)
	}
	if err := writeOutputsWithGallery(c.OutOrStdout(), c.ErrOrStderr(), plan, rep, gallery); err != nil {
		return usageError(err)
	}
	if runErr != nil {
		return usageError(fmt.Errorf("%w (the report is marked incomplete)", runErr))
	}
	if rep.Incomplete && ctx.Err() != nil {
		return &ExitError{Code: ExitInterrupted, Err: errors.New("interrupted: the report is marked incomplete")}
	}
	if !passed {
		return &ExitError{Code: ExitGateFailed}
	}
	return nil
}

func gateOf(plan *config.Plan) (report.Gate, error) {
	g := report.Gate{FailAbove: plan.Gate.FailAbove, MaxRegression: plan.Gate.MaxRegression}
	if plan.Gate.Baseline != "" {
		base, err := report.Load(plan.Gate.Baseline)
		if err != nil {
			return g, fmt.Errorf("baseline: %w", err)
		}
		g.Baseline, g.BaselineName = base, plan.Gate.Baseline
	}
	return g, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// buildReport turns a pool's outcomes into the report.
func buildReport(w *workload, res *eval.PoolResult) (*report.Report, error) {
	plan := w.plan
	rep := report.New(toolVersion())
	rep.Seed = plan.Seed
	rep.Config = plan.Map()
	if w.model != nil {
		sum, err := fileSHA256(plan.Model)
		if err != nil {
			return nil, err
		}
		rep.Model = report.Model{Path: plan.Model, SHA256: sum, Opset: w.model.Opset, Producer: producerOf(w.model), EndsWithSoftmax: w.model.FinalActivation != ""}
	} else {
		rep.Model = report.Model{Path: plan.Model, Producer: "remote endpoint (Open Inference Protocol)"}
	}
	rep.Data = report.Data{Path: w.set.Path, LabelsPath: w.set.LabelsPath, SHA256: w.set.DataSHA256, LabelsSHA256: w.set.LabelsSHA256, N: w.totalN}
	rep.SetClean(res.Clean.Correct)
	perAttack := make([][]report.SampleOutcome, len(res.Attacks))
	for j, run := range res.Attacks {
		outs := outcomesOf(run)
		perAttack[j] = outs
		var gradEvals int64
		for _, g := range run.GradEvals {
			gradEvals += int64(g)
		}
		ar, err := report.NewAttackResult(w.specs[j], cleanDone(res.Clean.Correct, run), outs, report.Cost{GradientEvals: gradEvals, Seconds: run.Seconds})
		if err != nil {
			return nil, err
		}
		rep.Attacks = append(rep.Attacks, ar)
	}
	// The worst case is over the threat model: attacks with a budget. An
	// unbounded minimal-perturbation attack (DeepFool, C&W, JSMA without
	// eps) fools nearly every sample by design; it reports perturbation
	// sizes, not a success rate to gate on.
	var bounded [][]report.SampleOutcome
	for j, a := range w.attacks {
		if a.Eps() > 0 {
			bounded = append(bounded, perAttack[j])
		}
	}
	wc, err := report.WorstCaseOf(res.Clean.Correct, bounded)
	if err != nil {
		return nil, err
	}
	rep.WorstCase = wc
	if res.Incomplete != nil || len(res.Attacks) < len(w.attacks) {
		rep.Incomplete = true
		rep.IncompleteReason = "interrupted: the figures cover only the samples attacked before the stop"
	}
	return rep, nil
}

// cleanDone is the clean-correct mask restricted, for an interrupted
// attack, to the samples it reached.
func cleanDone(clean []bool, run *eval.AttackRun) []bool {
	out := make([]bool, len(clean))
	for i := range clean {
		out[i] = clean[i] && run.Attacked[i]
	}
	return out
}

func outcomesOf(run *eval.AttackRun) []report.SampleOutcome {
	outs := make([]report.SampleOutcome, len(run.Fooled))
	for i := range outs {
		outs[i] = report.SampleOutcome{Fooled: run.Fooled[i], L0: run.L0[i], L2: run.L2[i], Linf: run.Linf[i], Queries: run.Queries[i]}
		if run.Reached != nil {
			outs[i].Reached = run.Reached[i]
		}
	}
	return outs
}

func producerOf(m *onnxmodel.Model) string {
	p := m.Proto.GetProducerName()
	if v := m.Proto.GetProducerVersion(); v != "" {
		p += " " + v
	}
	return p
}

// runSweep reruns the sweep's attack at each eps on the clean-correct
// samples and appends SR-vs-eps rows.
func runSweep(ctx context.Context, w *workload, rep *report.Report) error {
	plan := w.plan
	idx := -1
	for i, a := range plan.Attacks {
		if a.Name == plan.Sweep.Attack {
			idx = i
		}
	}
	if idx < 0 {
		return fmt.Errorf("sweep.attack %q is not an attack of the pool", plan.Sweep.Attack)
	}
	for _, eps := range plan.Sweep.Eps {
		ca := plan.Attacks[idx]
		params := map[string]string{}
		for k, v := range ca.Params {
			params[k] = v
		}
		params["eps"] = strconv.FormatFloat(eps, 'g', -1, 64)
		a, spec, err := buildAttack(config.Attack{Name: ca.Name, Params: params}, plan)
		if err != nil {
			return fmt.Errorf("sweep eps %g: %w", eps, err)
		}
		r, err := eval.RunPool(ctx, w.clf, w.set.X, w.set.Y, []attack.Attack{a}, eval.PoolOptions{BatchSize: plan.BatchSize, Seed: plan.Seed, SampleIndex: w.set.Index})
		if err != nil {
			return err
		}
		if r.Incomplete != nil {
			return r.Incomplete
		}
		ar, err := report.NewAttackResult(spec, r.Clean.Correct, outcomesOf(r.Attacks[0]), report.Cost{})
		if err != nil {
			return err
		}
		rep.Sweep = append(rep.Sweep, report.SweepRow{Attack: report.Key(ca.Name, ca.Params), Eps: eps, SuccessRate: ar.SuccessRate, RobustAccuracy: ar.RobustAccuracy, NFooled: ar.NFooled})
	}
	return nil
}

// checkOutputDir makes sure the folder of an output file exists (creating
// it, as `mkdir -p`) and takes new files, so that a long run fails at the
// start rather than after its work when the path is wrong.
func checkOutputDir(what, path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%s %s: %w", what, path, err)
	}
	f, err := os.CreateTemp(dir, ".advtest-probe-*")
	if err != nil {
		return fmt.Errorf("%s %s: the folder does not take new files: %w", what, path, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// checkOutputs runs checkOutputDir on every report file of the plan.
func checkOutputs(plan *config.Plan) error {
	for i, o := range plan.AllOutputs() {
		if config.IsStdout(o.Path) || o.Path == "stderr" {
			continue
		}
		what := "output.path"
		if i > 0 {
			what = fmt.Sprintf("output.extra[%d].path", i-1)
		}
		if err := checkOutputDir(what, o.Path); err != nil {
			return err
		}
	}
	return nil
}

// writeOutputs writes the report in every configured format: files
// atomically, stdout and stderr directly.
func writeOutputs(stdout, stderr io.Writer, plan *config.Plan, rep *report.Report) error {
	return writeOutputsWithGallery(stdout, stderr, plan, rep, nil)
}

// writeOutputsWithGallery is writeOutputs with adversarial examples for the
// HTML format.
func writeOutputsWithGallery(stdout, stderr io.Writer, plan *config.Plan, rep *report.Report, gallery report.Gallery) error {
	for _, o := range plan.AllOutputs() {
		var w report.Writer
		if o.Format == "html" {
			w = report.HTMLWriter(gallery)
		} else {
			var err error
			if w, err = report.Lookup(o.Format); err != nil {
				return err
			}
		}
		switch {
		case config.IsStdout(o.Path):
			if err := w.Write(stdout, rep); err != nil {
				return err
			}
		case o.Path == "stderr":
			if err := w.Write(stderr, rep); err != nil {
				return err
			}
		default:
			var buf bytes.Buffer
			if err := w.Write(&buf, rep); err != nil {
				return err
			}
			if err := onnxmodel.WriteFileAtomic(o.Path, buf.Bytes()); err != nil {
				return err
			}
		}
	}
	return nil
}

// galleryPerAttack is how many adversarial examples of each attack the HTML
// report shows.
const galleryPerAttack = 6

func wantsHTML(plan *config.Plan) bool {
	for _, o := range plan.AllOutputs() {
		if o.Format == "html" {
			return true
		}
	}
	return false
}

// buildGallery turns the kept adversarial examples of image data into the
// HTML report's gallery, with the model's predictions and confidences on
// the clean and adversarial inputs.
func buildGallery(ctx context.Context, w *workload, res *eval.PoolResult) report.Gallery {
	shape := w.set.SampleShape()
	if len(shape) < 2 || len(shape) > 3 {
		return nil // not image data
	}
	if w.plan.Preprocessing.Layout == "NHWC" && len(shape) == 3 {
		return nil // the gallery draws CHW images
	}
	per := w.set.X.Len() / w.set.Len()
	var g report.Gallery
	for _, run := range res.Attacks {
		for k, ex := range run.Examples {
			if k == galleryPerAttack {
				break // more were kept for a detector
			}
			orig := w.set.X.F[ex.Sample*per : (ex.Sample+1)*per]
			x := tensor.New(append([]int{2}, shape...)...)
			copy(x.F[:per], orig)
			copy(x.F[per:], ex.XAdv)
			logits, err := w.clf.Logits(ctx, x)
			if err != nil {
				return g
			}
			probs := softmaxRows(logits)
			c := logits.Shape[1]
			label := w.set.Y[ex.Sample]
			pred := eval.Argmax(logits)[1]
			g = append(g, report.Example{
				Attack: run.Attack.Name(), Original: append([]float32(nil), orig...), Adversarial: ex.XAdv, Shape: shape,
				Label: label, Pred: pred, Confidence: float64(probs[c+pred]), LabelConfidence: float64(probs[label]),
			})
		}
	}
	return g
}

// softmaxRows returns the row-wise softmax of [N, C] scores, flattened.
func softmaxRows(t *tensor.Tensor) []float32 {
	n, c := t.Shape[0], t.Shape[1]
	out := make([]float32, n*c)
	for i := 0; i < n; i++ {
		row := t.F[i*c : (i+1)*c]
		mx := row[0]
		for _, v := range row {
			mx = max(mx, v)
		}
		var sum float64
		for j, v := range row {
			e := math.Exp(float64(v - mx))
			out[i*c+j] = float32(e)
			sum += e
		}
		for j := range row {
			out[i*c+j] /= float32(sum)
		}
	}
	return out
}
