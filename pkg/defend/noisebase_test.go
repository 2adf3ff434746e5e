package defend

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// TestWithoutNoise checks that the model behind the noise is the original
// model (the same logits on clean data, deterministically) and carries the
// mark's noise; a model without a mark gives ok false.
func TestWithoutNoise(t *testing.T) {
	m := needModel(t, "mnist_mlp.onnx")
	x := needMNIST(t, 8).X
	ctx := context.Background()
	if base, _, ok, err := WithoutNoise(m); base != nil || ok || err != nil {
		t.Fatalf("plain model: base %v, ok %v, err %v; want nil, false, nil", base, ok, err)
	}
	h, err := WithNoise(m, Noise{Sigma: 0.25, Clip: true, Min: 0, Max: 1})
	if err != nil {
		t.Fatal(err)
	}
	base, mark, ok, err := WithoutNoise(saveAndReload(t, h))
	if err != nil || !ok {
		t.Fatalf("noisy model: ok %v, err %v", ok, err)
	}
	if mark.Sigma != 0.25 || !mark.Clip || base.Randomised() {
		t.Errorf("mark %+v, base randomised %v; want sigma 0.25 with clip and a deterministic base", mark, base.Randomised())
	}
	want, err := m.Logits(ctx, x)
	if err != nil {
		t.Fatal(err)
	}
	got, err := base.Logits(ctx, x)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.F, want.F) {
		t.Error("the model behind the noise does not compute the original model's logits")
	}
	// A mark that names a value the noise does not write is an error.
	bad, err := h.Edit().SetMetadata(NoiseKey, `{"sigma":0.5,"clip":true,"min":0,"max":1,"output":"`+mark.Output+`"}`).Build()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := WithoutNoise(bad); err == nil || !strings.Contains(err.Error(), "scale") {
		t.Errorf("a mark with the wrong sigma: err %v, want one naming the draw's scale", err)
	}
}
