package dataset

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"os"
	"slices"

	"github.com/advtest/advtest/pkg/tensor"
)

// Stream is a dataset opened for reading batch by batch: the labels are in
// memory, the samples are read from disk by ReadBatch, so that memory
// follows the batch, not the dataset. It implements Source and is safe for
// concurrent use.
//
// Open streams image folders (decoded per batch) and plain, C-ordered .npy
// and IDX files (read by offset). Other inputs — gzip-compressed files,
// .npz archives, Fortran-ordered arrays and CSV — are read whole into
// memory, bounded by Options.MaxBytes, and served from there; Streamed
// tells which. For a streamed input Options.MaxBytes bounds one sample,
// not the set: the set's size does not count against it.
type Stream struct {
	// Path, LabelsPath, Format, Columns and the digests are as in Set.
	Path, LabelsPath string
	Format           string
	Columns          []string
	DataSHA256       string
	LabelsSHA256     string
	// Index gives each sample's position in the file (the full folder
	// listing of an image folder) when Limit kept a subset that is not the
	// first samples; nil means sample i is the file's sample i. As
	// Set.Index.
	Index []int

	src      Source
	streamed bool
	close    func() error
}

// Open opens a dataset for streaming; see Stream. The arguments are Load's.
// Every check Load makes on the files' headers, sizes and labels is made
// here, before any sample is read; a sample that is not finite is an error
// of the ReadBatch that reads it, naming the file and the sample. The data
// file is read once by Open to compute its digest.
func Open(dataPath, labelsPath string, opts Options) (*Stream, error) {
	if opts.Limit < 0 {
		return nil, fmt.Errorf("dataset: limit %d is negative (want 0 for all samples, or n > 0)", opts.Limit)
	}
	if st, err := os.Stat(dataPath); err == nil && st.IsDir() {
		if labelsPath != "" {
			return nil, errf(labelsPath, ErrInvalid, "an image folder takes its labels from its class subfolders; do not pass a labels file with %s", dataPath)
		}
		img := opts.Images
		img.Limit, img.MaxBytes = opts.Limit, opts.MaxBytes
		f, err := openImageFolder(dataPath, img, true)
		if err != nil {
			return nil, err
		}
		sum, err := f.SHA256()
		if err != nil {
			return nil, err
		}
		s := &Stream{Path: dataPath, Format: "imagefolder", DataSHA256: sum, src: f, streamed: true}
		if img.Limit > 0 && f.Len() < len(f.all) {
			s.Index = append([]int(nil), f.Index...)
		}
		return s, nil
	}
	if s, ok, err := openFileArray(dataPath, labelsPath, opts); ok || err != nil {
		return s, err
	}
	set, err := Load(dataPath, labelsPath, opts)
	if err != nil {
		return nil, err
	}
	return &Stream{Path: set.Path, LabelsPath: set.LabelsPath, Format: set.Format, Columns: set.Columns,
		DataSHA256: set.DataSHA256, LabelsSHA256: set.LabelsSHA256, Index: set.Index, src: SetSource(set)}, nil
}

// Streamed reports whether samples are read from disk per batch (true) or
// were read whole into memory by Open (false).
func (s *Stream) Streamed() bool { return s.streamed }

// Len returns the number of samples.
func (s *Stream) Len() int { return s.src.Len() }

// SampleShape returns the shape of one sample.
func (s *Stream) SampleShape() []int { return s.src.SampleShape() }

// Labels returns every sample's class id; do not modify it.
func (s *Stream) Labels() []int { return s.src.Labels() }

// ReadBatch writes samples lo..hi-1 into dst; see Source.
func (s *Stream) ReadBatch(dst []float32, lo, hi int) error { return s.src.ReadBatch(dst, lo, hi) }

// Hash identifies the source files, as Set.Hash does.
func (s *Stream) Hash() string { return combinedHash(s.DataSHA256, s.LabelsSHA256) }

// Close releases the open file, if any. Reading after Close fails.
func (s *Stream) Close() error {
	if s.close == nil {
		return nil
	}
	c := s.close
	s.close = nil
	return c()
}

