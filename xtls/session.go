package xtls

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/xmpp/jid"
)

// A Session is one party's XTLS endpoint. It holds one Jingle session (and
// TLS tunnel) per peer full JID, started by the first Encrypt to that peer
// or by the peer's session-initiate. It is the e2e.Session that
// Scheme.NewSession returns.
//
// Inside, every tunnel runs crypto/tls on a goroutine over an in-band
// bytestream whose stanzas are handed to the caller: Encrypt and Receive
// return only when every goroutine is waiting for the next inbound stanza,
// so each call returns exactly the stanzas its input caused.
type Session struct {
	*session
}

// session is the state of a Session. The tunnel goroutines refer to it,
// never to the Session, so that a Session dropped without Close can be
// collected; its cleanup then ends the tunnels and their goroutines.
type session struct {
	opts Options
	cfg  e2e.Config
	id   *Identity

	call sync.Mutex // serializes Encrypt, Receive, Close, Expire
	s    *sched     // s.mu guards everything below

	idPrefix string
	idN      uint64
	out      []*e2e.Stanza
	opened   []e2e.Opened
	errs     []error
	expired  []error // timeouts not yet reported by Expire
	pending  map[string]pendingIQ
	tunnels  map[string]*tunnel // by peer full JID + "\x00" + Jingle sid
	byIBB    map[string]*tunnel // by peer full JID + "\x00" + IBB sid
	ended    map[string]bool    // Jingle sessions that ended
	closed   bool
}

type pendingIQ struct {
	to jid.JID
	t  *tunnel
	h  func(*e2e.Stanza)
}

func newSession(opts Options, cfg e2e.Config) (*Session, error) {
	in, err := newInner(opts, cfg)
	if err != nil {
		return nil, err
	}
	out := &Session{in}
	runtime.AddCleanup(out, (*session).abandon, in)
	return out, nil
}

// abandon ends every tunnel of a session nobody holds any more, without
// telling the peers (nobody would send the stanzas).
func (s *session) abandon() {
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	for _, t := range s.tunnels {
		s.endLocked(t)
	}
	s.closed = true
}

func newInner(opts Options, cfg e2e.Config) (*session, error) {
	s := &session{
		opts:    opts,
		cfg:     cfg,
		s:       newSched(true),
		pending: make(map[string]pendingIQ),
		tunnels: make(map[string]*tunnel),
		byIBB:   make(map[string]*tunnel),
		ended:   make(map[string]bool),
	}
	if cfg.Local != nil {
		id, ok := cfg.Local.(*Identity)
		if !ok {
			return nil, fmt.Errorf("xtls: %w: Config.Local is a %T, not an xtls identity", e2e.ErrNoKey, cfg.Local)
		}
		s.id = id
	}
	p, err := s.randHex(6)
	if err != nil {
		return nil, err
	}
	s.idPrefix = p
	return s, nil
}

