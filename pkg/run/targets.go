package run

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/advtest/advtest/pkg/config"
)

// dataTargetColumn returns the column of the evaluation data that a
// targeted attack's target=label:<column> names, and true, when the value
// is not a file but the data is a CSV table (.csv, .tsv or .txt, optionally
// gzipped): the per-sample targets then come from that column of the data
// file itself, which is therefore not a feature.
func dataTargetColumn(ca config.Attack, plan *config.Plan) (string, bool) {
	v, ok := ca.Params["target"]
	if !ok {
		return "", false
	}
	mode, arg, _ := strings.Cut(strings.TrimSpace(v), ":")
	arg = strings.TrimSpace(arg)
	if !strings.EqualFold(mode, "label") || arg == "" || strings.Contains(arg, ":") {
		return "", false
	}
	if _, err := os.Stat(arg); err == nil {
		return "", false
	}
	ext := strings.ToLower(filepath.Ext(strings.TrimSuffix(strings.ToLower(plan.Data), ".gz")))
	if ext != ".csv" && ext != ".tsv" && ext != ".txt" {
		return "", false
	}
	return arg, true
}

// dataTargetColumns lists the evaluation data's columns that hold attack
// targets (dataTargetColumn), for dataset.Options.SkipColumns.
func dataTargetColumns(plan *config.Plan) []string {
	var cols []string
	for _, ca := range plan.Attacks {
		if c, ok := dataTargetColumn(ca, plan); ok {
			cols = append(cols, c)
		}
	}
	return cols
}

// withDataTargets rewrites target=label:<column> of the evaluation data
// into label:<data file>:<column>, the form pkg/attack reads.
func withDataTargets(params map[string]string, ca config.Attack, plan *config.Plan) {
	if c, ok := dataTargetColumn(ca, plan); ok {
		params["target"] = "label:" + plan.Data + ":" + c
	}
}
