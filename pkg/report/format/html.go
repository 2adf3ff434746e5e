package format

import (
	"bytes"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/advtest/advtest/pkg/report"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// The HTML format: one self-contained page (inline CSS, plots as inline SVG,
// gallery images as data: URIs) that needs no network to display.

//go:embed html.tmpl
var htmlTemplateText string

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"mul100": func(v float64) float64 { return 100 * v },
}).Parse(htmlTemplateText))

func init() {
	registry["html"] = WriterFunc(writeHTML)
}

// MaxGalleryExamples bounds the examples RenderHTML shows; the rest are
// counted in a note. It keeps the page small enough to open.
const MaxGalleryExamples = 64

// maxGallerySide bounds an example image's height and width in pixels.
const maxGallerySide = 1024

// Example is one adversarial example for the HTML report's gallery.
type Example struct {
	// Attack names the attack that made the example (its label or key).
	Attack string
	// Original and Adversarial are the clean and the adversarial sample in
	// input space (pixels in [0, 1]; values outside are clipped for
	// display), laid out as Shape says.
	Original, Adversarial []float32
	// Shape is the sample's shape: (C, H, W) with C 1 (grey) or 3 (RGB),
	// or (H, W) for grey images.
	Shape []int
	// Label is the true class and Pred the class the model gives the
	// adversarial sample.
	Label, Pred int
	// Confidence is the model's probability (softmax) of Pred on the
	// adversarial sample.
	Confidence float64
	// LabelConfidence is the model's probability of Label on the original
	// sample; optional (0 is shown as unknown).
	LabelConfidence float64
	// LabelName and PredName are the class names, when the data has them
	// (image folders); optional.
	LabelName, PredName string
}

// Gallery is the list of adversarial examples the HTML report shows. The
// Report does not hold samples, so the caller that ran the attacks passes
// them to RenderHTML (or HTMLWriter) alongside the report.
type Gallery []Example

// HTMLWriter returns a Writer that renders the HTML format with gallery g.
// The "html" format of the registry is HTMLWriter(nil).
func HTMLWriter(g Gallery) Writer {
	return WriterFunc(func(w io.Writer, r *report.Report) error { return RenderHTML(w, r, g) })
}

func writeHTML(w io.Writer, r *report.Report) error { return RenderHTML(w, r, nil) }

