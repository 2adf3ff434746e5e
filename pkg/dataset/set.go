package dataset

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/advtest/advtest/pkg/tensor"
)

// DefaultMaxBytes is the default Options.MaxBytes: 4 GiB of float32.
const DefaultMaxBytes int64 = 4 << 30

// MaxClassID is the largest class id a label may hold. A larger one is taken
// as a sign of a wrong file (pixels read as labels, say) and refused.
const MaxClassID = 1<<20 - 1

// Options tunes Load. The zero value reads the whole file with the default
// limits.
type Options struct {
	// LabelColumn chooses the CSV label column: a column name (matched
	// exactly, else ignoring case) or a 0-based index (negative counts from
	// the end). Empty means "label".
	LabelColumn string
	// SkipColumns names CSV columns (by name or 0-based index, as
	// LabelColumn) that are neither features nor the label, e.g. the
	// per-sample target classes of a targeted attack (target=label:<column>).
	// Each must exist; none may be the label column. Other formats ignore it.
	SkipColumns []string
	// MaxBytes bounds the memory any one array may take as float32 (4 bytes
	// an element). Sizes declared in a file are checked against it before
	// anything is allocated. 0 means DefaultMaxBytes.
	MaxBytes int64
	// Limit keeps only the first Limit samples (0 keeps all). The rest of
	// the file is still read to check its length and compute its hash, but
	// not kept.
	Limit int
	// SampleShape, when set, views every sample with this shape, e.g.
	// [1 28 28] for IDX images of shape [28 28]. It must have as many
	// elements as a sample has.
	SampleShape []int
	// NoScale keeps uint8 data as 0..255 instead of dividing it by 255.
	NoScale bool
	// Images configures image folders (resize, crop, channel order); its
	// Limit and MaxBytes are taken from the fields above.
	Images ImageOptions
}

func (o *Options) maxBytes() int64 {
	if o.MaxBytes <= 0 {
		return DefaultMaxBytes
	}
	return o.MaxBytes
}

func (o *Options) labelColumn() string {
	if o.LabelColumn == "" {
		return "label"
	}
	return o.LabelColumn
}

// Set is a labelled dataset in input space.
type Set struct {
	// X holds the samples: a float32 tensor [N, ...], one row per sample,
	// in input space (image pixels in [0, 1]). Every element is finite.
	X *tensor.Tensor
	// Y holds one class id per sample, each in [0, MaxClassID].
	Y []int
	// Path is the data file, as given to Load.
	Path string
	// LabelsPath is the labels file, or "" when the labels came from Path
	// (.npz, CSV).
	LabelsPath string
	// Format names the data file's format: "npy", "npz", "idx" or "csv",
	// with a ".gz" suffix when the file was gzip-compressed.
	Format string
	// DataSHA256 and LabelsSHA256 are the hex SHA-256 digests of the bytes
	// of Path and LabelsPath as they were read (LabelsSHA256 is "" when
	// LabelsPath is).
	DataSHA256, LabelsSHA256 string
	// Columns names the features of a CSV dataset, in order; nil otherwise.
	Columns []string
	// Index gives, for each sample, its position in the file; nil means
	// sample i is the file's sample i. Subset and Shard set it.
	Index []int
}

