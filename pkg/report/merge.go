package report

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// MergeInfo says how exact a merged report is.
type MergeInfo struct {
	// ApproximateMedians lists the attacks (by key) whose perturbation or
	// query medians are approximate: more than one shard fooled samples,
	// and a median of the union cannot be computed from the shards'
	// medians. Their merged median is the mean of the shards' medians
	// weighted by n_fooled. Every count, rate and mean is exact.
	ApproximateMedians []string
}

// Merge combines the reports of the shards of one run (the same model,
// data, seed, attack pool and sweep, each over a disjoint part of the
// samples) into the report one run over all of their samples gives.
//
// Counts add up, and rates are recomputed from the summed counts, so that
// n, n_clean_correct, n_fooled, clean accuracy, success rates, robust
// accuracies (per attack, worst case and sweep rows) equal the unsharded
// run's exactly: the worst case is exact because shards hold disjoint
// samples, so a sample fooled by any attack is counted in one shard only.
// Perturbation and query means are the n_fooled-weighted means, exact up to
// rounding; medians are exact only when at most one shard fooled samples
// (see MergeInfo). Gradient evaluations and attack seconds add up; the
// run's Timing takes the earliest creation time and the longest shard
// (shards run side by side). Sanity checks are merged by ID (see
// mergeSanity): a check flagged in any shard is flagged, and its figures,
// success rates over disjoint samples, are the N-weighted means of the
// shards', which is exact.
//
// Merge refuses reports of different schema versions, models, data files,
// labels, seeds, attack pools (keys in order, norms, eps, ceilings),
// fail_above settings or sweeps, reports with a harden section (a harden
// loop trains the model and cannot be sharded), and shards whose sample
// counts add up to more than the data holds. The merged report's gate is
// re-evaluated with the shards' fail_above and per-attack ceilings; a
// baseline comparison must be re-applied by the caller (ApplyGate with the
// baseline loaded), since a report does not hold its baseline's figures.
// The config is the first shard's, without its "shard" key.
func Merge(shards []*Report) (*Report, MergeInfo, error) {
	var info MergeInfo
	if len(shards) == 0 {
		return nil, info, errors.New("report: merge: no reports")
	}
	for i, s := range shards {
		if s == nil {
			return nil, info, fmt.Errorf("report: merge: report %d is nil", i)
		}
	}
	first := shards[0]
	for i, s := range shards {
		if err := mergeCompatible(first, s); err != nil {
			return nil, info, fmt.Errorf("report: merge: report %d cannot be merged with report 0: %w", i, err)
		}
	}
	if err := checkShardKeys(shards); err != nil {
		return nil, info, err
	}

	m := New(first.ToolVersion)
	m.Seed = first.Seed
	for k, v := range first.Config {
		if k != "shard" {
			m.Config[k] = v
		}
	}
	m.Model, m.Data = first.Model, first.Data
	for _, s := range shards {
		m.N += s.N
		m.NCleanCorrect += s.NCleanCorrect
		m.WorstCase.NFooled += s.WorstCase.NFooled
	}
	if first.Data.N > 0 && m.N > first.Data.N {
		return nil, info, fmt.Errorf("report: merge: the reports evaluated %d samples together, more than the %d the data holds: a shard is given twice, or the shards overlap", m.N, first.Data.N)
	}
	m.CleanAccuracy = ratio(m.NCleanCorrect, m.N)
	mergeWorstCase(m, shards)

	for j, a := range first.Attacks {
		parts := make([]AttackResult, len(shards))
		for i, s := range shards {
			parts[i] = s.Attacks[j]
		}
		ma, approx := mergeAttack(parts)
		ma.Measured, ma.NPlanned = mergeMeasured(parts)
		if approx {
			info.ApproximateMedians = append(info.ApproximateMedians, Key(a.Name, a.Params))
		}
		m.Attacks = append(m.Attacks, ma)
	}

	for j, row := range first.Sweep {
		fooled := 0
		for _, s := range shards {
			fooled += s.Sweep[j].NFooled
		}
		m.Sweep = append(m.Sweep, SweepRow{Attack: row.Attack, Eps: row.Eps, NFooled: fooled,
			SuccessRate:    ratio(fooled, m.NCleanCorrect),
			RobustAccuracy: ratio(m.NCleanCorrect-fooled, m.N)})
	}

	m.Sanity = mergeSanity(shards)
	m.Detector = mergeDetector(shards)

	var why []string
	for i, s := range shards {
		if s.Incomplete {
			m.Incomplete = true
			why = append(why, fmt.Sprintf("shard report %d: %s", i, orDash(s.IncompleteReason)))
		}
		if s.Timing.Created != "" && (m.Timing.Created == "" || s.Timing.Created < m.Timing.Created) {
			m.Timing.Created = s.Timing.Created
		}
		m.Timing.Seconds = math.Max(m.Timing.Seconds, s.Timing.Seconds)
	}
	m.IncompleteReason = strings.Join(why, "; ")

	m.ApplyGate(Gate{FailAbove: copyFloat(first.WorstCase.Gate.FailAbove)})
	if first.Gate.Baseline != "" {
		m.Gate.Baseline = first.Gate.Baseline
		m.Gate.MaxRegression = first.Gate.MaxRegression
		m.Gate.Notes = append(m.Gate.Notes, fmt.Sprintf("the shards were compared with the baseline %s; the merged figures were not (re-apply it)", first.Gate.Baseline))
	}
	if len(info.ApproximateMedians) > 0 {
		m.Gate.Notes = append(m.Gate.Notes, fmt.Sprintf("merged from %d shards: perturbation and query medians of %s are approximate (n_fooled-weighted means of the shards' medians); counts, rates and means are exact",
			len(shards), strings.Join(info.ApproximateMedians, ", ")))
	}
	if err := m.Validate(); err != nil {
		return nil, info, fmt.Errorf("report: merge: %w", err)
	}
	return m, info, nil
}

