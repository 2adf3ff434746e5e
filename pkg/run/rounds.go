package run

import (
	"fmt"
	"io"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/advtest/advtest/pkg/eval"
	"github.com/advtest/advtest/pkg/harden"
)

// roundTable prints harden's rounds as they end: a tablewriter table in
// streaming mode, so each row appears when its round is done. Its columns
// have fixed widths (a stream cannot measure rows to come): longer cells
// are cut, the report holds them whole.
type roundTable struct {
	w      io.Writer
	keys   []string
	labels []string
	// certRadius, when not nil, adds a column of the certified accuracy
	// at that radius (harden's until_certified).
	certRadius *float64
	t          *tablewriter.Table
}

// Column widths of the round table, in characters.
const (
	roundWidth    = 7
	defenceWidth  = 22
	rateWidth     = 10
	secondsWidth  = 10
	acceptedWidth = 100
)

func newRoundTable(w io.Writer, specs []eval.AttackSpec) *roundTable {
	count := map[string]int{}
	for _, s := range specs {
		count[s.Name]++
	}
	rt := &roundTable{w: w}
	for i, s := range specs {
		rt.keys = append(rt.keys, s.Key())
		l := s.Name
		if count[s.Name] > 1 {
			l = fmt.Sprintf("%s#%d", s.Name, i+1)
		}
		rt.labels = append(rt.labels, l)
	}
	return rt
}

// start prints the header and, when resuming, the checkpoint's rounds.
func (rt *roundTable) start(resume bool, ckpt string) error {
	header := []string{"round", "defence", "clean", "worst SR"}
	if rt.certRadius != nil {
		header = append(header, fmt.Sprintf("cert@%g", *rt.certRadius))
	}
	header = append(header, rt.labels...)
	header = append(header, "seconds", "accepted")
	widths := tw.NewMapper[int, int]().Set(0, roundWidth).Set(1, defenceWidth)
	aligns := []tw.Align{tw.AlignRight, tw.AlignLeft}
	for i := 2; i < len(header)-2; i++ {
		widths.Set(i, rateWidth)
		aligns = append(aligns, tw.AlignRight)
	}
	if rt.certRadius != nil {
		widths.Set(4, max(rateWidth, len(header[4])+2))
	}
	widths.Set(len(header)-2, secondsWidth).Set(len(header)-1, acceptedWidth)
	aligns = append(aligns, tw.AlignRight, tw.AlignLeft)
	rt.t = tablewriter.NewTable(rt.w,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleASCII)})),
		tablewriter.WithStreaming(tw.StreamConfig{Enable: true}),
		tablewriter.WithWidths(tw.CellWidth{PerColumn: widths}),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{Global: tw.AlignRight, PerColumn: aligns}),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
	)
	if err := rt.t.Start(); err != nil {
		return err
	}
	rt.t.Header(header)
	if resume {
		st, _, err := harden.LoadCheckpoint(ckpt)
		if err != nil {
			return err
		}
		for _, r := range st.Rows {
			rt.row(r)
		}
	}
	return nil
}

func (rt *roundTable) row(r harden.Row) {
	d := r.Defence
	if d == "" {
		d = "(as given)"
	}
	cells := []string{fmt.Sprint(r.Round), d, pct2(r.CleanAccuracy), pct2(r.WorstCaseSR)}
	if rt.certRadius != nil {
		c := "-"
		if r.CertifiedAccuracy != nil {
			c = pct2(*r.CertifiedAccuracy)
		}
		cells = append(cells, c)
	}
	for _, k := range rt.keys {
		cells = append(cells, pct2(r.AttackSR[k]))
	}
	acc := "yes"
	if !r.Accepted {
		acc = "no: " + r.Reason
	}
	_ = rt.t.Append(append(cells, fmt.Sprintf("%.1f", r.Seconds), acc))
}

// close draws the table's bottom border.
func (rt *roundTable) close() {
	if rt.t != nil {
		_ = rt.t.Close()
	}
}

func pct2(v float64) string { return fmt.Sprintf("%.2f%%", 100*v) }
