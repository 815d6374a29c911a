package server

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
)

func TestVerifyDomain(t *testing.T) {
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	leaf := func(o *LeafOptions) *x509.Certificate {
		c, err := ca.Issue("x", o)
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf
	}
	cases := []struct {
		name   string
		cert   *x509.Certificate
		domain string
		want   string // prefix of the match, "" for a failure
	}{
		{"dns", leaf(&LeafOptions{DNSNames: []string{"capulet.lit"}}), "capulet.lit", "DNS-ID"},
		{"dns case", leaf(&LeafOptions{DNSNames: []string{"Capulet.LIT"}}), "capulet.lit", "DNS-ID"},
		{"wildcard", leaf(&LeafOptions{DNSNames: []string{"*.lit"}}), "capulet.lit", "DNS-ID"},
		{"wildcard one label only", leaf(&LeafOptions{DNSNames: []string{"*.lit"}}), "a.capulet.lit", ""},
		{"partial wildcard", leaf(&LeafOptions{DNSNames: []string{"cap*.lit"}}), "capulet.lit", ""},
		{"other name", leaf(&LeafOptions{DNSNames: []string{"montague.lit"}}), "capulet.lit", ""},
		{"srv", leaf(&LeafOptions{SRVNames: []string{"_xmpp-server.capulet.lit"}}), "capulet.lit", "SRV-ID"},
		{"srv client service", leaf(&LeafOptions{SRVNames: []string{"_xmpp-client.capulet.lit"}}), "capulet.lit", ""},
		{"xmppaddr", leaf(&LeafOptions{XMPPAddr: []string{"capulet.lit"}}), "capulet.lit", "XmppAddr"},
		{"xmppaddr with localpart", leaf(&LeafOptions{XMPPAddr: []string{"juliet@capulet.lit"}}), "capulet.lit", ""},
		{"srv and dns", leaf(&LeafOptions{DNSNames: []string{"other.lit"}, SRVNames: []string{"_xmpp-server.capulet.lit"}}), "capulet.lit", "SRV-ID"},
		{"cn only", cnOnly(t, "capulet.lit"), "capulet.lit", ""},
	}
	for _, tc := range cases {
		got, err := VerifyDomain(tc.cert, tc.domain, false)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%s: matched %q, want a failure", tc.name, got)
			}
			continue
		}
		if err != nil || !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: %q, %v; want %s", tc.name, got, err, tc.want)
		}
	}
}

// cnOnly makes a certificate whose only name is its subject CN, which RFC
// 6125 forbids falling back to.
func cnOnly(t *testing.T, cn string) *x509.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

// TestS2SCertificateIdentities federates two servers whose certificates
// name them by SRV-ID and by XmppAddr only (SASL EXTERNAL), and then a pair
// whose certificates do not authenticate, which falls back to dialback.
func TestS2SCertificateIdentities(t *testing.T) {
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	pair := func(capOpts, monOpts *LeafOptions, insecure bool) (*Server, *Server) {
		mk := func(domain string, o *LeafOptions) *Server {
			cert, err := ca.Issue(domain, o)
			if err != nil {
				t.Fatal(err)
			}
			s, err := New(Config{Domain: domain, Certificate: cert, RootCAs: ca.Pool(), InsecureS2S: insecure})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		c, m := mk("capulet.lit", capOpts), mk("montague.lit", monOpts)
		ca, _ := c.ListenS2S("127.0.0.1:0")
		ma, _ := m.ListenS2S("127.0.0.1:0")
		c.AddPeer("montague.lit", ma.String())
		m.AddPeer("capulet.lit", ca.String())
		return c, m
	}
	// send pushes a message from capulet to montague's (absent) user and
	// returns montague's s2s-in record of it.
	send := func(c, m *Server) Record {
		m.AddUserIterations("romeo", "x", 16)
		st := mustStanza(t, "<message xmlns='jabber:server' from='juliet@capulet.lit/b' to='romeo@montague.lit' id='id1' type='chat'><body>x</body></message>")
		c.sendRemote("montague.lit", st)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for ctx.Err() == nil {
			for _, r := range m.Wiretap() {
				if r.Hop == S2SIn && r.Stanza.ID == "id1" {
					return r
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatal("message not received over s2s")
		return Record{}
	}
	c, m := pair(&LeafOptions{SRVNames: []string{"_xmpp-server.capulet.lit"}}, &LeafOptions{XMPPAddr: []string{"montague.lit"}}, false)
	r := send(c, m)
	if r.Auth != "EXTERNAL" || !strings.HasPrefix(r.CertCheck, "SRV-ID") {
		t.Errorf("SRV-ID peer: %s", r.Protection)
	}
	out := c.Wiretap()
	if len(out) == 0 || out[0].Auth != "EXTERNAL" || !strings.HasPrefix(out[0].CertCheck, "XmppAddr") {
		t.Errorf("XmppAddr peer: %v", out)
	}

	c, m = pair(&LeafOptions{DNSNames: []string{"wrong.lit"}}, &LeafOptions{DNSNames: []string{"wrong.lit"}}, true)
	r = send(c, m)
	if r.Auth != "dialback" || !strings.HasPrefix(r.CertCheck, "name mismatch") {
		t.Errorf("unauthenticated certificates: %s", r.Protection)
	}

	// Without InsecureS2S a certificate that does not verify stops the link
	// and the stanza bounces.
	c, m = pair(&LeafOptions{DNSNames: []string{"capulet.lit"}}, &LeafOptions{DNSNames: []string{"wrong.lit"}}, false)
	m.AddUserIterations("romeo", "x", 16)
	c.sendRemote("montague.lit", mustStanza(t, "<message xmlns='jabber:server' from='juliet@capulet.lit/b' to='romeo@montague.lit' id='id2' type='chat'><body>x</body></message>"))
	time.Sleep(300 * time.Millisecond)
	for _, r := range m.Wiretap() {
		if r.Hop == S2SIn {
			t.Errorf("accepted a stanza over a link whose certificate did not verify: %s", r)
		}
	}
}
