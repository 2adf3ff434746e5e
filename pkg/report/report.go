package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
)

// SchemaVersion is the version of the JSON schema this package writes and
// the only one Load accepts. It changes when a field is removed, renamed or
// changes meaning; adding an optional field does not change it.
const SchemaVersion = "1"

// MaxFileSize bounds the size of a report that Load reads (64 MiB).
const MaxFileSize = 64 << 20

// Report is the result of one advtest run. Its JSON form is the schema
// described in docs/report-schema.md; the same file serves as the baseline
// of the next run.
type Report struct {
	// SchemaVersion is the report schema version, SchemaVersion when written
	// by this package.
	SchemaVersion string `json:"schema_version"`
	// ToolVersion is the advtest version that produced the report.
	ToolVersion string `json:"tool_version"`
	// Seed is the seed that drove all randomness of the run.
	Seed uint64 `json:"seed"`
	// Config is the resolved configuration (defaults, file, environment and
	// flags merged), as a JSON-compatible map.
	Config map[string]any `json:"config"`
	// Model identifies the model that was attacked.
	Model Model `json:"model"`
	// Data identifies the dataset the model was attacked on.
	Data Data `json:"data"`
	// N is the number of samples evaluated.
	N int `json:"n"`
	// NCleanCorrect is the number of samples the model classified correctly
	// before any attack.
	NCleanCorrect int `json:"n_clean_correct"`
	// CleanAccuracy is NCleanCorrect/N (0 when N is 0).
	CleanAccuracy float64 `json:"clean_accuracy"`
	// Attacks holds one result per attack of the pool, in config order.
	Attacks []AttackResult `json:"attacks"`
	// WorstCase summarises the pool: a sample counts as fooled if any attack
	// fooled it.
	WorstCase WorstCase `json:"worst_case"`
	// Sweep holds success rate against eps rows, when a sweep was run.
	Sweep []SweepRow `json:"sweep,omitempty"`
	// Harden holds the rounds of the harden loop, when it ran.
	Harden *Harden `json:"harden,omitempty"`
	// Sanity holds the gradient-masking sanity checks, when they ran; a
	// flagged check fails the gate.
	Sanity []SanityCheck `json:"sanity,omitempty"`
	// Detector holds the input detector's false-positive and detection
	// rates, when the model carries one (squeeze-detector).
	Detector *DetectorResult `json:"detector,omitempty"`
	// Certification holds the randomized-smoothing certificates, when
	// `advtest certify` ran (see certify.go).
	Certification *Certification `json:"certification,omitempty"`
	// Gate is the verdict of the gates over the whole run.
	Gate GateResult `json:"gate"`
	// Incomplete is true when the run stopped early (interrupted, out of
	// time) and the figures cover only part of the work.
	Incomplete bool `json:"incomplete"`
	// IncompleteReason says why the run is incomplete; empty otherwise.
	IncompleteReason string `json:"incomplete_reason,omitempty"`
	// Timing holds the wall-clock figures: the only part of the report that
	// differs between two runs with the same inputs and seed.
	Timing Timing `json:"timing"`
}

// Model identifies the attacked ONNX model.
type Model struct {
	// Path is the model file as given in the config.
	Path string `json:"path"`
	// SHA256 is the hex SHA-256 of the model file.
	SHA256 string `json:"sha256"`
	// Opset is the default-domain ONNX opset the model imports.
	Opset int64 `json:"opset"`
	// Producer is the producer name and version recorded in the model.
	Producer string `json:"producer"`
	// EndsWithSoftmax is true when the graph's output is a Softmax; attacks
	// then work on the logits feeding it.
	EndsWithSoftmax bool `json:"ends_with_softmax"`
}

// Data identifies the evaluated dataset.
type Data struct {
	// Path is the data file as given in the config.
	Path string `json:"path"`
	// LabelsPath is the labels file, empty when labels come with the data.
	LabelsPath string `json:"labels_path,omitempty"`
	// SHA256 is the hex SHA-256 of the data file.
	SHA256 string `json:"sha256"`
	// LabelsSHA256 is the hex SHA-256 of the labels file, empty when there
	// is none.
	LabelsSHA256 string `json:"labels_sha256,omitempty"`
	// N is the number of samples of the run (after any limit); for one shard
	// of a sharded run, the whole run's.
	N int `json:"n"`
}

