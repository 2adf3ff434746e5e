package dataset

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	stddraw "image/draw"
	_ "image/jpeg" // registers JPEG with image.Decode
	_ "image/png"  // registers PNG with image.Decode
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"golang.org/x/image/draw"
	"golang.org/x/sync/errgroup"

	"github.com/advtest/advtest/pkg/tensor"
)

// Image folders: one subfolder per class, as torchvision's ImageFolder
// reads them.

// MaxImagePixels bounds the pixels of one image as its header declares
// them (64 Mpx), so that a decompression bomb is refused before it is
// decoded.
const MaxImagePixels = 1 << 26

// maxImageFileSize bounds the size of one image file (256 MiB).
const maxImageFileSize = 256 << 20

// ImageOptions says how LoadImageFolder and OpenImageFolder turn image
// files into samples. The zero value keeps each image's size (all images
// must then have the same size), as RGB.
type ImageOptions struct {
	// Width and Height, when both > 0, resize every image to exactly this
	// size (aspect ratio not kept).
	Width, Height int
	// ShorterSide, when > 0, resizes every image so that its shorter side
	// has this length, keeping the aspect ratio (torchvision's Resize(n)).
	// It excludes Width and Height.
	ShorterSide int
	// CropWidth and CropHeight, when both > 0, cut the centre of the
	// (resized) image to this size (torchvision's CenterCrop). A crop
	// larger than the image is an error.
	CropWidth, CropHeight int
	// Interpolation is the resize filter: "bilinear" (the default,
	// antialiased when shrinking, as PIL's) or "nearest".
	Interpolation string
	// ChannelOrder is "rgb" (the default) or "bgr" (OpenCV and Caffe
	// models).
	ChannelOrder string
	// Grayscale gives one channel, L = 0.299 R + 0.587 G + 0.114 B (PIL's
	// convert("L")).
	Grayscale bool
	// Limit keeps Limit samples (0 keeps all), taken round-robin across the
	// classes (the first image of each class, then the second, ...), so
	// that a limited run sees every class.
	Limit int
	// MaxBytes bounds the memory of the loaded samples as float32, checked
	// before anything is decoded; 0 means DefaultMaxBytes.
	MaxBytes int64
}

func (o *ImageOptions) validate() error {
	switch {
	case o.Width < 0 || o.Height < 0 || o.ShorterSide < 0 || o.CropWidth < 0 || o.CropHeight < 0:
		return errors.New("image sizes must not be negative")
	case (o.Width > 0) != (o.Height > 0):
		return errors.New("give both the resize width and height, or neither")
	case (o.CropWidth > 0) != (o.CropHeight > 0):
		return errors.New("give both the crop width and height, or neither")
	case o.ShorterSide > 0 && o.Width > 0:
		return errors.New("resize to a size or by the shorter side, not both")
	case o.Limit < 0:
		return fmt.Errorf("limit %d is negative (want 0 for all samples, or n > 0)", o.Limit)
	}
	switch strings.ToLower(o.Interpolation) {
	case "", "bilinear", "nearest":
	default:
		return fmt.Errorf("interpolation %q: want bilinear or nearest", o.Interpolation)
	}
	switch strings.ToLower(o.ChannelOrder) {
	case "", "rgb", "bgr":
	default:
		return fmt.Errorf("channel order %q: want rgb or bgr", o.ChannelOrder)
	}
	return nil
}

// Source hands out a labelled dataset batch by batch, so that memory
// follows the batch rather than the dataset. Labels are held in full
// (they are small); samples are read on demand.
type Source interface {
	// Len returns the number of samples.
	Len() int
	// SampleShape returns the shape of one sample, e.g. [3 224 224].
	SampleShape() []int
	// Labels returns every sample's class id; do not modify it.
	Labels() []int
	// ReadBatch writes samples lo..hi-1 into dst, which must hold
	// (hi-lo)*Numel(SampleShape()) values. It fails if the range is out of
	// bounds or a sample cannot be read, with an error naming the file.
	ReadBatch(dst []float32, lo, hi int) error
}

