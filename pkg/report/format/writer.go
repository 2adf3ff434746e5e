package format

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/advtest/advtest/pkg/report"
)

// Writer renders a report in one output format.
type Writer interface {
	// Write renders r to w. It does not modify r.
	Write(w io.Writer, r *report.Report) error
}

// WriterFunc adapts a function to the Writer interface.
type WriterFunc func(w io.Writer, r *report.Report) error

// Write calls f(w, r).
func (f WriterFunc) Write(w io.Writer, r *report.Report) error { return f(w, r) }

var (
	registryMu sync.RWMutex
	registry   = map[string]Writer{}
)

func init() {
	for name, w := range map[string]Writer{
		"table":    WriterFunc(writeTable),
		"json":     WriterFunc(report.WriteJSON),
		"junit":    WriterFunc(writeJUnit),
		"markdown": WriterFunc(writeMarkdown),
	} {
		registry[name] = w
	}
}

// Register makes a format available under name (lower case letters, digits
// and dashes). It refuses an empty or malformed name, a nil Writer, and a
// name already registered.
func Register(name string, w Writer) error {
	if !validFormatName(name) {
		return fmt.Errorf("report: format name %q: want lower-case letters, digits and dashes", name)
	}
	if w == nil {
		return fmt.Errorf("report: format %q: nil Writer", name)
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[name]; dup {
		return fmt.Errorf("report: format %q is already registered", name)
	}
	registry[name] = w
	return nil
}

// Lookup returns the Writer registered under format, or an error that
// lists the known formats.
func Lookup(format string) (Writer, error) {
	registryMu.RLock()
	w, ok := registry[format]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("report: unknown format %q (known: %s)", format, strings.Join(Formats(), ", "))
	}
	return w, nil
}

// Formats returns the registered format names, sorted.
func Formats() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]string, 0, len(registry))
	for k := range registry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func validFormatName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Render writes r to w in the named format.
func Render(w io.Writer, format string, r *report.Report) error {
	if r == nil {
		return errors.New("report: nil report")
	}
	wr, err := Lookup(format)
	if err != nil {
		return err
	}
	return wr.Write(w, r)
}

// WriteFile writes r in the named format to path atomically: it renders
// the whole report first, writes it to a temporary file in path's folder,
// syncs it and renames it over path. On any error path is left as it was
// and the temporary file is removed. The file gets mode 0644.
func WriteFile(path, format string, r *report.Report) error {
	var buf bytes.Buffer
	if err := Render(&buf, format, r); err != nil {
		return err
	}
	return writeAtomic(path, buf.Bytes())
}
