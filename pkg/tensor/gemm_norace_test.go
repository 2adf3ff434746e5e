//go:build !race

package tensor

const gemmRace = false
