package server

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/sasl"
	"mellium.im/xmpp/jid"
)

// queueLen is the capacity of each stream's write queue; sendWait is how
// long routing waits on a full queue before bouncing the stanza.
const (
	queueLen = 64
	sendWait = 5 * time.Second
	maxBatch = 256
)

// outq is one stream's write queue, drained by one writer goroutine.
type outq struct {
	ch   chan qitem
	done chan struct{}
	once sync.Once
}

// qitem is one queued stanza: its bytes, and for deferred wiretap records
// (s2s links not yet up) the stanza and the interceptor action.
type qitem struct {
	b      []byte
	st     *e2e.Stanza
	action string
}

func newOutq(n int) *outq { return &outq{ch: make(chan qitem, n), done: make(chan struct{})} }

// put enqueues b; false when the stream is gone or stayed full for sendWait.
func (q *outq) put(b qitem) bool {
	select {
	case q.ch <- b:
		return true
	case <-q.done:
		return false
	default:
	}
	t := time.NewTimer(sendWait)
	defer t.Stop()
	select {
	case q.ch <- b:
		return true
	case <-q.done:
		return false
	case <-t.C:
		return false
	}
}

func (q *outq) stop() { q.once.Do(func() { close(q.done) }) }

// run writes queued items in batches until stop; then it writes tail (the
// stream close) if the connection still works.
func (q *outq) run(x *xstream, tail func() string, onWrite func(qitem)) {
	var buf []byte
	// take appends up to max queued items to buf without waiting.
	take := func(buf []byte, max int) []byte {
		for n := 0; n < max; n++ {
			select {
			case it := <-q.ch:
				if onWrite != nil {
					onWrite(it)
				}
				buf = append(buf, it.b...)
				continue
			default:
			}
			break
		}
		return buf
	}
	for {
		select {
		case it := <-q.ch:
			if onWrite != nil {
				onWrite(it)
			}
			buf = take(append(buf[:0], it.b...), maxBatch-1)
			if err := x.write(buf); err != nil {
				q.stop()
				x.close()
				return
			}
			if cap(buf) > 64<<10 {
				buf = nil
			}
		case <-q.done:
			// Write what is already queued, then close the stream.
			buf = take(buf[:0], cap(q.ch))
			if t := tail(); t != "" {
				buf = append(buf, t...)
			}
			if len(buf) > 0 {
				x.write(buf)
			}
			return
		}
	}
}

// c2s is one client session.
type c2s struct {
	srv  *Server
	x    *xstream
	jid  jid.JID // bound full JID
	prot Protection
	q    *outq

	mu        sync.Mutex
	available bool
	priority  int
	presence  *e2e.Stanza // last broadcast available presence
	carbons   bool
	endCond   string // stream error to end with, if any
	closeOnce sync.Once
}

func (c *c2s) peer() string { return c.jid.String() }

// shutdown ends the session with a stream error condition (or a plain
// close when cond is empty) and lets the writer flush it.
func (c *c2s) shutdown(cond string) {
	c.mu.Lock()
	if c.endCond == "" {
		c.endCond = cond
	}
	c.mu.Unlock()
	c.q.stop()
}

func (c *c2s) tail() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.endCond != "" && c.endCond != "-" {
		return streamErrorXML(c.endCond, "")
	}
	return "</stream:stream>"
}

