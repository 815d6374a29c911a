package server

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"

	"github.com/xmppe2e/xmppe2e/internal/san"
	"mellium.im/xmpp/jid"
)

// otherNameSANs builds a subjectAltName extension holding dNSNames, SRV-IDs
// (IA5String) and XmppAddrs (UTF8String).
func otherNameSANs(dns, srv, xmpp []string) (pkix.Extension, error) {
	var names []asn1.RawValue
	for _, d := range dns {
		names = append(names, san.DNSName(d))
	}
	for _, list := range []struct {
		oid    asn1.ObjectIdentifier
		tag    int
		values []string
	}{{san.OIDDNSSRV, asn1.TagIA5String, srv}, {san.OIDXMPPAddr, asn1.TagUTF8String, xmpp}} {
		for _, v := range list.values {
			n, err := san.OtherName(list.oid, list.tag, v)
			if err != nil {
				return pkix.Extension{}, err
			}
			names = append(names, n)
		}
	}
	return san.Extension(names...)
}

// xmppIdentities returns the SRV-IDs and XmppAddrs of cert, checking the
// otherName type OIDs (which mellium.im/xmpp/x509 does not). A malformed
// subjectAltName is an error.
func xmppIdentities(cert *x509.Certificate) (srv, xmpp []string, err error) {
	names, err := san.OtherNames(cert)
	if err != nil {
		return nil, nil, err
	}
	return san.Strings(names, san.OIDDNSSRV, asn1.TagIA5String), san.Strings(names, san.OIDXMPPAddr, asn1.TagUTF8String), nil
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
