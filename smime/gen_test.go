package smime

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"mellium.im/xmpp/jid"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/internal/peers"
)

var update = flag.Bool("update", false, "regenerate the fixtures in testdata (Go identities, and OpenSSL output via testdata/gen.sh)")

var fixtureJIDs = []string{"juliet@capulet.lit", "romeo@montague.lit", "mercutio@capulet.lit"}

// TestGenerateFixtures rewrites testdata with -update: the Go-made
// identities (GenerateIdentity of the default profile) and, through
// testdata/gen.sh, the OpenSSL test CA, its identities and openssl cms
// output.
func TestGenerateFixtures(t *testing.T) {
	if !*update {
		t.Skip("run with -update to regenerate the fixtures")
	}
	for _, j := range fixtureJIDs {
		id, err := Scheme.GenerateIdentity(context.Background(), jid.MustParse(j), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := id.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("testdata", localpart(j)+".pem"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	peers.Command(t, "openssl")
	cmd := exec.Command("./gen.sh")
	cmd.Dir = "testdata"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gen.sh: %v\n%s", err, out)
	}
}

func localpart(j string) string { return jid.MustParse(j).Localpart() }

// fixtureIdentity loads a committed identity: name "juliet" for the Go-made
// one, "ca-juliet" for the one the OpenSSL test CA issued.
func fixtureIdentity(t testing.TB, name string) *Identity {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".pem"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := Scheme.ParseIdentity(b)
	if err != nil {
		t.Fatal(err)
	}
	return id.(*Identity)
}

// caPeer returns the test CA as a trust anchor.
func caPeer(t testing.TB) e2e.Peer {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Scheme.ParsePeer(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