// RenderHTML writes r as one self-contained HTML page: the summary (model,
// data, hashes, seed, tool version, clean accuracy, gate verdict with its
// reasons and notes), the per-attack table, the worst case, the sanity
// checks when r has them, the success rate against eps plot when r has
// sweep rows, the harden-round plot and table when r has harden rounds,
// the certification (plot, table, per-sample certificates) when r has
// one, the gallery g when it is not empty, and the resolved config. The page is well-formed XHTML as well as HTML5, loads
// nothing from the network, and depends only on r and g (no clock). An
// example that cannot be shown (a shape that is not an image, lengths that
// do not match) gets a card that says why instead of failing the page.
func RenderHTML(w io.Writer, r *report.Report, g Gallery) error {
	if r == nil {
		return fmt.Errorf("report: nil report")
	}
	v, err := newHTMLView(r.Normalized(), g)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := htmlTemplate.Execute(&buf, v); err != nil {
		return fmt.Errorf("report: html: %w", err)
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// htmlView is what the template renders: every figure already formatted.
type htmlView struct {
	Status     string
	Passed     bool
	Title      string
	Summary    []htmlKV
	Gate       report.GateResult
	Incomplete string
	Attacks    []htmlAttack
	HasQueries bool
	// HasTargeted is true when an attack is targeted: the table then gets
	// a targeted SR column.
	HasTargeted bool
	Worst       htmlAttack
	Strongest   string
	Sanity      []htmlSanity
	SweepSVG    template.HTML
	Sweep       [][]string
	HardenSVG   template.HTML
	Harden      *htmlHarden
	// CertOnly is true for a certification report without attacks: the
	// page then has no attack table.
	CertOnly   bool
	Cert       *htmlCert
	Gallery    []htmlExample
	GalleryMsg string
	ConfigJSON string
	Tool       string
}

type htmlKV struct {
	Key, Value string
	Mono       bool
}

type htmlAttack struct {
	Label, Key, Norm, Eps, SR, Targeted, Robust, MedianL2, MedianLinf, MeanL0, Queries, Evals, Seconds string
	// SRValue is the success rate for the bar (0 when undefined).
	SRValue float64
	Passed  bool
	Gate    string
	Reasons []string
}

type htmlHarden struct {
	Target  string
	Reached bool
	// HasVal is true when a round has a validation accuracy: the table
	// then gets a column for it.
	HasVal bool
	Rounds []htmlRound
}

type htmlRound struct {
	Round, Defence, Params, Clean, Val, WorstSR, Accepted, Reason, Seconds string
}

// htmlCert is the certification section: parameters, accuracy and
// abstain rate, the certified accuracy plot and table, the radii's summary
// and each sample's certificate (up to MaxCertifiedSamples).
type htmlCert struct {
	Params, Summary, RadiusLine string
	SVG                         template.HTML
	Radii                       [][]string
	Samples                     [][]string
	SamplesMsg                  string
}

// MaxCertifiedSamples bounds the per-sample certificates the HTML report
// lists; the JSON report holds them all.
const MaxCertifiedSamples = 1000

type htmlSanity struct {
	ID, Status, Attack, N, Explanation string
	// Class colours the status: pass, fail (flagged) or skip.
	Class   string
	Figures []string
}

type htmlExample struct {
	Attack           string
	Orig, Adv, Pert  template.URL
	Width, Height    int
	Truth, Predicted string
	Amplification    string
	Problem          string
	PredictedIsTruth bool
}

func newHTMLView(r *report.Report, g Gallery) (*htmlView, error) {
	v := &htmlView{
		Status: status(r),
		Passed: r.Gate.Passed,
		Gate:   r.Gate,
		Tool:   orDash(r.ToolVersion),
	}
	v.Title = "advtest report: " + v.Status + " - " + orDash(filepath.Base(r.Model.Path))
	if r.Incomplete {
		v.Incomplete = orDash(r.IncompleteReason)
	}
	kv := func(k, val string, mono bool) { v.Summary = append(v.Summary, htmlKV{k, val, mono}) }
	kv("model", orDash(r.Model.Path), true)
	kv("model sha256", orDash(r.Model.SHA256), true)
	model := fmt.Sprintf("opset %d", r.Model.Opset)
	if r.Model.Producer != "" {
		model += ", " + r.Model.Producer
	}
	if r.Model.EndsWithSoftmax {
		model += ", ends with Softmax (attacked through its logits)"
	}
	kv("model details", model, false)
	kv("data", orDash(r.Data.Path), true)
	kv("data sha256", orDash(r.Data.SHA256), true)
	if r.Data.LabelsPath != "" {
		kv("labels", r.Data.LabelsPath, true)
		kv("labels sha256", orDash(r.Data.LabelsSHA256), true)
	}
	kv("samples", fmt.Sprintf("%d evaluated of %d in the data", r.N, r.Data.N), false)
	kv("clean accuracy", fmt.Sprintf("%s (%d/%d)", pct(r.CleanAccuracy), r.NCleanCorrect, r.N), false)
	kv("seed", strconv.FormatUint(r.Seed, 10), true)
	kv("tool version", orDash(r.ToolVersion), true)
	kv("schema version", r.SchemaVersion, true)
	if r.Timing.Created != "" {
		kv("created", r.Timing.Created, true)
	}
	if r.Timing.Seconds > 0 {
		kv("wall time", secondsCell(r.Timing.Seconds)+" s", false)
	}

	labels := report.AttackLabels(r.Attacks)
	best := -1
	for i, a := range r.Attacks {
		ha := htmlAttack{
			Label: attackLabel(labels[i], a), Key: a.Key, Norm: normCell(a), Eps: epsCell(a),
			SR:       attackSRCell(a),
			Targeted: targetedCell(a),
			Robust:   robustCell(a),
			MedianL2: medianCell(a, a.Perturbation.L2), MedianLinf: medianCell(a, a.Perturbation.Linf),
			MeanL0:  "-",
			Queries: "-",
			Evals:   strconv.FormatInt(a.GradientEvals, 10), Seconds: secondsCell(a.Seconds),
			Passed: a.Gate.Passed, Reasons: a.Gate.Reasons,
		}
		if !a.SRUndefined {
			ha.SRValue = a.SuccessRate
		}
		if a.NFooled > 0 {
			ha.MeanL0 = strconv.FormatFloat(a.Perturbation.L0.Mean, 'g', 4, 64)
			if a.Queries != nil {
				v.HasQueries = true
				ha.Queries = strconv.FormatFloat(a.Queries.Median, 'g', 4, 64)
			}
		}
		ha.Gate = attackGateCell(a.Gate)
		v.Attacks = append(v.Attacks, ha)
		if !a.SRUndefined && !a.Partial() && a.Eps > 0 && (best < 0 || a.SuccessRate > r.Attacks[best].SuccessRate) {
			best = i
		}
	}
	evals, secs := totals(r)
	wc := r.WorstCase
	v.HasTargeted = report.HasTargeted(r.Attacks)
	v.Worst = htmlAttack{
		Label: worstLabel(r), Norm: "-", Eps: "-",
		SR: worstSRCell(r), Targeted: "-",
		Robust: worstRobustCell(r), MedianL2: "-", MedianLinf: "-", MeanL0: "-", Queries: "-",
		Evals: strconv.FormatInt(evals, 10), Seconds: secondsCell(secs),
		Passed: wc.Gate.Passed, Reasons: wc.Gate.Reasons,
	}
	if !wc.SRUndefined {
		v.Worst.SRValue = wc.SuccessRate
	}
	v.Worst.Gate = "pass"
	if !wc.Gate.Passed {
		v.Worst.Gate = "FAIL"
	}
	if wc.Gate.FailAbove != nil {
		v.Worst.Gate += " (fail_above " + num(*wc.Gate.FailAbove) + ")"
	}
	if best >= 0 {
		a := r.Attacks[best]
		v.Strongest = fmt.Sprintf("%s, success rate %s", labels[best], srCell(a.SuccessRate, false, a.NFooled, a.NCleanCorrect))
	}

	for _, c := range r.Sanity {
		hs := htmlSanity{ID: c.ID, Status: c.Status, Attack: orDash(c.Attack), N: countCell(c.N),
			Explanation: orDash(c.Explanation), Class: "skip"}
		switch c.Status {
		case report.SanityPass:
			hs.Class = "pass"
		case report.SanityFlag:
			hs.Class = "fail"
		}
		for _, f := range c.Figures {
			hs.Figures = append(hs.Figures, f.Name+" = "+num4(f.Value))
		}
		if len(hs.Figures) == 0 {
			hs.Figures = []string{"-"}
		}
		v.Sanity = append(v.Sanity, hs)
	}

	if len(r.Sweep) > 0 {
		svg, err := sweepSVG(r.Sweep)
		if err != nil {
			return nil, err
		}
		v.SweepSVG = svg
		for _, s := range r.Sweep {
			v.Sweep = append(v.Sweep, []string{s.Attack, num(s.Eps), pct(s.SuccessRate), pct(s.RobustAccuracy), strconv.Itoa(s.NFooled)})
		}
	}
	if r.Harden != nil && len(r.Harden.Rounds) > 0 {
		svg, err := hardenSVG(r.Harden.Rounds)
		if err != nil {
			return nil, err
		}
		v.HardenSVG = svg
		h := &htmlHarden{Target: pct(r.Harden.UntilSR), Reached: r.Harden.Reached}
		for _, rd := range r.Harden.Rounds {
			hr := htmlRound{Round: strconv.Itoa(rd.Round), Defence: orDash(rd.Defence), Params: paramsCell(rd.Params),
				Clean: pct(rd.CleanAccuracy), Val: "-", WorstSR: pct(rd.WorstCaseSR), Accepted: "no",
				Reason: rd.Reason, Seconds: secondsCell(rd.Seconds)}
			if rd.Accepted {
				hr.Accepted = "yes"
			}
			if rd.ValAccuracy != nil {
				h.HasVal = true
				hr.Val = pct(*rd.ValAccuracy)
			}
			h.Rounds = append(h.Rounds, hr)
		}
		v.Harden = h
	}

	if c := r.Certification; c != nil {
		v.CertOnly = certOnly(r)
		hc, err := newHTMLCert(c)
		if err != nil {
			return nil, err
		}
		v.Cert = hc
		if v.CertOnly {
			v.Summary = certSummaryKV(v.Summary)
		}
	}

	shown := g
	if len(shown) > MaxGalleryExamples {
		shown = shown[:MaxGalleryExamples]
		v.GalleryMsg = fmt.Sprintf("Showing the first %d of %d examples.", MaxGalleryExamples, len(g))
	}
	for _, e := range shown {
		v.Gallery = append(v.Gallery, newHTMLExample(e))
	}

	cfg, err := json.MarshalIndent(r.Config, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("report: html: config: %w", err)
	}
	v.ConfigJSON = string(cfg)
	return v, nil
}

// newHTMLCert formats the certification section.
func newHTMLCert(c *report.Certification) (*htmlCert, error) {
	hc := &htmlCert{Params: certParams(c) + ".", Summary: "Certified " + certSummary(c) + "."}
	if l := certRadiusLine(c); l != "" {
		hc.RadiusLine = capitalize(l) + "."
	}
	_, hc.Radii = certRows(c)
	if len(c.Radii) > 1 {
		p := newPlot("Certified accuracy against L2 radius", "L2 radius", "certified accuracy")
		xys := make(plotter.XYs, len(c.Radii))
		for i, r := range c.Radii {
			xys[i] = plotter.XY{X: r.Radius, Y: r.CertifiedAccuracy}
		}
		if err := addLine(p, xys, plotColors[0], false, "certified accuracy"); err != nil {
			return nil, err
		}
		svg, err := plotSVG(p)
		if err != nil {
			return nil, err
		}
		hc.SVG = svg
	}
	shown := c.Samples
	if len(shown) > MaxCertifiedSamples {
		shown = shown[:MaxCertifiedSamples]
		hc.SamplesMsg = fmt.Sprintf("The first %d of %d samples; the JSON report lists them all.", MaxCertifiedSamples, len(c.Samples))
	}
	for _, s := range shown {
		correct := "no"
		if s.Correct && s.Prediction != report.AbstainPrediction {
			correct = "yes"
		}
		hc.Samples = append(hc.Samples, []string{strconv.Itoa(s.Index), strconv.Itoa(s.Label), predictionCell(s),
			strconv.Itoa(s.CountTop), num4(s.PLower), num4(s.Radius), correct})
	}
	return hc, nil
}

// certSummaryKV drops the attack figures (samples evaluated, clean
// accuracy) from a certification report's summary: certify measures
// neither.
func certSummaryKV(kv []htmlKV) []htmlKV {
	var out []htmlKV
	for _, e := range kv {
		if e.Key != "samples" && e.Key != "clean accuracy" {
			out = append(out, e)
		}
	}
	return out
}

func attackGateCell(g report.AttackGate) string {
	s := "pass"
	if !g.Passed {
		s = "FAIL"
	}
	var parts []string
	if g.MaxSR != nil {
		parts = append(parts, "max_sr "+num(*g.MaxSR))
	}
	if g.BaselineSR != nil {
		parts = append(parts, "baseline "+pct(*g.BaselineSR))
	}
	if g.MaxTargetedSR != nil {
		parts = append(parts, "max_targeted_sr "+num(*g.MaxTargetedSR))
	}
	if g.BaselineTargetedSR != nil {
		parts = append(parts, "baseline targeted "+pct(*g.BaselineTargetedSR))
	}
	if g.New {
		parts = append(parts, "new")
	}
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s
}

func paramsCell(p map[string]string) string {
	if len(p) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + p[k]
	}
	return strings.Join(keys, ", ")
}

// newHTMLExample encodes an example's three images as PNG data URIs.
func newHTMLExample(e Example) htmlExample {
	he := htmlExample{
		Attack:           orDash(e.Attack),
		Truth:            className(e.Label, e.LabelName),
		Predicted:        className(e.Pred, e.PredName),
		PredictedIsTruth: e.Label == e.Pred,
	}
	if e.LabelConfidence > 0 {
		he.Truth += " (" + pct(e.LabelConfidence) + " on the original)"
	}
	he.Predicted += " (" + pct(e.Confidence) + ")"
	c, h, w, err := imageShape(e.Shape)
	if err == nil && (len(e.Original) != c*h*w || len(e.Adversarial) != c*h*w) {
		err = fmt.Errorf("%d original and %d adversarial values for shape %v (want %d)", len(e.Original), len(e.Adversarial), e.Shape, c*h*w)
	}
	if err != nil {
		he.Problem = "cannot show this example: " + err.Error()
		return he
	}
	pert := make([]float32, len(e.Original))
	var m float64
	for i := range pert {
		d := float64(e.Adversarial[i]) - float64(e.Original[i])
		if math.IsNaN(d) || math.IsInf(d, 0) {
			d = 0
		}
		pert[i] = float32(d)
		m = math.Max(m, math.Abs(d))
	}
	amp := 0.0
	if m > 0 {
		amp = 0.5 / m
	}
	for i := range pert {
		pert[i] = float32(0.5 + amp*float64(pert[i]))
	}
	he.Amplification = "x" + strconv.FormatFloat(amp, 'g', 3, 64) + " (max |delta| " + strconv.FormatFloat(m, 'g', 3, 64) + ")"
	if m == 0 {
		he.Amplification = "no change"
	}
	he.Orig = pngURI(e.Original, c, h, w)
	he.Adv = pngURI(e.Adversarial, c, h, w)
	he.Pert = pngURI(pert, c, h, w)
	// Show small images (MNIST's 28x28) at least 112 pixels wide, in whole
	// multiples so that pixels stay square.
	scale := 1
	if w < 112 {
		scale = (112 + w - 1) / w
	}
	he.Width, he.Height = w*scale, h*scale
	if he.Width > 256 {
		he.Width, he.Height = 256, h*256/w
	}
	return he
}

func className(id int, name string) string {
	if name != "" {
		return fmt.Sprintf("%s (%d)", name, id)
	}
	return strconv.Itoa(id)
}

// imageShape reads (C, H, W) or (H, W).
func imageShape(s []int) (c, h, w int, err error) {
	switch len(s) {
	case 2:
		c, h, w = 1, s[0], s[1]
	case 3:
		c, h, w = s[0], s[1], s[2]
	default:
		return 0, 0, 0, fmt.Errorf("shape %v is not an image (want C, H, W)", s)
	}
	if c != 1 && c != 3 {
		return 0, 0, 0, fmt.Errorf("shape %v: %d channels (want 1 or 3)", s, c)
	}
	if h <= 0 || w <= 0 || h > maxGallerySide || w > maxGallerySide {
		return 0, 0, 0, fmt.Errorf("shape %v: want 1 to %d pixels a side", s, maxGallerySide)
	}
	return c, h, w, nil
}

// pngURI encodes a CHW image with values in [0, 1] as a PNG data URI.
func pngURI(x []float32, c, h, w int) template.URL {
	px := func(v float32) uint8 {
		if !(v > 0) { // also NaN
			return 0
		}
		if v >= 1 {
			return 255
		}
		return uint8(math.Round(float64(v) * 255))
	}
	var img image.Image
	if c == 1 {
		g := image.NewGray(image.Rect(0, 0, w, h))
		for i := range h * w {
			g.Pix[i] = px(x[i])
		}
		img = g
	} else {
		rgba := image.NewNRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			for xx := range w {
				i := y*w + xx
				rgba.SetNRGBA(xx, y, color.NRGBA{px(x[i]), px(x[h*w+i]), px(x[2*h*w+i]), 255})
			}
		}
		img = rgba
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, img); err != nil {
		panic(err) // encoding into memory cannot fail
	}
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()))
}

