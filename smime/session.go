package smime

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/smallstep/pkcs7"
	"mellium.im/xmpp/jid"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/internal/syncrand"
)

// Namespaces of RFC 3923.
const (
	// NS is the namespace of <e2e/> and of the application error elements.
	NS = "urn:ietf:params:xml:ns:xmpp-e2e"
	// nsTypo is the misspelt namespace of the RFC's §9 title and §7
	// examples, accepted on error elements only.
	nsTypo = "urn:ietf:params:xml:xmpp-e2e"
)

// Timestamp rules of RFC 3923 §6.9.
const (
	// MaxSkew is how far a timestamp may be from the receiver's clock.
	MaxSkew = 5 * time.Minute
	// replayWindow is how long accepted timestamps are remembered.
	replayWindow = 10 * time.Minute
	// maxSeen bounds the replay memory of one session.
	maxSeen = 1 << 16
)

// NewSession starts a session for cfg.Local (which may be nil for a session
// that only verifies signatures).
func (s *scheme) NewSession(cfg e2e.Config) (e2e.Session, error) {
	sess := &session{scheme: s, cfg: cfg, seen: map[seenKey]time.Time{}, gcmPeers: map[string]bool{}, learned: map[string]*Peer{}}
	sess.rand = syncrand.New(cfg.Random())
	if cfg.Local != nil {
		id, ok := cfg.Local.(*Identity)
		if !ok {
			return nil, fmt.Errorf("smime: %w: identity of type %T", e2e.ErrUnsupported, cfg.Local)
		}
		sess.id = id
	}
	for _, p := range cfg.Peers {
		sp, ok := p.(*Peer)
		if !ok {
			return nil, fmt.Errorf("smime: %w: peer of type %T", e2e.ErrUnsupported, p)
		}
		if sp.anchor() {
			sess.anchors = append(sess.anchors, sp.certs...)
		}
	}
	return sess, nil
}

type seenKey struct {
	from  string // full JID of the sender, from the protected stanza
	stamp int64  // UnixNano of the protected timestamp
}

type session struct {
	scheme  *scheme
	cfg     e2e.Config
	id      *Identity
	anchors []*x509.Certificate
	rand    io.Reader

	mu        sync.Mutex
	lastStamp time.Time
	seen      map[seenKey]time.Time
	gcmPeers  map[string]bool  // bare JID -> advertised AES-GCM in a verified signature
	learned   map[string]*Peer // bare JID -> certificate learned from a chain to an anchor
}

