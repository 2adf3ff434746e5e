package dataset

import (
	"encoding/binary"
	"io"
)

// idxTypes maps the IDX type byte (the third byte of the magic number) to
// its element type. IDX data is big-endian.
var idxTypes = map[byte]dtype{
	0x08: dtU8,
	0x09: dtI8,
	0x0B: {kind: 'i', size: 2, big: true},
	0x0C: {kind: 'i', size: 4, big: true},
	0x0D: {kind: 'f', size: 4, big: true},
	0x0E: {kind: 'f', size: 8, big: true},
}

// isIDX reports whether b starts like an IDX file: two zero bytes, a known
// type byte and a rank from 1 to maxRank.
func isIDX(b []byte) bool {
	if len(b) < 4 || b[0] != 0 || b[1] != 0 {
		return false
	}
	_, ok := idxTypes[b[2]]
	return ok && b[3] >= 1 && b[3] <= maxRank
}

// readIDXHeader reads an IDX magic number and its dimensions (big-endian
// uint32 each) from r, returning the array description and the bytes read.
func readIDXHeader(r io.Reader, name string) (arrayHeader, int64, error) {
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return arrayHeader{}, 0, errf(name, ErrTruncated, "truncated: too short for an IDX magic number")
	}
	if magic[0] != 0 || magic[1] != 0 {
		return arrayHeader{}, 0, errf(name, ErrFormat, "not an IDX file (want a magic number starting with two zero bytes)")
	}
	dt, ok := idxTypes[magic[2]]
	if !ok {
		return arrayHeader{}, 0, errf(name, ErrFormat, "IDX type 0x%02x is not supported (want 0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int, 0x0D float or 0x0E double)", magic[2])
	}
	rank := int(magic[3])
	if rank < 1 || rank > maxRank {
		return arrayHeader{}, 0, errf(name, ErrFormat, "IDX rank %d is not supported (want 1 to %d dimensions)", rank, maxRank)
	}
	dims := make([]byte, 4*rank)
	if _, err := io.ReadFull(r, dims); err != nil {
		return arrayHeader{}, 0, errf(name, ErrTruncated, "truncated: the file ends inside the %d IDX dimensions", rank)
	}
	shape := make([]int, rank)
	for i := range shape {
		shape[i] = int(binary.BigEndian.Uint32(dims[4*i:]))
	}
	return arrayHeader{dt: dt, shape: shape}, int64(4 + 4*rank), nil
}

// decodeIDX reads a whole IDX stream. size is the number of bytes in r, or
// -1 when unknown.
func decodeIDX(r io.Reader, name string, size int64, trusted, drain bool, t target, opts *Options) (*decoded, error) {
	h, n, err := readIDXHeader(r, name)
	if err != nil {
		return nil, err
	}
	avail := int64(-1)
	if size >= 0 {
		avail = max(size-n, 0)
	}
	return readBody(source{name: name, r: r, avail: avail, trusted: trusted, drain: drain}, h, t, opts)
}