// SetSource returns s as a Source (samples copied out of s.X).
func SetSource(s *Set) Source { return setSource{s} }

type setSource struct{ s *Set }

func (s setSource) Len() int           { return s.s.Len() }
func (s setSource) SampleShape() []int { return s.s.SampleShape() }
func (s setSource) Labels() []int      { return s.s.Y }
func (s setSource) ReadBatch(dst []float32, lo, hi int) error {
	if lo < 0 || hi < lo || hi > s.s.Len() {
		return fmt.Errorf("dataset: batch [%d, %d) out of range [0, %d)", lo, hi, s.s.Len())
	}
	per := tensor.Numel(s.s.SampleShape())
	if len(dst) != (hi-lo)*per {
		return fmt.Errorf("dataset: batch [%d, %d) needs %d values, got a buffer of %d", lo, hi, (hi-lo)*per, len(dst))
	}
	copy(dst, s.s.X.F[lo*per:hi*per])
	return nil
}

// ImageFolder is an image-folder dataset opened for streaming: the file
// list and labels are in memory, the pixels are decoded by ReadBatch. It
// implements Source and is safe for concurrent use.
type ImageFolder struct {
	// Dir is the folder, as given.
	Dir string
	// Classes are the class names (the subfolder names), sorted; class id
	// i is Classes[i].
	Classes []string
	// Files are the image files of the samples, in sample order, as paths
	// under Dir.
	Files []string
	// Index gives each sample's position in the full folder listing
	// (class by class, files sorted), before Limit.
	Index []int

	labels []int
	all    []string // every image file of the folder, for the hash
	shape  []int
	opts   ImageOptions
}

var imageExts = map[string]bool{".png": true, ".jpg": true, ".jpeg": true}

// OpenImageFolder lists an image folder: one subfolder per class (class
// ids follow the sorted subfolder names; folders inside a class folder
// are searched too), PNG and JPEG files recognised by their extension
// (.png, .jpg, .jpeg, any case), other files and names starting with "."
// skipped. It reads the header of the first kept image to know the sample
// shape when opts does not fix it. An image file directly in dir is an
// error, as is a folder without images.
func OpenImageFolder(dir string, opts ImageOptions) (*ImageFolder, error) {
	return openImageFolder(dir, opts, false)
}

