package jose

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	josecipher "github.com/go-jose/go-jose/v4/cipher"
	"mellium.im/xmpp/jid"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// Session limits.
const (
	// MaxHeld bounds the stanzas a session holds while key requests are in
	// flight; more are ErrNoKey.
	MaxHeld = 256
	// MaxLearned bounds the SMKs a session keeps from key requests; the
	// oldest is forgotten first (a stanza under it asks again).
	MaxLearned = 1024
	// MaxNesting is how many sign/encrypt layers Receive opens inside each
	// other (-06 §6: at least one, "reasonable limits" beyond).
	MaxNesting = 4
	// replayCacheSoftLimit is the size at which the replay cache drops
	// entries whose timestamps are too old to be accepted anyway.
	replayCacheSoftLimit = 4096
)

// smkEntry is one row of the outbound key table (-07 §5): an SMK this
// session generated (or was given), its SID and recipient.
type smkEntry struct {
	sid       string
	key       []byte
	alg       string
	to        jid.JID // recipient bare JID; zero for a pre-placed key
	created   time.Time
	retired   time.Time // zero while the key is the current one for to
	uses      int
	preplaced bool

	encHdr, enc string       // cached encoded protected header and its enc
	aad         []byte       // encHdr as bytes (the AEAD's additional data)
	kek         cipher.Block // AES key-wrap cipher of key
}

// seal encrypts m under the SMK with a fresh CEK and IV; the encoded
// protected header, the same for every stanza under this SMK, and the
// key-wrap cipher are made once.
func (e *smkEntry) seal(rand io.Reader, enc string, m []byte) (compact, error) {
	if e.encHdr == "" || e.enc != enc {
		hdr, err := marshalJSON(jweHeader{Alg: e.alg, Enc: enc, Kid: e.sid})
		if err != nil {
			return nil, err
		}
		if e.kek, err = aes.NewCipher(e.key); err != nil {
			return nil, err
		}
		e.encHdr, e.enc = b64.EncodeToString(hdr), enc
		e.aad = []byte(e.encHdr)
	}
	n := cekSize(enc)
	if n == 0 {
		return nil, fmt.Errorf("jose: %w: content algorithm %q", e2e.ErrUnsupported, enc)
	}
	// One draw for the CEK and then the IV.
	rnd := make([]byte, n+nonceSize(enc))
	if _, err := io.ReadFull(rand, rnd); err != nil {
		return nil, err
	}
	cek, iv := rnd[:n:n], rnd[n:]
	ek, err := josecipher.KeyWrap(e.kek, cek)
	if err != nil {
		return nil, err
	}
	aead, err := newAEAD(enc, cek)
	if err != nil {
		return nil, err
	}
	return sealEncoded(e.encHdr, e.aad, enc, aead, ek, iv, m), nil
}

type inKey struct{ from, sid string }

// request is a key request this session sent and awaits.
type request struct {
	peer jid.JID // full JID the request went to (the stanza's sender)
	sid  string
	kid  string // kid of our offered key
}

// held is a wire stanza waiting for its SMK.
type held struct {
	st   *e2e.Stanza
	e    *e2e.Element
	keys []inKey // any of these SMKs opens it
}

// Session is a JOSE session; it implements e2e.Session and adds EncryptTo,
// EncryptGeneral and Rotate. It is safe for concurrent use.
type Session struct {
	o   Options
	cfg e2e.Config
	id  *Identity // nil for a verify-only session

	mu       sync.Mutex
	current  map[string]*smkEntry // recipient bare JID → current SMK
	bySID    map[string]*smkEntry // every outbound SMK still retained
	in       map[inKey]key        // SMKs learned by key request
	requests map[string]*request  // IQ id → outstanding key request
	held     []*held
	seen     map[string]time.Time // replay cache: layer id → its stamp
	last     map[string]time.Time // sender full JID → newest accepted stamp
	lastSent time.Time
	pruneAt  int // replay cache size that triggers the next sweep
	headers  map[string]protectedHeader
	// iqIDs maps an opened iq get/set (sender full JID, inner id) to the
	// id of the wire stanza that carried it, for the answer's outer id.
	iqIDs map[iqKey]string

	learnOrder []inKey // keys of in, oldest first
}

var _ e2e.Session = (*Session)(nil)

// NewSession starts a session for cfg.Local (an *Identity from this
// package, or nil for a session that only verifies and opens with keys it
// is given).
func (p *Profile) NewSession(cfg e2e.Config) (e2e.Session, error) {
	if p.err != nil {
		return nil, p.err
	}
	s := &Session{
		o: p.opts, cfg: cfg,
		current: map[string]*smkEntry{}, bySID: map[string]*smkEntry{},
		in: map[inKey]key{}, requests: map[string]*request{},
		seen: map[string]time.Time{}, last: map[string]time.Time{},
		headers: map[string]protectedHeader{}, iqIDs: map[iqKey]string{},
	}
	if cfg.Local != nil {
		id, ok := cfg.Local.(*Identity)
		if !ok {
			return nil, fmt.Errorf("jose: %w: identity of type %T is not a JOSE identity", e2e.ErrUnsupported, cfg.Local)
		}
		s.id = id
		if cfg.JID.Equal(jid.JID{}) {
			s.cfg.JID = id.JID()
		}
	}
	for _, pr := range cfg.Peers {
		if _, ok := pr.(*Peer); !ok {
			return nil, fmt.Errorf("jose: %w: peer of type %T is not a JOSE peer", e2e.ErrUnsupported, pr)
		}
	}
	return s, nil
}

