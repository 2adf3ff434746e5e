package eval

import (
	"context"
	"math"
	"testing"

	"github.com/advtest/advtest/internal/attacktest"
	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/onnxmodel"
)

// TestShardsReproduceSingleRun runs a pool over 40 MNIST samples on the
// shipped MLP in one run (batch size 16) and as three shards
// (dataset.Set.Shard, passing Set.Index as SampleIndex, batch size 7), and
// asks for the same per-sample outcome bit for bit: fooled, norms, gradient
// evaluations and queries, for random-start, restart and black-box attacks
// and a targeted one.
func TestShardsReproduceSingleRun(t *testing.T) {
	_, set := loadMNIST(t, 40)
	m, err := onnxmodel.Load("../../testdata/models/mnist_mlp.onnx")
	if err != nil {
		t.Fatal(err)
	}
	specs := []string{
		"pgd:eps=0.1,steps=5,restarts=2",
		"apgd-ce:eps=0.1,steps=5",
		"square:eps=0.1,max_queries=40",
		"hsja:max_queries=60",
		"pgd:eps=0.1,steps=5,targeted=true,target=random",
	}
	var pool []attack.Attack
	for _, s := range specs {
		a, err := attacktest.New(s)
		if err != nil {
			t.Fatal(err)
		}
		pool = append(pool, a)
	}
	ctx := context.Background()
	whole, err := RunPool(ctx, m, set.X, set.Y, pool, PoolOptions{BatchSize: 16, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	const shards = 3
	for k := 0; k < shards; k++ {
		sh, err := set.Shard(k, shards)
		if err != nil {
			t.Fatal(err)
		}
		part, err := RunPool(ctx, m, sh.X, sh.Y, pool, PoolOptions{BatchSize: 7, Seed: 3, SampleIndex: sh.Index})
		if err != nil {
			t.Fatal(err)
		}
		for j, run := range part.Attacks {
			w := whole.Attacks[j]
			for i, g := range sh.Index {
				same := run.Attacked[i] == w.Attacked[g] && run.Fooled[i] == w.Fooled[g] &&
					math.Float64bits(run.L2[i]) == math.Float64bits(w.L2[g]) &&
					math.Float64bits(run.Linf[i]) == math.Float64bits(w.Linf[g]) &&
					run.GradEvals[i] == w.GradEvals[g] && run.Queries[i] == w.Queries[g]
				if run.Targets != nil {
					same = same && run.Targets[i] == w.Targets[g] && run.Reached[i] == w.Reached[g]
				}
				if !same {
					t.Errorf("%s: shard %d sample %d (global %d): fooled %v L2 %v queries %d, whole run fooled %v L2 %v queries %d",
						specs[j], k, i, g, run.Fooled[i], run.L2[i], run.Queries[i], w.Fooled[g], w.L2[g], w.Queries[g])
					break
				}
			}
		}
	}
	// The targeted attack reports its targets and reached flags.
	tr := whole.Attacks[len(specs)-1]
	if tr.Targets == nil || tr.Reached == nil {
		t.Fatal("targeted run reports no targets")
	}
	for i, a := range tr.Attacked {
		if a && tr.Reached[i] && !tr.Fooled[i] {
			t.Errorf("sample %d reached its target %d but is not misclassified", i, tr.Targets[i])
		}
	}
}