// Plots, drawn with gonum/plot into SVG.

var plotColors = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 0xff},
	color.RGBA{0xd6, 0x27, 0x28, 0xff},
	color.RGBA{0x2c, 0xa0, 0x2c, 0xff},
	color.RGBA{0xff, 0x7f, 0x0e, 0xff},
	color.RGBA{0x94, 0x67, 0xbd, 0xff},
	color.RGBA{0x8c, 0x56, 0x4b, 0xff},
}

// sweepSVG plots success rate (solid) and robust accuracy (dashed) against
// eps, one colour per swept attack.
func sweepSVG(rows []report.SweepRow) (template.HTML, error) {
	var order []string
	byAttack := map[string][]report.SweepRow{}
	for _, s := range rows {
		if _, ok := byAttack[s.Attack]; !ok {
			order = append(order, s.Attack)
		}
		byAttack[s.Attack] = append(byAttack[s.Attack], s)
	}
	p := newPlot("Success rate against eps", "eps", "rate")
	if len(order) == 1 {
		p.Title.Text += ": " + order[0]
	}
	for i, k := range order {
		rs := byAttack[k]
		sort.SliceStable(rs, func(a, b int) bool { return rs[a].Eps < rs[b].Eps })
		sr := make(plotter.XYs, len(rs))
		ra := make(plotter.XYs, len(rs))
		for j, s := range rs {
			sr[j] = plotter.XY{X: s.Eps, Y: s.SuccessRate}
			ra[j] = plotter.XY{X: s.Eps, Y: s.RobustAccuracy}
		}
		col := plotColors[i%len(plotColors)]
		name := k + " "
		if len(order) == 1 {
			name = ""
		}
		if err := addLine(p, sr, col, false, name+"success rate"); err != nil {
			return "", err
		}
		if err := addLine(p, ra, col, true, name+"robust accuracy"); err != nil {
			return "", err
		}
	}
	return plotSVG(p)
}

