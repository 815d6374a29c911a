package openpgp

import (
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e/e2etest"
)

func TestConformance(t *testing.T) {
	e2etest.TestScheme(t, Scheme)
}

// TestConformanceRSA runs the battery on the RSA-3072 variant with the
// gpg-made RSA fixture keys (RSA key generation is too slow for -race).
func TestConformanceRSA(t *testing.T) {
	rsaMercutio := fixtureIdentity(t, "mercutio") // a Cv25519 key: the variant reads either kind
	e2etest.TestScheme(t, NewScheme(RSA3072), e2etest.WithIdentities(
		fixtureIdentity(t, "juliet-rsa"), fixtureIdentity(t, "romeo-rsa"), rsaMercutio))
}
