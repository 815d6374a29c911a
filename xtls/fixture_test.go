package xtls

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/internal/peers"
	"mellium.im/xmpp/jid"
)

var update = flag.Bool("update", false, "re-record testdata/openssl-romeo.pem with openssl")

// opensslIdentityArgs is how testdata/openssl-romeo.pem was made: an ECDSA
// P-256 key and a self-signed certificate for romeo@montague.lit with the
// JID in an id-on-xmppAddr otherName, written by OpenSSL 3.
var opensslIdentityArgs = []string{"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
	"-days", "36500", "-subj", "/CN=romeo@montague.lit",
	"-addext", "extendedKeyUsage=serverAuth,clientAuth",
	"-addext", "subjectAltName=otherName:1.3.6.1.5.5.7.8.5;UTF8:romeo@montague.lit"}

func TestRecordOpenSSLIdentity(t *testing.T) {
	if !*update {
		t.Skip("run with -update to re-record")
	}
	openssl := peers.Command(t, "openssl")
	dir := t.TempDir()
	args := append(opensslIdentityArgs, "-keyout", filepath.Join(dir, "key.pem"), "-out", filepath.Join(dir, "cert.pem"))
	if out, err := exec.Command(openssl, args...).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	k, _ := os.ReadFile(filepath.Join(dir, "key.pem"))
	c, _ := os.ReadFile(filepath.Join(dir, "cert.pem"))
	if err := os.WriteFile("testdata/openssl-romeo.pem", append(k, c...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestOpenSSLIdentity: an identity made by OpenSSL (ECDSA, PKCS#8 PEM, the
// JID in id-on-xmppAddr) works as romeo's XTLS identity.
func TestOpenSSLIdentity(t *testing.T) {
	b, err := os.ReadFile("testdata/openssl-romeo.pem")
	if err != nil {
		t.Fatal(err)
	}
	id, err := Scheme.ParseIdentity(b)
	if err != nil {
		t.Fatal(err)
	}
	if !id.JID().Equal(jid.MustParse("romeo@montague.lit")) {
		t.Fatalf("JID %s", id.JID())
	}
	r := id.(*Identity)
	j := testIdentity(t, "juliet@capulet.lit")
	a, _ := newTestSession(t, Options{}, julietFull, j, r.Public())
	bs, _ := newTestSession(t, Options{}, romeoFull, r, j.Public())
	route := map[*Session]*Session{a: bs, bs: a}
	m := msg(julietFull, romeoFull, "hello, OpenSSL-made romeo")
	res := pump(t, route, a, encrypt(t, a, m))
	if len(res.errs) != 0 || len(res.opened[bs]) != 1 || !res.opened[bs][0].Equal(m) {
		t.Fatalf("%v %v", res.errs, res.opened)
	}
	_ = context.Background
	_ = e2e.ErrMalformed
}
