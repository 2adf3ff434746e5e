package attack

import (
	"math"
	"testing"
)

// oneGradient hides a classifier's InputGradients, so that attacks take
// their one-gradient-per-seed path.
type oneGradient struct{ Classifier }

// TestDeepFoolJacobianPathMatches checks that DeepFool gives the same
// outcome whether it takes all K Jacobian rows from one forward pass
// (onnxmodel.Model is a MultiGradientClassifier) or one gradient
// evaluation per class, with no more gradient evaluations.
func TestDeepFoolJacobianPathMatches(t *testing.T) {
	m, b := shippedMNIST(t, "resnet_bn_dyn_op9", 16)
	if _, ok := Classifier(m).(MultiGradientClassifier); !ok {
		t.Fatal("onnxmodel.Model is not a MultiGradientClassifier")
	}
	for _, spec := range []string{
		"deepfool:max_iter=20",
		"deepfool:norm=linf,max_iter=20",
		"deepfool:nb_grads=3,max_iter=5,eps=0.5",
	} {
		t.Run(spec, func(t *testing.T) {
			multi := run(t, mustNew(t, spec), m, b, 1)
			single := run(t, mustNew(t, spec), oneGradient{m}, b, 1)
			fooled := 0
			for i := range multi.Fooled {
				if multi.Fooled[i] != single.Fooled[i] {
					t.Errorf("sample %d: fooled %v with one forward pass per step, %v with one per class", i, multi.Fooled[i], single.Fooled[i])
				}
				if multi.Fooled[i] {
					fooled++
				}
				// The per-class path spends one gradient evaluation on
				// finding a sample fooled; the Jacobian path a forward pass.
				if g, w := multi.GradEvals[i], single.GradEvals[i]; g > w || g < w-1 {
					t.Errorf("sample %d: %d gradient evaluations, %d with one per class", i, g, w)
				}
			}
			if fooled == 0 {
				t.Error("no sample fooled: the comparison says nothing")
			}
			for k, v := range multi.XAdv.F {
				if w := single.XAdv.F[k]; math.Abs(float64(v-w)) > 1e-5 {
					t.Fatalf("x_adv element %d: %g with one forward pass per step, %g with one per class", k, v, w)
				}
			}
		})
	}
}
