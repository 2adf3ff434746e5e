//go:build race

package tensor

// gemmRace tells the tests that the race detector is on (it makes sync.Pool
// drop items, so allocation counts mean nothing).
const gemmRace = true
