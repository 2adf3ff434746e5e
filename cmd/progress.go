package cmd

import (
	"fmt"
	"io"
	"os"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
)

// progress shows one bar per attack on a terminal and nothing elsewhere
// (not a TTY, or CI set), so that CI logs stay quiet.
type progress struct {
	w       io.Writer
	enabled bool
	bar     *progressbar.ProgressBar
	current int
}

func newProgress(w io.Writer, allowed bool) *progress {
	p := &progress{w: w, current: -1}
	if f, ok := w.(*os.File); ok && allowed && os.Getenv("CI") == "" {
		p.enabled = isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
	}
	return p
}

// Update shows step done of total of the phase name.
func (p *progress) Update(attackIndex int, name string, done, total int) {
	if !p.enabled {
		return
	}
	if attackIndex != p.current {
		p.Finish()
		p.current = attackIndex
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(fmt.Sprintf("%-12s", name)),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionClearOnFinish(),
		)
	}
	_ = p.bar.Set(done)
}

// Finish ends the bar.
func (p *progress) Finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
}
