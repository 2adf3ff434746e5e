package config

import (
	"encoding/json"

	"github.com/advtest/advtest/pkg/report"
)

// Default values of the keys that have one.
const (
	DefaultSeed            = 1
	DefaultBatchSize       = 128
	DefaultScale           = 1.0
	DefaultClipMin         = 0.0
	DefaultClipMax         = 1.0
	DefaultLayout          = "NCHW"
	DefaultFormat          = "table"
	DefaultMaxRounds       = 5
	DefaultMaxCleanDrop    = 0.02
	DefaultValidationSplit = 0.1
	DefaultSanitySamples   = 500
)

// Plan is a run of advtest, typed and validated: what to attack, with
// what, and how to judge and report it. The json tags are the config keys.
type Plan struct {
	// Model is the ONNX model file.
	Model string `json:"model"`
	// Data is the evaluation data file (.npy, .npz, IDX, CSV or an image
	// folder).
	Data string `json:"data"`
	// Labels is the labels file; empty when the labels come with Data.
	Labels string `json:"labels"`
	// LabelColumn chooses the label column of a CSV data file (Data and
	// Train.Data): a column name, or a 0-based index; empty means the
	// column named "label". Other formats ignore it.
	LabelColumn string `json:"label_column"`
	// Limit evaluates only the first Limit samples; 0 evaluates all.
	Limit int `json:"limit"`
	// Seed drives all randomness of the run; the default is 1, and any
	// value (0 included) is a fixed seed.
	Seed uint64 `json:"seed"`
	// BatchSize is the number of samples per forward/backward pass.
	BatchSize int `json:"batch_size"`
	// Preprocessing maps the data files' values to the model's input.
	Preprocessing Preprocessing `json:"preprocessing"`
	// Images configures image-folder data (ignored for other formats).
	Images Images `json:"images"`
	// Attacks is the attack pool, run in this order.
	Attacks []Attack `json:"attacks"`
	// Sweep reruns one attack of the pool over several budgets.
	Sweep Sweep `json:"sweep"`
	// Sanity configures the gradient-masking sanity checks.
	Sanity Sanity `json:"sanity"`
	// Gate holds the pass/fail thresholds.
	Gate Gate `json:"gate"`
	// Output says where the report goes and in which formats.
	Output Outputs `json:"output"`
	// Harden configures the attack, defend, measure loop.
	Harden Harden `json:"harden"`
	// Train names the training data that trainer defences use.
	Train Train `json:"train"`
}

// Preprocessing maps the data files' values to the model's input. Scale
// takes raw values to input space (where eps is measured and Clip applies);
// Mean and Std normalise input space for the model inside the
// differentiable pipeline, never on the data before an attack.
type Preprocessing struct {
	// Scale multiplies the loaded values into input space (the dataset
	// loader already divides uint8 data by 255).
	Scale float64 `json:"scale"`
	// Mean is subtracted per channel; one value applies to every channel.
	Mean []float64 `json:"mean"`
	// Std divides per channel after Mean; the same length as Mean.
	Std []float64 `json:"std"`
	// ClipMin is the lowest valid value in input space.
	ClipMin float64 `json:"clip_min"`
	// ClipMax is the highest valid value in input space.
	ClipMax float64 `json:"clip_max"`
	// Layout is the model's input layout, NCHW or NHWC.
	Layout string `json:"layout"`
}

// Images says how an image folder (one subfolder per class) becomes
// samples: resizing, cropping and channel order. Zero values keep the
// images as they are (they must then all have one size).
type Images struct {
	// Width and Height resize every image to this size.
	Width  int `json:"width"`
	Height int `json:"height"`
	// ShorterSide resizes keeping the aspect ratio so that the shorter
	// side has this length (instead of Width and Height).
	ShorterSide int `json:"shorter_side"`
	// CropWidth and CropHeight cut the center of the resized image.
	CropWidth  int `json:"crop_width"`
	CropHeight int `json:"crop_height"`
	// Interpolation is bilinear (default) or nearest.
	Interpolation string `json:"interpolation"`
	// ChannelOrder is rgb (default) or bgr.
	ChannelOrder string `json:"channel_order"`
	// Grayscale reads images as one channel.
	Grayscale bool `json:"grayscale"`
}

