package certify

import (
	"fmt"
	"math"

	"github.com/advtest/advtest/pkg/defend"
	"github.com/advtest/advtest/pkg/onnxmodel"
)

// Noise sources, as report.Certification.NoiseSource records them.
const (
	// NoiseFromInput: certify adds the noise to the data.
	NoiseFromInput = "input"
	// NoiseFromModel: the model carried the noise in its graph; certify cut
	// it off and draws the same noise itself.
	NoiseFromModel = "model"
)

// Base is what ForModel makes of an ONNX model: the base classifier to
// sample, the parameters to sample it with, and what the report should say.
type Base struct {
	// Model is the base classifier f (the model without its in-graph noise).
	Model *onnxmodel.Model
	// Params are the caller's, with sigma and the clip range of the
	// model's noise when it had some.
	Params Params
	// NoiseSource is NoiseFromInput or NoiseFromModel.
	NoiseSource string
	// Notes are facts for the report; Warnings are for stderr too.
	Notes, Warnings []string
}

// ForModel prepares m (as loaded, before preprocessing is put into its
// graph) for certification with p. A model with the advtest.noise mark is
// cut at its noise (defend.WithoutNoise), so that the noise is added once,
// here; p.Sigma must then be 0 (take the model's) or the model's own sigma,
// and the model's clip range replaces p's. A model whose graph draws
// random numbers without the mark is kept as it is, with a warning.
func ForModel(m *onnxmodel.Model, p Params) (*Base, error) {
	base, mark, ok, err := defend.WithoutNoise(m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.Path, err)
	}
	if ok {
		if p.Sigma != 0 && math.Abs(p.Sigma-float64(mark.Sigma)) > 1e-6*float64(mark.Sigma) {
			return nil, fmt.Errorf("%s: the model adds Gaussian noise of sigma %g in its graph (%s); certifying at sigma %g would certify another smoothed classifier than the one deployed: leave sigma out or set it to %g", m.Path, mark.Sigma, defend.NoiseKey, p.Sigma, mark.Sigma)
		}
		p.Sigma = float64(mark.Sigma)
		p.Clip, p.Min, p.Max = mark.Clip, mark.Min, mark.Max
		note := fmt.Sprintf("the model adds N(0, %g²) noise in its graph (%s, %s): certify cut that noise off and drew the same noise itself, seeded, so it was added once", mark.Sigma, defend.NoiseKey, mark.Noise)
		return &Base{Model: base, Params: p, NoiseSource: NoiseFromModel, Notes: []string{note}}, nil
	}
	if p.Sigma == 0 {
		p.Sigma = DefaultSigma
	}
	b := &Base{Model: m, Params: p, NoiseSource: NoiseFromInput}
	if m.Randomised() {
		w := fmt.Sprintf("%s: the graph draws random numbers (RandomNormalLike/RandomUniformLike) without advtest's noise mark: certify adds N(0, %g²) on top; the certificate holds for that randomised base classifier, but the graph's own noise is not counted in the radius", m.Path, p.Sigma)
		b.Notes, b.Warnings = []string{w}, []string{w}
	}
	return b, nil
}
