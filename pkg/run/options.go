package run

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/advtest/advtest/pkg/config"
)

// The errors a command maps to exit codes; every other error is a usage,
// config or input error (exit code 2).
var (
	// ErrGateFailed: the run finished, its report is written, and a gate
	// failed (exit code 1).
	ErrGateFailed = errors.New("a gate failed")
	// ErrInterrupted: the context was cancelled; whatever report could be
	// written is written and marked incomplete (exit code 130).
	ErrInterrupted = errors.New("interrupted")
)

// Options configure Attack and Harden: the resolved plan and what the
// command line adds to it.
type Options struct {
	// Plan is the validated plan (config file, environment and flags).
	Plan *config.Plan
	// ToolVersion goes into the report.
	ToolVersion string
	// MaxMemory bounds what a data file may make advtest allocate
	// (dataset.Options.MaxBytes); 0 means no bound beyond the loader's.
	MaxMemory int64
	// Target, when URL is set, attacks a deployed model instead of
	// Plan.Model (Attack only).
	Target Target
	// Shard, when Count > 0, keeps the Index-th of Count contiguous blocks
	// of samples (Attack only).
	Shard Shard
	// Stdout and Stderr receive the reports written to "stdout"/"-"/"" and
	// "stderr", harden's round lines, and warnings (Stderr).
	Stdout, Stderr io.Writer
	// Progress, when not nil, makes a progress display (one per phase);
	// nil shows none.
	Progress func() Progress
}

// Target is a remote model served over the Open Inference Protocol.
type Target struct {
	// URL is the endpoint's infer URL; empty for a model file.
	URL string
	// QPS limits requests per second (0: no limit).
	QPS float64
	// MaxQueries is the run's budget of samples sent (0: none).
	MaxQueries int64
	// Timeout bounds one request (0: the client's default).
	Timeout time.Duration
}

// Shard is one of Count contiguous blocks of the samples.
type Shard struct {
	Index, Count int
	// Spec is how it was written ("i/n"), recorded in the report's config.
	Spec string
}

// ParseShard parses --shard's "i/n" (0 <= i < n); "" is no shard.
func ParseShard(spec string) (Shard, error) {
	if spec == "" {
		return Shard{}, nil
	}
	var s Shard
	if _, err := fmt.Sscanf(spec, "%d/%d", &s.Index, &s.Count); err != nil || s.Count < 1 || s.Index < 0 || s.Index >= s.Count || fmt.Sprintf("%d/%d", s.Index, s.Count) != spec {
		return Shard{}, fmt.Errorf("--shard %q: want i/n with 0 <= i < n, e.g. 0/4", spec)
	}
	s.Spec = spec
	return s, nil
}

// Progress shows how far a phase is: attack batches, training batches,
// sanity checks.
type Progress interface {
	// Update says that step done of total of the phase named name (the
	// index-th of its kind) is done.
	Update(index int, name string, done, total int)
	// Finish ends the display.
	Finish()
}

type noProgress struct{}

func (noProgress) Update(int, string, int, int) {}
func (noProgress) Finish()                      {}

func (o *Options) progress() Progress {
	if o.Progress == nil {
		return noProgress{}
	}
	return o.Progress()
}

func (o *Options) warn(msg string) {
	if o.Stderr != nil {
		io.WriteString(o.Stderr, "advtest: warning: "+msg+"\n")
	}
}
