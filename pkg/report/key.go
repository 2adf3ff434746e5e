package report

import (
	"math"
	"sort"
	"strconv"
	"strings"
)

// Key returns the stable key that identifies an attack across runs: the
// name, followed by the parameters sorted by name in braces, e.g.
// "pgd{eps=0.1,norm=linf,steps=40}", or the bare name when there are no
// parameters. Parameter values that parse as numbers are written in their
// shortest form, so "0.10" and "0.1" give the same key; other values are
// lower-cased and trimmed.
func Key(name string, params map[string]string) string {
	if len(params) == 0 {
		return name
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(canonicalValue(params[k]))
	}
	b.WriteByte('}')
	return b.String()
}

func canonicalValue(v string) string {
	v = strings.TrimSpace(v)
	if f, err := strconv.ParseFloat(v, 64); err == nil && finite(f) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return strings.ToLower(v)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