// NormStats is the mean and median of a perturbation norm, or of a query
// count, over the samples an attack fooled.
type NormStats struct {
	// Mean is the arithmetic mean (0 when there are no values).
	Mean float64 `json:"mean"`
	// Median is the middle value, the mean of the two middle values for an
	// even count (0 when there are no values).
	Median float64 `json:"median"`
}

// NewNormStats returns the mean and median of values (both 0 for no values). It
// does not modify values.
func NewNormStats(values []float64) NormStats {
	if len(values) == 0 {
		return NormStats{}
	}
	s := append([]float64(nil), values...)
	sort.Float64s(s)
	var sum float64
	for _, v := range s {
		sum += v
	}
	m := len(s) / 2
	med := s[m]
	if len(s)%2 == 0 {
		med = (s[m-1] + s[m]) / 2
	}
	return NormStats{Mean: sum / float64(len(s)), Median: med}
}

// Perturbation holds the size of the successful perturbations x_adv - x,
// measured in input space.
type Perturbation struct {
	// L0 counts the changed input elements.
	L0 NormStats `json:"l0"`
	// L2 is the Euclidean norm.
	L2 NormStats `json:"l2"`
	// Linf is the largest absolute change.
	Linf NormStats `json:"linf"`
}

// AttackResult is the outcome of one attack of the pool.
type AttackResult struct {
	// Name is the attack's registry name (fgsm, pgd, ...).
	Name string `json:"name"`
	// Key identifies the attack across runs: Name and its canonical params
	// (see Key). Baseline comparison matches attacks by Key.
	Key string `json:"key"`
	// Params are the attack's resolved parameters, values as strings.
	Params map[string]string `json:"params"`
	// Norm is the threat model's norm: linf, l2, l1 or l0; empty for
	// attacks that minimise the perturbation without a fixed budget.
	Norm string `json:"norm,omitempty"`
	// Eps is the perturbation budget in input space; 0 when unbounded.
	Eps float64 `json:"eps"`
	// Targeted is true for targeted attacks.
	Targeted bool `json:"targeted"`
	// SuccessRate is NFooled/NCleanCorrect (0 when NCleanCorrect is 0, and
	// then SRUndefined is true).
	SuccessRate float64 `json:"success_rate"`
	// SRUndefined is true when no sample was clean-correct, so that the
	// success rate is not defined and reads as 0.
	SRUndefined bool `json:"sr_undefined"`
	// RobustAccuracy is the fraction of the N samples still classified
	// correctly after the attack.
	RobustAccuracy float64 `json:"robust_accuracy"`
	// N is the number of samples evaluated.
	N int `json:"n"`
	// NCleanCorrect is the number of clean-correct samples, those attacked.
	NCleanCorrect int `json:"n_clean_correct"`
	// NFooled is the number of clean-correct samples the attack fooled.
	NFooled int `json:"n_fooled"`
	// Perturbation is the size of the successful perturbations.
	Perturbation Perturbation `json:"perturbation"`
	// GradientEvals is the number of per-sample input-gradient evaluations
	// the attack used.
	GradientEvals int64 `json:"gradient_evals"`
	// Queries is the number of model queries to success, for black-box
	// attacks; nil for attacks that do not count queries.
	Queries *NormStats `json:"queries,omitempty"`
	// TargetedSR is, for a targeted attack, the fraction of the attacked
	// samples classified as their target (SuccessRate then counts any
	// misclassification); nil for an untargeted attack.
	TargetedSR *TargetedSR `json:"targeted_sr,omitempty"`
	// FooledNorms holds the norms (and queries) of every fooled sample,
	// in sample order, when the run was one shard of a larger one
	// (--shard): merging shards then computes exact medians. Optional.
	FooledNorms *FooledNorms `json:"fooled_norms,omitempty"`
	// Seconds is the wall-clock time the attack took; a timing figure,
	// zeroed by Report.ZeroTimings.
	Seconds float64 `json:"-"`
	// Measured says how much of the attack ran: empty (absent from the
	// JSON) when it ran to the end; MeasuredPartial when the run stopped
	// while it ran, its figures then over the N samples its finished
	// batches covered (the first N of the data) of NPlanned; MeasuredNone
	// when the run stopped before it finished a batch, its figures then
	// zero and meaningless (every format shows "not measured").
	Measured string `json:"measured,omitempty"`
	// NPlanned is, for a partial or unmeasured attack, the number of
	// samples it would have covered had the run not stopped; 0 otherwise.
	NPlanned int `json:"n_planned,omitempty"`
	// Gate is this attack's verdict.
	Gate AttackGate `json:"gate"`
}

