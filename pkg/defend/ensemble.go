package defend

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/advtest/advtest/pkg/attack"
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
// retrain_seeds N adds N members trained from the model being hardened,
// each by the trainer defence member_defence (a spec, name:key=value,...;
// default plain fine-tuning, label-smoothing with max_value 1, for one
// epoch) with its own seed drawn from the round's generator, so members
// differ by their data order and random starts ("other seeds") or, with a
// member_defence such as pgd-at, by their training ("other defences").
type Ensemble struct {
	members       string
	how           string
	includeSelf   bool
	retrainSeeds  int
	memberDefence string
}

// defaultMemberDefence is plain fine-tuning: cross-entropy on one-hot
// targets (label smoothing at max_value 1) for one epoch.
const defaultMemberDefence = "label-smoothing:max_value=1,epochs=1"

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
	b.Int("retrain_seeds", &d.retrainSeeds, 0, "", "members trained from the model with other seeds, by member_defence (needs train.data)")
	b.String("member_defence", &d.memberDefence, defaultMemberDefence, "", "trainer defence spec that trains each retrained member")
	return b
}

// Validate checks the parameters.
func (d *Ensemble) Validate() error {
	if _, err := onnxmodel.ParseAggregate(d.how); err != nil {
		return params.Errf("defence", d.Name(), "how", d.how, "mean-logits, mean-probs or vote")
	}
	if d.retrainSeeds < 0 || d.retrainSeeds > 32 {
		return params.Errf("defence", d.Name(), "retrain_seeds", d.retrainSeeds, "an integer in [0, 32]")
	}
	if d.retrainSeeds > 0 {
		if _, err := d.memberTrainer(); err != nil {
			return err
		}
	}
	n := len(d.files()) + d.retrainSeeds
	if d.includeSelf {
		n++
	}
	if n < 2 {
		return params.Errf("defence", d.Name(), "members", d.members, "at least one member file or retrained member (two without include_self)")
	}
	return nil
}

// memberTrainer builds member_defence, which must be a trainer.
func (d *Ensemble) memberTrainer() (Defence, error) {
	sp, err := attack.ParseSpec(d.memberDefence)
	if err != nil {
		return nil, params.Errf("defence", d.Name(), "member_defence", d.memberDefence, "a defence spec name:key=value,...")
	}
	t, err := New(sp.Name, sp.Params)
	if err != nil {
		return nil, fmt.Errorf("defence ensemble: member_defence: %w", err)
	}
	if t.Kind() != Trainer {
		return nil, params.Errf("defence", d.Name(), "member_defence", d.memberDefence, "a trainer defence (pgd-at, trades, label-smoothing, ...)")
	}
	return t, nil
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

// NeedsTrainingData reports whether Apply trains members (retrain_seeds),
// which a graph rewrite otherwise does not.
func (d *Ensemble) NeedsTrainingData() bool { return d.retrainSeeds > 0 }

// Apply loads the member files, trains the retrained members from m (each
// with a seed drawn from rng), and combines them with m.
func (d *Ensemble) Apply(ctx context.Context, m *onnxmodel.Model, data TrainData, rng *rand.Rand) (*onnxmodel.Model, error) {
	how, err := onnxmodel.ParseAggregate(d.how)
	if err != nil {
		return nil, err
	}
	var models []*onnxmodel.Model
	if d.includeSelf {
		models = append(models, m)
	}
	if d.retrainSeeds > 0 {
		if rng == nil {
			rng = rand.New(rand.NewPCG(0x5eed, 0xe75))
		}
		for k := 0; k < d.retrainSeeds; k++ {
			t, err := d.memberTrainer()
			if err != nil {
				return nil, err
			}
			seed := rng.Uint64()
			mm, err := t.Apply(ctx, m, data, rand.New(rand.NewPCG(seed, uint64(k))))
			if err != nil {
				return nil, fmt.Errorf("ensemble: retrained member %d: %w", k+1, err)
			}
			models = append(models, mm)
		}
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
