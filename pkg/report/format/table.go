package format

import (
	"bufio"
	"fmt"
	"io"

	"github.com/advtest/advtest/pkg/report"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// writeTable writes the report for a terminal or a CI log: a summary line,
// an ASCII table with one row per attack and a worst-case row, one line
// per sanity check, the harden rounds (a table and the target's verdict)
// when the report has them, the certification (parameters, accuracy and
// abstain rate, a table of certified accuracy per radius, the radii's
// summary) when it has one, and the gate's verdict with its reasons and
// notes.
func writeTable(w io.Writer, r *report.Report) error {
	r = r.Normalized()
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, summaryLine(r))
	if !certOnly(r) {
		header, rows := tableRows(r)
		aligns := make([]tw.Align, len(header))
		for i := range aligns {
			aligns[i] = tw.AlignRight
		}
		aligns[0], aligns[1] = tw.AlignLeft, tw.AlignLeft
		if err := renderASCII(bw, header, rows, aligns); err != nil {
			return err
		}
	}
	if c := r.Certification; c != nil {
		fmt.Fprintf(bw, "%s: %s\n", certifyTitle, certParams(c))
		fmt.Fprintf(bw, "certified %s\n", certSummary(c))
		if len(c.Radii) > 0 {
			header, rows := certRows(c)
			if err := renderASCII(bw, header, rows, []tw.Align{tw.AlignRight, tw.AlignRight}); err != nil {
				return err
			}
		}
		if l := certRadiusLine(c); l != "" {
			fmt.Fprintln(bw, l)
		}
	}
	for _, c := range r.Sanity {
		fmt.Fprintf(bw, "sanity %s\n", c)
	}
	for _, l := range detectorLines(r.Detector) {
		fmt.Fprintf(bw, "detector %s\n", l)
	}
	if hasRounds(r) {
		header, rows, left := hardenRows(r)
		aligns := make([]tw.Align, len(header))
		for i, l := range left {
			aligns[i] = tw.AlignRight
			if l {
				aligns[i] = tw.AlignLeft
			}
		}
		fmt.Fprintln(bw, hardenTitle+":")
		if err := renderASCII(bw, header, rows, aligns); err != nil {
			return err
		}
		fmt.Fprintf(bw, "harden: %s\n", hardenVerdict(r.Harden))
	}
	if r.Incomplete {
		fmt.Fprintf(bw, "INCOMPLETE: %s\n", orDash(r.IncompleteReason))
	}
	if r.Gate.Passed {
		fmt.Fprintln(bw, "gate: PASS")
	} else {
		fmt.Fprintln(bw, "gate: FAIL")
		for _, s := range r.Gate.Reasons {
			fmt.Fprintf(bw, "  - %s\n", s)
		}
	}
	for _, s := range r.Gate.Notes {
		fmt.Fprintf(bw, "note: %s\n", s)
	}
	return bw.Flush()
}

// renderASCII writes an ASCII table, each column aligned as aligns says
// (the header aligned left).
func renderASCII(w io.Writer, header []string, rows [][]string, aligns []tw.Align) error {
	t := tablewriter.NewTable(w,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Symbols: tw.NewSymbols(tw.StyleASCII),
		})),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{
			Global:    tw.AlignRight,
			PerColumn: aligns,
		}),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
	)
	t.Header(header)
	if err := t.Bulk(rows); err != nil {
		return fmt.Errorf("report: table: %w", err)
	}
	if err := t.Render(); err != nil {
		return fmt.Errorf("report: table: %w", err)
	}
	return nil
}
