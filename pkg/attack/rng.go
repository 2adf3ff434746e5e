package attack

import (
	"hash/fnv"
	"math/rand/v2"
)

// Per-sample randomness.
//
// Every random choice an attack makes for a sample (a random start, a
// restart, a search direction, a noise vector, a target class) is drawn
// from that sample's own generator, SampleRNG(key, index), where index is
// the sample's global index (Batch.Index: its position in the whole data
// set, before sharding and batching) and key is the run key that the
// attack draws once from the generator passed to Run (RunKey). So a
// sample's outcome depends on the seed, the attack and the sample alone,
// never on which other samples share its batch or shard: any batch size and
// any --shard split reproduce the single run bit for bit, provided the
// runner passes every batch of one attack a generator in the same state
// (pkg/eval seeds it from the run seed and the attack's name and
// parameters only) and the global indices.
//
// How an attack draws:
//
//	rs := newStreams(rng, b) // once per Run, before anything else uses rng
//	r := rs.at(i)            // batch sample i's generator, the same object on every call
//	v := r.Float64()
//
// An attack that runs another attack (a stage, an inner attack) hands it
// rs.derive(label) as its generator and the sub-batch's global indices in
// Batch.Index.

// RunKey draws a run's key from the generator passed to Run: one Uint64
// (a nil rng gives the fixed default generator's first draw).
func RunKey(rng *rand.Rand) uint64 { return defaultRNG(rng).Uint64() }

// SampleRNG returns the generator of the sample with global index index in
// the run with key key. It is a PCG stream keyed by (key, mix(index)).
func SampleRNG(key uint64, index int) *rand.Rand {
	return rand.New(rand.NewPCG(key, splitmix64(uint64(index)^0x5851f42d4c957f2d)))
}

// splitmix64 is the SplitMix64 finaliser: it spreads consecutive indices
// over the whole stream space.
func splitmix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// streams hands out the per-sample generators of one run over one batch.
type streams struct {
	key   uint64
	index []int // global index per batch sample
	rs    []*rand.Rand
}

// newStreams draws the run key from rng and prepares one generator per
// sample of b (created on first use).
func newStreams(rng *rand.Rand, b Batch) *streams {
	n := b.Len()
	idx := make([]int, n)
	for i := range idx {
		idx[i] = b.SampleIndex(i)
	}
	return &streams{key: RunKey(rng), index: idx, rs: make([]*rand.Rand, n)}
}

// at returns batch sample i's generator.
func (s *streams) at(i int) *rand.Rand {
	if s.rs[i] == nil {
		s.rs[i] = SampleRNG(s.key, s.index[i])
	}
	return s.rs[i]
}

// derive returns a generator for a sub-run labelled label (a stage name, an
// inner attack): its state depends on the run key and the label only, so
// the sub-run's key is the same in every batch.
func (s *streams) derive(label string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(label))
	return rand.New(rand.NewPCG(s.key, h.Sum64()))
}

// sub returns the global indices of batch samples idx, for a sub-batch.
func (s *streams) sub(idx []int) []int {
	out := make([]int, len(idx))
	for j, i := range idx {
		out[j] = s.index[i]
	}
	return out
}