// The values of AttackResult.Measured and WorstCase.Measured besides the
// empty one (measured to the end).
const (
	// MeasuredPartial: the run stopped part-way; the figures are over the
	// samples finished.
	MeasuredPartial = "partial"
	// MeasuredNone: the run stopped before anything was measured.
	MeasuredNone = "none"
)

// Partial reports whether the attack's figures cover only part of its
// samples (the run stopped while it ran).
func (a AttackResult) Partial() bool { return a.Measured == MeasuredPartial }

// NotMeasured reports whether the attack did not run at all (the run
// stopped before it finished a batch): its figures mean nothing.
func (a AttackResult) NotMeasured() bool { return a.Measured == MeasuredNone }

// NotMeasuredPhrase says how many attacks were not measured ("1 attack
// not measured", "3 attacks not measured"); "" when k is 0. The formats
// and the incomplete reason use the same words.
func NotMeasuredPhrase(k int) string {
	switch k {
	case 0:
		return ""
	case 1:
		return "1 attack not measured"
	}
	return fmt.Sprintf("%d attacks not measured", k)
}

// HasTargeted reports whether any attack of as is targeted (carries a
// TargetedSR): the formats then show a targeted SR column.
func HasTargeted(as []AttackResult) bool {
	for _, a := range as {
		if a.TargetedSR != nil {
			return true
		}
	}
	return false
}

// TargetedSR is a targeted attack's success in reaching the target.
type TargetedSR struct {
	// SuccessRate is NReached/N (0 when N is 0).
	SuccessRate float64 `json:"success_rate"`
	// N is the number of samples attacked towards a target: the
	// clean-correct ones whose label is not their target.
	N int `json:"n"`
	// NReached is the number of those classified as their target.
	NReached int `json:"n_reached"`
}

// FooledNorms lists per-sample figures of the fooled samples, in sample
// order: the data a merge of shard reports needs for exact medians.
type FooledNorms struct {
	// L0, L2 and Linf are the perturbation norms.
	L0   []float64 `json:"l0"`
	L2   []float64 `json:"l2"`
	Linf []float64 `json:"linf"`
	// Queries are the queries spent, for attacks that count them.
	Queries []float64 `json:"queries,omitempty"`
}

// AttackGate is the verdict of the per-attack gates.
type AttackGate struct {
	// MaxSR is the attack's success rate ceiling; nil when it has none.
	MaxSR *float64 `json:"max_sr"`
	// BaselineSR is the success rate of the same attack in the baseline;
	// nil without a baseline or when the baseline lacks the attack.
	BaselineSR *float64 `json:"baseline_sr,omitempty"`
	// MaxTargetedSR is the targeted success rate ceiling
	// (gate.max_targeted_sr), recorded on targeted attacks only; nil when
	// unset.
	MaxTargetedSR *float64 `json:"max_targeted_sr,omitempty"`
	// BaselineTargetedSR is the targeted success rate of the same attack
	// in the baseline, when both are targeted; nil otherwise.
	BaselineTargetedSR *float64 `json:"baseline_targeted_sr,omitempty"`
	// New is true when a baseline was given and does not hold this attack.
	New bool `json:"new,omitempty"`
	// Passed is false when the attack exceeded MaxSR or regressed against
	// the baseline by more than the allowed margin.
	Passed bool `json:"passed"`
	// Reasons says why the attack failed its gates; empty when it passed.
	Reasons []string `json:"reasons"`
}