// mergeWorstCase recomputes the worst case's rates from the summed
// counts. When a shard's worst case is partial (it stopped early), the
// merged one is partial over the samples the shards' covered, with the
// union of their attacks not measured.
func mergeWorstCase(m *Report, shards []*Report) {
	w := &m.WorstCase
	n, clean := m.N, m.NCleanCorrect
	partial, none := false, true
	seen := map[string]bool{}
	for _, s := range shards {
		if s.WorstCase.Measured != "" {
			partial = true
		}
		if s.WorstCase.Measured != MeasuredNone {
			none = false
		}
		for _, k := range s.WorstCase.NotMeasured {
			if !seen[k] {
				seen[k] = true
				w.NotMeasured = append(w.NotMeasured, k)
			}
		}
	}
	if partial {
		n, clean = 0, 0
		for _, s := range shards {
			sn, sc := s.WorstCaseCounts()
			n, clean = n+sn, clean+sc
		}
		w.Measured, w.N, w.NCleanCorrect = MeasuredPartial, n, clean
		if none {
			w.Measured = MeasuredNone
		}
	}
	w.SuccessRate = ratio(w.NFooled, clean)
	w.SRUndefined = clean == 0
	w.RobustAccuracy = ratio(clean-w.NFooled, n)
}

// mergeMeasured is how much of an attack the shards measured together:
// nothing marked when every shard ran it to the end; MeasuredNone when
// none measured anything; MeasuredPartial otherwise, with the samples the
// shards planned (each one's n_planned, or its n when it finished).
func mergeMeasured(parts []AttackResult) (string, int) {
	partial, none, planned := false, true, 0
	for _, p := range parts {
		if p.Measured != "" {
			partial = true
			planned += p.NPlanned
		} else {
			planned += p.N
		}
		if p.Measured != MeasuredNone {
			none = false
		}
	}
	switch {
	case !partial:
		return "", 0
	case none:
		return MeasuredNone, planned
	}
	return MeasuredPartial, planned
}

// mergeAttack sums one attack's shard results. When every shard carries
// its fooled samples' norms (FooledNorms), the medians are computed from
// them exactly; otherwise approx is true when more than one shard fooled
// samples, and the medians are n_fooled-weighted means of the shards'.
func mergeAttack(parts []AttackResult) (AttackResult, bool) {
	if m, ok := mergeAttackExact(parts); ok {
		return m, false
	}
	return mergeAttackApprox(parts)
}

