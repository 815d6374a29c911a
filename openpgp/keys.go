package openpgp

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"mellium.im/xmpp/jid"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// A Peer is a contact's OpenPGP public key (a transferable public key of
// RFC 4880 §11.1), as gpg --export writes it. ParsePeer reads one; its JID
// comes from the key's user IDs (see ParsePeer).
type Peer struct {
	e   *openpgp.Entity
	jid jid.JID
	fpr string
}

// JID returns the bare JID named by the key's user IDs, or the zero JID.
func (p *Peer) JID() jid.JID { return p.jid }

// Fingerprint returns the v4 fingerprint of the primary key as 40 upper-case
// hexadecimal digits, the form gpg --with-colons prints.
func (p *Peer) Fingerprint() string { return p.fpr }

// KeyID returns the 64-bit key ID of the primary key as 16 upper-case
// hexadecimal digits.
func (p *Peer) KeyID() string { return fmt.Sprintf("%016X", p.e.PrimaryKey.KeyId) }

// Entity returns the go-crypto entity of the key. Callers must not modify it.
func (p *Peer) Entity() *openpgp.Entity { return p.e }

// Marshal writes the public key ASCII-armored, as gpg --export --armor does.
func (p *Peer) Marshal() ([]byte, error) {
	return armored(openpgp.PublicKeyType, p.e.Serialize)
}

// armored returns what write writes, ASCII-armored as blockType.
func armored(blockType string, write func(io.Writer) error) ([]byte, error) {
	var b bytes.Buffer
	w, err := armor.Encode(&b, blockType, nil)
	if err != nil {
		return nil, err
	}
	if err := write(w); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// An Identity is the local party's OpenPGP secret key: a primary key that
// signs (presence) and an encryption subkey (messages), without passphrase
// protection. ParseIdentity reads what gpg --export-secret-keys --armor
// writes.
type Identity struct {
	e   *openpgp.Entity
	pub *Peer
}

// JID returns the bare JID named by the key's user IDs.
func (id *Identity) JID() jid.JID { return id.pub.jid }

// Public returns the public half of the identity, a *Peer.
func (id *Identity) Public() e2e.Peer { return id.pub }

// Entity returns the go-crypto entity, with its private keys. Callers must
// not modify it.
func (id *Identity) Entity() *openpgp.Entity { return id.e }

// Marshal writes the secret key ASCII-armored and unprotected, as
// gpg --export-secret-keys --armor does for a key without passphrase. The
// self-signatures are written as they are, not made again.
func (id *Identity) Marshal() ([]byte, error) {
	return armored(openpgp.PrivateKeyType, func(w io.Writer) error {
		return id.e.SerializePrivateWithoutSigning(w, nil)
	})
}

// readKeys reads one transferable key, armored or binary. Exactly one key
// must be present: a keyring export with several keys is ambiguous as an
// identity or peer.
func readKeys(b []byte) (_ *openpgp.Entity, err error) {
	defer recoverAs(&err, e2e.ErrMalformed)
	if len(b) > e2e.MaxStanzaSize {
		return nil, fmt.Errorf("%w: openpgp: key of %d bytes is too large", e2e.ErrMalformed, len(b))
	}
	var el openpgp.EntityList
	if n := bytes.Count(b, []byte("-----BEGIN PGP")); n > 1 {
		return nil, fmt.Errorf("%w: openpgp: %d armored blocks; want exactly one key", e2e.ErrMalformed, n)
	} else if n == 1 {
		el, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(b))
	} else {
		el, err = openpgp.ReadKeyRing(bytes.NewReader(b))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: openpgp: reading key: %v", e2e.ErrMalformed, err)
	}
	if len(el) != 1 {
		return nil, fmt.Errorf("%w: openpgp: want exactly one key, found %d", e2e.ErrMalformed, len(el))
	}
	if el[0].PrimaryKey.Version != 4 {
		return nil, fmt.Errorf("%w: openpgp: v%d key; XEP-0027 peers (GnuPG 2.2) use v4 keys", e2e.ErrUnsupported, el[0].PrimaryKey.Version)
	}
	return el[0], nil
}

