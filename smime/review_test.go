package smime

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/smallstep/pkcs7"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// withKeyUsage returns a copy of id whose self-signed certificate has the
// given key usage bits (and the same key, JID and SAN).
func withKeyUsage(t *testing.T, id *Identity, ku x509.KeyUsage, eku ...x509.ExtKeyUsage) *Identity {
	t.Helper()
	return reissue(t, id, func(c *x509.Certificate) {
		c.SerialNumber = big.NewInt(int64(ku) + 1000*int64(len(eku)+1))
		c.KeyUsage, c.ExtKeyUsage = ku, eku
	})
}

// reissue returns a copy of id with a new self-signed certificate for the
// same key and JID, valid from a year before epoch for 50 years (the library checks the
// real-time signingTime against it), changed by edit.
func reissue(t *testing.T, id *Identity, edit func(*x509.Certificate)) *Identity {
	t.Helper()
	san, err := sanExtension(id.addr)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:    big.NewInt(1),
		Subject:         pkix.Name{CommonName: id.addr.String()},
		NotBefore:       epoch.AddDate(-1, 0, 0),
		NotAfter:        epoch.AddDate(50, 0, 0),
		ExtraExtensions: []pkix.Extension{san},
	}
	edit(tmpl)
	der, err := x509.CreateCertificate(newSeeded(7), tmpl, tmpl, &id.key.PublicKey, id.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &Identity{key: id.key, cert: cert, addr: id.addr}
}

