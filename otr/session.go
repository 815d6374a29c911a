package otr

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/coyim/otr3"
	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/internal/stablerand"
	"mellium.im/xmpp/jid"
)

// Errors of this package beyond the e2e classes they wrap.
var (
	// ErrFinished: the peer ended the private conversation (OTR's FINISHED
	// state); nothing more can be sent until the local side ends it too with
	// End or Close.
	ErrFinished = fmt.Errorf("otr: %w: the peer ended the private conversation; call End", e2e.ErrNoKey)

	// ErrQueueFull: Encrypt is holding Options.MaxQueue stanzas for a peer
	// whose AKE has not finished.
	ErrQueueFull = fmt.Errorf("otr: %w: too many stanzas waiting for the AKE", e2e.ErrUnsupported)

	// ErrNoSession: an operation needs an encrypted conversation with the peer.
	ErrNoSession = fmt.Errorf("otr: %w: no private conversation with this peer", e2e.ErrNoKey)
)

// requeryAfter is how long Encrypt waits for an AKE before it sends the query
// again (by Config.Clock).
const requeryAfter = 30 * time.Second

// maxPending bounds the reassemblies of fragments kept per session.
const maxPending = 64

// maxConvs bounds the conversations of a session; beyond it, one that is
// not private yet (an AKE a stranger started) makes room.
const maxConvs = 1024

// makeRoom drops a conversation that is not private when the session holds
// maxConvs, and reports whether there is room for one more.
func (s *Session) makeRoom() bool {
	if len(s.convs) < maxConvs {
		return true
	}
	for k, cv := range s.convs {
		if !cv.c.IsEncrypted() && !cv.finished() && len(cv.queue) == 0 {
			delete(s.convs, k)
			return true
		}
	}
	return false
}

// seenWindow is how many data message digests a conversation remembers to
// recognise a redelivered stanza before otr3 sees it.
const seenWindow = 256

// Session is an OTR session of one local party: one OTR conversation per
// peer full JID, created when a query, whitespace tag or AKE message arrives
// from that JID or when Encrypt first addresses it. It implements
// e2e.Session and adds fingerprints, the SSID and SMP.
//
// A Session is safe for concurrent use.
type Session struct {
	mu     sync.Mutex
	cfg    e2e.Config
	opts   Options
	id     *Identity
	tag    uint32
	convs  map[string]*conv
	frags  map[string]*reassembly
	ids    uint64
	prefix string
}

var _ e2e.Session = (*Session)(nil)

// Open is NewSession with the concrete result type, for callers that use
// SMP, fingerprints or End.
func (c *Codec) Open(cfg e2e.Config) (*Session, error) {
	id, ok := cfg.Local.(*Identity)
	if !ok || id == nil || id.key == nil {
		return nil, fmt.Errorf("otr: %w: Config.Local must be an *otr.Identity", e2e.ErrNoKey)
	}
	var rb [8]byte
	if _, err := io.ReadFull(cfg.Random(), rb[:]); err != nil {
		return nil, fmt.Errorf("otr: reading randomness: %w", err)
	}
	tag := c.opts.InstanceTag
	if tag < 0x100 {
		tag = binary.BigEndian.Uint32(rb[:4])
		if tag < 0x100 {
			tag += 0x100
		}
	}
	return &Session{
		cfg: cfg, opts: c.opts, id: id, tag: tag,
		convs:  map[string]*conv{},
		frags:  map[string]*reassembly{},
		prefix: "otr-" + hex.EncodeToString(rb[4:]) + "-",
	}, nil
}

// conv is the OTR conversation with one peer full JID.
type conv struct {
	peer     jid.JID
	c        *otr3.Conversation
	ev       events
	queue    []*e2e.Stanza
	queried  time.Time
	seen     [][sha256.Size]byte
	smp      SMPStatus
	awaitSMP bool // we initiated SMP and sent SMP3: an abort now means the secrets differed
	fin      bool // the peer sent the disconnect TLV: FINISHED
}

// events collects what otr3 reports during one call.
type events struct {
	security []otr3.SecurityEvent
	message  []otr3.MessageEvent
	smp      []smpEvent
	peerErr  string // the text of a received ?OTR Error: message
}

type smpEvent struct {
	e   otr3.SMPEvent
	pct int
	q   string
}

