//go:build race

package otr

// raceEnabled shrinks the sampled tests under the race detector, which
// slows otr3's constant-time modular exponentiation (one per data message)
// by an order of magnitude.
const raceEnabled = true