// mergeAttackApprox sums counts and weights the shards' statistics.
func mergeAttackApprox(parts []AttackResult) (AttackResult, bool) {
	a := parts[0]
	m := AttackResult{Name: a.Name, Key: Key(a.Name, a.Params), Params: map[string]string{}, Norm: a.Norm, Eps: a.Eps, Targeted: a.Targeted,
		Gate: AttackGate{MaxSR: copyFloat(a.Gate.MaxSR), Passed: true, Reasons: []string{}}}
	for k, v := range a.Params {
		m.Params[k] = v
	}
	withFooled := 0
	var l0, l2, linf, q statsSum
	for _, p := range parts {
		m.N += p.N
		m.NCleanCorrect += p.NCleanCorrect
		m.NFooled += p.NFooled
		m.GradientEvals += p.GradientEvals
		m.Seconds += p.Seconds
		if p.TargetedSR != nil {
			if m.TargetedSR == nil {
				m.TargetedSR = &TargetedSR{}
			}
			m.TargetedSR.N += p.TargetedSR.N
			m.TargetedSR.NReached += p.TargetedSR.NReached
		}
		if p.NFooled == 0 {
			continue
		}
		withFooled++
		l0.add(p.Perturbation.L0, p.NFooled)
		l2.add(p.Perturbation.L2, p.NFooled)
		linf.add(p.Perturbation.Linf, p.NFooled)
		if p.Queries != nil {
			q.add(*p.Queries, p.NFooled)
		}
	}
	m.SuccessRate = ratio(m.NFooled, m.NCleanCorrect)
	if m.TargetedSR != nil {
		m.TargetedSR.SuccessRate = ratio(m.TargetedSR.NReached, m.TargetedSR.N)
	}
	m.SRUndefined = m.NCleanCorrect == 0
	m.RobustAccuracy = ratio(m.NCleanCorrect-m.NFooled, m.N)
	m.Perturbation = Perturbation{L0: l0.stats(), L2: l2.stats(), Linf: linf.stats()}
	if a.Queries != nil {
		s := q.stats()
		m.Queries = &s
	}
	return m, withFooled > 1
}

// statsSum accumulates n-weighted means and medians.
type statsSum struct {
	mean, median float64
	n, parts     int
	only         NormStats // the one part's stats, exact when parts == 1
}

func (s *statsSum) add(v NormStats, n int) {
	s.parts++
	s.only = v
	s.mean += v.Mean * float64(n)
	s.median += v.Median * float64(n)
	s.n += n
}

func (s *statsSum) stats() NormStats {
	if s.n == 0 {
		return NormStats{}
	}
	if s.parts == 1 {
		return s.only
	}
	return NormStats{Mean: s.mean / float64(s.n), Median: s.median / float64(s.n)}
}

