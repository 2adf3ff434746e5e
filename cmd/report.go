package cmd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/report"
)

func init() {
	extraCommands = append(extraCommands, newReportCommand)
}

func newReportCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "report",
		Short: "Render, compare and merge advtest JSON reports",
		Long: `report works on the JSON reports that attack writes (--format json):
render one in another format, diff two of them with the regression gate of
--baseline, or merge the reports of a sharded run into one.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return usageError(errors.New("report: name a subcommand: render, diff or merge (see advtest report --help)"))
		},
	}
	c.AddCommand(newReportRenderCommand(), newReportDiffCommand(), newReportMergeCommand())
	return c
}

func newReportRenderCommand() *cobra.Command {
	var format, output string
	c := &cobra.Command{
		Use:   "render REPORT.json [--format html|markdown|junit|table|json] [--output FILE]",
		Short: "Render a JSON report in another format",
		Long: `render reads a JSON report and writes it in the given format, to stdout or,
with --output, atomically to a file. The html format is one self-contained
page (no network needed); without the run's samples it has no gallery of
adversarial examples.`,
		Example: `  advtest report render report.json
  advtest report render report.json --format html -o report.html
  advtest report render report.json --format markdown >> "$GITHUB_STEP_SUMMARY"`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			r, err := report.Load(args[0])
			if err != nil {
				return usageError(err)
			}
			if _, err := report.Lookup(format); err != nil {
				return usageError(err)
			}
			return usageError(writeReport(c.OutOrStdout(), output, format, r))
		},
	}
	c.Flags().StringVarP(&format, "format", "f", "table", "output format: "+strings.Join(report.Formats(), ", "))
	c.Flags().StringVarP(&output, "output", "o", "", "write to this file instead of stdout")
	registerFormatCompletion(c, report.Formats)
	return c
}

// writeReport renders r to path (atomically) or, when path is "" or "-",
// to stdout.
func writeReport(stdout io.Writer, path, format string, r *report.Report) error {
	if path == "" || path == "-" {
		return report.Render(stdout, format, r)
	}
	return report.WriteFile(path, format, r)
}

func newReportDiffCommand() *cobra.Command {
	var format, output string
	var maxRegression float64
	c := &cobra.Command{
		Use:   "diff OLD.json NEW.json [--max-regression D] [--format table|json|markdown]",
		Short: "Compare two reports attack by attack; exit 1 when a success rate regressed",
		Long: `diff matches the attacks of two reports by key (name and parameters) and
shows, per attack and for the worst case, the success rate before and after
and its change, and which attacks are new or removed.

Its verdict is the regression check of attack --baseline OLD.json
--max-regression D: it exits 1 when an attack's success rate, or the worst
case's (when both reports ran the same pool), rose by more than D (an
absolute difference: 0.02 is two percentage points; 0 fails any rise).
Ceilings (max_sr, fail_above) are not part of a diff. It exits 2 when a
report cannot be read.`,
		Example: `  advtest report diff last.json report.json --max-regression 0.02
  advtest report diff last.json report.json --format markdown > diff.md`,
		Args: cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			if maxRegression < 0 {
				return usageError(fmt.Errorf("report diff: --max-regression %v: want a number >= 0", maxRegression))
			}
			if !contains(report.DiffFormats, format) {
				return usageError(fmt.Errorf("report diff: --format %q: want one of %s", format, strings.Join(report.DiffFormats, ", ")))
			}
			oldR, err := report.Load(args[0])
			if err != nil {
				return usageError(err)
			}
			newR, err := report.Load(args[1])
			if err != nil {
				return usageError(err)
			}
			d := report.Compare(oldR, newR, args[0], args[1], maxRegression)
			if err := writeDiff(c.OutOrStdout(), output, format, d); err != nil {
				return usageError(err)
			}
			if !d.Passed {
				return &ExitError{Code: ExitGateFailed}
			}
			return nil
		},
	}
	c.Flags().Float64Var(&maxRegression, "max-regression", 0, "allowed rise of a success rate (absolute, 0.02 = 2 points)")
	c.Flags().StringVarP(&format, "format", "f", "table", "output format: "+strings.Join(report.DiffFormats, ", "))
	c.Flags().StringVarP(&output, "output", "o", "", "write to this file instead of stdout")
	registerFormatCompletion(c, func() []string { return report.DiffFormats })
	return c
}

func writeDiff(stdout io.Writer, path, format string, d *report.Diff) error {
	if path == "" || path == "-" {
		return report.WriteDiff(stdout, format, d)
	}
	var buf bytes.Buffer
	if err := report.WriteDiff(&buf, format, d); err != nil {
		return err
	}
	return onnxmodel.WriteFileAtomic(path, buf.Bytes())
}

func newReportMergeCommand() *cobra.Command {
	var format, output, baseline string
	var maxRegression float64
	c := &cobra.Command{
		Use:   "merge SHARD.json... [--output merged.json] [--baseline last.json]",
		Short: "Merge the reports of a sharded run into the report of the whole run",
		Long: `merge combines the JSON reports of the shards of one run (attack --shard i/n:
the same model, data, seed and attack pool, each over its part of the
samples) into the report one run over all samples gives, and judges it
with the shards' gates. It refuses reports of different models, data,
seeds, attack pools or sweeps, and shards given twice or missing.

