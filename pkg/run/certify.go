package run

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/advtest/advtest/pkg/atomicfile"
	"github.com/advtest/advtest/pkg/certify"
	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/progress"
	"github.com/advtest/advtest/pkg/report"
	"github.com/advtest/advtest/pkg/report/format"
)

// CertifyOptions configures Certify.
type CertifyOptions struct {
	// Model, Data and Labels are the files; LabelColumn names a CSV's
	// label column.
	Model, Data, Labels, LabelColumn string
	// Output is the report's path; "" writes it to Stdout.
	Output string
	// Format is the report's format (pkg/report/format: json, table,
	// markdown, junit, html); "" is json.
	Format string
	Limit  int
	Seed   uint64
	Params certify.Params
	Radii  []float64
	// Gates are --min-certified-accuracy's R:ACC specs.
	Gates          []string
	Progress       progress.Mode
	MaxMemory      int64
	ToolVersion    string
	Stdout, Stderr io.Writer
}

// Certify runs randomized smoothing's CERTIFY (pkg/certify) on every
// sample, writes the JSON report and a short summary on Stderr, and
// returns the report. Like Attack, it returns ErrGateFailed when a
// certified-accuracy gate fails and wraps ErrInterrupted when it was
// stopped, both after the (then incomplete) report is written.
func Certify(ctx context.Context, o CertifyOptions) (*report.Report, error) {
	start := time.Now()
	if o.Model == "" || o.Data == "" {
		return nil, errors.New("certify: --model and --data are required")
	}
	var gates []report.CertifiedAccuracyGate
	for _, s := range o.Gates {
		g, err := report.ParseCertifiedAccuracyGate(s)
		if err != nil {
			return nil, err
		}
		gates = append(gates, g)
	}
	if o.Format == "" {
		o.Format = "json"
	}
	if _, err := format.Lookup(o.Format); err != nil {
		return nil, fmt.Errorf("--format: %w", err)
	}
	if o.Output != "" {
		if err := checkOutputDir("--output", o.Output); err != nil {
			return nil, err
		}
	}
	m, set, err := loadModelAndData(o.Model, o.Data, o.Labels, dataset.Options{Limit: o.Limit, LabelColumn: o.LabelColumn, MaxBytes: o.MaxMemory})
	if err != nil {
		return nil, err
	}
	base, err := certify.ForModel(m, o.Params)
	if err != nil {
		return nil, err
	}
	for _, w := range base.Warnings {
		fmt.Fprintln(o.Stderr, "advtest: warning:", w)
	}
	pr := progress.New(o.Stderr, o.Progress, progress.Options{})
	pr.Start("certify", set.Len())
	samples, runErr := certify.Certify(ctx, base.Model, set.X, set.Y, certify.Options{
		Params: base.Params, Seed: o.Seed, Progress: func(done, _ int) { pr.Done(done) },
	})
	pr.Close()
	if runErr != nil && samples == nil {
		return nil, runErr
	}
	rep := report.New(o.ToolVersion)
	rep.Seed = o.Seed
	if sum, err := fileSHA256(o.Model); err == nil {
		rep.Model = report.Model{Path: o.Model, SHA256: sum, Opset: m.Opset, Producer: producerOf(m), EndsWithSoftmax: m.FinalActivation != ""}
	}
	rep.Data = report.Data{Path: set.Path, LabelsPath: set.LabelsPath, SHA256: set.DataSHA256, LabelsSHA256: set.LabelsSHA256, N: set.Len()}
	rep.Config = map[string]any{"sigma": base.Params.Sigma, "n0": base.Params.N0, "n": base.Params.N, "alpha": base.Params.Alpha, "batch": base.Params.Batch, "radii": o.Radii}
	rep.Certification = certify.Summarize(samples, o.Radii, base.Params, base.NoiseSource, time.Since(start))
	rep.Gate.Notes = append(rep.Gate.Notes, base.Notes...)
	if runErr != nil {
		rep.Incomplete, rep.IncompleteReason = true, runErr.Error()
	}
	rep.Timing = report.Timing{Created: start.UTC().Format(time.RFC3339), Seconds: time.Since(start).Seconds()}
	passed := rep.ApplyCertifiedGate(gates)
	var buf bytes.Buffer
	if err := format.Render(&buf, o.Format, rep); err != nil {
		return rep, err
	}
	if o.Output == "" {
		if _, err := o.Stdout.Write(buf.Bytes()); err != nil {
			return rep, err
		}
	} else if err := atomicfile.WriteFile(o.Output, buf.Bytes()); err != nil {
		return rep, err
	}
	cert := rep.Certification
	fmt.Fprintf(o.Stderr, "advtest: certified %d samples at sigma %g (n=%d, alpha=%g): accuracy %.3f, abstain %.3f\n", cert.N, cert.Sigma, cert.NDraws, cert.Alpha, cert.Accuracy, cert.AbstainRate)
	for _, r := range cert.Radii {
		fmt.Fprintf(o.Stderr, "advtest:   radius %-5g certified accuracy %.3f (%d/%d)\n", r.Radius, r.CertifiedAccuracy, r.NCertified, cert.N)
	}
	switch {
	case runErr != nil && ctx.Err() != nil:
		return rep, fmt.Errorf("%w: %v (the report is marked incomplete)", ErrInterrupted, runErr)
	case runErr != nil:
		return rep, fmt.Errorf("%w (the report is marked incomplete)", runErr)
	case !passed:
		return rep, ErrGateFailed
	}
	return rep, nil
}
