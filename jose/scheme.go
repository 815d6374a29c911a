package jose

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io"
	"slices"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// Options tune the profile. The zero value is the draft's profile with
// RFC 7518 algorithm names: A256KW SMKs, A256CBC-HS512 content, RS256
// signatures, RSA-OAEP key transport, a 5-minute timestamp window.
type Options struct {
	// KeyWrap is the JWE "alg" that wraps each stanza's CEK with the SMK:
	// "A256KW" (default, 32-octet SMK) or "A128KW" (16 octets).
	KeyWrap string

	// Content is the JWE "enc": "A256CBC-HS512" (default, the RFC 7518
	// successor of the draft's "A256CBC+HS512"), "A128CBC-HS256",
	// "A256GCM" or "A128GCM".
	Content string

	// Signature is the JWS "alg" of Sign: "RS256" (default, the draft's
	// MTI) or "RS512" (the draft's example), "PS256", "PS512".
	Signature string

	// KeyTransport is the JWE "alg" that sends an SMK to a requesting
	// device: "RSA-OAEP" (default, the draft's example) or "RSA-OAEP-256".
	// RSA1_5, MTI in -06, is accepted on receipt but never sent.
	KeyTransport string

	// SMKLifetime is how long one SMK protects stanzas to a recipient
	// before a new one (a new SID) replaces it. Zero means one hour.
	SMKLifetime time.Duration

	// SMKMaxStanzas rotates the SMK after this many stanzas; zero means no
	// limit besides SMKLifetime.
	SMKMaxStanzas int

	// SMKRetention is how long a replaced SMK is still released to
	// authorized key requests (stanzas sent under it may still be in
	// flight or in offline storage). Zero means SMKLifetime. Requests for
	// a SID older than that get <item-not-found/>.
	SMKRetention time.Duration

	// Window is the accepted distance between a stanza's protected
	// timestamp and the receiver's clock (-06 §7). Zero means 5 minutes.
	Window time.Duration

	// GeneralJSON enables this toolkit's multi-recipient extension (not in
	// the draft, off by default): Session.EncryptGeneral seals one stanza
	// for several recipients as a JWE General JSON Serialization with one
	// recipient entry per SMK, and Receive opens such stanzas.
	GeneralJSON bool

	// KeyBits is the RSA modulus size of GenerateIdentity; zero means 2048.
	KeyBits int
}

func (o Options) withDefaults() (Options, error) {
	def := func(s *string, d string, allowed ...string) error {
		if *s == "" {
			*s = d
		}
		if !slices.Contains(allowed, *s) {
			return fmt.Errorf("jose: %w: %q is not one of %v", e2e.ErrUnsupported, *s, allowed)
		}
		return nil
	}
	if err := def(&o.KeyWrap, "A256KW", "A256KW", "A128KW"); err != nil {
		return o, err
	}
	if err := def(&o.Content, "A256CBC-HS512", "A256CBC-HS512", "A128CBC-HS256", "A256GCM", "A128GCM"); err != nil {
		return o, err
	}
	if err := def(&o.Signature, "RS256", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"); err != nil {
		return o, err
	}
	if err := def(&o.KeyTransport, "RSA-OAEP", "RSA-OAEP", "RSA-OAEP-256"); err != nil {
		return o, err
	}
	if o.SMKLifetime <= 0 {
		o.SMKLifetime = time.Hour
	}
	if o.SMKRetention <= 0 {
		o.SMKRetention = o.SMKLifetime
	}
	if o.Window <= 0 {
		o.Window = 5 * time.Minute
	}
	if o.KeyBits == 0 {
		o.KeyBits = 2048
	}
	if o.KeyBits < MinRSABits || o.KeyBits > MaxRSABits {
		return o, fmt.Errorf("jose: %w: %d-bit RSA keys", e2e.ErrUnsupported, o.KeyBits)
	}
	return o, nil
}

// Profile is the JOSE scheme with a set of Options. It implements
// e2e.Scheme; Scheme is the default profile.
type Profile struct {
	opts Options
	err  error
}

// New returns the profile with options o. Invalid options make NewSession
// and GenerateIdentity fail.
func New(o Options) *Profile {
	o, err := o.withDefaults()
	return &Profile{opts: o, err: err}
}

// Scheme is draft-miller-xmpp-e2e-06 (with the -07 trust rule) with the
// default Options.
var Scheme = New(Options{})

var _ e2e.Scheme = Scheme

// Name is "jose".
func (*Profile) Name() string { return "jose" }

// Spec names the draft.
func (*Profile) Spec() string { return "draft-miller-xmpp-e2e-06 (+ -07 key trust)" }

// Options returns the profile's options with defaults filled in.
func (p *Profile) Options() Options { return p.opts }

// Claims are what the draft claims or implies, as implemented here.
func (*Profile) Claims() e2e.Properties {
	return e2e.Properties{
		e2e.Confidentiality: e2e.Holds,
		e2e.Integrity:       e2e.Holds,
		// Everyone holding the SMK (sender, every device of the
		// recipient) can forge under its SID; only a nested signature
		// (Config.Sign) names the sender.
		e2e.Authentication: e2e.Partial,
		// SMKs travel encrypted to long-term RSA keys: those keys and a
		// wiretap open everything.
		e2e.ForwardSecrecy:           e2e.Fails,
		e2e.BackwardSecrecy:          e2e.Partial, // a stolen SMK reads until rotation
		e2e.ReplayProtection:         e2e.Holds,
		e2e.MessageRepudiation:       e2e.Fails,
		e2e.ParticipationRepudiation: e2e.Fails,
		e2e.WholeStanza:              e2e.Holds,
		e2e.MetadataProtection:       e2e.Fails,   // SID, kid, alg and stanza type are clear
		e2e.AsyncDelivery:            e2e.Partial, // pre-placed SMKs (-07 §4) open offline; the -06 key request needs the sender online
		e2e.MultiDevice:              e2e.Partial,
		e2e.OutOfOrder:               e2e.Fails, // a decreasing timestamp is refused (-06 §7)
		e2e.DropResilience:           e2e.Holds,
		e2e.PKIIndependence:          e2e.Holds,
		e2e.SignOnly:                 e2e.Holds,
	}
}

// GenerateIdentity makes an RSA key of Options.KeyBits for the bare JID addr.
func (p *Profile) GenerateIdentity(ctx context.Context, addr jid.JID, r io.Reader) (e2e.Identity, error) {
	if p.err != nil {
		return nil, p.err
	}
	if addr.Localpart() == "" {
		return nil, fmt.Errorf("jose: %w: identity JID %q has no localpart", e2e.ErrMalformed, addr)
	}
	if r == nil {
		r = rand.Reader
	}
	priv, err := rsa.GenerateKey(r, p.opts.KeyBits)
	if err != nil {
		return nil, err
	}
	return NewIdentity(addr, priv)
}

// ParseIdentity reads a private RSA JWK whose "kid" is the bare JID, or a
// JWK Set holding it and pre-placed SMKs (oct keys, "kid" = SID, optional
// "alg" A256KW/A128KW). A set of SMKs alone is an identity that can only
// open stanzas under those SIDs.
func (*Profile) ParseIdentity(b []byte) (e2e.Identity, error) { return parseIdentity(b) }

// ParsePeer reads a public RSA JWK whose "kid" is the peer's bare JID.
func (*Profile) ParsePeer(b []byte) (e2e.Peer, error) { return parsePeer(b) }