// stamp returns the timestamp for the next outbound object: the clock, but
// strictly increasing within the session (RFC 3923 §6.9) at millisecond
// precision.
func (s *session) stamp() time.Time {
	now := s.cfg.Now().UTC().Truncate(time.Millisecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !now.After(s.lastStamp) {
		now = s.lastStamp.Add(time.Millisecond)
	}
	s.lastStamp = now
	return now
}

// prepare validates and copies an outbound stanza, stamping its from.
func (s *session) prepare(ctx context.Context, st *e2e.Stanza) (*e2e.Stanza, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if st == nil {
		return nil, fmt.Errorf("smime: %w: nil stanza", e2e.ErrMalformed)
	}
	if s.id == nil {
		return nil, fmt.Errorf("smime: %w: the session has no local identity", e2e.ErrNoKey)
	}
	switch st.Kind {
	case e2e.Message, e2e.Presence, e2e.IQ:
	default:
		return nil, fmt.Errorf("smime: %w: stanza kind %q", e2e.ErrMalformed, st.Kind)
	}
	if st.NS != "" && st.NS != e2e.NSClient && st.NS != e2e.NSServer {
		return nil, fmt.Errorf("smime: %w: stanza namespace %q", e2e.ErrMalformed, st.NS)
	}
	st = st.Clone()
	if st.From.Equal(jid.JID{}) {
		st.From = s.cfg.JID
	}
	if st.From.Equal(jid.JID{}) {
		return nil, fmt.Errorf("smime: %w: the stanza has no from and Config.JID is empty", e2e.ErrMalformed)
	}
	if !st.From.Bare().Equal(s.id.addr) {
		return nil, fmt.Errorf("smime: %w: from %s is not the identity's JID %s", e2e.ErrNoKey, st.From, s.id.addr)
	}
	if st.To.Equal(jid.JID{}) {
		if st.Kind == e2e.Presence {
			return nil, fmt.Errorf("smime: %w: RFC 3923 covers directed presence only", e2e.ErrUnsupported)
		}
		return nil, fmt.Errorf("smime: %w: the stanza has no recipient", e2e.ErrNoKey)
	}
	return st, nil
}

// wire returns the outer stanza: st's kind and attributes, with <e2e/>
// holding the MIME entity (with LF line ends, as XML transports them).
func wire(st *e2e.Stanza, entity []byte) *e2e.Stanza {
	out := &e2e.Stanza{Kind: st.Kind, NS: st.NS, From: st.From, To: st.To, ID: st.ID, Type: st.Type, Lang: st.Lang}
	out.Attr = append(out.Attr, st.Attr...)
	out.Children = []*e2e.Element{e2e.NewElement(NS, "e2e", string(lfOnly(entity)))}
	return out
}

// Sign signs st as multipart/signed (RFC 3923 §3.2, §4, §5) without
// encrypting it.
func (s *session) Sign(ctx context.Context, st *e2e.Stanza) ([]*e2e.Stanza, error) {
	st, err := s.prepare(ctx, st)
	if err != nil {
		return nil, err
	}
	signed, err := s.sign(buildInner(st, s.stamp()))
	if err != nil {
		return nil, err
	}
	return []*e2e.Stanza{wire(st, signed)}, nil
}

// Encrypt signs st and encrypts the signed entity to the certificates of
// st.To found in Config.Peers (or learned from verified signatures chaining
// to a trust anchor), and to the local certificate so that the sender's
// other devices and archive can read it (RFC 3923 §3.3, §6.5).
func (s *session) Encrypt(ctx context.Context, st *e2e.Stanza) ([]*e2e.Stanza, error) {
	st, err := s.prepare(ctx, st)
	if err != nil {
		return nil, err
	}
	recips, gcm := s.recipients(st.To)
	if len(recips) == 0 {
		return nil, fmt.Errorf("smime: %w: no certificate for %s", e2e.ErrNoKey, st.To.Bare())
	}
	content := buildInner(st, s.stamp())
	if !s.scheme.opts.Unsigned {
		if content, err = s.sign(content); err != nil {
			return nil, err
		}
	}
	suite := aes128CBC
	smimeType := "enveloped-data"
	if gcm && s.scheme.opts.Profile.gcm {
		suite, smimeType = aes128GCM, "authEnveloped-data"
	}
	if canEncipher(s.id.cert) {
		recips = append(recips, s.id.cert)
	}
	der, err := envelope(s.rand, content, recips, suite)
	if err != nil {
		return nil, fmt.Errorf("smime: encrypt: %w", err)
	}
	var b bytes.Buffer
	writeFields(&b,
		"Content-Type: application/pkcs7-mime; smime-type="+smimeType+"; name=smime.p7m",
		"Content-Transfer-Encoding: base64",
		"Content-Disposition: attachment; filename=smime.p7m")
	writeBase64(&b, der)
	return []*e2e.Stanza{wire(st, b.Bytes())}, nil
}

// recipients returns the certificates of addr's bare JID whose keyUsage
// allows key transport, and whether every
// one of them advertises AES-GCM (in its S/MIME capabilities extension, or
// in the smimeCapabilities attribute of a verified signature).
func (s *session) recipients(addr jid.JID) ([]*x509.Certificate, bool) {
	var certs []*x509.Certificate
	gcm := true
	for _, p := range s.cfg.PeersFor(addr) {
		if sp, ok := p.(*Peer); ok && !sp.anchor() && canEncipher(sp.certs[0]) {
			certs = append(certs, sp.certs[0])
			gcm = gcm && certSupportsGCM(sp.certs[0])
		}
	}
	bare := addr.Bare().String()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(certs) == 0 {
		if p := s.learned[bare]; p != nil && canEncipher(p.certs[0]) {
			certs = append(certs, p.certs[0])
			gcm = certSupportsGCM(p.certs[0])
		}
	}
	if s.gcmPeers[bare] {
		gcm = true
	}
	return certs, gcm && len(certs) > 0
}

// sign wraps the canonical entity content in multipart/signed with a
// detached SignedData over its exact octets.
func (s *session) sign(content []byte) ([]byte, error) {
	p := s.scheme.opts.Profile
	sd, err := pkcs7.NewSignedData(content)
	if err != nil {
		return nil, fmt.Errorf("smime: sign: %w", err)
	}
	sd.SetDigestAlgorithm(p.digest)
	caps, err := marshalCapabilities(s.scheme.capabilities())
	if err != nil {
		return nil, err
	}
	cfg := pkcs7.SignerInfoConfig{ExtraSignedAttributes: []pkcs7.Attribute{
		{Type: oidSMIMECapabilities, Value: asn1.RawValue{FullBytes: caps}},
	}}
	if err := sd.AddSignerChain(s.id.cert, s.id.key, s.id.chain, cfg); err != nil {
		return nil, fmt.Errorf("smime: sign: %w", err)
	}
	sd.Detach()
	der, err := sd.Finish()
	if err != nil {
		return nil, fmt.Errorf("smime: sign: %w", err)
	}
	boundary, err := randomBoundary(s.rand, content)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	writeFields(&b, `Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=`+p.micalg+`; boundary="`+boundary+`"`)
	b.WriteString("--" + boundary + "\r\n")
	b.Write(content)
	b.WriteString("\r\n--" + boundary + "\r\n")
	writeFields(&b,
		"Content-Type: application/pkcs7-signature; name=smime.p7s",
		"Content-Transfer-Encoding: base64",
		"Content-Disposition: attachment; handling=required; filename=smime.p7s")
	writeBase64(&b, der)
	b.WriteString("--" + boundary + "--\r\n")
	return b.Bytes(), nil
}

// Close has nothing to tell the peers: RFC 3923 has no sessions.
func (s *session) Close(ctx context.Context) ([]*e2e.Stanza, error) { return nil, nil }

// opening is the state of Receive as it peels the layers of one stanza.
type opening struct {
	outer     *e2e.Stanza
	encrypted bool
	signer    *x509.Certificate
	chain     []*x509.Certificate
	caps      []asn1.ObjectIdentifier
}

// fail returns err wrapped in class, except that inside an envelope every
// failure before the signature has verified is ErrDecrypt: an attacker who
// alters a captured CBC ciphertext must not learn whether the padding, the
// MIME structure or the signature was wrong.
func (o *opening) fail(class error, err error) error {
	if o.encrypted && o.signer == nil {
		return fmt.Errorf("smime: %w", e2e.ErrDecrypt)
	}
	if err == nil {
		return fmt.Errorf("smime: %w", class)
	}
	return fmt.Errorf("smime: %w: %v", class, err)
}

// Receive opens the <e2e/> payload of st: it decrypts (application/
// pkcs7-mime), verifies (multipart/signed) and parses the inner object, then
// checks that the signer's certificate names the sender and is trusted, that
// the inner object's addresses are the stanza's, and that its timestamp is
// fresh and new.
func (s *session) Receive(ctx context.Context, st *e2e.Stanza) (r e2e.Received, err error) {
	if err := ctx.Err(); err != nil {
		return e2e.Received{}, err
	}
	defer func() {
		if p := recover(); p != nil {
			r, err = e2e.Received{}, fmt.Errorf("smime: %w: internal failure on hostile input", e2e.ErrMalformed)
		}
	}()
	o, err := s.receive(st)
	if err != nil {
		return e2e.Received{}, err
	}
	return e2e.Received{Opened: []e2e.Opened{o}}, nil
}

func (s *session) receive(st *e2e.Stanza) (e2e.Opened, error) {
	if st == nil {
		return e2e.Opened{}, fmt.Errorf("smime: %w: nil stanza", e2e.ErrMalformed)
	}
	var payload *e2e.Element
	for _, c := range st.Children {
		if c.Name.Space == NS && c.Name.Local == "e2e" {
			if payload != nil {
				return e2e.Opened{}, fmt.Errorf("smime: %w: two <e2e/> elements", e2e.ErrMalformed)
			}
			payload = c
		}
	}
	if st.Type == "error" && (payload == nil || strings.TrimSpace(payload.Text()) == "" || ErrorCondition(st) != "") {
		// An error reply (RFC 3923 §7): it may echo our payload, but it
		// carries no protected content of the peer's. (An encrypted error
		// stanza has its <error/> inside the payload and is opened below.)
		if s.cfg.AllowPlaintext {
			return e2e.Opened{Stanza: st.Clone()}, nil
		}
		return e2e.Opened{}, fmt.Errorf("smime: %w: error stanza from the peer (%s)", e2e.ErrNotEncrypted, ErrorCondition(st))
	}
	if payload == nil {
		if s.cfg.AllowPlaintext {
			return e2e.Opened{Stanza: st.Clone()}, nil
		}
		return e2e.Opened{}, fmt.Errorf("smime: %w: no <e2e/> payload", e2e.ErrNotEncrypted)
	}
	if len(payload.Elements()) != 0 {
		return e2e.Opened{}, fmt.Errorf("smime: %w: <e2e/> holds elements", e2e.ErrMalformed)
	}
	if st.From.Equal(jid.JID{}) {
		return e2e.Opened{}, fmt.Errorf("smime: %w: stanza without from", e2e.ErrMalformed)
	}
	text := bytes.TrimLeft([]byte(payload.Text()), " \t\r\n")
	if len(text) > e2e.MaxStanzaSize {
		return e2e.Opened{}, fmt.Errorf("smime: %w: payload too large", e2e.ErrMalformed)
	}
	o := &opening{outer: st}
	ent, err := s.parseOuter(canonical(text))
	if err != nil {
		return e2e.Opened{}, fmt.Errorf("smime: %w: %v", e2e.ErrMalformed, err)
	}
	for depth := 0; ; depth++ {
		if depth == maxNesting {
			return e2e.Opened{}, o.fail(e2e.ErrMalformed, errors.New("too many MIME layers"))
		}
		mt, params, err := ent.mediaType()
		if err != nil {
			return e2e.Opened{}, o.fail(e2e.ErrMalformed, err)
		}
		switch mt {
		case "application/pkcs7-mime", "application/x-pkcs7-mime":
			if o.encrypted || o.signer != nil {
				// Only sign-then-encrypt (RFC 3923 §6.5): one envelope, outermost.
				return e2e.Opened{}, o.fail(e2e.ErrMalformed, errors.New("envelope inside another layer"))
			}
			if ent, err = s.decrypt(ent, params); err != nil {
				return e2e.Opened{}, err
			}
			o.encrypted = true
		case "multipart/signed":
			if o.signer != nil {
				return e2e.Opened{}, o.fail(e2e.ErrMalformed, errors.New("signature inside a signature"))
			}
			if ent, err = s.verify(o, ent, params); err != nil {
				return e2e.Opened{}, err
			}
		case mtCPIM, mtPIDF, mtXMPP:
			return s.finish(o, ent)
		default:
			return e2e.Opened{}, o.fail(e2e.ErrMalformed, fmt.Errorf("media type %q", mt))
		}
	}
}

// parseOuter parses the payload: a MIME entity, or the bare base64 CMS
// object the RFC's own §3.3 examples show.
func (s *session) parseOuter(b []byte) (*entity, error) {
	line := b
	if i := bytes.Index(b, []byte("\r\n")); i >= 0 {
		line = b[:i]
	}
	if bytes.IndexByte(line, ':') < 0 {
		return &entity{
			fields: []field{{"Content-Type", "application/pkcs7-mime"}, {"Content-Transfer-Encoding", "base64"}},
			body:   b,
		}, nil
	}
	return parseEntity(b)
}

// decrypt opens an application/pkcs7-mime entity and parses the plaintext
// entity. Every failure is ErrDecrypt, except a missing local key.
func (s *session) decrypt(ent *entity, params map[string]string) (*entity, error) {
	if s.id == nil {
		return nil, fmt.Errorf("smime: %w: the session has no local identity to decrypt with", e2e.ErrNoKey)
	}
	switch t := strings.ToLower(params["smime-type"]); t {
	case "", "enveloped-data", "authenveloped-data":
	default:
		return nil, fmt.Errorf("smime: %w: unsupported smime-type %q", e2e.ErrMalformed, t)
	}
	der, err := transferDecode(ent)
	if err != nil {
		return nil, fmt.Errorf("smime: %w", e2e.ErrDecrypt)
	}
	plain, _, err := open(der, s.id.cert, s.id.key)
	if err != nil {
		return nil, fmt.Errorf("smime: %w", e2e.ErrDecrypt)
	}
	// OpenSSL's decrypted entity may start with MIME-Version and carry LF
	// line ends; canonicalise before parsing and verifying.
	inner, err := parseEntity(canonical(plain))
	if err != nil {
		return nil, fmt.Errorf("smime: %w", e2e.ErrDecrypt)
	}
	return inner, nil
}

// verify checks a multipart/signed entity and returns the signed entity.
func (s *session) verify(o *opening, ent *entity, params map[string]string) (*entity, error) {
	if p := strings.ToLower(params["protocol"]); p != "application/pkcs7-signature" && p != "application/x-pkcs7-signature" {
		return nil, o.fail(e2e.ErrMalformed, fmt.Errorf("multipart/signed protocol %q", p))
	}
	signed, sigPart, err := splitSigned(ent.body, params["boundary"])
	if err != nil {
		return nil, o.fail(e2e.ErrMalformed, err)
	}
	sigEnt, err := parseEntity(append(append([]byte(nil), sigPart...), "\r\n"...))
	if err != nil {
		return nil, o.fail(e2e.ErrMalformed, err)
	}
	if mt, _, err := sigEnt.mediaType(); err != nil || (mt != "application/pkcs7-signature" && mt != "application/x-pkcs7-signature") {
		return nil, o.fail(e2e.ErrMalformed, errors.New("second part is not a pkcs7-signature"))
	}
	der, err := transferDecode(sigEnt)
	if err != nil {
		return nil, o.fail(e2e.ErrBadSignature, err)
	}
	cert, chain, caps, err := verifyDetached(signed, der)
	if err != nil {
		return nil, o.fail(e2e.ErrBadSignature, err)
	}
	o.signer, o.chain, o.caps = cert, chain, caps
	inner, err := parseEntity(signed)
	if err != nil {
		return nil, o.fail(e2e.ErrMalformed, err)
	}
	return inner, nil
}

// verifyDetached verifies a detached SignedData over content with
// smallstep/pkcs7 (guarded against panics) and returns the signer's
// certificate, the other certificates of the SignedData, and the signer's
// smimeCapabilities.
func verifyDetached(content, der []byte) (cert *x509.Certificate, chain []*x509.Certificate, caps []asn1.ObjectIdentifier, err error) {
	defer func() {
		if r := recover(); r != nil {
			cert, chain, caps, err = nil, nil, nil, errors.New("signature does not parse")
		}
	}()
	if d, err := toDER(der); err == nil {
		der = d // BER (streamed) SignedData
	}
	if ct := contentType(der); ct == nil || !ct.Equal(oidSignedData) {
		return nil, nil, nil, errors.New("not a SignedData")
	}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return nil, nil, nil, errors.New("signature does not parse")
	}
	if len(p7.Signers) != 1 {
		return nil, nil, nil, errors.New("not exactly one signer")
	}
	if len(p7.Content) != 0 && !bytes.Equal(p7.Content, content) {
		return nil, nil, nil, errors.New("signature carries other content")
	}
	p7.Content = content
	if err := p7.Verify(); err != nil {
		return nil, nil, nil, errors.New("signature does not verify")
	}
	var ct asn1.ObjectIdentifier
	if err := p7.UnmarshalSignedAttribute(pkcs7.OIDAttributeContentType, &ct); err == nil && !ct.Equal(oidData) {
		return nil, nil, nil, errors.New("signed content type is not id-data")
	}
	cert = p7.GetOnlySigner()
	if cert == nil {
		return nil, nil, nil, errors.New("no signer certificate")
	}
	var raw asn1.RawValue
	if err := p7.UnmarshalSignedAttribute(oidSMIMECapabilities, &raw); err == nil {
		caps = parseCapabilities(raw.FullBytes)
	}
	for _, c := range p7.Certificates {
		if c != cert {
			chain = append(chain, c)
		}
	}
	return cert, chain, caps, nil
}