// newPeer makes the public Peer of e, dropping any private key material by
// serializing the public parts and reading them back.
func newPeer(e *openpgp.Entity) (*Peer, error) {
	var b bytes.Buffer
	if err := e.Serialize(&b); err != nil {
		return nil, fmt.Errorf("%w: openpgp: %v", e2e.ErrMalformed, err)
	}
	el, err := openpgp.ReadKeyRing(&b)
	if err != nil || len(el) != 1 {
		return nil, fmt.Errorf("%w: openpgp: public key does not read back: %v", e2e.ErrMalformed, err)
	}
	pub := el[0]
	return &Peer{
		e:   pub,
		jid: entityJID(pub),
		fpr: strings.ToUpper(hex.EncodeToString(pub.PrimaryKey.Fingerprint)),
	}, nil
}

func parsePeer(b []byte) (*Peer, error) {
	e, err := readKeys(b)
	if err != nil {
		return nil, err
	}
	return newPeer(e)
}

func parseIdentity(b []byte) (*Identity, error) {
	e, err := readKeys(b)
	if err != nil {
		return nil, err
	}
	return newIdentity(e)
}

func newIdentity(e *openpgp.Entity) (*Identity, error) {
	if e.PrivateKey == nil {
		return nil, fmt.Errorf("%w: openpgp: a public key is not an identity; export the secret key", e2e.ErrNoKey)
	}
	if e.PrivateKey.Encrypted {
		return nil, fmt.Errorf("%w: openpgp: the secret key is passphrase-protected; export it without a passphrase", e2e.ErrUnsupported)
	}
	for _, sk := range e.Subkeys {
		if sk.PrivateKey != nil && sk.PrivateKey.Encrypted {
			return nil, fmt.Errorf("%w: openpgp: a secret subkey is passphrase-protected; export it without a passphrase", e2e.ErrUnsupported)
		}
	}
	pub, err := newPeer(e)
	if err != nil {
		return nil, err
	}
	return &Identity{e: e, pub: pub}, nil
}

// entityJID finds the bare JID a key is bound to: the first user ID, the
// primary one first, that is an "xmpp:" URI (as XEP-0373 §8.5 asks), an
// e-mail address in angle brackets (as gpg --quick-gen-key 'Name <addr>'
// writes, usually equal to the JID) or a bare JID itself.
func entityJID(e *openpgp.Entity) jid.JID {
	var names []string
	if p := e.PrimaryIdentity(); p != nil {
		names = append(names, p.Name)
	}
	var rest []string
	for name := range e.Identities {
		rest = append(rest, name)
	}
	slices.Sort(rest)
	names = append(names, rest...)
	for _, name := range names {
		id := e.Identities[name]
		if id == nil || id.UserId == nil {
			continue
		}
		for _, cand := range []string{id.UserId.Id, id.UserId.Email} {
			cand = strings.TrimPrefix(strings.TrimSpace(cand), "xmpp:")
			if cand == "" || strings.ContainsAny(cand, " <>()") {
				continue
			}
			if j, err := jid.Parse(cand); err == nil && j.Localpart() != "" {
				return j.Bare()
			}
		}
	}
	return jid.JID{}
}

// toPeer returns p as our *Peer, reading it from its Marshal output when it
// comes from elsewhere.
func toPeer(p e2e.Peer) (*Peer, error) {
	if q, ok := p.(*Peer); ok && q != nil {
		if q.e == nil {
			return nil, fmt.Errorf("%w: openpgp: empty Peer; use ParsePeer", e2e.ErrNoKey)
		}
		return q, nil
	}
	if p == nil {
		return nil, fmt.Errorf("%w: openpgp: nil peer", e2e.ErrNoKey)
	}
	b, err := p.Marshal()
	if err != nil {
		return nil, fmt.Errorf("%w: openpgp: peer %T: %v", e2e.ErrUnsupported, p, err)
	}
	return parsePeer(b)
}

// toIdentity returns id as our *Identity, reading it from its Marshal output
// when it comes from elsewhere.
func toIdentity(id e2e.Identity) (*Identity, error) {
	if i, ok := id.(*Identity); ok && i != nil {
		if i.e == nil || i.pub == nil {
			return nil, fmt.Errorf("%w: openpgp: empty Identity; use ParseIdentity or GenerateIdentity", e2e.ErrNoKey)
		}
		return i, nil
	}
	b, err := id.Marshal()
	if err != nil {
		return nil, fmt.Errorf("%w: openpgp: identity %T: %v", e2e.ErrUnsupported, id, err)
	}
	return parseIdentity(b)
}

// recoverAs turns a panic in a third-party parser into an error of class.
func recoverAs(err *error, class error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: openpgp: library panic: %v", class, r)
	}
}
