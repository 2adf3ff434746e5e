package harden

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/advtest/advtest/pkg/atomicfile"
	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/tensor"
)

// StateFile is the checkpoint state's file name in the checkpoint folder.
const StateFile = "state.json"

// checkpointVersion is the version of State's format.
const checkpointVersion = 1

// State is the JSON state of a checkpoint. The current model (the last
// accepted one) lies beside it in the file Model names, model-rNNN.onnx
// after the last round done (NNN), a new name each round, so that the
// state and its model change together: a new model file is written first,
// then the state that names it replaces the old state (both atomically,
// temporary file + rename), then older model files are removed. A crash
// at any point leaves a state and the model it names.
type State struct {
	// Version is the format version (1).
	Version int `json:"version"`
	// Seed is the run's seed; round r's generator is derived from (Seed,
	// r), so the seed and the number of rounds are the whole random state.
	Seed uint64 `json:"seed"`
	// Fingerprint identifies the schedule, pool, target, data and seed the
	// checkpoint was made with; Resume refuses another.
	Fingerprint string `json:"fingerprint"`
	// Rounds is the number of rounds done (round 0 included).
	Rounds int `json:"rounds"`
	// Rows are those rounds.
	Rows []Row `json:"rows"`
	// Model is the current model's file name in the checkpoint folder.
	Model string `json:"model"`
	// ModelSHA256 is its hex SHA-256.
	ModelSHA256 string `json:"model_sha256"`
}

// save writes a checkpoint when cfg asks for one.
func save(cfg Config, fp string, rows []Row, m *onnxmodel.Model) error {
	if cfg.CheckpointDir == "" {
		return nil
	}
	return WriteCheckpoint(cfg.CheckpointDir, State{Seed: cfg.Seed, Fingerprint: fp, Rows: rows}, m)
}

// WriteCheckpoint writes m and st (Version, Rounds, Model and ModelSHA256
// filled in) to dir, creating it if needed, as State describes. On an
// error the previous checkpoint is left as it was.
func WriteCheckpoint(dir string, st State, m *onnxmodel.Model) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	data, err := m.Marshal()
	if err != nil {
		return fmt.Errorf("checkpoint: encoding the model: %w", err)
	}
	sum := sha256.Sum256(data)
	st.Version = checkpointVersion
	st.Rounds = len(st.Rows)
	st.Model = fmt.Sprintf("model-r%03d.onnx", st.Rounds-1)
	st.ModelSHA256 = hex.EncodeToString(sum[:])
	if err := atomicfile.WriteFile(filepath.Join(dir, st.Model), data); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	js, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, StateFile), append(js, '\n')); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	// Older models are no longer named by the state.
	old, _ := filepath.Glob(filepath.Join(dir, "model-r*.onnx"))
	for _, p := range old {
		if filepath.Base(p) != st.Model {
			os.Remove(p)
		}
	}
	return nil
}

// LoadCheckpoint reads the checkpoint in dir: its state and the model it
// names, checked against the recorded SHA-256.
func LoadCheckpoint(dir string) (*State, *onnxmodel.Model, error) {
	js, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("checkpoint: no %s in %s: nothing to resume", StateFile, dir)
		}
		return nil, nil, fmt.Errorf("checkpoint: %w", err)
	}
	var st State
	if err := json.Unmarshal(js, &st); err != nil {
		return nil, nil, fmt.Errorf("checkpoint: %s: %w", filepath.Join(dir, StateFile), err)
	}
	if st.Version != checkpointVersion {
		return nil, nil, fmt.Errorf("checkpoint: %s has version %d, this advtest reads %d", filepath.Join(dir, StateFile), st.Version, checkpointVersion)
	}
	if len(st.Rows) == 0 || st.Rounds != len(st.Rows) || st.Model == "" || strings.ContainsAny(st.Model, `/\`) {
		return nil, nil, fmt.Errorf("checkpoint: %s is inconsistent (rounds %d, %d rows, model %q)", filepath.Join(dir, StateFile), st.Rounds, len(st.Rows), st.Model)
	}
	path := filepath.Join(dir, st.Model)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint: %w", err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != st.ModelSHA256 {
		return nil, nil, fmt.Errorf("checkpoint: %s does not match the SHA-256 its state records", path)
	}
	m, err := onnxmodel.Decode(data, dir)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint: %s: %w", path, err)
	}
	m.Path = path
	return &st, m, nil
}

// fingerprint hashes what a resumed run must share with the run that made
// the checkpoint: the schedule, targets (SR and certified), clean-drop bound, seed, the pool
// (attack keys, the trainer attack, batch size, the evaluation data) and
// the training and validation data. MaxRounds is left out, so a resumed
// run may be given more rounds.
func fingerprint(cfg Config, pool Pool, trainerAttack string) (string, error) {
	h := sha256.New()
	meta, _ := json.Marshal(struct {
		Schedule      []DefenceSpec
		UntilSR, Drop float64
		Seed          uint64
		Keys          []string
		TrainerAttack string
		BatchSize     int
		Certified     *CertifiedTarget `json:",omitempty"`
	}{cfg.Schedule, cfg.UntilSR, cfg.MaxCleanDrop, cfg.Seed, poolKeys(pool), trainerAttack, pool.BatchSize, cfg.UntilCertified})
	h.Write(meta)
	// The evaluation samples are hashed as read, batch by batch: the same
	// digest as hashing them whole.
	d := pool.data()
	bs := max(pool.BatchSize, 1)
	buf := make([]float32, min(bs, d.Len())*tensor.Numel(d.SampleShape()))
	for lo := 0; lo < d.Len(); lo += bs {
		hi := min(lo+bs, d.Len())
		b := buf[:(hi-lo)*tensor.Numel(d.SampleShape())]
		if err := d.ReadBatch(b, lo, hi); err != nil {
			return "", err
		}
		hashFloats(h, b)
	}
	hashInts(h, d.Labels())
	for _, s := range []*dataset.Set{cfg.Train, cfg.Validation} {
		if s == nil {
			h.Write([]byte("none"))
			continue
		}
		hashFloats(h, s.X.F)
		hashInts(h, s.Y)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func poolKeys(p Pool) []string {
	specs := p.specs()
	out := make([]string, len(specs))
	for j, sp := range specs {
		out[j] = sp.Key()
	}
	return out
}

func hashFloats(h hash.Hash, v []float32) {
	buf := make([]byte, 0, 4096)
	for _, x := range v {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
		if len(buf) == cap(buf) {
			h.Write(buf)
			buf = buf[:0]
		}
	}
	h.Write(buf)
}

func hashInts(h hash.Hash, v []int) {
	buf := make([]byte, 0, 8*len(v))
	for _, x := range v {
		buf = binary.LittleEndian.AppendUint64(buf, uint64(x))
	}
	h.Write(buf)
}
