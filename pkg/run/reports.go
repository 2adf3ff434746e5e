package run

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/advtest/advtest/pkg/atomicfile"
	"github.com/advtest/advtest/pkg/config"
	"github.com/advtest/advtest/pkg/report"
	"github.com/advtest/advtest/pkg/report/format"
)

// ReportOptions configure Render, Diff and Merge: where the result goes.
type ReportOptions struct {
	// Format is the output format (format.Formats, or format.DiffFormats
	// for Diff).
	Format string
	// Output is a file written atomically; "" or "-" is Stdout.
	Output string
	// Stdout and Stderr receive the result and the notes.
	Stdout, Stderr io.Writer
}

// write renders with render to o.Output (atomically) or Stdout.
func (o ReportOptions) write(render func(io.Writer) error) error {
	if o.Output == "" || o.Output == "-" {
		return render(o.Stdout)
	}
	return atomicfile.Write(o.Output, render)
}

// writeReport renders r in o.Format to o.Output (atomically) or Stdout.
func (o ReportOptions) writeReport(r *report.Report) error {
	if o.Output == "" || o.Output == "-" {
		return format.Render(o.Stdout, o.Format, r)
	}
	return format.WriteFile(o.Output, o.Format, r)
}

// Render reads the JSON report at path and writes it in o.Format.
func Render(path string, o ReportOptions) error {
	if _, err := format.Lookup(o.Format); err != nil {
		return err
	}
	r, err := report.Load(path)
	if err != nil {
		return err
	}
	return o.writeReport(r)
}

// Diff compares two JSON reports with the regression gate of a baseline
// (report.Compare) and writes the comparison; it returns ErrGateFailed
// when a success rate regressed by more than maxRegression.
func Diff(oldPath, newPath string, maxRegression float64, o ReportOptions) (*report.Diff, error) {
	if maxRegression < 0 {
		return nil, fmt.Errorf("report diff: --max-regression %v: want a number >= 0", maxRegression)
	}
	if !slices.Contains(format.DiffFormats, o.Format) {
		return nil, fmt.Errorf("report diff: --format %q: want one of %s", o.Format, strings.Join(format.DiffFormats, ", "))
	}
	oldR, err := report.Load(oldPath)
	if err != nil {
		return nil, err
	}
	newR, err := report.Load(newPath)
	if err != nil {
		return nil, err
	}
	d := report.Compare(oldR, newR, oldPath, newPath, maxRegression)
	if err := o.write(func(out io.Writer) error { return format.WriteDiff(out, o.Format, d) }); err != nil {
		return d, err
	}
	if !d.Passed {
		return d, ErrGateFailed
	}
	return d, nil
}

// MergeOptions say which baseline a merged report is judged against.
type MergeOptions struct {
	// Baseline is a report to re-apply the regression gate against;
	// empty: the baseline the shards recorded, when that file reads.
	Baseline string
	// MaxRegression, when not nil, replaces the shards' allowed rise.
	MaxRegression *float64
}

// Merge merges the JSON reports of a sharded run (report.Merge), judges
// the result with the shards' gates (re-applying the baseline
// comparison), and writes it; it returns ErrGateFailed when a gate
// failed, after writing.
func Merge(paths []string, mo MergeOptions, o ReportOptions) (*report.Report, error) {
	if _, err := format.Lookup(o.Format); err != nil {
		return nil, err
	}
	var err error
	shards := make([]*report.Report, len(paths))
	for i, p := range paths {
		if shards[i], err = report.Load(p); err != nil {
			return nil, err
		}
	}
	m, info, err := report.Merge(shards)
	if err != nil {
		return nil, err
	}
	baseline := mo.Baseline
	if baseline == "" && m.Gate.Baseline != "" {
		if _, err := os.Stat(m.Gate.Baseline); err == nil {
			baseline = m.Gate.Baseline
		} else {
			fmt.Fprintf(o.Stderr, "advtest: the shards' baseline %s cannot be read (%v): the merged figures are not compared with it; pass --baseline\n", m.Gate.Baseline, err)
		}
	}
	if baseline != "" {
		base, err := report.Load(baseline)
		if err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
		maxRegression := shards[0].Gate.MaxRegression
		if mo.MaxRegression != nil {
			maxRegression = *mo.MaxRegression
		}
		m.ApplyGate(report.Gate{FailAbove: m.WorstCase.Gate.FailAbove, Baseline: base, BaselineName: baseline, MaxRegression: maxRegression})
	}
	if len(info.ApproximateMedians) > 0 {
		fmt.Fprintf(o.Stderr, "advtest: merged %d reports; medians of %s are approximate (counts, rates and means are exact)\n",
			len(shards), strings.Join(info.ApproximateMedians, ", "))
	}
	if err := o.writeReport(m); err != nil {
		return m, err
	}
	if !m.Gate.Passed {
		return m, ErrGateFailed
	}
	return m, nil
}

// Init writes the starter config to path (atomically), refusing to
// overwrite an existing file unless force; path "-" writes it to stdout.
func Init(stdout io.Writer, path string, force bool) error {
	if path == "-" {
		_, err := fmt.Fprint(stdout, config.StarterConfig())
		return err
	}
	if _, err := os.Stat(path); err == nil && !force {
		return fmt.Errorf("%s already exists (use --force to overwrite)", path)
	}
	if err := atomicfile.WriteFile(path, []byte(config.StarterConfig())); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: edit model, data and the attack pool, then run `advtest attack --config %s`\n", path, path)
	return nil
}
