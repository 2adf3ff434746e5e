package format

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"html"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/report"
)

// htmlSample is sample with a longer sweep and a harden loop, so that the
// page has both plots.
func htmlSample(t testing.TB) *report.Report {
	r := sample(t)
	key := r.Attacks[1].Key
	r.Sweep = []report.SweepRow{
		{Attack: key, Eps: 0.02, SuccessRate: 0.125, RobustAccuracy: 0.7, NFooled: 1},
		{Attack: key, Eps: 0.05, SuccessRate: 0.25, RobustAccuracy: 0.6, NFooled: 2},
		{Attack: key, Eps: 0.1, SuccessRate: 0.625, RobustAccuracy: 0.3, NFooled: 5},
		{Attack: key, Eps: 0.2, SuccessRate: 1, RobustAccuracy: 0, NFooled: 8},
	}
	r.Harden = &report.Harden{UntilSR: 0.3, Reached: true, Rounds: []report.HardenRound{
		{Round: 0, CleanAccuracy: 0.8, ValAccuracy: fptr(0.82), WorstCaseSR: 0.75, AttackSR: map[string]float64{key: 0.625}, Accepted: true},
		{Round: 1, Defence: "adv_train", Params: map[string]string{"epochs": "2"}, CleanAccuracy: 0.6, ValAccuracy: fptr(0.62), WorstCaseSR: 0.4, Accepted: false, Seconds: 12,
			Reason: "clean accuracy fell by 0.2, more than max_clean_drop 0.1"},
		{Round: 2, Defence: "adv_train", Params: map[string]string{"epochs": "4"}, CleanAccuracy: 0.7, ValAccuracy: fptr(0.71), WorstCaseSR: 0.25, Accepted: true, Seconds: 20},
	}}
	r.Sanity = sanityChecks(t)
	r.ApplyGate(report.Gate{FailAbove: fptr(0.5)})
	return r
}

// digit draws a 28x28 grey "image": a bright bar; the adversarial copy
// has a checkerboard of +-eps added, clipped to [0, 1].
func digit(eps float32) (orig, adv []float32) {
	orig = make([]float32, 28*28)
	adv = make([]float32, 28*28)
	for y := range 28 {
		for x := range 28 {
			i := y*28 + x
			if x >= 12 && x < 16 && y >= 4 && y < 24 {
				orig[i] = 1
			}
			d := eps
			if (x+y)%2 == 1 {
				d = -eps
			}
			adv[i] = min(max(orig[i]+d, 0), 1)
		}
	}
	return orig, adv
}

func htmlGallery() Gallery {
	o, a := digit(0.1)
	rgbO := make([]float32, 3*4*4)
	rgbA := make([]float32, 3*4*4)
	for i := range rgbO {
		rgbO[i] = float32(i%16) / 16
		rgbA[i] = rgbO[i] + 0.05
	}
	return Gallery{
		{Attack: "pgd", Original: o, Adversarial: a, Shape: []int{1, 28, 28}, Label: 1, Pred: 7, Confidence: 0.93, LabelConfidence: 0.99},
		{Attack: "fgsm", Original: rgbO, Adversarial: rgbA, Shape: []int{3, 4, 4}, Label: 2, Pred: 0, Confidence: 0.51, LabelName: "cat", PredName: "airplane"},
		{Attack: "fgsm", Original: o[:10], Adversarial: a, Shape: []int{1, 28, 28}, Label: 3, Pred: 3},
	}
}

// checkWellFormed parses the page as XML: every element closed, attributes
// quoted, no stray '&' or '<'.
func checkWellFormed(t *testing.T, page []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(page))
	d.Strict = true
	var stack []string
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			line := 0
			if se, ok := err.(*xml.SyntaxError); ok {
				line = se.Line
			}
			t.Fatalf("not well-formed at line %d: %v", line, err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			stack = append(stack, tok.Name.Local)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) != 0 {
		t.Fatalf("unclosed elements %v", stack)
	}
}

var externalRef = regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?\s*(https?:)?//`)