// mergeCompatible says why b is not a shard of the same run as a.
func mergeCompatible(a, b *Report) error {
	switch {
	case a.SchemaVersion != b.SchemaVersion:
		return fmt.Errorf("schema_version %q, not %q", b.SchemaVersion, a.SchemaVersion)
	case a.Model.SHA256 != b.Model.SHA256:
		return fmt.Errorf("another model (sha256 %s, not %s)", shortHash(b.Model.SHA256), shortHash(a.Model.SHA256))
	case a.Data.SHA256 != b.Data.SHA256:
		return fmt.Errorf("other data (sha256 %s, not %s)", shortHash(b.Data.SHA256), shortHash(a.Data.SHA256))
	case a.Data.LabelsSHA256 != b.Data.LabelsSHA256:
		return fmt.Errorf("other labels (sha256 %s, not %s)", shortHash(b.Data.LabelsSHA256), shortHash(a.Data.LabelsSHA256))
	case a.Data.N != b.Data.N:
		return fmt.Errorf("data of %d samples, not %d", b.Data.N, a.Data.N)
	case a.Seed != b.Seed:
		return fmt.Errorf("seed %d, not %d", b.Seed, a.Seed)
	case a.Harden != nil || b.Harden != nil:
		return errors.New("a harden loop cannot be merged (each shard would have trained its own model)")
	case !sameFloatPtr(a.WorstCase.Gate.FailAbove, b.WorstCase.Gate.FailAbove):
		return errors.New("another fail_above")
	}
	ka, kb := poolKeys(a), poolKeys(b)
	if !slices.Equal(ka, kb) {
		return fmt.Errorf("another attack pool: [%s], not [%s]", strings.Join(kb, " "), strings.Join(ka, " "))
	}
	for i := range a.Attacks {
		x, y := a.Attacks[i], b.Attacks[i]
		if x.Norm != y.Norm || x.Eps != y.Eps || x.Targeted != y.Targeted || (x.Queries == nil) != (y.Queries == nil) {
			return fmt.Errorf("attack %s: norm, eps, targeted or query counting differ", ka[i])
		}
		if !sameFloatPtr(x.Gate.MaxSR, y.Gate.MaxSR) {
			return fmt.Errorf("attack %s: another max_sr", ka[i])
		}
	}
	if len(a.Sweep) != len(b.Sweep) {
		return fmt.Errorf("a sweep of %d points, not %d", len(b.Sweep), len(a.Sweep))
	}
	for i := range a.Sweep {
		if a.Sweep[i].Attack != b.Sweep[i].Attack || a.Sweep[i].Eps != b.Sweep[i].Eps {
			return fmt.Errorf("sweep point %d: %s at eps %v, not %s at eps %v", i, b.Sweep[i].Attack, b.Sweep[i].Eps, a.Sweep[i].Attack, a.Sweep[i].Eps)
		}
	}
	return nil
}

func poolKeys(r *Report) []string {
	out := make([]string, len(r.Attacks))
	for i, a := range r.Attacks {
		out[i] = Key(a.Name, a.Params)
	}
	return out
}

