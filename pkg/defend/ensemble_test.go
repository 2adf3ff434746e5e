package defend

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/advtest/advtest/pkg/onnxmodel"
)

// TestEnsembleDefence combines the CNN with the MLP file through the
// registered defence (mean probabilities) and checks the output is the
// Log of the mean of the members' softmax, before and after a reload.
func TestEnsembleDefence(t *testing.T) {
	cnn := needModel(t, "mnist_cnn.onnx")
	mlp := needModel(t, "mnist_mlp.onnx")
	x := needMNIST(t, 16).X
	d, err := New("ensemble", map[string]string{"members": filepath.Join(modelsDir, "mnist_mlp.onnx"), "how": "mean-probs"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := d.Apply(context.Background(), cnn, TrainData{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := saveAndReload(t, h)
	l1, _ := cnn.Logits(context.Background(), x)
	l2, _ := mlp.Logits(context.Background(), x)
	p1, p2 := softmax(l1), softmax(l2)
	for _, mm := range []*onnxmodel.Model{h, r} {
		got, err := mm.Logits(context.Background(), x)
		if err != nil {
			t.Fatal(err)
		}
		for i := range p1 {
			want := math.Log(math.Max((p1[i]+p2[i])/2, 1e-30))
			if math.Abs(float64(got.F[i])-want) > 1e-4*math.Max(1, math.Abs(want)) {
				t.Fatalf("element %d: ensemble %g, want %g", i, got.F[i], want)
			}
		}
	}
	if _, err := New("ensemble", nil); err == nil {
		t.Error("no members: no error")
	}
	if _, err := New("ensemble", map[string]string{"members": "a.onnx", "retrain_seeds": "3"}); err == nil {
		t.Error("retrain_seeds: no error")
	}
}