func TestHTML(t *testing.T) {
	r := htmlSample(t)
	var buf bytes.Buffer
	if err := RenderHTML(&buf, r, htmlGallery()); err != nil {
		t.Fatal(err)
	}
	page := buf.Bytes()
	checkWellFormed(t, page)
	s := string(page)
	if m := externalRef.FindString(s); m != "" {
		t.Errorf("external reference %q", m)
	}
	for _, want := range []string{
		"<!DOCTYPE html>", "FAIL", r.Model.SHA256, r.Data.SHA256, "v0.1.0-test",
		"80.0% (8/10)",                  // clean accuracy
		"worst-case success rate",       // the gate's reason
		"75.0% (6/8)",                   // worst case
		"pgd, success rate 62.5% (5/8)", // strongest attack
		`id="sweep"`, `id="harden"`, "Success rate against eps", "Harden rounds",
		`id="sanity"`, `<span class="badge small fail">flag</span>`, `<span class="badge small skip">skip</span>`,
		"<th>val acc</th>", `<li>clean accuracy fell by 0.2, more than max_clean_drop 0.1</li>`,
		"cat (2)", "airplane (0)", "93.0%", "cannot show this example",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if n := strings.Count(s, `<svg class="plot"`); n != 2 {
		t.Errorf("%d inline plots, want 2", n)
	}
	// html/template writes '+' as "&#43;" in attributes; browsers decode it.
	uris := regexp.MustCompile(`src="data:image/png;base64,([^"]+)"`).FindAllStringSubmatch(s, -1)
	for _, u := range uris {
		u[1] = html.UnescapeString(u[1])
	}
	if len(uris) != 6 {
		t.Fatalf("%d inline images, want 6 (two examples of three)", len(uris))
	}
	// The first image is the original digit: its bar is white, the rest black.
	raw, err := base64.StdEncoding.DecodeString(uris[0][1])
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 28 || b.Dy() != 28 {
		t.Fatalf("image %v, want 28x28", b)
	}
	if g, _, _, _ := img.At(13, 10).RGBA(); g>>8 != 255 {
		t.Errorf("bar pixel %d, want 255", g>>8)
	}
	if g, _, _, _ := img.At(0, 0).RGBA(); g != 0 {
		t.Errorf("background pixel %d, want 0", g)
	}
	// The perturbation: at (0, 0) the black background got +0.1, the
	// largest change, amplified to 0.5+0.5 = white; at (1, 0) it got -0.1,
	// clipped to no change: mid-grey.
	raw, _ = base64.StdEncoding.DecodeString(uris[2][1])
	img, err = png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ x, y, want int }{{0, 0, 255}, {1, 0, 128}} {
		if g, _, _, _ := img.At(c.x, c.y).RGBA(); int(g>>8) != c.want {
			t.Errorf("perturbation pixel (%d, %d) = %d, want %d", c.x, c.y, g>>8, c.want)
		}
	}

	golden := filepath.Join("testdata", "report.html")
	if *update {
		if err := os.WriteFile(golden, page, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(page, want) {
		t.Errorf("html differs from %s (go test -update rewrites it)", golden)
	}
}

func TestHTMLRegistered(t *testing.T) {
	for _, c := range []struct {
		name string
		r    *report.Report
	}{
		{"plain sample", sample(t)},
		{"empty report", report.New("dev")},
	} {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Render(&buf, "html", c.r); err != nil {
				t.Fatal(err)
			}
			checkWellFormed(t, buf.Bytes())
			if strings.Contains(buf.String(), `id="gallery"`) {
				t.Error("a gallery without examples")
			}
			if strings.Contains(buf.String(), `id="harden"`) {
				t.Error("a harden section without rounds")
			}
			if strings.Contains(buf.String(), `id="sanity"`) {
				t.Error("a sanity section without checks")
			}
		})
	}
}

// TestHTMLEscapes checks that text from the report cannot inject markup.
func TestHTMLEscapes(t *testing.T) {
	r := sample(t)
	r.Model.Path = `<script>alert("x")</script>.onnx`
	r.Attacks[0].Name = `fgsm"><img src=x onerror=alert(1)>`
	r.Gate.Reasons = []string{"a & b < c"}
	r.Gate.Passed = false
	var buf bytes.Buffer
	if err := RenderHTML(&buf, r, Gallery{{Attack: "<b>bold</b>", Shape: []int{5}}}); err != nil {
		t.Fatal(err)
	}
	s := buf.String()
	for _, bad := range []string{"<script>", "<img src=x", "<b>bold"} {
		if strings.Contains(s, bad) {
			t.Errorf("page contains unescaped %q", bad)
		}
	}
	checkWellFormed(t, buf.Bytes())
}

func TestGalleryLimit(t *testing.T) {
	o, a := digit(0.1)
	g := make(Gallery, MaxGalleryExamples+3)
	for i := range g {
		g[i] = Example{Attack: "pgd", Original: o, Adversarial: a, Shape: []int{28, 28}}
	}
	var buf bytes.Buffer
	if err := RenderHTML(&buf, sample(t), g); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), `<figure class="example">`); n != MaxGalleryExamples {
		t.Errorf("%d examples shown, want %d", n, MaxGalleryExamples)
	}
	if !strings.Contains(buf.String(), "first 64 of 67") {
		t.Error("no note about the examples left out")
	}
}
