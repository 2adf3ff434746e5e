package defend

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/params"
	"github.com/advtest/advtest/pkg/tensor"
)

// BoundedReLU is the "bounded-relu" defence (Zantedeschi, Nicolae and
// Rawat, "Efficient Defenses Against Adversarial Attacks", AISec 2017):
// every Relu becomes Clip(x, 0, t), bounding how far a perturbation can
// push any activation. t comes, per layer, from (first match wins):
// thresholds ("name=t,...", by the Relu node's name or its output value's
// name), t (one value for every layer), or a percentile of the positive
// values of each Relu's input on clean data (validation set if any, else
// training data; at most max_samples samples). Defaults: percentile 99.9,
// no fixed t, no fine-tuning. finetune_epochs > 0 then trains the bounded
// model with the shared training core (Adam, finetune_lr) on the training
// data, as the paper trains its bounded networks.
type BoundedReLU struct {
	t              float64
	thresholds     string
	percentile     float64
	maxSamples     int
	finetuneEpochs int
	finetuneLR     float64
	// Bounds holds the thresholds used by the last Apply, by Relu output
	// value name.
	Bounds map[string]float32
}

// NewBoundedReLU returns the bounded-relu defence with its defaults.
func NewBoundedReLU() *BoundedReLU {
	return &BoundedReLU{percentile: 99.9, maxSamples: 1000, finetuneLR: 1e-4}
}

// Name returns "bounded-relu".
func (d *BoundedReLU) Name() string { return "bounded-relu" }

// Kind returns GraphRewrite.
func (d *BoundedReLU) Kind() Kind { return GraphRewrite }

// Bind ties the parameters to their fields.
func (d *BoundedReLU) Bind() *params.Binder {
	b := params.New("defence", d.Name())
	b.Float("t", &d.t, 0, "none", "one upper bound for every Relu (0: not set)")
	b.String("thresholds", &d.thresholds, "", "none", "per-layer bounds, name=t,... (Relu node or output name)")
	b.Float("percentile", &d.percentile, 99.9, "", "calibrate each unset bound to this percentile of the positive Relu inputs on clean data")
	b.Int("max_samples", &d.maxSamples, 1000, "", "at most this many clean samples for calibration")
	b.Int("finetune_epochs", &d.finetuneEpochs, 0, "", "epochs of fine-tuning the bounded model on the training data (0: none)")
	b.Float("finetune_lr", &d.finetuneLR, 1e-4, "", "Adam learning rate for fine-tuning")
	return b
}

// Validate checks the parameters.
func (d *BoundedReLU) Validate() error {
	if d.t < 0 || math.IsInf(d.t, 0) {
		return params.Errf("defence", d.Name(), "t", d.t, "a positive bound (or 0 for none)")
	}
	if _, err := parseThresholds(d.thresholds); err != nil {
		return params.Errf("defence", d.Name(), "thresholds", d.thresholds, err.Error())
	}
	if !(d.percentile > 0 && d.percentile <= 100) {
		return params.Errf("defence", d.Name(), "percentile", d.percentile, "a percentile in (0, 100]")
	}
	if d.maxSamples < 1 {
		return params.Errf("defence", d.Name(), "max_samples", d.maxSamples, "a positive integer")
	}
	if d.finetuneEpochs < 0 {
		return params.Errf("defence", d.Name(), "finetune_epochs", d.finetuneEpochs, "0 or more")
	}
	if !(d.finetuneLR > 0) {
		return params.Errf("defence", d.Name(), "finetune_lr", d.finetuneLR, "a positive learning rate")
	}
	return nil
}

// Params returns the resolved parameters.
func (d *BoundedReLU) Params() map[string]any { return d.Bind().Values() }

func parseThresholds(s string) (map[string]float32, error) {
	out := map[string]float32{}
	for _, kv := range strings.Split(s, ",") {
		if strings.TrimSpace(kv) == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 32)
		if !ok || err != nil || !(f > 0) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("entry %q: want name=t with t > 0", kv)
		}
		out[strings.TrimSpace(k)] = float32(f)
	}
	return out, nil
}

// Apply rewrites every Relu of m into a Clip and, when asked, fine-tunes.
func (d *BoundedReLU) Apply(ctx context.Context, m *onnxmodel.Model, data TrainData, rng *rand.Rand) (*onnxmodel.Model, error) {
	relus := m.NodesOfType("Relu")
	if len(relus) == 0 {
		return nil, fmt.Errorf("bounded-relu: the model has no Relu")
	}
	named, _ := parseThresholds(d.thresholds)
	known := map[string]bool{}
	var names []string
	for _, n := range relus {
		known[n.GetName()], known[n.GetOutput()[0]] = true, true
		names = append(names, n.GetOutput()[0])
	}
	for k := range named {
		if !known[k] {
			return nil, fmt.Errorf("bounded-relu: thresholds names %q, which is no Relu node or output (Relu outputs: %s)", k, strings.Join(names, ", "))
		}
	}
	bounds := map[string]float32{} // by Relu output
	var calibrate []*onnxpb.NodeProto
	for _, n := range relus {
		if t, ok := named[n.GetName()]; ok && n.GetName() != "" {
			bounds[n.GetOutput()[0]] = t
		} else if t, ok := named[n.GetOutput()[0]]; ok {
			bounds[n.GetOutput()[0]] = t
		} else if d.t > 0 {
			bounds[n.GetOutput()[0]] = float32(d.t)
		} else {
			calibrate = append(calibrate, n)
		}
	}
	if len(calibrate) > 0 {
		set := data.Validation
		if set == nil || set.Len() == 0 {
			set = data.Train
		}
		if set == nil || set.Len() == 0 {
			return nil, fmt.Errorf("bounded-relu: %d Relu bounds to calibrate from the %g-th percentile but no data; give train data or set t or thresholds", len(calibrate), d.percentile)
		}
		ts, err := ReluPercentiles(ctx, m, calibrate, set, d.percentile, d.maxSamples, rng)
		if err != nil {
			return nil, fmt.Errorf("bounded-relu: %w", err)
		}
		for out, t := range ts {
			bounds[out] = t
		}
	}
	bm, err := BoundRelus(m, bounds)
	if err != nil {
		return nil, fmt.Errorf("bounded-relu: %w", err)
	}
	d.Bounds = bounds
	if d.finetuneEpochs > 0 {
		if data.Train == nil || data.Train.Len() == 0 {
			return nil, fmt.Errorf("bounded-relu: finetune_epochs=%d needs training data", d.finetuneEpochs)
		}
		cfg := DefaultTrainConfig()
		cfg.Epochs, cfg.LR = d.finetuneEpochs, d.finetuneLR
		cfg.Validation, cfg.Progress = data.Validation, data.Progress
		if _, err := Train(ctx, bm, data.Train, cfg, rng); err != nil {
			return nil, fmt.Errorf("bounded-relu: fine-tuning: %w", err)
		}
	}
	return bm, nil
}

