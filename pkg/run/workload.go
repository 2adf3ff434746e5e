package run

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/config"
	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/defend"
	"github.com/advtest/advtest/pkg/eval"
	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/remote"
	"github.com/advtest/advtest/pkg/tensor"
)

// workload is what a plan resolves to: the model as attacks see it (with
// preprocessing in its graph), the data and the attack pool.
type workload struct {
	plan *config.Plan
	// model is the model file with its preprocessing (nil for a remote target).
	model *onnxmodel.Model
	// clf is what the pool attacks: the model, or the remote endpoint.
	clf    attack.Classifier
	remote *remoteClassifier
	// data is the evaluation set (the shard of it), read batch by batch.
	data *evalData
	// totalN is the number of samples of the whole run (before --shard).
	totalN  int
	attacks []attack.Attack
	specs   []eval.AttackSpec
}

// loadWorkload opens the plan's data and builds its attack pool, and loads
// its model file or (with o.Target) connects to its remote endpoint;
// o.Shard keeps one shard of the samples. The data is streamed
// (dataset.Open: read batch by batch, its samples checked against the
// clip range as they are read).
func loadWorkload(ctx context.Context, o *Options) (*workload, error) {
	plan := o.Plan
	w := &workload{plan: plan}
	im := plan.Images
	opts := dataset.Options{Limit: plan.Limit, LabelColumn: plan.LabelColumn, MaxBytes: o.MaxMemory, Images: dataset.ImageOptions{
		Width: im.Width, Height: im.Height, ShorterSide: im.ShorterSide, CropWidth: im.CropWidth, CropHeight: im.CropHeight,
		Interpolation: im.Interpolation, ChannelOrder: im.ChannelOrder, Grayscale: im.Grayscale,
	}, SkipColumns: dataTargetColumns(plan)}
	if o.Target.URL != "" {
		st, err := dataset.Open(plan.Data, plan.Labels, opts)
		if err != nil {
			return nil, err
		}
		w.data = streamData(st)
		p := plan.Preprocessing
		if p.Scale != 1 || len(p.Mean) > 0 || (p.Layout != "" && p.Layout != "NCHW") {
			w.data.Close()
			return nil, errors.New("preprocessing scale, mean/std and layout apply to a model file's graph; a remote --target receives the data as given")
		}
	} else {
		m, data, err := openModelAndData(plan.Model, plan.Data, plan.Labels, opts)
		if err != nil {
			return nil, err
		}
		w.data = data
		if w.model, w.clf, err = withPreprocessing(o, m); err != nil {
			data.Close()
			return nil, err
		}
	}
	w, err := w.finish(ctx, o)
	if err != nil {
		w.data.Close()
		return nil, err
	}
	return w, nil
}

// withPreprocessing puts the plan's preprocessing in m's graph and returns
// the model and what the pool attacks: the model, or its adaptive view.
func withPreprocessing(o *Options, m *onnxmodel.Model) (*onnxmodel.Model, attack.Classifier, error) {
	plan := o.Plan
	pre := onnxmodel.Preprocessing{Scale: float32(plan.Preprocessing.Scale), Layout: plan.Preprocessing.Layout}
	for i := range plan.Preprocessing.Mean {
		pre.Mean = append(pre.Mean, float32(plan.Preprocessing.Mean[i]))
		pre.Std = append(pre.Std, float32(plan.Preprocessing.Std[i]))
	}
	m, err := m.WithPreprocessing(pre)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", plan.Model, err)
	}
	// A model with a preprocessor defence in its graph (a squeezer) is
	// attacked through BPDA, one with inference noise through EOT, as
	// harden measures them: plain gradients through a quantiser, or
	// one noise draw's, would report a masked gradient as robustness.
	clf, err := defend.AdaptiveWith(m, defend.AdaptiveOptions{Seed: plan.Seed})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", plan.Model, err)
	}
	if clf == attack.Classifier(m) && m.Randomised() {
		o.warn(plan.Model + ": the graph draws random numbers (RandomNormal/RandomUniform ops) without advtest's noise mark: every attack step sees one draw, which understates the SR of a randomised defence; harden such a model with the gaussian-noise defence to get EOT")
	}
	return m, clf, nil
}

