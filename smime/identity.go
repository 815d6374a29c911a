package smime

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// KeyBits is the size of the RSA keys GenerateIdentity makes.
const KeyBits = 2048

// Identity is a local S/MIME identity: an RSA private key and its
// certificate, plus the chain of issuing certificates (possibly none).
// Its ecosystem format is PEM: the private key (PKCS #8 or PKCS #1), then
// the certificate, then any issuer certificates.
type Identity struct {
	key   *rsa.PrivateKey
	cert  *x509.Certificate
	chain []*x509.Certificate
	addr  jid.JID
}

// Peer is a remote party's certificate, or a set of trust anchors.
//
// A Peer whose certificate names a JID (id-on-xmppAddr, or an im:/pres: URI)
// pins that certificate for that JID. A Peer read from a PEM bundle whose
// first certificate names no JID is a set of trust anchors (certificate
// authorities): any signer certificate that chains to one of them and names
// the sender's JID is trusted. Its JID is zero.
type Peer struct {
	certs []*x509.Certificate
	addr  jid.JID
}

var (
	_ e2e.Identity = (*Identity)(nil)
	_ e2e.Peer     = (*Peer)(nil)
)

// JID returns the bare JID named in the certificate.
func (id *Identity) JID() jid.JID { return id.addr }

// Certificate returns the identity's certificate.
func (id *Identity) Certificate() *x509.Certificate { return id.cert }

// Public returns the certificate (and chain) as a Peer.
func (id *Identity) Public() e2e.Peer {
	return &Peer{certs: append([]*x509.Certificate{id.cert}, id.chain...), addr: id.addr}
}

// Marshal writes the PKCS #8 private key then the certificates, in PEM.
func (id *Identity) Marshal() ([]byte, error) {
	k, err := x509.MarshalPKCS8PrivateKey(id.key)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	pem.Encode(&b, &pem.Block{Type: "PRIVATE KEY", Bytes: k})
	for _, c := range append([]*x509.Certificate{id.cert}, id.chain...) {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes(), nil
}

// JID returns the bare JID the certificate names, or the zero JID for a set
// of trust anchors.
func (p *Peer) JID() jid.JID { return p.addr }

// Certificates returns the certificates of p, the leaf (or first anchor)
// first.
func (p *Peer) Certificates() []*x509.Certificate { return p.certs }

// Fingerprint returns the SHA-256 fingerprint of the first certificate, as
// colon-separated upper-case hex the way `openssl x509 -fingerprint -sha256`
// shows it.
func (p *Peer) Fingerprint() string { return fingerprint(p.certs[0]) }

// Marshal writes the certificates in PEM.
func (p *Peer) Marshal() ([]byte, error) {
	var b bytes.Buffer
	for _, c := range p.certs {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes(), nil
}

// anchor reports whether p is a set of trust anchors rather than a pinned
// certificate.
func (p *Peer) anchor() bool { return p.addr.Equal(jid.JID{}) }

func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// generateIdentity makes a self-signed RSA-2048 certificate for addr with an
// id-on-xmppAddr SAN. caps lists the content ciphers it advertises in an
// S/MIME capabilities extension (RFC 4262).
func generateIdentity(ctx context.Context, addr jid.JID, rand io.Reader, caps []asn1.ObjectIdentifier) (*Identity, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	addr = addr.Bare()
	if addr.Localpart() == "" {
		return nil, fmt.Errorf("smime: %w: identity needs a bare JID user@domain, got %q", e2e.ErrMalformed, addr)
	}
	key, err := rsa.GenerateKey(rand, KeyBits)
	if err != nil {
		return nil, err
	}
	san, err := sanExtension(addr)
	if err != nil {
		return nil, err
	}
	capExt, err := capabilitiesExtension(caps)
	if err != nil {
		return nil, err
	}
	serial := make([]byte, 16)
	if _, err := io.ReadFull(rand, serial); err != nil {
		return nil, err
	}
	serial[0] &= 0x7f
	now := time.Now().UTC().Truncate(time.Hour)
	tmpl := &x509.Certificate{
		SerialNumber:    new(big.Int).SetBytes(serial),
		Subject:         pkix.Name{CommonName: addr.String()},
		NotBefore:       now.Add(-24 * time.Hour),
		NotAfter:        now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:        x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
		ExtraExtensions: []pkix.Extension{san, capExt},
	}
	der, err := x509.CreateCertificate(rand, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Identity{key: key, cert: cert, addr: addr}, nil
}

// parseIdentity reads a PEM private key followed by the certificate and its
// issuers.
func parseIdentity(b []byte) (*Identity, error) {
	var key crypto.PrivateKey
	var certs []*x509.Certificate
	err := eachPEM(b, func(blk *pem.Block) error {
		var err error
		switch blk.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
		case "CERTIFICATE":
			var c *x509.Certificate
			if c, err = x509.ParseCertificate(blk.Bytes); err == nil {
				certs = append(certs, c)
			}
		}
		if err != nil {
			return fmt.Errorf("smime: %w: %s: %v", e2e.ErrMalformed, strings.ToLower(blk.Type), err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if key == nil || len(certs) == 0 {
		return nil, fmt.Errorf("smime: %w: identity needs a PEM private key and certificate", e2e.ErrMalformed)
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("smime: %w: only RSA keys, got %T", e2e.ErrUnsupported, key)
	}
	if pub, ok := certs[0].PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&rk.PublicKey) {
		return nil, fmt.Errorf("smime: %w: the private key does not match the certificate", e2e.ErrMalformed)
	}
	js := certJIDs(certs[0])
	if len(js) == 0 {
		return nil, fmt.Errorf("smime: %w: the certificate names no JID (id-on-xmppAddr)", e2e.ErrMalformed)
	}
	return &Identity{key: rk, cert: certs[0], chain: certs[1:], addr: js[0]}, nil
}

// parsePeer reads one or more PEM certificates.
func parsePeer(b []byte) (*Peer, error) {
	var certs []*x509.Certificate
	err := eachPEM(b, func(blk *pem.Block) error {
		if blk.Type != "CERTIFICATE" {
			return nil
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return fmt.Errorf("smime: %w: certificate: %v", e2e.ErrMalformed, err)
		}
		certs = append(certs, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("smime: %w: no PEM certificate", e2e.ErrMalformed)
	}
	p := &Peer{certs: certs}
	if js := certJIDs(certs[0]); len(js) > 0 {
		p.addr = js[0]
	}
	return p, nil
}

// peerOf wraps a certificate learned from a signature as a Peer.
func peerOf(c *x509.Certificate, chain []*x509.Certificate) *Peer {
	p := &Peer{certs: append([]*x509.Certificate{c}, chain...)}
	if js := certJIDs(c); len(js) > 0 {
		p.addr = js[0]
	}
	return p
}

// eachPEM calls f for every PEM block in b, in order, until f fails.
func eachPEM(b []byte, f func(*pem.Block) error) error {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil
		}
		if err := f(blk); err != nil {
			return err
		}
	}
}