// finish parses the inner object and runs the checks that need it.
func (s *session) finish(o *opening, ent *entity) (e2e.Opened, error) {
	outer := o.outer
	if !o.encrypted && o.signer == nil && !s.cfg.AllowPlaintext {
		return e2e.Opened{}, fmt.Errorf("smime: %w: the payload is neither signed nor encrypted", e2e.ErrNotEncrypted)
	}
	if o.encrypted && o.signer == nil && !s.scheme.opts.AcceptUnsigned {
		return e2e.Opened{}, o.fail(e2e.ErrBadSignature, errors.New("encrypted but unsigned"))
	}
	var signer *Peer
	if o.signer != nil {
		var err error
		if signer, err = s.trust(o, outer.From); err != nil {
			return e2e.Opened{}, err
		}
	}
	in, err := parseInner(ent, outer)
	if err != nil {
		return e2e.Opened{}, o.fail(e2e.ErrMalformed, err)
	}
	// The protected addresses must be the stanza's: this stops a server or
	// a recipient from re-addressing a signed object to someone else.
	if !in.from.Equal(jid.JID{}) && !addrMatches(in.from, outer.From) {
		return e2e.Opened{}, o.fail(e2e.ErrBadSignature, fmt.Errorf("protected sender %s is not %s", in.from, outer.From))
	}
	if in.to != nil {
		ok := false
		for _, t := range in.to {
			ok = ok || addrMatches(t, outer.To)
		}
		if !ok {
			return e2e.Opened{}, o.fail(e2e.ErrBadSignature, fmt.Errorf("protected recipient is not %s", outer.To))
		}
	}
	if in.stanza.Kind != outer.Kind || !in.stanza.From.Equal(outer.From) || !in.stanza.To.Equal(outer.To) {
		return e2e.Opened{}, o.fail(e2e.ErrBadSignature, errors.New("protected stanza is addressed otherwise than the wire stanza"))
	}
	if !in.stamp.IsZero() {
		if err := s.fresh(o, in); err != nil {
			return e2e.Opened{}, err
		}
	}
	op := e2e.Opened{Stanza: in.stanza, Encrypted: o.encrypted}
	if signer != nil {
		op.Signer, op.Trusted = signer, true
	}
	return op, nil
}

