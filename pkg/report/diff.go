package report

import (
	"fmt"
)

// Diff compares two reports attack by attack: the success rate before and
// after, its change, and attacks added or removed. Its verdict is the one
// a run of New with Old as --baseline gets from the regression checks.
type Diff struct {
	// Old and New name the compared reports (usually their paths).
	Old string `json:"old"`
	New string `json:"new"`
	// MaxRegression is the allowed rise of a success rate.
	MaxRegression float64 `json:"max_regression"`
	// Attacks holds one row per attack of either report: New's attacks in
	// their order, then those only Old ran.
	Attacks []AttackDiff `json:"attacks"`
	// WorstCase compares the worst cases.
	WorstCase AttackDiff `json:"worst_case"`
	// Added and Removed list the keys of attacks only New, or only Old, ran.
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
	// Passed is false when a success rate rose by more than MaxRegression.
	Passed bool `json:"passed"`
	// Reasons lists each regression over the limit.
	Reasons []string `json:"reasons"`
	// Notes lists what fails nothing but is worth knowing (other data,
	// another sample count, an incomplete report, another pool, a sanity
	// check whose status changed).
	Notes []string `json:"notes"`
}

// AttackDiff is one attack's, or the worst case's, change.
type AttackDiff struct {
	// Key identifies the attack (Key of its name and params); "worst case"
	// for the worst case.
	Key string `json:"key"`
	// Label names the attack for people: its name when unique in its
	// report, else its key.
	Label string `json:"label"`
	// Status is "new", "removed", "regressed" (over the limit), "worse",
	// "better", "same", or "not compared" (an undefined success rate, or
	// worst cases over different pools).
	Status string `json:"status"`
	// OldSR and NewSR are the success rates; nil where the attack did not
	// run. OldFooled/OldClean and NewFooled/NewClean are their counts.
	OldSR     *float64 `json:"old_sr"`
	NewSR     *float64 `json:"new_sr"`
	OldFooled int      `json:"old_n_fooled"`
	OldClean  int      `json:"old_n_clean_correct"`
	NewFooled int      `json:"new_n_fooled"`
	NewClean  int      `json:"new_n_clean_correct"`
	// Delta is NewSR - OldSR; nil unless both are defined.
	Delta *float64 `json:"delta"`
	// OldRobust and NewRobust are the robust accuracies; nil where the
	// attack did not run.
	OldRobust *float64 `json:"old_robust_accuracy"`
	NewRobust *float64 `json:"new_robust_accuracy"`
}