// handleC2S runs one client connection: negotiation, then the read loop.
func (s *Server) handleC2S(conn net.Conn) {
	start := time.Now()
	x := newXStream(conn)
	conn.SetDeadline(start.Add(s.cfg.NegotiationTimeout))
	c, err := s.negotiateC2S(x)
	if err != nil {
		var se *errStream
		if errors.As(err, &se) {
			x.writeString(streamErrorXML(se.cond, se.text))
		}
		s.logf("c2s %s: negotiation failed after %v: %v", conn.RemoteAddr(), time.Since(start).Round(time.Millisecond), err)
		return
	}
	conn.SetDeadline(time.Time{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.q.run(x, c.tail, nil)
		// Unblock the reader once the stream is closed on our side.
		conn.SetReadDeadline(time.Now().Add(time.Second))
	}()
	err = s.readC2S(c)
	var se *errStream
	if errors.As(err, &se) {
		c.shutdown(se.cond)
	} else {
		c.shutdown("")
	}
	s.unregister(c)
	wg.Wait()
	s.logf("c2s %s: %s (%s) for %v: %v", conn.RemoteAddr(), c.jid, c.prot, time.Since(start).Round(time.Millisecond), errOrEOF(err))
}

func errOrEOF(err error) any {
	if err == nil || errors.Is(err, io.EOF) {
		return "stream closed"
	}
	return err
}

// openC2S reads a client's stream header and answers with ours and the
// given features.
func (s *Server) openC2S(x *xstream, features string) error {
	h, err := x.readHeader(e2e.NSClient)
	if err != nil {
		return s.headerFailed(x, err)
	}
	if err := s.checkTo(h); err != nil {
		return s.headerFailed(x, err)
	}
	x.id = randomID()
	return x.writeString(header(e2e.NSClient, s.domain, "", x.id, false) + "<stream:features>" + features + "</stream:features>")
}

func (s *Server) negotiateC2S(x *xstream) (*c2s, error) {
	// Round 1: plaintext, STARTTLS required.
	if err := s.openC2S(x, "<starttls xmlns='"+nsTLS+"'><required/></starttls>"); err != nil {
		return nil, err
	}
	e, _, err := readTop(x.d)
	if err != nil {
		return nil, err
	}
	if e.Name.Space != nsTLS || e.Name.Local != "starttls" {
		return nil, streamErr("policy-violation", "STARTTLS is required")
	}
	if err := x.writeString("<proceed xmlns='" + nsTLS + "'/>"); err != nil {
		return nil, err
	}
	tc := tls.Server(x.raw, s.tlsConfig())
	if err := tc.Handshake(); err != nil {
		return nil, fmt.Errorf("TLS: %w", err)
	}
	x.setConn(tc)
	cs := tc.ConnectionState()

	// Round 2: SASL.
	var user, mech string
	for attempt := 0; ; attempt++ {
		if attempt == 0 {
			err := s.openC2S(x, "<mechanisms xmlns='"+nsSASL+"'><mechanism>SCRAM-SHA-256</mechanism><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms>")
			if err != nil {
				return nil, err
			}
		}
		if attempt >= 3 {
			return nil, streamErr("policy-violation", "too many authentication attempts")
		}
		user, mech, err = s.saslServer(x, &cs)
		if err == nil {
			break
		}
		if !errors.Is(err, errAuth) {
			return nil, err
		}
	}

	// Round 3: resource binding.
	x.restart(negotiationLimit)
	if err := s.openC2S(x, "<bind xmlns='"+nsBind+"'/><session xmlns='"+nsSession+"'><optional/></session>"); err != nil {
		return nil, err
	}
	c := &c2s{srv: s, x: x, prot: protectionOf(&cs, mech, ""), q: newOutq(queueLen)}
	for i := 0; i < 8; i++ {
		e, _, err := readTop(x.d)
		if err != nil {
			return nil, err
		}
		if e.Name.Space != e2e.NSClient || e.Name.Local != "iq" {
			return nil, streamErr("not-authorized", "bind a resource first")
		}
		id, _ := e.AttrValue("id")
		typ, _ := e.AttrValue("type")
		b := e.Child(nsBind, "bind")
		if typ != "set" || b == nil {
			x.writeString(iqErrorXML(id, "", "cancel", "not-allowed"))
			continue
		}
		res := ""
		if r := b.Child(nsBind, "resource"); r != nil {
			res = strings.TrimSpace(r.Text())
		}
		j, cond := s.bind(c, user, res)
		if cond != "" {
			typ := "cancel"
			if cond == "conflict" {
				typ = "cancel"
			} else if cond == "bad-request" {
				typ = "modify"
			}
			x.writeString(iqErrorXML(id, "", typ, cond))
			continue
		}
		c.jid = j
		x.rec.limit = stanzaLimit
		x.rec.discard(x.d.InputOffset())
		if err := x.writeString("<iq type='result' id='" + xmlEscape(id) + "'><bind xmlns='" + nsBind + "'><jid>" + xmlEscape(j.String()) + "</jid></bind></iq>"); err != nil {
			s.unregister(c)
			return nil, err
		}
		return c, nil
	}
	return nil, streamErr("policy-violation", "no resource bound")
}

func (s *Server) headerFailed(x *xstream, err error) error {
	var se *errStream
	if errors.As(err, &se) {
		// RFC 6120 §4.9.1.2: open our own stream before the error.
		x.writeString(header(e2e.NSClient, s.domain, "", randomID(), false) + streamErrorXML(se.cond, se.text))
		return fmt.Errorf("%v", err)
	}
	return err
}

func (s *Server) checkTo(h xml.StartElement) error {
	to := attr(h, "to")
	j, err := jid.Parse(to)
	if err != nil || j.Domainpart() != s.domain || j.Localpart() != "" || j.Resourcepart() != "" {
		return streamErr("host-unknown", "this server serves %s", s.domain)
	}
	return nil
}

var errAuth = errors.New("not authorized")

// saslServer runs one SASL exchange. It returns the authenticated
// localpart and the mechanism, or errAuth after sending a failure.
func (s *Server) saslServer(x *xstream, cs *tls.ConnectionState) (user, mech string, err error) {
	e, _, err := readTop(x.d)
	if err != nil {
		return "", "", err
	}
	if e.Name.Space != nsSASL || e.Name.Local != "auth" {
		return "", "", streamErr("not-authorized", "authenticate first")
	}
	mech, _ = e.AttrValue("mechanism")
	fail := func(cond string) (string, string, error) {
		if err := x.writeString("<failure xmlns='" + nsSASL + "'><" + cond + "/></failure>"); err != nil {
			return "", "", err
		}
		return "", "", errAuth
	}
	initial, ok := decodeSASL(e.Text())
	if !ok {
		return fail("incorrect-encoding")
	}
	// next sends a challenge and reads the response.
	next := func(challenge []byte) ([]byte, bool, error) {
		if err := x.writeString("<challenge xmlns='" + nsSASL + "'>" + encodeSASL(challenge) + "</challenge>"); err != nil {
			return nil, false, err
		}
		e, _, err := readTop(x.d)
		if err != nil {
			return nil, false, err
		}
		if e.Name.Space == nsSASL && e.Name.Local == "abort" {
			return nil, false, nil
		}
		if e.Name.Space != nsSASL || e.Name.Local != "response" {
			return nil, false, streamErr("not-authorized", "expected a SASL response")
		}
		b, ok := decodeSASL(e.Text())
		return b, ok, nil
	}
	if strings.TrimSpace(e.Text()) == "" {
		// No initial response: an empty challenge asks for it.
		var ok bool
		initial, ok, err = next(nil)
		if err != nil {
			return "", "", err
		}
		if !ok {
			return fail("aborted")
		}
	}
	switch mech {
	case "PLAIN":
		parts := strings.Split(string(initial), "\x00")
		if len(parts) != 3 {
			return fail("malformed-request")
		}
		l, err := normLocal(parts[1], s.domain)
		if err != nil {
			return fail("not-authorized")
		}
		if parts[0] != "" && parts[0] != l+"@"+s.domain {
			return fail("invalid-authzid")
		}
		c, err := s.store.Credentials(l)
		if err != nil || !c.Check(parts[2]) {
			return fail("not-authorized")
		}
		return l, mech, x.writeString("<success xmlns='" + nsSASL + "'/>")
	case "SCRAM-SHA-256", "SCRAM-SHA-1":
		var authUser string
		base := sasl.ScramSha256
		if mech == "SCRAM-SHA-1" {
			base = sasl.ScramSha1
		}
		fetch := func(username, authzid []byte, _ string) ([]byte, []byte, int64, error) {
			l, err := normLocal(string(username), s.domain)
			if err != nil {
				return nil, nil, 0, sasl.ErrAuthn
			}
			if len(authzid) != 0 && string(authzid) != l+"@"+s.domain {
				return nil, nil, 0, sasl.ErrAuthn
			}
			c, err := s.store.Credentials(l)
			if err != nil {
				return nil, nil, 0, sasl.ErrAuthn
			}
			salt, salted, _ := c.scram(mech)
			authUser = l
			return salt, salted, int64(c.Iterations), nil
		}
		n := sasl.NewServer(base, nil, sasl.SaltedCredentials(fetch))
		in := initial
		for step := 0; step < 4; step++ {
			more, resp, err := scramStep(n, in)
			if err != nil {
				return fail("not-authorized")
			}
			if !more {
				return authUser, mech, x.writeString("<success xmlns='" + nsSASL + "'>" + encodeSASL(resp) + "</success>")
			}
			var ok bool
			in, ok, err = next(resp)
			if err != nil {
				return "", "", err
			}
			if !ok {
				return fail("aborted")
			}
		}
		return fail("not-authorized")
	default:
		return fail("invalid-mechanism")
	}
}

// scramStep runs one step of mellium's SCRAM server, which panics on some
// hostile input (the -PLUS path): a panic is a failed authentication.
func scramStep(n *sasl.Negotiator, in []byte) (more bool, resp []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			more, resp, err = false, nil, sasl.ErrAuthn
		}
	}()
	return n.Step(in)
}

