package harden

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/advtest/advtest/internal/attacktest"
	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/defend"
	"github.com/advtest/advtest/pkg/eval"
	"github.com/advtest/advtest/pkg/onnxmodel"
)

// The tabular MLP (3 classes, 8 standardised features) is small enough to
// train a few epochs per round in well under a second; eps is in feature
// units, the clip range wide enough never to bind (as pkg/defend's tests).
const (
	tabModel = "../../testdata/models/tabular_mlp.onnx"
	tabPGD   = "pgd:eps=0.5,steps=10,min=-20,max=20"
)

func loadTab(t *testing.T) (*onnxmodel.Model, Pool, *dataset.Set) {
	t.Helper()
	m, err := onnxmodel.Load(tabModel)
	if err != nil {
		t.Fatal(err)
	}
	test, err := dataset.Load("../../testdata/tabular/x.npy", "../../testdata/tabular/y.npy", dataset.Options{Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	train, err := dataset.Load("../../testdata/tabular/x_train.npy", "../../testdata/tabular/y_train.npy", dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pgd, err := attacktest.New(tabPGD)
	if err != nil {
		t.Fatal(err)
	}
	return m, Pool{X: test.X, Y: test.Y, Attacks: []attack.Attack{pgd}, BatchSize: 100}, train
}

// at is a short PGD-AT fine-tuning in feature units.
func at(epochs string) DefenceSpec {
	return DefenceSpec{Name: "pgd-at", Params: map[string]string{"eps": "0.5", "steps": "5", "min": "-20", "max": "20", "epochs": epochs, "batch_size": "32"}}
}

func tabConfig(train *dataset.Set, until float64, rounds int, schedule ...DefenceSpec) Config {
	return Config{UntilSR: until, MaxRounds: rounds, MaxCleanDrop: 0.1, Schedule: schedule, Seed: 7, Train: train}
}

// sameRows compares rows without their wall times.
func sameRows(t *testing.T, got, want []Row) {
	t.Helper()
	strip := func(rs []Row) []Row {
		out := append([]Row(nil), rs...)
		for i := range out {
			out[i].Seconds = 0
		}
		return out
	}
	if !reflect.DeepEqual(strip(got), strip(want)) {
		t.Errorf("rows differ:\n got %+v\nwant %+v", strip(got), strip(want))
	}
}

func sameWeights(t *testing.T, a, b *onnxmodel.Model) {
	t.Helper()
	for _, name := range a.ParamNames {
		pa, pb := a.Params[name], b.Params[name]
		if pb == nil || !reflect.DeepEqual(pa.F, pb.F) {
			t.Fatalf("parameter %s differs", name)
		}
	}
}

// TestStopsWhenTargetMet: with an unreachable target the loop runs
// max_rounds rounds; with the target set to what round 1 reached, the
// same seed stops right after round 1, reports the target met, and its
// rows are the first two of the longer run.
func TestStopsWhenTargetMet(t *testing.T) {
	m, pool, train := loadTab(t)
	ctx := context.Background()
	long, err := Run(ctx, m, pool, tabConfig(train, 0, 2, at("4")))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range long.Rows {
		t.Logf("round %d %s: clean %.3f, worst SR %.3f, accepted %v %s", r.Round, r.Defence, r.CleanAccuracy, r.WorstCaseSR, r.Accepted, r.Reason)
	}
	if len(long.Rows) != 3 || long.Reached {
		t.Fatalf("%d rows, reached %v, stop %q: want 3 rows, target not met", len(long.Rows), long.Reached, long.Stop)
	}
	r1 := long.Rows[1]
	if !r1.Accepted || r1.WorstCaseSR >= long.Rows[0].WorstCaseSR {
		t.Fatalf("round 1 did not lower the SR: %+v", r1)
	}
	if !strings.HasPrefix(r1.Params["attack"], "pgd:") {
		t.Errorf("round 1's pgd-at trained with attack=%q, want the pool's PGD", r1.Params["attack"])
	}
	short, err := Run(ctx, m, pool, tabConfig(train, r1.WorstCaseSR, 5, at("4")))
	if err != nil {
		t.Fatal(err)
	}
	if len(short.Rows) != 2 || !short.Reached || short.Stop != "target met in round 1" {
		t.Fatalf("%d rows, reached %v, stop %q: want to stop after round 1", len(short.Rows), short.Reached, short.Stop)
	}
	sameRows(t, short.Rows, long.Rows[:2])
	if short.Final == nil || short.Final.CleanAccuracy != r1.CleanAccuracy {
		t.Errorf("the final pool result is not the accepted model's")
	}
	// A target the model already meets: no round runs.
	none, err := Run(ctx, m, pool, tabConfig(train, 1, 5, at("4")))
	if err != nil {
		t.Fatal(err)
	}
	if len(none.Rows) != 1 || !none.Reached || none.Model != m {
		t.Errorf("%d rows, reached %v: want round 0 only", len(none.Rows), none.Reached)
	}
}

// TestRejectsCostlyRound: label smoothing with an absurd learning rate
// wrecks the model; the round is rejected for its clean accuracy, the
// model is not kept, and the next round starts again from round 0's model.
func TestRejectsCostlyRound(t *testing.T) {
	m, pool, train := loadTab(t)
	wreck := DefenceSpec{Name: "label-smoothing", Params: map[string]string{"max_value": "0.34", "lr": "3", "optimiser": "sgd", "momentum": "0", "epochs": "2"}}
	cfg := tabConfig(train, 0, 2, wreck, at("4"))
	cfg.MaxCleanDrop = 0.02
	res, err := Run(context.Background(), m, pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Rows {
		t.Logf("round %d %s: clean %.3f, worst SR %.3f, accepted %v %s", r.Round, r.Defence, r.CleanAccuracy, r.WorstCaseSR, r.Accepted, r.Reason)
	}
	if len(res.Rows) != 3 {
		t.Fatalf("%d rows, want 3", len(res.Rows))
	}
	r1 := res.Rows[1]
	if r1.Accepted || !strings.Contains(r1.Reason, "clean accuracy") {
		t.Fatalf("round 1 %+v: want rejected for its clean accuracy", r1)
	}
	if r1.CleanAccuracy >= res.Rows[0].CleanAccuracy-cfg.MaxCleanDrop {
		t.Fatalf("the wrecking defence kept clean accuracy %.3f (round 0 %.3f)", r1.CleanAccuracy, res.Rows[0].CleanAccuracy)
	}
	// Round 2 starts from round 0's model: it equals a run whose schedule
	// is round 2's defence alone, shifted by one round (the generator
	// differs, so compare only that round 2 was accepted and improved).
	if !res.Rows[2].Accepted || res.Model == m {
		t.Errorf("round 2 %+v: want accepted from the original model", res.Rows[2])
	}
}

// TestResumeIsExact: a run interrupted after round 1 and resumed from its
// checkpoint gives the same rows and the same final weights as an
// uninterrupted run with the same seed.
func TestResumeIsExact(t *testing.T) {
	m, pool, train := loadTab(t)
	schedule := []DefenceSpec{at("2"), {Name: "fast-at", Params: map[string]string{"eps": "0.5", "min": "-20", "max": "20", "epochs": "2", "batch_size": "32", "lr": "0.01"}}}
	full, err := Run(context.Background(), m, pool, tabConfig(train, 0, 3, schedule...))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := tabConfig(train, 0, 3, schedule...)
	cfg.CheckpointDir = dir
	ctx, cancel := context.WithCancel(context.Background())
	cfg.OnRound = func(r Row) {
		if r.Round == 1 {
			cancel()
		}
	}
	part, err := Run(ctx, m, pool, cfg)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: err %v, want context.Canceled", err)
	}
	if len(part.Rows) != 2 {
		t.Fatalf("interrupted run has %d rows, want 2", len(part.Rows))
	}
	st, _, err := LoadCheckpoint(dir)
	if err != nil || st.Rounds != 2 {
		t.Fatalf("checkpoint after the interrupt: %v, %+v", err, st)
	}
	cfg.OnRound, cfg.Resume = nil, true
	resumed, err := Run(context.Background(), m, pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if resumed.ResumedAt != 2 {
		t.Errorf("resumed at %d, want 2", resumed.ResumedAt)
	}
	sameRows(t, resumed.Rows, full.Rows)
	sameWeights(t, resumed.Model, full.Model)
	if resumed.Stop != full.Stop || resumed.Reached != full.Reached {
		t.Errorf("stop %q/%v, want %q/%v", resumed.Stop, resumed.Reached, full.Stop, full.Reached)
	}
	// A finished checkpoint resumes to the same result without running a
	// round (the final model is measured again, with the same figures).
	again, err := Run(context.Background(), m, pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sameRows(t, again.Rows, full.Rows)
	if again.Final.CleanAccuracy != full.Final.CleanAccuracy {
		t.Errorf("re-measured final model: clean %.4f, want %.4f", again.Final.CleanAccuracy, full.Final.CleanAccuracy)
	}
	// Another seed is another run: refused.
	cfg.Seed++
	if _, err := Run(context.Background(), m, pool, cfg); err == nil || !strings.Contains(err.Error(), "another") {
		t.Errorf("resume with another seed: err %v", err)
	}
}

// TestCheckpointAtomic: a checkpoint write that fails half-way (the new
// model file cannot be renamed into place) leaves the previous checkpoint
// readable and no temporary file behind.
func TestCheckpointAtomic(t *testing.T) {
	m, _, _ := loadTab(t)
	dir := t.TempDir()
	row := Row{Round: 0, AttackSR: map[string]float64{"pgd": 0.5}, WorstCaseSR: 0.5, Accepted: true, ValAccuracy: -1}
	if err := WriteCheckpoint(dir, State{Seed: 1, Fingerprint: "f", Rows: []Row{row}}, m); err != nil {
		t.Fatal(err)
	}
	// A folder where round 1's model file must go makes the rename fail.
	if err := os.Mkdir(filepath.Join(dir, "model-r001.onnx"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "model-r001.onnx", "x"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	row1 := row
	row1.Round = 1
	if err := WriteCheckpoint(dir, State{Seed: 1, Fingerprint: "f", Rows: []Row{row, row1}}, m); err == nil {
		t.Fatal("the failing checkpoint write reported no error")
	}
	st, m2, err := LoadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rounds != 1 || st.Model != "model-r000.onnx" {
		t.Errorf("after the failure the state is %+v, want round 0's", st)
	}
	sameWeights(t, m2, m)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
	// A truncated model is caught by its checksum.
	data, _ := os.ReadFile(filepath.Join(dir, "model-r000.onnx"))
	if err := os.WriteFile(filepath.Join(dir, "model-r000.onnx"), data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadCheckpoint(dir); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("truncated model: err %v", err)
	}
}

// TestHardenedModelReloads: the hardened model saved as ONNX and loaded
// again has the same clean accuracy and logits.
func TestHardenedModelReloads(t *testing.T) {
	m, pool, train := loadTab(t)
	res, err := Run(context.Background(), m, pool, tabConfig(train, 0, 1, at("2")))
	if err != nil {
		t.Fatal(err)
	}
	if res.Model == m {
		t.Fatal("round 1 was not accepted")
	}
	p := filepath.Join(t.TempDir(), "hardened.onnx")
	if err := res.Model.Save(p); err != nil {
		t.Fatal(err)
	}
	back, err := onnxmodel.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	set := &dataset.Set{X: pool.X, Y: pool.Y}
	a1, err := defend.Accuracy(context.Background(), res.Model, set, 64)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := defend.Accuracy(context.Background(), back, set, 64)
	if err != nil {
		t.Fatal(err)
	}
	if a1 != a2 || a1 != res.Rows[len(res.Rows)-1].CleanAccuracy {
		t.Errorf("accuracy %.4f in memory, %.4f reloaded, %.4f reported", a1, a2, res.Rows[len(res.Rows)-1].CleanAccuracy)
	}
	l1, _ := res.Model.Logits(context.Background(), pool.X)
	l2, _ := back.Logits(context.Background(), pool.X)
	if !reflect.DeepEqual(l1.F, l2.F) {
		t.Error("reloaded logits differ")
	}
}

// TestScheduleAndTrainerAttack: the schedule repeats its last trainer
// defence when exhausted, and an unset attack parameter gets the pool's
// first bounded white-box attack.
func TestScheduleAndTrainerAttack(t *testing.T) {
	sched := []DefenceSpec{{Name: "fast-at"}, {Name: "pgd-at"}, {Name: "squeeze"}}
	for r, want := range map[int]string{1: "fast-at", 2: "pgd-at", 3: "squeeze", 4: "pgd-at", 9: "pgd-at"} {
		d, repeat, ok := scheduled(sched, r)
		if !ok || d.Name != want || repeat != (r > 3) {
			t.Errorf("round %d: %s repeat %v ok %v, want %s", r, d.Name, repeat, ok, want)
		}
	}
	if _, _, ok := scheduled([]DefenceSpec{{Name: "squeeze"}}, 2); ok {
		t.Error("a schedule without a trainer is repeated")
	}
	fgsm, _ := attacktest.New("deepfool")
	pgd, _ := attacktest.New("pgd:eps=0.1,steps=7")
	spec, ok := TrainerAttack([]attack.Attack{fgsm, pgd})
	if !ok || !strings.HasPrefix(spec, "pgd:") || !strings.Contains(spec, "eps=0.1") || !strings.Contains(spec, "steps=7") {
		t.Fatalf("trainer attack %q", spec)
	}
	d, err := build(DefenceSpec{Name: "pgd-at"}, spec)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Params()["attack"]; got != spec {
		t.Errorf("pgd-at attack %v, want %q", got, spec)
	}
	d, err = build(DefenceSpec{Name: "pgd-at", Params: map[string]string{"attack": "fgsm:eps=0.2"}}, spec)
	if err != nil || d.Params()["attack"] != "fgsm:eps=0.2" {
		t.Errorf("an attack the schedule sets is replaced: %v %v", err, d.Params()["attack"])
	}
	if _, err := build(DefenceSpec{Name: "fast-at"}, spec); err != nil {
		t.Errorf("fast-at (no attack parameter): %v", err)
	}
}

// TestSqueezerMeasuredThroughBPDA: a squeeze round is attacked through
// BPDA (defend.Adaptive), so bit-depth reduction cannot pass for
// robustness by zeroing the gradient: PGD still fools most of the MNIST
// CNN's samples and the round does not meet the target.
func TestSqueezerMeasuredThroughBPDA(t *testing.T) {
	m, err := onnxmodel.Load("../../testdata/models/mnist_cnn.onnx")
	if err != nil {
		t.Fatal(err)
	}
	set, err := dataset.Load("../../testdata/mnist/test-1000-images.npy", "../../testdata/mnist/test-1000-labels.npy", dataset.Options{Limit: 40})
	if err != nil {
		t.Fatal(err)
	}
	pgd, _ := attacktest.New("pgd:eps=0.3,steps=10")
	pool := Pool{X: set.X, Y: set.Y, Attacks: []attack.Attack{pgd}, BatchSize: 40}
	cfg := Config{UntilSR: 0.1, MaxRounds: 1, MaxCleanDrop: 0.05, Seed: 1, Schedule: []DefenceSpec{{Name: "squeeze", Params: map[string]string{"bits": "2", "median": "0"}}}}
	res, err := Run(context.Background(), m, pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r1 := res.Rows[1]
	t.Logf("squeeze round: clean %.3f, worst SR %.3f, accepted %v %s", r1.CleanAccuracy, r1.WorstCaseSR, r1.Accepted, r1.Reason)
	if r1.WorstCaseSR < 0.5 || res.Reached {
		t.Errorf("the squeezed model's SR %.3f: it was not attacked through BPDA", r1.WorstCaseSR)
	}
	// The same model attacked directly looks robust: that is what BPDA
	// prevents.
	sq, _ := defend.WithSqueezer(m, defend.Squeezer{Bits: 2})
	direct, err := eval.RunPool(context.Background(), sq, set.X, set.Y, pool.Attacks, eval.PoolOptions{BatchSize: 40, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	fooled := 0
	for _, f := range direct.Attacks[0].Fooled {
		if f {
			fooled++
		}
	}
	if float64(fooled)/float64(direct.Clean.NCorrect) > 0.2 {
		t.Errorf("direct PGD fooled %d/%d: the squeezer should mask the gradient", fooled, direct.Clean.NCorrect)
	}
}

// TestNoiseMeasuredThroughEOT measures the MNIST MLP behind inference
// noise (σ = 0.5): Measure attacks it through EOT, so PGD's SR is high
// (one draw's gradient would keep it low, see defend's
// TestEOTUnmasksNoise), and the run's seed seeds the draws: the same seed
// gives the same figures.
func TestNoiseMeasuredThroughEOT(t *testing.T) {
	m, err := onnxmodel.Load("../../testdata/models/mnist_mlp.onnx")
	if err != nil {
		t.Fatal(err)
	}
	set, err := dataset.Load("../../testdata/mnist/test-1000-images.npy", "../../testdata/mnist/test-1000-labels.npy", dataset.Options{Limit: 40})
	if err != nil {
		t.Fatal(err)
	}
	noisy, err := defend.WithNoise(m, defend.Noise{Sigma: 0.5, Clip: true, Min: 0, Max: 1})
	if err != nil {
		t.Fatal(err)
	}
	pgd, _ := attacktest.New("pgd:norm=linf,eps=0.15,steps=10")
	pool := Pool{X: set.X, Y: set.Y, Attacks: []attack.Attack{pgd}, BatchSize: 40}
	a, err := Measure(context.Background(), noisy, pool, 7)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Measure(context.Background(), noisy, pool, 7)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("noisy MLP through EOT: clean %.3f, worst SR %.3f", a.CleanAccuracy, a.WorstCase.SuccessRate)
	if a.WorstCase.SuccessRate != b.WorstCase.SuccessRate || a.CleanAccuracy != b.CleanAccuracy {
		t.Errorf("same seed, different figures: %.3f/%.3f vs %.3f/%.3f", a.CleanAccuracy, a.WorstCase.SuccessRate, b.CleanAccuracy, b.WorstCase.SuccessRate)
	}
	if a.WorstCase.SuccessRate < 0.5 {
		t.Errorf("worst SR %.3f: the noisy model was not attacked through EOT", a.WorstCase.SuccessRate)
	}
}

// TestValidateRefusesTrainersBehindPreprocessors: an adversarial trainer
// scheduled (or repeated) after a squeezer or inference noise would make
// its examples through a masked gradient, so the schedule is refused up
// front, before any round runs; the same defences in the other order pass.
func TestValidateRefusesTrainersBehindPreprocessors(t *testing.T) {
	_, pool, train := loadTab(t)
	squeeze := DefenceSpec{Name: "squeeze", Params: map[string]string{"bits": "4", "median": "0"}}
	noise := DefenceSpec{Name: "gaussian-augmentation", Params: map[string]string{"inference_noise": "true", "epochs": "1"}}
	cases := []struct {
		name     string
		rounds   int
		schedule []DefenceSpec
		wantErr  string
	}{
		{"trainer then squeeze", 2, []DefenceSpec{at("1"), squeeze}, ""},
		{"squeeze then trainer", 2, []DefenceSpec{squeeze, at("1")}, "put the preprocessor defences last"},
		{"noise then trainer", 2, []DefenceSpec{noise, at("1")}, "put the preprocessor defences last"},
		{"trainer repeated behind squeeze", 3, []DefenceSpec{at("1"), squeeze}, "repeats pgd-at"},
	}
	for _, c := range cases {
		err := Validate(tabConfig(train, 0.1, c.rounds, c.schedule...), pool)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: %v, want it accepted", c.name, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s: error %v, want one that says %q", c.name, err, c.wantErr)
		}
	}
}

// TestValidateEnsembleRetrainNeedsData: an ensemble that trains its
// members (retrain_seeds) needs train.data, and harden says so before
// round 0; one built from member files does not.
func TestValidateEnsembleRetrainNeedsData(t *testing.T) {
	_, pool, _ := loadTab(t)
	retrain := DefenceSpec{Name: "ensemble", Params: map[string]string{"retrain_seeds": "2"}}
	err := Validate(tabConfig(nil, 0.1, 1, retrain), pool)
	if err == nil || !strings.Contains(err.Error(), "needs training data") {
		t.Errorf("retrain_seeds without train.data: %v, want a request for training data", err)
	}
	files := DefenceSpec{Name: "ensemble", Params: map[string]string{"members": tabModel}}
	if err := Validate(tabConfig(nil, 0.1, 1, files), pool); err != nil {
		t.Errorf("an ensemble of files without train.data: %v, want it accepted", err)
	}
}

// TestPoolDataMatchesTensors runs the loop with the evaluation set as
// Pool.Data (read batch by batch) and as Pool.X and Y: the same rows, and
// the same checkpoint fingerprint (hashed as read), whatever the batch.
func TestPoolDataMatchesTensors(t *testing.T) {
	m, pool, train := loadTab(t)
	cfg := tabConfig(train, 0, 1, at("2"))
	streamed := pool
	streamed.X, streamed.Y, streamed.Data = nil, nil, eval.TensorData(pool.X, pool.Y)
	streamed.BatchSize = 37
	want, err := fingerprint(cfg, pool, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := fingerprint(cfg, Pool{Data: streamed.Data, Attacks: pool.Attacks, BatchSize: pool.BatchSize}, ""); err != nil || got != want {
		t.Errorf("fingerprint %s (%v), want %s", got, err, want)
	}
	ctx := context.Background()
	a, err := Run(ctx, m, pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	streamed.BatchSize = pool.BatchSize
	b, err := Run(ctx, m, streamed, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sameRows(t, b.Rows, a.Rows)
}
