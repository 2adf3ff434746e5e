package format

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/advtest/advtest/pkg/atomicfile"
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
	return atomicfile.WriteFile(path, buf.Bytes())
}
