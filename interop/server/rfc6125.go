package server

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"

	"mellium.im/xmpp/jid"
)

// RFC 6120 §13.7.1.4 and RFC 4985: the otherName types XMPP uses.
var (
	oidSAN      = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidXMPPAddr = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 8, 5}
	oidDNSSRV   = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 8, 7}
)

// otherNameSANs builds a subjectAltName extension holding dNSNames, SRV-IDs
// (IA5String) and XmppAddrs (UTF8String).
func otherNameSANs(dns, srv, xmpp []string) (pkix.Extension, error) {
	var names []asn1.RawValue
	other := func(oid asn1.ObjectIdentifier, tag int, v string) error {
		val, err := asn1.Marshal(asn1.RawValue{Tag: tag, Class: asn1.ClassUniversal, Bytes: []byte(v)})
		if err != nil {
			return err
		}
		oidb, err := asn1.Marshal(oid)
		if err != nil {
			return err
		}
		explicit, err := asn1.Marshal(asn1.RawValue{Tag: 0, Class: asn1.ClassContextSpecific, IsCompound: true, Bytes: val})
		if err != nil {
			return err
		}
		names = append(names, asn1.RawValue{Tag: 0, Class: asn1.ClassContextSpecific, IsCompound: true, Bytes: append(oidb, explicit...)})
		return nil
	}
	for _, d := range dns {
		names = append(names, asn1.RawValue{Tag: 2, Class: asn1.ClassContextSpecific, Bytes: []byte(d)})
	}
	for _, s := range srv {
		if err := other(oidDNSSRV, asn1.TagIA5String, s); err != nil {
			return pkix.Extension{}, err
		}
	}
	for _, x := range xmpp {
		if err := other(oidXMPPAddr, asn1.TagUTF8String, x); err != nil {
			return pkix.Extension{}, err
		}
	}
	b, err := asn1.Marshal(names)
	if err != nil {
		return pkix.Extension{}, err
	}
	return pkix.Extension{Id: oidSAN, Value: b}, nil
}

// xmppIdentities returns the SRV-IDs and XmppAddrs of cert, checking the
// otherName type OIDs (which mellium.im/xmpp/x509 does not).
func xmppIdentities(cert *x509.Certificate) (srv, xmpp []string, err error) {
	for _, ext := range cert.Extensions {
		if !ext.Id.Equal(oidSAN) {
			continue
		}
		var seq asn1.RawValue
		rest, err := asn1.Unmarshal(ext.Value, &seq)
		if err != nil || len(rest) != 0 || !seq.IsCompound {
			return nil, nil, errors.New("bad subjectAltName")
		}
		in := seq.Bytes
		for len(in) > 0 {
			var gn asn1.RawValue
			if in, err = asn1.Unmarshal(in, &gn); err != nil {
				return nil, nil, err
			}
			if gn.Class != asn1.ClassContextSpecific || gn.Tag != 0 {
				continue
			}
			var oid asn1.ObjectIdentifier
			r, err := asn1.Unmarshal(gn.Bytes, &oid)
			if err != nil {
				return nil, nil, err
			}
			var explicit, val asn1.RawValue
			if _, err := asn1.Unmarshal(r, &explicit); err != nil {
				return nil, nil, err
			}
			if _, err := asn1.Unmarshal(explicit.Bytes, &val); err != nil {
				return nil, nil, err
			}
			switch {
			case oid.Equal(oidDNSSRV) && val.Tag == asn1.TagIA5String:
				srv = append(srv, string(val.Bytes))
			case oid.Equal(oidXMPPAddr) && val.Tag == asn1.TagUTF8String:
				xmpp = append(xmpp, string(val.Bytes))
			}
		}
	}
	return srv, xmpp, nil
}

// VerifyDomain checks that cert (whose chain has already been verified)
// names domain under RFC 6125 as XMPP uses it (RFC 6120 §13.7.2): a DNS-ID
// (a wildcard only as the whole left-most label), an SRV-ID for the
// _xmpp-server service (or _xmpp-client when client is true), or an
// XmppAddr equal to the domain. The subject common name is never used. It
// returns which identifier matched, such as "DNS-ID capulet.lit".
func VerifyDomain(cert *x509.Certificate, domain string, client bool) (string, error) {
	want, err := jid.Parse(domain)
	if err != nil || want.Localpart() != "" || want.Resourcepart() != "" {
		return "", fmt.Errorf("server: %q is not a domain", domain)
	}
	d := want.Domainpart()
	for _, n := range cert.DNSNames {
		if dnsMatch(strings.ToLower(strings.TrimSuffix(n, ".")), d) {
			return "DNS-ID " + n, nil
		}
	}
	srv, xmpp, err := xmppIdentities(cert)
	if err != nil {
		return "", fmt.Errorf("server: certificate identities: %w", err)
	}
	service := "_xmpp-server."
	if client {
		service = "_xmpp-client."
	}
	for _, s := range srv {
		if strings.HasPrefix(s, service) && strings.EqualFold(strings.TrimSuffix(strings.TrimPrefix(s, service), "."), d) {
			return "SRV-ID " + s, nil
		}
	}
	for _, x := range xmpp {
		j, err := jid.Parse(x)
		if err == nil && j.Localpart() == "" && j.Resourcepart() == "" && j.Domainpart() == d {
			return "XmppAddr " + x, nil
		}
	}
	return "", fmt.Errorf("server: certificate names neither a DNS-ID, SRV-ID nor XmppAddr for %s", d)
}

func dnsMatch(pattern, host string) bool {
	if pattern == host {
		return true
	}
	if rest, ok := strings.CutPrefix(pattern, "*."); ok && !strings.Contains(rest, "*") {
		i := strings.IndexByte(host, '.')
		return i > 0 && host[i+1:] == rest
	}
	return false
}

// verifyChain verifies the chain of certs against roots for the given
// usage and returns the leaf.
func verifyChain(certs []*x509.Certificate, roots *x509.CertPool, usage x509.ExtKeyUsage) (*x509.Certificate, error) {
	if len(certs) == 0 {
		return nil, errors.New("no certificate")
	}
	if roots == nil {
		return nil, errors.New("no trust anchors")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}})
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}
