package dataset

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// FuzzImage feeds arbitrary bytes to the image-folder decoder (PNG and
// JPEG, resized to 8x8): it must return an error or fill the sample with
// values in [0, 1], never panic. Images that declare more than
// MaxImagePixels are refused from their header, before decoding.
func FuzzImage(f *testing.F) {
	img := image.NewNRGBA(image.Rect(0, 0, 5, 3))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 37)
	}
	var pb, jb bytes.Buffer
	if err := png.Encode(&pb, img); err != nil {
		f.Fatal(err)
	}
	if err := jpeg.Encode(&jb, img, nil); err != nil {
		f.Fatal(err)
	}
	gray := image.NewGray(image.Rect(0, 0, 2, 2))
	gray.Set(1, 1, color.Gray{Y: 200})
	var gb bytes.Buffer
	if err := png.Encode(&gb, gray); err != nil {
		f.Fatal(err)
	}
	for _, b := range [][]byte{pb.Bytes(), jb.Bytes(), gb.Bytes()} {
		f.Add(b, uint8(0))
		f.Add(b[:len(b)/2], uint8(1))
	}
	// A PNG header that declares 100000x100000 pixels.
	huge := append([]byte(nil), pb.Bytes()...)
	copy(huge[16:24], []byte{0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0})
	f.Add(huge, uint8(2))
	path := filepath.Join(f.TempDir(), "x.png")
	f.Fuzz(func(t *testing.T, b []byte, mode uint8) {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		opts := ImageOptions{Width: 8, Height: 8, Grayscale: mode&1 != 0}
		if mode&2 != 0 {
			opts.Interpolation = "nearest"
		}
		ch := 3
		if opts.Grayscale {
			ch = 1
		}
		fo := &ImageFolder{Files: []string{path}, shape: []int{ch, 8, 8}, opts: opts}
		dst := make([]float32, ch*64)
		if _, err := fo.decodeInto(dst, path); err != nil {
			return
		}
		for i, v := range dst {
			if !(v >= 0 && v <= 1) {
				t.Fatalf("element %d is %v, want [0, 1]", i, v)
			}
		}
	})
}
