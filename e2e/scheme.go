package e2e

import (
	"context"
	"crypto/rand"
	"io"
	"time"

	"mellium.im/xmpp/jid"
)

// A Scheme is one end-to-end encryption method. Each codec package exports
// one value of it (openpgp.Scheme, smime.Scheme, ...), and may offer
// constructors for variants (another profile, another key type).
//
// There is no registry: programs hold an explicit list of the schemes they
// use.
type Scheme interface {
	// Name is the short stable name: "openpgp", "smime", "otr", "xtls", "jose".
	Name() string

	// Spec names the specification implemented, such as "XEP-0027".
	Spec() string

	// Claims returns what the specification claims for each property. The
	// harness measures the truth and reports both.
	Claims() Properties

	// GenerateIdentity makes a new long-term identity for the bare JID addr,
	// reading randomness from rand (crypto/rand when nil).
	GenerateIdentity(ctx context.Context, addr jid.JID, rand io.Reader) (Identity, error)

	// ParseIdentity reads a private identity in the scheme's ecosystem format:
	// what Identity.Marshal writes and what the ecosystem's own tools export
	// (an armored OpenPGP secret key, a PEM key and certificate, a JWK, ...).
	ParseIdentity(b []byte) (Identity, error)

	// ParsePeer reads a peer's public key in the ecosystem format: what
	// Peer.Marshal writes.
	ParsePeer(b []byte) (Peer, error)

	// NewSession starts a session for the local party described by cfg.
	NewSession(cfg Config) (Session, error)
}

// A Session protects the stanzas one local party exchanges with its peers.
// Stateless schemes (OpenPGP, S/MIME, JOSE objects) hold little more than
// keys; session schemes (OTR, XTLS, the JOSE key request) hold handshake
// state, so every stanza the session produces must be sent, in order, and
// every stanza from the peers must be given to Receive.
//
// Sessions are safe for concurrent use by multiple goroutines.
type Session interface {
	// Encrypt protects st for its recipient st.To and returns the stanzas to
	// send, in order. A session scheme that has no channel yet returns the
	// handshake stanzas and holds st back; it goes out, encrypted, in the
	// Replies of a later Receive once the handshake completes. No plaintext
	// of st ever leaves Encrypt.
	Encrypt(ctx context.Context, st *Stanza) ([]*Stanza, error)

	// Sign protects st's integrity and origin without hiding it. Schemes with
	// no signatures return ErrUnsupported.
	Sign(ctx context.Context, st *Stanza) ([]*Stanza, error)

	// Receive opens, verifies and replay-checks one inbound wire stanza, and
	// drives handshakes. On error nothing was opened (Opened is empty), but
	// Replies may still hold protocol stanzas that must be sent: an IQ error
	// for the peer, a session-terminate that ends a broken channel.
	Receive(ctx context.Context, st *Stanza) (Received, error)

	// Close ends the session and returns the stanzas that tell the peers
	// (such as OTR's disconnect or Jingle's session-terminate).
	Close(ctx context.Context) ([]*Stanza, error)
}

// Received is what Session.Receive made of one inbound stanza.
type Received struct {
	// Opened holds the stanzas that became readable, in order: usually the
	// one stanza received, none for protocol-only traffic, and several when a
	// handshake or key response releases stanzas held back before it, or one
	// transport chunk completes several inner stanzas.
	Opened []Opened

	// Replies are protocol stanzas to send back, in order: handshake
	// messages, key request answers, acknowledgements, and stanzas Encrypt
	// held back until a handshake completed.
	Replies []*Stanza
}

// Opened is one stanza made readable by Receive.
type Opened struct {
	// Stanza is the opened stanza, as its sender gave it to Encrypt or Sign
	// as far as the scheme protects it (unprotected parts come from the
	// wire).
	Stanza *Stanza

	// Encrypted reports that the stanza arrived encrypted and was decrypted.
	Encrypted bool

	// Signer is the peer whose key bound the stanza to its origin through a
	// signature or MAC; nil when nothing did.
	Signer Peer

	// Trusted reports that Signer's key is pinned in Config.Peers or was
	// approved by Config.Trust.
	Trusted bool
}