func (e *events) HandleSecurityEvent(ev otr3.SecurityEvent) { e.security = append(e.security, ev) }
func (e *events) HandleSMPEvent(ev otr3.SMPEvent, pct int, q string) {
	e.smp = append(e.smp, smpEvent{ev, pct, q})
}
func (e *events) HandleMessageEvent(ev otr3.MessageEvent, msg []byte, _ error, _ ...interface{}) {
	e.message = append(e.message, ev)
	if ev == otr3.MessageEventReceivedMessageGeneralError {
		e.peerErr = string(msg)
	}
}

func (e *events) hasMessage(m otr3.MessageEvent) bool {
	for _, x := range e.message {
		if x == m {
			return true
		}
	}
	return false
}

func (e *events) hasSecurity(s otr3.SecurityEvent) bool {
	for _, x := range e.security {
		if x == s {
			return true
		}
	}
	return false
}

func (s *Session) newConv(peer jid.JID) *conv {
	// A seeded Config.Rand must give the same conversation on every run,
	// whatever GODEBUG=cryptocustomrand says: see package stablerand.
	cv := &conv{peer: peer, c: &otr3.Conversation{Rand: stablerand.New(s.cfg.Random())}}
	cv.c.SetOurKeys([]otr3.PrivateKey{s.id.key})
	if !s.opts.V3Only {
		cv.c.Policies.AllowV2()
	}
	if !s.opts.V2Only {
		cv.c.Policies.AllowV3()
	}
	cv.c.Policies.WhitespaceStartAKE()
	cv.c.Policies.ErrorStartAKE()
	cv.c.SetSecurityEventHandler(&cv.ev)
	cv.c.SetSMPEventHandler(&cv.ev)
	cv.c.SetMessageEventHandler(&cv.ev)
	cv.c.InitializeInstanceTag(s.tag)
	if s.opts.QueryText != "" {
		cv.c.SetFriendlyQueryMessage(s.opts.QueryText)
	}
	s.convs[peer.String()] = cv
	return cv
}

// call runs f, an otr3 call, with cv's event log reset, and turns a panic in
// otr3 into ErrMalformed (otr3 panics on some truncated data messages).
func (cv *conv) call(f func() error) (err error) {
	cv.ev = events{}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("otr: %w: otr3 panicked on the input: %v", e2e.ErrMalformed, r)
		}
	}()
	return f()
}

func (s *Session) nextID() string {
	s.ids++
	return fmt.Sprintf("%s%d", s.prefix, s.ids)
}

func (s *Session) localJID(st *e2e.Stanza) jid.JID {
	if st != nil && !st.From.Equal(jid.JID{}) {
		return st.From
	}
	return s.cfg.JID
}

// stanzas wraps OTR lines for peer, fragmenting encoded messages. The last
// stanza of the lines gets id (when not empty), the others fresh ids.
func (s *Session) stanzas(from, peer jid.JID, id string, lines []otr3.ValidMessage) ([]*e2e.Stanza, error) {
	var out []*e2e.Stanza
	for li, l := range lines {
		parts, err := fragment(string(l), s.opts.FragmentSize)
		if err != nil {
			return nil, err
		}
		for pi, p := range parts {
			sid := s.nextID()
			if id != "" && li == len(lines)-1 && pi == len(parts)-1 {
				sid = id
			}
			out = append(out, wireStanza(from, peer, sid, p))
		}
	}
	return out, nil
}

func checkPeerJID(to jid.JID) error {
	if to.Equal(jid.JID{}) {
		return fmt.Errorf("otr: %w: stanza has no to address", e2e.ErrMalformed)
	}
	if to.Resourcepart() == "" {
		return fmt.Errorf("otr: %w: OTR needs the peer's full JID, got %s (XEP-0364)", e2e.ErrUnsupported, to)
	}
	return nil
}