// Load reads a dataset: the samples from dataPath and the labels from
// labelsPath, or from dataPath itself when it holds both (.npz, CSV), in
// which case labelsPath may be "" (a labels file given with a .npz replaces
// its labels; with a CSV it is an error). The format is recognised by the
// file's magic bytes (.npy, zip for .npz, IDX, gzip around any of .npy, IDX
// or CSV), else by a .csv, .tsv or .txt extension (.tsv is tab-separated).
// An error about a file's content is a *FileError naming the file; a file
// that cannot be opened gives the *fs.PathError from os.Open, wrapped.
func Load(dataPath, labelsPath string, opts Options) (*Set, error) {
	if opts.Limit < 0 {
		return nil, fmt.Errorf("dataset: limit %d is negative (want 0 for all samples, or n > 0)", opts.Limit)
	}
	if st, err := os.Stat(dataPath); err == nil && st.IsDir() {
		// An image folder: one subfolder per class.
		if labelsPath != "" {
			return nil, errf(labelsPath, ErrInvalid, "an image folder takes its labels from its class subfolders; do not pass a labels file with %s", dataPath)
		}
		img := opts.Images
		img.Limit, img.MaxBytes = opts.Limit, opts.MaxBytes
		return LoadImageFolder(dataPath, img)
	}
	in, err := openInput(dataPath)
	if err != nil {
		return nil, err
	}
	defer in.close()
	s := &Set{Path: dataPath, LabelsPath: labelsPath, Format: in.format()}
	var x, y *decoded
	yName := labelsPath
	switch in.kind {
	case kindNPZ:
		a, err := decodeNPZ(in.f, in.size, dataPath, labelsPath == "", &opts)
		if err != nil {
			return nil, err
		}
		x, y, yName = a.x, a.y, a.yName
	case kindCSV:
		if labelsPath != "" {
			return nil, errf(labelsPath, ErrInvalid, "a CSV dataset takes its labels from its label column; do not pass a labels file with %s", dataPath)
		}
		comma := ','
		if strings.EqualFold(filepath.Ext(strings.TrimSuffix(dataPath, ".gz")), ".tsv") {
			comma = '\t'
		}
		t, err := decodeCSV(in.r, dataPath, comma, &opts)
		if err != nil {
			return nil, err
		}
		if t.rows == 0 {
			return nil, errf(dataPath, ErrInvalid, "no samples (the file has a header row and no data rows)")
		}
		x = &decoded{shape: []int{t.rows, len(t.cols)}, rows: t.rows, f: t.x}
		y = &decoded{shape: []int{t.rows}, rows: t.rows, i: t.y}
		s.Columns = t.cols
		yName = dataPath
	default:
		if x, err = in.decode(asData, &opts); err != nil {
			return nil, err
		}
	}
	if s.DataSHA256, err = in.finish(); err != nil {
		return nil, err
	}
	if y == nil {
		if labelsPath == "" {
			return nil, errf(dataPath, ErrNoLabels, "holds only the samples; pass the labels file with --labels (a .npy or IDX file of class ids, one per sample)")
		}
		lin, err := openInput(labelsPath)
		if err != nil {
			return nil, err
		}
		defer lin.close()
		if lin.kind != kindNPY && lin.kind != kindIDX {
			return nil, errf(labelsPath, ErrFormat, "a labels file must be .npy or IDX (found %s)", lin.format())
		}
		if y, err = lin.decode(asLabels, &opts); err != nil {
			return nil, err
		}
		if s.LabelsSHA256, err = lin.finish(); err != nil {
			return nil, err
		}
	}
	if err := s.fill(x, y, yName, &opts); err != nil {
		return nil, err
	}
	return s, nil
}

// fill validates x and y and stores them in s.
func (s *Set) fill(x, y *decoded, yName string, opts *Options) error {
	xName := s.Path
	if len(x.shape) < 1 || x.shape[0] == 0 {
		return errf(xName, ErrInvalid, "no samples (shape %s)", shapeTuple(x.shape))
	}
	if len(y.shape) == 0 {
		return errf(yName, ErrInvalid, "labels are a scalar; want one class id per sample, shape (N,)")
	}
	if len(y.shape) > 2 || len(y.shape) == 2 && y.shape[1] != 1 {
		return errf(yName, ErrInvalid, "labels have shape %s; want one class id per sample, shape (N,) or (N, 1)", shapeTuple(y.shape))
	}
	if x.shape[0] != y.shape[0] {
		yDesc := yName
		if m, ok := strings.CutPrefix(yName, xName+": "); ok {
			yDesc = "its member " + m
		}
		return errf(xName, ErrInvalid, "%d samples, but %s has %d labels; want one label per sample", x.shape[0], yDesc, y.shape[0])
	}
	per := 1
	for _, d := range x.shape[1:] {
		per *= d
	}
	if per == 0 {
		return errf(xName, ErrInvalid, "samples have no elements (shape %s)", shapeTuple(x.shape))
	}
	for i, v := range x.f {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return errf(xName, ErrInvalid, "sample %d (element %d) is %v; data must be finite", i/per, i, v)
		}
	}
	s.Y = make([]int, len(y.i))
	for i, c := range y.i {
		if c < 0 || c > MaxClassID {
			what := "negative"
			if c > 0 {
				what = fmt.Sprintf("over the largest class id allowed, %d", MaxClassID)
			}
			return errf(yName, ErrInvalid, "label %d is %d, %s; want class ids 0, 1, 2, ...", i, c, what)
		}
		s.Y[i] = int(c)
	}
	shape := x.keptShape()
	if opts.SampleShape != nil {
		if tensor.Numel(opts.SampleShape) != per || slices.ContainsFunc(opts.SampleShape, func(d int) bool { return d <= 0 }) {
			return errf(xName, ErrInvalid, "samples of shape %v cannot be viewed as %v (want the same number of elements, %d)",
				x.shape[1:], opts.SampleShape, per)
		}
		shape = append([]int{x.rows}, opts.SampleShape...)
	}
	s.X = tensor.FromFloat32(x.f, shape...)
	return nil
}

