package xtls

import (
	"context"
	"crypto/sha1"
	"crypto/tls"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// draftInitiate is the draft's session-initiate example with errata 1 and 3
// fixed (attributes inside the start tag, one sid), using the :1
// namespaces and the sha1 spelling some implementations send.
const draftInitiate = `<iq xmlns='jabber:client' from='romeo@montague.lit/orchard' id='xn28s7gk' to='juliet@capulet.lit/balcony' type='set'>
  <jingle xmlns='urn:xmpp:jingle:1' action='session-initiate' initiator='romeo@montague.lit/orchard' sid='a73sjjvkla37jfea'>
    <content creator='initiator' name='xmlstream'>
      <description xmlns='urn:xmpp:jingle:apps:xmlstream:1'/>
      <transport xmlns='urn:xmpp:jingle:transports:ibb:0' block-size='4096' sid='ch3d9s71'/>
      <security xmlns='urn:xmpp:jingle:security:xtls:1'>
        <fingerprint algo='sha1'>ab cd ef 01 23 45 67 89 ab cd ef 01 23 45 67 89 ab cd ef 01</fingerprint>
        <fingerprint algo='md5'>whatever</fingerprint>
        <method name='x509'/>
        <method name='srp'/>
        <method name='openpgp'/>
      </security>
    </content>
  </jingle>
</iq>`

func TestParseDraftInitiate(t *testing.T) {
	st, err := e2e.Parse([]byte(draftInitiate))
	if err != nil {
		t.Fatal(err)
	}
	j, err := parseJingle(jingleChild(st))
	if err != nil {
		t.Fatal(err)
	}
	c := j.xmlstreamContent()
	if j.Action != "session-initiate" || j.SID != "a73sjjvkla37jfea" || c == nil || c.Transport == nil ||
		c.Transport.SID != "ch3d9s71" || c.Transport.BlockSize != 4096 || c.Transport.NS != nsIBB0 {
		t.Fatalf("%+v %+v", j, c)
	}
	s := c.Security
	if s == nil || len(s.Fingerprints) != 1 || s.Fingerprints[0].Algo != "sha-1" || len(s.Fingerprints[0].Value) != 20 {
		t.Fatalf("security %+v", s)
	}
	if strings.Join(s.Methods, ",") != "x509,srp,openpgp" || !s.has("x509") {
		t.Fatalf("methods %v", s.Methods)
	}
}

func TestSecurityPresence(t *testing.T) {
	for _, c := range []struct {
		xml     string
		present bool
		methods int
	}{
		{`<content xmlns='urn:xmpp:jingle:1' creator='initiator' name='x'><description xmlns='urn:xmpp:jingle:apps:xmlstream:0'/></content>`, false, 0},
		{`<content xmlns='urn:xmpp:jingle:1' creator='initiator' name='x'><security xmlns='urn:xmpp:jingle:security:xtls:0'/></content>`, true, 0},
		{`<content xmlns='urn:xmpp:jingle:1' creator='initiator' name='x'><security xmlns='urn:xmpp:jingle:security:xtls:2'/></content>`, false, 0},
		{`<content xmlns='urn:xmpp:jingle:1' creator='initiator' name='x'><security xmlns='urn:xmpp:jingle:security:xtls:0'><method name='x509'/><method name='x509'/></security></content>`, true, 2},
	} {
		e, err := e2e.ParseElement([]byte(c.xml))
		if err != nil {
			t.Fatal(err)
		}
		ct, err := parseContent(e)
		if err != nil {
			t.Fatal(err)
		}
		if (ct.Security != nil) != c.present || (ct.Security != nil && len(ct.Security.Methods) != c.methods) {
			t.Fatalf("%s: %+v", c.xml, ct.Security)
		}
	}
}

func TestFingerprintForms(t *testing.T) {
	id := testIdentity(t, "romeo@montague.lit")
	fp := fingerprintSHA256(id.cert.Raw)
	for _, v := range []string{fp.String(), strings.ToLower(fp.String()), strings.ReplaceAll(fp.String(), ":", ""), " " + fp.String() + "\n"} {
		for _, algo := range []string{"sha-256", "sha256", "SHA-256"} {
			e := &e2e.Element{Name: xmlName(nsXTLS0, "security")}
			e.AppendChild(&e2e.Element{Name: xmlName(nsXTLS0, "fingerprint"), Attr: attrs("algo", algo), Nodes: []e2e.Node{e2e.CharData(v)}})
			s, err := parseSecurity(e)
			if err != nil || len(s.Fingerprints) != 1 || !s.Fingerprints[0].Matches(id.cert.Raw) {
				t.Fatalf("%s %q: %v", algo, v, err)
			}
		}
	}
}

// TestWireFormat checks what we send: well-formed stanzas, the :0
// namespaces, a sha-256 fingerprint, only x509, and for ibb:1 the IBB
// <open/> before the first <data/>.
func TestWireFormat(t *testing.T) {
	for _, opts := range []Options{{}, {Transport: IBB0, MaxVersion: tls.VersionTLS12}} {
		a, b := pair(t, opts)
		route := map[*Session]*Session{a: b, b: a}
		res := pump(t, route, a, encrypt(t, a, msg(julietFull, romeoFull, "hi")))
		var sawOpen, sawData, sawInfo bool
		for _, st := range res.wire {
			raw := st.String()
			if _, err := e2e.Parse([]byte(raw)); err != nil {
				t.Fatal(err)
			}
			for _, bad := range []string{"xtls:1", "xmlstream:1", "srp", "sha1", "sha-1"} {
				if strings.Contains(raw, bad) && jingleChild(st) != nil {
					t.Fatalf("sent %q: %s", bad, raw)
				}
			}
			if el := ibbChild(st); el != nil {
				switch el.Name.Local {
				case "open":
					if sawData {
						t.Fatal("<open/> after <data/>")
					}
					sawOpen = true
				case "data":
					sawData = true
				}
			}
			if action(st) == "security-info" {
				sawInfo = true
			}
			if a := action(st); a == "session-initiate" || a == "session-accept" {
				_, sec := securitySection(st)
				if sec == nil || sec.Name.Space != nsXTLS0 {
					t.Fatalf("security: %s", raw)
				}
				fp := sec.Child(nsXTLS0, "fingerprint")
				if v, _ := fp.AttrValue("algo"); v != "sha-256" || len(fp.Text()) != 95 {
					t.Fatalf("fingerprint: %s", raw)
				}
			}
		}
		if sawOpen != (opts.Transport != IBB0) || !sawData || !sawInfo {
			t.Fatalf("open %v data %v info %v", sawOpen, sawData, sawInfo)
		}
	}
}

// TestClientCertificateRequired: a TLS client without a certificate cannot
// complete the handshake with our responder.
func TestClientCertificateRequired(t *testing.T) {
	r := newRouter(t)
	c := r.conn(julietFull, romeoFull, "s", 4096)
	s := r.conn(romeoFull, julietFull, "s", 4096)
	srv := tls.Server(s, profileConfig(testIdentity(t, "romeo@montague.lit"), true, tls.VersionTLS13, func(tls.ConnectionState) error { return nil }))
	errc := make(chan error, 1)
	go func() { errc <- srv.Handshake() }()
	cl := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	cl.Handshake()
	cl.Read(make([]byte, 1)) // TLS 1.3: the rejection arrives after the client's Finished
	if err := <-errc; err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("server accepted a client without a certificate: %v", err)
	}
	cl.Close()
	srv.Close()
	_ = context.Background
}