func decodeSASL(s string) ([]byte, bool) {
	s = strings.TrimSpace(s)
	if s == "=" || s == "" {
		return nil, true
	}
	b, err := base64.StdEncoding.DecodeString(s)
	return b, err == nil
}

func encodeSASL(b []byte) string {
	if len(b) == 0 {
		return "="
	}
	return base64.StdEncoding.EncodeToString(b)
}

func iqErrorXML(id, to, typ, cond string) string {
	t := ""
	if to != "" {
		t = " to='" + xmlEscape(to) + "'"
	}
	return "<iq type='error' id='" + xmlEscape(id) + "'" + t + "><error type='" + typ + "'><" + cond + " xmlns='" + nsStanzas + "'/></error></iq>"
}

// bind registers c under user with the requested resource, applying the
// conflict policy. It returns the bound JID or an error condition.
func (s *Server) bind(c *c2s, user, res string) (jid.JID, string) {
	if res == "" {
		res = "xmppe2e-" + randomID()[:8]
	}
	j, err := jid.New(user, s.domain, res)
	if err != nil {
		return jid.JID{}, "bad-request"
	}
	s.mu.Lock()
	rs := s.accounts[user]
	if rs == nil {
		rs = map[string]*c2s{}
		s.accounts[user] = rs
	}
	var kicked *c2s
	if old := rs[j.Resourcepart()]; old != nil {
		switch s.cfg.ResourceConflict {
		case Refuse:
			s.mu.Unlock()
			return jid.JID{}, "conflict"
		case Rename:
			j, err = jid.New(user, s.domain, j.Resourcepart()+"-"+randomID()[:6])
			if err != nil {
				s.mu.Unlock()
				return jid.JID{}, "bad-request"
			}
		default:
			kicked = old
		}
	}
	c.jid = j
	rs[j.Resourcepart()] = c
	s.mu.Unlock()
	if kicked != nil {
		kicked.mu.Lock()
		kicked.endCond = "conflict"
		kicked.mu.Unlock()
		s.goOffline(kicked)
		kicked.q.stop()
	}
	return j, ""
}

