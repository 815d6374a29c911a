package smime

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"unicode/utf8"

	"mellium.im/xmpp/jid"
)

var (
	oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}
	// oidXMPPAddr is id-on-xmppAddr (RFC 6120 §13.7.1.4): an otherName
	// holding a UTF8String JID.
	oidXMPPAddr = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 8, 5}
)

// sanExtension returns a subjectAltName extension naming addr as an
// id-on-xmppAddr otherName and as im: and pres: URIs (RFC 3923 §6.3).
func sanExtension(addr jid.JID) (pkix.Extension, error) {
	s := addr.Bare().String()
	utf8Str, err := asn1.MarshalWithParams(s, "utf8")
	if err != nil {
		return pkix.Extension{}, err
	}
	other, err := asn1.Marshal(struct {
		Type  asn1.ObjectIdentifier
		Value asn1.RawValue
	}{oidXMPPAddr, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: utf8Str}})
	if err != nil {
		return pkix.Extension{}, err
	}
	// otherName is [0] IMPLICIT: re-tag the SEQUENCE as constructed [0].
	other[0] = 0xa0
	names := []asn1.RawValue{
		{FullBytes: other},
		{Class: asn1.ClassContextSpecific, Tag: 6, Bytes: []byte("im:" + s)},
		{Class: asn1.ClassContextSpecific, Tag: 6, Bytes: []byte("pres:" + s)},
	}
	val, err := asn1.Marshal(names)
	if err != nil {
		return pkix.Extension{}, err
	}
	return pkix.Extension{Id: oidSubjectAltName, Value: val}, nil
}

// certJIDs returns the bare JIDs a certificate names: its id-on-xmppAddr
// otherNames, and its im: and pres: URIs. Entries that do not parse as JIDs
// are skipped.
func certJIDs(c *x509.Certificate) []jid.JID {
	var out []jid.JID
	add := func(s string) {
		if j, err := jid.Parse(s); err == nil && j.Resourcepart() == "" {
			for _, o := range out {
				if o.Equal(j) {
					return
				}
			}
			out = append(out, j)
		}
	}
	for _, ext := range c.Extensions {
		if !ext.Id.Equal(oidSubjectAltName) {
			continue
		}
		names, err := parseGeneralNames(ext.Value)
		if err != nil {
			continue
		}
		for _, n := range names.xmpp {
			add(n)
		}
	}
	for _, u := range c.URIs {
		switch u.Scheme {
		case "im", "pres", "xmpp":
			add(u.Opaque)
		}
	}
	return out
}

type generalNames struct {
	xmpp []string
}

var errBadSAN = errors.New("smime: bad subjectAltName")

func parseGeneralNames(der []byte) (generalNames, error) {
	var out generalNames
	var seq asn1.RawValue
	rest, err := asn1.Unmarshal(der, &seq)
	if err != nil || len(rest) != 0 || seq.Tag != asn1.TagSequence || !seq.IsCompound {
		return out, errBadSAN
	}
	b := seq.Bytes
	for len(b) > 0 {
		var gn asn1.RawValue
		b, err = asn1.Unmarshal(b, &gn)
		if err != nil {
			return out, errBadSAN
		}
		if gn.Class != asn1.ClassContextSpecific || gn.Tag != 0 || !gn.IsCompound {
			continue
		}
		// otherName ::= SEQUENCE { type-id OID, value [0] EXPLICIT ANY }
		var oid asn1.ObjectIdentifier
		r, err := asn1.Unmarshal(gn.Bytes, &oid)
		if err != nil || !oid.Equal(oidXMPPAddr) {
			continue
		}
		var v asn1.RawValue
		if r, err = asn1.Unmarshal(r, &v); err != nil || len(r) != 0 || v.Class != asn1.ClassContextSpecific || v.Tag != 0 {
			continue
		}
		var s asn1.RawValue
		if r, err = asn1.Unmarshal(v.Bytes, &s); err != nil || len(r) != 0 || s.Tag != asn1.TagUTF8String || !utf8.Valid(s.Bytes) {
			continue
		}
		out.xmpp = append(out.xmpp, string(s.Bytes))
	}
	return out, nil
}