// combinedHash is Set.Hash's rule.
func combinedHash(data, labels string) string {
	if labels == "" {
		return data
	}
	sum := sha256.Sum256([]byte(data + "\n" + labels + "\n"))
	return hex.EncodeToString(sum[:])
}

// streamChunk bounds the bytes ReadBatch reads at once.
const streamChunk = 4 << 20

// fileArray serves the rows of a plain .npy or IDX file by offset.
type fileArray struct {
	name   string
	f      *os.File
	off    int64 // of row 0
	dt     dtype
	per    int // elements a row
	shape  []int
	labels []int
	scale  bool
}

// openFileArray opens dataPath as a streamed array when it is a plain,
// C-ordered .npy or IDX file with a separate labels file; ok is false
// (and err nil) when it is not, so that the caller falls back to Load.
func openFileArray(dataPath, labelsPath string, opts Options) (s *Stream, ok bool, err error) {
	in, err := openInput(dataPath)
	if err != nil {
		return nil, false, err
	}
	if in.gz || (in.kind != kindNPY && in.kind != kindIDX) || labelsPath == "" {
		in.close()
		return nil, false, nil
	}
	readHeader := readNPYHeader
	if in.kind == kindIDX {
		readHeader = readIDXHeader
	}
	h, hlen, err := readHeader(in.r, dataPath)
	if err != nil {
		in.close()
		return nil, true, err
	}
	if h.fortran && len(h.shape) > 1 {
		in.close()
		return nil, false, nil
	}
	defer func() {
		if err != nil {
			in.close()
		}
	}()
	if len(h.shape) == 0 {
		return nil, true, errf(dataPath, ErrInvalid, "array is a scalar (shape ()); want one row per sample, shape (N, ...)")
	}
	if slices.ContainsFunc(h.shape, func(d int) bool { return d < 0 }) {
		return nil, true, errf(dataPath, ErrFormat, "shape %s has a negative dimension", shapeTuple(h.shape))
	}
	rows := h.shape[0]
	if rows == 0 {
		return nil, true, errf(dataPath, ErrInvalid, "no samples (shape %s)", shapeTuple(h.shape))
	}
	per, ok := checkedNumel(h.shape[1:], math.MaxInt64/int64(h.dt.size)/int64(rows))
	if !ok {
		return nil, true, errf(dataPath, ErrTooLarge, "shape %s is too large to address", shapeTuple(h.shape))
	}
	if per == 0 {
		return nil, true, errf(dataPath, ErrInvalid, "samples have no elements (shape %s)", shapeTuple(h.shape))
	}
	keep := rows
	if opts.Limit > 0 && opts.Limit < rows {
		keep = opts.Limit
	}
	if batch := per * 4; batch > opts.maxBytes() {
		return nil, true, errf(dataPath, ErrTooLarge, "one sample of shape %s takes %s as float32, over the limit of %s (Options.MaxBytes)",
			shapeTuple(h.shape[1:]), humanBytes(float64(batch)), humanBytes(float64(opts.maxBytes())))
	}
	need := int64(rows) * per * int64(h.dt.size)
	if avail := in.size - hlen; need > avail {
		return nil, true, errf(dataPath, ErrTruncated, "truncated: shape %s of %s declares %d bytes of data, but only %d follow the header",
			shapeTuple(h.shape), h.dt, need, avail)
	}
	sum, err := in.finish()
	if err != nil {
		return nil, true, err
	}

	// Labels: small, read whole as Load reads them.
	lin, err := openInput(labelsPath)
	if err != nil {
		return nil, true, err
	}
	defer lin.close()
	if lin.kind != kindNPY && lin.kind != kindIDX {
		return nil, true, errf(labelsPath, ErrFormat, "a labels file must be .npy or IDX (found %s)", lin.format())
	}
	y, err := lin.decode(asLabels, &opts)
	if err != nil {
		return nil, true, err
	}
	lsum, err := lin.finish()
	if err != nil {
		return nil, true, err
	}
	labels, err := checkLabels(y, labelsPath, dataPath, rows)
	if err != nil {
		return nil, true, err
	}
	shape := slices.Clone(h.shape[1:])
	if opts.SampleShape != nil {
		if int64(tensor.Numel(opts.SampleShape)) != per || slices.ContainsFunc(opts.SampleShape, func(d int) bool { return d <= 0 }) {
			return nil, true, errf(dataPath, ErrInvalid, "samples of shape %v cannot be viewed as %v (want the same number of elements, %d)",
				h.shape[1:], opts.SampleShape, per)
		}
		shape = slices.Clone(opts.SampleShape)
	}
	fa := &fileArray{name: dataPath, f: in.f, off: hlen, dt: h.dt, per: int(per), shape: shape,
		labels: labels[:keep], scale: !opts.NoScale}
	return &Stream{Path: dataPath, LabelsPath: labelsPath, Format: in.format(), DataSHA256: sum, LabelsSHA256: lsum,
		src: fa, streamed: true, close: in.f.Close}, true, nil
}