// finish shards the data, has its clip range checked as it is read, builds the attack pool
// and dials a remote target.
func (w *workload) finish(ctx context.Context, o *Options) (*workload, error) {
	plan := w.plan
	w.totalN = w.data.Len()
	if o.Shard.Count > 0 {
		if err := w.data.shard(o.Shard.Index, o.Shard.Count); err != nil {
			return w, err
		}
	}
	w.data.clip, w.data.clipLo, w.data.clipHi = true, float32(plan.Preprocessing.ClipMin), float32(plan.Preprocessing.ClipMax)
	if len(plan.Attacks) == 0 {
		return w, errors.New("the attack pool is empty: add `attacks:` to the config or pass --attack")
	}
	for i, ca := range plan.Attacks {
		a, spec, err := buildAttack(ca, plan)
		if err != nil {
			return w, fmt.Errorf("attacks[%d]: %w", i, err)
		}
		// A shard keeps its fooled samples' norms, so that merging the
		// shards' reports gives exact medians.
		spec.KeepNorms = o.Shard.Count > 0
		w.attacks = append(w.attacks, a)
		w.specs = append(w.specs, spec)
	}
	if o.Target.URL != "" {
		if err := checkRemotePool(w.attacks); err != nil {
			return w, err
		}
		rc, err := dialTarget(ctx, o, w.data.SampleShape())
		if err != nil {
			return w, err
		}
		w.clf, w.remote = rc, rc
	}
	return w, nil
}

// buildAttack makes an attack from its config, with the plan's clip range
// unless the attack sets its own.
func buildAttack(ca config.Attack, plan *config.Plan) (attack.Attack, eval.AttackSpec, error) {
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
	withDataTargets(params, ca, plan)
	a, err := attack.New(ca.Name, params)
	if err != nil {
		return nil, eval.AttackSpec{}, err
	}
	spec := eval.NewAttackSpec(a, ca.Name, ca.Params)
	spec.MaxSR = ca.MaxSR
	return a, spec, nil
}

// loadModelAndData loads both and makes the data's sample shape fit the
// model's declared input (an IDX image [28 28] becomes [1 28 28] for a
// model that declares [N 1 28 28]); a real mismatch is an error naming both.
func loadModelAndData(modelPath, dataPath, labelsPath string, opts dataset.Options) (*onnxmodel.Model, *dataset.Set, error) {
	m, err := onnxmodel.Load(modelPath)
	if err != nil {
		return nil, nil, err
	}
	set, err := dataset.Load(dataPath, labelsPath, opts)
	if err != nil {
		return nil, nil, err
	}
	if err := fitData(m, set); err != nil {
		return nil, nil, err
	}
	return m, set, nil
}

// fitData makes set's sample shape fit m's input (fitShape) and
// checks that every label is a class of m.
func fitData(m *onnxmodel.Model, set *dataset.Set) error {
	shape, err := fitShape(m, set.Path, set.SampleShape())
	if err != nil {
		return err
	}
	if !slices.Equal(shape, set.SampleShape()) {
		set.X = set.X.Reshaped(append([]int{set.Len()}, shape...)...)
	}
	if err := checkHasClasses(m, set); err != nil {
		return err
	}
	return checkModelClasses(m, labelsPathOr(set.LabelsPath, set.Path), set.Y)
}

// checkModelClasses checks that every label is a class of m (when m's
// class count is known); labelsFile names the file in the error.
func checkModelClasses(m *onnxmodel.Model, labelsFile string, labels []int) error {
	if nc := m.NumClasses(); nc > 0 {
		for i, y := range labels {
			if y < 0 || y >= nc {
				return fmt.Errorf("%s: label %d of sample %d is not a class of the model (it has %d classes)", labelsFile, y, i, nc)
			}
		}
	}
	return nil
}

// checkHasClasses refuses a model whose output has no class (logits
// [batch, 0]): an argmax over nothing reads as class 0, and every figure
// would be made up. A model whose class count is not known from its
// declared output or its load-time self-check is run on the first sample;
// if that run fails, the later stages report why.
func checkHasClasses(m *onnxmodel.Model, set *dataset.Set) error {
	if m.NumClasses() > 0 || set.Len() == 0 {
		return nil
	}
	x, _ := set.Batch(0, 1)
	return noClassError(m, x)
}

// noClassError runs m on the one-sample batch x and returns the error of
// a model whose output has 0 classes; nil when it has some, or when the
// run fails (the caller's later stages report why).
func noClassError(m *onnxmodel.Model, x *tensor.Tensor) error {
	logits, err := m.Logits(context.Background(), x)
	if err != nil || logits.Rank() != 2 || logits.Shape[1] > 0 {
		return nil
	}
	return fmt.Errorf("%s: the model's output %q has 0 classes per sample: want a classifier whose output is [batch, classes] with at least one class", m.Path, m.Outputs[0].Name)
}

