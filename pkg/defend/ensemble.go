package defend

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/params"
)

// Ensemble is the "ensemble" defence: the model being hardened (unless
// include_self is false) and the member ONNX files in members are merged
// into one graph by onnxmodel.Combine, their logits aggregated by how:
// mean-logits (default), mean-probs (the Log of the mean softmax, a
// log-probability attacks use as logits) or vote (majority vote; its
// gradient is that of the mean probabilities, see onnxmodel.Vote). Members
// must share the input shape, the class count and the opset (mixed opsets
// are refused), and carry no preprocessor defence (apply squeeze to the
// ensemble instead, so that its BPDA mark survives).
//
// Ensembles of independently trained models are the baseline of
// Tramèr et al. 2018 ("Ensemble Adversarial Training") and of He et al.
// 2017 ("Adversarial Example Defenses: Ensembles of Weak Defenses Are Not
// Strong"), which shows white-box attacks on the whole ensemble still
// succeed: evaluate the combined graph, never the members one by one.
//
// retrain_seeds (members retrained from the model with other seeds) is
// reserved for the training core and refused for now: give trained member
// files instead.
type Ensemble struct {
	members      string
	how          string
	includeSelf  bool
	retrainSeeds int
}

// NewEnsemble returns the ensemble defence with its defaults.
func NewEnsemble() *Ensemble { return &Ensemble{how: "mean-logits", includeSelf: true} }

// Name returns "ensemble".
func (d *Ensemble) Name() string { return "ensemble" }

// Kind returns GraphRewrite.
func (d *Ensemble) Kind() Kind { return GraphRewrite }

// Bind ties the parameters to their fields.
func (d *Ensemble) Bind() *params.Binder {
	b := params.New("defence", d.Name())
	b.String("members", &d.members, "", "none", "member ONNX files, comma-separated")
	b.Enum("how", &d.how, "mean-logits", []string{"mean-logits", "mean-probs", "vote"}, "how the members' logits are aggregated")
	b.Bool("include_self", &d.includeSelf, true, "the model being hardened is member 0")
	b.Int("retrain_seeds", &d.retrainSeeds, 0, "", "members retrained from the model with other seeds (reserved: not yet available)")
	return b
}

// Validate checks the parameters.
func (d *Ensemble) Validate() error {
	if _, err := onnxmodel.ParseAggregate(d.how); err != nil {
		return params.Errf("defence", d.Name(), "how", d.how, "mean-logits, mean-probs or vote")
	}
	if d.retrainSeeds != 0 {
		return params.Errf("defence", d.Name(), "retrain_seeds", d.retrainSeeds, "0 (retraining members is not available yet; give trained member files in members)")
	}
	n := len(d.files())
	if d.includeSelf {
		n++
	}
	if n < 2 {
		return params.Errf("defence", d.Name(), "members", d.members, "at least one member file (two without include_self)")
	}
	return nil
}

func (d *Ensemble) files() []string {
	var out []string
	for _, f := range strings.Split(d.members, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Params returns the resolved parameters.
func (d *Ensemble) Params() map[string]any { return d.Bind().Values() }

// Apply loads the member files and combines them with m.
func (d *Ensemble) Apply(ctx context.Context, m *onnxmodel.Model, _ TrainData, _ *rand.Rand) (*onnxmodel.Model, error) {
	how, err := onnxmodel.ParseAggregate(d.how)
	if err != nil {
		return nil, err
	}
	var models []*onnxmodel.Model
	if d.includeSelf {
		models = append(models, m)
	}
	for _, f := range d.files() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		mm, err := onnxmodel.Load(f)
		if err != nil {
			return nil, fmt.Errorf("ensemble: member: %w", err)
		}
		models = append(models, mm)
	}
	for i, mm := range models {
		// A member's preprocessor mark would not survive the merge, and the
		// ensemble would then hide Round's zero gradient from BPDA.
		if _, ok := mm.Metadata(PreprocessorKey); ok {
			return nil, fmt.Errorf("ensemble: member %d has a preprocessor defence in its graph; build the ensemble first and apply the preprocessor (squeeze) to it, so that BPDA can attack the result", i)
		}
		// Likewise the noise mark, without which EOT would not be used.
		if _, ok := mm.Metadata(NoiseKey); ok {
			return nil, fmt.Errorf("ensemble: member %d has inference noise (%s) in its graph; build the ensemble first and apply %s to it, so that EOT can attack the result", i, NoiseKey, InferenceNoiseDefence)
		}
	}
	e, err := onnxmodel.Combine(models, how)
	if err != nil {
		return nil, fmt.Errorf("ensemble: %w", err)
	}
	e.Path = m.Path
	return e, nil
}

func init() {
	mustRegister("ensemble", FactoryFor("ensemble of ONNX models in one graph: mean logits, mean probabilities or majority vote (Tramèr et al. 2018; He et al. 2017 on attacking ensembles)", func() Configurable { return NewEnsemble() }))
}
