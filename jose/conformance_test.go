package jose

import (
	"errors"
	"testing"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"

	"github.com/xmppe2e/xmppe2e/e2e/e2etest"
)

func TestConformance(t *testing.T) {
	e2etest.TestScheme(t, Scheme, e2etest.WithIdentities(identity(t, "juliet"), identity(t, "romeo"), identity(t, "mercutio")))
}

func TestConformanceGeneralJSONProfile(t *testing.T) {
	if testing.Short() {
		t.Skip("second profile in -short")
	}
	e2etest.TestScheme(t, New(Options{GeneralJSON: true, Content: "A256GCM", Signature: "PS256", KeyWrap: "A128KW", KeyTransport: "RSA-OAEP-256"}),
		e2etest.WithIdentities(identity(t, "juliet"), identity(t, "romeo"), identity(t, "mercutio")), e2etest.WithSeed(7))
}

func TestOptions(t *testing.T) {
	for _, o := range []Options{{KeyWrap: "dir"}, {Content: "A256CBC+HS512"}, {Signature: "none"}, {KeyTransport: "RSA1_5"}, {KeyBits: 1024}} {
		if _, err := New(o).NewSession(e2e.Config{}); !errors.Is(err, e2e.ErrUnsupported) {
			t.Errorf("%+v: %v", o, err)
		}
	}
	o := Scheme.Options()
	if o.KeyWrap != "A256KW" || o.Content != "A256CBC-HS512" || o.Signature != "RS256" || o.KeyTransport != "RSA-OAEP" || o.Window != 5*time.Minute {
		t.Fatalf("defaults %+v", o)
	}
}
