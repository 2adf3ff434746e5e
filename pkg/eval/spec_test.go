package eval

import (
	"context"
	"testing"

	"github.com/advtest/advtest/pkg/attack"
)

// TestAttackSpecRecordsSurrogate: a transfer attack's report params (and
// so its key) carry the surrogate file's SHA-256 beside its path, as
// configured params never do (issue 14: the report says which surrogate).
func TestAttackSpecRecordsSurrogate(t *testing.T) {
	params := map[string]string{"surrogate": "../../testdata/models/mnist_surrogate.onnx", "attack": "fgsm", "eps": "0.1"}
	a, err := attack.New("transfer", params)
	if err != nil {
		t.Fatal(err)
	}
	_, sha := a.(*attack.Transfer).Surrogate()
	spec := NewAttackSpec(a, "transfer", params)
	if spec.Params["surrogate_sha256"] != sha || len(sha) != 64 {
		t.Errorf("spec params %v: want surrogate_sha256=%s", spec.Params, sha)
	}
	if _, ok := params["surrogate_sha256"]; ok {
		t.Error("NewAttackSpec changed the configured params")
	}
	m, set := loadMNIST(t, 5)
	pool, err := RunPool(context.Background(), m, set.X, set.Y, []attack.Attack{a}, PoolOptions{BatchSize: 5, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	res, err := NewResult(pool, []AttackSpec{spec})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Attacks[0].Params["surrogate_sha256"]; got != sha {
		t.Errorf("report params %v: want surrogate_sha256=%s", res.Attacks[0].Params, sha)
	}
	// A plain attack's params are left as configured.
	pgd, _ := attack.New("pgd", map[string]string{"eps": "0.1"})
	if p := NewAttackSpec(pgd, "pgd", map[string]string{"eps": "0.1"}).Params; len(p) != 1 {
		t.Errorf("pgd spec params %v, want the configured ones", p)
	}
}