// TestResponderLowersBlockSize: the responder accepts with a smaller
// block-size, and the initiator's chunks honour it.
func TestResponderLowersBlockSize(t *testing.T) {
	j, r := testIdentity(t, "juliet@capulet.lit"), testIdentity(t, "romeo@montague.lit")
	a, _ := newTestSession(t, Options{BlockSize: 4096}, julietFull, j, r.Public())
	b, _ := newTestSession(t, Options{BlockSize: 100}, romeoFull, r, j.Public())
	route := map[*Session]*Session{a: b, b: a}
	m := msg(julietFull, romeoFull, strings.Repeat("long ", 200))
	res := pump(t, route, a, encrypt(t, a, m))
	if len(res.errs) != 0 || len(res.opened[b]) != 1 || !res.opened[b][0].Equal(m) {
		t.Fatalf("%v", res.errs)
	}
	for _, st := range res.wire {
		if d := ibbChild(st); d != nil && d.Name.Local == "data" {
			raw, err := decodeChunk(d.Text())
			if err != nil || len(raw) > 100 {
				t.Fatalf("chunk of %d bytes with block-size 100", len(raw))
			}
		}
		if d := ibbChild(st); d != nil && d.Name.Local == "open" {
			if bs, _ := d.AttrValue("block-size"); bs != "100" {
				t.Fatalf("<open/> with block-size %s", bs)
			}
		}
	}
}

// TestAcceptsVersion1Namespaces: a peer that sends the :1 namespaces the
// draft's disco example advertises (security, xmlstream) and sha1
// fingerprints is understood.
func TestAcceptsVersion1Namespaces(t *testing.T) {
	a, b := pair(t, Options{})
	route := map[*Session]*Session{a: b, b: a}
	var rewrote int
	hook := func(_ *Session, st *e2e.Stanza) *e2e.Stanza {
		j := jingleChild(st)
		if j == nil {
			return st
		}
		for _, c := range j.Elements() {
			for _, e := range c.Elements() {
				switch e.Name.Space {
				case nsXTLS0:
					e.Name.Space = nsXTLS1
					for _, f := range e.Elements() {
						f.Name.Space = nsXTLS1
						if f.Name.Local == "fingerprint" {
							// the draft's algorithm and spelling
							id := testIdentity(t, "juliet@capulet.lit")
							if action(st) == "session-accept" {
								id = testIdentity(t, "romeo@montague.lit")
							}
							h := sha1.Sum(id.cert.Raw)
							f.SetAttr("algo", "sha1")
							f.SetText(strings.ToLower(hex.EncodeToString(h[:])))
						}
					}
					rewrote++
				case nsXMLStream0:
					e.Name.Space = nsXMLStream1
				}
			}
		}
		return st
	}
	m := msg(julietFull, romeoFull, "in the :1 dialect")
	res := pumpWith(t, route, a, encrypt(t, a, m), hook)
	if len(res.errs) != 0 || len(res.opened[b]) != 1 || !res.opened[b][0].Equal(m) || rewrote < 3 {
		t.Fatalf("%v %v %d", res.errs, res.opened[b], rewrote)
	}
}
