package smime

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/internal/peers"
)

// fixtureBody is the text of testdata/cpim.txt as an XMPP body.
const fixtureBody = "Wherefore art thou, Romeo?\n"

func fixtureClock(t testing.TB) func() time.Time {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "cpim.datetime"))
	if err != nil {
		t.Fatal(err)
	}
	at, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return testClock(at)
}

// inE2E wraps an S/MIME entity, as OpenSSL wrote it, in a message from
// juliet to romeo, and passes it through XML.
func inE2E(t testing.TB, entity []byte) *e2e.Stanza {
	t.Helper()
	st := &e2e.Stanza{Kind: e2e.Message, From: julietFull, To: romeoFull, Type: "chat"}
	st.Children = []*e2e.Element{e2e.NewElement(NS, "e2e", string(entity))}
	return transport(t, st)
}

// TestOpenSSLFixtures opens the committed openssl cms output (made by
// testdata/gen.sh) without needing OpenSSL.
func TestOpenSSLFixtures(t *testing.T) {
	for _, tc := range []struct {
		file              string
		signed, encrypted bool
	}{
		{"ossl-signed-sha256.eml", true, false},
		{"ossl-signed-sha1.eml", true, false},
		{"ossl-enc-aes128.eml", false, true},
		{"ossl-enc-aes256.eml", false, true},
		{"ossl-enc-des3.eml", false, true},
		{"ossl-enc-oaep.eml", false, true},
		{"ossl-enc-oaep256.eml", false, true},
		{"ossl-enc-gcm128.eml", false, true},
		{"ossl-enc-gcm256.eml", false, true},
		{"ossl-signenc-aes128.eml", true, true},
		{"ossl-signenc-gcm128.eml", true, true},
		{"ossl-signed-stream.eml", true, false},
		{"ossl-signenc-stream.eml", true, true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			lenient := New(Options{AcceptUnsigned: true})
			r := newParty(t, lenient, "ca-romeo", romeoFull, fixtureClock(t), caPeer(t))
			o, err := receiveOne(t, r, inE2E(t, b))
			if err != nil {
				t.Fatal(err)
			}
			if o.Stanza.Body() != fixtureBody || !o.Stanza.From.Equal(julietFull) || o.Encrypted != tc.encrypted {
				t.Fatalf("opened %s (encrypted %v)", o.Stanza, o.Encrypted)
			}
			if tc.signed != (o.Signer != nil) || (o.Signer != nil && o.Signer.JID().String() != "juliet@capulet.lit") {
				t.Fatalf("signer %v", o.Signer)
			}
			// The default scheme insists on a signature inside encryption.
			strict := newParty(t, Scheme, "ca-romeo", romeoFull, fixtureClock(t), caPeer(t))
			_, err = receiveOne(t, strict, inE2E(t, b))
			if tc.encrypted && !tc.signed && !errors.Is(err, e2e.ErrDecrypt) {
				t.Errorf("unsigned envelope: %v", err)
			} else if (tc.signed || !tc.encrypted) && err != nil {
				t.Error(err)
			}
			// A changed letter in the signed text is caught.
			if tc.signed && !tc.encrypted {
				bad := bytes.Replace(b, []byte("Wherefore"), []byte("Wherefora"), 1)
				if _, err := receiveOne(t, newParty(t, Scheme, "ca-romeo", romeoFull, fixtureClock(t), caPeer(t)), inE2E(t, bad)); !errors.Is(err, e2e.ErrBadSignature) {
					t.Errorf("tampered: %v", err)
				}
			}
		})
	}
}

type ossl struct {
	t   testing.TB
	bin string
	dir string
}

func newOSSL(t *testing.T) *ossl {
	return &ossl{t: t, bin: peers.Command(t, "openssl"), dir: t.TempDir()}
}

func (o *ossl) path(name string) string { return filepath.Join(o.dir, name) }

func (o *ossl) write(name string, b []byte) string {
	o.t.Helper()
	if err := os.WriteFile(o.path(name), b, 0o600); err != nil {
		o.t.Fatal(err)
	}
	return o.path(name)
}

func (o *ossl) read(name string) []byte {
	o.t.Helper()
	b, err := os.ReadFile(o.path(name))
	if err != nil {
		o.t.Fatal(err)
	}
	return b
}