// Compare diffs newR against oldR with the regression semantics of a
// baseline gate (see Check): attacks are matched by Key, an attack's
// success rate may rise by at most maxRegression, and the worst case is
// compared only when both reports ran the same pool. Ceilings (max_sr,
// fail_above) and flagged sanity checks are not part of a diff's verdict;
// an incomplete report is a note, and so is a sanity check whose status
// changed (see sanityNotes). Neither report is modified.
func Compare(oldR, newR *Report, oldName, newName string, maxRegression float64) *Diff {
	oldR, newR = oldR.Normalized(), newR.Normalized()
	// The regression verdict is Check's, on a copy without ceilings or
	// the completeness check.
	probe := *newR
	probe.Incomplete = false
	probe.Sanity = nil
	probe.Attacks = append([]AttackResult(nil), newR.Attacks...)
	for i := range probe.Attacks {
		probe.Attacks[i].Gate.MaxSR = nil
	}
	// A removed attack is a row of its own (status "removed"), not a
	// failure of the diff's verdict.
	v := Check(&probe, Gate{Baseline: oldR, BaselineName: oldName, MaxRegression: maxRegression, AllowMissing: true})

	d := &Diff{Old: oldName, New: newName, MaxRegression: maxRegression,
		Attacks: []AttackDiff{}, Added: []string{}, Removed: []string{},
		Passed: v.Passed, Reasons: v.Reasons, Notes: v.Notes}
	if oldR.Incomplete {
		d.Notes = append(d.Notes, oldName+" is an incomplete run")
	}
	if newR.Incomplete {
		d.Notes = append(d.Notes, newName+" is an incomplete run")
	}
	if oldR.Model.SHA256 != "" && newR.Model.SHA256 != "" && oldR.Model.SHA256 != newR.Model.SHA256 {
		d.Notes = append(d.Notes, "the models differ (model sha256)")
	}
	d.Notes = append(d.Notes, sanityNotes(oldR.Sanity, newR.Sanity, oldName, newName)...)

	oldByKey := map[string]int{}
	for i, a := range oldR.Attacks {
		if _, dup := oldByKey[Key(a.Name, a.Params)]; !dup {
			oldByKey[Key(a.Name, a.Params)] = i
		}
	}
	newLabels, oldLabels := AttackLabels(newR.Attacks), AttackLabels(oldR.Attacks)
	seen := map[string]bool{}
	for i, a := range newR.Attacks {
		key := Key(a.Name, a.Params)
		seen[key] = true
		ad := AttackDiff{Key: key, Label: newLabels[i]}
		setNew(&ad, a)
		j, ok := oldByKey[key]
		if !ok {
			ad.Status = "new"
			d.Added = append(d.Added, key)
		} else {
			setOld(&ad, oldR.Attacks[j])
			ad.Status = compareStatus(&ad, oldR.Attacks[j].SRUndefined || a.SRUndefined, !v.Attacks[i].Passed)
		}
		d.Attacks = append(d.Attacks, ad)
	}
	for i, a := range oldR.Attacks {
		key := Key(a.Name, a.Params)
		if seen[key] {
			continue
		}
		seen[key] = true
		ad := AttackDiff{Key: key, Label: oldLabels[i], Status: "removed"}
		setOld(&ad, a)
		d.Attacks = append(d.Attacks, ad)
		d.Removed = append(d.Removed, key)
	}

	ow, nw := oldR.WorstCase, newR.WorstCase
	wd := AttackDiff{Key: "worst case", Label: "worst case",
		OldSR: fp(ow.SuccessRate), NewSR: fp(nw.SuccessRate),
		OldFooled: ow.NFooled, OldClean: oldR.NCleanCorrect, NewFooled: nw.NFooled, NewClean: newR.NCleanCorrect,
		OldRobust: fp(ow.RobustAccuracy), NewRobust: fp(nw.RobustAccuracy)}
	if ow.SRUndefined {
		wd.OldSR = nil
	}
	if nw.SRUndefined {
		wd.NewSR = nil
	}
	samePool := v.WorstCase.BaselineSR != nil
	wd.Status = compareStatus(&wd, !samePool || ow.SRUndefined || nw.SRUndefined, !v.WorstCase.Passed)
	d.WorstCase = wd
	return d
}

// sanityNotes notes each sanity check (matched by ID) whose status differs
// between the reports, in newS's order, and each check flagged in newS
// that oldS lacks. A check that only one report ran and that is not newly
// flagged is not noted: a report of a run without sanity checks would
// otherwise note every check of the other.
func sanityNotes(oldS, newS []SanityCheck, oldName, newName string) []string {
	old := map[string]string{}
	for _, c := range oldS {
		if _, dup := old[c.ID]; !dup {
			old[c.ID] = c.Status
		}
	}
	var notes []string
	for _, c := range newS {
		was, ok := old[c.ID]
		switch {
		case ok && was != c.Status:
			notes = append(notes, fmt.Sprintf("sanity %s: %s in %s, %s in %s", c.ID, was, oldName, c.Status, newName))
		case !ok && c.Flagged():
			notes = append(notes, fmt.Sprintf("sanity %s: %s in %s, not run in %s", c.ID, c.Status, newName, oldName))
		}
	}
	return notes
}

func fp(v float64) *float64 { return &v }

func setNew(ad *AttackDiff, a AttackResult) {
	if !a.SRUndefined {
		ad.NewSR = fp(a.SuccessRate)
	}
	ad.NewFooled, ad.NewClean, ad.NewRobust = a.NFooled, a.NCleanCorrect, fp(a.RobustAccuracy)
}

func setOld(ad *AttackDiff, a AttackResult) {
	if !a.SRUndefined {
		ad.OldSR = fp(a.SuccessRate)
	}
	ad.OldFooled, ad.OldClean, ad.OldRobust = a.NFooled, a.NCleanCorrect, fp(a.RobustAccuracy)
}

// compareStatus sets ad.Delta and returns the row's status.
func compareStatus(ad *AttackDiff, notComparable, regressed bool) string {
	if ad.OldSR != nil && ad.NewSR != nil {
		ad.Delta = fp(*ad.NewSR - *ad.OldSR)
	}
	switch {
	case regressed:
		return "regressed"
	case notComparable || ad.Delta == nil:
		return "not compared"
	case *ad.Delta > tolerance:
		return "worse"
	case *ad.Delta < -tolerance:
		return "better"
	default:
		return "same"
	}
}
