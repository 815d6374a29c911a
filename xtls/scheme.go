package xtls

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/xmpp/jid"
)

// Transport namespaces for Options.Transport.
const (
	// IBB1 is XEP-0261 v1.0 (urn:xmpp:jingle:transports:ibb:1): the
	// initiator opens the bytestream with an IBB <open/> after
	// session-accept.
	IBB1 = nsIBB1
	// IBB0 is the draft's XEP-0261 v0.2 (…:ibb:0): data starts right after
	// session-accept, with no <open/>.
	IBB0 = nsIBB0
)

// Options tune an XTLS scheme. The zero value is the default profile.
type Options struct {
	// MaxVersion is the highest TLS version offered: tls.VersionTLS13
	// (default) or tls.VersionTLS12. TLS 1.2 is always accepted.
	MaxVersion uint16
	// Transport is the IBB transport namespace offered: IBB1 (default) or
	// IBB0. Both are accepted from peers.
	Transport string
	// BlockSize is the IBB block-size offered (default 4096, at most 65535).
	BlockSize int
	// Window is how many IBB <data/> IQs may await their result (default
	// 32; 1 is XEP-0047's recommended stop-and-wait).
	Window int
	// SplitRecords accepts <data/> chunks shorter than the block size that
	// end inside a TLS record. By default such a chunk is refused
	// (<failed-transport/>): a sender that writes whole TLS records never
	// produces one, and refusing it turns a truncated chunk into an
	// immediate error instead of a tunnel waiting for the rest of a record.
	// Set it for peers that cut the TLS byte stream at arbitrary points.
	SplitRecords bool
	// CurvePreferences are the key exchange groups, most preferred first,
	// as in crypto/tls's Config.CurvePreferences. Nil takes crypto/tls's
	// defaults, which put the X25519MLKEM768 hybrid first in TLS 1.3.
	CurvePreferences []tls.CurveID
	// HandshakeTimeout bounds the time from session-initiate (or its
	// receipt) to the peer's inner stream header, measured on
	// Config.Clock; default 30 s. Expiry ends the session with <timeout/>.
	HandshakeTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.MaxVersion == 0 {
		o.MaxVersion = tls.VersionTLS13
	}
	if o.Transport == "" {
		o.Transport = IBB1
	}
	if o.BlockSize <= 0 || o.BlockSize > 65535 {
		o.BlockSize = DefaultBlockSize
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = 30 * time.Second
	}
	return o
}

// Scheme is XTLS with the default Options.
var Scheme e2e.Scheme = New(Options{})

// New returns the XTLS scheme with the given options.
func New(o Options) e2e.Scheme {
	if o.MaxVersion != 0 && o.MaxVersion != tls.VersionTLS12 && o.MaxVersion != tls.VersionTLS13 {
		panic(fmt.Sprintf("xtls: MaxVersion %#x is neither TLS 1.2 nor TLS 1.3", o.MaxVersion))
	}
	if o.Transport != "" && o.Transport != IBB0 && o.Transport != IBB1 {
		panic("xtls: Transport must be IBB0 or IBB1")
	}
	return scheme{o.withDefaults()}
}

type scheme struct{ opts Options }

var _ e2e.Session = (*Session)(nil)

func (scheme) Name() string { return "xtls" }

func (scheme) Spec() string { return "draft-meyer-xmpp-e2e-encryption-02" }

// Claims states what end-to-end TLS over Jingle gives: confidentiality,
// integrity and peer authentication (pinned certificates), forward secrecy
// (ephemeral (EC)DH), replay protection (IBB seq and TLS record numbers),
// deniable content (symmetric MACs) but provable participation (the
// handshake signatures). It needs both parties online, one device each,
// and in-order lossless delivery.
func (scheme) Claims() e2e.Properties {
	return e2e.Properties{
		e2e.Confidentiality:          e2e.Holds,
		e2e.Integrity:                e2e.Holds,
		e2e.Authentication:           e2e.Holds,
		e2e.ForwardSecrecy:           e2e.Holds,
		e2e.BackwardSecrecy:          e2e.Partial,
		e2e.ReplayProtection:         e2e.Holds,
		e2e.MessageRepudiation:       e2e.Holds,
		e2e.ParticipationRepudiation: e2e.Fails,
		e2e.WholeStanza:              e2e.Holds,
		e2e.MetadataProtection:       e2e.Partial,
		e2e.AsyncDelivery:            e2e.Fails,
		e2e.MultiDevice:              e2e.Fails,
		e2e.OutOfOrder:               e2e.Fails,
		e2e.DropResilience:           e2e.Fails,
		e2e.PKIIndependence:          e2e.Holds,
		e2e.SignOnly:                 e2e.Fails,
	}
}

// GenerateIdentity makes a self-signed Ed25519 certificate for the bare JID
// addr (see Identity).
func (scheme) GenerateIdentity(ctx context.Context, addr jid.JID, rand io.Reader) (e2e.Identity, error) {
	return generateIdentity(ctx, addr, rand)
}

// ParseIdentity reads a PEM private key and certificate, as written by
// Identity.Marshal or by OpenSSL (PKCS#8, SEC 1 or PKCS#1 keys).
func (scheme) ParseIdentity(b []byte) (e2e.Identity, error) { return parseIdentity(b) }

// ParsePeer reads a PEM certificate.
func (scheme) ParsePeer(b []byte) (e2e.Peer, error) { return parsePeer(b) }

// NewSession starts a session. The returned value is a *Session.
func (s scheme) NewSession(cfg e2e.Config) (e2e.Session, error) {
	return newSession(s.opts, cfg)
}
