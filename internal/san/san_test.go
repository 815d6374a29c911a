package san

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"slices"
	"testing"
)

// OtherName encodes as encoding/asn1 does the RFC 5280 structure with an
// implicit [0] tag, byte for byte.
func TestOtherNameDER(t *testing.T) {
	n, err := OtherName(OIDXMPPAddr, asn1.TagUTF8String, "juliet@capulet.lit")
	if err != nil {
		t.Fatal(err)
	}
	got, err := asn1.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	utf8, _ := asn1.MarshalWithParams("juliet@capulet.lit", "utf8")
	want, err := asn1.MarshalWithParams(struct {
		Type  asn1.ObjectIdentifier
		Value asn1.RawValue
	}{OIDXMPPAddr, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: utf8}}, "tag:0")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("OtherName DER\n%x, want\n%x", got, want)
	}
}

func cert(t *testing.T, ext pkix.Extension) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), ExtraExtensions: []pkix.Extension{ext}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRoundTrip(t *testing.T) {
	x, _ := OtherName(OIDXMPPAddr, asn1.TagUTF8String, "romeo@montague.lit")
	s, _ := OtherName(OIDDNSSRV, asn1.TagIA5String, "_xmpp-server.montague.lit")
	other, _ := OtherName(asn1.ObjectIdentifier{1, 2, 3}, asn1.TagUTF8String, "not xmpp")
	ext, err := Extension(DNSName("montague.lit"), x, URI("im:romeo@montague.lit"), s, other)
	if err != nil {
		t.Fatal(err)
	}
	c := cert(t, ext)
	if !slices.Equal(c.DNSNames, []string{"montague.lit"}) || len(c.URIs) != 1 {
		t.Fatalf("crypto/x509 read DNS %v, URIs %v", c.DNSNames, c.URIs)
	}
	names, err := OtherNames(c)
	if err != nil || len(names) != 3 {
		t.Fatalf("OtherNames: %v, %v", names, err)
	}
	if got := Strings(names, OIDXMPPAddr, asn1.TagUTF8String); !slices.Equal(got, []string{"romeo@montague.lit"}) {
		t.Errorf("XmppAddrs %q", got)
	}
	if got := Strings(names, OIDDNSSRV, asn1.TagIA5String); !slices.Equal(got, []string{"_xmpp-server.montague.lit"}) {
		t.Errorf("SRV-IDs %q", got)
	}
	// The type is checked: an XmppAddr OID with an IA5String is not one.
	if got := Strings(names, OIDXMPPAddr, asn1.TagIA5String); len(got) != 0 {
		t.Errorf("XmppAddrs as IA5String: %q", got)
	}
}

// A malformed otherName is reported and left out; the others still come
// back.
func TestMalformedOtherName(t *testing.T) {
	good, _ := OtherName(OIDXMPPAddr, asn1.TagUTF8String, "romeo@montague.lit")
	id, _ := asn1.Marshal(OIDXMPPAddr)
	noValue := asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: id}
	trailing, _ := OtherName(OIDXMPPAddr, asn1.TagUTF8String, "mercutio@capulet.lit")
	trailing.Bytes = append(trailing.Bytes[:len(trailing.Bytes):len(trailing.Bytes)], 0x05, 0x00)
	ext, err := Extension(noValue, good, trailing)
	if err != nil {
		t.Fatal(err)
	}
	names, err := OtherNames(cert(t, ext))
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("error %v, want ErrMalformed", err)
	}
	if got := Strings(names, OIDXMPPAddr, asn1.TagUTF8String); !slices.Equal(got, []string{"romeo@montague.lit"}) {
		t.Errorf("XmppAddrs %q", got)
	}
}
