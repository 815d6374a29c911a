package otr

import (
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e/e2etest"
)

// TestConformance runs the project's conformance battery with the fixture
// keys (DSA key generation is slow).
func TestConformance(t *testing.T) {
	t.Parallel() // heavy: otr3 does a 1536-bit modexp per message
	opts := []e2etest.Option{e2etest.WithIdentities(
		fixture(t, "juliet@capulet.lit"), fixture(t, "romeo@montague.lit"), fixture(t, "mercutio@capulet.lit"))}
	if raceEnabled {
		opts = append(opts, e2etest.WithFlips(6)) // see raceEnabled; 64 without -race
	}
	e2etest.TestScheme(t, Scheme, opts...)
}