// Stanzas returns the opened stanzas of r, in order.
func (r Received) Stanzas() []*Stanza {
	out := make([]*Stanza, len(r.Opened))
	for i, o := range r.Opened {
		out[i] = o.Stanza
	}
	return out
}

// An Identity is a local party's long-term private key material.
type Identity interface {
	// JID is the bare JID the identity is bound to.
	JID() jid.JID
	// Public returns the identity's public half, as peers see it.
	Public() Peer
	// Marshal writes the private identity in the scheme's ecosystem format,
	// unencrypted. ParseIdentity reads it back.
	Marshal() ([]byte, error)
}

// A Peer is a remote party's public key.
type Peer interface {
	// JID is the bare JID the key is bound to; zero when the key names none.
	JID() jid.JID
	// Fingerprint is the key's fingerprint as the ecosystem shows it to
	// users for comparison.
	Fingerprint() string
	// Marshal writes the public key in the scheme's ecosystem format.
	// ParsePeer reads it back.
	Marshal() ([]byte, error)
}

// Config describes the local party of a session.
type Config struct {
	// Local is the local identity. It may be nil for a session that only
	// verifies signatures.
	Local Identity

	// JID is the local full JID. Stanzas given to Encrypt and Sign without a
	// from address are stamped with it, since schemes that protect addresses
	// need it before the server would add it.
	JID jid.JID

	// Peers are the remote parties' public keys known in advance: the
	// recipients of Encrypt (the keys whose JID matches the stanza's to, by
	// bare JID; ErrNoKey when none does) and the pinned, trusted senders for
	// Receive.
	Peers []Peer

	// Trust decides about keys learned in-band (from a handshake, a key
	// request or a certificate chain). Nil trusts only Peers.
	Trust func(addr jid.JID, p Peer) bool

	// Sign asks Encrypt to also sign what it encrypts, where the scheme can
	// (S/MIME sign-then-encrypt, OpenPGP signed and encrypted messages).
	// Schemes whose encryption always authenticates ignore it.
	Sign bool

	// AllowPlaintext lets Receive hand unprotected stanzas through as Opened
	// with Encrypted false. Without it they are ErrNotEncrypted.
	AllowPlaintext bool

	// Rand is the source of randomness; crypto/rand when nil. Tests and test
	// vectors set it to make output reproducible.
	Rand io.Reader

	// Clock returns the current time for timestamps and their checks;
	// time.Now when nil.
	Clock func() time.Time
}

// Random returns c.Rand, or crypto/rand's Reader when it is nil.
func (c *Config) Random() io.Reader {
	if c.Rand == nil {
		return rand.Reader
	}
	return c.Rand
}

// Now returns the time from c.Clock, or time.Now when it is nil.
func (c *Config) Now() time.Time {
	if c.Clock == nil {
		return time.Now()
	}
	return c.Clock()
}

// Trusts reports whether p is trusted for addr: pinned in Peers (same
// fingerprint, and the same bare JID where p names one) or approved by Trust.
func (c *Config) Trusts(addr jid.JID, p Peer) bool {
	if p == nil {
		return false
	}
	for _, q := range c.Peers {
		if q.Fingerprint() == p.Fingerprint() && (q.JID().Equal(jid.JID{}) || q.JID().Equal(addr.Bare())) {
			return true
		}
	}
	return c.Trust != nil && c.Trust(addr, p)
}

// PeersFor returns the peers in c.Peers whose bare JID equals addr's.
func (c *Config) PeersFor(addr jid.JID) []Peer {
	var out []Peer
	for _, p := range c.Peers {
		if p.JID().Equal(addr.Bare()) {
			out = append(out, p)
		}
	}
	return out
}
