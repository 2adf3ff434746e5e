package progress

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// event is one call on a Reporter, or a clock step.
type event struct {
	advance time.Duration // move the clock first
	start   string        // Start(start, total) when set
	total   int
	done    int // Done(done) when > 0
	finish  bool
	close   bool
}

func play(r Reporter, clk *fakeClock, events []event) {
	for _, e := range events {
		clk.t = clk.t.Add(e.advance)
		switch {
		case e.start != "":
			r.Start(e.start, e.total)
		case e.done > 0:
			r.Done(e.done)
		case e.finish:
			r.Finish()
		case e.close:
			r.Close()
		}
	}
}

func TestPlain(t *testing.T) {
	tests := []struct {
		name   string
		events []event
		want   []string
	}{
		{
			name: "fast attack: start and finish only",
			events: []event{
				{start: "fgsm", total: 200},
				{advance: time.Second, done: 128},
				{advance: time.Second, done: 200},
				{finish: true},
			},
			want: []string{
				"advtest: fgsm: started, 200 samples",
				"advtest: fgsm: finished, 200 samples in 2s",
			},
		},
		{
			name: "slow attack: at most one line per 10 s with elapsed and ETA",
			events: []event{
				{start: "pgd", total: 400},
				{advance: 4 * time.Second, done: 100},  // 4 s: throttled
				{advance: 6 * time.Second, done: 200},  // 10 s: printed, ETA 10 s
				{advance: 5 * time.Second, done: 300},  // 5 s after the last line: throttled
				{advance: 10 * time.Second, done: 350}, // 25 s: printed, ETA 25/350*50
				{advance: 5 * time.Second, done: 400},  // done: no progress line
				{finish: true},
			},
			want: []string{
				"advtest: pgd: started, 400 samples",
				"advtest: pgd: 200/400 samples (50%), 10s elapsed, ETA 10s",
				"advtest: pgd: 350/400 samples (88%), 25s elapsed, ETA 3.6s",
				"advtest: pgd: finished, 400 samples in 30s",
			},
		},
		{
			name: "a new Start finishes the step before; Close finishes the last",
			events: []event{
				{start: "a", total: 1},
				{advance: 65 * time.Second, done: 1},
				{start: "b", total: 10},
				{advance: time.Second, done: 3},
				{close: true},
				{start: "c", total: 5}, // after Close: ignored
				{done: 5},
			},
			want: []string{
				"advtest: a: started, 1 sample",
				"advtest: a: finished, 1 sample in 1m5s",
				"advtest: b: started, 10 samples",
				"advtest: b: stopped at 3/10 samples after 1s",
			},
		},
		{
			name: "Done without a step, or going backwards, prints nothing",
			events: []event{
				{advance: time.Minute, done: 5},
				{start: "x", total: 100},
				{advance: 20 * time.Second, done: 50},
				{advance: 20 * time.Second, done: 40},
				{finish: true},
				{finish: true},
			},
			want: []string{
				"advtest: x: started, 100 samples",
				"advtest: x: 50/100 samples (50%), 20s elapsed, ETA 20s",
				"advtest: x: stopped at 50/100 samples after 40s",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			clk := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
			r := New(&buf, Plain, Options{Now: clk.now})
			play(r, clk, tt.events)
			got := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			if buf.Len() == 0 {
				got = nil
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if strings.ContainsAny(buf.String(), "\r\x1b") {
				t.Errorf("plain output has a carriage return or an escape code: %q", buf.String())
			}
		})
	}
}

func TestPlainInterval(t *testing.T) {
	var buf bytes.Buffer
	clk := &fakeClock{t: time.Unix(0, 0)}
	r := New(&buf, Plain, Options{Now: clk.now, Interval: time.Second, Prefix: "> "})
	play(r, clk, []event{{start: "s", total: 3}, {advance: time.Second, done: 1}, {advance: 500 * time.Millisecond, done: 2}})
	want := "> s: started, 3 samples\n> s: 1/3 samples (33%), 1s elapsed, ETA 2s\n"
	if buf.String() != want {
		t.Errorf("got %q, want %q", buf.String(), want)
	}
}

func TestFunc(t *testing.T) {
	var buf bytes.Buffer
	clk := &fakeClock{t: time.Unix(0, 0)}
	r := New(&buf, Plain, Options{Now: clk.now})
	f := Func(r)
	// The callback of eval.RunPool: after each batch, per attack.
	f(0, "fgsm", 2, 4)
	clk.t = clk.t.Add(3 * time.Second)
	f(0, "fgsm", 4, 4)
	f(1, "pgd", 1, 4)
	clk.t = clk.t.Add(time.Second)
	r.Close()
	want := []string{
		"advtest: fgsm: started, 4 samples",
		"advtest: fgsm: finished, 4 samples in 3s",
		"advtest: pgd: started, 4 samples",
		"advtest: pgd: stopped at 1/4 samples after 1s",
	}
	if got := strings.TrimSuffix(buf.String(), "\n"); got != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}

func TestResolveAndModes(t *testing.T) {
	term := func(io.Writer) bool { return true }
	noTerm := func(io.Writer) bool { return false }
	env := func(ci string) func(string) string {
		return func(k string) string {
			if k == "CI" {
				return ci
			}
			return ""
		}
	}
	tests := []struct {
		mode   Mode
		isTerm func(io.Writer) bool
		ci     string
		want   Mode
	}{
		{Auto, term, "", Bar},
		{Auto, term, "true", Plain},
		{Auto, noTerm, "", Plain},
		{Bar, noTerm, "true", Bar},
		{Plain, term, "", Plain},
		{None, term, "", None},
	}
	for _, tt := range tests {
		got := Resolve(tt.mode, io.Discard, Options{IsTerminal: tt.isTerm, Getenv: env(tt.ci)})
		if got != tt.want {
			t.Errorf("Resolve(%v, terminal %v, CI=%q) = %v, want %v", tt.mode, tt.isTerm(nil), tt.ci, got, tt.want)
		}
	}
	// A buffer is not a terminal: auto is plain.
	if got := Resolve(Auto, &bytes.Buffer{}, Options{Getenv: env("")}); got != Plain {
		t.Errorf("Resolve(Auto, buffer) = %v, want plain", got)
	}
}

func TestParseMode(t *testing.T) {
	for i, name := range Modes {
		m, err := ParseMode(strings.ToUpper(name))
		if err != nil || m != Mode(i) || m.String() != name {
			t.Errorf("ParseMode(%q) = %v, %v; want %v", name, m, err, Mode(i))
		}
	}
	if _, err := ParseMode("fancy"); err == nil || !strings.Contains(err.Error(), "auto, bar, plain, none") {
		t.Errorf("ParseMode(fancy) error = %v, want one naming the modes", err)
	}
}

func TestNoneAndBar(t *testing.T) {
	var none bytes.Buffer
	r := New(&none, None, Options{})
	r.Start("x", 3)
	r.Done(3)
	r.Close()
	if none.Len() != 0 {
		t.Errorf("none wrote %q", none.String())
	}
	var bar bytes.Buffer
	r = New(&bar, Bar, Options{})
	r.Start("pgd", 3)
	r.Done(2)
	r.Close()
	r.Done(3) // after Close: ignored, no panic
	if !strings.Contains(bar.String(), "pgd") {
		t.Errorf("bar wrote %q, want the step's name", bar.String())
	}
}