// addrMatches compares a protected address with the stanza's: fully when
// the protected one has a resource, by bare JID otherwise.
func addrMatches(protected, wire jid.JID) bool {
	if protected.Resourcepart() != "" {
		return protected.Equal(wire)
	}
	return protected.Equal(wire.Bare())
}

// trust checks that the signer's certificate names the sender's bare JID
// and is pinned in Config.Peers, chains to a trust anchor in Config.Peers,
// or is approved by Config.Trust. It returns the Peer to report.
func (s *session) trust(o *opening, from jid.JID) (*Peer, error) {
	bare := from.Bare()
	named := false
	for _, j := range certJIDs(o.signer) {
		named = named || j.Equal(bare)
	}
	if !named {
		return nil, o.fail(e2e.ErrBadSignature, fmt.Errorf("the signer's certificate does not name %s", bare))
	}
	if !canSign(o.signer) {
		return nil, o.fail(e2e.ErrBadSignature, errors.New("the signer's certificate does not allow signing (keyUsage)"))
	}
	if !forEmail(o.signer) {
		return nil, o.fail(e2e.ErrBadSignature, errors.New("the signer's certificate is not for S/MIME (extKeyUsage)"))
	}
	candidate := peerOf(o.signer, o.chain)
	// Pinned: the key of a certificate in Config.Peers, for this JID.
	// Pinning trusts the key itself, so neither the validity dates nor the
	// rest of the certificate the signature carries matter.
	for _, p := range s.cfg.Peers {
		if sp, ok := p.(*Peer); ok && !sp.anchor() && sp.addr.Equal(bare) && sameKey(sp.certs[0], o.signer) {
			s.remember(bare, nil, o.caps)
			return sp, nil
		}
	}
	if len(s.anchors) > 0 {
		roots := x509.NewCertPool()
		for _, a := range s.anchors {
			roots.AddCert(a)
		}
		inter := x509.NewCertPool()
		for _, c := range o.chain {
			inter.AddCert(c)
		}
		_, err := o.signer.Verify(x509.VerifyOptions{
			Roots: roots, Intermediates: inter, CurrentTime: s.cfg.Now(),
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
		})
		if err == nil {
			s.remember(bare, candidate, o.caps)
			return candidate, nil
		}
	}
	if s.cfg.Trust != nil && s.cfg.Trust(bare, candidate) {
		s.remember(bare, candidate, o.caps)
		return candidate, nil
	}
	return nil, o.fail(e2e.ErrUntrustedKey, fmt.Errorf("the certificate of %s is neither pinned nor issued by a trusted CA", bare))
}