// Encrypt sends the body of the message st through the OTR conversation with
// st.To, a full JID. Only the body is protected; every other child of st is
// left out of the wire stanzas (a receiver gets the body alone).
//
// Before the AKE has finished, st is held back and Encrypt returns the query
// (or whitespace tag) that starts it, or nothing while an AKE is under way;
// the held stanzas go out in order in the Replies of the Receive that
// completes the AKE. No plaintext ever leaves Encrypt.
func (s *Session) Encrypt(ctx context.Context, st *e2e.Stanza) ([]*e2e.Stanza, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if st == nil || st.Kind != e2e.Message {
		return nil, fmt.Errorf("otr: %w: OTR carries message bodies only", e2e.ErrUnsupported)
	}
	switch st.Type {
	case "", "chat", "normal":
	default:
		// Receive refuses these types too: OTR is two-party (XEP-0364 §2),
		// and a groupchat, headline or error stanza is not a chat message.
		return nil, fmt.Errorf("otr: %w: OTR is not carried in messages of type %q", e2e.ErrUnsupported, st.Type)
	}
	if err := checkPeerJID(st.To); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cv := s.convs[st.To.String()]
	if cv == nil {
		cv = s.newConv(st.To)
	}
	if cv.c.IsEncrypted() {
		return s.send(cv, st)
	}
	if cv.finished() {
		return nil, ErrFinished
	}
	if len(cv.queue) >= s.opts.MaxQueue {
		return nil, ErrQueueFull
	}
	cv.queue = append(cv.queue, st.Clone())
	now := s.cfg.Now()
	if !cv.queried.IsZero() && now.Sub(cv.queried) < requeryAfter {
		return nil, nil
	}
	cv.queried = now
	line := string(cv.c.QueryMessage())
	if s.opts.Start == StartWhitespaceTag {
		line = wsBase
		if !s.opts.V3Only {
			line += wsV2
		}
		if !s.opts.V2Only {
			line += wsV3
		}
	}
	return []*e2e.Stanza{wireStanza(s.localJID(st), st.To, s.nextID(), line)}, nil
}

// finished reports whether the peer ended the conversation (FINISHED).
func (cv *conv) finished() bool { return cv.fin }

// send encrypts st's body in the encrypted conversation cv.
func (s *Session) send(cv *conv, st *e2e.Stanza) ([]*e2e.Stanza, error) {
	var lines []otr3.ValidMessage
	err := cv.call(func() (err error) {
		lines, err = cv.c.Send(otr3.ValidMessage(st.Body()))
		return err
	})
	if err != nil {
		if cv.ev.hasMessage(otr3.MessageEventConnectionEnded) {
			return nil, ErrFinished
		}
		return nil, fmt.Errorf("otr: encrypting: %w", err)
	}
	return s.stanzas(s.localJID(st), cv.peer, st.ID, lines)
}

// Sign returns ErrUnsupported: OTR has no signatures over messages (that is
// what makes it deniable).
func (s *Session) Sign(context.Context, *e2e.Stanza) ([]*e2e.Stanza, error) {
	return nil, fmt.Errorf("otr: %w: OTR messages are MACed, never signed", e2e.ErrUnsupported)
}

