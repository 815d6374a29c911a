package openpgp

import (
	"bytes"
	"context"
	"crypto"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"mellium.im/xmpp/jid"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/internal/syncrand"
)

// The XEP-0027 namespaces.
const (
	// NSEncrypted is the namespace of <x/> holding an encrypted message body.
	NSEncrypted = "jabber:x:encrypted"
	// NSSigned is the namespace of <x/> holding a detached signature over
	// the presence status or the message body.
	NSSigned = "jabber:x:signed"
)

// Fallback is the clear <body/> an encrypted message carries for clients
// without XEP-0027 support. Receive replaces it with the plaintext.
const Fallback = "This message is encrypted with OpenPGP (XEP-0027)."

// A Session is the e2e.Session of XEP-0027 that Scheme.NewSession returns.
// It holds the local identity and the peers' keys of its Config, and one
// piece of state: for each bare JID, the key that last signed that
// contact's presence, which picks the key Encrypt uses (XEP-0027 §2, §3).
// It is safe for concurrent use.
type Session struct {
	cfg     e2e.Config
	local   *Identity // nil for a verify-only session
	peers   []*Peer
	keyring openpgp.EntityList // local first, then peers
	floor   time.Time
	rand    io.Reader

	clockMu sync.Mutex

	mu       sync.Mutex
	presence map[string]*Peer // bare JID -> key of its last verified signed presence
}

func newSession(cfg e2e.Config) (*Session, error) {
	s := &Session{
		cfg:      cfg,
		presence: make(map[string]*Peer),
		rand:     syncrand.New(cfg.Random()),
	}
	if cfg.Local != nil {
		id, err := toIdentity(cfg.Local)
		if err != nil {
			return nil, err
		}
		s.local = id
		s.keyring = append(s.keyring, id.e)
	}
	for _, p := range cfg.Peers {
		q, err := toPeer(p)
		if err != nil {
			return nil, err
		}
		s.peers = append(s.peers, q)
		s.keyring = append(s.keyring, q.e)
	}
	for _, e := range s.keyring {
		s.floor = latest(s.floor, keyTime(e))
	}
	return s, nil
}