// Attack is one attack of the pool.
type Attack struct {
	// Name is the attack's registry name (fgsm, pgd, deepfool, ...).
	Name string `json:"name"`
	// Params are the attack's parameters, values as strings; the attack
	// registry checks them against the attack's own list.
	Params map[string]string `json:"params"`
	// MaxSR fails the run when this attack's success rate is above it;
	// nil for no ceiling.
	MaxSR *float64 `json:"max_sr"`
}

// Sweep reruns one attack of the pool with each budget in Eps, for a
// success rate against eps curve. It is off when Attack is empty.
type Sweep struct {
	// Attack is the name of an attack in the pool (it must name exactly
	// one).
	Attack string `json:"attack"`
	// Eps lists the budgets, each > 0.
	Eps []float64 `json:"eps"`
}

// Sanity configures the gradient-masking sanity checks of Carlini et al.
// 2019 that attack and harden run after the pool; a flagged check fails
// the gate.
type Sanity struct {
	// Enabled runs the checks (default true).
	Enabled bool `json:"enabled"`
	// Samples bounds the clean-correct samples the checks attack, the
	// first ones in data order (0: all; default 500).
	Samples int `json:"samples"`
}

// Gate holds the pass/fail thresholds of a run.
type Gate struct {
	// FailAbove fails the run when the worst-case success rate is above
	// it; nil disables the check.
	FailAbove *float64 `json:"fail_above"`
	// MinCleanAccuracy fails the run when the model's clean accuracy is
	// below it, so that a broken model (or an endpoint that answers one
	// class) cannot pass with a low success rate; nil disables the check.
	MinCleanAccuracy *float64 `json:"min_clean_accuracy"`
	// MaxTargetedSR fails the run when a targeted attack's targeted
	// success rate (the fraction of its samples classified as their
	// target) is above it; nil disables the check.
	MaxTargetedSR *float64 `json:"max_targeted_sr"`
	// AllowMissingAttacks lets attacks of the baseline that this run lacks
	// pass as notes; by default each fails the gate.
	AllowMissingAttacks bool `json:"allow_missing_attacks"`
	// Baseline is a JSON report of an earlier run to compare against;
	// empty disables the regression checks.
	Baseline string `json:"baseline"`
	// MaxRegression is how much a success rate may rise over the
	// baseline's (an absolute difference); 0 fails any rise.
	MaxRegression float64 `json:"max_regression"`
}

// Output is one report output: a format and where it goes.
type Output struct {
	// Format is a report format name (table, json, junit, markdown, ...).
	Format string `json:"format"`
	// Path is the file to write; "", "-" or "stdout" mean standard output
	// and "stderr" standard error.
	Path string `json:"path"`
}

// Outputs says where the report goes: the main output, and further ones
// in other formats (golangci-lint style), written in the same run.
type Outputs struct {
	// Format is the main output's format.
	Format string `json:"format"`
	// Path is the main output's destination (standard output by default).
	Path string `json:"path"`
	// Extra lists further outputs.
	Extra []Output `json:"extra"`
}

// Harden configures the attack, defend, measure loop. It is parsed and
// validated here; the harden command gives it meaning.
type Harden struct {
	// UntilSR is the worst-case success rate to reach; nil when unset (the
	// harden command requires it).
	UntilSR *float64 `json:"until_sr"`
	// UntilCertified is a certified-accuracy target (randomized smoothing,
	// Cohen et al. 2019); nil when unset. harden requires until_sr or
	// until_certified; with both, it stops when both are met.
	UntilCertified *UntilCertified `json:"until_certified"`
	// MaxRounds bounds the number of defence rounds.
	MaxRounds int `json:"max_rounds"`
	// MaxCleanDrop is the most clean accuracy a round may lose (absolute).
	MaxCleanDrop float64 `json:"max_clean_drop"`
	// Defences are tried in this order.
	Defences []Defence `json:"defences"`
}