// checkClipRange refuses data with a value outside the plan's clip range,
// naming the file and the sample (what: "sample", "training sample").
func checkClipRange(set *dataset.Set, plan *config.Plan, what string) error {
	lo, hi := float32(plan.Preprocessing.ClipMin), float32(plan.Preprocessing.ClipMax)
	per := set.X.Len() / max(set.Len(), 1)
	for i, v := range set.X.F {
		if v < lo || v > hi {
			return clipError(set.Path, what, i/per, v, lo, hi)
		}
	}
	return nil
}

// clipError is checkClipRange's error for sample i of file.
func clipError(file, what string, i int, v, lo, hi float32) error {
	return fmt.Errorf("%s: %s %d has value %g outside the clip range [%g, %g] (set preprocessing.clip_min/clip_max or preprocessing.scale)", file, what, i, v, lo, hi)
}

// labelsPathOr is the labels file, or the data file that holds the labels.
func labelsPathOr(labelsPath, dataPath string) string {
	if labelsPath != "" {
		return labelsPath
	}
	return dataPath
}

// fitShape returns the sample shape that fits m's input: have itself when
// it matches, else m's declared shape when it has as many elements (an
// IDX image [28 28] becomes [1 28 28] for a model that declares
// [N 1 28 28]); a real mismatch is an error naming both files.
func fitShape(m *onnxmodel.Model, dataPath string, have []int) ([]int, error) {
	want := m.SampleShape()
	if want == nil {
		return have, nil
	}
	if len(want) == len(have) {
		ok := true
		for i := range want {
			if want[i] > 0 && want[i] != have[i] {
				ok = false
			}
		}
		if ok {
			return have, nil
		}
	}
	known := true
	for _, d := range want {
		if d <= 0 {
			known = false
		}
	}
	if known && tensor.Numel(want) == tensor.Numel(have) {
		return slices.Clone(want), nil
	}
	return nil, fmt.Errorf("%s: samples have shape %v, the model %s expects %v per sample", dataPath, have, m.Path, want)
}

// remoteClassifier is a deployed model as the pool sees it: scores from an
// Open Inference Protocol endpoint, and no gradients. Black-box attacks get
// it only through a query-counting oracle; white-box attacks are refused
// before any traffic (checkRemotePool).
type remoteClassifier struct {
	client      *remote.Client
	sampleShape []int
	mu          sync.Mutex
	classes     int
}

func (r *remoteClassifier) NumClasses() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.classes == 0 {
		r.classes = r.client.NumClasses()
	}
	return r.classes
}

func (r *remoteClassifier) InputShape() []int { return r.sampleShape }

func (r *remoteClassifier) Logits(ctx context.Context, x *tensor.Tensor) (*tensor.Tensor, error) {
	s, err := r.client.Scores(ctx, x)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.classes == 0 && len(s.Shape) == 2 {
		r.classes = s.Shape[1]
	}
	r.mu.Unlock()
	return s, nil
}

var errNoGradients = errors.New("a remote target answers scores only: it has no gradients")

func (r *remoteClassifier) InputGradient(context.Context, *tensor.Tensor, func(*tensor.Tensor) (*tensor.Tensor, error)) (*tensor.Tensor, *tensor.Tensor, error) {
	return nil, nil, errNoGradients
}

// checkRemotePool refuses white-box attacks on a remote target.
func checkRemotePool(attacks []attack.Attack) error {
	var blackBox []string
	for _, name := range attack.Names() {
		a, err := attack.New(name, nil)
		if err == nil {
			if _, ok := a.(attack.BlackBox); ok {
				blackBox = append(blackBox, name)
			}
		}
	}
	for _, a := range attacks {
		if _, ok := a.(attack.BlackBox); !ok {
			return fmt.Errorf("attack %q needs gradients, and a remote --target answers scores only: use a black-box attack (%s)", a.Name(), strings.Join(blackBox, ", "))
		}
	}
	return nil
}

// dialTarget connects to the endpoint and checks that it answers.
func dialTarget(ctx context.Context, o *Options, sampleShape []int) (*remoteClassifier, error) {
	t := o.Target
	opts := remote.Options{QPS: t.QPS, MaxQueries: t.MaxQueries, Timeout: t.Timeout, SampleShape: sampleShape}
	opts.OnRetry = func(err error, retry int, wait time.Duration) {
		o.warn(fmt.Sprintf("retry %d in %v after: %v", retry, wait.Round(time.Millisecond), err))
	}
	c, err := remote.Dial(ctx, t.URL, opts)
	if err != nil {
		return nil, err
	}
	return &remoteClassifier{client: c, sampleShape: sampleShape}, nil
}