// Receive handles one stanza from a peer: OTR query, whitespace tag, AKE,
// data message or fragment. Data messages open as a stanza with the
// decrypted body and the peer's AKE key as Signer; AKE replies, heartbeats,
// SMP messages and held-back stanzas come back in Replies.
//
// Plaintext (a body that is not OTR) is ErrNotEncrypted, unless
// Config.AllowPlaintext is set and no private conversation with the sender
// is up. A whitespace-tagged plaintext still starts the AKE: its replies come
// back together with the error. Carbon copies, MAM results, group chat and
// error stanzas are refused (ErrUnsupported): their OTR messages belong to
// another resource's conversation or to the past.
func (s *Session) Receive(ctx context.Context, st *e2e.Stanza) (e2e.Received, error) {
	if err := ctx.Err(); err != nil {
		return e2e.Received{}, err
	}
	if st == nil {
		return e2e.Received{}, fmt.Errorf("otr: %w: nil stanza", e2e.ErrMalformed)
	}
	if st.Kind != e2e.Message {
		if s.cfg.AllowPlaintext {
			return e2e.Received{Opened: []e2e.Opened{{Stanza: st.Clone()}}}, nil
		}
		return e2e.Received{}, fmt.Errorf("otr: %w: OTR carries message bodies only, got %s", e2e.ErrUnsupported, st.Kind)
	}
	switch st.Type {
	case "", "chat", "normal":
	case "groupchat", "headline", "error":
		return e2e.Received{}, fmt.Errorf("otr: %w: OTR is not carried in messages of type %q", e2e.ErrUnsupported, st.Type)
	default:
		return e2e.Received{}, fmt.Errorf("otr: %w: message type %q", e2e.ErrMalformed, st.Type)
	}
	for _, c := range st.Children {
		if (c.Name.Space == NSCarbons && (c.Name.Local == "sent" || c.Name.Local == "received")) ||
			(c.Name.Space == NSMAM && c.Name.Local == "result") {
			return e2e.Received{}, fmt.Errorf("otr: %w: OTR in a carbon copy or archive result is not for this conversation", e2e.ErrUnsupported)
		}
	}
	if st.From.Equal(jid.JID{}) {
		return e2e.Received{}, fmt.Errorf("otr: %w: stanza has no from address", e2e.ErrMalformed)
	}
	if st.From.Resourcepart() == "" {
		// XEP-0364: an OTR conversation is between two full JIDs; answering
		// a bare JID would send OTR where Encrypt refuses to.
		return e2e.Received{}, fmt.Errorf("otr: %w: OTR from the bare JID %s; it needs a full JID (XEP-0364)", e2e.ErrUnsupported, st.From)
	}
	if !st.To.Equal(jid.JID{}) && !s.cfg.JID.Equal(jid.JID{}) &&
		(!st.To.Bare().Equal(s.cfg.JID.Bare()) ||
			(st.To.Resourcepart() != "" && s.cfg.JID.Resourcepart() != "" && st.To.Resourcepart() != s.cfg.JID.Resourcepart())) {
		return e2e.Received{}, fmt.Errorf("otr: %w: stanza is addressed to %s, not to %s", e2e.ErrMalformed, st.To, s.cfg.JID)
	}
	body := st.Body()

	s.mu.Lock()
	defer s.mu.Unlock()
	key := st.From.String()
	cv := s.convs[key]

	if !strings.HasPrefix(body, "?OTR") {
		delete(s.frags, key) // a non-fragment resets reassembly
		if strings.Contains(body, wsBase) {
			return s.receiveTagged(cv, st, body)
		}
		return s.plaintext(cv, st, body)
	}

	line := body
	if strings.HasPrefix(body, "?OTR|") || strings.HasPrefix(body, "?OTR,") {
		f, err := parseFragment(body)
		if err != nil {
			if !errors.Is(err, errFragmentRange) {
				delete(s.frags, key)
			}
			return e2e.Received{}, err
		}
		if f.v3 && f.recvr != 0 && f.recvr != s.tag {
			return e2e.Received{}, fmt.Errorf("otr: %w: fragment for another OTR instance (%08x)", e2e.ErrDecrypt, f.recvr)
		}
		if f.v3 && f.sender < 0x100 {
			// OTR v3 "Instance Tags": a sender tag below 0x100 is invalid;
			// the fragment is discarded without touching the reassembly.
			return e2e.Received{}, fmt.Errorf("otr: %w: fragment with the invalid sender instance tag %08x", e2e.ErrMalformed, f.sender)
		}
		r := s.frags[key]
		if r == nil {
			for k := range s.frags { // full: drop some other sender's partial message
				if len(s.frags) < maxPending {
					break
				}
				delete(s.frags, k)
			}
			r = &reassembly{}
			s.frags[key] = r
		}
		msg, done, err := r.add(f)
		if err != nil || !done {
			if err != nil {
				delete(s.frags, key)
			}
			return e2e.Received{}, err
		}
		delete(s.frags, key)
		line = msg
	} else {
		delete(s.frags, key)
	}
	return s.receiveLine(cv, st, line)
}

