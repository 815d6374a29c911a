package otr

import (
	"context"
	"fmt"
	"io"

	"github.com/coyim/otr3"
	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/xmpp/jid"
)

// Scheme is OTR with the default Options: versions 2 and 3 (3 preferred),
// sessions started by a query message, no fragmentation.
var Scheme = New(Options{})

// Start says how Encrypt asks a peer to start OTR before the AKE.
type Start int

// The ways to start a session.
const (
	// StartQuery sends an OTR query message, ?OTRv23?.
	StartQuery Start = iota
	// StartWhitespaceTag sends a body made only of the whitespace tag, which
	// peers with the WHITESPACE_START_AKE policy (libotr's default) answer
	// with a D-H Commit, and which other clients show as an empty message.
	StartWhitespaceTag
)

// Options configure a Codec. The zero value is the default.
type Options struct {
	// V2Only restricts the codec to OTR version 2 (no instance tags). By
	// default versions 2 and 3 are offered and version 3 is chosen when the
	// peer has it.
	V2Only bool
	// V3Only refuses version 2 peers.
	V3Only bool

	// FragmentSize is the largest body, in bytes, of an OTR message on the
	// wire; longer messages are split into OTR fragments, each carried in its
	// own stanza. Zero sends every OTR message whole. Values below
	// MinFragmentSize are raised to it.
	FragmentSize int

	// Start chooses how Encrypt starts a session with a peer.
	Start Start

	// QueryText is human-readable text appended to the query message for
	// clients without OTR; empty sends the bare query.
	QueryText string

	// InstanceTag is the v3 instance tag of every session made by the codec
	// (values below 0x100 are invalid). Zero draws a random tag per session
	// from Config.Rand, as otr3 does.
	InstanceTag uint32

	// MaxQueue bounds the stanzas Encrypt holds per peer while the AKE runs;
	// zero means 64. Encrypt fails with ErrQueueFull beyond it.
	MaxQueue int
}

// MinFragmentSize is the smallest useful fragment size: the v3 fragment
// prefix takes 35 bytes.
const MinFragmentSize = 64

// Codec is one configuration of OTR. It implements e2e.Scheme.
type Codec struct {
	opts Options
}

// New returns the codec configured by o.
func New(o Options) *Codec {
	if o.FragmentSize > 0 && o.FragmentSize < MinFragmentSize {
		o.FragmentSize = MinFragmentSize
	}
	if o.MaxQueue <= 0 {
		o.MaxQueue = 64
	}
	return &Codec{opts: o}
}

var _ e2e.Scheme = (*Codec)(nil)

// Name returns "otr".
func (*Codec) Name() string { return "otr" }

// Spec names OTR and the XMPP usage document.
func (*Codec) Spec() string { return "OTR v3 (and v2), XEP-0364" }

// Claims are what the OTR papers and specifications claim. The harness
// measures the truth.
func (*Codec) Claims() e2e.Properties {
	return e2e.Properties{
		e2e.Confidentiality:          e2e.Holds,
		e2e.Integrity:                e2e.Holds,
		e2e.Authentication:           e2e.Holds, // the AKE proves the peer holds its key; binding the key to a person is the user's (fingerprints, SMP)
		e2e.ForwardSecrecy:           e2e.Holds,
		e2e.BackwardSecrecy:          e2e.Partial, // recovers after each DH ratchet round trip
		e2e.ReplayProtection:         e2e.Holds,
		e2e.MessageRepudiation:       e2e.Holds,
		e2e.ParticipationRepudiation: e2e.Partial, // the AKE is signed with the long-term keys
		e2e.WholeStanza:              e2e.Fails,   // only the body
		e2e.MetadataProtection:       e2e.Fails,
		e2e.AsyncDelivery:            e2e.Fails,
		e2e.MultiDevice:              e2e.Fails,
		e2e.OutOfOrder:               e2e.Fails, // counters must grow within a key pair
		e2e.DropResilience:           e2e.Holds,
		e2e.PKIIndependence:          e2e.Holds,
		e2e.SignOnly:                 e2e.Fails,
	}
}

// GenerateIdentity makes a new DSA-1024 key for addr. DSA parameter
// generation takes 0.1 to 0.3 s (seconds under -race); tests should load
// fixture keys with ParseIdentity instead.
//
// Since Go 1.26 crypto/dsa ignores a custom random source, so rnd only
// matters with GODEBUG=cryptocustomrand=1.
func (c *Codec) GenerateIdentity(ctx context.Context, addr jid.JID, rnd io.Reader) (e2e.Identity, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg := e2e.Config{Rand: rnd}
	k := &otr3.DSAPrivateKey{}
	if err := k.Generate(cfg.Random()); err != nil {
		return nil, fmt.Errorf("otr: generating DSA key: %w", err)
	}
	return &Identity{addr: addr.Bare(), protocol: "xmpp", key: k}, nil
}

// ParseIdentity reads a libotr private key file (as written by Marshal,
// libotr, Pidgin or Profanity) and returns its first account.
func (c *Codec) ParseIdentity(b []byte) (e2e.Identity, error) {
	as, err := ParseKeyFile(b)
	if err != nil {
		return nil, err
	}
	return as[0].Identity, nil
}

// ParsePeer reads a peer written by Peer.Marshal
// (xmpp:jid?otr-fingerprint=hex), a bare fingerprint, or an OTR public key in
// wire form.
func (c *Codec) ParsePeer(b []byte) (e2e.Peer, error) {
	return parsePeer(b)
}

// NewSession starts a session for cfg.Local, which must be an *Identity.
func (c *Codec) NewSession(cfg e2e.Config) (e2e.Session, error) {
	return c.Open(cfg)
}
