package format

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/advtest/advtest/pkg/report"
)

// writeMarkdown writes a summary fit for a pull-request comment: a status
// line, what was attacked, the table (none for a certification report
// without attacks), the certification, the sanity checks, the harden
// rounds, and the gate's reasons and notes.
func writeMarkdown(w io.Writer, r *report.Report) error {
	r = r.Normalized()
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "### advtest: %s\n\n", status(r))
	fmt.Fprintf(bw, "%s\n\n", mdEscape(summaryLine(r)))
	if r.Incomplete {
		fmt.Fprintf(bw, "**Incomplete run:** %s\n\n", mdEscape(orDash(r.IncompleteReason)))
	}
	if !certOnly(r) {
		header, rows := tableRows(r)
		writeMarkdownTable(bw, header, rows, true)
	}
	if r.Certification != nil {
		writeMarkdownCertification(bw, r.Certification)
	}
	if len(r.Sanity) > 0 {
		writeMarkdownSanity(bw, r.Sanity)
	}
	if lines := detectorLines(r.Detector); len(lines) > 0 {
		fmt.Fprintln(bw, "**Input detector (feature squeezing, Xu et al. 2018)**")
		fmt.Fprintln(bw)
		for _, l := range lines {
			fmt.Fprintf(bw, "- %s\n", mdEscape(l))
		}
		fmt.Fprintln(bw)
	}
	if hasRounds(r) {
		writeMarkdownHarden(bw, r)
	}
	if r.Gate.Passed {
		fmt.Fprintln(bw, "**Gate: PASS**")
	} else {
		fmt.Fprintln(bw, "**Gate: FAIL**")
		fmt.Fprintln(bw)
		for _, s := range r.Gate.Reasons {
			fmt.Fprintf(bw, "- %s\n", mdEscape(s))
		}
	}
	if len(r.Gate.Notes) > 0 {
		fmt.Fprintln(bw)
		fmt.Fprintln(bw, "Notes:")
		fmt.Fprintln(bw)
		for _, s := range r.Gate.Notes {
			fmt.Fprintf(bw, "- %s\n", mdEscape(s))
		}
	}
	return bw.Flush()
}

// writeMarkdownTable writes a table whose first column is text and the
// others figures, the last row's label in bold when boldLast is set.
func writeMarkdownTable(w io.Writer, header []string, rows [][]string, boldLast bool) {
	fmt.Fprintf(w, "| %s |\n", strings.Join(header, " | "))
	sep := make([]string, len(header))
	for i := range sep {
		if i == 0 {
			sep[i] = "---"
		} else {
			sep[i] = "---:"
		}
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(sep, " | "))
	for i, row := range rows {
		esc := make([]string, len(row))
		for j, c := range row {
			esc[j] = mdEscape(c)
		}
		if boldLast && i == len(rows)-1 {
			esc[0] = "**" + esc[0] + "**"
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(esc, " | "))
	}
	fmt.Fprintln(w)
}

// writeMarkdownCertification writes the certification: its parameters,
// accuracy and abstain rate, the certified accuracy per radius and the
// radii's summary.
func writeMarkdownCertification(w io.Writer, c *report.Certification) {
	fmt.Fprintf(w, "**%s**\n\n", mdEscape(certifyTitle))
	fmt.Fprintf(w, "%s. Certified %s.\n\n", mdEscape(capitalize(certParams(c))), mdEscape(certSummary(c)))
	if len(c.Radii) > 0 {
		header, rows := certRows(c)
		writeMarkdownTable(w, header, rows, false)
	}
	if l := certRadiusLine(c); l != "" {
		fmt.Fprintf(w, "%s.\n\n", mdEscape(capitalize(l)))
	}
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// writeMarkdownSanity writes the sanity checks as a table, a flagged
// status in bold.
func writeMarkdownSanity(w io.Writer, checks []report.SanityCheck) {
	fmt.Fprintf(w, "**%s**\n\n", sanityTitle)
	fmt.Fprintln(w, "| check | status | attack | figures | n | explanation |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | ---: | --- |")
	for _, c := range checks {
		st := mdEscape(c.Status)
		if c.Flagged() {
			st = "**" + st + "**"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", mdEscape(c.ID), st, mdEscape(orDash(c.Attack)),
			mdEscape(figuresCell(c)), countCell(c.N), mdEscape(orDash(c.Explanation)))
	}
	fmt.Fprintln(w)
}

// writeMarkdownHarden writes the harden rounds as a table (the columns of
// the table format) under the target's verdict.
func writeMarkdownHarden(w io.Writer, r *report.Report) {
	fmt.Fprintf(w, "**%s**\n\n", hardenTitle)
	v := hardenVerdict(r.Harden)
	fmt.Fprintf(w, "%s.\n\n", mdEscape(strings.ToUpper(v[:1])+v[1:]))
	header, rows, left := hardenRows(r)
	sep := make([]string, len(header))
	for i, l := range left {
		sep[i] = "---:"
		if l {
			sep[i] = "---"
		}
	}
	for i, h := range header {
		header[i] = mdEscape(h)
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(header, " | "))
	fmt.Fprintf(w, "| %s |\n", strings.Join(sep, " | "))
	for _, row := range rows {
		esc := make([]string, len(row))
		for j, c := range row {
			esc[j] = mdEscape(c)
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(esc, " | "))
	}
	fmt.Fprintln(w)
}

// mdEscape keeps text from breaking a table or turning into markup.
var mdReplacer = strings.NewReplacer("|", `\|`, "\n", " ", "*", `\*`, "<", "&lt;", ">", "&gt;", "`", "\\`")

func mdEscape(s string) string { return mdReplacer.Replace(s) }