// receiveLine handles one complete OTR line (not a fragment) from st.From.
func (s *Session) receiveLine(cv *conv, st *e2e.Stanza, line string) (e2e.Received, error) {
	var hd header
	isEncoded := strings.HasPrefix(line, "?OTR:")
	if isEncoded {
		var ok bool
		if hd, ok = parseHeader(line); !ok || !strings.HasSuffix(line, ".") {
			return e2e.Received{}, fmt.Errorf("otr: %w: unreadable OTR message header", e2e.ErrMalformed)
		}
		if hd.version == 3 && (hd.sender < 0x100 || (hd.recvr != 0 && hd.recvr != s.tag)) {
			return e2e.Received{}, fmt.Errorf("otr: %w: OTR message for another instance or with an invalid instance tag", e2e.ErrDecrypt)
		}
	}
	isData := isEncoded && hd.typ == 0x03
	if cv == nil {
		// Only something that can start a conversation creates one: a query,
		// an error (which asks for a query) or a D-H Commit.
		if isData || (isEncoded && hd.typ != 0x02) {
			return e2e.Received{}, fmt.Errorf("otr: %w: no OTR conversation with %s", e2e.ErrDecrypt, st.From)
		}
		if !s.makeRoom() {
			return e2e.Received{}, fmt.Errorf("otr: %w: %d private conversations open", e2e.ErrUnsupported, maxConvs)
		}
		cv = s.newConv(st.From)
	}
	var digest [sha256.Size]byte
	if isData {
		digest = sha256.Sum256([]byte(line))
		for _, d := range cv.seen {
			if d == digest {
				return e2e.Received{}, fmt.Errorf("otr: %w: data message delivered before", e2e.ErrReplay)
			}
		}
	}
	wasEncrypted := cv.c.IsEncrypted()
	var snap counterSnapshot
	var snapOK bool
	if isData && wasEncrypted {
		snap, snapOK = snapshotCounters(cv.c)
	}
	// unverified puts otr3's receive counters back when a data message did
	// not verify (see counter.go).
	unverified := func() {
		if snapOK {
			snap.restore(cv.c)
		}
	}
	var plain otr3.MessagePlaintext
	var toSend []otr3.ValidMessage
	err := cv.call(func() (err error) {
		plain, toSend, err = cv.c.Receive(otr3.ValidMessage(line))
		return err
	})
	s.noteSMP(cv)
	if cv.ev.hasSecurity(otr3.GoneInsecure) && !cv.c.IsEncrypted() && isData {
		cv.fin = true // the peer's disconnect TLV: FINISHED
		cv.queue = nil
	}
	if err != nil {
		unverified()
		return e2e.Received{}, classify(err, isData)
	}
	if cv.ev.hasMessage(otr3.MessageEventReceivedMessageForOtherInstance) {
		return e2e.Received{}, fmt.Errorf("otr: %w: OTR message for another instance", e2e.ErrDecrypt)
	}
	if cv.ev.hasMessage(otr3.MessageEventReceivedMessageNotInPrivate) {
		return e2e.Received{}, fmt.Errorf("otr: %w: data message outside a private conversation", e2e.ErrDecrypt)
	}
	from := s.localJID(nil)
	if !st.To.Equal(jid.JID{}) {
		from = st.To
	}
	var res e2e.Received
	replies, err := s.stanzas(from, cv.peer, "", toSend)
	if err != nil {
		return e2e.Received{}, err
	}
	res.Replies = replies
	if len(replies) > 0 && !cv.c.IsEncrypted() {
		// an AKE is under way: Encrypt must not restart it with a query
		cv.queried = s.cfg.Now()
	}

	if isData {
		verified := len(plain) > 0 || cv.ev.hasMessage(otr3.MessageEventLogHeartbeatReceived)
		if !verified {
			// otr3 swallows the errors of data messages flagged
			// IGNORE_UNREADABLE; a tampered flag must not make a forgery
			// vanish without a trace.
			unverified()
			return e2e.Received{}, fmt.Errorf("otr: %w: data message did not verify", e2e.ErrDecrypt)
		}
		cv.seen = append(cv.seen, digest)
		if len(cv.seen) > seenWindow {
			cv.seen = cv.seen[1:]
		}
		if len(plain) > 0 || hd.flags&0x01 == 0 && !cv.fin && len(cv.ev.smp) == 0 {
			// text, or an empty body sent as a normal message (heartbeats,
			// SMP and disconnect messages carry IGNORE_UNREADABLE)
			res.Opened = []e2e.Opened{s.opened(cv, st, string(plain))}
		}
	} else if cv.ev.hasMessage(otr3.MessageEventReceivedMessageGeneralError) {
		// An OTR Error message (OTR v3 "Receiving an Error Message": show
		// it to the user; the reply is the query ERROR_START_AKE sends).
		// otr3 reports its text only in the event, never as plaintext.
		return res, fmt.Errorf("otr: %w: peer reported an OTR error: %q", e2e.ErrDecrypt, truncate(cv.ev.peerErr))
	} else if cv.ev.hasMessage(otr3.MessageEventReceivedMessageUnrecognized) {
		// "?OTR" followed by nothing OTR knows: libotr and otr3 ignore it;
		// we report it rather than drop a message silently.
		return res, fmt.Errorf("otr: %w: unrecognized OTR message", e2e.ErrMalformed)
	}
	if !wasEncrypted && cv.c.IsEncrypted() {
		more, err := s.flush(cv)
		if err != nil {
			return res, err
		}
		res.Replies = append(res.Replies, more...)
	}
	return res, nil
}