func (s *session) randHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.cfg.Random(), b); err != nil {
		return "", fmt.Errorf("xtls: reading randomness: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func (s *session) newIDLocked() string {
	s.idN++
	return s.idPrefix + "-" + strconv.FormatUint(s.idN, 10)
}

func key(peer jid.JID, sid string) string { return peer.String() + "\x00" + sid }

// sendLocked queues st for the caller; h gets its result or error.
func (s *session) sendLocked(t *tunnel, st *e2e.Stanza, h func(*e2e.Stanza)) {
	s.out = append(s.out, st)
	if h != nil && (st.Type == "set" || st.Type == "get") {
		s.pending[st.ID] = pendingIQ{to: st.To, t: t, h: h}
	}
}

// begin starts a public call: it serializes and checks timeouts.
func (s *session) begin() error {
	s.call.Lock()
	s.s.mu.Lock()
	if s.closed {
		s.s.mu.Unlock()
		s.call.Unlock()
		return fmt.Errorf("%w: %w", errClosed, e2e.ErrUnsupported)
	}
	s.expireLocked()
	return nil
}

// finish waits until the tunnels' goroutines wait for input, and takes what
// they produced.
func (s *session) finish(ctx context.Context) (out []*e2e.Stanza, opened []e2e.Opened, err error) {
	defer s.call.Unlock()
	defer s.s.mu.Unlock()
	qerr := s.s.quiesceLocked(ctx)
	out, s.out = s.out, nil
	if len(s.errs) > 0 {
		err = s.errs[0]
		s.errs = nil
	} else if qerr != nil {
		err = qerr
	}
	if err == nil {
		opened, s.opened = s.opened, nil
	}
	return out, opened, err
}

// Encrypt sends st through the tunnel to st.To, which must be a full JID.
// With no tunnel yet it returns the Jingle session-initiate and holds st
// back; st then goes out in the Replies of the Receive call that sees the
// peer's stream header. On error the stanzas returned, if any, are
// protocol stanzas that must still be sent.
func (s *session) Encrypt(ctx context.Context, st *e2e.Stanza) ([]*e2e.Stanza, error) {
	if st == nil {
		return nil, fmt.Errorf("xtls: %w: nil stanza", e2e.ErrMalformed)
	}
	if err := s.begin(); err != nil {
		return nil, err
	}
	err := s.encryptLocked(st.Clone())
	out, _, ferr := s.finish(ctx)
	if err == nil {
		err = ferr
	}
	// Even on error, out holds only protocol stanzas (the session-terminate
	// of a tunnel that timed out, say), never st: send them.
	return out, err
}

func (s *session) encryptLocked(st *e2e.Stanza) error {
	if st.From.Equal(jid.JID{}) {
		st.From = s.cfg.JID
	}
	if !st.From.Equal(s.cfg.JID) && !st.From.Equal(s.cfg.JID.Bare()) {
		return fmt.Errorf("xtls: %w: stanza from %s, but this session is %s", e2e.ErrMalformed, st.From, s.cfg.JID)
	}
	to := st.To
	if to.Resourcepart() == "" {
		return fmt.Errorf("xtls: %w: a Jingle session needs the peer's full JID, not %q", e2e.ErrUnsupported, to)
	}
	if s.id == nil {
		return fmt.Errorf("xtls: %w: no local identity", e2e.ErrNoKey)
	}
	if len(s.cfg.PeersFor(to)) == 0 && s.cfg.Trust == nil {
		return fmt.Errorf("xtls: %w: no pinned certificate for %s", e2e.ErrNoKey, to.Bare())
	}
	if n := len(st.Bytes()); n > e2e.MaxStanzaSize {
		return fmt.Errorf("xtls: %w: stanza of %d bytes exceeds %d", e2e.ErrMalformed, n, e2e.MaxStanzaSize)
	}
	t := s.tunnelToLocked(to)
	if t == nil {
		var err error
		if t, err = s.initiateLocked(to); err != nil {
			return err
		}
	}
	if t.state != stOpen {
		t.held = append(t.held, st)
		return nil
	}
	// Writes never block on the peer (see ibbConn), so the lock can be
	// dropped for the TLS write, which takes it inside the conn.
	s.s.mu.Unlock()
	err := t.writeStanzaUnlocked(st)
	s.s.mu.Lock()
	return err
}

// tunnelToLocked returns the tunnel to use for peer: an open one if any,
// else one still being set up.
func (s *session) tunnelToLocked(peer jid.JID) *tunnel {
	var best *tunnel
	for _, t := range s.tunnels {
		if !t.peer.Equal(peer) || t.ended || t.closing {
			continue
		}
		if t.state == stOpen {
			return t
		}
		if best == nil || t.initiator {
			best = t
		}
	}
	return best
}

// Sign is not offered by XTLS: it returns ErrUnsupported.
func (s *session) Sign(context.Context, *e2e.Stanza) ([]*e2e.Stanza, error) {
	return nil, fmt.Errorf("xtls: %w: XTLS has no sign-only mode", e2e.ErrUnsupported)
}

// Receive handles one inbound stanza: Jingle signalling, IBB chunks and
// their acknowledgements. It returns the inner stanzas completed by the
// input and the stanzas to send back. On error nothing is opened; Replies
// may still hold stanzas to send (an IQ error, the session-terminate that
// ends a failed tunnel).
func (s *session) Receive(ctx context.Context, st *e2e.Stanza) (e2e.Received, error) {
	if st == nil {
		return e2e.Received{}, fmt.Errorf("xtls: %w: nil stanza", e2e.ErrMalformed)
	}
	s.call.Lock()
	s.s.mu.Lock()
	if s.closed {
		defer s.call.Unlock()
		defer s.s.mu.Unlock()
		return s.afterCloseLocked(st)
	}
	s.expireLocked()
	err := s.dispatchLocked(st)
	out, opened, ferr := s.finish(ctx)
	if err == nil {
		err = ferr
	}
	if err != nil {
		return e2e.Received{Replies: out}, err
	}
	return e2e.Received{Opened: opened, Replies: out}, nil
}

// afterCloseLocked answers what arrives after Close: the peer's last words
// on the tunnels we ended (its end tag, close_notify, acknowledgements) are
// expected and dropped without error; IQ-sets get the error that tells the
// peer the session is gone; anything else is not encrypted.
func (s *session) afterCloseLocked(st *e2e.Stanza) (e2e.Received, error) {
	if st.Kind == e2e.IQ && (st.Type == "result" || st.Type == "error") {
		return e2e.Received{}, nil
	}
	var reply *e2e.Stanza
	switch {
	case st.Kind == e2e.IQ && st.Type == "set" && jingleChild(st) != nil:
		reply = iqError(s.cfg.JID, st, "cancel", "item-not-found", &e2e.Element{Name: xmlName(nsJingleErrors, "unknown-session")})
	case st.Kind == e2e.IQ && st.Type == "set" && ibbChild(st) != nil:
		reply = iqError(s.cfg.JID, st, "cancel", "item-not-found", nil)
	case st.Kind == e2e.Message && ibbChild(st) != nil:
	default:
		return e2e.Received{}, fmt.Errorf("xtls: %w: %s after the session was closed", e2e.ErrNotEncrypted, st.Kind)
	}
	k := key(st.From, "")
	if el := jingleChild(st); el != nil {
		sid, _ := el.AttrValue("sid")
		k = key(st.From, sid)
	} else if el := ibbChild(st); el != nil {
		sid, _ := el.AttrValue("sid")
		k = key(st.From, sid)
	}
	var res e2e.Received
	if reply != nil {
		res.Replies = []*e2e.Stanza{reply}
	}
	if !s.ended[k] {
		return res, fmt.Errorf("xtls: %w: session closed", e2e.ErrDecrypt)
	}
	return res, nil
}

func (s *session) dispatchLocked(st *e2e.Stanza) error {
	if st.From.Equal(jid.JID{}) {
		return fmt.Errorf("xtls: %w: stanza without from", e2e.ErrMalformed)
	}
	if st.Kind == e2e.IQ && !isOneOf(st.Type, "get", "set", "result", "error") {
		return fmt.Errorf("xtls: %w: iq of type %q", e2e.ErrMalformed, st.Type)
	}
	if st.Kind == e2e.IQ && st.Type != "set" && (jingleChild(st) != nil || ibbChild(st) != nil) {
		if st.Type == "get" { // answered, as every IQ-get (RFC 6120 §8.2.3)
			s.out = append(s.out, iqError(s.cfg.JID, st, "modify", "bad-request", nil))
		}
		return fmt.Errorf("xtls: %w: Jingle or IBB in an iq of type %q", e2e.ErrMalformed, st.Type)
	}
	switch st.Kind {
	case e2e.IQ:
		switch st.Type {
		case "result", "error":
			p, ok := s.pending[st.ID]
			if !ok || !p.to.Equal(st.From) {
				return nil // not ours, or already answered
			}
			delete(s.pending, st.ID)
			p.h(st)
			return nil
		case "set":
			if j := jingleChild(st); j != nil {
				return s.jingleLocked(st, j)
			}
			if el := ibbChild(st); el != nil {
				return s.ibbLocked(st, el)
			}
		}
	case e2e.Message:
		for _, c := range st.Children {
			if c.Name.Space == nsIBB && c.Name.Local == "data" {
				return s.ibbLocked(st, c)
			}
		}
	}
	if s.cfg.AllowPlaintext {
		s.opened = append(s.opened, e2e.Opened{Stanza: st})
		return nil
	}
	if st.Kind == e2e.IQ && (st.Type == "set" || st.Type == "get") {
		s.out = append(s.out, iqError(s.cfg.JID, st, "cancel", "not-acceptable",
			&e2e.Element{Name: xmlName(nsJingleErrors, "security-required")}))
	}
	return fmt.Errorf("xtls: %w: %s from %s outside the tunnel", e2e.ErrNotEncrypted, st.Kind, st.From)
}

func ibbChild(st *e2e.Stanza) *e2e.Element {
	for _, c := range st.Children {
		if c.Name.Space == nsIBB && isOneOf(c.Name.Local, "open", "data", "close") {
			return c
		}
	}
	return nil
}

func (s *session) ibbLocked(st *e2e.Stanza, el *e2e.Element) error {
	sid, _ := el.AttrValue("sid")
	t := s.byIBB[key(st.From, sid)]
	if t == nil || t.ended {
		if st.Kind == e2e.IQ {
			s.out = append(s.out, iqError(s.cfg.JID, st, "cancel", "item-not-found", nil))
		}
		if s.ended[key(st.From, sid)] {
			return nil // late traffic of a tunnel whose end was already reported
		}
		return fmt.Errorf("xtls: %w: no bytestream %q with %s", e2e.ErrDecrypt, sid, st.From)
	}
	n := len(s.out)
	reply, err := t.conn.handleLocked(st, el)
	if reply != nil {
		// The answer to the chunk goes out before the session-terminate
		// that a fatal chunk caused.
		s.out = append(s.out[:n], append([]*e2e.Stanza{reply}, s.out[n:]...)...)
	}
	if t.conn.err != nil && !t.ended {
		s.failLocked(t, "failed-transport", t.conn.err, true)
	}
	return err
}

// jingleLocked handles a Jingle IQ-set.
func (s *session) jingleLocked(st *e2e.Stanza, el *e2e.Element) error {
	j, err := parseJingle(el)
	if err != nil {
		s.out = append(s.out, iqError(s.cfg.JID, st, "modify", "bad-request", nil))
		return err
	}
	k := key(st.From, j.SID)
	t := s.tunnels[k]
	if j.Action == "session-initiate" {
		if t != nil || s.ended[k] {
			// Every IQ-set gets an answer (RFC 6120 §8.2.3), a replay too.
			s.out = append(s.out, outOfOrder(s.cfg.JID, st))
			return fmt.Errorf("xtls: %w: session-initiate for existing session %q", e2e.ErrReplay, j.SID)
		}
		own := s.crossingInitiateLocked(st.From)
		if own != nil && j.xmlstreamContent() != nil && own.sid < j.SID {
			// XEP-0166 §7.2.16 (tie breaking): both sides initiated at once;
			// the session-initiate with the lower sid ("i;octet") wins, and
			// the other one gets <conflict/> with <tie-break/>.
			s.out = append(s.out, iqError(s.cfg.JID, st, "cancel", "conflict",
				&e2e.Element{Name: xmlName(nsJingleErrors, "tie-break")}))
			return nil
		}
		err := s.onInitiateLocked(st, j)
		if nt := s.tunnels[k]; own != nil && nt != nil && j.xmlstreamContent() != nil {
			// The peer's session-initiate won: ours is dropped without a
			// session-terminate (the peer refuses it with <tie-break/>),
			// and what it held back goes through the peer's session.
			nt.held = append(nt.held, own.held...)
			own.held = nil
			s.endLocked(own)
		}
		return err
	}
	if t == nil {
		s.out = append(s.out, iqError(s.cfg.JID, st, "cancel", "item-not-found",
			&e2e.Element{Name: xmlName(nsJingleErrors, "unknown-session")}))
		if s.ended[k] {
			return nil // late signalling for a session that already ended
		}
		return fmt.Errorf("xtls: %w: Jingle %s for unknown session %q", e2e.ErrMalformed, j.Action, j.SID)
	}
	switch j.Action {
	case "session-accept":
		if !t.initiator || t.state != stInitiated {
			s.out = append(s.out, outOfOrder(s.cfg.JID, st))
			if t.initiator {
				return fmt.Errorf("xtls: %w: repeated session-accept", e2e.ErrReplay)
			}
			return fmt.Errorf("xtls: %w: session-accept out of order", e2e.ErrMalformed)
		}
		s.out = append(s.out, iqResult(s.cfg.JID, st))
		return s.onAcceptLocked(t, j)
	case "security-info":
		if t.initiator {
			s.out = append(s.out, outOfOrder(s.cfg.JID, st))
			return fmt.Errorf("xtls: %w: security-info sent to the initiator", e2e.ErrMalformed)
		}
		if t.gotSecInfo {
			s.out = append(s.out, outOfOrder(s.cfg.JID, st))
			return fmt.Errorf("xtls: %w: repeated security-info", e2e.ErrReplay)
		}
		c := j.contentFor(t.creator, t.content)
		if c == nil || c.Security == nil {
			s.out = append(s.out, iqError(s.cfg.JID, st, "modify", "bad-request", nil))
			return fmt.Errorf("xtls: %w: security-info without <security/> for content %q", e2e.ErrMalformed, t.content)
		}
		s.out = append(s.out, iqResult(s.cfg.JID, st))
		t.gotSecInfo = true
		if len(c.Security.Methods) != 1 || c.Security.Methods[0] != methodX509 {
			return s.failLocked(t, "security-error", fmt.Errorf("%w: peer chose %q, we offered only %s", ErrUnsupportedMethod, c.Security.Methods, methodX509), true)
		}
		return nil
	case "session-terminate":
		s.out = append(s.out, iqResult(s.cfg.JID, st))
		s.endLocked(t)
		if isOneOf(j.Reason, "success", "cancel", "gone", "") { // ended, not failed
			if n := len(t.held); n > 0 {
				return &TerminatedError{Reason: j.Reason, Text: j.ReasonText, Remote: true,
					Err: fmt.Errorf("xtls: %w: %d held stanzas were never sent", e2e.ErrUnsupported, n)}
			}
			return nil
		}
		return &TerminatedError{Reason: j.Reason, Text: j.ReasonText, Remote: true}
	case "session-info", "transport-info", "description-info":
		// XEP-0166 §6.8: an informational message whose payload we do not
		// understand (XTLS defines none) gets <unsupported-info/>; an
		// empty one (a session ping) is acknowledged.
		if hasPayload(el) {
			break
		}
		s.out = append(s.out, iqResult(s.cfg.JID, st))
		return nil
	case "content-add", "transport-replace":
		// XEP-0166 §7.2.2, §7.2.15: the recipient of content-add or transport-replace
		// MUST answer with content-reject or transport-reject. XTLS runs
		// one XML-stream content over the transport whose TLS it checked.
		s.out = append(s.out, iqResult(s.cfg.JID, st))
		rej := &jingle{Action: "content-reject", SID: t.sid}
		if j.Action == "transport-replace" {
			rej.Action = "transport-reject"
		}
		for _, c := range j.Contents {
			rc := &content{Creator: c.Creator, Name: c.Name}
			if rej.Action == "transport-reject" {
				rc.Transport = c.Transport
			}
			rej.Contents = append(rej.Contents, rc)
		}
		s.sendLocked(t, iqSet(s.cfg.JID, t.peer, s.newIDLocked(), rej.element()), func(*e2e.Stanza) {})
		return nil
	case "content-accept", "content-reject", "transport-accept", "transport-reject":
		// They answer a content-add or transport-replace; we send neither.
		s.out = append(s.out, outOfOrder(s.cfg.JID, st))
		return fmt.Errorf("xtls: %w: Jingle %s answers nothing we sent", e2e.ErrMalformed, j.Action)
	case "content-modify", "content-remove":
		// Defined by XEP-0166 but not supported (see docs/xtls.md).
	default:
		// XEP-0166 §7.2: an action not defined there gets <bad-request/>.
		s.out = append(s.out, iqError(s.cfg.JID, st, "cancel", "bad-request", nil))
		return fmt.Errorf("xtls: %w: undefined Jingle action %q", e2e.ErrMalformed, j.Action)
	}
	// The error type is that of XEP-0166's example (§6.8).
	s.out = append(s.out, iqError(s.cfg.JID, st, "modify", "feature-not-implemented",
		&e2e.Element{Name: xmlName(nsJingleErrors, "unsupported-info")}))
	return fmt.Errorf("xtls: %w: Jingle action %q", e2e.ErrUnsupported, j.Action)
}

// outOfOrder answers a Jingle IQ-set that the session's state does not
// allow: <unexpected-request/> with <out-of-order/> (XEP-0166 §10).
func outOfOrder(local jid.JID, st *e2e.Stanza) *e2e.Stanza {
	return iqError(local, st, "cancel", "unexpected-request", &e2e.Element{Name: xmlName(nsJingleErrors, "out-of-order")})
}

// crossingInitiateLocked returns our own session-initiate to peer that is
// still unanswered by a session-accept, if any: a session-initiate from peer
// now crossed it.
func (s *session) crossingInitiateLocked(peer jid.JID) *tunnel {
	for _, t := range s.tunnels {
		if t.peer.Equal(peer) && t.initiator && t.state == stInitiated && !t.ended && !t.closing {
			return t
		}
	}
	return nil
}

// ourSecurity is the <security/> element we send: our SHA-256 fingerprint
// and the one method we implement.
func (s *session) ourSecurity() *security {
	return &security{Fingerprints: []Fingerprint{fingerprintSHA256(s.id.cert.Raw)}, Methods: []string{methodX509}}
}

func (s *session) initiateLocked(peer jid.JID) (*tunnel, error) {
	sid, err := s.randHex(8)
	if err != nil {
		return nil, err
	}
	ibbSID, err := s.randHex(8)
	if err != nil {
		return nil, err
	}
	t := s.newTunnelLocked(peer, sid, true, transport{NS: s.opts.Transport, SID: ibbSID, BlockSize: s.opts.BlockSize}, contentName)
	t.creator = "initiator"
	j := &jingle{Action: "session-initiate", SID: sid, Initiator: s.cfg.JID, Contents: []*content{{
		Creator: "initiator", Name: contentName, Description: nsXMLStream0,
		Transport: &t.tr, Security: s.ourSecurity(),
	}}}
	s.sendLocked(t, iqSet(s.cfg.JID, peer, s.newIDLocked(), j.element()), t.jingleResultLocked)
	return t, nil
}

func (s *session) newTunnelLocked(peer jid.JID, sid string, initiator bool, tr transport, content string) *tunnel {
	t := &tunnel{s: s, peer: peer, sid: sid, initiator: initiator, tr: tr, content: content,
		deadline: s.cfg.Now().Add(s.opts.HandshakeTimeout)}
	t.conn = newIBBConn(s.s, s.cfg.JID, peer, tr.SID, tr.BlockSize, s.opts.Window)
	t.conn.send = func(st *e2e.Stanza, h func(*e2e.Stanza)) { s.sendLocked(t, st, h) }
	t.conn.newID = s.newIDLocked
	t.conn.aligned = !s.opts.SplitRecords
	t.conn.needOpen = initiator || tr.NS == nsIBB1
	t.conn.peerOpens = !initiator && tr.NS == nsIBB1
	t.conn.fixedBlock = true
	t.conn.onFail = func(err error) { s.failLocked(t, "failed-transport", err, true) }
	s.tunnels[key(peer, sid)] = t
	s.byIBB[key(peer, tr.SID)] = t
	return t
}

// terminateLocked sends session-terminate for sid to peer.
func (s *session) terminateLocked(t *tunnel, peer jid.JID, sid, reason, text string) {
	j := &jingle{Action: "session-terminate", SID: sid, Reason: reason, ReasonText: text}
	s.sendLocked(t, iqSet(s.cfg.JID, peer, s.newIDLocked(), j.element()), func(*e2e.Stanza) {})
}

func (s *session) onInitiateLocked(st *e2e.Stanza, j *jingle) error {
	// XEP-0166 §7.1: a differing 'initiator' attribute is ignored and
	// 'from' is the initiator; the tunnel and its certificate check are
	// bound to 'from'.
	peer := st.From
	if err := checkInitiateContents(j); err != nil || peer.Resourcepart() == "" {
		if err == nil {
			err = fmt.Errorf("session-initiate from %q, not a full JID", peer)
		}
		s.out = append(s.out, iqError(s.cfg.JID, st, "modify", "bad-request", nil))
		return fmt.Errorf("xtls: %w: %v", e2e.ErrMalformed, err)
	}
	s.out = append(s.out, iqResult(s.cfg.JID, st))
	refuse := func(reason string, err error) error {
		s.terminateLocked(nil, peer, j.SID, reason, "")
		s.ended[key(peer, j.SID)] = true
		return &TerminatedError{Reason: reason, Err: err}
	}
	c := j.xmlstreamContent()
	switch {
	case c == nil:
		return refuse("unsupported-applications", fmt.Errorf("xtls: %w: no XML-stream application", e2e.ErrUnsupported))
	case c.Transport == nil:
		return refuse("unsupported-transports", fmt.Errorf("xtls: %w: no IBB transport (got %q)", e2e.ErrUnsupported, c.TransportNS))
	case c.Security == nil:
		return refuse("security-error", ErrNoSecurity)
	case !c.Security.has(methodX509):
		return refuse("security-error", fmt.Errorf("%w: peer offers %q", ErrUnsupportedMethod, c.Security.Methods))
	case s.id == nil:
		return refuse("security-error", fmt.Errorf("xtls: %w: no local identity", e2e.ErrNoKey))
	case s.byIBB[key(peer, c.Transport.SID)] != nil:
		return refuse("failed-transport", fmt.Errorf("xtls: %w: IBB sid %q already in use", e2e.ErrMalformed, c.Transport.SID))
	}
	tr := *c.Transport
	tr.BlockSize = min(tr.BlockSize, s.opts.BlockSize)
	t := s.newTunnelLocked(peer, j.SID, false, tr, c.Name)
	t.creator = c.Creator
	t.peerSec = c.Security
	t.startLocked() // the TLS server reads before the ClientHello can arrive
	acc := &jingle{Action: "session-accept", SID: j.SID, Responder: s.cfg.JID, Contents: []*content{{
		Creator: c.Creator, Name: c.Name, Description: nsXMLStream0,
		Transport: &transport{NS: tr.NS, SID: tr.SID, BlockSize: tr.BlockSize}, Security: s.ourSecurity(),
	}}}
	s.sendLocked(t, iqSet(s.cfg.JID, peer, s.newIDLocked(), acc.element()), t.jingleResultLocked)
	return nil
}

// checkInitiateContents applies XEP-0166's rules for the contents of a
// session-initiate: at least one content; each one named and created by the
// initiator (§7.3; 'creator' defaults to "initiator"); at least one of
// disposition "session" (§7.2.10).
func checkInitiateContents(j *jingle) error {
	if len(j.Contents) == 0 {
		return errors.New("session-initiate without <content/>")
	}
	session := false
	for _, c := range j.Contents {
		if c.Name == "" || c.Creator != "initiator" {
			return fmt.Errorf("session-initiate with a content of creator %q and name %q", c.Creator, c.Name)
		}
		session = session || c.Disposition == "session"
	}
	if !session {
		return errors.New("session-initiate without a content of disposition \"session\"")
	}
	return nil
}

func (s *session) onAcceptLocked(t *tunnel, j *jingle) error {
	c := j.contentFor(t.creator, t.content)
	switch {
	case c == nil || !isOneOf(c.Description, nsXMLStream0, nsXMLStream1):
		return s.failLocked(t, "unsupported-applications", fmt.Errorf("xtls: %w: session-accept without our content", e2e.ErrMalformed), true)
	case c.Transport == nil || c.Transport.NS != t.tr.NS || c.Transport.SID != t.tr.SID:
		return s.failLocked(t, "unsupported-transports", fmt.Errorf("xtls: %w: session-accept changed the transport", e2e.ErrMalformed), true)
	case c.Transport.BlockSize > t.tr.BlockSize:
		return s.failLocked(t, "failed-transport", fmt.Errorf("xtls: %w: block-size raised to %d", e2e.ErrMalformed, c.Transport.BlockSize), true)
	case c.Security == nil:
		return s.failLocked(t, "security-error", ErrNoSecurity, true)
	case !c.Security.has(methodX509):
		return s.failLocked(t, "security-error", fmt.Errorf("%w: peer offers %q", ErrUnsupportedMethod, c.Security.Methods), true)
	}
	t.tr.BlockSize = c.Transport.BlockSize
	t.conn.block = c.Transport.BlockSize
	t.peerSec = c.Security
	t.state = stAccepted
	info := &jingle{Action: "security-info", SID: t.sid, Contents: []*content{{
		Creator: "initiator", Name: t.content, Security: &security{Methods: []string{methodX509}},
	}}}
	s.sendLocked(t, iqSet(s.cfg.JID, t.peer, s.newIDLocked(), info.element()), t.jingleResultLocked)
	if t.tr.NS == nsIBB1 {
		o := ibbElement("open")
		o.Attr = attrs("block-size", strconv.Itoa(t.tr.BlockSize), "sid", t.tr.SID, "stanza", "iq")
		s.sendLocked(t, iqSet(s.cfg.JID, t.peer, s.newIDLocked(), o), func(res *e2e.Stanza) {
			if t.ended {
				return
			}
			if res.Type == "error" {
				s.failLocked(t, "failed-transport", &IBBError{Cond: errorCondition(res), Remote: true, Detail: "peer refused <open/>", class: e2e.ErrMalformed}, true)
				return
			}
			t.conn.opened = true
			t.startLocked()
		})
		return nil
	}
	t.conn.opened = true
	t.startLocked()
	return nil
}

// failLocked ends t after a failure: it sends session-terminate with reason
// (when notify), closes the bytestream without ceremony and records the
// error for the current call.
func (s *session) failLocked(t *tunnel, reason string, cause error, notify bool) error {
	if t.ended {
		return nil
	}
	err := &TerminatedError{Reason: reason, Err: cause}
	if n := len(t.held); n > 0 {
		err.Text = fmt.Sprintf("%d held stanzas were not sent", n)
	}
	if notify {
		s.terminateLocked(t, t.peer, t.sid, reason, "")
	}
	s.endLocked(t)
	s.errs = append(s.errs, err)
	return err
}

// endLocked forgets t and stops its goroutine.
func (s *session) endLocked(t *tunnel) {
	if t.ended {
		return
	}
	t.ended = true
	t.conn.closeLocked(false)
	delete(s.tunnels, key(t.peer, t.sid))
	delete(s.byIBB, key(t.peer, t.tr.SID))
	s.ended[key(t.peer, t.sid)] = true
	s.ended[key(t.peer, t.tr.SID)] = true
	for id, p := range s.pending {
		if p.t == t {
			delete(s.pending, id)
		}
	}
	s.s.cond.Broadcast()
}

// expireLocked ends the tunnels whose handshake outlived the timeout.
func (s *session) expireLocked() {
	now := s.cfg.Now()
	for _, t := range s.tunnels {
		if !t.ended && t.state != stOpen && now.After(t.deadline) {
			s.failLocked(t, "timeout", ErrTimeout, true)
			// Reported by Expire, not by the unrelated call that noticed.
			s.expired = append(s.expired, s.errs[len(s.errs)-1])
			s.errs = s.errs[:len(s.errs)-1]
		}
	}
}

// Expire ends the Jingle sessions whose negotiation, TLS handshake or
// stream header did not complete within Options.HandshakeTimeout (on
// Config.Clock), and returns their session-terminate stanzas with reason
// <timeout/>, and a *TerminatedError for each. Every other call checks the
// timeouts too (and returns the stanzas with its own), but only Expire
// reports the errors; a client with no traffic calls Expire from a timer.
func (s *session) Expire(ctx context.Context) ([]*e2e.Stanza, error) {
	if err := s.begin(); err != nil {
		return nil, err
	}
	errs := s.expired
	s.expired = nil
	out, _, err := s.finish(ctx)
	if err == nil && len(errs) > 0 {
		err = errors.Join(errs...)
	}
	return out, err
}

// Close ends every tunnel: the inner stream's end tag, TLS close_notify, the
// IBB <close/> and session-terminate with <success/> (or <cancel/> for a
// tunnel not yet open). It waits until the session's goroutines have
// exited; the session cannot be used afterwards.
func (s *session) Close(ctx context.Context) ([]*e2e.Stanza, error) {
	if err := s.begin(); err != nil {
		return nil, err
	}
	var dropped int
	for _, t := range s.tunnels {
		if t.ended {
			continue
		}
		reason := "cancel"
		if t.state == stOpen {
			reason = "success"
			if !t.closing {
				t.closing = true
				tc := t.tc
				s.s.mu.Unlock()
				tc.Write([]byte(streamEnd)) // errors end the tunnel anyway
				tc.CloseWrite()
				s.s.mu.Lock()
			}
		}
		dropped += len(t.held)
		if !t.ended {
			t.conn.closeLocked(true)
			s.terminateLocked(t, t.peer, t.sid, reason, "")
			s.endLocked(t)
		}
	}
	s.closed = true
	s.errs = nil
	out := s.out
	s.out = nil
	s.opened = nil
	s.s.mu.Unlock()
	s.call.Unlock()
	s.s.wg.Wait()
	if dropped > 0 {
		return out, fmt.Errorf("xtls: %d held stanzas were not sent before Close", dropped)
	}
	return out, nil
}

// SAS returns the short authentication string of the open tunnel to peer (a
// full JID): 40 bits from the TLS exporter (label EXPERIMENTAL-XTLS-SAS, no
// context) as 10 uppercase hex digits, the same at both ends of one TLS
// connection and different for each leg of a relaying man in the middle.
// Users compare it out of band.
func (s *session) SAS(peer jid.JID) (string, error) {
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	for _, t := range s.tunnels {
		if t.peer.Equal(peer) && t.sas != "" {
			return t.sas, nil
		}
	}
	return "", fmt.Errorf("xtls: no open tunnel to %s", peer)
}

// PeerCertificate returns the certificate the peer presented in the open
// tunnel to peer.
func (s *session) PeerCertificate(peer jid.JID) (*Peer, error) {
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	for _, t := range s.tunnels {
		if t.peer.Equal(peer) && t.peerCert != nil {
			return t.peerCert, nil
		}
	}
	return nil, fmt.Errorf("xtls: no open tunnel to %s", peer)
}

// ConnectionState returns the TLS state of the open tunnel to peer.
func (s *session) ConnectionState(peer jid.JID) (tls.ConnectionState, error) {
	s.s.mu.Lock()
	var tc *tls.Conn
	for _, t := range s.tunnels {
		if t.peer.Equal(peer) && t.state == stOpen {
			tc = t.tc
		}
	}
	s.s.mu.Unlock()
	if tc == nil {
		return tls.ConnectionState{}, fmt.Errorf("xtls: no open tunnel to %s", peer)
	}
	return tc.ConnectionState(), nil
}

var _ = time.Second
