package report

import (
	"encoding/json"
	"io"
)

// WriteJSON writes the report as indented JSON. Keys come in the struct's
// field order and maps in sorted key order, so equal reports give equal
// bytes.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	n := r.Normalized()
	n.timingsToSection()
	return enc.Encode(n)
}
