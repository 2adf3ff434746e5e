package cmd

import (
	"errors"
	"strings"

	"github.com/advtest/advtest/pkg/report/format"
	"github.com/advtest/advtest/pkg/run"
	"github.com/spf13/cobra"
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
	o := run.ReportOptions{}
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
			o.Stdout, o.Stderr = c.OutOrStdout(), c.ErrOrStderr()
			return exitError(run.Render(args[0], o))
		},
	}
	addReportOutputFlags(c, &o, "table", format.Formats())
	return c
}

// addReportOutputFlags declares --format (default def, one of formats) and
// --output.
func addReportOutputFlags(c *cobra.Command, o *run.ReportOptions, def string, formats []string) {
	c.Flags().StringVarP(&o.Format, "format", "f", def, "output format: "+strings.Join(formats, ", "))
	c.Flags().StringVarP(&o.Output, "output", "o", "", "write to this file (atomically) instead of stdout")
	registerFormatCompletion(c, formats)
}

func newReportDiffCommand() *cobra.Command {
	o := run.ReportOptions{}
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
			o.Stdout, o.Stderr = c.OutOrStdout(), c.ErrOrStderr()
			_, err := run.Diff(args[0], args[1], maxRegression, o)
			return exitError(err)
		},
	}
	c.Flags().Float64Var(&maxRegression, "max-regression", 0, "allowed rise of a success rate (absolute, 0.02 = 2 points)")
	addReportOutputFlags(c, &o, "table", format.DiffFormats)
	return c
}

func newReportMergeCommand() *cobra.Command {
	o := run.ReportOptions{}
	var baseline string
	var maxRegression float64
	c := &cobra.Command{
		Use:   "merge SHARD.json... [--output merged.json] [--baseline last.json]",
		Short: "Merge the reports of a sharded run into the report of the whole run",
		Long:  mergeLong,
		Example: `  advtest report merge shard-*.json -o report.json
  advtest report merge shard-0.json shard-1.json -o report.json --baseline last.json --max-regression 0.02`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.Stdout, o.Stderr = c.OutOrStdout(), c.ErrOrStderr()
			mo := run.MergeOptions{Baseline: baseline}
			if c.Flags().Changed("max-regression") {
				mo.MaxRegression = &maxRegression
			}
			_, err := run.Merge(args, mo, o)
			return exitError(err)
		},
	}
	addReportOutputFlags(c, &o, "json", format.Formats())
	c.Flags().StringVar(&baseline, "baseline", "", "re-apply the regression gate against this report (default: the shards' baseline)")
	c.Flags().Float64Var(&maxRegression, "max-regression", 0, "allowed rise of a success rate over the baseline (default: the shards')")
	return c
}

// registerFormatCompletion completes --format with the known formats and
// the positional arguments with JSON files.
func registerFormatCompletion(c *cobra.Command, formats []string) {
	_ = c.RegisterFlagCompletionFunc("format", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return formats, cobra.ShellCompDirectiveNoFileComp
	})
	c.ValidArgsFunction = func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"json"}, cobra.ShellCompDirectiveFilterFileExt
	}
}

const mergeLong = `merge combines the JSON reports of the shards of one run (attack --shard i/n:
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
before the exit code is decided.`