// remember stores what a verified signature taught: the signer's
// certificate (RFC 3923 §6.2) and whether it accepts AES-GCM.
func (s *session) remember(bare jid.JID, p *Peer, caps []asn1.ObjectIdentifier) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p != nil {
		s.learned[bare.String()] = p
	}
	if caps != nil {
		s.gcmPeers[bare.String()] = capsHaveGCM(caps)
	}
}

// fresh applies RFC 3923 §6.9: the timestamp must be within MaxSkew of the
// clock (ErrStale), and must not have been accepted before from the same
// sender (ErrReplay). Unlike the RFC's "greater than every timestamp of the
// last ten minutes", an older but unseen timestamp is accepted, so that
// stanzas reordered in transit still open.
func (s *session) fresh(o *opening, in *inner) error {
	now := s.cfg.Now()
	if d := in.stamp.Sub(now); d > MaxSkew || d < -MaxSkew {
		return o.fail(e2e.ErrStale, fmt.Errorf("timestamp %s is %v from the clock", in.stamp.UTC().Format(stampLayout), d.Round(time.Second)))
	}
	k := seenKey{from: in.stanza.From.String(), stamp: in.stamp.UnixNano()}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.seen[k]; dup {
		return o.fail(e2e.ErrReplay, nil)
	}
	if len(s.seen) >= maxSeen/2 {
		for sk, t := range s.seen {
			if now.Sub(t) > replayWindow {
				delete(s.seen, sk)
			}
		}
		if len(s.seen) >= maxSeen {
			return o.fail(e2e.ErrStale, errors.New("too many timestamps in the replay window"))
		}
	}
	s.seen[k] = in.stamp
	return nil
}