// WorstCase summarises the pool: a sample counts as fooled if any attack
// fooled it.
type WorstCase struct {
	// SuccessRate is NFooled over the clean-correct samples.
	SuccessRate float64 `json:"success_rate"`
	// SRUndefined is true when no sample was clean-correct.
	SRUndefined bool `json:"sr_undefined"`
	// RobustAccuracy is the fraction of all samples that no attack fooled
	// and that were clean-correct.
	RobustAccuracy float64 `json:"robust_accuracy"`
	// NFooled is the number of clean-correct samples fooled by at least one
	// attack.
	NFooled int `json:"n_fooled"`
	// Measured is empty when every bounded attack ran to the end;
	// MeasuredPartial when the run stopped early, the worst case then over
	// the N samples (NCleanCorrect of them clean-correct) that every
	// bounded attack that ran covered, and over those attacks only
	// (NotMeasured lists the others); MeasuredNone when no bounded attack
	// finished a batch.
	Measured string `json:"measured,omitempty"`
	// N and NCleanCorrect are, for a partial worst case, the samples it
	// covers and the clean-correct ones among them (its rates'
	// denominators); 0 otherwise, the report's N and NCleanCorrect then.
	N             int `json:"n,omitempty"`
	NCleanCorrect int `json:"n_clean_correct,omitempty"`
	// NotMeasured lists the keys of the bounded attacks that did not run
	// at all in a run that stopped early.
	NotMeasured []string `json:"not_measured,omitempty"`
	// Gate is the verdict of the pool-wide gates (fail_above, worst-case
	// regression, completeness).
	Gate WorstCaseGate `json:"gate"`
}

// WorstCaseGate is the verdict of the pool-wide gates.
type WorstCaseGate struct {
	// FailAbove is the worst-case success rate ceiling; nil when unset.
	FailAbove *float64 `json:"fail_above"`
	// BaselineSR is the baseline's worst-case success rate, set only when
	// the baseline ran the same pool (the same attack keys).
	BaselineSR *float64 `json:"baseline_sr,omitempty"`
	// Passed is false when a pool-wide gate failed.
	Passed bool `json:"passed"`
	// Reasons says why; empty when it passed.
	Reasons []string `json:"reasons"`
}

// SweepRow is one point of a success rate against eps sweep.
type SweepRow struct {
	// Attack is the swept attack's key.
	Attack string `json:"attack"`
	// Eps is the budget of this point.
	Eps float64 `json:"eps"`
	// SuccessRate is the attack's success rate at Eps.
	SuccessRate float64 `json:"success_rate"`
	// RobustAccuracy is the robust accuracy at Eps.
	RobustAccuracy float64 `json:"robust_accuracy"`
	// NFooled is the number of fooled clean-correct samples at Eps.
	NFooled int `json:"n_fooled"`
}

// Harden records the attack, defend, measure loop.
type Harden struct {
	// UntilSR is the worst-case success rate target of the loop.
	UntilSR float64 `json:"until_sr"`
	// UntilCertified is the certified-accuracy target (harden's
	// until_certified); nil without one. UntilSR is then 1 unless an SR
	// target was set too.
	UntilCertified *CertifiedTarget `json:"until_certified,omitempty"`
	// Reached is true when the last accepted round met UntilSR and
	// UntilCertified.
	Reached bool `json:"reached"`
	// Rounds are the rounds in the order they ran; round 0 is the model as
	// given.
	Rounds []HardenRound `json:"rounds"`
}

// CertifiedTarget is harden's certified-accuracy target: the smoothed
// classifier certified correct at L2 radius Radius on at least the
// fraction Accuracy of the certified samples, by CERTIFY with the noise
// level Sigma and N draws per sample on the first Samples evaluation
// samples.
type CertifiedTarget struct {
	Radius   float64 `json:"radius"`
	Accuracy float64 `json:"accuracy"`
	Sigma    float64 `json:"sigma"`
	N0       int     `json:"n0"`
	N        int     `json:"n"`
	Alpha    float64 `json:"alpha"`
	Samples  int     `json:"samples"`
}

// HardenRound is one round of the harden loop.
type HardenRound struct {
	// Round numbers the rounds from 0 (no defence).
	Round int `json:"round"`
	// Defence is the defence applied in this round; empty for round 0.
	Defence string `json:"defence"`
	// Params are the defence's parameters, values as strings.
	Params map[string]string `json:"params,omitempty"`
	// CleanAccuracy is the clean accuracy after the defence.
	CleanAccuracy float64 `json:"clean_accuracy"`
	// ValAccuracy is the accuracy on the held-out validation split of the
	// training data; nil without one.
	ValAccuracy *float64 `json:"val_accuracy,omitempty"`
	// WorstCaseSR is the pool's worst-case success rate after the defence.
	WorstCaseSR float64 `json:"worst_case_sr"`
	// CertifiedAccuracy is the certified accuracy at UntilCertified's
	// radius after the defence; nil without a certified target.
	CertifiedAccuracy *float64 `json:"certified_accuracy,omitempty"`
	// AttackSR maps each attack key to its success rate after the defence.
	AttackSR map[string]float64 `json:"attack_sr"`
	// Seconds is the wall-clock time of the round; a timing figure.
	Seconds float64 `json:"-"`
	// Accepted is true when the round's model was kept (it lowered the
	// success rate without losing more clean accuracy than allowed).
	Accepted bool `json:"accepted"`
	// Reason says why the round was rejected; empty when accepted.
	Reason string `json:"reason,omitempty"`
}

