package dataset

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// npyMagic starts every NPY file.
const npyMagic = "\x93NUMPY"

// maxNPYHeader bounds the header length an NPY file may declare. numpy
// itself refuses headers over 10000 bytes by default.
const maxNPYHeader = 1 << 20

// readNPYHeader reads an NPY preamble and header from r (format versions
// 1.0, 2.0 and 3.0) and returns the array description and the number of
// bytes read.
func readNPYHeader(r io.Reader, name string) (arrayHeader, int64, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return arrayHeader{}, 0, errf(name, ErrTruncated, "truncated: too short for an NPY preamble (want %q, a version and a header length)", npyMagic)
	}
	if string(pre[:6]) != npyMagic {
		return arrayHeader{}, 0, errf(name, ErrFormat, "not an NPY file (want the magic %q)", npyMagic)
	}
	major, minor := pre[6], pre[7]
	var hlen int64
	read := int64(8)
	switch {
	case major == 1 && minor == 0:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return arrayHeader{}, 0, errf(name, ErrTruncated, "truncated: NPY preamble ends before the header length")
		}
		hlen = int64(binary.LittleEndian.Uint16(b[:]))
		read += 2
	case (major == 2 || major == 3) && minor == 0:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return arrayHeader{}, 0, errf(name, ErrTruncated, "truncated: NPY preamble ends before the header length")
		}
		hlen = int64(binary.LittleEndian.Uint32(b[:]))
		read += 4
	default:
		return arrayHeader{}, 0, errf(name, ErrFormat, "NPY format version %d.%d is not supported (want 1.0, 2.0 or 3.0)", major, minor)
	}
	if hlen > maxNPYHeader {
		return arrayHeader{}, 0, errf(name, ErrTooLarge, "NPY header declares %d bytes, over the limit of %d", hlen, maxNPYHeader)
	}
	hdr, err := io.ReadAll(io.LimitReader(r, hlen))
	if err != nil {
		return arrayHeader{}, 0, errf(name, ErrFormat, "reading the NPY header: %v", err)
	}
	if int64(len(hdr)) < hlen {
		return arrayHeader{}, 0, errf(name, ErrTruncated, "truncated: NPY header declares %d bytes, the file ends after %d", hlen, len(hdr))
	}
	read += hlen
	h, err := parseNPYDict(string(hdr))
	var de descrError
	if errors.As(err, &de) {
		return arrayHeader{}, 0, errf(name, ErrFormat, "%v", err)
	}
	if err != nil {
		return arrayHeader{}, 0, errf(name, ErrFormat, "NPY header %s: %v", quoteShort(string(hdr)), err)
	}
	if !h.dt.valid() {
		// parseNPYDict has already refused it; kept as a guard.
		return arrayHeader{}, 0, errf(name, ErrFormat, "dtype is not supported (want %s)", supportedDtypes)
	}
	return h, read, nil
}

// quoteShort quotes s, cut to 80 characters.
func quoteShort(s string) string {
	s = strings.TrimRight(s, " \n\x00")
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return strconv.Quote(s)
}

// descrError is returned for an unsupported dtype, so that its message can
// quote the descr as written.
type descrError struct{ descr string }

func (e descrError) Error() string {
	return fmt.Sprintf("dtype %q is not supported (want %s)", e.descr, supportedDtypes)
}

// parseDescr turns a numpy type string such as "<f4" into a dtype.
func parseDescr(s string) (dtype, error) {
	if len(s) < 2 {
		return dtype{}, descrError{s}
	}
	bo := s[0]
	rest := s[1:]
	if bo != '<' && bo != '>' && bo != '=' && bo != '|' {
		bo, rest = '=', s
	}
	if len(rest) != 2 || rest[1] < '1' || rest[1] > '8' {
		return dtype{}, descrError{s}
	}
	d := dtype{kind: rest[0], size: int(rest[1] - '0'), big: bo == '>'}
	if d.kind == 'b' && d.size == 1 || d.kind == 'u' && d.size == 1 || d.kind == 'i' && d.size == 1 {
		d.big = false
	}
	if !d.valid() {
		return dtype{}, descrError{s}
	}
	// '|' means "byte order not applicable": only for one-byte types.
	if bo == '|' && d.size != 1 {
		return dtype{}, descrError{s}
	}
	return d, nil
}