func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// classify maps an otr3 error to an error class. otr3 has no exported error
// values, so this reads its messages; the class is all a caller sees.
func classify(err error, data bool) error {
	var oe otr3.OtrError
	msg := err.Error()
	switch {
	case errors.Is(err, e2e.ErrMalformed):
		return err
	case strings.Contains(msg, "counter regressed"):
		return fmt.Errorf("otr: %w: message counter did not advance", e2e.ErrReplay)
	case data:
		return fmt.Errorf("otr: %w (%v)", e2e.ErrDecrypt, err)
	case strings.Contains(msg, "signature") || strings.Contains(msg, "MAC"):
		return fmt.Errorf("otr: %w: AKE: %v", e2e.ErrBadSignature, err)
	case errors.As(err, &oe):
		return fmt.Errorf("otr: %w: %v", e2e.ErrMalformed, err)
	}
	return fmt.Errorf("otr: %w: %v", e2e.ErrMalformed, err)
}

// opened builds the opened stanza: the wire addressing and the body.
func (s *Session) opened(cv *conv, st *e2e.Stanza, body string) e2e.Opened {
	out := &e2e.Stanza{Kind: e2e.Message, NS: st.NS, From: st.From, To: st.To, ID: st.ID, Type: st.Type}
	out.SetBody(body)
	o := e2e.Opened{Stanza: out, Encrypted: true}
	if p := cv.theirPeer(); p != nil {
		o.Signer = p
		o.Trusted = s.cfg.Trusts(st.From, p)
	}
	return o
}

func (cv *conv) theirPeer() *Peer {
	k, ok := cv.c.GetTheirKey().(*otr3.DSAPublicKey)
	if !ok || k == nil || k.Y == nil {
		return nil
	}
	return newPeer(cv.peer, k)
}

// flush encrypts the stanzas held back for cv.
func (s *Session) flush(cv *conv) ([]*e2e.Stanza, error) {
	var out []*e2e.Stanza
	for len(cv.queue) > 0 {
		st := cv.queue[0]
		ws, err := s.send(cv, st)
		if err != nil {
			return out, err
		}
		cv.queue = cv.queue[1:]
		out = append(out, ws...)
	}
	cv.queried = time.Time{}
	return out, nil
}

// receiveTagged hands a whitespace-tagged plaintext to otr3, which strips the
// tag and answers with a D-H Commit.
func (s *Session) receiveTagged(cv *conv, st *e2e.Stanza, body string) (e2e.Received, error) {
	if text, v2, v3 := stripTag(body); !(v2 && !s.opts.V3Only || v3 && !s.opts.V2Only) {
		// OTR v3 "Receiving plaintext with the whitespace tag": the text is
		// shown with the tag removed; the AKE starts only for a version we
		// allow (otr3 instead fails with "unsupported OTR version" and the
		// text is lost).
		return s.plaintext(cv, st, text)
	}
	if cv == nil {
		if !s.makeRoom() {
			return e2e.Received{}, fmt.Errorf("otr: %w: %d private conversations open", e2e.ErrUnsupported, maxConvs)
		}
		cv = s.newConv(st.From)
	}
	encrypted := cv.c.IsEncrypted()
	var plain otr3.MessagePlaintext
	var toSend []otr3.ValidMessage
	err := cv.call(func() (err error) {
		plain, toSend, err = cv.c.Receive(otr3.ValidMessage(body))
		return err
	})
	if err != nil {
		return e2e.Received{}, classify(err, false)
	}
	from := st.To
	if from.Equal(jid.JID{}) {
		from = s.cfg.JID
	}
	replies, err := s.stanzas(from, cv.peer, "", toSend)
	if err != nil {
		return e2e.Received{}, err
	}
	if strings.TrimSpace(string(plain)) == "" {
		return e2e.Received{Replies: replies}, nil
	}
	res, err := s.plaintextResult(encrypted, st, string(plain))
	res.Replies = replies
	return res, err
}

