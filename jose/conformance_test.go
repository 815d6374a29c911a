package jose

import (
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e/e2etest"
)

func TestConformance(t *testing.T) {
	e2etest.TestScheme(t, Scheme, e2etest.WithIdentities(identity(t, "juliet"), identity(t, "romeo"), identity(t, "mercutio")))
}

func TestConformanceGeneralJSONProfile(t *testing.T) {
	if testing.Short() {
		t.Skip("second profile in -short")
	}
	e2etest.TestScheme(t, New(Options{GeneralJSON: true, Content: "A256GCM", Signature: "PS256"}),
		e2etest.WithIdentities(identity(t, "juliet"), identity(t, "romeo"), identity(t, "mercutio")), e2etest.WithSeed(7))
}