// The statuses of a sanity check.
const (
	// SanityPass: the check found nothing suspicious.
	SanityPass = "pass"
	// SanityFlag: the figures look like gradient masking; fails the gate.
	SanityFlag = "flag"
	// SanitySkip: the check could not run (the pool or the target lacks
	// what it needs).
	SanitySkip = "skip"
)

// SanityCheck is one gradient-masking sanity check of Carlini et al.,
// "On Evaluating Adversarial Robustness" (2019, §5).
type SanityCheck struct {
	// ID names the check: eps-growth, unbounded, blackbox-vs-whitebox or
	// more-steps.
	ID string `json:"id"`
	// Status is pass, flag or skip.
	Status string `json:"status"`
	// Attack is the key of the attack the check reran or read; empty when
	// skipped.
	Attack string `json:"attack,omitempty"`
	// N is the number of clean-correct samples the figures are over.
	N int `json:"n"`
	// Figures are the measured figures in the order they were taken, each
	// a success rate in [0, 1] named after what it measured
	// ("sr@eps=0.6").
	Figures []SanityFigure `json:"figures"`
	// Explanation says in one sentence what the figures mean.
	Explanation string `json:"explanation"`
}

// SanityFigure is one measured figure of a sanity check.
type SanityFigure struct {
	// Name says what was measured, e.g. "sr@eps=0.6".
	Name string `json:"name"`
	// Value is the figure.
	Value float64 `json:"value"`
}

// Flagged reports whether the check suspects gradient masking.
func (c SanityCheck) Flagged() bool { return c.Status == SanityFlag }

// String formats the check as one line: "ID: status — explanation
// (figures; n=N)".
func (c SanityCheck) String() string {
	var figs []string
	for _, f := range c.Figures {
		figs = append(figs, f.Name+"="+strconv.FormatFloat(f.Value, 'g', 4, 64))
	}
	s := fmt.Sprintf("%s: %s — %s", c.ID, c.Status, c.Explanation)
	if len(figs) > 0 {
		s += " (" + strings.Join(figs, ", ")
		if c.N > 0 {
			s += fmt.Sprintf("; n=%d", c.N)
		}
		s += ")"
	}
	return s
}

// GateResult is the verdict over the whole run.
type GateResult struct {
	// Passed is true when no gate failed; the process exits 0 exactly then.
	Passed bool `json:"passed"`
	// Reasons lists every failed gate, one sentence each.
	Reasons []string `json:"reasons"`
	// Notes lists facts worth knowing that fail nothing, such as attacks
	// new since the baseline.
	Notes []string `json:"notes"`
	// Baseline names the baseline report compared against; empty if none.
	Baseline string `json:"baseline,omitempty"`
	// MaxRegression is the allowed rise of a success rate over the
	// baseline; meaningful only with a baseline.
	MaxRegression float64 `json:"max_regression"`
}

// Timing holds the run's wall-clock figures.
type Timing struct {
	// Created is when the run started, RFC 3339 in UTC.
	Created string `json:"created,omitempty"`
	// Seconds is the run's total wall-clock time.
	Seconds float64 `json:"seconds"`
	// AttackSeconds holds each attack's wall-clock time, parallel to
	// Report.Attacks (the JSON form of AttackResult.Seconds).
	AttackSeconds []float64 `json:"attack_seconds,omitempty"`
	// RoundSeconds holds each harden round's wall-clock time, parallel to
	// Report.Harden.Rounds (the JSON form of HardenRound.Seconds).
	RoundSeconds []float64 `json:"round_seconds,omitempty"`
}

// New returns an empty report of the current schema version whose gates
// pass until something fails them.
func New(toolVersion string) *Report {
	return &Report{
		SchemaVersion: SchemaVersion,
		ToolVersion:   toolVersion,
		Config:        map[string]any{},
		Attacks:       []AttackResult{},
		WorstCase:     WorstCase{Gate: WorstCaseGate{Passed: true, Reasons: []string{}}},
		Gate:          GateResult{Passed: true, Reasons: []string{}, Notes: []string{}},
	}
}