func (s *Session) random() io.Reader { return s.cfg.Random() }

// newID returns a fresh stanza id different from avoid.
func (s *Session) newID(avoid string) (string, error) {
	for {
		var b [12]byte
		if _, err := io.ReadFull(s.random(), b[:]); err != nil {
			return "", err
		}
		if id := b64.EncodeToString(b[:]); id != avoid {
			return id, nil
		}
	}
}

// newSID returns a random UUID (version 4), the SID form of the draft's
// examples. It is not derived from the SMK.
func (s *Session) newSID() (string, error) {
	var u [16]byte
	if _, err := io.ReadFull(s.random(), u[:]); err != nil {
		return "", err
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]), nil
}

// stamp returns the timestamp of the next outbound stanza: the clock in
// milliseconds, strictly after the previous one (-06 §7).
func (s *Session) stamp() time.Time {
	now := s.cfg.Now().UTC().Truncate(time.Millisecond)
	if !now.After(s.lastSent) {
		now = s.lastSent.Add(time.Millisecond)
	}
	s.lastSent = now
	return now
}

// smkFor returns the SMK for stanzas to the bare JID to, generating or
// rotating it as Options say. A pre-placed SMK in the identity is used for
// every recipient.
func (s *Session) smkFor(to jid.JID, now time.Time) (*smkEntry, error) {
	if s.id != nil && len(s.id.smks) > 0 {
		k := s.id.smks[0]
		e := s.bySID[k.KeyID]
		if e == nil {
			e = &smkEntry{sid: k.KeyID, key: k.Key.([]byte), alg: allowedAlgs(k, forKeyWrap)[0], created: now, preplaced: true}
			s.bySID[e.sid] = e
		}
		return e, nil
	}
	if len(s.cfg.PeersFor(to)) == 0 && s.cfg.Trust == nil {
		return nil, fmt.Errorf("jose: %w: no key of %s in Config.Peers to release an SMK to", e2e.ErrNoKey, to)
	}
	s.expire(now)
	e := s.current[to.String()]
	if e != nil && now.Sub(e.created) < s.o.SMKLifetime && (s.o.SMKMaxStanzas == 0 || e.uses < s.o.SMKMaxStanzas) {
		return e, nil
	}
	if e != nil {
		e.retired = now
	}
	sid, err := s.newSID()
	if err != nil {
		return nil, err
	}
	n := 32
	if s.o.KeyWrap == "A128KW" {
		n = 16
	}
	k := make([]byte, n)
	if _, err := io.ReadFull(s.random(), k); err != nil {
		return nil, err
	}
	e = &smkEntry{sid: sid, key: k, alg: s.o.KeyWrap, to: to, created: now}
	s.current[to.String()] = e
	s.bySID[sid] = e
	return e, nil
}

// expire forgets SMKs retired longer than SMKRetention ago.
func (s *Session) expire(now time.Time) {
	for sid, e := range s.bySID {
		if !e.retired.IsZero() && now.Sub(e.retired) > s.o.SMKRetention {
			delete(s.bySID, sid)
		}
	}
}

// Rotate retires the current SMK for the bare JID of to; the next stanza
// to it gets a new SMK and SID.
func (s *Session) Rotate(to jid.JID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.current[to.Bare().String()]; e != nil {
		e.retired = s.cfg.Now()
		delete(s.current, to.Bare().String())
	}
}

// prepare copies st and stamps its from address.
func (s *Session) prepare(st *e2e.Stanza) (*e2e.Stanza, error) {
	if st == nil {
		return nil, fmt.Errorf("jose: %w: nil stanza", e2e.ErrMalformed)
	}
	st = st.Clone()
	if st.From.Equal(jid.JID{}) {
		st.From = s.cfg.JID
	}
	return st, nil
}

