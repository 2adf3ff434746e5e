package cmd

import (
	"io"

	pprogress "github.com/advtest/advtest/pkg/progress"
)

// progressAdapter shows pkg/run's progress through a pkg/progress
// Reporter: a bar on a terminal, plain throttled lines in CI logs.
type progressAdapter struct {
	r      pprogress.Reporter
	update func(attackIndex int, name string, done, total int)
}

func newProgress(w io.Writer, mode pprogress.Mode) *progressAdapter {
	r := pprogress.New(w, mode, pprogress.Options{})
	return &progressAdapter{r: r, update: pprogress.Func(r)}
}

// Update reports done of total samples of the step name.
func (p *progressAdapter) Update(attackIndex int, name string, done, total int) {
	p.update(attackIndex, name, done, total)
}

// Finish ends the current step.
func (p *progressAdapter) Finish() { p.r.Close() }
