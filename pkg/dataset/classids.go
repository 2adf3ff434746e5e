package dataset

import (
	"bufio"
	"encoding/csv"
	"io"
	"strconv"
	"strings"
)

// LoadClassIDs reads a file of per-sample class ids, such as the targets of
// a targeted attack: a .npy or IDX array of integers of shape (N,) or
// (N, 1), optionally gzip-compressed, or a text file (.txt or .csv) with
// one integer per line (blank lines and lines starting with # are skipped). Every id must lie in
// [0, MaxClassID]. Errors are *FileError values naming the file, the line
// or the entry, and what was expected.
func LoadClassIDs(path string) ([]int, error) {
	in, err := openInput(path)
	if err != nil {
		return nil, err
	}
	defer in.close()
	var ids []int64
	switch in.kind {
	case kindNPY, kindIDX:
		d, err := in.decode(asLabels, &Options{})
		if err != nil {
			return nil, err
		}
		if len(d.shape) == 0 || len(d.shape) > 2 || len(d.shape) == 2 && d.shape[1] != 1 {
			return nil, errf(path, ErrInvalid, "class ids have shape %s; want one id per sample, shape (N,) or (N, 1)", shapeTuple(d.shape))
		}
		ids = d.i
	case kindNPZ:
		return nil, errf(path, ErrFormat, "is a .npz archive; want a .npy, IDX or text file of class ids, one per sample")
	default:
		sc := bufio.NewScanner(in.r)
		for line := 1; sc.Scan(); line++ {
			s := strings.TrimSpace(sc.Text())
			if s == "" || strings.HasPrefix(s, "#") {
				continue
			}
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, errf(path, ErrInvalid, "line %d is %q; want one integer class id per line", line, s)
			}
			ids = append(ids, v)
		}
		if err := sc.Err(); err != nil {
			return nil, errf(path, ErrFormat, "reading: %v", err)
		}
	}
	if _, err := in.finish(); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, errf(path, ErrInvalid, "holds no class ids; want one per sample")
	}
	out := make([]int, len(ids))
	for i, v := range ids {
		if v < 0 || v > MaxClassID {
			return nil, errf(path, ErrInvalid, "entry %d is %d; want a class id in [0, %d]", i, v, MaxClassID)
		}
		out[i] = int(v)
	}
	return out, nil
}

// LoadClassIDColumn reads per-sample class ids from one column of a CSV
// file with a header row (.tsv: tab-separated), such as the targets of a
// targeted attack kept beside the data: column is the column's name
// (exactly, else ignoring case) or its 0-based index. Every id must lie in
// [0, MaxClassID]. Errors are *FileError values naming the file, the
// column and the line, and what was expected.
func LoadClassIDColumn(path, column string) ([]int, error) {
	in, err := openInput(path)
	if err != nil {
		return nil, err
	}
	defer in.close()
	cr := csv.NewReader(in.r)
	if strings.HasSuffix(strings.TrimSuffix(strings.ToLower(path), ".gz"), ".tsv") {
		cr.Comma = '\t'
	}
	cr.ReuseRecord = true
	cr.TrimLeadingSpace = true
	head, err := cr.Read()
	if err == io.EOF {
		return nil, errf(path, ErrInvalid, "empty file; want a header row naming column %q, then one row per sample", column)
	}
	if err != nil {
		return nil, csvError(path, err)
	}
	names := make([]string, len(head))
	for i, h := range head {
		names[i] = strings.TrimSpace(h)
	}
	names[0] = strings.TrimSpace(strings.TrimPrefix(names[0], "\ufeff"))
	col, err := findColumn(names, strings.TrimSpace(column), "label")
	if err != nil {
		return nil, errf(path, ErrInvalid, "class id column: %s", strings.Replace(err.Error(), "label column", "column", 1))
	}
	var out []int
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvError(path, err)
		}
		v, err := parseLabel(strings.TrimSpace(rec[col]))
		if err != nil {
			return nil, errf(path, ErrInvalid, "line %d, column %q: %v", line, names[col], err)
		}
		if v < 0 || v > MaxClassID {
			return nil, errf(path, ErrInvalid, "line %d, column %q: %d; want a class id in [0, %d]", line, names[col], v, MaxClassID)
		}
		out = append(out, int(v))
	}
	if len(out) == 0 {
		return nil, errf(path, ErrInvalid, "column %q holds no class ids; want one row per sample", names[col])
	}
	if _, err := in.finish(); err != nil {
		return nil, err
	}
	return out, nil
}
