package run

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/config"
	"github.com/advtest/advtest/pkg/eval"
	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/report"
)

// newReport records a pool's figures (res) in a new report with what
// identifies the run: tool version, seed, config, model and data.
func newReport(toolVersion string, w *workload, res *eval.Result) (*report.Report, error) {
	rep, err := emptyReport(toolVersion, w)
	if err != nil {
		return nil, err
	}
	rep.N, rep.NCleanCorrect, rep.CleanAccuracy = res.N, res.NCleanCorrect, res.CleanAccuracy
	rep.Attacks = append(rep.Attacks, res.ReportAttacks()...)
	rep.WorstCase = res.WorstCase
	if !res.Complete() {
		rep.Incomplete = true
		rep.IncompleteReason = "interrupted: " + stoppedWhere(rep.Attacks)
	}
	return rep, nil
}

// stoppedWhere says what an interrupted pool measured: the attack it
// stopped in with the samples that attack covered, and how many attacks
// were not measured.
func stoppedWhere(as []report.AttackResult) string {
	var parts []string
	none := 0
	for _, a := range as {
		switch {
		case a.Partial():
			parts = append(parts, fmt.Sprintf("%s stopped after %d of %d samples (its figures are over those)", a.Key, a.N, a.NPlanned))
		case a.NotMeasured():
			none++
		}
	}
	if p := report.NotMeasuredPhrase(none); p != "" {
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return "the figures cover only the samples attacked before the stop"
	}
	return strings.Join(parts, "; ")
}

// emptyReport is a report of the workload without figures.
func emptyReport(toolVersion string, w *workload) (*report.Report, error) {
	plan := w.plan
	rep := report.New(toolVersion)
	rep.Seed = plan.Seed
	rep.Config = plan.Map()
	if w.model != nil {
		sum, err := fileSHA256(plan.Model)
		if err != nil {
			return nil, err
		}
		rep.Model = report.Model{Path: plan.Model, SHA256: sum, Opset: w.model.Opset, Producer: producerOf(w.model), EndsWithSoftmax: w.model.FinalActivation != ""}
	} else {
		rep.Model = report.Model{Path: plan.Model, Producer: "remote endpoint (Open Inference Protocol)"}
	}
	rep.Data = report.Data{Path: w.data.Path, LabelsPath: w.data.LabelsPath, SHA256: w.data.DataSHA256, LabelsSHA256: w.data.LabelsSHA256, N: w.totalN}
	return rep, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func producerOf(m *onnxmodel.Model) string {
	p := m.Proto.GetProducerName()
	if v := m.Proto.GetProducerVersion(); v != "" {
		p += " " + v
	}
	return p
}

// runSweep reruns the sweep's attack at each eps on the clean-correct
// samples and appends SR-vs-eps rows.
func runSweep(ctx context.Context, w *workload, rep *report.Report) error {
	plan := w.plan
	idx := -1
	for i, a := range plan.Attacks {
		if a.Name == plan.Sweep.Attack {
			idx = i
		}
	}
	if idx < 0 {
		return fmt.Errorf("sweep.attack %q is not an attack of the pool", plan.Sweep.Attack)
	}
	ca := plan.Attacks[idx]
	for _, eps := range plan.Sweep.Eps {
		params := map[string]string{}
		for k, v := range ca.Params {
			params[k] = v
		}
		params["eps"] = strconv.FormatFloat(eps, 'g', -1, 64)
		a, spec, err := buildAttack(config.Attack{Name: ca.Name, Params: params}, plan)
		if err != nil {
			return fmt.Errorf("sweep eps %g: %w", eps, err)
		}
		pool, err := eval.RunPoolData(ctx, w.clf, w.data, []attack.Attack{a}, eval.PoolOptions{BatchSize: plan.BatchSize, Seed: plan.Seed, SampleIndex: w.data.Index})
		if err != nil {
			return err
		}
		if pool.Incomplete != nil {
			return pool.Incomplete
		}
		res, err := eval.NewResult(pool, []eval.AttackSpec{spec})
		if err != nil {
			return err
		}
		ar := res.Attacks[0]
		rep.Sweep = append(rep.Sweep, report.SweepRow{Attack: report.Key(ca.Name, ca.Params), Eps: eps, SuccessRate: ar.SuccessRate, RobustAccuracy: ar.RobustAccuracy, NFooled: ar.NFooled})
	}
	return nil
}
