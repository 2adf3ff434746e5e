package defend

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/tensor"
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
	p1, p2 := tensor.SoftmaxFloat64(l1), tensor.SoftmaxFloat64(l2)
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
	for _, bad := range []map[string]string{
		{"retrain_seeds": "-1"},
		{"retrain_seeds": "2", "member_defence": "squeeze:bits=2"},
		{"retrain_seeds": "2", "member_defence": "no-such-defence"},
	} {
		if _, err := New("ensemble", bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

// TestEnsembleRetrainedMembers: retrain_seeds trains members from the
// model with seeds drawn from the round's generator; the ensemble's
// output is the mean of the model's and those members' logits, each
// member trained exactly as member_defence with its seed would train it
// alone, and the members differ from each other.
func TestEnsembleRetrainedMembers(t *testing.T) {
	ctx := context.Background()
	m := loadModel(t, "tabular_mlp.onnx")
	data := TrainData{Train: loadTabular(t, true)}
	x := loadTabular(t, false).X
	const spec = "label-smoothing:max_value=1,epochs=1,batch_size=32"
	d, err := New("ensemble", map[string]string{"retrain_seeds": "2", "member_defence": spec})
	if err != nil {
		t.Fatal(err)
	}
	e, err := d.Apply(ctx, m, data, seeded(5))
	if err != nil {
		t.Fatal(err)
	}
	rng := seeded(5)
	members := []*onnxmodel.Model{m}
	for k := 0; k < 2; k++ {
		tr, err := New("label-smoothing", map[string]string{"max_value": "1", "epochs": "1", "batch_size": "32"})
		if err != nil {
			t.Fatal(err)
		}
		mm, err := tr.Apply(ctx, m, data, rand.New(rand.NewPCG(rng.Uint64(), uint64(k))))
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, mm)
	}
	got, err := e.Logits(ctx, x)
	if err != nil {
		t.Fatal(err)
	}
	var ls [][]float32
	for _, mm := range members {
		l, err := mm.Logits(ctx, x)
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l.F)
	}
	differ := false
	for i := range got.F {
		want := (float64(ls[0][i]) + float64(ls[1][i]) + float64(ls[2][i])) / 3
		if math.Abs(float64(got.F[i])-want) > 1e-4*math.Max(1, math.Abs(want)) {
			t.Fatalf("element %d: ensemble %g, want the members' mean %g", i, got.F[i], want)
		}
		differ = differ || ls[1][i] != ls[2][i]
	}
	if !differ {
		t.Error("the two retrained members are identical: their seeds did not reach training")
	}
}
