package dataset

import (
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writePNG writes a w x h image whose pixel (x, y) is fill(x, y).
func writePNG(t *testing.T, path string, w, h int, fill func(x, y int) color.NRGBA) {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, fill(x, y))
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if strings.HasSuffix(path, ".jpg") {
		err = jpeg.Encode(fh, img, &jpeg.Options{Quality: 100})
	} else {
		err = png.Encode(fh, img)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func solid(c color.NRGBA) func(x, y int) color.NRGBA { return func(int, int) color.NRGBA { return c } }

// folder builds: ant/a.png (red), ant/b.png (green), cat/x/c.jpg (grey,
// in a nested folder), dog/d.png (blue), all 4x4, and files to skip.
func folder(t *testing.T) string {
	dir := t.TempDir()
	writePNG(t, filepath.Join(dir, "ant", "a.png"), 4, 4, solid(color.NRGBA{255, 0, 0, 255}))
	writePNG(t, filepath.Join(dir, "ant", "b.PNG"), 4, 4, solid(color.NRGBA{0, 255, 0, 255}))
	writePNG(t, filepath.Join(dir, "cat", "x", "c.jpg"), 4, 4, solid(color.NRGBA{128, 128, 128, 255}))
	writePNG(t, filepath.Join(dir, "dog", "d.png"), 4, 4, solid(color.NRGBA{0, 0, 255, 255}))
	os.WriteFile(filepath.Join(dir, "dog", "notes.txt"), []byte("skip me"), 0o644)
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("skip me"), 0o644)
	os.MkdirAll(filepath.Join(dir, ".cache"), 0o755)
	return dir
}

// pixel returns sample i's value at channel c, row y, column x.
func pixel(s *Set, i, c, y, x int) float32 {
	sh := s.X.Shape
	return s.X.F[((i*sh[1]+c)*sh[2]+y)*sh[3]+x]
}

func TestLoadImageFolder(t *testing.T) {
	dir := folder(t)
	s, err := LoadImageFolder(dir, ImageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.X.Shape; len(got) != 4 || got[0] != 4 || got[1] != 3 || got[2] != 4 || got[3] != 4 {
		t.Fatalf("shape %v, want [4 3 4 4]", got)
	}
	if want := []int{0, 0, 1, 2}; !equalInts(s.Y, want) {
		t.Errorf("labels %v, want %v (classes sorted: ant, cat, dog)", s.Y, want)
	}
	if s.Format != "imagefolder" || len(s.DataSHA256) != 64 || s.LabelsSHA256 != "" || s.Index != nil {
		t.Errorf("format %q hash %q labels hash %q index %v", s.Format, s.DataSHA256, s.LabelsSHA256, s.Index)
	}
	// Red, green: one channel at 1. The JPEG grey is 128/255 up to JPEG
	// rounding.
	for _, c := range []struct {
		i, ch int
		want  float32
	}{{0, 0, 1}, {0, 1, 0}, {0, 2, 0}, {1, 1, 1}, {3, 2, 1}, {3, 0, 0}} {
		if got := pixel(s, c.i, c.ch, 2, 3); got != c.want {
			t.Errorf("sample %d channel %d = %v, want %v", c.i, c.ch, got, c.want)
		}
	}
	if g := pixel(s, 2, 0, 1, 1); g < 126.0/255 || g > 130.0/255 {
		t.Errorf("jpeg grey %v, want about 128/255", g)
	}
	if f, err := OpenImageFolder(dir, ImageOptions{}); err != nil {
		t.Error(err)
	} else if got := strings.Join(f.Classes, ","); got != "ant,cat,dog" {
		t.Errorf("classes %s, want ant,cat,dog", got)
	}

	// The same folder hashes the same; moving a file to another class
	// changes the hash.
	again, _ := LoadImageFolder(dir, ImageOptions{})
	f, _ := OpenImageFolder(dir, ImageOptions{Limit: 1})
	streamed, err := f.SHA256()
	if err != nil || again.DataSHA256 != s.DataSHA256 || streamed != s.DataSHA256 {
		t.Errorf("hashes %s %s %s (%v), want one", s.DataSHA256, again.DataSHA256, streamed, err)
	}
	if err := os.Rename(filepath.Join(dir, "dog", "d.png"), filepath.Join(dir, "cat", "d.png")); err != nil {
		t.Fatal(err)
	}
	moved, err := LoadImageFolder(dir, ImageOptions{})
	if err != nil || moved.DataSHA256 == s.DataSHA256 {
		t.Errorf("moving a file kept the hash (%v)", err)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestImageOptions(t *testing.T) {
	dir := t.TempDir()
	// A 6x4 image (w x h): column x has red = 40*x, row y has green = 60*y.
	grad := func(x, y int) color.NRGBA { return color.NRGBA{uint8(40 * x), uint8(60 * y), 10, 255} }
	writePNG(t, filepath.Join(dir, "a", "g.png"), 6, 4, grad)
	cases := []struct {
		name  string
		opts  ImageOptions
		shape []int
		check func(t *testing.T, s *Set)
	}{
		{"as is", ImageOptions{}, []int{3, 4, 6}, func(t *testing.T, s *Set) {
			if got := pixel(s, 0, 0, 0, 5); got != 200.0/255 {
				t.Errorf("red at x=5: %v", got)
			}
		}},
		{"bgr", ImageOptions{ChannelOrder: "BGR"}, []int{3, 4, 6}, func(t *testing.T, s *Set) {
			if pixel(s, 0, 0, 0, 0) != 10.0/255 || pixel(s, 0, 2, 0, 5) != 200.0/255 {
				t.Errorf("bgr: blue first, red last; got %v, %v", pixel(s, 0, 0, 0, 0), pixel(s, 0, 2, 0, 5))
			}
		}},
		{"grayscale", ImageOptions{Grayscale: true}, []int{1, 4, 6}, func(t *testing.T, s *Set) {
			// L = (19595*R + 38470*G + 7471*B + 32768) >> 16 at R=40, G=60, B=10.
			want := float32((19595*40+38470*60+7471*10+32768)>>16) / 255
			if got := pixel(s, 0, 0, 1, 1); got != want {
				t.Errorf("grey %v, want %v", got, want)
			}
		}},
		{"center crop", ImageOptions{CropWidth: 2, CropHeight: 2}, []int{3, 2, 2}, func(t *testing.T, s *Set) {
			// Left = round((6-2)/2) = 2, top = round((4-2)/2) = 1.
			if pixel(s, 0, 0, 0, 0) != 80.0/255 || pixel(s, 0, 1, 0, 0) != 60.0/255 {
				t.Errorf("crop origin: red %v green %v, want 80/255 and 60/255", pixel(s, 0, 0, 0, 0)*255, pixel(s, 0, 1, 0, 0)*255)
			}
		}},
		{"nearest upscale", ImageOptions{Width: 12, Height: 8, Interpolation: "nearest"}, []int{3, 8, 12}, func(t *testing.T, s *Set) {
			if pixel(s, 0, 0, 0, 11) != 200.0/255 || pixel(s, 0, 0, 0, 10) != 200.0/255 || pixel(s, 0, 1, 7, 0) != 180.0/255 {
				t.Error("nearest-neighbour upscale does not repeat pixels")
			}
		}},
		{"bilinear, shorter side 2", ImageOptions{ShorterSide: 2}, []int{3, 2, 3}, func(t *testing.T, s *Set) {
			// Blue is constant and stays 10; red rises left to right.
			for x := range 3 {
				if b := pixel(s, 0, 2, 1, x); b != 10.0/255 {
					t.Errorf("constant blue became %v", b*255)
				}
			}
			if !(pixel(s, 0, 0, 0, 0) < pixel(s, 0, 0, 0, 1) && pixel(s, 0, 0, 0, 1) < pixel(s, 0, 0, 0, 2)) {
				t.Error("bilinear downscale lost the gradient")
			}
		}},
		{"resize then crop", ImageOptions{ShorterSide: 8, CropWidth: 8, CropHeight: 8}, []int{3, 8, 8}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := LoadImageFolder(dir, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !equalInts(s.SampleShape(), c.shape) {
				t.Fatalf("shape %v, want %v", s.SampleShape(), c.shape)
			}
			for i, v := range s.X.F {
				if !(v >= 0 && v <= 1) {
					t.Fatalf("value %d is %v, outside [0, 1]", i, v)
				}
			}
			if c.check != nil {
				c.check(t, s)
			}
		})
	}
}

func TestImageFolderErrors(t *testing.T) {
	mk := func(t *testing.T, files map[string]string) string {
		dir := t.TempDir()
		for p, content := range files {
			full := filepath.Join(dir, p)
			os.MkdirAll(filepath.Dir(full), 0o755)
			if content == "png4" || content == "png5" {
				n := map[string]int{"png4": 4, "png5": 5}[content]
				writePNG(t, full, n, n, solid(color.NRGBA{1, 2, 3, 255}))
				continue
			}
			if content == "dir" {
				os.MkdirAll(full, 0o755)
				continue
			}
			os.WriteFile(full, []byte(content), 0o644)
		}
		return dir
	}
	cases := []struct {
		name  string
		files map[string]string
		opts  ImageOptions
		kind  error
		want  string
	}{
		{"corrupt png", map[string]string{"a/ok.png": "png4", "b/bad.png": "not a png"}, ImageOptions{}, ErrFormat, "bad.png"},
		{"truncated jpeg", map[string]string{"a/t.jpg": "\xff\xd8\xff\xe0"}, ImageOptions{}, ErrFormat, "t.jpg"},
		{"mixed sizes", map[string]string{"a/x.png": "png4", "b/y.png": "png5"}, ImageOptions{}, ErrInvalid, "y.png"},
		{"crop too large", map[string]string{"a/x.png": "png4"}, ImageOptions{CropWidth: 5, CropHeight: 5}, ErrInvalid, "larger than the image"},
		{"image at the top", map[string]string{"a/x.png": "png4", "top.png": "png4"}, ImageOptions{}, ErrInvalid, "top.png"},
		{"no classes", map[string]string{"readme.txt": "x"}, ImageOptions{}, ErrInvalid, "no class subfolders"},
		{"no images", map[string]string{"a/readme.txt": "x", "b": "dir"}, ImageOptions{}, ErrInvalid, "no PNG or JPEG"},
		{"too large", map[string]string{"a/x.png": "png4"}, ImageOptions{Width: 1000, Height: 1000, MaxBytes: 1 << 20}, ErrTooLarge, "over the limit"},
		{"half a size", map[string]string{"a/x.png": "png4"}, ImageOptions{Width: 3}, ErrInvalid, "both"},
		{"bad order", map[string]string{"a/x.png": "png4"}, ImageOptions{ChannelOrder: "rbg"}, ErrInvalid, "channel order"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := mk(t, c.files)
			_, err := LoadImageFolder(dir, c.opts)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q (kind %v), want one of kind %v naming %q", err, errors.Unwrap(err), c.kind, c.want)
			}
		})
	}
	if _, err := LoadImageFolder(filepath.Join(t.TempDir(), "missing"), ImageOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing folder: %v", err)
	}
}

func TestImageFolderLimitAndSource(t *testing.T) {
	dir := t.TempDir()
	// Class a has 3 images, b has 1, c has 2; value encodes class and index.
	for _, f := range []struct {
		p string
		v uint8
	}{{"a/0.png", 10}, {"a/1.png", 11}, {"a/2.png", 12}, {"b/0.png", 20}, {"c/0.png", 30}, {"c/1.png", 31}} {
		writePNG(t, filepath.Join(dir, f.p), 2, 2, solid(color.NRGBA{f.v, f.v, f.v, 255}))
	}
	s, err := LoadImageFolder(dir, ImageOptions{Limit: 4, Grayscale: true})
	if err != nil {
		t.Fatal(err)
	}
	// Round-robin: a/0, b/0, c/0, a/1.
	if !equalInts(s.Y, []int{0, 1, 2, 0}) || !equalInts(s.Index, []int{0, 3, 4, 1}) {
		t.Errorf("labels %v index %v, want [0 1 2 0] [0 3 4 1]", s.Y, s.Index)
	}
	if pixel(s, 3, 0, 0, 0) != 11.0/255 {
		t.Errorf("sample 3 is %v, want a/1", pixel(s, 3, 0, 0, 0)*255)
	}
	full, err := LoadImageFolder(dir, ImageOptions{Grayscale: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.DataSHA256 != full.DataSHA256 {
		t.Error("the hash depends on Limit")
	}

	// The streaming source gives the same samples batch by batch.
	src, err := OpenImageFolder(dir, ImageOptions{Grayscale: true})
	if err != nil {
		t.Fatal(err)
	}
	var _ Source = src
	if src.Len() != 6 || !equalInts(src.Labels(), full.Y) || !equalInts(src.SampleShape(), []int{1, 2, 2}) {
		t.Fatalf("source len %d labels %v shape %v", src.Len(), src.Labels(), src.SampleShape())
	}
	buf := make([]float32, 4*4)
	for lo := 0; lo < src.Len(); lo += 4 {
		hi := min(lo+4, src.Len())
		if err := src.ReadBatch(buf[:(hi-lo)*4], lo, hi); err != nil {
			t.Fatal(err)
		}
		for i, v := range buf[:(hi-lo)*4] {
			if v != full.X.F[lo*4+i] {
				t.Fatalf("batch at %d differs from the loaded set", lo)
			}
		}
	}
	if err := src.ReadBatch(buf, 4, 7); err == nil {
		t.Error("out-of-range batch: no error")
	}
	if err := src.ReadBatch(buf[:3], 0, 1); err == nil {
		t.Error("short buffer: no error")
	}
	// SetSource serves an in-memory set the same way.
	ss := SetSource(full)
	if err := ss.ReadBatch(buf[:8], 2, 4); err != nil || buf[0] != full.X.F[8] {
		t.Errorf("SetSource batch: %v", err)
	}
}
