package smime

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"unicode/utf8"

	"github.com/xmppe2e/xmppe2e/internal/san"
	"mellium.im/xmpp/jid"
)

// sanExtension returns a subjectAltName extension naming addr as an
// id-on-xmppAddr otherName and as im: and pres: URIs (RFC 3923 §6.3).
func sanExtension(addr jid.JID) (pkix.Extension, error) {
	s := addr.Bare().String()
	x, err := san.OtherName(san.OIDXMPPAddr, asn1.TagUTF8String, s)
	if err != nil {
		return pkix.Extension{}, err
	}
	return san.Extension(x, san.URI("im:"+s), san.URI("pres:"+s))
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
	names, _ := san.OtherNames(c) // malformed entries are left out
	for _, x := range san.Strings(names, san.OIDXMPPAddr, asn1.TagUTF8String) {
		if utf8.ValidString(x) {
			add(x)
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
