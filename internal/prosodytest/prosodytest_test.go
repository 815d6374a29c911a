package prosodytest_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xmppe2e/xmppe2e/internal/prosodytest"
	"github.com/xmppe2e/xmppe2e/interop/server"
)

// TestStart runs a server with s2s and checks that it serves the domain on
// C2S with STARTTLS required, listens on S2S, and has the user registered.
func TestStart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prosody")
	}
	ca, err := server.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	p := prosodytest.Start(t, prosodytest.Config{
		Domain: "capulet.lit", CAPEM: ca.PEM(), S2S: true,
		Files: map[string][]byte{"note": []byte("x")},
		Users: map[string]string{"juliet": "juliet-pass"},
	})
	// The self-signed certificate Start made is in CertFile, a trust anchor.
	b, err := os.ReadFile(p.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(b) {
		t.Fatalf("no certificate in %s", p.CertFile)
	}
	if b, err := os.ReadFile(filepath.Join(p.Dir, "ca.pem")); err != nil || !bytes.Equal(b, ca.PEM()) {
		t.Errorf("ca.pem: %v", err)
	}
	if _, err := os.Stat(filepath.Join(p.Dir, "note")); err != nil {
		t.Errorf("extra file: %v", err)
	}
	// Prosody's internal storage keeps one file per account.
	if _, err := os.Stat(filepath.Join(p.Dir, "data", "capulet%2elit", "accounts", "juliet.dat")); err != nil {
		t.Errorf("juliet not registered: %v", err)
	}
	if p.S2S == "" || p.S2S == p.C2S {
		t.Fatalf("addresses c2s %q s2s %q", p.C2S, p.S2S)
	}
	c, err := net.Dial("tcp", p.S2S)
	if err != nil {
		t.Fatalf("s2s: %v", err)
	}
	c.Close()

	c, err = net.Dial("tcp", p.C2S)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(`<?xml version='1.0'?><stream:stream to='capulet.lit' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`)); err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	r := bufio.NewReader(c)
	for !strings.Contains(got.String(), "</stream:features>") {
		b, err := r.ReadByte()
		if err != nil {
			t.Fatalf("reading features: %v after %q", err, got.String())
		}
		got.WriteByte(b)
	}
	f := got.String()
	if !strings.Contains(f, "from='capulet.lit'") || !strings.Contains(f, "urn:ietf:params:xml:ns:xmpp-tls") || !strings.Contains(f, "<required/>") {
		t.Fatalf("stream header and features: %s", f)
	}
	if _, err := c.Write([]byte(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)); err != nil {
		t.Fatal(err)
	}
	got.Reset()
	for !strings.Contains(got.String(), "/>") {
		b, err := r.ReadByte()
		if err != nil {
			t.Fatalf("reading proceed: %v after %q", err, got.String())
		}
		got.WriteByte(b)
	}
	if !strings.Contains(got.String(), "<proceed") {
		t.Fatalf("STARTTLS: %s", got.String())
	}
	tc := tls.Client(c, &tls.Config{ServerName: "capulet.lit", RootCAs: roots})
	if err := tc.Handshake(); err != nil {
		t.Errorf("TLS with the certificate in CertFile: %v", err)
	}
}
