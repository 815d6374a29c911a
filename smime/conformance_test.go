package smime

import (
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e/e2etest"
)

// TestConformance runs the e2etest battery on both profiles, with the
// committed identities so that -race runs do not generate RSA keys.
func TestConformance(t *testing.T) {
	ids := e2etest.WithIdentities(fixtureIdentity(t, "juliet"), fixtureIdentity(t, "romeo"), fixtureIdentity(t, "mercutio"))
	t.Run("default", func(t *testing.T) { e2etest.TestScheme(t, Scheme, ids) })
	t.Run("strict", func(t *testing.T) { e2etest.TestScheme(t, StrictScheme, ids) })
}

// TestConformanceCA runs the battery with the identities the OpenSSL test
// CA issued.
func TestConformanceCA(t *testing.T) {
	e2etest.TestScheme(t, Scheme, e2etest.WithIdentities(fixtureIdentity(t, "ca-juliet"), fixtureIdentity(t, "ca-romeo"), fixtureIdentity(t, "ca-mercutio")))
}
