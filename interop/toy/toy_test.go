package toy_test

import (
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e/e2etest"
	"github.com/xmppe2e/xmppe2e/interop/toy"
)

// The toy schemes pass the conformance battery, so that what the harness
// measures on them is a property of the schemes, not of broken code.
func TestConformance(t *testing.T) {
	t.Run("aead", func(t *testing.T) { e2etest.TestScheme(t, toy.AEAD) })
	t.Run("bare", func(t *testing.T) { e2etest.TestScheme(t, toy.Bare) })
}