func sameFloatPtr(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// checkShardKeys checks the config's "shard" entries, "i/n" or {index,
// count}, when the reports have them: every shard of n exactly once.
func checkShardKeys(shards []*Report) error {
	var idx []int
	count := -1
	for i, s := range shards {
		v, ok := s.Config["shard"]
		if !ok {
			continue
		}
		var k, n int
		switch v := v.(type) {
		case string:
			if _, err := fmt.Sscanf(v, "%d/%d", &k, &n); err != nil {
				return fmt.Errorf("report: merge: report %d: config shard %q: want \"i/n\"", i, v)
			}
		case map[string]any:
			ki, _ := v["index"].(float64)
			ni, _ := v["count"].(float64)
			k, n = int(ki), int(ni)
		default:
			continue
		}
		if n < 1 || k < 0 || k >= n || (count >= 0 && n != count) {
			return fmt.Errorf("report: merge: report %d is shard %d of %d, which does not fit the others", i, k, n)
		}
		count = n
		if slices.Contains(idx, k) {
			return fmt.Errorf("report: merge: shard %d of %d is given twice", k, n)
		}
		idx = append(idx, k)
	}
	if count >= 0 && (len(idx) != len(shards) || len(idx) != count) {
		return fmt.Errorf("report: merge: %d of the %d shards given (every shard must be merged, once)", len(idx), count)
	}
	return nil
}

// mergeAttackExact merges shards that all carry FooledNorms.
func mergeAttackExact(parts []AttackResult) (AttackResult, bool) {
	all := &FooledNorms{L0: []float64{}, L2: []float64{}, Linf: []float64{}}
	for _, p := range parts {
		f := p.FooledNorms
		if f == nil || len(f.L2) != p.NFooled || len(f.L0) != p.NFooled || len(f.Linf) != p.NFooled {
			return AttackResult{}, false
		}
		all.L0 = append(all.L0, f.L0...)
		all.L2 = append(all.L2, f.L2...)
		all.Linf = append(all.Linf, f.Linf...)
		if parts[0].Queries != nil {
			if len(f.Queries) != p.NFooled {
				return AttackResult{}, false
			}
			all.Queries = append(all.Queries, f.Queries...)
		}
	}
	m, _ := mergeAttackApprox(parts) // counts and rates; the norms below
	m.Perturbation = Perturbation{L0: NewNormStats(all.L0), L2: NewNormStats(all.L2), Linf: NewNormStats(all.Linf)}
	if m.Queries != nil {
		q := NewNormStats(all.Queries)
		m.Queries = &q
	}
	// The merged report is the whole run's, not a shard's: like the
	// unsharded run's it carries no per-sample norms, so that both are
	// byte-identical (timing aside).
	return m, true
}

// mergeSanity merges the shards' sanity checks by ID, in the order of the
// first shard that has each (the first shard's order, then checks only
// later shards ran). A merged check is flagged when any shard flagged it,
// else passed when any shard passed it, else skipped. N is the sum of the
// shards' N, and each figure (matched by name) the N-weighted mean of the
// shards' values: figures are success rates over disjoint samples, so the
// mean is the rate over their union. When the shards that measured figures
// disagree on their names, the merged check keeps the first such shard's
// figures and N, and its explanation says so. Attack is the first shard's
// that names one; the explanation is that of the first shard whose status
// is the merged one (the first flagged shard's for a flagged check),
// followed by " (merged from K shards)" when K > 1 shards ran the check.
func mergeSanity(shards []*Report) []SanityCheck {
	var order []string
	byID := map[string][]SanityCheck{}
	for _, s := range shards {
		for _, c := range s.Sanity {
			if _, ok := byID[c.ID]; !ok {
				order = append(order, c.ID)
			}
			byID[c.ID] = append(byID[c.ID], c)
		}
	}
	var out []SanityCheck
	for _, id := range order {
		out = append(out, mergeSanityCheck(byID[id]))
	}
	return out
}

// mergeSanityCheck merges one check's shard results (see mergeSanity).
func mergeSanityCheck(parts []SanityCheck) SanityCheck {
	m := SanityCheck{ID: parts[0].ID, Status: SanitySkip, Figures: []SanityFigure{}}
	var measured []SanityCheck // the parts with figures
	for _, p := range parts {
		switch {
		case p.Status == SanityFlag:
			m.Status = SanityFlag
		case p.Status == SanityPass && m.Status == SanitySkip:
			m.Status = SanityPass
		}
		if m.Attack == "" {
			m.Attack = p.Attack
		}
		m.N += p.N
		if len(p.Figures) > 0 {
			measured = append(measured, p)
		}
	}
	m.Explanation = parts[0].Explanation
	if i := slices.IndexFunc(parts, func(p SanityCheck) bool { return p.Status == m.Status }); i >= 0 {
		m.Explanation = parts[i].Explanation
	}
	same := true
	for _, p := range measured[min(1, len(measured)):] {
		same = same && slices.EqualFunc(p.Figures, measured[0].Figures, func(a, b SanityFigure) bool { return a.Name == b.Name })
	}
	var note []string
	if len(parts) > 1 {
		note = append(note, fmt.Sprintf("merged from %d shards", len(parts)))
	}
	switch {
	case len(measured) == 0:
	case !same:
		m.Figures = append(m.Figures, measured[0].Figures...)
		note = append(note, fmt.Sprintf("the shards measured different figures: these are the first shard's only, n=%d of %d", measured[0].N, m.N))
		m.N = measured[0].N
	default:
		n := 0
		for _, p := range measured {
			n += p.N
		}
		for j, f := range measured[0].Figures {
			var sum float64
			for _, p := range measured {
				w := float64(p.N)
				if n == 0 {
					w = 1 // no counts: an unweighted mean
				}
				sum += w * p.Figures[j].Value
			}
			d := float64(n)
			if n == 0 {
				d = float64(len(measured))
			}
			m.Figures = append(m.Figures, SanityFigure{Name: f.Name, Value: sum / d})
		}
	}
	if len(note) > 0 {
		m.Explanation += " (" + strings.Join(note, "; ") + ")"
	}
	return m
}

// shortHash abbreviates a hex digest for people.
func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ratio is num/den, 0 when den is 0 (the rates of a merged report are
// recomputed from its summed counts).
func ratio(num, den int) float64 {
	if den == 0 {
		return 0
	}
	return float64(num) / float64(den)
}
