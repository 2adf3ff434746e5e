package dataset

import (
	"errors"
	"fmt"
)

// Kinds of error that Load returns, to be tested with errors.Is. Every error
// about a file's content is a *FileError that wraps one of them.
var (
	// ErrFormat: the file is malformed or uses a feature (dtype, version,
	// layout) that the loader does not support.
	ErrFormat = errors.New("malformed or unsupported file")
	// ErrTooLarge: a size declared in the file is over Options.MaxBytes or
	// otherwise absurd.
	ErrTooLarge = errors.New("declared size over the limit")
	// ErrTruncated: the file is shorter than its header declares.
	ErrTruncated = errors.New("file shorter than declared")
	// ErrInvalid: the file is well formed but its content is not a usable
	// dataset (NaN or Inf, labels that are not class ids, lengths that do
	// not match, no samples).
	ErrInvalid = errors.New("invalid dataset")
	// ErrNoLabels: the data file holds no labels and no labels file was
	// given.
	ErrNoLabels = errors.New("labels are missing")
)

// FileError is an error about one file. Its message is the file's path, a
// colon and one line that says what is wrong and what was expected.
type FileError struct {
	// Path is the file the error is about, as given to Load (for a .npz
	// member, the archive followed by the member name).
	Path string
	// Kind is one of ErrFormat, ErrTooLarge, ErrTruncated, ErrInvalid or
	// ErrNoLabels; errors.Is matches it.
	Kind error
	// Msg says what is wrong.
	Msg string
}

// Error returns "path: message".
func (e *FileError) Error() string { return e.Path + ": " + e.Msg }

// Unwrap returns the error's kind.
func (e *FileError) Unwrap() error { return e.Kind }

func errf(path string, kind error, format string, args ...any) error {
	return &FileError{Path: path, Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// humanBytes formats n bytes as e.g. "4 GiB" or "1.5 MiB".
func humanBytes(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	if n == float64(int64(n)) {
		return fmt.Sprintf("%d %s", int64(n), units[i])
	}
	return fmt.Sprintf("%.3g %s", n, units[i])
}