// BoundRelus returns a copy of m in which every Relu whose output is a key
// of bounds becomes Clip(x, 0, t): with min and max as Constant inputs
// from opset 11, as attributes before.
func BoundRelus(m *onnxmodel.Model, bounds map[string]float32) (*onnxmodel.Model, error) {
	e := m.Edit()
	g := e.Graph()
	prefix := uniquePrefix(m, "advtest_brelu")
	var consts []*onnxpb.NodeProto
	done := 0
	for i, n := range g.GetNode() {
		if n.GetOpType() != "Relu" || len(n.GetOutput()) == 0 {
			continue
		}
		t, ok := bounds[n.GetOutput()[0]]
		if !ok {
			continue
		}
		if !(t > 0) {
			return nil, fmt.Errorf("relu %q: bound %g, want > 0", n.GetOutput()[0], t)
		}
		n.OpType = proto.String("Clip")
		n.Attribute = nil
		if m.Opset >= 11 {
			lo, hi := fmt.Sprintf("%s%d/min", prefix, i), fmt.Sprintf("%s%d/max", prefix, i)
			consts = append(consts, onnxmodel.ConstantNode(lo, tensor.FromFloat32([]float32{0})), onnxmodel.ConstantNode(hi, tensor.FromFloat32([]float32{t})))
			n.Input = []string{n.GetInput()[0], lo, hi}
		} else {
			n.Attribute = []*onnxpb.AttributeProto{onnxmodel.AttrFloat("min", 0), onnxmodel.AttrFloat("max", t)}
		}
		done++
	}
	if done == 0 {
		return nil, fmt.Errorf("no Relu matched the bounds")
	}
	g.Node = append(consts, g.Node...)
	out, err := e.Build()
	if err != nil {
		return nil, err
	}
	out.Path = m.Path
	return out, nil
}

// ReluPercentiles runs m on up to maxSamples samples of set and returns,
// for each of the given Relu nodes (by output value name), the pct-th
// percentile of the positive values of its input. At most 1<<20 values per
// layer are kept (a uniform reservoir drawn with rng), so memory is
// bounded whatever the data.
func ReluPercentiles(ctx context.Context, m *onnxmodel.Model, relus []*onnxpb.NodeProto, set *dataset.Set, pct float64, maxSamples int, rng *rand.Rand) (map[string]float32, error) {
	if rng == nil {
		rng = rand.New(rand.NewPCG(1, 2))
	}
	var ins []string
	for _, n := range relus {
		ins = append(ins, n.GetInput()[0])
	}
	probe, err := m.WithOutputs(ins...)
	if err != nil {
		return nil, err
	}
	inName, err := m.InputName()
	if err != nil {
		return nil, err
	}
	const capacity = 1 << 20
	res := make([][]float32, len(ins))
	seen := make([]int, len(ins))
	n := min(set.Len(), maxSamples)
	for lo := 0; lo < n; lo += 64 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		x, _ := set.Batch(lo, min(lo+64, n))
		vals, err := probe.Run(ctx, map[string]*tensor.Tensor{inName: x})
		if err != nil {
			return nil, err
		}
		for k, name := range ins {
			for _, v := range vals[name].F {
				if !(v > 0) {
					continue
				}
				seen[k]++
				if len(res[k]) < capacity {
					res[k] = append(res[k], v)
				} else if j := rng.IntN(seen[k]); j < capacity {
					res[k][j] = v
				}
			}
		}
	}
	out := map[string]float32{}
	for k, n := range relus {
		v := res[k]
		if len(v) == 0 {
			return nil, fmt.Errorf("relu %q: no positive input on %d clean samples; set its bound with thresholds", n.GetOutput()[0], set.Len())
		}
		sort.Slice(v, func(a, b int) bool { return v[a] < v[b] })
		i := int(math.Ceil(pct/100*float64(len(v)))) - 1
		out[n.GetOutput()[0]] = v[min(max(i, 0), len(v)-1)]
	}
	return out, nil
}

func init() {
	mustRegister("bounded-relu", FactoryFor("bounded ReLU: every Relu becomes Clip(0, t), t fixed or calibrated per layer from clean activations (Zantedeschi et al. 2017, AISec)", func() Configurable { return NewBoundedReLU() }))
}