// ZeroTimings clears every wall-clock figure (Timing, each attack's
// Seconds, each harden round's Seconds), so that two runs with the same
// inputs and seed give byte-identical reports.
func (r *Report) ZeroTimings() {
	r.Timing = Timing{}
	for i := range r.Attacks {
		r.Attacks[i].Seconds = 0
	}
	if r.Harden != nil {
		for i := range r.Harden.Rounds {
			r.Harden.Rounds[i].Seconds = 0
		}
	}
}

// timingsToSection copies every wall-clock figure into the Timing section,
// which is where the JSON form keeps them all: two runs with the same
// inputs and seed differ only there.
func (r *Report) timingsToSection() {
	r.Timing.AttackSeconds = nil
	for _, a := range r.Attacks {
		r.Timing.AttackSeconds = append(r.Timing.AttackSeconds, a.Seconds)
	}
	r.Timing.RoundSeconds = nil
	if r.Harden != nil {
		for _, rd := range r.Harden.Rounds {
			r.Timing.RoundSeconds = append(r.Timing.RoundSeconds, rd.Seconds)
		}
	}
}

// timingsFromSection is timingsToSection's inverse, for a report read from
// JSON. Arrays of the wrong length are ignored.
func (r *Report) timingsFromSection() {
	if len(r.Timing.AttackSeconds) == len(r.Attacks) {
		for i, s := range r.Timing.AttackSeconds {
			r.Attacks[i].Seconds = s
		}
	}
	if r.Harden != nil && len(r.Timing.RoundSeconds) == len(r.Harden.Rounds) {
		for i, s := range r.Timing.RoundSeconds {
			r.Harden.Rounds[i].Seconds = s
		}
	}
}

// normalize replaces nil slices and maps with empty ones so that the JSON
// form always has arrays and objects where the schema says so.
func (r *Report) normalize() {
	if r.Config == nil {
		r.Config = map[string]any{}
	}
	if r.Attacks == nil {
		r.Attacks = []AttackResult{}
	}
	for i := range r.Attacks {
		a := &r.Attacks[i]
		if a.Params == nil {
			a.Params = map[string]string{}
		}
		if a.Gate.Reasons == nil {
			a.Gate.Reasons = []string{}
		}
	}
	if r.WorstCase.Gate.Reasons == nil {
		r.WorstCase.Gate.Reasons = []string{}
	}
	if r.Gate.Reasons == nil {
		r.Gate.Reasons = []string{}
	}
	if r.Gate.Notes == nil {
		r.Gate.Notes = []string{}
	}
	if r.Harden != nil {
		if r.Harden.Rounds == nil {
			r.Harden.Rounds = []HardenRound{}
		}
		for i := range r.Harden.Rounds {
			if r.Harden.Rounds[i].AttackSR == nil {
				r.Harden.Rounds[i].AttackSR = map[string]float64{}
			}
		}
	}
	for i := range r.Sanity {
		if r.Sanity[i].Figures == nil {
			r.Sanity[i].Figures = []SanityFigure{}
		}
	}
}

// Validate checks the report's invariants: the schema version, counts that
// are not negative and nest (fooled <= clean-correct <= n), and rates that
// are finite and within [0, 1]. It returns the first violation found.
func (r *Report) Validate() error {
	if r.SchemaVersion != SchemaVersion {
		return fmt.Errorf("report: schema_version %q is not supported (this advtest reads %q)", r.SchemaVersion, SchemaVersion)
	}
	if err := counts("", r.N, r.NCleanCorrect, 0); err != nil {
		return err
	}
	if err := rate("clean_accuracy", r.CleanAccuracy); err != nil {
		return err
	}
	if err := counts("worst_case.", r.N, r.NCleanCorrect, r.WorstCase.NFooled); err != nil {
		return err
	}
	if err := measured("worst_case.", r.WorstCase.Measured); err != nil {
		return err
	}
	if n, clean := r.WorstCaseCounts(); n > r.N || clean > r.NCleanCorrect {
		return fmt.Errorf("report: worst_case.n (%d) and n_clean_correct (%d) must not exceed the report's (%d, %d)", n, clean, r.N, r.NCleanCorrect)
	} else if err := counts("worst_case.", n, clean, r.WorstCase.NFooled); err != nil {
		return err
	}
	if err := rate("worst_case.success_rate", r.WorstCase.SuccessRate); err != nil {
		return err
	}
	if err := rate("worst_case.robust_accuracy", r.WorstCase.RobustAccuracy); err != nil {
		return err
	}
	for i, a := range r.Attacks {
		p := fmt.Sprintf("attacks[%d].", i)
		if a.Name == "" {
			return fmt.Errorf("report: %sname is empty", p)
		}
		if err := counts(p, a.N, a.NCleanCorrect, a.NFooled); err != nil {
			return err
		}
		if err := rate(p+"success_rate", a.SuccessRate); err != nil {
			return err
		}
		if err := rate(p+"robust_accuracy", a.RobustAccuracy); err != nil {
			return err
		}
		if math.IsNaN(a.Eps) || math.IsInf(a.Eps, 0) || a.Eps < 0 {
			return fmt.Errorf("report: %seps: want a finite number >= 0, got %v", p, a.Eps)
		}
		if err := measured(p, a.Measured); err != nil {
			return err
		}
		if a.Measured != "" && a.NPlanned < a.N {
			return fmt.Errorf("report: %sn_planned (%d) is below n (%d): want the samples the attack would have covered", p, a.NPlanned, a.N)
		}
	}
	for i, s := range r.Sweep {
		if err := rate(fmt.Sprintf("sweep[%d].success_rate", i), s.SuccessRate); err != nil {
			return err
		}
	}
	return nil
}

