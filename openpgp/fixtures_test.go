package openpgp

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/internal/xep0027"
)

// The fixtures in testdata were made by GnuPG 2.2.40 with
// testdata/make-fixtures.sh; these tests check the interop core without gpg.

func TestFixtureKeys(t *testing.T) {
	fpr := regexp.MustCompile(`^[0-9A-F]{40}$`)
	for name, want := range map[string]string{
		"juliet": "juliet@capulet.lit", "romeo": "romeo@montague.lit",
		"mercutio": "mercutio@capulet.lit", "juliet-rsa": "juliet@capulet.lit", "romeo-rsa": "romeo@montague.lit",
	} {
		id := fixtureIdentity(t, name)
		pub, err := Scheme.ParsePeer(readFixture(t, name+".pub.asc"))
		if err != nil {
			t.Fatalf("ParsePeer(%s): %v", name, err)
		}
		if id.JID().String() != want || pub.JID().String() != want {
			t.Errorf("%s: JIDs %s / %s, want %s", name, id.JID(), pub.JID(), want)
		}
		if pub.Fingerprint() != id.Public().Fingerprint() || !fpr.MatchString(pub.Fingerprint()) {
			t.Errorf("%s: fingerprints %q / %q", name, pub.Fingerprint(), id.Public().Fingerprint())
		}
		// Marshal and parse again.
		b, err := id.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		id2, err := Scheme.ParseIdentity(b)
		if err != nil || id2.Public().Fingerprint() != pub.Fingerprint() {
			t.Errorf("%s: identity round trip: %v", name, err)
		}
		b, err = pub.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), "-----BEGIN PGP PUBLIC KEY BLOCK-----") {
			t.Errorf("%s: public key not armored", name)
		}
		pub2, err := Scheme.ParsePeer(b)
		if err != nil || pub2.Fingerprint() != pub.Fingerprint() {
			t.Errorf("%s: peer round trip: %v", name, err)
		}
	}
	// A public key is not an identity; a secret key read as a peer loses
	// its secrets.
	if _, err := Scheme.ParseIdentity(readFixture(t, "romeo.pub.asc")); !errors.Is(err, e2e.ErrNoKey) {
		t.Errorf("ParseIdentity(public key): %v", err)
	}
	p, err := Scheme.ParsePeer(readFixture(t, "romeo.sec.asc"))
	if err != nil || p.(*Peer).e.PrivateKey != nil {
		t.Errorf("ParsePeer(secret key): %v, keeps private key", err)
	}
	for _, bad := range []string{"", "garbage", "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n"} {
		if _, err := Scheme.ParsePeer([]byte(bad)); !errors.Is(err, e2e.ErrMalformed) {
			t.Errorf("ParsePeer(%q): %v", bad, err)
		}
	}
	two := append(readFixture(t, "romeo.pub.asc"), readFixture(t, "juliet.pub.asc")...)
	if _, err := Scheme.ParsePeer(two); err == nil {
		t.Error("ParsePeer accepted two keys")
	}
}