// Encrypt encrypts st for st.To under the SMK of that bare JID (-06 §3.2):
// the whole stanza in a <forwarded/> envelope with a <delay/> stamp, a JWE
// with a fresh CEK wrapped by the SMK, split into <e2e type='enc'/>. With
// Config.Sign the stanza is signed first and the signed stanza encrypted.
// Undirected presence is ErrUnsupported (-06 §8).
func (s *Session) Encrypt(ctx context.Context, st *e2e.Stanza) ([]*e2e.Stanza, error) {
	st, err := s.prepare(st)
	if err != nil {
		return nil, err
	}
	if st.To.Equal(jid.JID{}) {
		if st.Kind == e2e.Presence {
			return nil, fmt.Errorf("jose: %w: undirected presence is not encrypted (-06 §8)", e2e.ErrUnsupported)
		}
		return nil, fmt.Errorf("jose: %w: stanza without a recipient", e2e.ErrNoKey)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.encrypt(st)
}

func (s *Session) encrypt(st *e2e.Stanza) ([]*e2e.Stanza, error) {
	inner := st
	if s.cfg.Sign {
		signed, err := s.sign(st)
		if err != nil {
			return nil, err
		}
		inner = signed
	}
	now := s.stamp()
	e, err := s.smkFor(st.To.Bare(), now)
	if err != nil {
		return nil, err
	}
	c, err := e.seal(s.random(), s.o.Content, envelope(inner, now))
	if err != nil {
		return nil, err
	}
	e.uses++
	out, err := s.outer(st)
	if err != nil {
		return nil, err
	}
	out.Children = []*e2e.Element{partsElement("e2e", [][2]string{{"type", "enc"}, {"id", e.sid}}, jweParts, c)}
	s.answerID(st, out)
	return []*e2e.Stanza{out}, nil
}

type iqKey struct{ peer, id string }

// maxIQIDs bounds the iq ids a session remembers for its answers.
const maxIQIDs = 1024

// noteIQ remembers the wire id of an opened iq get or set: the answer's
// wire stanza must carry it (RFC 6120 §8.2.3), while the inner answer keeps
// the inner id and the two differ (-06 §3.2.2 step 9).
func (s *Session) noteIQ(wire *e2e.Stanza, op *e2e.Opened) {
	in := op.Stanza
	if in.Kind != e2e.IQ || in.Type != "get" && in.Type != "set" || wire.ID == "" {
		return
	}
	if len(s.iqIDs) >= maxIQIDs {
		clear(s.iqIDs)
	}
	s.iqIDs[iqKey{wire.From.String(), in.ID}] = wire.ID
}

// answerID sets the id of out, the outermost wire stanza for st, to the
// wire id of the request st answers, when st is an iq result or error to
// a request this session opened.
func (s *Session) answerID(st, out *e2e.Stanza) {
	if st.Kind != e2e.IQ || st.Type != "result" && st.Type != "error" {
		return
	}
	k := iqKey{st.To.String(), st.ID}
	if id, ok := s.iqIDs[k]; ok && id != st.ID {
		out.ID = id
		delete(s.iqIDs, k)
	}
}

// outer returns the wire stanza for st: same kind, type and addressing, a
// new id. An encrypted iq error travels as type='result' (-06 §3.3).
func (s *Session) outer(st *e2e.Stanza) (*e2e.Stanza, error) {
	id, err := s.newID(st.ID)
	if err != nil {
		return nil, err
	}
	out := &e2e.Stanza{Kind: st.Kind, NS: st.NS, From: st.From, To: st.To, Type: st.Type, ID: id}
	if st.Kind == e2e.IQ && st.Type == "error" {
		out.Type = "result"
	}
	return out, nil
}

// EncryptTo encrypts st once for each recipient, as the draft means
// multiple recipients: each stanza under that recipient's own SMK and SID.
func (s *Session) EncryptTo(ctx context.Context, st *e2e.Stanza, to []jid.JID) ([]*e2e.Stanza, error) {
	var out []*e2e.Stanza
	for _, r := range to {
		c := st.Clone()
		c.To = r
		w, err := s.Encrypt(ctx, c)
		if err != nil {
			return nil, err
		}
		out = append(out, w...)
	}
	return out, nil
}

// Sign signs st (-06 §4): the envelope as the payload of a compact JWS with
// the identity's RSA key, "kid" the signer's bare JID, in <e2e type='sig'/>.
func (s *Session) Sign(ctx context.Context, st *e2e.Stanza) ([]*e2e.Stanza, error) {
	st, err := s.prepare(st)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out, err := s.sign(st)
	if err != nil {
		return nil, err
	}
	s.answerID(st, out)
	return []*e2e.Stanza{out}, nil
}

func (s *Session) sign(st *e2e.Stanza) (*e2e.Stanza, error) {
	if s.id == nil || s.id.rsaKey() == nil {
		return nil, fmt.Errorf("jose: %w: no signing key", e2e.ErrNoKey)
	}
	c, err := signCompact(s.o.Signature, s.id.priv.KeyID, s.id.rsaKey(), envelope(st, s.stamp()))
	if err != nil {
		return nil, err
	}
	out, err := s.outer(st)
	if err != nil {
		return nil, err
	}
	out.Children = []*e2e.Element{partsElement("e2e", [][2]string{{"type", "sig"}}, jwsParts, c)}
	return out, nil
}

// Close forgets the stanzas still waiting for keys and the outstanding key
// requests. It returns the error answers (<insufficient-information/>)
// owed to the held iq gets and sets; it sends nothing else.
func (s *Session) Close(ctx context.Context) ([]*e2e.Stanza, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*e2e.Stanza
	for _, h := range s.held {
		out = append(out, iqAnswer(h.st, e2e.ErrNoKey)...)
	}
	s.held, s.requests = nil, map[string]*request{}
	return out, nil
}

// Receive handles one inbound stanza: it opens <e2e type='enc'/> (asking the
// sender for the SMK first when it lacks it: the stanza is held and comes
// out in the Opened of the Receive that gets the key), verifies
// <e2e type='sig'/>, and answers and consumes <keyreq/> IQs.
func (s *Session) Receive(ctx context.Context, st *e2e.Stanza) (e2e.Received, error) {
	if st == nil {
		return e2e.Received{}, fmt.Errorf("jose: %w: nil stanza", e2e.ErrMalformed)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st.Kind == e2e.IQ {
		if kr := st.Child(NS, "keyreq"); kr != nil {
			return s.keyreq(st, kr)
		}
	}
	if st.Type == "error" {
		return s.peerError(st)
	}
	var e *e2e.Element
	for _, c := range st.Children {
		if c.Name.Space == NS && c.Name.Local == "e2e" {
			if e != nil {
				err := fmt.Errorf("jose: %w: more than one <e2e/>", e2e.ErrMalformed)
				return e2e.Received{Replies: iqAnswer(st, err)}, err
			}
			e = c
		}
	}
	if e == nil {
		if s.cfg.AllowPlaintext {
			return e2e.Received{Opened: []e2e.Opened{{Stanza: st.Clone()}}}, nil
		}
		return e2e.Received{}, fmt.Errorf("jose: %w: no <e2e/> in the stanza", e2e.ErrNotEncrypted)
	}
	op, replies, err := s.open(st, e, 0, nil, true)
	if err != nil {
		// An iq get or set MUST be answered (-06 §3.3.1, RFC 6120 §8.2.3).
		return e2e.Received{Replies: iqAnswer(st, err)}, err
	}
	r := e2e.Received{Replies: replies}
	if op != nil {
		s.noteIQ(st, op)
		r.Opened = []e2e.Opened{*op}
	}
	return r, nil
}

// iqAnswer is the error reply owed to an iq get or set that failed with
// err (none for other stanzas, and none for replays: ErrorReply).
func iqAnswer(st *e2e.Stanza, err error) []*e2e.Stanza {
	if st.Kind != e2e.IQ || st.Type != "get" && st.Type != "set" {
		return nil
	}
	if rep := ErrorReply(st, err); rep != nil {
		return []*e2e.Stanza{rep}
	}
	return nil
}

// pendingCheck is what an opened layer leaves to record once every layer
// of the stanza is accepted.
type pendingCheck struct {
	from  string
	key   string
	stamp time.Time
}

// open opens one <e2e/> layer of st. It returns a nil Opened and maybe key
// request replies when the stanza is held for its SMK.
func (s *Session) open(st *e2e.Stanza, e *e2e.Element, depth int, checks []pendingCheck, checkTo bool) (*e2e.Opened, []*e2e.Stanza, error) {
	typ, _ := e.AttrValue("type")
	switch typ {
	case "enc":
		if s.o.GeneralJSON && e.Child(NSGeneral, "general") != nil {
			return s.openGeneral(st, e, depth, checks)
		}
		c, err := readParts(e, jweParts)
		if err != nil {
			return nil, nil, err
		}
		sid, _ := e.AttrValue("id")
		h, err := s.header(c[0])
		if err != nil {
			return nil, nil, err
		}
		if sid == "" || h.Kid != sid {
			return nil, nil, fmt.Errorf("jose: %w: header kid %q does not name the SID %q", e2e.ErrMalformed, h.Kid, sid)
		}
		ik := inKey{st.From.String(), sid}
		k, ok := s.smk(ik)
		if !ok && s.sidOfOther(ik) {
			return nil, nil, fmt.Errorf("jose: %w: SID %q belongs to another sender than %s", e2e.ErrBadSignature, sid, st.From)
		}
		if !ok {
			if depth > 0 {
				return nil, nil, fmt.Errorf("jose: %w: nested layer under unknown SID %q", e2e.ErrNoKey, sid)
			}
			replies, err := s.hold(st, e, []inKey{ik})
			return nil, replies, err
		}
		pt, err := openParsed(c, h, k)
		if err != nil {
			return nil, nil, err
		}
		return s.finish(st, pt, "enc:"+sid+"."+c[1], true, nil, depth, checks, checkTo)
	case "sig":
		c, err := readParts(e, jwsParts)
		if err != nil {
			return nil, nil, err
		}
		h, err := parseProtected(c[0], false)
		if err != nil {
			return nil, nil, err
		}
		peers := s.cfg.PeersFor(st.From)
		if len(peers) == 0 {
			// Not the sender's key: the key the header names, if pinned,
			// to tell a misattributed signature from an unknown signer.
			if kj := kidJID(h.Kid); !kj.Equal(jid.JID{}) {
				peers = s.cfg.PeersFor(kj)
			}
		}
		if len(peers) == 0 {
			return nil, nil, fmt.Errorf("jose: %w: no signature key for %s (insufficient-information)", e2e.ErrNoKey, st.From.Bare())
		}
		for _, p := range peers {
			_, payload, verr := verifyCompact(c, p.(*Peer).key)
			if verr == nil {
				if !p.JID().Equal(st.From.Bare()) {
					return nil, nil, fmt.Errorf("jose: %w: signed by %s, sent as %s", e2e.ErrBadSignature, p.JID(), st.From)
				}
				return s.finish(st, payload, "sig:"+c[2], false, p, depth, checks, checkTo)
			}
			err = verr
		}
		return nil, nil, err
	}
	return nil, nil, fmt.Errorf("jose: %w: <e2e type=%q/>", e2e.ErrMalformed, typ)
}

// header parses a JWE protected header through a small cache: under one SMK
// every stanza carries the same header.
func (s *Session) header(enc string) (protectedHeader, error) {
	if h, ok := s.headers[enc]; ok {
		return h, nil
	}
	h, err := parseProtected(enc, true)
	if err != nil {
		return h, err
	}
	if len(s.headers) >= 64 {
		clear(s.headers)
	}
	s.headers[enc] = h
	return h, nil
}

// smk finds an inbound SMK: one learned from that sender, or a pre-placed
// one of the identity.
func (s *Session) smk(ik inKey) (key, bool) {
	if k, ok := s.in[ik]; ok {
		return k, true
	}
	if s.id != nil {
		for _, k := range s.id.smks {
			if k.KeyID == ik.sid {
				return k, true
			}
		}
	}
	return key{}, false
}

// learn stores an SMK received by key request. The table keeps the
// MaxLearned most recent keys: senders rotate, and a session must not grow
// without bound.
func (s *Session) learn(ik inKey, k key) {
	if _, ok := s.in[ik]; !ok {
		s.learnOrder = append(s.learnOrder, ik)
	}
	s.in[ik] = withKEK(k)
	for len(s.learnOrder) > MaxLearned {
		delete(s.in, s.learnOrder[0])
		s.learnOrder = s.learnOrder[1:]
	}
}

// sidOfOther reports whether an SMK named ik.sid is known from another
// sender. SIDs are random and unique per generator, so a known SID under a
// new sender address is a rewritten from attribute, not a new key.
func (s *Session) sidOfOther(ik inKey) bool {
	for k := range s.in {
		if k.sid == ik.sid && k.from != ik.from {
			return true
		}
	}
	return false
}

// finish checks a decrypted or verified envelope against its outer stanza:
// addresses, replay, timestamp; opens nested layers; and records the layer
// once everything is accepted.
func (s *Session) finish(outer *e2e.Stanza, m []byte, layer string, encrypted bool, signer e2e.Peer, depth int, checks []pendingCheck, checkTo bool) (*e2e.Opened, []*e2e.Stanza, error) {
	inner, ts, err := parseEnvelope(m)
	if err != nil {
		return nil, nil, err
	}
	if inner.Kind != outer.Kind {
		return nil, nil, fmt.Errorf("jose: %w: <%s/> inside <%s/>", e2e.ErrBadSignature, inner.Kind, outer.Kind)
	}
	if !inner.From.Equal(outer.From) && !(inner.From.Equal(inner.From.Bare()) && inner.From.Equal(outer.From.Bare())) {
		return nil, nil, fmt.Errorf("jose: %w: inner from %q is not the sender %q", e2e.ErrBadSignature, inner.From, outer.From)
	}
	if checkTo && !inner.To.Equal(jid.JID{}) && !s.cfg.JID.Equal(jid.JID{}) && !inner.To.Bare().Equal(s.cfg.JID.Bare()) {
		return nil, nil, fmt.Errorf("jose: %w: stanza protected for %q, not for us", e2e.ErrBadSignature, inner.To)
	}
	if _, dup := s.seen[layer]; dup {
		return nil, nil, fmt.Errorf("jose: %w", e2e.ErrReplay)
	}
	for _, c := range checks {
		if c.key == layer {
			return nil, nil, fmt.Errorf("jose: %w: layer nested in itself", e2e.ErrReplay)
		}
	}
	if err := s.checkStamp(outer, ts); err != nil {
		return nil, nil, err
	}
	checks = append(checks, pendingCheck{outer.From.String(), layer, ts})
	if depth+1 < MaxNesting {
		if ne := inner.Child(NS, "e2e"); ne != nil {
			op, _, err := s.open(inner, ne, depth+1, checks, checkTo)
			if err != nil {
				return nil, nil, err
			}
			op.Encrypted = op.Encrypted || encrypted
			if op.Signer == nil && signer != nil {
				op.Signer, op.Trusted = signer, true
			}
			return op, nil, nil
		}
	}
	for _, c := range checks {
		s.seen[c.key] = c.stamp
		if c.stamp.After(s.last[c.from]) {
			s.last[c.from] = c.stamp
		}
	}
	s.pruneSeen()
	return &e2e.Opened{Stanza: inner, Encrypted: encrypted, Signer: signer, Trusted: signer != nil}, nil, nil
}

// checkStamp applies -06 §7: within Window of the reference time (the
// server's XEP-0203 delay on the outer stanza for offline delivery, else
// the clock) and newer than every stamp accepted from that sender.
func (s *Session) checkStamp(outer *e2e.Stanza, ts time.Time) error {
	now := s.cfg.Now()
	ref := now
	if d := outer.Child(nsDelay, "delay"); d != nil {
		if v, ok := d.AttrValue("stamp"); ok {
			if t, err := parseStamp(v); err == nil && !t.After(now) {
				ref = t
			}
		}
	}
	if diff := ts.Sub(ref); diff > s.o.Window || diff < -s.o.Window {
		return fmt.Errorf("jose: %w: timestamp %s is %s away from %s (bad-timestamp)", e2e.ErrStale, ts.Format(stampFormat), diff.Round(time.Second), ref.UTC().Format(stampFormat))
	}
	if last, ok := s.last[outer.From.String()]; ok && !ts.After(last) {
		return fmt.Errorf("jose: %w: decreasing timestamp %s (newest accepted %s)", e2e.ErrStale, ts.Format(stampFormat), last.Format(stampFormat))
	}
	return nil
}

// pruneSeen drops replay-cache entries that the timestamp checks reject on
// their own: older than the newest stamp of their sender by more than the
// window. (A replay of them fails as stale or decreasing.)
func (s *Session) pruneSeen() {
	if len(s.seen) < max(replayCacheSoftLimit, s.pruneAt) {
		return
	}
	cut := s.cfg.Now().Add(-2 * s.o.Window)
	for k, t := range s.seen {
		if t.Before(cut) {
			delete(s.seen, k)
		}
	}
	s.pruneAt = 2 * len(s.seen) // amortized: the next sweep waits for as many new entries

}

// hold keeps st until one of keys arrives, and asks the sender for the SMK
// (one request per SMK) with this device's public key (-06 §5.1).
func (s *Session) hold(st *e2e.Stanza, e *e2e.Element, keys []inKey) ([]*e2e.Stanza, error) {
	if st.From.Equal(jid.JID{}) {
		return nil, fmt.Errorf("jose: %w: encrypted stanza without a sender to ask for the SMK", e2e.ErrNoKey)
	}
	if len(s.held) >= MaxHeld {
		return nil, fmt.Errorf("jose: %w: %d stanzas already wait for keys", e2e.ErrNoKey, len(s.held))
	}
	if s.id == nil || s.id.rsaKey() == nil {
		return nil, fmt.Errorf("jose: %w: no SMK for SID %q and no device key to request it", e2e.ErrNoKey, keys[0].sid)
	}
	if len(s.cfg.PeersFor(st.From)) == 0 && s.cfg.Trust == nil {
		// Our device key and full JID go only to senders we know: a
		// stanza from anyone must not make us announce them.
		return nil, fmt.Errorf("jose: %w: no SMK for SID %q, and %s is not a known peer to ask", e2e.ErrNoKey, keys[0].sid, st.From.Bare())
	}
	var replies []*e2e.Stanza
	for _, ik := range keys {
		if s.requested(ik) {
			continue
		}
		iq, err := s.keyRequest(st.From, ik.sid)
		if err != nil {
			return nil, err
		}
		replies = append(replies, iq)
	}
	s.held = append(s.held, &held{st: st.Clone(), e: e.Clone(), keys: keys})
	return replies, nil
}

func (s *Session) requested(ik inKey) bool {
	for _, r := range s.requests {
		if r.peer.String() == ik.from && r.sid == ik.sid {
			return true
		}
	}
	return false
}

// offeredKey is this device's public key as sent in <pkey/>: "kid" is the
// device's full JID, as in the draft's example.
func (s *Session) offeredKey() key {
	dev := s.id.device()
	pub := dev.Public()
	pub.KeyID = s.cfg.JID.String()
	pub.Use = "enc"
	return key{JSONWebKey: pub}
}

func (s *Session) keyRequest(to jid.JID, sid string) (*e2e.Stanza, error) {
	id, err := s.newID("")
	if err != nil {
		return nil, err
	}
	k := s.offeredKey()
	set, err := marshalJSON(struct {
		Keys []any `json:"keys"`
	}{[]any{k.JSONWebKey}})
	if err != nil {
		return nil, err
	}
	kr := e2e.NewElement(NS, "keyreq", "")
	kr.SetAttr("id", sid)
	kr.AppendChild(e2e.NewElement(NS, "pkey", b64.EncodeToString(set)))
	s.requests[id] = &request{peer: to, sid: sid, kid: k.KeyID}
	return &e2e.Stanza{Kind: e2e.IQ, Type: "get", ID: id, From: s.cfg.JID, To: to, Children: []*e2e.Element{kr}}, nil
}

// keyreq dispatches a <keyreq/> IQ.
func (s *Session) keyreq(st *e2e.Stanza, kr *e2e.Element) (e2e.Received, error) {
	switch st.Type {
	case "get":
		reply, err := s.answer(st, kr)
		if err != nil {
			return e2e.Received{}, err
		}
		return e2e.Received{Replies: []*e2e.Stanza{reply}}, nil
	case "result":
		return s.keyResponse(st, kr)
	case "error":
		return s.keyRefused(st, kr)
	case "set":
		// -06 §5.1 sends the request as a get. An iq set MUST still be
		// answered (RFC 6120 §8.2.3).
		if st.ID != "" && !st.From.Equal(jid.JID{}) {
			return e2e.Received{Replies: []*e2e.Stanza{iqError(st, kr, "modify", "bad-request")}},
				fmt.Errorf("jose: %w: <keyreq/> in an iq of type set", e2e.ErrMalformed)
		}
	}
	return e2e.Received{}, fmt.Errorf("jose: %w: <keyreq/> in an iq of type %q", e2e.ErrMalformed, st.Type)
}

// iqError answers the request st with an error of condition cond.
func iqError(st *e2e.Stanza, kr *e2e.Element, typ, cond string) *e2e.Stanza {
	echo := e2e.NewElement(NS, "keyreq", "")
	if sid, ok := kr.AttrValue("id"); ok {
		echo.SetAttr("id", sid)
	}
	return &e2e.Stanza{Kind: e2e.IQ, NS: st.NS, Type: "error", ID: st.ID, From: st.To, To: st.From,
		Children: []*e2e.Element{echo, errorElement(nsOf(st), typ, cond, "")}}
}

func nsOf(st *e2e.Stanza) string {
	if st.NS == "" {
		return e2e.NSClient
	}
	return st.NS
}

// answer decides a key request (-06 §5.2 with the -07 rule): the SID must
// be one of ours, still retained, generated for the requester's bare JID,
// and one offered key must be an RSA key trusted for the requester (pinned
// in Config.Peers or approved by Config.Trust). Then the SMK goes out as a
// JWK in a JWE to that key; otherwise <forbidden/>, <item-not-found/> or
// <not-acceptable/>.
func (s *Session) answer(st *e2e.Stanza, kr *e2e.Element) (*e2e.Stanza, error) {
	sid, _ := kr.AttrValue("id")
	if st.ID == "" || st.From.Equal(jid.JID{}) {
		return nil, fmt.Errorf("jose: %w: key request without id or sender", e2e.ErrMalformed)
	}
	if !st.To.Equal(jid.JID{}) && !s.cfg.JID.Equal(jid.JID{}) && !st.To.Equal(s.cfg.JID) && !st.To.Equal(s.cfg.JID.Bare()) {
		return nil, fmt.Errorf("jose: %w: key request addressed to %s, not to us", e2e.ErrMalformed, st.To)
	}
	if sid == "" {
		// -06 §5.1 step 2: the SID is required; the get is still answered.
		return iqError(st, kr, "modify", "bad-request"), nil
	}
	pk := kr.Child(NS, "pkey")
	if pk == nil {
		return iqError(st, kr, "modify", "bad-request"), nil
	}
	txt, err := b64Text(pk.Text())
	if err != nil {
		return iqError(st, kr, "modify", "bad-request"), nil
	}
	raw, err := b64.DecodeString(txt)
	if err != nil {
		return iqError(st, kr, "modify", "bad-request"), nil
	}
	keys, err := parseKeySet(raw, false, true)
	if err != nil {
		return iqError(st, kr, "modify", "not-acceptable"), nil
	}
	s.expire(s.cfg.Now())
	e := s.bySID[sid]
	if e == nil {
		return iqError(st, kr, "cancel", "item-not-found"), nil
	}
	if e.preplaced || !e.to.Equal(st.From.Bare()) {
		return iqError(st, kr, "auth", "forbidden"), nil
	}
	usable := false
	for _, k := range keys {
		pub, ok := k.Key.(*rsa.PublicKey)
		if !ok {
			continue
		}
		algs := allowedAlgs(k, forKeyWrap)
		alg := s.o.KeyTransport
		if !slices.Contains(algs, alg) {
			alg = ""
			for _, a := range []string{"RSA-OAEP-256", "RSA-OAEP"} {
				if slices.Contains(algs, a) {
					alg = a
				}
			}
			if alg == "" {
				continue
			}
		}
		usable = true
		if !s.trusts(st.From, k) {
			continue
		}
		payload, err := marshalJSON(smkJWK{Kty: "oct", Kid: e.sid, K: b64.EncodeToString(e.key), Alg: e.alg, Use: "enc"})
		if err != nil {
			return nil, err
		}
		c, err := sealCompact(s.random(), jweHeader{Alg: alg, Enc: s.o.Content, Kid: k.KeyID, Cty: "application/jwk+json"}, pub, payload)
		if err != nil {
			return nil, err
		}
		resp := partsElement("keyreq", [][2]string{{"id", sid}}, jweParts, c)
		return &e2e.Stanza{Kind: e2e.IQ, NS: st.NS, Type: "result", ID: st.ID, From: s.cfg.JID, To: st.From, Children: []*e2e.Element{resp}}, nil
	}
	if usable {
		return iqError(st, kr, "auth", "forbidden"), nil
	}
	return iqError(st, kr, "modify", "not-acceptable"), nil
}

// trusts applies the -07 rule to an offered device key: one of the keys of
// a peer pinned in Config.Peers for the requester's bare JID (or for no
// JID), or approved by Config.Trust.
func (s *Session) trusts(from jid.JID, k key) bool {
	for _, q := range s.cfg.Peers {
		p := q.(*Peer)
		if (p.addr.Equal(jid.JID{}) || p.addr.Equal(from.Bare())) && p.holds(k) {
			return true
		}
	}
	return s.cfg.Trust != nil && s.cfg.Trust(from, &Peer{addr: from.Bare(), key: k})
}

// smkJWK is the SMK as -07 §8.2 writes it.
type smkJWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	K   string `json:"k"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
}

// keyResponse takes the SMK from the answer to one of our requests and
// opens the stanzas that waited for it.
func (s *Session) keyResponse(st *e2e.Stanza, kr *e2e.Element) (e2e.Received, error) {
	req := s.requests[st.ID]
	sid, _ := kr.AttrValue("id")
	if req == nil || !st.From.Equal(req.peer) || sid != req.sid {
		return e2e.Received{}, fmt.Errorf("jose: %w: unsolicited key response", e2e.ErrMalformed)
	}
	c, err := readParts(kr, jweParts)
	if err != nil {
		return e2e.Received{}, err
	}
	dev := s.id.device()
	dev.Use = "enc"
	h, pt, err := openCompact(c, dev)
	if err != nil {
		return e2e.Received{}, err
	}
	if h.Kid != "" && h.Kid != req.kid {
		return e2e.Received{}, fmt.Errorf("jose: %w: key response for key %q, we offered %q", e2e.ErrMalformed, h.Kid, req.kid)
	}
	if ct := strings.ToLower(h.Cty); ct != "application/jwk+json" && ct != "jwk+json" {
		return e2e.Received{}, fmt.Errorf("jose: %w: key response of content type %q", e2e.ErrMalformed, h.Cty)
	}
	k, err := parseKey(pt, false)
	if err != nil {
		return e2e.Received{}, err
	}
	if b, ok := k.Key.([]byte); !ok || k.KeyID != sid || wrapAlgFor(len(b)) == "" || len(allowedAlgs(k, forKeyWrap)) == 0 {
		return e2e.Received{}, fmt.Errorf("jose: %w: key response is not an SMK for SID %q", e2e.ErrMalformed, sid)
	}
	ik := inKey{req.peer.String(), sid}
	s.learn(ik, k)
	delete(s.requests, st.ID)
	return s.release(ik), nil
}

// release opens every held stanza that ik opens. A held stanza that fails
// now is answered with the draft's error stanza to its sender.
func (s *Session) release(ik inKey) e2e.Received {
	var r e2e.Received
	kept := s.held[:0]
	var ready []*held
	for _, h := range s.held {
		if slices.Contains(h.keys, ik) {
			ready = append(ready, h)
		} else {
			kept = append(kept, h)
		}
	}
	s.held = kept
	for _, h := range ready {
		op, replies, err := s.open(h.st, h.e, 0, nil, true)
		r.Replies = append(r.Replies, replies...)
		switch {
		case err != nil:
			if rep := ErrorReply(h.st, err); rep != nil {
				r.Replies = append(r.Replies, rep)
			}
		case op != nil:
			s.noteIQ(h.st, op)
			r.Opened = append(r.Opened, *op)
		}
	}
	return r
}

// keyRefused handles an error answer to one of our key requests: the
// stanzas that can now never open are dropped and reported in the error.
func (s *Session) keyRefused(st *e2e.Stanza, kr *e2e.Element) (e2e.Received, error) {
	req := s.requests[st.ID]
	if req == nil || !st.From.Equal(req.peer) {
		return e2e.Received{}, fmt.Errorf("jose: %w: unsolicited key request error", e2e.ErrMalformed)
	}
	delete(s.requests, st.ID)
	ik := inKey{req.peer.String(), req.sid}
	cond, _ := stanzaError(st)
	class := e2e.ErrNoKey
	if cond == "forbidden" {
		class = e2e.ErrUntrustedKey
	}
	dropped := 0
	var replies []*e2e.Stanza
	kept := s.held[:0]
	for _, h := range s.held {
		if slices.Contains(h.keys, ik) {
			h.keys = slices.DeleteFunc(slices.Clone(h.keys), func(k inKey) bool { return k == ik })
			if !s.anyRequested(h.keys) {
				dropped++
				// A held iq get or set still owes its sender an answer.
				replies = append(replies, iqAnswer(h.st, class)...)
				continue
			}
		}
		kept = append(kept, h)
	}
	s.held = kept
	if dropped == 0 {
		// Nothing lost: another request (General JSON asks for every
		// SID) may still bring the key.
		return e2e.Received{}, nil
	}
	return e2e.Received{Replies: replies}, fmt.Errorf("jose: %w: %s refused the SMK for SID %q (%s); %d held stanza(s) cannot be opened", class, req.peer, req.sid, cond, dropped)
}

func (s *Session) anyRequested(keys []inKey) bool {
	for _, k := range keys {
		if s.requested(k) {
			return true
		}
	}
	return false
}

// peerError reports an error stanza: one carrying the draft's application
// conditions is the peer telling us our stanza failed.
func (s *Session) peerError(st *e2e.Stanza) (e2e.Received, error) {
	cond, app := stanzaError(st)
	var class error
	switch app {
	case CondDecryptionFailed:
		class = e2e.ErrDecrypt
	case CondVerificationFailed:
		class = e2e.ErrBadSignature
	case CondBadTimestamp:
		class = e2e.ErrStale
	case CondInsufficientInformation:
		class = e2e.ErrNoKey
	}
	if class != nil {
		return e2e.Received{}, fmt.Errorf("jose: %w: %s reports %s (%s) for our stanza %q", class, st.From, app, cond, st.ID)
	}
	if s.cfg.AllowPlaintext {
		return e2e.Received{Opened: []e2e.Opened{{Stanza: st.Clone()}}}, nil
	}
	return e2e.Received{}, fmt.Errorf("jose: %w: error stanza (%s) in the clear", e2e.ErrNotEncrypted, cond)
}

// ErrorReply returns the stanza error the draft recommends in answer to
// the wire stanza st that Receive refused with err (-06 §3.3, §4.3):
// <bad-request/> with <decryption-failed/>, <verification-failed/> or
// <insufficient-information/>, or <not-acceptable/> with
// <bad-timestamp/>. It returns nil for errors that deserve no answer
// (replays, and stanzas that are errors themselves). An iq get or set that
// failed MUST be answered; Receive leaves the sending to the caller.
func ErrorReply(st *e2e.Stanza, err error) *e2e.Stanza {
	if st == nil || err == nil || st.Type == "error" || st.Type == "result" && st.Kind == e2e.IQ || errors.Is(err, e2e.ErrReplay) {
		return nil
	}
	typ, cond, app := "modify", "bad-request", ""
	switch {
	case errors.Is(err, e2e.ErrDecrypt):
		app = CondDecryptionFailed
	case errors.Is(err, e2e.ErrBadSignature):
		app = CondVerificationFailed
	case errors.Is(err, e2e.ErrStale):
		cond, app = "not-acceptable", CondBadTimestamp
	case errors.Is(err, e2e.ErrNoKey), errors.Is(err, e2e.ErrUntrustedKey):
		app = CondInsufficientInformation
	}
	out := &e2e.Stanza{Kind: st.Kind, NS: st.NS, Type: "error", ID: st.ID, From: st.To, To: st.From}
	if e := st.Child(NS, "e2e"); e != nil {
		out.Children = append(out.Children, e.Clone())
	}
	out.Children = append(out.Children, errorElement(nsOf(st), typ, cond, app))
	return out
}