// checkLabels applies Set.fill's rules to labels read for rows samples.
func checkLabels(y *decoded, yName, xName string, rows int) ([]int, error) {
	if len(y.shape) == 0 {
		return nil, errf(yName, ErrInvalid, "labels are a scalar; want one class id per sample, shape (N,)")
	}
	if len(y.shape) > 2 || len(y.shape) == 2 && y.shape[1] != 1 {
		return nil, errf(yName, ErrInvalid, "labels have shape %s; want one class id per sample, shape (N,) or (N, 1)", shapeTuple(y.shape))
	}
	if y.shape[0] != rows {
		return nil, errf(xName, ErrInvalid, "%d samples, but %s has %d labels; want one label per sample", rows, yName, y.shape[0])
	}
	out := make([]int, len(y.i))
	for i, c := range y.i {
		if c < 0 || c > MaxClassID {
			what := "negative"
			if c > 0 {
				what = fmt.Sprintf("over the largest class id allowed, %d", MaxClassID)
			}
			return nil, errf(yName, ErrInvalid, "label %d is %d, %s; want class ids 0, 1, 2, ...", i, c, what)
		}
		out[i] = int(c)
	}
	return out, nil
}

func (a *fileArray) Len() int           { return len(a.labels) }
func (a *fileArray) SampleShape() []int { return a.shape }
func (a *fileArray) Labels() []int      { return a.labels }

// ReadBatch reads rows lo..hi-1 at their offset (os.File.ReadAt is safe
// for concurrent use) and converts them to float32.
func (a *fileArray) ReadBatch(dst []float32, lo, hi int) error {
	if lo < 0 || hi < lo || hi > a.Len() {
		return fmt.Errorf("dataset: batch [%d, %d) out of range [0, %d)", lo, hi, a.Len())
	}
	if len(dst) != (hi-lo)*a.per {
		return fmt.Errorf("dataset: batch [%d, %d) needs %d values, got a buffer of %d", lo, hi, (hi-lo)*a.per, len(dst))
	}
	rowBytes := a.per * a.dt.size
	// Read in pieces of at most streamChunk bytes, so that a large batch of a wide
	// type does not double the batch's memory.
	rowsPer := max(1, streamChunk/rowBytes)
	buf := make([]byte, min(hi-lo, rowsPer)*rowBytes)
	for r := lo; r < hi; r += rowsPer {
		k := min(rowsPer, hi-r)
		b := buf[:k*rowBytes]
		if _, err := a.f.ReadAt(b, a.off+int64(r)*int64(rowBytes)); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return errf(a.name, ErrTruncated, "reading samples %d..%d: %v", r, r+k-1, err)
		}
		out := dst[(r-lo)*a.per : (r-lo+k)*a.per]
		decodeFloat32(out, b, a.dt, a.scale)
		for i, v := range out {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return errf(a.name, ErrInvalid, "sample %d (element %d) is %v; data must be finite", r+i/a.per, int64(r)*int64(a.per)+int64(i), v)
			}
		}
	}
	return nil
}