// canSign reports whether c's keyUsage extension, if present, allows
// S/MIME signatures: digitalSignature or nonRepudiation (RFC 8550 §4.4.2).
// Go reports an absent extension as no bits.
func canSign(c *x509.Certificate) bool {
	return c.KeyUsage == 0 || c.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) != 0
}

// forEmail reports whether c's extended key usage extension, if present,
// allows S/MIME: emailProtection or anyExtendedKeyUsage (RFC 8550 §4.4.4).
func forEmail(c *x509.Certificate) bool {
	if len(c.ExtKeyUsage) == 0 && len(c.UnknownExtKeyUsage) == 0 {
		return true
	}
	for _, u := range c.ExtKeyUsage {
		if u == x509.ExtKeyUsageEmailProtection || u == x509.ExtKeyUsageAny {
			return true
		}
	}
	return false
}

// canEncipher reports whether c's keyUsage extension, if present, allows
// RSA key transport: keyEncipherment (RFC 8550 §4.4.2).
func canEncipher(c *x509.Certificate) bool {
	return c.KeyUsage == 0 || c.KeyUsage&x509.KeyUsageKeyEncipherment != 0
}

// sameKey reports whether two certificates hold the same public key.
func sameKey(a, b *x509.Certificate) bool {
	k, ok := a.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b.PublicKey)
}
