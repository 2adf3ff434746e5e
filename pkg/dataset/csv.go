package dataset

import (
	"encoding/csv"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
)

// csvTable is a CSV file read as features and labels.
type csvTable struct {
	cols []string // feature column names, in file order
	x    []float32
	y    []int64
	rows int
}

// decodeCSV reads a CSV stream with a header row. The label column is
// chosen by opts.LabelColumn; every other column is a float feature.
func decodeCSV(r io.Reader, name string, comma rune, opts *Options) (*csvTable, error) {
	cr := csv.NewReader(r)
	cr.Comma = comma
	cr.ReuseRecord = true
	cr.TrimLeadingSpace = true
	head, err := cr.Read()
	if err == io.EOF {
		return nil, errf(name, ErrInvalid, "empty file (want a header row, then one row per sample)")
	}
	if err != nil {
		return nil, csvError(name, err)
	}
	names := make([]string, len(head))
	for i, h := range head {
		names[i] = strings.TrimSpace(h)
	}
	names[0] = strings.TrimSpace(strings.TrimPrefix(names[0], "\ufeff"))
	labelCol, err := findColumn(names, opts.labelColumn(), "label")
	if err != nil {
		return nil, errf(name, ErrInvalid, "%v", err)
	}
	skip := map[int]bool{}
	for _, c := range opts.SkipColumns {
		k, err := findColumn(names, c, "skipped")
		if err != nil {
			return nil, errf(name, ErrInvalid, "%v", err)
		}
		if k == labelCol {
			return nil, errf(name, ErrInvalid, "column %q is the label column; it cannot also hold something else (such as attack targets)", names[k])
		}
		skip[k] = true
	}
	t := &csvTable{}
	for i, n := range names {
		if i != labelCol && !skip[i] {
			t.cols = append(t.cols, n)
		}
	}
	if len(t.cols) == 0 && len(skip) == 0 {
		return nil, errf(name, ErrInvalid, "only the label column %q; want at least one feature column", names[labelCol])
	}
	if len(t.cols) == 0 {
		return nil, errf(name, ErrInvalid, "no feature column besides the label column %q and the skipped ones; want at least one", names[labelCol])
	}
	nf := len(t.cols)
	maxElems := opts.maxBytes() / 4
	for opts.Limit <= 0 || t.rows < opts.Limit {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvError(name, err)
		}
		line, _ := cr.FieldPos(0)
		if int64(len(t.x)+nf) > maxElems {
			return nil, errf(name, ErrTooLarge, "more than %d values (%s as float32), over the limit of %s (Options.MaxBytes)",
				maxElems, humanBytes(float64(4*maxElems)), humanBytes(float64(opts.maxBytes())))
		}
		for i, f := range rec {
			f = strings.TrimSpace(f)
			if i == labelCol {
				c, err := parseLabel(f)
				if err != nil {
					return nil, errf(name, ErrInvalid, "line %d, label column %q: %v", line, names[i], err)
				}
				t.y = append(t.y, c)
				continue
			}
			if skip[i] {
				continue
			}
			v, err := strconv.ParseFloat(f, 64)
			if err != nil {
				return nil, errf(name, ErrInvalid, "line %d, column %q: %s is not a number", line, names[i], strconv.Quote(cut(f, 40)))
			}
			if math.IsNaN(v) || math.IsInf(float64(float32(v)), 0) {
				return nil, errf(name, ErrInvalid, "line %d, column %q: %s is not finite (sample %d); data must be finite", line, names[i], f, t.rows)
			}
			t.x = append(t.x, float32(v))
		}
		t.rows++
	}
	return t, nil
}

// findColumn returns the index of a column: the column named want
// (exactly, else ignoring case), else want read as a 0-based index
// (negative counts from the end). what names the column's role in errors
// ("label").
func findColumn(names []string, want, what string) (int, error) {
	for i, n := range names {
		if n == want {
			return i, nil
		}
	}
	for i, n := range names {
		if strings.EqualFold(n, want) {
			return i, nil
		}
	}
	if k, err := strconv.Atoi(want); err == nil {
		if k < 0 {
			k += len(names)
		}
		if k >= 0 && k < len(names) {
			return k, nil
		}
		return 0, errors.New(what + " column index " + want + " is out of range (the header has " + strconv.Itoa(len(names)) + " columns)")
	}
	list := names
	if len(list) > 10 {
		list = append(append([]string(nil), names[:10]...), "...")
	}
	return 0, errors.New("no " + what + " column " + strconv.Quote(want) + " in the header (columns: " + strings.Join(list, ", ") + "); choose one by name or 0-based index")
}

// parseLabel reads a class id: an integer, or a float with no fractional
// part.
func parseLabel(s string) (int64, error) {
	if c, err := strconv.ParseInt(s, 10, 64); err == nil {
		return c, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v != math.Trunc(v) || math.Abs(v) >= maxExactFloat {
		return 0, errors.New(strconv.Quote(cut(s, 40)) + " is not an integer class id")
	}
	return int64(v), nil
}

// csvError describes an encoding/csv error.
func csvError(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			return errf(name, ErrFormat, "line %d: wrong number of fields (want as many as the header has)", pe.Line)
		}
		return errf(name, ErrFormat, "line %d, column %d: %v", pe.Line, pe.Column, pe.Err)
	}
	return errf(name, ErrFormat, "reading CSV: %v", err)
}

// cut shortens s to at most n bytes.
func cut(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
