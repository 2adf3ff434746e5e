package run

import (
	"slices"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/config"
	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/tensor"
)

// TestEvalDataShardAndClip checks the streamed view against
// dataset.Set.Shard: the same samples, labels and global indices for
// every shard, and a clip-range error naming the file and the sample as
// checkClipRange names it.
func TestEvalDataShardAndClip(t *testing.T) {
	const n = 10
	x := tensor.New(n, 2)
	y := make([]int, n)
	for i := range x.F {
		x.F[i] = float32(i) / 20
	}
	for i := range y {
		y[i] = i % 3
	}
	set := &dataset.Set{X: x, Y: y, Path: "x.npy", Index: []int{5, 6, 7, 8, 9, 10, 11, 12, 13, 14}}
	for _, tc := range []struct{ i, n int }{{0, 1}, {0, 3}, {1, 3}, {2, 3}, {3, 4}} {
		d := &evalData{src: dataset.SetSource(set), shape: set.SampleShape(), labels: set.Y, Path: set.Path, Index: set.Index}
		if err := d.shard(tc.i, tc.n); err != nil {
			t.Fatal(err)
		}
		want, err := set.Shard(tc.i, tc.n)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, d.Len()*2)
		if err := d.ReadBatch(got, 0, d.Len()); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want.X.F) || !slices.Equal(d.Labels(), want.Y) || !slices.Equal(d.Index, want.Index) {
			t.Errorf("shard %d/%d: %v %v %v, want %v %v %v", tc.i, tc.n, got, d.Labels(), d.Index, want.X.F, want.Y, want.Index)
		}
	}
	// Shard 1 of 2 is samples 5..9; sample 5 holds 0.55, over 0.5.
	plan := &config.Plan{}
	plan.Preprocessing.ClipMin, plan.Preprocessing.ClipMax = 0, 0.5
	want, err := set.Shard(1, 2)
	if err != nil {
		t.Fatal(err)
	}
	wantErr := checkClipRange(want, plan, "sample")
	d := &evalData{src: dataset.SetSource(set), shape: set.SampleShape(), labels: set.Y, Path: set.Path, clip: true, clipLo: 0, clipHi: 0.5}
	if err := d.shard(1, 2); err != nil {
		t.Fatal(err)
	}
	err = d.ReadBatch(make([]float32, 2*2), 0, 2)
	if err == nil || wantErr == nil || err.Error() != wantErr.Error() || !strings.Contains(err.Error(), "x.npy: sample 0") {
		t.Errorf("clip error %v, want %v", err, wantErr)
	}
}