// hardenSVG plots the worst-case success rate and the clean accuracy after
// each round of the harden loop.
func hardenSVG(rounds []report.HardenRound) (template.HTML, error) {
	p := newPlot("Harden rounds", "round", "rate")
	p.X.Tick.Marker = integerTicks{}
	sr := make(plotter.XYs, len(rounds))
	acc := make(plotter.XYs, len(rounds))
	for i, r := range rounds {
		sr[i] = plotter.XY{X: float64(r.Round), Y: r.WorstCaseSR}
		acc[i] = plotter.XY{X: float64(r.Round), Y: r.CleanAccuracy}
	}
	if err := addLine(p, sr, plotColors[1], false, "worst-case SR"); err != nil {
		return "", err
	}
	if err := addLine(p, acc, plotColors[0], false, "clean accuracy"); err != nil {
		return "", err
	}
	return plotSVG(p)
}

// plotFont is Liberation Sans (metric-compatible with Arial), so that the
// labels gonum/plot measured fit when a browser draws them in its sans
// font.
var plotFont = font.Font{Typeface: "Liberation", Variant: "Sans"}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	for _, st := range []*text.Style{&p.Title.TextStyle, &p.X.Label.TextStyle, &p.Y.Label.TextStyle,
		&p.X.Tick.Label, &p.Y.Tick.Label, &p.Legend.TextStyle} {
		st.Font.Typeface, st.Font.Variant = plotFont.Typeface, plotFont.Variant
	}
	p.X.Padding = vg.Points(8)
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	// Rates go up to 1; the band above it holds the legend, clear of the
	// curves.
	p.Y.Min, p.Y.Max = 0, 1.25
	p.Y.Tick.Marker = rateTicks{}
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(8)
	return p
}