func (o *ossl) run(args ...string) {
	o.t.Helper()
	cmd := exec.Command(o.bin, args...)
	cmd.Dir = o.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		o.t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// entityOf returns the MIME entity of a wire stanza with CRLF restored, as
// OpenSSL needs it.
func entityOf(st *e2e.Stanza) []byte { return canonical([]byte(st.Child(NS, "e2e").Text())) }

// TestOpenSSLVerifiesAndDecryptsOurs: Go produces, openssl cms consumes.
func TestOpenSSLVerifiesAndDecryptsOurs(t *testing.T) {
	o := newOSSL(t)
	ca := caPeer(t)
	jid, rid := fixtureIdentity(t, "ca-juliet"), fixtureIdentity(t, "ca-romeo")
	o.write("ca.pem", mustRead(t, "testdata/ca.pem"))
	o.write("romeo.pem", mustMarshal(t, rid))
	for _, s := range []e2e.Scheme{Scheme, StrictScheme} {
		t.Run(s.Name(), func(t *testing.T) {
			j := newParty(t, s, "ca-juliet", julietFull, testClock(time.Now()), rid.Public(), ca)
			st := message("Wherefore art thou, Romeo? — ]]> <&>")

			// Sign only: openssl cms -verify (no -binary) and openssl smime -verify.
			w, err := j.sess.Sign(context.Background(), st)
			if err != nil {
				t.Fatal(err)
			}
			ent := entityOf(w[0])
			o.write("go-signed.eml", ent)
			o.run("cms", "-verify", "-in", "go-signed.eml", "-CAfile", "ca.pem", "-purpose", "smimesign", "-out", "got.txt")
			o.run("smime", "-verify", "-in", "go-signed.eml", "-CAfile", "ca.pem", "-out", "got2.txt")
			e, _ := parseEntity(ent)
			_, params, _ := e.mediaType()
			signed, _, _ := splitSigned(e.body, params["boundary"])
			if !bytes.Equal(o.read("got.txt"), signed) || !bytes.Equal(o.read("got2.txt"), signed) {
				t.Fatalf("openssl verified other content:\n%q\nwant\n%q", o.read("got.txt"), signed)
			}

			// Sign then encrypt (CBC: ca-romeo's certificate advertises no GCM).
			w, err = j.sess.Encrypt(context.Background(), st)
			if err != nil {
				t.Fatal(err)
			}
			o.write("go-signenc.eml", entityOf(w[0]))
			o.run("cms", "-decrypt", "-binary", "-in", "go-signenc.eml", "-recip", "romeo.pem", "-inkey", "romeo.pem", "-out", "inner.eml")
			o.run("cms", "-verify", "-in", "inner.eml", "-CAfile", "ca.pem", "-out", "got.txt")
			if !bytes.Contains(o.read("got.txt"), []byte("Wherefore art thou, Romeo? — ]]&gt; &lt;&amp;&gt;")) {
				t.Fatalf("decrypted and verified:\n%s", o.read("got.txt"))
			}
			o.run("cms", "-cmsout", "-print", "-in", "go-signenc.eml", "-out", "print.txt")
			if !bytes.Contains(o.read("print.txt"), []byte("aes-128-cbc")) {
				t.Fatalf("not AES-128-CBC:\n%s", o.read("print.txt"))
			}
		})
	}
	t.Run("gcm", func(t *testing.T) {
		// Romeo advertises AES-GCM in his signed attributes; juliet learns
		// it and sends AuthEnvelopedData.
		j := newParty(t, Scheme, "ca-juliet", julietFull, testClock(time.Now()), rid.Public(), ca)
		r := newParty(t, Scheme, "ca-romeo", romeoFull, testClock(time.Now()), jid.Public(), ca)
		hello := &e2e.Stanza{Kind: e2e.Message, From: romeoFull, To: julietFull}
		hello.SetBody("hello")
		w, _ := r.sess.Sign(context.Background(), hello)
		if _, err := receiveOne(t, j, w[0]); err != nil {
			t.Fatal(err)
		}
		w, err := j.sess.Encrypt(context.Background(), message("GCM"))
		if err != nil {
			t.Fatal(err)
		}
		o.write("go-gcm.eml", entityOf(w[0]))
		o.run("cms", "-cmsout", "-print", "-in", "go-gcm.eml", "-out", "print.txt")
		if !bytes.Contains(o.read("print.txt"), []byte("authEnvelopedData")) || !bytes.Contains(o.read("print.txt"), []byte("aes-128-gcm")) {
			t.Fatalf("not AuthEnvelopedData AES-128-GCM:\n%s", o.read("print.txt"))
		}
		o.run("cms", "-decrypt", "-binary", "-in", "go-gcm.eml", "-recip", "romeo.pem", "-inkey", "romeo.pem", "-out", "inner.eml")
		o.run("cms", "-verify", "-in", "inner.eml", "-CAfile", "ca.pem", "-out", "got.txt")
		if !bytes.Contains(o.read("got.txt"), []byte(">GCM</body>")) {
			t.Fatalf("decrypted and verified:\n%s", o.read("got.txt"))
		}
	})
	t.Run("encrypt-only", func(t *testing.T) {
		s := New(Options{Profile: StrictProfile, Unsigned: true})
		j := newParty(t, s, "ca-juliet", julietFull, testClock(time.Now()), rid.Public())
		w, err := j.sess.Encrypt(context.Background(), message("unsigned"))
		if err != nil {
			t.Fatal(err)
		}
		o.write("go-enc.eml", entityOf(w[0]))
		o.run("cms", "-decrypt", "-binary", "-in", "go-enc.eml", "-recip", "romeo.pem", "-inkey", "romeo.pem", "-out", "got.txt")
		if !bytes.HasPrefix(o.read("got.txt"), []byte("Content-Type: Message/CPIM\r\n\r\nFrom: <im:juliet@capulet.lit>\r\n")) {
			t.Fatalf("decrypted:\n%q", o.read("got.txt"))
		}
	})
}

// TestWeOpenOpenSSLOutput: openssl cms produces, Go consumes, live.
func TestWeOpenOpenSSLOutput(t *testing.T) {
	o := newOSSL(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	cpim := "Content-Type: Message/CPIM\r\n\r\nFrom: Juliet Capulet <im:juliet@capulet.lit>\r\nTo: Romeo Montague <im:romeo@montague.lit>\r\nDateTime: " +
		now.Format(stampLayout) + "\r\n\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nWherefore art thou, Romeo?\r\n"
	o.write("cpim.txt", []byte(cpim))
	o.write("juliet.pem", mustRead(t, "testdata/ca-juliet.pem"))
	o.write("romeo.crt", mustRead(t, "testdata/ca-romeo.crt"))
	J := []string{"-signer", "juliet.pem", "-inkey", "juliet.pem"}
	o.run(append([]string{"cms", "-sign", "-binary", "-md", "sha256", "-in", "cpim.txt", "-out", "signed.eml"}, J...)...)
	o.run(append([]string{"cms", "-sign", "-binary", "-md", "sha1", "-in", "cpim.txt", "-out", "signed1.eml"}, J...)...)
	o.run("cms", "-encrypt", "-binary", "-aes128", "-in", "signed.eml", "-out", "signenc.eml", "romeo.crt")
	o.run("cms", "-encrypt", "-binary", "-aes-128-gcm", "-in", "signed.eml", "-out", "signgcm.eml", "romeo.crt")
	o.run("cms", "-encrypt", "-binary", "-aes-256-gcm", "-in", "signed1.eml", "-out", "signgcm256.eml", "romeo.crt")
	for _, f := range []string{"signed.eml", "signed1.eml", "signenc.eml", "signgcm.eml", "signgcm256.eml"} {
		r := newParty(t, Scheme, "ca-romeo", romeoFull, testClock(now), caPeer(t))
		got, err := receiveOne(t, r, inE2E(t, o.read(f)))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		encrypted := strings.Contains(f, "enc") || strings.Contains(f, "gcm")
		if got.Stanza.Body() != fixtureBody || got.Signer == nil || got.Encrypted != encrypted {
			t.Fatalf("%s: opened %s", f, got.Stanza)
		}
	}
}

func mustRead(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustMarshal(t testing.TB, id e2e.Identity) []byte {
	t.Helper()
	b, err := id.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
