package smime

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// FuzzMIME feeds arbitrary text to the MIME, multipart/signed, CPIM, PIDF
// and application/xmpp+xml parsers: they must return an error or a result,
// never panic.
func FuzzMIME(f *testing.F) {
	for _, s := range []string{
		"Content-Type: Message/CPIM\r\n\r\nFrom: <im:juliet@capulet.lit>\r\nTo: <im:romeo@montague.lit>\r\nDateTime: 2026-11-22T03:00:00.000Z\r\n\r\nContent-Type: text/plain\r\n\r\nhi\r\n",
		"Content-Type: application/pidf+xml\r\n\r\n<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:juliet@capulet.lit'><tuple id='a'><status><basic>open</basic></status><timestamp>2026-11-22T03:00:00Z</timestamp></tuple></presence>",
		"Content-Type: application/xmpp+xml\r\n\r\n<?xml version='1.0'?><xmpp xmlns='jabber:client'><iq type='get' id='1'/></xmpp>",
		"Content-Type: multipart/signed; boundary=b; protocol=\"application/pkcs7-signature\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b\r\nContent-Type: application/pkcs7-signature\r\n\r\nAAAA\r\n--b--\r\n",
		"Require: Foo\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	outer := &e2e.Stanza{Kind: e2e.Message, From: julietFull, To: romeoFull}
	f.Fuzz(func(t *testing.T, b []byte) {
		c := canonical(b)
		ent, err := parseEntity(c)
		if err != nil {
			return
		}
		if _, params, err := ent.mediaType(); err == nil {
			splitSigned(ent.body, params["boundary"])
		}
		parseInner(ent, outer)
		parseCPIM(ent.body, outer)
		parsePIDF(ent.body, outer)
		parseXMPP(ent.body)
		if u, err := cpimUnescape(string(b)); err == nil && utf8.ValidString(u) {
			if back, err := cpimUnescape(cpimEscape(u)); err != nil || back != u {
				t.Fatalf("CPIM escape round trip of %q: %q, %v", u, back, err)
			}
		}
	})
}

// FuzzReceive feeds arbitrary <e2e/> payloads to Receive of a session that
// can decrypt and trusts the sender: never a panic, and never an opened
// stanza together with an error.
func FuzzReceive(f *testing.F) {
	j, r := pair(f, Scheme)
	for _, op := range []func(context.Context, *e2e.Stanza) ([]*e2e.Stanza, error){j.sess.Encrypt, j.sess.Sign} {
		w, err := op(context.Background(), message("seed"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(w[0].Child(NS, "e2e").Text()))
	}
	for _, name := range []string{"ossl-signenc-gcm128.eml", "ossl-enc-aes128.eml"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		st := &e2e.Stanza{Kind: e2e.Message, From: julietFull, To: romeoFull}
		st.Children = []*e2e.Element{e2e.NewElement(NS, "e2e", string(payload))}
		got, err := r.sess.Receive(context.Background(), st)
		if err != nil && (len(got.Opened) != 0 || len(got.Replies) != 0) {
			t.Fatal("result with error")
		}
		if err == nil && (len(got.Opened) != 1 || got.Opened[0].Signer == nil) {
			t.Fatal("opened without a signer")
		}
	})
}

// FuzzOpen feeds arbitrary DER to the EnvelopedData/AuthEnvelopedData
// decoder, which replaces smallstep/pkcs7's panicking Decrypt.
func FuzzOpen(f *testing.F) {
	id := fixtureIdentity(f, "romeo")
	for _, suite := range []cipherSuite{aes128CBC, aes128GCM} {
		der, err := envelope(newSeeded(1), []byte("hello"), []*x509.Certificate{id.cert}, suite)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der)
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		if pt, _, err := open(der, id.cert, id.key); err == nil && len(pt) > len(der) {
			t.Fatal("plaintext longer than the ciphertext")
		}
	})
}

func TestToDER(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"\x30\x80\x02\x01\x05\x00\x00", "\x30\x03\x02\x01\x05"},
		{"\x30\x81\x03\x02\x01\x05", "\x30\x03\x02\x01\x05"},
		{"\x24\x80\x04\x01a\x04\x01b\x00\x00", "\x24\x06\x04\x01a\x04\x01b"},
	} {
		got, err := toDER([]byte(tc.in))
		if err != nil || string(got) != tc.want {
			t.Errorf("toDER(%x) = %x, %v; want %x", tc.in, got, err, tc.want)
		}
	}
	deep := ""
	for range 40 {
		deep = "\x30\x80" + deep + "\x00\x00"
	}
	for _, bad := range []string{"", "\x30", "\x30\x80", "\x04\x80\x00\x00", "\x30\x05\x02\x01", "\x02\x01\x05\x00", deep, "\x30\x85\x01\x00\x00\x00\x00"} {
		if _, err := toDER([]byte(bad)); err == nil {
			t.Errorf("toDER(%x) accepted", bad)
		}
	}
}