Exact: every count (n, n_clean_correct, n_fooled), every rate (clean
accuracy, success rates, robust accuracies, worst case, sweep) and the
means of perturbations and queries. Approximate: their medians, when more
than one shard fooled samples (a note in the report says which).

The baseline comparison is re-applied to the merged figures with
--baseline (by default the baseline the shards recorded, when that file
can be read). Exit codes: 0 the merged report passes its gates, 1 a gate
failed, 2 the reports cannot be read or merged. The report is written
before the exit code is decided.`,
		Example: `  advtest report merge shard-*.json -o report.json
  advtest report merge shard-0.json shard-1.json -o report.json --baseline last.json --max-regression 0.02`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if _, err := report.Lookup(format); err != nil {
				return usageError(err)
			}
			shards := make([]*report.Report, len(args))
			for i, p := range args {
				r, err := report.Load(p)
				if err != nil {
					return usageError(err)
				}
				shards[i] = r
			}
			m, info, err := report.Merge(shards)
			if err != nil {
				return usageError(err)
			}
			stderr := c.ErrOrStderr()
			if baseline == "" && m.Gate.Baseline != "" {
				if _, err := os.Stat(m.Gate.Baseline); err == nil {
					baseline = m.Gate.Baseline
				} else {
					fmt.Fprintf(stderr, "advtest: the shards' baseline %s cannot be read (%v): the merged figures are not compared with it; pass --baseline\n", m.Gate.Baseline, err)
				}
			}
			if baseline != "" {
				base, err := report.Load(baseline)
				if err != nil {
					return usageError(fmt.Errorf("baseline: %w", err))
				}
				if !c.Flags().Changed("max-regression") {
					maxRegression = shards[0].Gate.MaxRegression
				}
				m.ApplyGate(report.Gate{FailAbove: m.WorstCase.Gate.FailAbove, Baseline: base, BaselineName: baseline, MaxRegression: maxRegression})
			}
			if len(info.ApproximateMedians) > 0 {
				fmt.Fprintf(stderr, "advtest: merged %d reports; medians of %s are approximate (counts, rates and means are exact)\n",
					len(shards), strings.Join(info.ApproximateMedians, ", "))
			}
			if err := writeReport(c.OutOrStdout(), output, format, m); err != nil {
				return usageError(err)
			}
			if !m.Gate.Passed {
				return &ExitError{Code: ExitGateFailed}
			}
			return nil
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "", "write the merged report to this file instead of stdout")
	c.Flags().StringVarP(&format, "format", "f", "json", "output format: "+strings.Join(report.Formats(), ", "))
	c.Flags().StringVar(&baseline, "baseline", "", "re-apply the regression gate against this report (default: the shards' baseline)")
	c.Flags().Float64Var(&maxRegression, "max-regression", 0, "allowed rise of a success rate over the baseline (default: the shards')")
	registerFormatCompletion(c, report.Formats)
	return c
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// registerFormatCompletion completes --format with the known formats and
// the positional arguments with JSON files.
func registerFormatCompletion(c *cobra.Command, formats func() []string) {
	_ = c.RegisterFlagCompletionFunc("format", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return formats(), cobra.ShellCompDirectiveNoFileComp
	})
	c.ValidArgsFunction = func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"json"}, cobra.ShellCompDirectiveFilterFileExt
	}
}
