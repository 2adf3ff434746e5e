package format

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/advtest/advtest/pkg/report"
	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// DiffFormats are the formats WriteDiff knows.
var DiffFormats = []string{"table", "json", "markdown"}

// WriteDiff renders d as "table" (for a terminal), "json" or "markdown"
// (for a pull-request comment).
func WriteDiff(w io.Writer, format string, d *report.Diff) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(d)
	case "table":
		return writeDiffTable(w, d)
	case "markdown":
		return writeDiffMarkdown(w, d)
	}
	return fmt.Errorf("report: unknown diff format %q (known: %s)", format, strings.Join(DiffFormats, ", "))
}

func diffRows(d *report.Diff) (header []string, rows [][]string) {
	header = []string{"attack", "old SR", "new SR", "delta", "old robust acc", "new robust acc", "status"}
	row := func(a report.AttackDiff) []string {
		sr := func(ran bool, v *float64, k, n int) string {
			switch {
			case !ran:
				return "-"
			case v == nil:
				return fmt.Sprintf("n/a (%d/%d)", k, n)
			}
			return fmt.Sprintf("%s (%d/%d)", pct(*v), k, n)
		}
		ra := func(v *float64) string {
			if v == nil {
				return "-"
			}
			return pct(*v)
		}
		delta := "-"
		if a.Delta != nil {
			delta = fmt.Sprintf("%+.1f pp", 100**a.Delta)
		}
		return []string{a.Label,
			sr(a.Status != "new", a.OldSR, a.OldFooled, a.OldClean),
			sr(a.Status != "removed", a.NewSR, a.NewFooled, a.NewClean),
			delta, ra(a.OldRobust), ra(a.NewRobust), a.Status}
	}
	for _, a := range d.Attacks {
		rows = append(rows, row(a))
	}
	rows = append(rows, row(d.WorstCase))
	return header, rows
}

func diffVerdict(d *report.Diff) string {
	if d.Passed {
		return "PASS"
	}
	return "FAIL"
}

func writeDiffTable(w io.Writer, d *report.Diff) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "old %s, new %s, max regression %s\n", d.Old, d.New, num(d.MaxRegression))
	header, rows := diffRows(d)
	t := tablewriter.NewTable(bw,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleASCII)})),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{
			Global:    tw.AlignRight,
			PerColumn: []tw.Align{tw.AlignLeft, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignRight, tw.AlignLeft},
		}),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
	)
	t.Header(header)
	if err := t.Bulk(rows); err != nil {
		return fmt.Errorf("report: diff table: %w", err)
	}
	if err := t.Render(); err != nil {
		return fmt.Errorf("report: diff table: %w", err)
	}
	fmt.Fprintf(bw, "regression gate: %s\n", diffVerdict(d))
	for _, s := range d.Reasons {
		fmt.Fprintf(bw, "  - %s\n", s)
	}
	for _, s := range d.Notes {
		fmt.Fprintf(bw, "note: %s\n", s)
	}
	return bw.Flush()
}

func writeDiffMarkdown(w io.Writer, d *report.Diff) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "### advtest diff: %s\n\n", diffVerdict(d))
	fmt.Fprintf(bw, "%s → %s, max regression %s\n\n", mdEscape(d.Old), mdEscape(d.New), num(d.MaxRegression))
	header, rows := diffRows(d)
	fmt.Fprintf(bw, "| %s |\n", strings.Join(header, " | "))
	fmt.Fprintln(bw, "| --- | ---: | ---: | ---: | ---: | ---: | --- |")
	for i, row := range rows {
		esc := make([]string, len(row))
		for j, c := range row {
			esc[j] = mdEscape(c)
		}
		if i == len(rows)-1 {
			esc[0] = "**" + esc[0] + "**"
		}
		if row[6] == "regressed" {
			esc[6] = "**regressed**"
		}
		fmt.Fprintf(bw, "| %s |\n", strings.Join(esc, " | "))
	}
	if len(d.Reasons) > 0 {
		fmt.Fprintln(bw)
		for _, s := range d.Reasons {
			fmt.Fprintf(bw, "- %s\n", mdEscape(s))
		}
	}
	if len(d.Notes) > 0 {
		fmt.Fprintln(bw)
		fmt.Fprintln(bw, "Notes:")
		fmt.Fprintln(bw)
		for _, s := range d.Notes {
			fmt.Fprintf(bw, "- %s\n", mdEscape(s))
		}
	}
	return bw.Flush()
}