func counts(prefix string, n, clean, fooled int) error {
	if n < 0 || clean < 0 || fooled < 0 {
		return fmt.Errorf("report: %sn, n_clean_correct and n_fooled must not be negative", prefix)
	}
	if clean > n || fooled > clean {
		return fmt.Errorf("report: %scounts do not nest: want n_fooled (%d) <= n_clean_correct (%d) <= n (%d)", prefix, fooled, clean, n)
	}
	return nil
}

func measured(prefix, m string) error {
	switch m {
	case "", MeasuredPartial, MeasuredNone:
		return nil
	}
	return fmt.Errorf("report: %smeasured: want %q, %q or nothing, got %q", prefix, MeasuredPartial, MeasuredNone, m)
}

// WorstCaseCounts returns the samples and the clean-correct samples the
// worst case's rates are over: its own N and NCleanCorrect when it is
// partial (or not measured), the report's otherwise.
func (r *Report) WorstCaseCounts() (n, nCleanCorrect int) {
	if r.WorstCase.Measured != "" {
		return r.WorstCase.N, r.WorstCase.NCleanCorrect
	}
	return r.N, r.NCleanCorrect
}

func rate(key string, v float64) error {
	if math.IsNaN(v) || v < 0 || v > 1 {
		return fmt.Errorf("report: %s: want a rate in [0, 1], got %v", key, v)
	}
	return nil
}

// Load reads a report written by this package (the JSON format). It refuses
// files larger than MaxFileSize, reports of another schema version, and
// reports that fail Validate, with an error that names the file.
func Load(path string) (*Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	defer f.Close()
	r, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// Read decodes a JSON report from rd, with the checks of Load. Fields this
// version does not know are ignored, so that a report written by a newer
// advtest of the same schema version still reads.
func Read(rd io.Reader) (*Report, error) {
	data, err := io.ReadAll(io.LimitReader(rd, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("report: reading: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("report: larger than %d MiB, refused", MaxFileSize>>20)
	}
	var head struct {
		SchemaVersion *string `json:"schema_version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("report: not a JSON report: %w", err)
	}
	if head.SchemaVersion == nil {
		return nil, errors.New("report: no schema_version: not an advtest report")
	}
	if *head.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("report: schema_version %q is not supported (this advtest reads %q)", *head.SchemaVersion, SchemaVersion)
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("report: decoding: %w", err)
	}
	r.timingsFromSection()
	if err := r.Validate(); err != nil {
		return nil, err
	}
	r.normalize()
	return &r, nil
}

// Normalized returns a copy of r whose nil slices and maps are empty ones,
// leaving r itself untouched.
func (r *Report) Normalized() *Report {
	c := *r
	c.Attacks = append([]AttackResult(nil), r.Attacks...)
	if r.Harden != nil {
		h := *r.Harden
		h.Rounds = append([]HardenRound(nil), r.Harden.Rounds...)
		c.Harden = &h
	}
	if r.Sanity != nil {
		c.Sanity = append([]SanityCheck(nil), r.Sanity...)
	}
	c.normalize()
	return &c
}