// openImageFolder is OpenImageFolder; perSample bounds one sample by
// opts.MaxBytes instead of the whole folder (Open streams it).
func openImageFolder(dir string, opts ImageOptions, perSample bool) (*ImageFolder, error) {
	if err := opts.validate(); err != nil {
		return nil, errf(dir, ErrInvalid, "%v", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	if !st.IsDir() {
		return nil, errf(dir, ErrFormat, "is not a folder (want one subfolder of images per class)")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	f := &ImageFolder{Dir: dir, opts: opts}
	var perClass [][]string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		if !e.IsDir() {
			if imageExts[strings.ToLower(filepath.Ext(name))] {
				return nil, errf(filepath.Join(dir, name), ErrInvalid, "an image directly in the dataset folder; want one subfolder per class (%s/<class>/%s)", dir, name)
			}
			continue
		}
		var files []string
		err := filepath.WalkDir(filepath.Join(dir, name), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if strings.HasPrefix(d.Name(), ".") && p != filepath.Join(dir, name) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.IsDir() && imageExts[strings.ToLower(filepath.Ext(p))] {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("dataset: %w", err)
		}
		sort.Strings(files)
		f.Classes = append(f.Classes, name)
		perClass = append(perClass, files)
	}
	if len(f.Classes) == 0 {
		return nil, errf(dir, ErrInvalid, "no class subfolders (want %s/<class>/<image>.png or .jpg)", dir)
	}
	if len(f.Classes)-1 > MaxClassID {
		return nil, errf(dir, ErrInvalid, "%d classes, over the %d allowed", len(f.Classes), MaxClassID+1)
	}
	// ReadDir sorts by name already; the class ids are this order.
	offset := make([]int, len(perClass))
	for c, files := range perClass {
		offset[c] = len(f.all)
		f.all = append(f.all, files...)
	}
	if len(f.all) == 0 {
		return nil, errf(dir, ErrInvalid, "no PNG or JPEG images in the %d class folders", len(f.Classes))
	}
	// Samples: every image, class by class, or Limit of them round-robin.
	n := len(f.all)
	if opts.Limit > 0 && opts.Limit < n {
		n = opts.Limit
	}
	for k := 0; len(f.Files) < n; k++ {
		for c, files := range perClass {
			if opts.Limit == 0 {
				if k > 0 {
					break
				}
				for j, p := range files {
					f.Files = append(f.Files, p)
					f.labels = append(f.labels, c)
					f.Index = append(f.Index, offset[c]+j)
				}
				continue
			}
			if k < len(files) && len(f.Files) < n {
				f.Files = append(f.Files, files[k])
				f.labels = append(f.labels, c)
				f.Index = append(f.Index, offset[c]+k)
			}
		}
	}
	h, w, err := f.outputSize(f.Files[0])
	if err != nil {
		return nil, err
	}
	ch := 3
	if opts.Grayscale {
		ch = 1
	}
	f.shape = []int{ch, h, w}
	if one := int64(ch*h*w) * 4; perSample && one > (&Options{MaxBytes: opts.MaxBytes}).maxBytes() {
		return nil, errf(dir, ErrTooLarge, "one image of %dx%dx%d takes %s as float32, over the limit of %s (lower the image size)",
			ch, h, w, humanBytes(float64(one)), humanBytes(float64((&Options{MaxBytes: opts.MaxBytes}).maxBytes())))
	}
	if need := int64(len(f.Files)) * int64(ch*h*w) * 4; !perSample && need > (&Options{MaxBytes: opts.MaxBytes}).maxBytes() {
		return nil, errf(dir, ErrTooLarge, "%d images of %dx%dx%d would take %s as float32, over the limit of %s (lower the limit of samples or the image size)",
			len(f.Files), ch, h, w, humanBytes(float64(need)), humanBytes(float64((&Options{MaxBytes: opts.MaxBytes}).maxBytes())))
	}
	return f, nil
}

// outputSize returns the sample height and width: from the options when
// they fix it, else from the first image's header.
func (f *ImageFolder) outputSize(first string) (h, w int, err error) {
	o := f.opts
	if o.CropWidth > 0 {
		return o.CropHeight, o.CropWidth, nil
	}
	if o.Width > 0 {
		return o.Height, o.Width, nil
	}
	b, err := readImageFile(first)
	if err != nil {
		return 0, 0, err
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return 0, 0, errf(first, ErrFormat, "not a readable PNG or JPEG image: %v", err)
	}
	if o.ShorterSide > 0 {
		h, w = shorterSide(cfg.Height, cfg.Width, o.ShorterSide)
		return h, w, nil
	}
	return cfg.Height, cfg.Width, nil
}

// shorterSide scales (h, w) so that the shorter side is s, as torchvision
// does: the longer side is truncated, int(s * long / short).
func shorterSide(h, w, s int) (int, int) {
	if h <= w {
		return s, int(float64(s) * float64(w) / float64(h))
	}
	return int(float64(s) * float64(h) / float64(w)), s
}

// Len returns the number of samples.
func (f *ImageFolder) Len() int { return len(f.Files) }

// SampleShape returns (C, H, W).
func (f *ImageFolder) SampleShape() []int { return f.shape }

// Labels returns the class id of every sample.
func (f *ImageFolder) Labels() []int { return f.labels }

// ReadBatch decodes samples lo..hi-1 into dst (NCHW, values in [0, 1]),
// on as many goroutines as GOMAXPROCS.
func (f *ImageFolder) ReadBatch(dst []float32, lo, hi int) error {
	_, err := f.readBatch(dst, lo, hi, nil)
	return err
}

// readBatch is ReadBatch that also stores each file's SHA-256 in sums
// (indexed from lo) when sums is not nil.
func (f *ImageFolder) readBatch(dst []float32, lo, hi int, sums []string) (int, error) {
	if lo < 0 || hi < lo || hi > f.Len() {
		return 0, fmt.Errorf("dataset: batch [%d, %d) out of range [0, %d)", lo, hi, f.Len())
	}
	per := tensor.Numel(f.shape)
	if len(dst) != (hi-lo)*per {
		return 0, fmt.Errorf("dataset: batch [%d, %d) needs %d values, got a buffer of %d", lo, hi, (hi-lo)*per, len(dst))
	}
	// One file per task on GOMAXPROCS goroutines; every file is decoded,
	// and the error reported is the one of the first failing file.
	errs := make([]error, hi-lo)
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i := range hi - lo {
		g.Go(func() error {
			sum, err := f.decodeInto(dst[i*per:(i+1)*per], f.Files[lo+i])
			errs[i] = err
			if sums != nil {
				sums[i] = sum
			}
			return nil
		})
	}
	g.Wait()
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return hi - lo, nil
}

func readImageFile(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxImageFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("dataset: reading %s: %w", path, err)
	}
	if len(b) > maxImageFileSize {
		return nil, errf(path, ErrTooLarge, "image file larger than %s", humanBytes(maxImageFileSize))
	}
	return b, nil
}

// decodeInto decodes one image file, applies the options and writes it to
// dst as CHW floats in [0, 1]. It returns the file's SHA-256.
func (f *ImageFolder) decodeInto(dst []float32, path string) (string, error) {
	b, err := readImageFile(path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return "", errf(path, ErrFormat, "not a readable PNG or JPEG image: %v", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > MaxImagePixels {
		return "", errf(path, ErrTooLarge, "declares %dx%d pixels (at most %d pixels are read)", cfg.Width, cfg.Height, MaxImagePixels)
	}
	src, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return "", errf(path, ErrFormat, "not a readable PNG or JPEG image: %v", err)
	}
	// Non-premultiplied 8-bit RGBA: alpha is dropped as PIL's
	// convert("RGB") drops it.
	sb := src.Bounds()
	img := image.NewNRGBA(image.Rect(0, 0, sb.Dx(), sb.Dy()))
	stddraw.Draw(img, img.Bounds(), src, sb.Min, stddraw.Src)

	o := f.opts
	rh, rw := sb.Dy(), sb.Dx()
	switch {
	case o.Width > 0:
		rh, rw = o.Height, o.Width
	case o.ShorterSide > 0:
		rh, rw = shorterSide(rh, rw, o.ShorterSide)
	}
	if rh != sb.Dy() || rw != sb.Dx() {
		var scaler draw.Scaler = draw.BiLinear
		if strings.EqualFold(o.Interpolation, "nearest") {
			scaler = draw.NearestNeighbor
		}
		r := image.NewNRGBA(image.Rect(0, 0, rw, rh))
		scaler.Scale(r, r.Bounds(), img, img.Bounds(), draw.Src, nil)
		img = r
	}
	top, left, h, w := 0, 0, rh, rw
	if o.CropWidth > 0 {
		if o.CropWidth > rw || o.CropHeight > rh {
			return "", errf(path, ErrInvalid, "center crop %dx%d is larger than the image (%dx%d after resizing)", o.CropWidth, o.CropHeight, rw, rh)
		}
		h, w = o.CropHeight, o.CropWidth
		top = int(math.RoundToEven(float64(rh-h) / 2))
		left = int(math.RoundToEven(float64(rw-w) / 2))
	}
	if h != f.shape[1] || w != f.shape[2] {
		return "", errf(path, ErrInvalid, "image is %dx%d, but the first image (%s) is %dx%d; resize them to one size (width and height, or the shorter side with a center crop)",
			w, h, f.Files[0], f.shape[2], f.shape[1])
	}
	bgr := strings.EqualFold(o.ChannelOrder, "bgr")
	plane := h * w
	for y := range h {
		row := img.Pix[(top+y)*img.Stride+left*4:]
		for x := range w {
			p := row[x*4 : x*4+3 : x*4+3]
			i := y*w + x
			if o.Grayscale {
				l := (19595*uint32(p[0]) + 38470*uint32(p[1]) + 7471*uint32(p[2]) + 1<<15) >> 16
				dst[i] = float32(l) / 255
				continue
			}
			r, g, bl := float32(p[0])/255, float32(p[1])/255, float32(p[2])/255
			if bgr {
				r, bl = bl, r
			}
			dst[i], dst[plane+i], dst[2*plane+i] = r, g, bl
		}
	}
	return hex.EncodeToString(sum[:]), nil
}

// SHA256 returns the folder's digest: the hex SHA-256 of its manifest, one
// line "<path relative to Dir, with forward slashes> <hex SHA-256 of the
// file>" per image file of the folder (all of them, whatever Limit kept),
// in sample order before Limit. Renaming, moving between classes, adding
// or changing an image changes it. It reads every file once, streaming.
func (f *ImageFolder) SHA256() (string, error) {
	return f.manifestHash(nil)
}

// manifestHash hashes the manifest, reusing the digests in known (by
// path) and reading the other files.
func (f *ImageFolder) manifestHash(known map[string]string) (string, error) {
	h := sha256.New()
	for _, p := range f.all {
		sum, ok := known[p]
		if !ok {
			fh, err := os.Open(p)
			if err != nil {
				return "", fmt.Errorf("dataset: %w", err)
			}
			fhash := sha256.New()
			_, err = io.Copy(fhash, fh)
			fh.Close()
			if err != nil {
				return "", fmt.Errorf("dataset: reading %s: %w", p, err)
			}
			sum = hex.EncodeToString(fhash.Sum(nil))
		}
		rel, err := filepath.Rel(f.Dir, p)
		if err != nil {
			rel = p
		}
		fmt.Fprintf(h, "%s %s\n", filepath.ToSlash(rel), sum)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// LoadImageFolder reads an image folder into memory (see OpenImageFolder
// for the layout and ImageOptions for the transforms): X is [N, C, H, W]
// float32 in [0, 1], Y the class ids, Format "imagefolder", DataSHA256
// the folder's manifest digest (see ImageFolder.SHA256) and LabelsSHA256
// empty (the labels are the folder names, part of the manifest). Set.Index
// maps samples to the full folder listing when Limit kept fewer. Errors
// name the file that could not be read.
func LoadImageFolder(dir string, opts ImageOptions) (*Set, error) {
	f, err := OpenImageFolder(dir, opts)
	if err != nil {
		return nil, err
	}
	per := tensor.Numel(f.shape)
	x := make([]float32, f.Len()*per)
	sums := make([]string, f.Len())
	if _, err := f.readBatch(x, 0, f.Len(), sums); err != nil {
		return nil, err
	}
	known := make(map[string]string, len(sums))
	for i, s := range sums {
		known[f.Files[i]] = s
	}
	digest, err := f.manifestHash(known)
	if err != nil {
		return nil, err
	}
	s := &Set{
		X:          tensor.FromFloat32(x, append([]int{f.Len()}, f.shape...)...),
		Y:          append([]int(nil), f.labels...),
		Path:       dir,
		Format:     "imagefolder",
		DataSHA256: digest,
	}
	if opts.Limit > 0 && f.Len() < len(f.all) {
		s.Index = append([]int(nil), f.Index...)
	}
	return s, nil
}