func (s *Session) plaintext(cv *conv, st *e2e.Stanza, body string) (e2e.Received, error) {
	return s.plaintextResult(cv != nil && (cv.c.IsEncrypted() || cv.finished()), st, body)
}

func (s *Session) plaintextResult(private bool, st *e2e.Stanza, body string) (e2e.Received, error) {
	if private {
		return e2e.Received{}, fmt.Errorf("otr: %w: plaintext inside a private conversation", e2e.ErrNotEncrypted)
	}
	if !s.cfg.AllowPlaintext {
		return e2e.Received{}, fmt.Errorf("otr: %w: plaintext message", e2e.ErrNotEncrypted)
	}
	out := st.Clone()
	if strings.Contains(body, wsBase) || body != st.Body() {
		out.SetBody(body)
	}
	return e2e.Received{Opened: []e2e.Opened{{Stanza: out}}}, nil
}

// Close ends every conversation of the session: each encrypted one sends
// the disconnect TLV (the peer enters FINISHED and can no longer send), and
// all state, held-back stanzas included, is dropped. The session can be used
// again afterwards; a new Encrypt starts a new AKE.
func (s *Session) Close(ctx context.Context) ([]*e2e.Stanza, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*e2e.Stanza
	var errs []error
	for k, cv := range s.convs {
		ws, err := s.end(cv)
		out = append(out, ws...)
		if err != nil {
			errs = append(errs, err)
		}
		delete(s.convs, k)
	}
	clear(s.frags)
	return out, errors.Join(errs...)
}

// End ends the conversation with peer (a full JID) alone, as Close does for
// all. It is also how the local side leaves FINISHED after the peer ended.
func (s *Session) End(ctx context.Context, peer jid.JID) ([]*e2e.Stanza, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cv := s.convs[peer.String()]
	if cv == nil {
		return nil, nil
	}
	delete(s.convs, peer.String())
	delete(s.frags, peer.String())
	return s.end(cv)
}

func (s *Session) end(cv *conv) ([]*e2e.Stanza, error) {
	var lines []otr3.ValidMessage
	err := cv.call(func() (err error) {
		lines, err = cv.c.End()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("otr: ending: %w", err)
	}
	return s.stanzas(s.cfg.JID, cv.peer, "", lines)
}

// Encrypted reports whether the conversation with peer (a full JID) is
// private: the AKE has finished and the peer has not ended it.
func (s *Session) Encrypted(peer jid.JID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	cv := s.convs[peer.String()]
	return cv != nil && cv.c.IsEncrypted()
}

// Version returns the OTR protocol version of the private conversation with
// peer, 2 or 3, or 0 when there is none.
func (s *Session) Version(peer jid.JID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	cv := s.convs[peer.String()]
	if cv == nil || !cv.c.IsEncrypted() {
		return 0
	}
	if cv.c.GetTheirInstanceTag() != 0 {
		return 3
	}
	return 2
}

// PeerKey returns the long-term key the peer proved in the AKE of the
// private conversation with peer (a full JID). Compare its Fingerprint with
// one obtained out of band, or run SMP; trusting it is the caller's decision.
func (s *Session) PeerKey(peer jid.JID) (*Peer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cv := s.convs[peer.String()]
	if cv == nil || !cv.c.IsEncrypted() {
		return nil, false
	}
	p := cv.theirPeer()
	return p, p != nil
}

// SSID returns the secure session ID of the conversation with peer, as the
// two halves users read to each other, and which half this side emphasises.
func (s *Session) SSID(peer jid.JID) (halves []string, emphasise int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cv := s.convs[peer.String()]
	if cv == nil || !cv.c.IsEncrypted() {
		return nil, 0, false
	}
	halves, emphasise = cv.c.SecureSessionID()
	return halves, emphasise, true
}

// Fingerprint returns the local identity's fingerprint.
func (s *Session) Fingerprint() string { return s.id.peer().Fingerprint() }