// parseNPYDict parses the Python dict literal of an NPY header, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }.
func parseNPYDict(s string) (arrayHeader, error) {
	p := &pyParser{s: s}
	p.space()
	if !p.eat('{') {
		return arrayHeader{}, fmt.Errorf("want a dict literal starting with '{'")
	}
	var h arrayHeader
	seen := map[string]bool{}
	for {
		p.space()
		if p.eat('}') {
			break
		}
		key, err := p.str()
		if err != nil {
			return arrayHeader{}, fmt.Errorf("dict key: %v", err)
		}
		if seen[key] {
			return arrayHeader{}, fmt.Errorf("key %q appears twice", key)
		}
		seen[key] = true
		p.space()
		if !p.eat(':') {
			return arrayHeader{}, fmt.Errorf("want ':' after key %q", key)
		}
		p.space()
		switch key {
		case "descr":
			if p.peek() == '[' {
				return arrayHeader{}, fmt.Errorf("structured dtypes (descr is a list) are not supported (want %s)", supportedDtypes)
			}
			d, err := p.str()
			if err != nil {
				return arrayHeader{}, fmt.Errorf("descr: %v", err)
			}
			if h.dt, err = parseDescr(d); err != nil {
				return arrayHeader{}, err
			}
		case "fortran_order":
			switch {
			case p.word("True"):
				h.fortran = true
			case p.word("False"):
				h.fortran = false
			default:
				return arrayHeader{}, fmt.Errorf("fortran_order: want True or False")
			}
		case "shape":
			if h.shape, err = p.tuple(); err != nil {
				return arrayHeader{}, fmt.Errorf("shape: %v", err)
			}
		default:
			return arrayHeader{}, fmt.Errorf("unexpected key %q (want descr, fortran_order and shape)", key)
		}
		p.space()
		if p.eat(',') {
			continue
		}
		p.space()
		if !p.eat('}') {
			return arrayHeader{}, fmt.Errorf("want ',' or '}' after the value of %q", key)
		}
		break
	}
	if strings.Trim(p.s[p.i:], " \t\r\n\x00") != "" {
		return arrayHeader{}, fmt.Errorf("unexpected text after the dict")
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return arrayHeader{}, fmt.Errorf("key %q is missing", k)
		}
	}
	return h, nil
}

// pyParser reads the few Python literals that NPY headers use.
type pyParser struct {
	s string
	i int
}

func (p *pyParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *pyParser) space() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *pyParser) eat(c byte) bool {
	if p.peek() == c {
		p.i++
		return true
	}
	return false
}

func (p *pyParser) word(w string) bool {
	if strings.HasPrefix(p.s[p.i:], w) {
		p.i += len(w)
		return true
	}
	return false
}

// str reads a quoted string without escapes.
func (p *pyParser) str() (string, error) {
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", fmt.Errorf("want a quoted string")
	}
	j := strings.IndexByte(p.s[p.i+1:], q)
	if j < 0 {
		return "", fmt.Errorf("unterminated string")
	}
	v := p.s[p.i+1 : p.i+1+j]
	if strings.IndexByte(v, '\\') >= 0 {
		return "", fmt.Errorf("escapes in strings are not supported")
	}
	p.i += j + 2
	return v, nil
}

// tuple reads a tuple of non-negative integers: (), (3,) or (3, 4).
func (p *pyParser) tuple() ([]int, error) {
	if !p.eat('(') {
		return nil, fmt.Errorf("want a tuple of integers")
	}
	shape := []int{}
	for {
		p.space()
		if p.eat(')') {
			return shape, nil
		}
		start := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		if p.i == start {
			return nil, fmt.Errorf("want a non-negative integer")
		}
		v, err := strconv.ParseInt(p.s[start:p.i], 10, 64)
		if err != nil || v > 1<<53 {
			return nil, fmt.Errorf("dimension %s is absurdly large", p.s[start:p.i])
		}
		p.eat('L') // Python 2 long literals
		shape = append(shape, int(v))
		if len(shape) > maxRank {
			return nil, fmt.Errorf("more than %d dimensions", maxRank)
		}
		p.space()
		if p.eat(',') {
			continue
		}
		p.space()
		if p.eat(')') {
			return shape, nil
		}
		return nil, fmt.Errorf("want ',' or ')' in the tuple")
	}
}

// decodeNPY reads a whole NPY stream. size is the number of bytes in r, or
// -1 when unknown.
func decodeNPY(r io.Reader, name string, size int64, trusted, drain bool, t target, opts *Options) (*decoded, error) {
	h, n, err := readNPYHeader(r, name)
	if err != nil {
		return nil, err
	}
	avail := int64(-1)
	if size >= 0 {
		avail = max(size-n, 0)
	}
	return readBody(source{name: name, r: r, avail: avail, trusted: trusted, drain: drain}, h, t, opts)
}