// keyTime is the newest creation time of e's keys and self-signatures.
func keyTime(e *openpgp.Entity) time.Time {
	t := e.PrimaryKey.CreationTime
	for _, id := range e.Identities {
		if id.SelfSignature != nil {
			t = latest(t, id.SelfSignature.CreationTime)
		}
	}
	for _, sk := range e.Subkeys {
		t = latest(t, sk.PublicKey.CreationTime)
		if sk.Sig != nil {
			t = latest(t, sk.Sig.CreationTime)
		}
	}
	return t
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// now is the session's time: the Config's clock, but never earlier than the
// newest key of the session. go-crypto treats a key created after "now" as
// not yet valid and GnuPG refuses a signature older than its key, so a clock
// behind the keys (a test clock, a skewed device) would otherwise make every
// operation fail.
func (s *Session) now() time.Time {
	s.clockMu.Lock()
	t := s.cfg.Now()
	s.clockMu.Unlock()
	return latest(t, s.floor)
}

// MaxClockSkew is how far ahead of the local clock the creation time of a
// signature may be. Devices' clocks differ; go-crypto (like GnuPG) would
// refuse a signature made a second "in the future".
const MaxClockSkew = 5 * time.Minute

// pgpConfig is the go-crypto configuration for making messages and
// signatures: timestamps come from the session's clock.
func (s *Session) pgpConfig() *packet.Config {
	return s.config(s.now)
}

// checkConfig is the configuration for reading: validity is judged
// MaxClockSkew ahead of the session's clock, so that signatures from a
// sender whose clock is a little ahead verify (and a key expiring within
// that margin already counts as expired).
func (s *Session) checkConfig() *packet.Config {
	return s.config(func() time.Time { return s.now().Add(MaxClockSkew) })
}

func (s *Session) config(now func() time.Time) *packet.Config {
	return &packet.Config{
		Rand:          s.rand,
		Time:          now,
		DefaultHash:   crypto.SHA256,
		DefaultCipher: packet.CipherAES128,
		// No compression (go-crypto's default) and SEIPD v1 with MDC:
		// GnuPG 2.2 reads neither v6 keys nor SEIPD v2.
	}
}

// Encrypt encrypts the text of the message's <body/> to the recipient st.To
// and to the local key (so the sender's other devices can read it), puts the
// result in <x xmlns='jabber:x:encrypted'/> and replaces the body's text with
// Fallback. Every other child and attribute travels as it is: XEP-0027
// protects the body only. With Config.Sign the body is also signed inside the
// encryption (a signed-then-encrypted OpenPGP message, which XEP-0027 does
// not define but GnuPG reads); Receive reports its Signer.
//
// The recipient key is the one that last signed st.To's presence, else every
// key in Config.Peers for st.To's bare JID; none, or none that can encrypt,
// is ErrNoKey. Presence and iq stanzas, messages without a body and messages
// with several bodies (xml:lang variants) are ErrUnsupported.
func (s *Session) Encrypt(ctx context.Context, st *e2e.Stanza) ([]*e2e.Stanza, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if st == nil {
		return nil, fmt.Errorf("%w: openpgp: nil stanza", e2e.ErrMalformed)
	}
	if st.Kind != e2e.Message {
		return nil, fmt.Errorf("%w: openpgp: XEP-0027 encrypts only message bodies, not %s (sign presence with Sign)", e2e.ErrUnsupported, st.Kind)
	}
	if err := noPayload(st); err != nil {
		return nil, err
	}
	idx, err := bodyIndex(st)
	if err != nil {
		return nil, err
	}
	if idx < 0 {
		return nil, fmt.Errorf("%w: openpgp: message has no <body/>, and XEP-0027 encrypts nothing else", e2e.ErrUnsupported)
	}
	to, err := s.recipients(st.To)
	if err != nil {
		return nil, err
	}
	var signer *openpgp.Entity
	if s.cfg.Sign {
		if s.local == nil {
			return nil, fmt.Errorf("%w: openpgp: Config.Sign without a local identity", e2e.ErrNoKey)
		}
		signer = s.local.e
	}
	text, err := charData(st.Children[idx])
	if err != nil {
		return nil, err
	}
	bin, err := s.encrypt(text, to, signer)
	if err != nil {
		return nil, err
	}
	out := st.Clone()
	if out.From.Equal(jid.JID{}) {
		out.From = s.cfg.JID
	}
	out.Children[idx].SetText(Fallback)
	out.Children = append(out.Children, e2e.NewElement(NSEncrypted, "x", armorPayload(bin)))
	return []*e2e.Stanza{out}, nil
}

func (s *Session) encrypt(text string, to []*openpgp.Entity, signer *openpgp.Entity) (_ []byte, err error) {
	defer recoverAs(&err, e2e.ErrUnsupported)
	var buf bytes.Buffer
	w, err := openpgp.Encrypt(&buf, to, signer, nil, s.pgpConfig())
	if err != nil {
		return nil, fmt.Errorf("%w: openpgp: encrypting: %v", e2e.ErrNoKey, err)
	}
	if _, err := io.WriteString(w, text); err != nil {
		return nil, fmt.Errorf("openpgp: encrypting: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("openpgp: encrypting: %w", err)
	}
	return buf.Bytes(), nil
}

// recipients returns the keys to encrypt a message for addr to: the key
// that last signed addr's presence, else the keys pinned for addr's bare
// JID, plus the local key.
func (s *Session) recipients(addr jid.JID) ([]*openpgp.Entity, error) {
	if addr.Equal(jid.JID{}) {
		return nil, fmt.Errorf("%w: openpgp: message has no to address", e2e.ErrNoKey)
	}
	bare := addr.Bare()
	s.mu.Lock()
	seen := s.presence[bare.String()]
	s.mu.Unlock()
	var cands []*Peer
	if seen != nil {
		cands = []*Peer{seen}
	} else {
		for _, p := range s.peers {
			if p.jid.Equal(bare) {
				cands = append(cands, p)
			}
		}
		if len(cands) == 0 && s.local != nil && s.local.pub.jid.Equal(bare) {
			cands = []*Peer{s.local.pub}
		}
	}
	if len(cands) == 0 {
		return nil, fmt.Errorf("%w: openpgp: no key for %s", e2e.ErrNoKey, bare)
	}
	now := s.now()
	var to []*openpgp.Entity
	fprs := map[string]bool{}
	for _, p := range cands {
		if _, ok := p.e.EncryptionKey(now); ok && !fprs[p.fpr] {
			to = append(to, p.e)
			fprs[p.fpr] = true
		}
	}
	if len(to) == 0 {
		return nil, fmt.Errorf("%w: openpgp: key %s of %s has no valid encryption key (sign-only, expired or revoked)", e2e.ErrNoKey, cands[0].fpr, bare)
	}
	if s.local != nil && !fprs[s.local.pub.fpr] {
		if _, ok := s.local.e.EncryptionKey(now); ok {
			to = append(to, s.local.e)
		}
	}
	return to, nil
}

// Sign signs a presence's <status/> text (the empty string when there is
// none; the status without xml:lang, else the first, when there are several)
// or a message's <body/> text with a text-mode (sigclass 0x01) detached
// signature, and adds it as <x xmlns='jabber:x:signed'/>. Only that text is
// protected. An iq is ErrUnsupported; no local identity is ErrNoKey; a text
// element holding child elements, or two statuses in the same language
// (RFC 6121 §4.7.2.2), is ErrMalformed.
func (s *Session) Sign(ctx context.Context, st *e2e.Stanza) ([]*e2e.Stanza, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if st == nil {
		return nil, fmt.Errorf("%w: openpgp: nil stanza", e2e.ErrMalformed)
	}
	if s.local == nil {
		return nil, fmt.Errorf("%w: openpgp: signing needs a local identity", e2e.ErrNoKey)
	}
	if err := noPayload(st); err != nil {
		return nil, err
	}
	text, err := signedText(st)
	if err != nil {
		return nil, err
	}
	bin, err := s.detachSign(text)
	if err != nil {
		return nil, err
	}
	out := st.Clone()
	if out.From.Equal(jid.JID{}) {
		out.From = s.cfg.JID
	}
	out.Children = append(out.Children, e2e.NewElement(NSSigned, "x", armorPayload(bin)))
	return []*e2e.Stanza{out}, nil
}

func (s *Session) detachSign(text string) (_ []byte, err error) {
	defer recoverAs(&err, e2e.ErrUnsupported)
	var buf bytes.Buffer
	if err := openpgp.DetachSignText(&buf, s.local.e, strings.NewReader(text), s.pgpConfig()); err != nil {
		return nil, fmt.Errorf("%w: openpgp: signing: %v", e2e.ErrNoKey, err)
	}
	return buf.Bytes(), nil
}

// Receive opens an encrypted message (jabber:x:encrypted), putting the
// plaintext in place of the fallback body, and verifies a signed presence or
// message (jabber:x:signed), reporting its Signer. A signed presence that
// verifies also records its key as the one Encrypt uses for that contact.
//
// Errors: a payload that does not decode (bad base64, wrong armor CRC, not
// OpenPGP) is ErrMalformed; every decryption failure, including a message
// not encrypted to the local key and data without an MDC (tag 9), is
// ErrDecrypt; a signature by a key not in the session when the sender's JID
// has no key either is ErrNoKey; a signature that fails, by a key bound to
// another JID, or by an expired or revoked key is ErrBadSignature. A stanza
// with neither element is ErrNotEncrypted unless Config.AllowPlaintext.
//
// XEP-0027 has no replay protection: a stanza received again opens again.
func (s *Session) Receive(ctx context.Context, st *e2e.Stanza) (e2e.Received, error) {
	if err := ctx.Err(); err != nil {
		return e2e.Received{}, err
	}
	if st == nil {
		return e2e.Received{}, fmt.Errorf("%w: openpgp: nil stanza", e2e.ErrMalformed)
	}
	enc, err := payloadChild(st, NSEncrypted)
	if err != nil {
		return e2e.Received{}, err
	}
	sig, err := payloadChild(st, NSSigned)
	if err != nil {
		return e2e.Received{}, err
	}
	var o e2e.Opened
	switch {
	case enc != nil:
		o, err = s.open(st, enc, sig)
	case sig != nil:
		o, err = s.verify(st, sig)
	case s.cfg.AllowPlaintext:
		o = e2e.Opened{Stanza: st.Clone()}
	default:
		err = fmt.Errorf("%w: openpgp: %s has neither jabber:x:encrypted nor jabber:x:signed", e2e.ErrNotEncrypted, st.Kind)
	}
	if err != nil {
		return e2e.Received{}, err
	}
	return e2e.Received{Opened: []e2e.Opened{o}}, nil
}

// open decrypts an encrypted message, and checks a jabber:x:signed beside it
// against the plaintext.
func (s *Session) open(st *e2e.Stanza, enc, sigEl *e2e.Element) (e2e.Opened, error) {
	if st.Kind != e2e.Message {
		return e2e.Opened{}, fmt.Errorf("%w: openpgp: jabber:x:encrypted in a %s", e2e.ErrUnsupported, st.Kind)
	}
	bin, err := dearmor(enc.Text())
	if err != nil {
		return e2e.Opened{}, err
	}
	if s.local == nil {
		return e2e.Opened{}, fmt.Errorf("%w: openpgp: decrypting needs a local identity", e2e.ErrNoKey)
	}
	plain, signer, err := s.decrypt(bin, st.From)
	if err != nil {
		return e2e.Opened{}, err
	}
	out := st.Clone()
	out.RemoveChildren(NSEncrypted, "x", 0)
	if sigEl != nil {
		p, err := s.verifyText(sigEl, plain, st.From)
		if err != nil {
			return e2e.Opened{}, err
		}
		out.RemoveChildren(NSSigned, "x", 0)
		if signer == nil {
			signer = p
		}
	}
	setBody(out, plain)
	return s.opened(out, true, signer), nil
}

// decrypt opens an OpenPGP message with the local key. When the message is
// signed inside, the signature must verify by a key of the Session that
// belongs to from's bare JID; see unknownSigner for a key the Session lacks.
func (s *Session) decrypt(bin []byte, from jid.JID) (plain string, signer *Peer, err error) {
	defer recoverAs(&err, e2e.ErrDecrypt)
	cannot := fmt.Errorf("openpgp: %w", e2e.ErrDecrypt)
	if err := checkRecipients(bin); err != nil {
		return "", nil, err
	}
	md, err := openpgp.ReadMessage(bytes.NewReader(bin), s.keyring, nil, s.checkConfig())
	if err != nil {
		return "", nil, cannot
	}
	if !md.IsEncrypted {
		return "", nil, fmt.Errorf("%w: openpgp: jabber:x:encrypted holds an unencrypted OpenPGP message", e2e.ErrNotEncrypted)
	}
	if md.IsSymmetricallyEncrypted || md.DecryptedWith.Entity == nil {
		return "", nil, cannot
	}
	data, err := io.ReadAll(io.LimitReader(md.UnverifiedBody, e2e.MaxStanzaSize+1))
	if err != nil {
		return "", nil, cannot
	}
	if len(data) > e2e.MaxStanzaSize {
		return "", nil, fmt.Errorf("%w: openpgp: plaintext exceeds %d bytes", e2e.ErrMalformed, e2e.MaxStanzaSize)
	}
	if md.IsSigned && md.SignedBy == nil {
		// Signed inside by a key the Session does not have.
		return "", nil, s.unknownSigner(md.SignedByKeyId, from)
	}
	if md.IsSigned {
		if md.SignatureError != nil || md.Signature == nil {
			return "", nil, fmt.Errorf("%w: openpgp: signature inside the message: %v", e2e.ErrBadSignature, md.SignatureError)
		}
		signer, err = s.signerFor(md.SignedBy.Entity, from)
		if err != nil {
			return "", nil, err
		}
	}
	if err := checkText(data); err != nil {
		return "", nil, err
	}
	return string(data), signer, nil
}

// MaxRecipients bounds the Session key packets of a message Receive tries:
// each one may cost a private key operation, so a stanza packed with them
// would otherwise buy an attacker seconds of CPU.
const MaxRecipients = 64

func checkRecipients(bin []byte) (err error) {
	defer recoverAs(&err, e2e.ErrMalformed)
	r := packet.NewReader(bytes.NewReader(bin))
	for n := 0; ; n++ {
		p, err := r.Next()
		if err != nil {
			return nil // ReadMessage reports it
		}
		switch p.(type) {
		case *packet.EncryptedKey, *packet.SymmetricKeyEncrypted:
			if n >= MaxRecipients {
				return fmt.Errorf("%w: openpgp: more than %d recipients", e2e.ErrMalformed, MaxRecipients)
			}
		default:
			return nil
		}
	}
}

// verify checks the jabber:x:signed of a presence or a message.
func (s *Session) verify(st *e2e.Stanza, sigEl *e2e.Element) (e2e.Opened, error) {
	text, err := signedText(st)
	if err != nil {
		return e2e.Opened{}, err
	}
	p, err := s.verifyText(sigEl, text, st.From)
	if err != nil {
		return e2e.Opened{}, err
	}
	if st.Kind == e2e.Presence {
		s.mu.Lock()
		s.presence[st.From.Bare().String()] = p
		s.mu.Unlock()
	}
	out := st.Clone()
	out.RemoveChildren(NSSigned, "x", 0)
	return s.opened(out, false, p), nil
}

// verifyText verifies the detached signature in sigEl over text and returns
// the key that made it, which must belong to from.
func (s *Session) verifyText(sigEl *e2e.Element, text string, from jid.JID) (*Peer, error) {
	bin, err := dearmor(sigEl.Text())
	if err != nil {
		return nil, err
	}
	sig, err := readSignature(bin)
	if err != nil {
		return nil, err
	}
	var keyID uint64
	switch {
	case sig.IssuerKeyId != nil:
		keyID = *sig.IssuerKeyId
	case len(sig.IssuerFingerprint) >= 8:
		fp := sig.IssuerFingerprint
		keyID = uint64(fp[len(fp)-8])<<56 | uint64(fp[len(fp)-7])<<48 | uint64(fp[len(fp)-6])<<40 |
			uint64(fp[len(fp)-5])<<32 | uint64(fp[len(fp)-4])<<24 | uint64(fp[len(fp)-3])<<16 |
			uint64(fp[len(fp)-2])<<8 | uint64(fp[len(fp)-1])
	default:
		return nil, fmt.Errorf("%w: openpgp: signature names no issuer", e2e.ErrMalformed)
	}
	keys := s.keyring.KeysByIdUsage(keyID, packet.KeyFlagSign)
	if len(keys) == 0 {
		return nil, s.unknownSigner(keyID, from)
	}
	e := keys[0].Entity
	if err := s.checkDetached(e, text, bin, sig.SigType); err != nil {
		return nil, err
	}
	return s.signerFor(e, from)
}

// checkDetached verifies a text (0x01) or binary (0x00) signature. Binary
// signatures hash the exact bytes, and XML parsing turns CRLF into LF, so a
// binary signature that fails over the text is tried once more over the text
// with CRLF line ends (XEP-0027 digest §2.1).
func (s *Session) checkDetached(e *openpgp.Entity, text string, bin []byte, typ packet.SignatureType) (err error) {
	defer recoverAs(&err, e2e.ErrBadSignature)
	if typ != packet.SigTypeText && typ != packet.SigTypeBinary {
		return fmt.Errorf("%w: openpgp: signature of type %#x is not a document signature", e2e.ErrBadSignature, uint8(typ))
	}
	kr := openpgp.EntityList{e}
	_, _, err = openpgp.VerifyDetachedSignature(kr, strings.NewReader(text), bytes.NewReader(bin), s.checkConfig())
	if err != nil && typ == packet.SigTypeBinary && strings.Contains(text, "\n") {
		crlf := strings.ReplaceAll(text, "\n", "\r\n")
		_, _, err = openpgp.VerifyDetachedSignature(kr, strings.NewReader(crlf), bytes.NewReader(bin), s.checkConfig())
	}
	if err != nil {
		return fmt.Errorf("%w: openpgp: %v", e2e.ErrBadSignature, err)
	}
	return nil
}

// readSignature parses exactly one v4 signature packet.
func readSignature(bin []byte) (sig *packet.Signature, err error) {
	defer recoverAs(&err, e2e.ErrMalformed)
	r := packet.NewReader(bytes.NewReader(bin))
	p, err := r.Next()
	if err != nil {
		// packet.Reader skips packets it does not support, such as the v3
		// signatures of XEP-0027's own example, and then reports EOF.
		return nil, fmt.Errorf("%w: openpgp: no supported signature packet (v3 signatures are not supported): %v", e2e.ErrMalformed, err)
	}
	sig, ok := p.(*packet.Signature)
	if !ok {
		return nil, fmt.Errorf("%w: openpgp: jabber:x:signed holds a %T, not a signature", e2e.ErrMalformed, p)
	}
	if _, err := r.Next(); err != io.EOF {
		return nil, fmt.Errorf("%w: openpgp: more than one packet in jabber:x:signed", e2e.ErrMalformed)
	}
	return sig, nil
}

// signerFor maps a verified key to its Peer and checks that it belongs to
// the sender's bare JID. A pinned key that names no JID belongs to any.
func (s *Session) signerFor(e *openpgp.Entity, from jid.JID) (*Peer, error) {
	var p *Peer
	if s.local != nil && s.local.e == e {
		p = s.local.pub
	}
	for _, q := range s.peers {
		if q.e == e {
			p = q
			break
		}
	}
	if p == nil {
		return nil, fmt.Errorf("%w: openpgp: signing key not in the Session", e2e.ErrNoKey)
	}
	if !p.jid.Equal(jid.JID{}) && !p.jid.Equal(from.Bare()) {
		return nil, fmt.Errorf("%w: openpgp: signed by the key of %s, but sent by %s", e2e.ErrBadSignature, p.jid, from.Bare())
	}
	return p, nil
}

// unknownSigner is the error for a signature by a key the Session does not
// have: ErrBadSignature when the Session has a key for the sender's JID (the
// signature is not the sender's), ErrNoKey when it has none.
func (s *Session) unknownSigner(keyID uint64, from jid.JID) error {
	if s.knows(from) {
		return fmt.Errorf("%w: openpgp: signed by key %016X, which is not a key of %s", e2e.ErrBadSignature, keyID, from.Bare())
	}
	return fmt.Errorf("%w: openpgp: signed by unknown key %016X", e2e.ErrNoKey, keyID)
}

// knows reports whether the Session has a key for addr's bare JID.
func (s *Session) knows(addr jid.JID) bool {
	bare := addr.Bare()
	if s.local != nil && s.local.pub.jid.Equal(bare) {
		return true
	}
	for _, p := range s.peers {
		if p.jid.Equal(bare) {
			return true
		}
	}
	return false
}

func (s *Session) opened(st *e2e.Stanza, encrypted bool, signer *Peer) e2e.Opened {
	o := e2e.Opened{Stanza: st, Encrypted: encrypted}
	if signer != nil {
		o.Signer = signer
		o.Trusted = (s.local != nil && signer == s.local.pub) || s.cfg.Trusts(st.From, signer)
	}
	return o
}

// Close does nothing and returns nothing: XEP-0027 has no Session to end.
func (s *Session) Close(ctx context.Context) ([]*e2e.Stanza, error) { return nil, nil }

// payloadChild returns the one <x/> of namespace ns in st, nil when there is
// none; several, or one with child elements, are ErrMalformed.
func payloadChild(st *e2e.Stanza, ns string) (*e2e.Element, error) {
	var found *e2e.Element
	for _, c := range st.Children {
		if c.Name.Space != ns || c.Name.Local != "x" {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("%w: openpgp: several <x xmlns='%s'/>", e2e.ErrMalformed, ns)
		}
		if len(c.Elements()) != 0 {
			return nil, fmt.Errorf("%w: openpgp: <x xmlns='%s'/> has child elements", e2e.ErrMalformed, ns)
		}
		found = c
	}
	return found, nil
}

// noPayload refuses to protect a stanza that already carries XEP-0027
// payloads.
func noPayload(st *e2e.Stanza) error {
	for _, c := range st.Children {
		if c.Name.Local == "x" && (c.Name.Space == NSEncrypted || c.Name.Space == NSSigned) {
			return fmt.Errorf("%w: openpgp: stanza already carries <x xmlns='%s'/>", e2e.ErrMalformed, c.Name.Space)
		}
	}
	return nil
}

func stanzaNS(st *e2e.Stanza) string {
	if st.NS == "" {
		return e2e.NSClient
	}
	return st.NS
}

// bodyIndex returns the index of the message's one <body/>, -1 when there
// is none; several bodies are ErrUnsupported.
func bodyIndex(st *e2e.Stanza) (int, error) {
	idx := -1
	for i, c := range st.Children {
		if c.Name.Space == stanzaNS(st) && c.Name.Local == "body" {
			if idx >= 0 {
				return 0, fmt.Errorf("%w: openpgp: several <body/> elements (xml:lang variants); XEP-0027 protects one", e2e.ErrUnsupported)
			}
			idx = i
		}
	}
	return idx, nil
}

// setBody puts text in the first <body/> (keeping its attributes) and
// removes any others, or adds a body when there is none.
func setBody(st *e2e.Stanza, text string) {
	ns := stanzaNS(st)
	for i, c := range st.Children {
		if c.Name.Space == ns && c.Name.Local == "body" {
			c.SetText(text)
			st.RemoveChildren(ns, "body", i+1)
			return
		}
	}
	st.Children = append(st.Children, e2e.NewElement(ns, "body", text))
}

// signedText returns the text a jabber:x:signed covers: a presence's status
// (without xml:lang, else the first; "" when absent) or a message's body.
func signedText(st *e2e.Stanza) (string, error) {
	ns := stanzaNS(st)
	switch st.Kind {
	case e2e.Presence:
		// RFC 6121 §4.7.2.2: several statuses must differ in xml:lang
		// (inherited from the stanza where absent), else which one was
		// signed and which one travels unprotected is ambiguous.
		var plain, first *e2e.Element
		langs := map[string]bool{}
		for _, c := range st.Children {
			if c.Name.Space != ns || c.Name.Local != "status" {
				continue
			}
			l, ok := lang(c)
			if !ok {
				l = st.Lang
			}
			if l = strings.ToLower(l); langs[l] {
				return "", fmt.Errorf("%w: openpgp: several <status/> elements with xml:lang %q (RFC 6121 §4.7.2.2)", e2e.ErrMalformed, l)
			}
			langs[l] = true
			switch {
			case !ok && plain == nil:
				plain = c
			case first == nil:
				first = c
			}
		}
		if plain != nil {
			return charData(plain)
		}
		if first != nil {
			return charData(first)
		}
		return "", nil
	case e2e.Message:
		idx, err := bodyIndex(st)
		if err != nil || idx < 0 {
			return "", err
		}
		return charData(st.Children[idx])
	}
	return "", fmt.Errorf("%w: openpgp: XEP-0027 signs presence and messages, not %s", e2e.ErrUnsupported, st.Kind)
}

// charData returns the text of a <status/> or <body/>, which RFC 6121
// §4.7.2.2 and §5.2.3 allow to hold character data only. XEP-0027 signs and
// encrypts exactly that character data, so a child element would be lost by
// Encrypt or travel unprotected inside a verified text: ErrMalformed.
func charData(e *e2e.Element) (string, error) {
	if len(e.Elements()) != 0 {
		return "", fmt.Errorf("%w: openpgp: <%s/> holds child elements, and XEP-0027 protects character data only", e2e.ErrMalformed, e.Name.Local)
	}
	return e.Text(), nil
}

// lang returns e's xml:lang attribute and whether it has one.
func lang(e *e2e.Element) (string, bool) {
	for _, a := range e.Attr {
		if a.Name.Local == "lang" && (a.Name.Space == e2e.NSXML || a.Name.Space == "xml") {
			return a.Value, true
		}
	}
	return "", false
}

// checkText refuses plaintext that a <body/> cannot carry: invalid UTF-8 or
// characters outside XML's Char production.
func checkText(b []byte) error {
	if !utf8.Valid(b) {
		return fmt.Errorf("%w: openpgp: plaintext is not UTF-8", e2e.ErrMalformed)
	}
	for _, r := range string(b) {
		if !(r == 0x09 || r == 0x0A || r == 0x0D || (r >= 0x20 && r <= 0xD7FF) ||
			(r >= 0xE000 && r <= 0xFFFD) || r >= 0x10000) {
			return fmt.Errorf("%w: openpgp: plaintext holds U+%04X, which XML cannot carry", e2e.ErrMalformed, r)
		}
	}
	return nil
}

var _ e2e.Session = (*Session)(nil)
