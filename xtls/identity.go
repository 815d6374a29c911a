package xtls

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"time"
	"unicode/utf8"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/internal/san"
	"mellium.im/xmpp/jid"
)

// Identity is an XTLS identity: a certificate bound to a bare JID and its
// private key. Generated identities are self-signed Ed25519 certificates;
// ParseIdentity also takes ECDSA and RSA keys and CA-issued certificates.
type Identity struct {
	addr jid.JID
	cert *x509.Certificate
	key  crypto.Signer
}

// Peer is a peer's XTLS certificate. Its Fingerprint is the SHA-256 hash of
// the DER certificate, as uppercase hex pairs separated by colons: the value
// sent in <fingerprint algo='sha-256'/> and the value users compare.
type Peer struct {
	addr jid.JID
	cert *x509.Certificate
}

// JID returns the bare JID the certificate is bound to.
func (id *Identity) JID() jid.JID { return id.addr }

// Public returns the certificate as a Peer.
func (id *Identity) Public() e2e.Peer { return &Peer{addr: id.addr, cert: id.cert} }

// Certificate returns the identity's certificate.
func (id *Identity) Certificate() *x509.Certificate { return id.cert }

// Marshal writes the PKCS#8 private key and the certificate as PEM.
func (id *Identity) Marshal() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(id.key)
	if err != nil {
		return nil, fmt.Errorf("xtls: %w", err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: id.cert.Raw})...), nil
}

func (id *Identity) tlsCertificate() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{id.cert.Raw}, PrivateKey: id.key, Leaf: id.cert}
}

// JID returns the bare JID named in the certificate (zero when it names
// none).
func (p *Peer) JID() jid.JID { return p.addr }

// Fingerprint returns the SHA-256 fingerprint of the certificate.
func (p *Peer) Fingerprint() string { return fingerprintSHA256(p.cert.Raw).String() }

// Certificate returns the peer's certificate.
func (p *Peer) Certificate() *x509.Certificate { return p.cert }

// Marshal writes the certificate as PEM.
func (p *Peer) Marshal() ([]byte, error) {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.cert.Raw}), nil
}

func fingerprintSHA256(der []byte) Fingerprint {
	h := sha256.Sum256(der)
	return Fingerprint{Algo: "sha-256", Value: h[:]}
}

// generateIdentity makes a self-signed Ed25519 certificate for the bare JID
// addr. Every random byte comes from r, so a seeded r gives a reproducible
// identity. The validity period is fixed and wide: the certificate is
// trusted by its pinned fingerprint, never by its dates.
func generateIdentity(ctx context.Context, addr jid.JID, r io.Reader) (*Identity, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if r == nil {
		r = rand.Reader
	}
	addr = addr.Bare()
	if addr.Localpart() == "" {
		return nil, fmt.Errorf("xtls: %w: identity JID %q has no localpart", e2e.ErrMalformed, addr)
	}
	seed := make([]byte, ed25519.SeedSize+16)
	if _, err := io.ReadFull(r, seed); err != nil {
		return nil, fmt.Errorf("xtls: reading randomness: %w", err)
	}
	key := ed25519.NewKeyFromSeed(seed[:ed25519.SeedSize])
	serial := new(big.Int).SetBytes(seed[ed25519.SeedSize:])
	serial.SetBit(serial, 127, 1)
	sanExt, err := xmppAddrSAN(addr)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: addr.String()},
		NotBefore:             time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		ExtraExtensions:       []pkix.Extension{sanExt},
	}
	der, err := x509.CreateCertificate(r, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("xtls: creating certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("xtls: %w", err)
	}
	return &Identity{addr: addr, cert: cert, key: key}, nil
}

// xmppAddrSAN encodes a subjectAltName with one id-on-xmppAddr otherName.
func xmppAddrSAN(addr jid.JID) (pkix.Extension, error) {
	x, err := san.OtherName(san.OIDXMPPAddr, asn1.TagUTF8String, addr.String())
	if err != nil {
		return pkix.Extension{}, err
	}
	return san.Extension(x)
}

// certJID returns the bare JID a certificate is bound to: its first
// id-on-xmppAddr otherName, else its subject common name when that parses
// as a JID with a localpart; zero when neither does.
func certJID(c *x509.Certificate) jid.JID {
	names, _ := san.OtherNames(c) // malformed entries are left out
	for _, s := range san.Strings(names, san.OIDXMPPAddr, asn1.TagUTF8String) {
		if !utf8.ValidString(s) {
			continue
		}
		if j, err := jid.Parse(s); err == nil {
			return j.Bare()
		}
	}
	if j, err := jid.Parse(c.Subject.CommonName); err == nil && j.Localpart() != "" {
		return j.Bare()
	}
	return jid.JID{}
}

// parseIdentity reads a PEM private key (PKCS#8, or SEC 1 / PKCS#1) and the
// certificate that goes with it, in either order.
func parseIdentity(b []byte) (*Identity, error) {
	var key crypto.Signer
	var cert *x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		switch blk.Type {
		case "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY":
			if key != nil {
				return nil, fmt.Errorf("xtls: %w: more than one private key", e2e.ErrMalformed)
			}
			k, err := parsePrivateKey(blk)
			if err != nil {
				return nil, err
			}
			key = k
		case "CERTIFICATE":
			if cert != nil {
				continue // a chain: the leaf comes first
			}
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("xtls: %w: certificate: %v", e2e.ErrMalformed, err)
			}
			cert = c
		}
	}
	if key == nil || cert == nil {
		return nil, fmt.Errorf("xtls: %w: an identity needs a PEM private key and certificate", e2e.ErrMalformed)
	}
	if _, err := tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), mustPKCS8(key)); err != nil {
		return nil, fmt.Errorf("xtls: %w: key does not match certificate: %v", e2e.ErrMalformed, err)
	}
	addr := certJID(cert)
	if addr.Equal(jid.JID{}) {
		return nil, fmt.Errorf("xtls: %w: certificate names no JID (id-on-xmppAddr or CN)", e2e.ErrMalformed)
	}
	return &Identity{addr: addr, cert: cert, key: key}, nil
}

func mustPKCS8(k crypto.Signer) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func parsePrivateKey(blk *pem.Block) (crypto.Signer, error) {
	var k any
	var err error
	switch blk.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	default:
		k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("xtls: %w: private key: %v", e2e.ErrMalformed, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("xtls: %w: unsupported private key %T", e2e.ErrMalformed, k)
	}
	return s, nil
}

// parsePeer reads a PEM certificate.
func parsePeer(b []byte) (*Peer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("xtls: %w: expected a PEM CERTIFICATE", e2e.ErrMalformed)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("xtls: %w: certificate: %v", e2e.ErrMalformed, err)
	}
	return &Peer{addr: certJID(c), cert: c}, nil
}
