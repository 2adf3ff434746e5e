package dataset

import (
	"archive/zip"
	"bytes"
	"io"
	"strings"
)

// npzArrays holds the arrays a .npz archive contributes: x, and y when the
// archive has labels.
type npzArrays struct {
	x, y         *decoded
	xName, yName string // member names, for errors
}

// decodeNPZ reads the samples (and, when wantY, the labels) from a .npz
// archive of size bytes: members x and y (x.npy, y.npy), else the first two
// .npy members in archive order. Members are never inflated past what their
// NPY headers declare, and a member whose declared uncompressed size is over
// the limit is refused unopened.
func decodeNPZ(ra io.ReaderAt, size int64, name string, wantY bool, opts *Options) (*npzArrays, error) {
	zr, err := zip.NewReader(ra, size)
	if err != nil {
		return nil, errf(name, ErrFormat, "not a readable .npz (zip) archive: %v", err)
	}
	var members []*zip.File
	var x, y *zip.File
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/") {
			continue // a folder entry
		}
		members = append(members, f)
		switch strings.TrimSuffix(f.Name, ".npy") {
		case "x":
			x = firstOf(x, f)
		case "y":
			y = firstOf(y, f)
		}
	}
	if x == nil || (wantY && y == nil) {
		x, y = nil, nil
		if len(members) > 0 {
			x = members[0]
		}
		if len(members) > 1 {
			y = members[1]
		}
	}
	if x == nil {
		return nil, errf(name, ErrInvalid, "the archive holds no arrays (want members x.npy and y.npy)")
	}
	out := &npzArrays{xName: name + ": " + x.Name}
	if out.x, err = decodeNPZMember(x, out.xName, asData, opts); err != nil {
		return nil, err
	}
	if wantY {
		if y == nil {
			return nil, errf(name, ErrNoLabels, "the archive holds one array, %s; want the labels as a second array y (or pass a labels file)", x.Name)
		}
		out.yName = name + ": " + y.Name
		if out.y, err = decodeNPZMember(y, out.yName, asLabels, opts); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// firstOf keeps the first of several members with the same name.
func firstOf(prev, f *zip.File) *zip.File {
	if prev != nil {
		return prev
	}
	return f
}

// decodeNPZMember reads one .npy member of an archive.
func decodeNPZMember(f *zip.File, name string, t target, opts *Options) (*decoded, error) {
	// The biggest member that can hold an array within the limit: every
	// element at most 8 bytes, i.e. twice its float32 size, plus a header.
	maxMember := 2*opts.maxBytes() + maxNPYHeader + 16
	if f.UncompressedSize64 > uint64(maxMember) {
		return nil, errf(name, ErrTooLarge, "member declares %s uncompressed, over the limit of %s (Options.MaxBytes)",
			humanBytes(float64(f.UncompressedSize64)), humanBytes(float64(maxMember)))
	}
	rc, err := f.Open()
	if err != nil {
		return nil, errf(name, ErrFormat, "cannot open the member: %v", err)
	}
	defer rc.Close()
	// archive/zip itself fails a member that inflates past its declared
	// size; the LimitReader bounds it again, and readBody reads no more
	// than the NPY header declares.
	r := io.LimitReader(rc, maxMember)
	var peek [6]byte
	n, _ := io.ReadFull(r, peek[:])
	if string(peek[:n]) != npyMagic {
		return nil, errf(name, ErrFormat, "member is not an NPY array (want the magic %q)", npyMagic)
	}
	return decodeNPY(io.MultiReader(bytes.NewReader(peek[:n]), r), name, int64(f.UncompressedSize64), false, false, t, opts)
}
