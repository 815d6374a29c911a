package smime

import (
	"context"
	"encoding/asn1"
	"io"

	"mellium.im/xmpp/jid"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// A Profile is the set of algorithms a session sends. Receiving accepts
// every profile.
type Profile struct {
	name   string
	digest asn1.ObjectIdentifier // SignedData digest
	micalg string                // multipart/signed micalg parameter
	gcm    bool                  // AuthEnvelopedData AES-128-GCM to peers that advertise it
}

var (
	// DefaultProfile signs with SHA-256 and RSA PKCS #1 v1.5 and encrypts
	// with AES-128-GCM in AuthEnvelopedData (RFC 5083/5084) when every
	// recipient advertises AES-GCM, else with AES-128-CBC in EnvelopedData;
	// keys are transported with RSA PKCS #1 v1.5.
	DefaultProfile = Profile{name: "default", digest: oidSHA256, micalg: "sha-256", gcm: true}

	// StrictProfile is exactly the mandatory-to-implement set of RFC 3923
	// §6.10: SHA-1 with RSA PKCS #1 v1.5 signatures, RSA PKCS #1 v1.5 key
	// transport, AES-128-CBC.
	StrictProfile = Profile{name: "strict", digest: oidSHA1, micalg: "sha1"}
)

// Name returns "default" or "strict".
func (p Profile) Name() string { return p.name }

// Options configures a Scheme made with New.
type Options struct {
	// Profile is the set of algorithms to send; DefaultProfile when zero.
	Profile Profile

	// Unsigned makes Encrypt send encrypted stanzas without the inner
	// signature. RFC 3923 §6.7 expects every encrypted stanza to be signed,
	// and an unsigned one has no integrity under CBC (anyone can encrypt to
	// the recipient, and CBC ciphertext is malleable), so this exists only
	// for interoperability tests.
	Unsigned bool

	// AcceptUnsigned makes Receive open encrypted stanzas that carry no
	// signature (reporting no Signer). Without it they fail as ErrDecrypt.
	AcceptUnsigned bool
}

// scheme implements e2e.Scheme.
type scheme struct {
	opts Options
}

var (
	// Scheme is RFC 3923 with DefaultProfile. Its Encrypt always signs, then
	// encrypts.
	Scheme e2e.Scheme = New(Options{})

	// StrictScheme is RFC 3923 with StrictProfile.
	StrictScheme e2e.Scheme = New(Options{Profile: StrictProfile})
)

// New returns an RFC 3923 scheme with the given options.
func New(o Options) e2e.Scheme {
	if o.Profile.name == "" {
		o.Profile = DefaultProfile
	}
	return &scheme{opts: o}
}

// Name is "smime" for the default profile and "smime-strict" for the strict
// one.
func (s *scheme) Name() string {
	if s.opts.Profile.name == StrictProfile.name {
		return "smime-strict"
	}
	return "smime"
}

func (s *scheme) Spec() string { return "RFC 3923" }

// Claims states what RFC 3923 with sign-then-encrypt gives.
func (s *scheme) Claims() e2e.Properties {
	return e2e.Properties{
		e2e.Confidentiality:          e2e.Holds,
		e2e.Integrity:                e2e.Holds,
		e2e.Authentication:           e2e.Holds,
		e2e.ForwardSecrecy:           e2e.Fails,
		e2e.BackwardSecrecy:          e2e.Fails,
		e2e.ReplayProtection:         e2e.Partial, // timestamps: messages and presence only, not iq
		e2e.MessageRepudiation:       e2e.Fails,
		e2e.ParticipationRepudiation: e2e.Fails,
		e2e.WholeStanza:              e2e.Holds,
		e2e.MetadataProtection:       e2e.Partial, // recipient issuer and serial numbers are in the clear
		e2e.AsyncDelivery:            e2e.Partial, // only within the ±5 minute timestamp window (§6.9)
		e2e.MultiDevice:              e2e.Holds,
		e2e.OutOfOrder:               e2e.Holds,
		e2e.DropResilience:           e2e.Holds,
		e2e.PKIIndependence:          e2e.Holds,
		e2e.SignOnly:                 e2e.Holds,
	}
}

// capabilities lists the content ciphers the profile can receive and
// advertises, most preferred first.
func (s *scheme) capabilities() []asn1.ObjectIdentifier {
	if s.opts.Profile.gcm {
		return []asn1.ObjectIdentifier{oidAES128GCM, oidAES256GCM, oidAES128CBC, oidAES256CBC}
	}
	return []asn1.ObjectIdentifier{oidAES128CBC, oidAES256CBC}
}

// GenerateIdentity makes an RSA-2048 key and a self-signed certificate for
// the bare JID addr, carrying addr as an id-on-xmppAddr otherName and as im:
// and pres: URIs, and an S/MIME capabilities extension (RFC 4262) listing
// the ciphers the profile accepts. Since Go 1.26, rsa.GenerateKey ignores
// rand; it is still used for the serial number and signature.
func (s *scheme) GenerateIdentity(ctx context.Context, addr jid.JID, rand io.Reader) (e2e.Identity, error) {
	if rand == nil {
		rand = cryptoRand
	}
	return generateIdentity(ctx, addr, rand, s.capabilities())
}

// ParseIdentity reads a PEM private key (PKCS #8 or PKCS #1, RSA) and the
// certificate, followed by any issuer certificates, in any order of blocks
// as long as the end-entity certificate comes first.
func (s *scheme) ParseIdentity(b []byte) (e2e.Identity, error) { return parseIdentity(b) }

// ParsePeer reads a PEM certificate, or a bundle of CA certificates.
func (s *scheme) ParsePeer(b []byte) (e2e.Peer, error) { return parsePeer(b) }