func addLine(p *plot.Plot, xys plotter.XYs, col color.Color, dashed bool, label string) error {
	l, s, err := plotter.NewLinePoints(xys)
	if err != nil {
		return fmt.Errorf("report: html plot: %w", err)
	}
	l.Color, s.Color = col, col
	l.Width = vg.Points(1.5)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		s.Shape = draw.BoxGlyph{}
	} else {
		s.Shape = draw.CircleGlyph{}
	}
	s.Radius = vg.Points(2.5)
	p.Add(l, s)
	p.Legend.Add(label, l, s)
	return nil
}

// plotSVG renders p as an inline <svg> element (no XML prolog) that scales
// with the page.
func plotSVG(p *plot.Plot) (template.HTML, error) {
	c := vgsvg.New(16*vg.Centimeter, 9*vg.Centimeter)
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return "", fmt.Errorf("report: html plot: %w", err)
	}
	s := buf.String()
	i := strings.Index(s, "<svg")
	if i < 0 {
		return "", fmt.Errorf("report: html plot: no <svg> element in the plot")
	}
	s = s[i:]
	// Let CSS size the plot: replace the fixed width and height in points.
	if j := strings.Index(s, "viewBox="); j > 0 {
		s = `<svg class="plot" role="img" ` + s[j:]
	}
	return template.HTML(s), nil
}

// rateTicks marks 0, 0.25, ..., 1 with minor ticks between.
type rateTicks struct{}

func (rateTicks) Ticks(min, max float64) []plot.Tick {
	var ts []plot.Tick
	for i := 0; i <= 20; i++ {
		v := float64(i) / 20
		if i%5 == 0 {
			ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
		} else {
			ts = append(ts, plot.Tick{Value: v})
		}
	}
	return ts
}

// integerTicks marks whole numbers only (harden rounds).
type integerTicks struct{}

func (integerTicks) Ticks(min, max float64) []plot.Tick {
	var ts []plot.Tick
	step := math.Max(1, math.Ceil((max-min)/10))
	for v := math.Ceil(min); v <= max; v += step {
		ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', 0, 64)})
	}
	return ts
}