// Len returns the number of samples.
func (s *Set) Len() int { return len(s.Y) }

// SampleShape returns the shape of one sample (X's shape without its first
// dimension). The slice is s.X's; do not modify it.
func (s *Set) SampleShape() []int { return s.X.Shape[1:] }

// NumClasses returns the number of classes the labels imply: the largest
// label plus one (0 for an empty set). A model may have more classes than
// the data shows.
func (s *Set) NumClasses() int { return NumClasses(s.Y) }

// NumClasses returns the largest of y plus one, or 0 when y is empty.
func NumClasses(y []int) int {
	n := 0
	for _, c := range y {
		if c+1 > n {
			n = c + 1
		}
	}
	return n
}

// Hash identifies the source files for reports: the hex SHA-256 of the data
// file when the labels came from it, else the hex SHA-256 of the text
// "<DataSHA256>\n<LabelsSHA256>\n". It covers the whole files, whatever
// Options.Limit, Subset or Shard kept.
func (s *Set) Hash() string { return combinedHash(s.DataSHA256, s.LabelsSHA256) }

// Batch returns samples lo..hi-1: a tensor [hi-lo, ...] that shares X's
// memory (writing to it writes to X) and the matching labels (sharing Y). It
// panics unless 0 <= lo <= hi <= Len().
func (s *Set) Batch(lo, hi int) (*tensor.Tensor, []int) {
	if lo < 0 || hi < lo || hi > s.Len() {
		panic(fmt.Sprintf("dataset: batch [%d, %d) out of range [0, %d)", lo, hi, s.Len()))
	}
	per := tensor.Numel(s.X.Shape[1:])
	shape := append([]int{hi - lo}, s.X.Shape[1:]...)
	return tensor.FromFloat32(s.X.F[lo*per:hi*per:hi*per], shape...), s.Y[lo:hi:hi]
}

// Subset returns a new Set holding copies of the samples at the given
// positions, in that order (repeats allowed). It fails if a position is out
// of range or there are none.
func (s *Set) Subset(indices []int) (*Set, error) {
	if len(indices) == 0 {
		return nil, fmt.Errorf("dataset: empty subset of %s", s.Path)
	}
	per := tensor.Numel(s.X.Shape[1:])
	x := make([]float32, 0, len(indices)*per)
	y := make([]int, len(indices))
	index := make([]int, len(indices))
	for j, i := range indices {
		if i < 0 || i >= s.Len() {
			return nil, fmt.Errorf("dataset: sample %d out of range: %s has %d samples", i, s.Path, s.Len())
		}
		x = append(x, s.X.F[i*per:(i+1)*per]...)
		y[j] = s.Y[i]
		index[j] = s.origin(i)
	}
	c := s.derived()
	c.X = tensor.FromFloat32(x, append([]int{len(indices)}, s.X.Shape[1:]...)...)
	c.Y = y
	c.Index = index
	return c, nil
}

// Shard returns part i of n (0 <= i < n) of the set: a contiguous block of
// samples, [i*N/n, (i+1)*N/n), so that the n shards partition the set in
// order and differ in size by at most one. The shard shares X's and Y's
// memory. It fails when i or n is out of range or n > Len().
func (s *Set) Shard(i, n int) (*Set, error) {
	if n < 1 || i < 0 || i >= n {
		return nil, fmt.Errorf("dataset: shard %d of %d: want 0 <= shard < count", i, n)
	}
	if n > s.Len() {
		return nil, fmt.Errorf("dataset: %d shards of %d samples would leave some empty", n, s.Len())
	}
	lo, hi := i*s.Len()/n, (i+1)*s.Len()/n
	c := s.derived()
	c.X, c.Y = s.Batch(lo, hi)
	c.Index = make([]int, hi-lo)
	for k := range c.Index {
		c.Index[k] = s.origin(lo + k)
	}
	return c, nil
}

