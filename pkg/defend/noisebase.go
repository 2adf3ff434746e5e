package defend

import (
	"fmt"

	"github.com/advtest/advtest/pkg/onnxmodel"
)

// WithoutNoise returns the model behind m's inference noise: for a model
// with a NoiseKey mark whose noise reads the model's input directly (as
// WithNoise and the gaussian-noise defence write it), base takes the clean
// input and computes what m computes from x + noise, without the noise.
// ok is false (and base nil) when m has no mark. Randomized smoothing uses
// it so that the noise is drawn once, by the certifier, with mark's sigma
// and clip range. A mark that does not describe the graph, or noise that
// reads a value computed inside the graph (noise in another space than the
// input's), is an error.
func WithoutNoise(m *onnxmodel.Model) (base *onnxmodel.Model, mark NoiseMark, ok bool, err error) {
	mark, ok, err = NoiseMarkOf(m)
	if !ok || err != nil {
		return nil, mark, ok, err
	}
	a, err := noiseInput(m.Proto.GetGraph(), mark)
	if err != nil {
		return nil, mark, true, err
	}
	in, err := m.InputName()
	if err != nil {
		return nil, mark, true, err
	}
	if a != in {
		return nil, mark, true, fmt.Errorf("the model's noise (%s) is added to %q, a value the graph computes from its input %q: its noise is not in input space", NoiseKey, a, in)
	}
	_, rest, err := m.Split(mark.Output)
	if err != nil {
		return nil, mark, true, fmt.Errorf("cutting the model at its noise: %w", err)
	}
	rest.Path = m.Path
	return rest, mark, true, nil
}
