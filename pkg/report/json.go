package report

import (
	"encoding/json"
	"io"
)

// writeJSON writes the report as indented JSON. Keys come in the struct's
// field order and maps in sorted key order, so equal reports give equal
// bytes.
func writeJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	n := normalized(r)
	n.timingsToSection()
	return enc.Encode(n)
}