// origin returns the file position of sample i.
func (s *Set) origin(i int) int {
	if s.Index == nil {
		return i
	}
	return s.Index[i]
}

// derived returns a copy of s's description, without data.
func (s *Set) derived() *Set {
	return &Set{Path: s.Path, LabelsPath: s.LabelsPath, Format: s.Format,
		DataSHA256: s.DataSHA256, LabelsSHA256: s.LabelsSHA256, Columns: s.Columns}
}

// Kinds of input file.
const (
	kindUnknown = iota
	kindNPY
	kindNPZ
	kindIDX
	kindCSV
)

// input is an open data file: every byte read from it passes through the
// hash once.
type input struct {
	path string
	f    *os.File
	size int64
	h    hash.Hash
	raw  io.Reader     // f, teed into h
	rb   *bufio.Reader // over raw
	r    *bufio.Reader // the content: rb, or a gunzipping reader over it
	gz   bool
	kind int
}

// openInput opens path and recognises its format.
func openInput(path string) (*input, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("dataset: %w", err)
	}
	if st.IsDir() {
		f.Close()
		return nil, errf(path, ErrFormat, "is a folder (want a .npy, .npz, IDX or CSV file)")
	}
	in := &input{path: path, f: f, size: st.Size(), h: sha256.New()}
	in.raw = io.TeeReader(f, in.h)
	in.rb = bufio.NewReaderSize(in.raw, 64<<10)
	in.r = in.rb
	magic, _ := in.rb.Peek(8)
	if len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(in.rb)
		if err != nil {
			f.Close()
			return nil, errf(path, ErrFormat, "bad gzip stream: %v", err)
		}
		in.gz = true
		in.r = bufio.NewReaderSize(zr, 64<<10)
		magic, _ = in.r.Peek(8)
	}
	ext := strings.ToLower(filepath.Ext(strings.TrimSuffix(strings.ToLower(path), ".gz")))
	switch {
	case strings.HasPrefix(string(magic), npyMagic):
		in.kind = kindNPY
	case strings.HasPrefix(string(magic), "PK\x03\x04") || strings.HasPrefix(string(magic), "PK\x05\x06"):
		in.kind = kindNPZ
		if in.gz {
			f.Close()
			return nil, errf(path, ErrFormat, "a gzip-compressed zip archive is not supported (want a plain .npz)")
		}
	case isIDX(magic):
		in.kind = kindIDX
	case ext == ".csv" || ext == ".tsv" || ext == ".txt":
		in.kind = kindCSV
	default:
		f.Close()
		return nil, errf(path, ErrFormat, "unrecognised format (want .npy, .npz, IDX, IDX.gz or .csv with a header row)")
	}
	return in, nil
}

// format names the file's format for Set.Format.
func (in *input) format() string {
	name := map[int]string{kindNPY: "npy", kindNPZ: "npz", kindIDX: "idx", kindCSV: "csv"}[in.kind]
	if in.gz {
		name += ".gz"
	}
	return name
}

// decode reads the single array of a .npy or IDX file.
func (in *input) decode(t target, opts *Options) (*decoded, error) {
	size := in.size
	if in.gz {
		size = -1
	}
	decode := decodeNPY
	if in.kind == kindIDX {
		decode = decodeIDX
	}
	d, err := decode(in.r, in.path, size, !in.gz, true, t, opts)
	if err != nil || !in.gz {
		return d, err
	}
	// Read a gzip stream to its end, so that its checksum is verified, unless
	// more than gzipSlack bytes follow the array (ignored, as trailing bytes
	// in a plain file are).
	if _, err := io.Copy(io.Discard, io.LimitReader(in.r, gzipSlack)); err != nil {
		return nil, errf(in.path, ErrFormat, "reading the gzip stream after the data: %v", err)
	}
	return d, nil
}

// gzipSlack bounds the bytes read after the array in a gzip stream.
const gzipSlack = 1 << 20

// finish reads the rest of the file into the hash and returns its hex
// digest.
func (in *input) finish() (string, error) {
	if _, err := io.Copy(io.Discard, in.rb); err != nil {
		return "", fmt.Errorf("dataset: reading %s: %w", in.path, err)
	}
	return hex.EncodeToString(in.h.Sum(nil)), nil
}

func (in *input) close() { in.f.Close() }
