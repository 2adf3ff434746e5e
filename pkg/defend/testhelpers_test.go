package defend

import (
	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/onnxmodel"
)

// Adaptive returns the classifier an honest evaluation should attack for a
// hardened model (Athalye, Carlini and Wagner 2018): AdaptiveWith with
// seed 0 and DefaultEOTDraws draws.
func Adaptive(m *onnxmodel.Model) (attack.Classifier, error) {
	return AdaptiveWith(m, AdaptiveOptions{})
}