// TestKeyUsage: a certificate whose keyUsage extension does not allow
// digitalSignature (or nonRepudiation) cannot sign, and one that does not
// allow keyEncipherment cannot be encrypted to (RFC 8550 §4.4.2); one whose
// extKeyUsage names neither emailProtection nor anyExtendedKeyUsage cannot
// sign (RFC 8550 §4.4.4), pinned or not.
func TestKeyUsage(t *testing.T) {
	jul, rom := fixtureIdentity(t, "juliet"), fixtureIdentity(t, "romeo")
	open := func(t *testing.T, signer *Identity) error {
		js, err := Scheme.NewSession(e2e.Config{Local: signer, JID: julietFull, Peers: []e2e.Peer{rom.Public()}, Rand: newSeeded(1), Clock: testClock(epoch)})
		if err != nil {
			t.Fatal(err)
		}
		rs, err := Scheme.NewSession(e2e.Config{Local: rom, JID: romeoFull, Peers: []e2e.Peer{signer.Public()}, Rand: newSeeded(2), Clock: testClock(epoch)})
		if err != nil {
			t.Fatal(err)
		}
		w, err := js.Sign(context.Background(), message("hi"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = rs.Receive(context.Background(), transport(t, w[0]))
		return err
	}
	// Pinning ignores Config.Clock, but the library checks the signingTime
	// attribute (the signer's real clock) against the certificate's
	// validity, as docs/smime.md says.
	expired := reissue(t, jul, func(c *x509.Certificate) {
		c.NotBefore, c.NotAfter = epoch.AddDate(-20, 0, 0), epoch.AddDate(-19, 0, 0)
	})
	if err := open(t, expired); !errors.Is(err, e2e.ErrBadSignature) {
		t.Errorf("expired pinned certificate: %v", err)
	}
	if err := open(t, withKeyUsage(t, jul, x509.KeyUsageDigitalSignature)); err != nil {
		t.Errorf("digitalSignature: %v", err)
	}
	if err := open(t, withKeyUsage(t, jul, x509.KeyUsageContentCommitment)); err != nil {
		t.Errorf("nonRepudiation: %v", err)
	}
	if err := open(t, withKeyUsage(t, jul, x509.KeyUsageKeyEncipherment)); !errors.Is(err, e2e.ErrBadSignature) {
		t.Errorf("keyEncipherment-only signer accepted: %v", err)
	}
	if err := open(t, withKeyUsage(t, jul, x509.KeyUsageDigitalSignature, x509.ExtKeyUsageEmailProtection)); err != nil {
		t.Errorf("emailProtection: %v", err)
	}
	if err := open(t, withKeyUsage(t, jul, x509.KeyUsageDigitalSignature, x509.ExtKeyUsageAny)); err != nil {
		t.Errorf("anyExtendedKeyUsage: %v", err)
	}
	if err := open(t, withKeyUsage(t, jul, x509.KeyUsageDigitalSignature, x509.ExtKeyUsageServerAuth)); !errors.Is(err, e2e.ErrBadSignature) {
		t.Errorf("serverAuth-only signer accepted: %v", err)
	}

	signOnly := withKeyUsage(t, rom, x509.KeyUsageDigitalSignature)
	js, err := Scheme.NewSession(e2e.Config{Local: jul, JID: julietFull, Peers: []e2e.Peer{signOnly.Public()}, Rand: newSeeded(1), Clock: testClock(epoch)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Encrypt(context.Background(), message("hi")); !errors.Is(err, e2e.ErrNoKey) {
		t.Errorf("encrypted to a certificate without keyEncipherment: %v", err)
	}
}

// TestErrorReplyIQ: an IQ response (result or error) is never answered, and
// a failed IQ request always is (RFC 6120 §8.2.3); a stanza that cannot be
// decrypted for want of a key gets decryption-failed (RFC 3923 §7 case 5).
func TestErrorReplyIQ(t *testing.T) {
	j, _ := pair(t, Scheme)
	iq := func(typ string) *e2e.Stanza {
		st := &e2e.Stanza{Kind: e2e.IQ, From: julietFull, To: romeoFull, Type: typ, ID: "q1"}
		st.Children = []*e2e.Element{e2e.NewElement("jabber:iq:version", "query", "")}
		w, err := j.sess.Encrypt(context.Background(), st)
		if err != nil {
			t.Fatal(err)
		}
		return transport(t, w[0])
	}
	if rep := ErrorReply(iq("result"), fmt.Errorf("x: %w", e2e.ErrDecrypt)); rep != nil {
		t.Errorf("answered an IQ result: %s", rep)
	}
	for _, err := range []error{e2e.ErrDecrypt, e2e.ErrNoKey, e2e.ErrNotEncrypted, e2e.ErrReplay} {
		rep := ErrorReply(iq("set"), fmt.Errorf("x: %w", err))
		if rep == nil || rep.Kind != e2e.IQ || rep.Type != "error" || rep.ID != "q1" || rep.Child(e2e.NSClient, "error") == nil {
			t.Errorf("IQ set failing with %v left unanswered: %v", err, rep)
		}
	}
	enc, _ := j.sess.Encrypt(context.Background(), message("x"))
	if got := ErrorCondition(ErrorReply(enc[0], fmt.Errorf("x: %w", e2e.ErrNoKey))); got != "decryption-failed" {
		t.Errorf("no key to decrypt: condition %q", got)
	}
}

// TestCPIMHeaderSyntax: CPIM message headers are Name ":" parameters SP
// value on one line (RFC 3862 §3.1, §3.6): no folding, the one space is
// required, header parameters are not part of the value; the content needs
// a Content-Type (RFC 3862 §2.4); DateTime is UTC (RFC 3923 §6.9).
func TestCPIMHeaderSyntax(t *testing.T) {
	outer := &e2e.Stanza{Kind: e2e.Message, From: julietFull, To: romeoFull, Type: "chat"}
	const (
		from = "From: <im:juliet@capulet.lit>\r\n"
		to   = "To: <im:romeo@montague.lit>\r\n"
		dt   = "DateTime: 2026-11-22T12:00:00.000Z\r\n"
		body = "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhi\r\n"
	)
	if _, err := parseCPIM([]byte(from+to+dt+body), outer); err != nil {
		t.Fatalf("good CPIM: %v", err)
	}
	in, err := parseCPIM([]byte(from+to+dt+"Subject:;lang=fr Bonjour\r\n"+body), outer)
	if err != nil {
		t.Fatal(err)
	}
	if s := in.stanza.Child(e2e.NSClient, "subject"); s == nil || s.Text() != "Bonjour" {
		t.Errorf("Subject with a lang parameter: %s", in.stanza)
	}
	for name, bad := range map[string]string{
		"folded":          "From:\r\n <im:juliet@capulet.lit>\r\n" + to + dt + body,
		"no space":        "From:<im:juliet@capulet.lit>\r\n" + to + dt + body,
		"offset":          from + to + "DateTime: 2026-11-22T13:00:00.000+01:00\r\n" + body,
		"no content type": from + to + dt + "\r\nContent-ID: <x@y>\r\n\r\nhi\r\n",
	} {
		if _, err := parseCPIM([]byte(bad), outer); err == nil {
			t.Errorf("%s: accepted\n%s", name, strings.ReplaceAll(bad, "\r\n", "\n"))
		}
	}
	pres := &e2e.Stanza{Kind: e2e.Presence, From: julietFull, To: romeoFull}
	pidf := "<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:juliet@capulet.lit'><tuple id='t'><status><basic>open</basic></status><timestamp>%s</timestamp></tuple></presence>"
	if _, err := parsePIDF([]byte(fmt.Sprintf(pidf, "2026-11-22T12:00:00.5Z")), pres); err != nil {
		t.Errorf("PIDF in UTC: %v", err)
	}
	if _, err := parsePIDF([]byte(fmt.Sprintf(pidf, "2026-11-22T13:00:00.5+01:00")), pres); err == nil {
		t.Error("PIDF timestamp with an offset accepted")
	}
}

// TestEnvelopedContentType: the encrypted content of an S/MIME envelope is
// id-data (RFC 8551 §2.4.1); any other type is refused.
func TestEnvelopedContentType(t *testing.T) {
	rom := fixtureIdentity(t, "romeo")
	idData := []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01}
	idSigned := []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02}
	for _, suite := range []cipherSuite{aes128CBC, aes128GCM} {
		der, err := envelope(newSeeded(3), []byte("Content-Type: text/plain\r\n\r\nhi\r\n"), []*x509.Certificate{rom.cert}, suite)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := open(der, rom.cert, rom.key); err != nil {
			t.Fatalf("unchanged envelope: %v", err)
		}
		if bytes.Count(der, idData) != 1 {
			t.Fatalf("id-data occurs %d times", bytes.Count(der, idData))
		}
		if _, _, err := open(bytes.Replace(der, idData, idSigned, 1), rom.cert, rom.key); err == nil {
			t.Errorf("suite %d: envelope of id-signedData content opened", suite)
		}
	}
}

// TestSignatureWithoutSignedAttributes: CMS makes signed attributes
// optional (RFC 5652 §5.3); a SignedData without them verifies over the
// content digest and must be accepted. RFC 3923's freshness comes from the
// CPIM DateTime, not from signingTime.
func TestSignatureWithoutSignedAttributes(t *testing.T) {
	jul, rom := fixtureIdentity(t, "juliet"), fixtureIdentity(t, "romeo")
	st := message("no attributes")
	content := buildInner(st, epoch)
	sd, err := pkcs7.NewSignedData(content)
	if err != nil {
		t.Fatal(err)
	}
	sd.SetDigestAlgorithm(oidSHA256)
	if err := sd.SignWithoutAttr(jul.cert, jul.key, pkcs7.SignerInfoConfig{}); err != nil {
		t.Fatal(err)
	}
	sd.Detach()
	der, err := sd.Finish()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	writeFields(&b, `Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="b"`)
	b.WriteString("--b\r\n")
	b.Write(content)
	b.WriteString("\r\n--b\r\n")
	writeFields(&b, "Content-Type: application/pkcs7-signature", "Content-Transfer-Encoding: base64")
	writeBase64(&b, der)
	b.WriteString("--b--\r\n")
	rs, err := Scheme.NewSession(e2e.Config{Local: rom, JID: romeoFull, Peers: []e2e.Peer{jul.Public()}, Rand: newSeeded(2), Clock: testClock(epoch)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := rs.Receive(context.Background(), transport(t, wire(st, b.Bytes())))
	if err != nil {
		t.Fatalf("SignedData without signed attributes: %v", err)
	}
	if o := got.Opened[0]; !o.Stanza.Equal(st) || o.Signer == nil {
		t.Fatalf("opened %s, signer %v", o.Stanza, o.Signer)
	}
}

// TestMIMEFieldNames: a MIME field name is printable US-ASCII without the
// colon (RFC 5322 §3.6.8, which RFC 2045 §3 builds on).
func TestMIMEFieldNames(t *testing.T) {
	if _, err := parseEntity([]byte("Content-Type: text/plain\r\nX-Ok!#: 1\r\n\r\nx")); err != nil {
		t.Fatalf("good header: %v", err)
	}
	for _, name := range []string{"Content\x01Type", "Contént-Type", "Content-Type\x7f"} {
		if _, err := parseEntity([]byte(name + ": text/plain\r\n\r\nx")); err == nil {
			t.Errorf("field name %q accepted", name)
		}
	}
}