func TestGenerateIdentity(t *testing.T) {
	id, err := Scheme.GenerateIdentity(context.Background(), jid.MustParse("juliet@capulet.lit/balcony"), nil)
	if err != nil {
		t.Fatal(err)
	}
	e := id.(*Identity).e
	if id.JID().String() != "juliet@capulet.lit" {
		t.Errorf("JID %s", id.JID())
	}
	if e.PrimaryIdentity().Name != "xmpp:juliet@capulet.lit" {
		t.Errorf("user ID %q", e.PrimaryIdentity().Name)
	}
	if e.PrimaryKey.Version != 4 || e.PrimaryKey.PubKeyAlgo != 22 || len(e.Subkeys) != 1 || e.Subkeys[0].PublicKey.PubKeyAlgo != 18 {
		t.Errorf("want v4 EdDSA (22) with an ECDH (18) subkey, got v%d algo %d", e.PrimaryKey.Version, e.PrimaryKey.PubKeyAlgo)
	}
	if _, err := Scheme.GenerateIdentity(context.Background(), jid.MustParse("capulet.lit"), nil); !errors.Is(err, e2e.ErrMalformed) {
		t.Errorf("JID without localpart: %v", err)
	}
	if raceEnabled || testing.Short() {
		t.Log("skipping RSA-3072 key generation under -race or -short (slow); the RSA fixture keys cover RSA")
		return
	}
	rsa, err := NewScheme(RSA3072).GenerateIdentity(context.Background(), jid.MustParse("romeo@montague.lit"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if k := rsa.(*Identity).e.PrimaryKey; k.PubKeyAlgo != 1 {
		t.Errorf("RSA variant made algo %d", k.PubKeyAlgo)
	} else if n, _ := k.BitLength(); n != 3072 {
		t.Errorf("RSA variant made %d bits", n)
	}
}

// received wraps a gpg-made payload into a stanza from romeo and gives it
// to a session of juliet's.
func receiveFixture(t *testing.T, s e2e.Session, kind e2e.Kind, ns, payload, text string) (e2e.Opened, error) {
	t.Helper()
	st := &e2e.Stanza{Kind: kind, From: romeoFull, To: julietFull}
	switch kind {
	case e2e.Message:
		st.SetBody(Fallback)
	case e2e.Presence:
		if text != "" {
			st.Children = append(st.Children, e2e.NewElement(e2e.NSClient, "status", text))
		}
	}
	// As XEP-0027 shows it: indented inside the element.
	st.Children = append(st.Children, e2e.NewElement(ns, "x", "\n    "+strings.ReplaceAll(payload, "\n", "\n    ")))
	got, err := s.Receive(context.Background(), st)
	if err != nil {
		return e2e.Opened{}, err
	}
	return got.Opened[0], nil
}

func TestFixtureMessages(t *testing.T) {
	body := string(readFixture(t, "body.txt"))
	romeo := fixtureIdentity(t, "romeo")
	j := newTestSession(t, fixtureIdentity(t, "juliet"), julietFull, romeo.Public())
	jr := newTestSession(t, fixtureIdentity(t, "juliet-rsa"), julietFull, romeo.Public())
	for _, tc := range []struct {
		file   string
		s      e2e.Session
		signed bool
	}{
		{"msg-to-juliet.payload", j, false},
		{"msg-signed-to-juliet.payload", j, true},
		{"msg-to-juliet-rsa.payload", jr, false},
	} {
		o, err := receiveFixture(t, tc.s, e2e.Message, NSEncrypted, string(readFixture(t, tc.file)), "")
		if err != nil {
			t.Errorf("%s: %v", tc.file, err)
			continue
		}
		if o.Stanza.Body() != body || !o.Encrypted || (o.Signer != nil) != tc.signed {
			t.Errorf("%s: body %q encrypted %v signer %v", tc.file, o.Stanza.Body(), o.Encrypted, o.Signer)
		}
		if tc.signed && o.Signer.Fingerprint() != romeo.pub.fpr {
			t.Errorf("%s: signer %s", tc.file, o.Signer.Fingerprint())
		}
	}
	// Mercutio's key is not a recipient.
	m := newTestSession(t, fixtureIdentity(t, "mercutio"), julietFull, romeo.Public())
	if _, err := receiveFixture(t, m, e2e.Message, NSEncrypted, string(readFixture(t, "msg-to-juliet.payload")), ""); !errors.Is(err, e2e.ErrDecrypt) {
		t.Errorf("wrong key: %v, want ErrDecrypt", err)
	}
}

func TestFixtureSignatures(t *testing.T) {
	status := string(readFixture(t, "status.txt"))
	romeo := fixtureIdentity(t, "romeo")
	j := newTestSession(t, fixtureIdentity(t, "juliet"), julietFull, romeo.Public())
	jr := newTestSession(t, fixtureIdentity(t, "juliet"), julietFull, fixtureIdentity(t, "romeo-rsa").Public())
	for _, tc := range []struct {
		file, text string
		s          e2e.Session
		want       error
	}{
		{"sig-text.payload", status, j, nil},
		{"sig-binary.payload", status, j, nil},
		{"sig-empty.payload", "", j, nil},
		{"sig-rsa.payload", status, jr, nil},
		// gpg signed "Away\r\nback soon" in binary mode; XML delivers LF.
		{"sig-crlf-binary.payload", "Away\nback soon", j, nil},
		{"sig-text.payload", status + " ", j, e2e.ErrBadSignature},
		{"sig-empty.payload", status, j, e2e.ErrBadSignature},
		{"sig-text.payload", status, jr, e2e.ErrBadSignature}, // romeo's JID, another key
	} {
		o, err := receiveFixture(t, tc.s, e2e.Presence, NSSigned, string(readFixture(t, tc.file)), tc.text)
		if tc.want != nil {
			if !errors.Is(err, tc.want) {
				t.Errorf("%s over %q: %v, want %v", tc.file, tc.text, err, tc.want)
			}
			continue
		}
		if err != nil || o.Signer == nil || o.Signer.JID().String() != "romeo@montague.lit" || o.Encrypted {
			t.Errorf("%s over %q: %v %+v", tc.file, tc.text, err, o)
		}
	}
}

// The signed presence of XEP-0027 §2 (package xep0027): a v3 DSA signature
// by a key nobody has. Its CRC checks, and it is refused cleanly.
func TestXEP0027Example(t *testing.T) {
	bin, err := dearmor(xep0027.Signature)
	if err != nil {
		t.Fatalf("CRC of the XEP's example: %v", err)
	}
	if len(bin) != 66 || bin[3] != 3 || bin[5] != 0x01 {
		t.Errorf("%d bytes, version %d, sigclass %#x; want 66, 3, 0x01", len(bin), bin[3], bin[5])
	}
	j := newTestSession(t, fixtureIdentity(t, "juliet"), julietFull)
	_, err = receiveFixture(t, j, e2e.Presence, NSSigned, xep0027.Signature, "Online")
	if !errors.Is(err, e2e.ErrMalformed) || !strings.Contains(err.Error(), "v3") {
		t.Errorf("v3 signature: %v, want ErrMalformed naming v3", err)
	}
}

// FuzzParseKey feeds key material to ParsePeer and ParseIdentity: errors of
// the e2e classes, never a panic.
func FuzzParseKey(f *testing.F) {
	for _, name := range []string{"romeo.pub.asc", "juliet.sec.asc", "romeo-signonly.pub.asc"} {
		f.Add(readFixture(f, name))
	}
	f.Add([]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEAAAAABYJKwYBBAHaRw8BAQdA\n-----END PGP PUBLIC KEY BLOCK-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := Scheme.ParsePeer(b); err != nil {
			if e2e.ClassOf(err) == "other" {
				t.Fatalf("ParsePeer: error outside the classes: %v", err)
			}
		} else if _, err := p.Marshal(); err != nil {
			t.Fatalf("parsed peer does not marshal: %v", err)
		}
		if _, err := Scheme.ParseIdentity(b); err != nil && e2e.ClassOf(err) == "other" {
			t.Fatalf("ParseIdentity: error outside the classes: %v", err)
		}
	})
}

// The encrypted message of XEP-0027 §3 (package xep0027): "Hi" to an
// ElGamal key nobody has, as the XEP shows it.
func TestXEP0027EncryptedExample(t *testing.T) {
	bin, err := dearmor(xep0027.Message)
	if err != nil {
		t.Fatalf("CRC of the XEP's example: %v", err)
	}
	if len(bin) != 777 {
		t.Errorf("%d bytes, want 777", len(bin))
	}
	// Marker packet "PGP" (old format, tag 10), then a v3 PKESK (new format)
	// to ElGamal
	// key 5FB8E66199E77265, then tag-9 data without MDC.
	if !bytes.HasPrefix(bin, []byte{0xa8, 0x03, 'P', 'G', 'P', 0xc1}) {
		t.Errorf("packets start % x", bin[:6])
	}
	if i := bytes.Index(bin, []byte{0x03, 0x5f, 0xb8, 0xe6, 0x61, 0x99, 0xe7, 0x72, 0x65, 0x10}); i != 8 {
		t.Errorf("PKESK v3 with key ID 5FB8E66199E77265 and algorithm 16 at %d, want 8", i)
	}
	j := newTestSession(t, fixtureIdentity(t, "juliet"), julietFull)
	if _, err := receiveFixture(t, j, e2e.Message, NSEncrypted, xep0027.Message, ""); !errors.Is(err, e2e.ErrDecrypt) {
		t.Errorf("Receive: %v, want ErrDecrypt", err)
	}
}
