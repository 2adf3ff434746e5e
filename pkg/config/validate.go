package config

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/advtest/advtest/pkg/report"
)

// namePattern is the shape of attack and defence names.
var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// Well-known attack parameters whose form Validate checks; everything else
// is left to the attack registry.
var (
	nonNegativeParams = []string{"eps", "step_size", "overshoot", "decay", "confidence", "initial_const", "lr"}
	positiveIntParams = []string{"steps", "max_iter", "restarts", "binary_search_steps", "queries", "n_classes"}
	normValues        = []string{"linf", "l2", "l1", "l0"}
	layoutValues      = []string{"NCHW", "NHWC"}
)

// Validate checks the plan's structure and ranges and returns every
// problem found, joined, each naming its key and what was expected:
//
//   - model and data are required; limit >= 0; batch_size > 0;
//   - preprocessing: scale > 0, clip_min < clip_max, mean and std of the
//     same length, std > 0, layout NCHW or NHWC;
//   - attacks: at least one; each has a name (lower case letters, digits,
//     '-' and '_'); no two are the same attack (same name and params);
//     0 <= max_sr <= 1; the well-known params have the right form (eps,
//     step_size, overshoot, decay, confidence, initial_const, lr: numbers
//     >= 0; steps, max_iter, restarts, binary_search_steps, queries,
//     n_classes: integers > 0; norm: linf, l2, l1 or l0; targeted: true or
//     false);
//   - sweep: when sweep.attack is set, it names exactly one attack of the
//     pool and sweep.eps lists numbers > 0;
//   - gate: fail_above, min_clean_accuracy, max_targeted_sr and
//     max_regression in [0, 1];
//   - output: every format is registered in package report; at most one
//     output goes to standard output and no two to the same file;
//   - harden: 0 <= until_sr <= 1; max_rounds > 0; 0 <= max_clean_drop <= 1;
//     each defence has a name; until_certified: radius >= 0, 0 <= accuracy
//     <= 1, sigma >= 0, 0 <= alpha < 1, n0, n, batch and samples >= 0 (0
//     takes the default);
//   - train: 0 <= validation_split < 1.
//
// File existence is not checked here: the loaders report missing files.
func (p *Plan) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: %s: %s", key, fmt.Sprintf(format, args...)))
	}
	rate := func(key string, v float64) {
		if v < 0 || v > 1 || math.IsNaN(v) {
			bad(key, "want a number in [0, 1], got %v", v)
		}
	}
	if strings.TrimSpace(p.Model) == "" {
		bad("model", "want the path of an ONNX model, got nothing")
	}
	if strings.TrimSpace(p.Data) == "" {
		bad("data", "want the path of a data file, got nothing")
	}
	if p.Limit < 0 {
		bad("limit", "want an integer >= 0 (0 for all samples), got %d", p.Limit)
	}
	if p.BatchSize <= 0 {
		bad("batch_size", "want an integer > 0, got %d", p.BatchSize)
	}

	pp := p.Preprocessing
	if !(pp.Scale > 0) || math.IsInf(pp.Scale, 0) {
		bad("preprocessing.scale", "want a number > 0, got %v", pp.Scale)
	}
	if !(pp.ClipMin < pp.ClipMax) {
		bad("preprocessing.clip_min", "want less than clip_max (%v), got %v", pp.ClipMax, pp.ClipMin)
	}
	if len(pp.Mean) != len(pp.Std) {
		bad("preprocessing.std", "want as many values as preprocessing.mean (%d), got %d", len(pp.Mean), len(pp.Std))
	}
	for i, s := range pp.Std {
		if !(s > 0) {
			bad(fmt.Sprintf("preprocessing.std[%d]", i), "want a number > 0, got %v", s)
		}
	}
	if !contains(layoutValues, pp.Layout) {
		bad("preprocessing.layout", "want one of %s, got %q", strings.Join(layoutValues, ", "), pp.Layout)
	}

	if len(p.Attacks) == 0 {
		bad("attacks", "want at least one attack, got none")
	}
	seen := map[string]int{}
	names := map[string]int{}
	for i, a := range p.Attacks {
		k := fmt.Sprintf("attacks[%d]", i)
		if !namePattern.MatchString(a.Name) {
			bad(k+".name", "want an attack name such as fgsm or pgd (lower case), got %q", a.Name)
		}
		key := report.Key(a.Name, a.Params)
		if j, dup := seen[key]; dup {
			bad(k, "the same attack as attacks[%d] (%s); change a parameter or remove one", j, key)
		} else {
			seen[key] = i
		}
		names[a.Name]++
		if a.MaxSR != nil {
			rate(k+".max_sr", *a.MaxSR)
		}
		errs = append(errs, checkParams(k+".params", a.Params)...)
	}

	if p.Sweep.Attack != "" {
		switch n := names[p.Sweep.Attack]; {
		case n == 0:
			bad("sweep.attack", "want the name of an attack in attacks, got %q", p.Sweep.Attack)
		case n > 1:
			bad("sweep.attack", "%q names %d attacks in attacks; want exactly one", p.Sweep.Attack, n)
		}
		if len(p.Sweep.Eps) == 0 {
			bad("sweep.eps", "want a list of budgets > 0, got none")
		}
		for i, e := range p.Sweep.Eps {
			if !(e > 0) {
				bad(fmt.Sprintf("sweep.eps[%d]", i), "want a number > 0, got %v", e)
			}
		}
	} else if len(p.Sweep.Eps) > 0 {
		bad("sweep.attack", "want the name of the attack to sweep (sweep.eps is set), got nothing")
	}

	if p.Sanity.Samples < 0 {
		bad("sanity.samples", "want an integer >= 0 (0: all clean-correct samples), got %d", p.Sanity.Samples)
	}

	if p.Gate.FailAbove != nil {
		rate("gate.fail_above", *p.Gate.FailAbove)
	}
	if p.Gate.MinCleanAccuracy != nil {
		rate("gate.min_clean_accuracy", *p.Gate.MinCleanAccuracy)
	}
	if p.Gate.MaxTargetedSR != nil {
		rate("gate.max_targeted_sr", *p.Gate.MaxTargetedSR)
	}
	rate("gate.max_regression", p.Gate.MaxRegression)

	stdout := 0
	files := map[string]string{}
	for i, o := range p.AllOutputs() {
		k := "output"
		if i > 0 {
			k = fmt.Sprintf("output.extra[%d]", i-1)
		}
		if !slices.Contains(Formats, o.Format) {
			bad(k+".format", "want one of %s, got %q", strings.Join(Formats, ", "), o.Format)
		}
		switch {
		case IsStdout(o.Path):
			stdout++
			if stdout == 2 {
				bad(k+".path", "a second output to standard output; give it a file path")
			}
		case o.Path == "stderr":
		default:
			if j, dup := files[o.Path]; dup {
				bad(k+".path", "%q is also the path of %s", o.Path, j)
			} else {
				files[o.Path] = k
			}
		}
	}

	h := p.Harden
	if h.UntilSR != nil {
		rate("harden.until_sr", *h.UntilSR)
	}
	if h.MaxRounds <= 0 {
		bad("harden.max_rounds", "want an integer > 0, got %d", h.MaxRounds)
	}
	rate("harden.max_clean_drop", h.MaxCleanDrop)
	if u := h.UntilCertified; u != nil {
		const k = "harden.until_certified."
		if !(u.Radius >= 0) || math.IsInf(u.Radius, 0) {
			bad(k+"radius", "want an L2 radius >= 0, got %v", u.Radius)
		}
		rate(k+"accuracy", u.Accuracy)
		if !(u.Sigma >= 0) || math.IsInf(u.Sigma, 0) {
			bad(k+"sigma", "want a number > 0 (0 or absent: %v), got %v", DefaultCertifiedSigma, u.Sigma)
		}
		if !(u.Alpha >= 0 && u.Alpha < 1) {
			bad(k+"alpha", "want a number in (0, 1) (0 or absent: %v), got %v", DefaultCertifiedAlpha, u.Alpha)
		}
		for _, f := range []struct {
			key string
			v   int
		}{{"n0", u.N0}, {"n", u.N}, {"batch", u.Batch}, {"samples", u.Samples}} {
			if f.v < 0 {
				bad(k+f.key, "want an integer > 0 (0 or absent: the default), got %d", f.v)
			}
		}
	}
	for i, d := range h.Defences {
		if !namePattern.MatchString(d.Name) {
			bad(fmt.Sprintf("harden.defences[%d].name", i), "want a defence name (lower case), got %q", d.Name)
		}
	}

	if vs := p.Train.ValidationSplit; vs < 0 || vs >= 1 {
		bad("train.validation_split", "want a number in [0, 1), got %v", vs)
	}
	return errors.Join(errs...)
}

// checkParams checks the form of the well-known attack parameters.
func checkParams(prefix string, params map[string]string) []error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: %s.%s: %s", prefix, name, fmt.Sprintf(format, args...)))
	}
	for _, name := range sortedKeys(params) {
		v := strings.TrimSpace(params[name])
		switch {
		case contains(nonNegativeParams, name):
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				bad(name, "want a number, got %q", params[name])
			} else if f < 0 {
				bad(name, "want a number >= 0, got %v", f)
			}
		case contains(positiveIntParams, name):
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				bad(name, "want an integer > 0, got %q", params[name])
			}
		case name == "norm":
			if !contains(normValues, strings.ToLower(v)) {
				bad(name, "want one of %s, got %q", strings.Join(normValues, ", "), params[name])
			}
		case name == "targeted":
			if _, err := strconv.ParseBool(v); err != nil {
				bad(name, "want true or false, got %q", params[name])
			}
		}
	}
	return errs
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
