// Package san writes and reads the otherName entries that XMPP puts in a
// certificate's subjectAltName (RFC 5280 §4.2.1.6): id-on-xmppAddr, a JID
// as a UTF8String (RFC 6120 §13.7.1.4), and id-on-dnsSRV, an SRV-ID as an
// IA5String (RFC 4985). crypto/x509 parses neither, and mellium's parser
// takes any otherName as an XmppAddr, so the codecs and the built-in server
// share this one implementation.
package san

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
)

// Object identifiers.
var (
	OIDSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}
	OIDXMPPAddr       = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 8, 5}
	OIDDNSSRV         = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 8, 7}
)

// OtherName returns the GeneralName otherName [0] { type-id, [0] EXPLICIT
// value } whose value is v as a string of the universal tag given
// (asn1.TagUTF8String for an XmppAddr, asn1.TagIA5String for an SRV-ID).
func OtherName(oid asn1.ObjectIdentifier, tag int, v string) (asn1.RawValue, error) {
	val, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: tag, Bytes: []byte(v)})
	if err != nil {
		return asn1.RawValue{}, err
	}
	id, err := asn1.Marshal(oid)
	if err != nil {
		return asn1.RawValue{}, err
	}
	explicit, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: val})
	if err != nil {
		return asn1.RawValue{}, err
	}
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: append(id, explicit...)}, nil
}

// URI returns the GeneralName uniformResourceIdentifier [6] for u.
func URI(u string) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 6, Bytes: []byte(u)}
}

// DNSName returns the GeneralName dNSName [2] for d.
func DNSName(d string) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte(d)}
}

// Extension returns a subjectAltName extension holding names, in order.
func Extension(names ...asn1.RawValue) (pkix.Extension, error) {
	b, err := asn1.Marshal(names)
	if err != nil {
		return pkix.Extension{}, err
	}
	return pkix.Extension{Id: OIDSubjectAltName, Value: b}, nil
}

// An Other is one otherName of a subjectAltName whose value is a string:
// its type, the value's universal tag and the value's bytes.
type Other struct {
	Type  asn1.ObjectIdentifier
	Tag   int
	Value []byte
}

// ErrMalformed reports a subjectAltName, or an otherName in it, that is not
// well-formed DER of the shape RFC 5280 gives.
var ErrMalformed = errors.New("san: malformed subjectAltName")

// OtherNames returns the string-valued otherNames of c's subjectAltName
// extensions, in order. Entries that are not well-formed are left out and
// reported by an error wrapping ErrMalformed, returned with the entries
// that are; otherNames with a value that is not a primitive universal
// string type are left out silently.
func OtherNames(c *x509.Certificate) ([]Other, error) {
	var out []Other
	var bad error
	for _, ext := range c.Extensions {
		if !ext.Id.Equal(OIDSubjectAltName) {
			continue
		}
		var seq asn1.RawValue
		rest, err := asn1.Unmarshal(ext.Value, &seq)
		if err != nil || len(rest) != 0 || seq.Tag != asn1.TagSequence || !seq.IsCompound {
			bad = ErrMalformed
			continue
		}
		for in := seq.Bytes; len(in) > 0; {
			var gn asn1.RawValue
			if in, err = asn1.Unmarshal(in, &gn); err != nil {
				bad = ErrMalformed
				break
			}
			if gn.Class != asn1.ClassContextSpecific || gn.Tag != 0 {
				continue // not an otherName
			}
			o, ok := parseOther(gn)
			if !ok {
				bad = ErrMalformed
				continue
			}
			if o.Tag >= 0 {
				out = append(out, o)
			}
		}
	}
	return out, bad
}

// parseOther reads otherName ::= SEQUENCE { type-id OID, value [0]
// EXPLICIT ANY } from gn, an implicitly tagged [0]. Tag is -1 for a value
// that is not a primitive universal type.
func parseOther(gn asn1.RawValue) (Other, bool) {
	var o Other
	if !gn.IsCompound {
		return o, false
	}
	r, err := asn1.Unmarshal(gn.Bytes, &o.Type)
	if err != nil {
		return o, false
	}
	var explicit, val asn1.RawValue
	if r, err = asn1.Unmarshal(r, &explicit); err != nil || len(r) != 0 ||
		explicit.Class != asn1.ClassContextSpecific || explicit.Tag != 0 || !explicit.IsCompound {
		return o, false
	}
	if r, err = asn1.Unmarshal(explicit.Bytes, &val); err != nil || len(r) != 0 {
		return o, false
	}
	o.Tag, o.Value = -1, val.Bytes
	if val.Class == asn1.ClassUniversal && !val.IsCompound {
		o.Tag = val.Tag
	}
	return o, true
}

// Strings returns the values of the otherNames in names of type oid whose
// value has the universal tag given.
func Strings(names []Other, oid asn1.ObjectIdentifier, tag int) []string {
	var out []string
	for _, n := range names {
		if n.Type.Equal(oid) && n.Tag == tag {
			out = append(out, string(n.Value))
		}
	}
	return out
}
