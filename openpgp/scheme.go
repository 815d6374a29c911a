package openpgp

import (
	"context"
	"crypto"
	"fmt"
	"io"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"mellium.im/xmpp/jid"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// KeyType selects the algorithms of the keys GenerateIdentity makes. Every
// scheme value reads and uses keys of any type GnuPG 2.2 makes.
type KeyType int

const (
	// Curve25519 keys: an Ed25519 primary key that signs and a Cv25519
	// (X25519) encryption subkey, v4 format. GnuPG 2.2 calls this
	// "future-default". Fast to generate.
	Curve25519 KeyType = iota

	// RSA3072 keys: an RSA-3072 primary key that signs and an RSA-3072
	// encryption subkey, GnuPG 2.2's "default". Slow to generate (seconds).
	RSA3072
)

// String returns the GnuPG name of the key type.
func (k KeyType) String() string {
	switch k {
	case Curve25519:
		return "ed25519/cv25519"
	case RSA3072:
		return "rsa3072"
	}
	return fmt.Sprintf("KeyType(%d)", int(k))
}

// Scheme is XEP-0027 (Current Jabber OpenPGP Usage) with Ed25519/Cv25519
// keys from GenerateIdentity. Its NewSession returns a *Session.
//
// GenerateIdentity makes a v4 key (Ed25519 primary, Cv25519 subkey; no
// expiry) with the user ID "xmpp:<bare JID>". ParseIdentity reads one
// unprotected secret key and ParsePeer one public key, armored or binary, as
// gpg exports them; the JID of a key is its first user ID, primary first,
// of the form "xmpp:<jid>", "Name <jid>" or a bare JID.
var Scheme e2e.Scheme = NewScheme(Curve25519)

// NewScheme returns XEP-0027 whose GenerateIdentity makes keys of type k.
// NewScheme(RSA3072) is named "openpgp-rsa3072"; NewScheme(Curve25519) is
// Scheme, named "openpgp". Both speak the same wire format and read keys of
// either type.
func NewScheme(k KeyType) e2e.Scheme {
	switch k {
	case Curve25519:
		return &scheme{name: "openpgp", keys: k}
	case RSA3072:
		return &scheme{name: "openpgp-rsa3072", keys: k}
	}
	panic(fmt.Sprintf("openpgp: unknown key type %d", int(k)))
}

type scheme struct {
	name string
	keys KeyType
}

func (s *scheme) Name() string { return s.name }

func (s *scheme) Spec() string { return "XEP-0027" }

// Claims states what XEP-0027 offers. Only the message body (encrypted) and
// the presence status (signed) are protected; encrypted messages carry no
// sender authentication, nothing is bound to addresses or time, so replays
// of both messages and signed presence are accepted as new.
func (s *scheme) Claims() e2e.Properties {
	return e2e.Properties{
		// The body is encrypted; every other child and the addresses are not.
		e2e.Confidentiality: e2e.Partial,
		// The MDC (SEIPD v1) protects the encrypted body, the signature the
		// status text.
		e2e.Integrity: e2e.Holds,
		// Anyone holding the recipient's public key can encrypt a message
		// that opens exactly like the sender's.
		e2e.Authentication:  e2e.Fails,
		e2e.ForwardSecrecy:  e2e.Fails,
		e2e.BackwardSecrecy: e2e.Fails,
		// No counter, timestamp or recipient binding in the protected data.
		e2e.ReplayProtection: e2e.Fails,
		// Unsigned encrypted messages can be forged by anyone (so they are
		// deniable), signed presence cannot.
		e2e.MessageRepudiation:       e2e.Partial,
		e2e.ParticipationRepudiation: e2e.Fails,
		e2e.WholeStanza:              e2e.Fails,
		// Key IDs of every recipient are in the clear in each message.
		e2e.MetadataProtection: e2e.Fails,
		e2e.AsyncDelivery:      e2e.Holds,
		e2e.MultiDevice:        e2e.Holds,
		e2e.OutOfOrder:         e2e.Holds,
		e2e.DropResilience:     e2e.Holds,
		e2e.PKIIndependence:    e2e.Holds,
		e2e.SignOnly:           e2e.Holds,
	}
}

// GenerateIdentity makes a v4 key for the bare JID of addr with the user ID
// "xmpp:<bare JID>" (the form XEP-0373 §8.5 requires, which gpg -r also finds
// by the bare JID). The keys do not expire. rand is passed to go-crypto;
// note that since Go 1.26 the standard library's key generation ignores the
// caller's reader (see testing/cryptotest.SetGlobalRandom for reproducible
// keys).
func (s *scheme) GenerateIdentity(ctx context.Context, addr jid.JID, rand io.Reader) (e2e.Identity, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	bare := addr.Bare()
	if bare.Localpart() == "" {
		return nil, fmt.Errorf("%w: openpgp: identity JID %q has no localpart", e2e.ErrMalformed, addr)
	}
	cfg := &packet.Config{
		Rand:          rand,
		DefaultHash:   crypto.SHA256,
		DefaultCipher: packet.CipherAES128,
	}
	switch s.keys {
	case RSA3072:
		cfg.Algorithm = packet.PubKeyAlgoRSA
		cfg.RSABits = 3072
	default:
		// Legacy EdDSA (algorithm 22) and ECDH over Curve25519: what GnuPG
		// 2.2 reads, unlike the RFC 9580 algorithms 25 and 27.
		cfg.Algorithm = packet.PubKeyAlgoEdDSA
		cfg.Curve = packet.Curve25519
	}
	e, err := openpgp.NewEntity("xmpp:"+bare.String(), "", "", cfg)
	if err != nil {
		return nil, fmt.Errorf("openpgp: generating key: %w", err)
	}
	return newIdentity(e)
}

// ParseIdentity reads one unprotected secret key, ASCII-armored (what
// gpg --export-secret-keys --armor and Identity.Marshal write) or binary.
// Its JID comes from its user IDs as for ParsePeer.
func (s *scheme) ParseIdentity(b []byte) (e2e.Identity, error) {
	return parseIdentity(b)
}

// ParsePeer reads one public key, ASCII-armored (what gpg --export --armor
// and Peer.Marshal write) or binary. The peer's JID is taken from the first
// user ID, primary first, that is "xmpp:<jid>", an address in angle brackets
// ("Romeo <romeo@montague.lit>") or a bare JID; it is zero when none is.
// Private key material in b is dropped.
func (s *scheme) ParsePeer(b []byte) (e2e.Peer, error) {
	return parsePeer(b)
}

// NewSession starts a Session; see Session for what it does with cfg.
func (s *scheme) NewSession(cfg e2e.Config) (e2e.Session, error) {
	return newSession(cfg)
}
