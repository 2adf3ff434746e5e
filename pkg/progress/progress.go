package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
)

// Mode says how progress is shown.
type Mode int

const (
	// Auto is Bar on a terminal outside CI, Plain elsewhere.
	Auto Mode = iota
	// Bar draws a progress bar per step.
	Bar
	// Plain writes throttled lines, for CI logs.
	Plain
	// None shows nothing.
	None
)

// Modes lists the mode names in the order of the constants, for flag help
// and completion.
var Modes = []string{"auto", "bar", "plain", "none"}

// String returns the mode's name, as ParseMode accepts it.
func (m Mode) String() string {
	if m >= 0 && int(m) < len(Modes) {
		return Modes[m]
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode parses auto, bar, plain or none.
func ParseMode(s string) (Mode, error) {
	for i, name := range Modes {
		if strings.EqualFold(strings.TrimSpace(s), name) {
			return Mode(i), nil
		}
	}
	return Auto, fmt.Errorf("--progress %q: want one of %s", s, strings.Join(Modes, ", "))
}

// DefaultInterval is the least time between two "samples done" lines in
// plain mode.
const DefaultInterval = 10 * time.Second

// Options tunes New. The zero value is the production setting.
type Options struct {
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Interval is the least time between two progress lines in plain mode
	// (DefaultInterval when 0).
	Interval time.Duration
	// IsTerminal reports whether w is a terminal, for Auto (true for an
	// *os.File on a terminal when nil).
	IsTerminal func(w io.Writer) bool
	// Getenv reads the environment, for Auto's CI check (os.Getenv when nil).
	Getenv func(string) string
	// Prefix starts every plain line ("advtest: " when empty).
	Prefix string
}

// Reporter receives the progress of a run. Start begins a step of total
// samples (finishing the step before, if any), Done says how many of them
// are done, Finish ends the step, and Close ends the reporter (finishing an
// open step). Calls after Close are ignored.
type Reporter interface {
	Start(name string, total int)
	Done(done int)
	Finish()
	Close()
}

// Resolve returns the mode Auto stands for on w: Bar when w is a terminal
// and the CI environment variable is empty, else Plain. Other modes are
// returned as they are.
func Resolve(m Mode, w io.Writer, o Options) Mode {
	if m != Auto {
		return m
	}
	isTerm := o.IsTerminal
	if isTerm == nil {
		isTerm = IsTerminal
	}
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if isTerm(w) && getenv("CI") == "" {
		return Bar
	}
	return Plain
}

// IsTerminal reports whether w is an *os.File on a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// New returns the Reporter of mode m (Auto resolved with Resolve) writing
// to w.
func New(w io.Writer, m Mode, o Options) Reporter {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Prefix == "" {
		o.Prefix = "advtest: "
	}
	switch Resolve(m, w, o) {
	case Bar:
		return &bar{w: w}
	case Plain:
		return &plain{w: w, o: o}
	}
	return nop{}
}

type nop struct{}

func (nop) Start(string, int) {}
func (nop) Done(int)          {}
func (nop) Finish()           {}
func (nop) Close()            {}

// plain writes line-oriented progress, throttled by o.Interval.
type plain struct {
	mu     sync.Mutex
	w      io.Writer
	o      Options
	closed bool
	open   bool
	name   string
	total  int
	done   int
	start  time.Time
	last   time.Time // time of the last line about the current step
}

func (p *plain) Start(name string, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.finishLocked()
	now := p.o.Now()
	p.open, p.name, p.total, p.done, p.start, p.last = true, name, total, 0, now, now
	fmt.Fprintf(p.w, "%s%s: started, %d %s\n", p.o.Prefix, name, total, plural(total, "sample"))
}

func (p *plain) Done(done int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || !p.open || done <= p.done {
		return
	}
	p.done = done
	if done >= p.total {
		return // the finish line says it
	}
	now := p.o.Now()
	if now.Sub(p.last) < p.o.Interval {
		return
	}
	p.last = now
	elapsed := now.Sub(p.start)
	eta := time.Duration(float64(elapsed) * float64(p.total-done) / float64(done))
	fmt.Fprintf(p.w, "%s%s: %d/%d %s (%.0f%%), %s elapsed, ETA %s\n", p.o.Prefix, p.name, done, p.total,
		plural(p.total, "sample"), 100*float64(done)/float64(p.total), round(elapsed), round(eta))
}

func (p *plain) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.finishLocked()
	}
}

func (p *plain) finishLocked() {
	if !p.open {
		return
	}
	p.open = false
	elapsed := p.o.Now().Sub(p.start)
	if p.done >= p.total {
		fmt.Fprintf(p.w, "%s%s: finished, %d %s in %s\n", p.o.Prefix, p.name, p.total, plural(p.total, "sample"), round(elapsed))
		return
	}
	fmt.Fprintf(p.w, "%s%s: stopped at %d/%d %s after %s\n", p.o.Prefix, p.name, p.done, p.total, plural(p.total, "sample"), round(elapsed))
}

func (p *plain) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.finishLocked()
		p.closed = true
	}
}

// round rounds d to whole seconds (tenths below 10 s), as "1m5s" or "3.2s".
func round(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d < 10*time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// bar draws one progress bar per step.
type bar struct {
	mu     sync.Mutex
	w      io.Writer
	b      *progressbar.ProgressBar
	closed bool
}

func (b *bar) Start(name string, total int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.finishLocked()
	b.b = progressbar.NewOptions(total,
		progressbar.OptionSetWriter(b.w),
		progressbar.OptionSetDescription(fmt.Sprintf("%-12s", name)),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionClearOnFinish(),
	)
}

func (b *bar) Done(done int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b != nil && !b.closed {
		_ = b.b.Set(done)
	}
}

func (b *bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.finishLocked()
}

func (b *bar) finishLocked() {
	if b.b != nil {
		_ = b.b.Finish()
		b.b = nil
	}
}

func (b *bar) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.finishLocked()
	b.closed = true
}

// Func adapts r to the callback of eval.PoolOptions.Progress: a new
// attackIndex starts a step named name of total samples, every call
// reports done, and done == total finishes the step. Call r.Close after
// the pool.
func Func(r Reporter) func(attackIndex int, name string, done, total int) {
	var mu sync.Mutex
	current, open := 0, false
	return func(attackIndex int, name string, done, total int) {
		mu.Lock()
		defer mu.Unlock()
		if !open || attackIndex != current {
			r.Start(name, total)
			current, open = attackIndex, true
		}
		r.Done(done)
		if done >= total {
			r.Finish()
			open = false
		}
	}
}
