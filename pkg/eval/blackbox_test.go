package eval

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/advtest/advtest/internal/attacktest"
	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/tensor"
)

func loadMNIST(t *testing.T, limit int) (*onnxmodel.Model, *dataset.Set) {
	t.Helper()
	m, err := onnxmodel.Load("../../testdata/models/mnist_cnn.onnx")
	if err != nil {
		t.Fatal(err)
	}
	set, err := dataset.Load("../../testdata/mnist/test-1000-images.npy", "../../testdata/mnist/test-1000-labels.npy", dataset.Options{Limit: limit})
	if err != nil {
		t.Fatal(err)
	}
	return m, set
}

// TestSquareVersusPGDOnCNN is the real-model check of the Square Attack:
// Linf eps 0.3 with 1000 queries on the shipped MNIST CNN reaches at least
// 90% of PGD-40's success rate on the same clean-correct samples, run in
// one pool with it. It also checks that the pool reports Square's queries
// (≤ 1000 per sample, none for PGD) and no gradient evaluations.
func TestSquareVersusPGDOnCNN(t *testing.T) {
	if testing.Short() {
		t.Skip("real-model black-box check (about 30 s)")
	}
	m, set := loadMNIST(t, 100)
	pgd, err := attacktest.New("pgd:eps=0.3,steps=40")
	if err != nil {
		t.Fatal(err)
	}
	sq, err := attacktest.New("square:eps=0.3,max_queries=1000")
	if err != nil {
		t.Fatal(err)
	}
	res, err := RunPool(context.Background(), m, set.X, set.Y, []attack.Attack{pgd, sq}, PoolOptions{BatchSize: 100, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	sr := func(r *AttackRun) (float64, int) {
		f, n := 0, 0
		for i, a := range r.Attacked {
			if a {
				n++
				if r.Fooled[i] {
					f++
				}
			}
		}
		return float64(f) / float64(max(n, 1)), n
	}
	srP, n := sr(res.Attacks[0])
	srS, _ := sr(res.Attacks[1])
	var qs []int
	for i, a := range res.Attacks[1].Attacked {
		if !a {
			continue
		}
		q, g := res.Attacks[1].Queries[i], res.Attacks[1].GradEvals[i]
		if q < 1 || q > 1000 || g != 0 {
			t.Fatalf("square sample %d: %d queries, %d gradient evaluations", i, q, g)
		}
		if res.Attacks[1].Fooled[i] {
			qs = append(qs, q)
		}
		if res.Attacks[1].Linf[i] > 0.3+1e-6 {
			t.Fatalf("square sample %d: Linf %g > 0.3", i, res.Attacks[1].Linf[i])
		}
	}
	t.Logf("n=%d clean-correct: PGD-40 SR %.3f, Square (1000 queries) SR %.3f, mean queries of successes %.1f", n, srP, srS, mean(qs))
	if srS < 0.9*srP {
		t.Errorf("Square SR %.3f < 0.9 × PGD-40 SR %.3f", srS, srP)
	}
}

func mean(v []int) float64 {
	if len(v) == 0 {
		return 0
	}
	s := 0
	for _, x := range v {
		s += x
	}
	return float64(s) / float64(len(v))
}

// TestPoolQueriesThroughScoreFunc runs black-box attacks of both kinds in
// a pool whose queries go to a counting forward-only function: the
// queries the pool reports add up to the rows that function evaluated, and
// a white-box attack in the same pool still runs against the classifier.
func TestPoolQueriesThroughScoreFunc(t *testing.T) {
	if testing.Short() {
		t.Skip("real-model pool check")
	}
	m, set := loadMNIST(t, 12)
	var rows atomic.Int64
	query := func(ctx context.Context, x *tensor.Tensor) (*tensor.Tensor, error) {
		rows.Add(int64(x.Shape[0]))
		return m.Logits(ctx, x)
	}
	var attacks []attack.Attack
	for _, spec := range []string{"fgsm:eps=0.3", "square:eps=0.3,max_queries=200", "hsja:max_queries=300"} {
		a, err := attacktest.New(spec)
		if err != nil {
			t.Fatal(err)
		}
		attacks = append(attacks, a)
	}
	res, err := RunPool(context.Background(), m, set.X, set.Y, attacks, PoolOptions{BatchSize: 6, Seed: 3, Query: query})
	if err != nil {
		t.Fatal(err)
	}
	sum := 0
	for _, r := range res.Attacks[1:] {
		for i, a := range r.Attacked {
			if a {
				sum += r.Queries[i]
				if r.Queries[i] > r.Attack.(attack.BlackBox).MaxQueries() {
					t.Fatalf("%s sample %d: %d queries", r.Attack.Name(), i, r.Queries[i])
				}
			}
		}
	}
	if int64(sum) != rows.Load() {
		t.Fatalf("pool reports %d queries, the endpoint evaluated %d rows", sum, rows.Load())
	}
	if res.Attacks[0].GradEvals[firstAttacked(res.Attacks[0])] == 0 {
		t.Fatal("white-box attack in the pool evaluated no gradient")
	}
}

func firstAttacked(r *AttackRun) int {
	for i, a := range r.Attacked {
		if a {
			return i
		}
	}
	return 0
}