// unregister removes c from the routing table and broadcasts its
// unavailability.
func (s *Server) unregister(c *c2s) {
	s.mu.Lock()
	rs := s.accounts[c.jid.Localpart()]
	mine := rs != nil && rs[c.jid.Resourcepart()] == c
	if mine {
		delete(rs, c.jid.Resourcepart())
		if len(rs) == 0 {
			delete(s.accounts, c.jid.Localpart())
		}
	}
	s.mu.Unlock()
	s.goOffline(c)
}

// readC2S is the session's read loop.
func (s *Server) readC2S(c *c2s) error {
	x := c.x
	for {
		off := x.d.InputOffset()
		tok, err := x.d.Token()
		if err != nil {
			return wrapRead(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Space != e2e.NSClient || (t.Name.Local != "message" && t.Name.Local != "presence" && t.Name.Local != "iq") {
				return streamErr("unsupported-stanza-type", "<%s xmlns=%q>", t.Name.Local, t.Name.Space)
			}
			st, err := e2e.ReadStanza(t.Copy(), x.d)
			if err != nil {
				var se *errStream
				if errors.As(err, &se) {
					return se
				}
				return streamErr("not-well-formed", "%v", err)
			}
			end := x.d.InputOffset()
			raw := append([]byte(nil), x.rec.slice(off, end)...)
			x.rec.discard(end)
			s.fromClient(c, st, raw)
		case xml.EndElement:
			return io.EOF
		case xml.CharData:
			if len(strings.TrimSpace(string(t))) != 0 {
				return streamErr("not-well-formed", "text between stanzas")
			}
			x.rec.discard(x.d.InputOffset())
		default:
			return streamErr("restricted-xml", "%T in the stream", tok)
		}
	}
}

// send writes st to the client (hop c2s-out), through the interceptors.
// It reports false when the stanza could not be queued.
func (c *c2s) send(st *e2e.Stanza) bool {
	s := c.srv
	st = toNS(st, e2e.NSClient)
	outs, action := s.intercept(C2SOut, st, func(later []*e2e.Stanza) {
		for _, l := range later {
			c.write(l, "delayed")
		}
	})
	if action == "dropped" {
		s.record(C2SOut, c.peer(), st.Bytes(), st, c.prot, "dropped")
		return true
	}
	ok := true
	for _, o := range outs {
		ok = c.write(o, action) && ok
	}
	return ok
}

func (c *c2s) write(st *e2e.Stanza, action string) bool {
	b := st.Bytes()
	c.srv.record(C2SOut, c.peer(), b, st, c.prot, action)
	return c.q.put(qitem{b: b})
}