// UntilCertified is harden's certified-accuracy target: after each round
// the model's smoothed classifier is certified by CERTIFY (pkg/certify) on
// the first Samples evaluation samples, and the loop stops when the
// certified accuracy at L2 radius Radius is at least Accuracy. The other
// keys are CERTIFY's parameters; 0 (or absent) takes the default. The loop
// certifies every round, so its defaults are cheaper than advtest
// certify's: n 1000 (which certifies at most radius 0.62 at sigma 0.25 and
// alpha 0.001) and 100 samples.
type UntilCertified struct {
	// Radius is the L2 radius in input space.
	Radius float64 `json:"radius"`
	// Accuracy is the certified accuracy to reach at Radius.
	Accuracy float64 `json:"accuracy"`
	// Sigma is the noise's standard deviation (default 0.25).
	Sigma float64 `json:"sigma"`
	// N0 is the number of draws that select the top class (default 100).
	N0 int `json:"n0"`
	// N is the number of draws that bound its probability (default 1000).
	N int `json:"n"`
	// Alpha is each certificate's failure probability (default 0.001).
	Alpha float64 `json:"alpha"`
	// Batch is the number of noisy copies per forward pass (default 1000).
	Batch int `json:"batch"`
	// Samples is the number of evaluation samples certified (default
	// 100; fewer when the data has fewer).
	Samples int `json:"samples"`
}

// Defaults of UntilCertified's keys.
const (
	DefaultCertifiedSigma   = 0.25
	DefaultCertifiedN0      = 100
	DefaultCertifiedN       = 1000
	DefaultCertifiedAlpha   = 0.001
	DefaultCertifiedBatch   = 1000
	DefaultCertifiedSamples = 100
)

// WithDefaults returns u with every key left 0 set to its default.
func (u UntilCertified) WithDefaults() UntilCertified {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	defInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&u.Sigma, DefaultCertifiedSigma)
	def(&u.Alpha, DefaultCertifiedAlpha)
	defInt(&u.N0, DefaultCertifiedN0)
	defInt(&u.N, DefaultCertifiedN)
	defInt(&u.Batch, DefaultCertifiedBatch)
	defInt(&u.Samples, DefaultCertifiedSamples)
	return u
}

// Defence is one defence of the harden loop.
type Defence struct {
	// Name is the defence's registry name.
	Name string `json:"name"`
	// Params are its parameters, values as strings.
	Params map[string]string `json:"params"`
}

// Train names the training data that trainer defences use.
type Train struct {
	// Data is the training data file.
	Data string `json:"data"`
	// Labels is the training labels file; empty when they come with Data.
	Labels string `json:"labels"`
	// ValidationSplit is the fraction of the training data held out, in
	// [0, 1).
	ValidationSplit float64 `json:"validation_split"`
}

// Formats are the report formats an output may name, sorted;
// pkg/report/format registers exactly these (a test there says so).
var Formats = []string{"html", "json", "junit", "markdown", "table"}

// AllOutputs returns the main output followed by the extra ones.
func (p *Plan) AllOutputs() []Output {
	out := []Output{{Format: p.Output.Format, Path: p.Output.Path}}
	return append(out, p.Output.Extra...)
}

// IsStdout reports whether path means standard output.
func IsStdout(path string) bool { return path == "" || path == "-" || path == "stdout" }

// Map returns the plan as a JSON-compatible map under its config keys, for
// recording in a report.
func (p *Plan) Map() map[string]any {
	b, err := json.Marshal(p)
	if err != nil {
		// A Plan holds only strings, numbers, slices and maps of them; a
		// non-finite number is refused by Validate.
		return map[string]any{"error": err.Error()}
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return map[string]any{"error": err.Error()}
	}
	return m
}

// ReportGate returns the report gate these settings describe, comparing
// against baseline (the report loaded from g.Baseline by the caller; nil
// for none). Per-attack ceilings travel with each attack's result
// (report.AttackSpec.MaxSR, from Attack.MaxSR), not through this gate.
func (g Gate) ReportGate(baseline *report.Report) report.Gate {
	rg := report.Gate{MaxRegression: g.MaxRegression}
	if g.FailAbove != nil {
		v := *g.FailAbove
		rg.FailAbove = &v
	}
	rg.AllowMissing = g.AllowMissingAttacks
	if g.MinCleanAccuracy != nil {
		v := *g.MinCleanAccuracy
		rg.MinCleanAccuracy = &v
	}
	if g.MaxTargetedSR != nil {
		v := *g.MaxTargetedSR
		rg.MaxTargetedSR = &v
	}
	if baseline != nil {
		rg.Baseline = baseline
		rg.BaselineName = g.Baseline
	}
	return rg
}
