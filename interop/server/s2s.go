package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// s2sQueueLen is the write queue of an outbound s2s link: stanzas wait
// there while the link is being set up.
const s2sQueueLen = 4096

// s2sLink is our outbound stream to one remote domain (streams are
// unidirectional: the remote server dials us for its own stanzas).
type s2sLink struct {
	srv    *Server
	domain string
	q      *outq
	x      *xstream

	mu   sync.Mutex
	prot Protection
}

func (l *s2sLink) close() { l.q.stop() }

// dialbackKey computes the XEP-0185 key for the receiving and originating
// domains and stream ID.
func (s *Server) dialbackKey(receiving, originating, id string) string {
	k := sha256.Sum256(s.secret)
	m := hmac.New(sha256.New, []byte(hex.EncodeToString(k[:])))
	m.Write([]byte(receiving + " " + originating + " " + id))
	return hex.EncodeToString(m.Sum(nil))
}

// sendRemote sends st over the outbound link to domain, dialling it when
// there is none.
func (s *Server) sendRemote(domain string, st *e2e.Stanza) {
	if s.closed.Load() {
		return
	}
	if _, ok := s.peerAddr(domain); !ok {
		s.bounce(st, "cancel", "remote-server-not-found")
		return
	}
	s.mu.Lock()
	l := s.s2sOut[domain]
	if l == nil {
		l = &s2sLink{srv: s, domain: domain, q: newOutq(s2sQueueLen)}
		s.s2sOut[domain] = l
		s.wg.Add(1)
		go l.run()
	}
	s.mu.Unlock()
	st = toNS(st, e2e.NSServer)
	outs, action := s.intercept(S2SOut, st, func(later []*e2e.Stanza) {
		for _, o := range later {
			l.write(o, "delayed")
		}
	})
	if action == "dropped" {
		l.mu.Lock()
		p := l.prot
		l.mu.Unlock()
		s.record(S2SOut, domain, st.Bytes(), st, p, "dropped")
		return
	}
	for _, o := range outs {
		if !l.write(o, action) {
			s.bounce(o, "wait", "remote-server-timeout")
		}
	}
}

func (l *s2sLink) write(st *e2e.Stanza, action string) bool {
	// Recorded when written: the stream's protection is known only then.
	return l.q.put(qitem{b: st.Bytes(), st: st, action: action})
}

func (l *s2sLink) run() {
	s := l.srv
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		if s.s2sOut[l.domain] == l {
			delete(s.s2sOut, l.domain)
		}
		s.mu.Unlock()
		l.q.stop()
		// Bounce what never left.
		for n := 0; n < s2sQueueLen; n++ {
			select {
			case b := <-l.q.ch:
				if st, err := e2e.Parse(b.b); err == nil {
					s.bounce(toNS(st, e2e.NSClient), "cancel", "remote-server-not-found")
				}
				continue
			default:
			}
			break
		}
	}()
	start := time.Now()
	addr, _ := s.peerAddr(l.domain)
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		s.logf("s2s-out %s: %v", l.domain, err)
		return
	}
	if !s.track(conn) {
		conn.Close()
		return
	}
	defer s.untrack(conn)
	x := newXStream(conn)
	conn.SetDeadline(time.Now().Add(s.cfg.NegotiationTimeout))
	prot, err := s.negotiateOut(x, l.domain)
	if err != nil {
		var se *errStream
		if errors.As(err, &se) {
			x.writeString(streamErrorXML(se.cond, se.text))
		}
		s.logf("s2s-out %s: negotiation failed after %v: %v", l.domain, time.Since(start).Round(time.Millisecond), err)
		return
	}
	conn.SetDeadline(time.Time{})
	l.mu.Lock()
	l.prot, l.x = prot, x
	l.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.q.run(x, func() string { return "</stream:stream>" }, func(it qitem) {
			s.record(S2SOut, l.domain, it.b, it.st, prot, it.action)
		})
		conn.SetReadDeadline(time.Now().Add(time.Second))
	}()
	// The remote server sends nothing on this stream but its close or a
	// stream error.
	var why any
	for i := 0; ; i++ {
		e, _, err := readTop(x.d)
		if err != nil {
			why = errOrEOF(err)
			break
		}
		if e.Name.Space == nsStream && e.Name.Local == "error" {
			why = "stream error " + string(e.Bytes())
			break
		}
		x.rec.discard(x.d.InputOffset())
	}
	l.q.stop()
	<-done
	s.logf("s2s-out %s: (%s) for %v: %v", l.domain, prot, time.Since(start).Round(time.Millisecond), why)
}

// features reads a <stream:features/> element.
func readFeatures(x *xstream) (*e2e.Element, error) {
	e, _, err := readTop(x.d)
	if err != nil {
		return nil, err
	}
	if e.Name.Space != nsStream || e.Name.Local != "features" {
		return nil, streamErr("bad-format", "expected stream features, got <%s>", e.Name.Local)
	}
	return e, nil
}

// verifyPeer checks a peer's certificate chain against the trust anchors
// and the peer's domain (RFC 6125) and describes the outcome.
func (s *Server) verifyPeer(certs []*x509.Certificate, domain string, usage x509.ExtKeyUsage) (string, bool) {
	if len(certs) == 0 {
		return "no certificate", false
	}
	leaf, err := verifyChain(certs, s.cfg.RootCAs, usage)
	if err != nil {
		return "chain not trusted: " + err.Error(), false
	}
	id, err := VerifyDomain(leaf, domain, false)
	if err != nil {
		return "name mismatch: " + err.Error(), false
	}
	return id, true
}

// startTLSClient upgrades x as the initiating side, with our certificate
// as client certificate.
func (s *Server) startTLSClient(x *xstream, domain string) (*tls.ConnectionState, string, bool, error) {
	if err := x.writeString("<starttls xmlns='" + nsTLS + "'/>"); err != nil {
		return nil, "", false, err
	}
	e, _, err := readTop(x.d)
	if err != nil {
		return nil, "", false, err
	}
	if e.Name.Space != nsTLS || e.Name.Local != "proceed" {
		return nil, "", false, fmt.Errorf("STARTTLS refused by %s", domain)
	}
	var check string
	var ok bool
	cfg := &tls.Config{
		ServerName:         domain,
		Certificates:       []tls.Certificate{s.cfg.Certificate},
		MinVersion:         s.cfg.MinTLSVersion,
		InsecureSkipVerify: true, // verified below: chain, then RFC 6125 names
		VerifyConnection: func(cs tls.ConnectionState) error {
			check, ok = s.verifyPeer(cs.PeerCertificates, domain, x509.ExtKeyUsageServerAuth)
			if !ok && !s.cfg.InsecureS2S {
				return errors.New("server: " + domain + ": " + check)
			}
			return nil
		},
	}
	tc := tls.Client(x.raw, cfg)
	if err := tc.Handshake(); err != nil {
		return nil, "", false, fmt.Errorf("TLS with %s: %w", domain, err)
	}
	x.setConn(tc)
	cs := tc.ConnectionState()
	return &cs, check, ok, nil
}

// negotiateOut sets up an outbound s2s stream to domain: STARTTLS, then
// SASL EXTERNAL when offered, else Server Dialback.
func (s *Server) negotiateOut(x *xstream, domain string) (Protection, error) {
	open := func() (*e2e.Element, error) {
		if err := x.writeString(header(e2e.NSServer, s.domain, domain, "", true)); err != nil {
			return nil, err
		}
		h, err := x.readHeader(e2e.NSServer)
		if err != nil {
			return nil, err
		}
		x.id = attr(h, "id")
		return readFeatures(x)
	}
	f, err := open()
	if err != nil {
		return Protection{}, err
	}
	if f.Child(nsTLS, "starttls") == nil {
		return Protection{}, fmt.Errorf("%s does not offer STARTTLS", domain)
	}
	cs, check, certOK, err := s.startTLSClient(x, domain)
	if err != nil {
		return Protection{}, err
	}
	if f, err = open(); err != nil {
		return Protection{}, err
	}
	if x.id == "" {
		return Protection{}, streamErr("invalid-id", "no stream id from %s", domain)
	}
	if m := f.Child(nsSASL, "mechanisms"); m != nil && certOK && !s.cfg.DisableExternal && hasMechanism(m, "EXTERNAL") {
		if err := x.writeString("<auth xmlns='" + nsSASL + "' mechanism='EXTERNAL'>" + encodeSASL([]byte(s.domain)) + "</auth>"); err != nil {
			return Protection{}, err
		}
		e, _, err := readTop(x.d)
		if err != nil {
			return Protection{}, err
		}
		if e.Name.Space == nsSASL && e.Name.Local == "success" {
			x.restart(negotiationLimit)
			if _, err := open(); err != nil {
				return Protection{}, err
			}
			x.rec.limit = stanzaLimit
			return protectionOf(cs, "EXTERNAL", check), nil
		}
		// Failure: fall back to dialback on this stream.
	}
	if f.Child(nsDBFeature, "dialback") == nil && !declaresDialback(f) {
		return Protection{}, fmt.Errorf("%s offers neither SASL EXTERNAL nor dialback", domain)
	}
	key := s.dialbackKey(domain, s.domain, x.id)
	if err := x.writeString("<db:result from='" + s.domain + "' to='" + xmlEscape(domain) + "'>" + key + "</db:result>"); err != nil {
		return Protection{}, err
	}
	for i := 0; i < 16; i++ {
		e, _, err := readTop(x.d)
		if err != nil {
			return Protection{}, err
		}
		if e.Name.Space == nsDialback && e.Name.Local == "result" {
			if t, _ := e.AttrValue("type"); t == "valid" {
				x.rec.limit = stanzaLimit
				x.rec.discard(x.d.InputOffset())
				return protectionOf(cs, "dialback", check), nil
			}
			return Protection{}, fmt.Errorf("dialback with %s refused: %s", domain, e.Bytes())
		}
	}
	return Protection{}, errors.New("no dialback result")
}

// declaresDialback is true when the features element is empty: old
// servers offer dialback without announcing it.
func declaresDialback(f *e2e.Element) bool { return len(f.Elements()) == 0 }

func hasMechanism(m *e2e.Element, name string) bool {
	for _, c := range m.Elements() {
		if c.Name.Local == "mechanism" && strings.TrimSpace(c.Text()) == name {
			return true
		}
	}
	return false
}

// handleS2SIn runs one inbound s2s connection: a remote server's stream for
// its stanzas, or a dialback verification connection.
func (s *Server) handleS2SIn(conn net.Conn) {
	start := time.Now()
	x := newXStream(conn)
	conn.SetDeadline(start.Add(s.cfg.NegotiationTimeout))
	var summary []string
	err := s.serveS2SIn(x, conn, func(line string) { summary = append(summary, line) })
	var se *errStream
	if errors.As(err, &se) {
		x.writeString(streamErrorXML(se.cond, se.text))
	} else {
		x.writeString("</stream:stream>")
	}
	s.logf("s2s-in %s: %s for %v: %v", conn.RemoteAddr(), strings.Join(summary, "; "), time.Since(start).Round(time.Millisecond), errOrEOF(err))
}

// serveS2SIn runs the inbound stream; note collects what the connection's
// log line reports.
func (s *Server) serveS2SIn(x *xstream, conn net.Conn, note func(string)) error {
	h, err := x.readHeader(e2e.NSServer)
	if err != nil {
		x.writeString(header(e2e.NSServer, s.domain, "", randomID(), true))
		return err
	}
	if err := s.checkTo(h); err != nil {
		x.writeString(header(e2e.NSServer, s.domain, "", randomID(), true))
		return err
	}
	peer := attr(h, "from")
	x.id = randomID()
	if err := x.writeString(header(e2e.NSServer, s.domain, peer, x.id, true) +
		"<stream:features><starttls xmlns='" + nsTLS + "'><required/></starttls><dialback xmlns='" + nsDBFeature + "'><errors/></dialback></stream:features>"); err != nil {
		return err
	}
	var cs *tls.ConnectionState
	check, certOK := "no TLS", false
	authed := map[string]Protection{} // authorised originating domains
	var mech string
	// stop is closed when this stream ends; the read loop notices it.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-s.ctx.Done():
			x.writeString("</stream:stream>")
			conn.SetReadDeadline(time.Now().Add(time.Second))
		case <-stop:
		}
	}()
	for {
		off := x.d.InputOffset()
		e, _, err := readTop(x.d)
		if err != nil {
			return err
		}
		end := x.d.InputOffset()
		raw := append([]byte(nil), x.rec.slice(off, end)...)
		x.rec.discard(end)
		switch {
		case e.Name.Space == nsTLS && e.Name.Local == "starttls" && cs == nil:
			if err := x.writeString("<proceed xmlns='" + nsTLS + "'/>"); err != nil {
				return err
			}
			cfg := s.tlsConfig()
			cfg.ClientAuth = tls.RequestClientCert
			tc := tls.Server(x.raw, cfg)
			if err := tc.Handshake(); err != nil {
				return fmt.Errorf("TLS: %w", err)
			}
			x.setConn(tc)
			st := tc.ConnectionState()
			cs = &st
			if peer != "" {
				check, certOK = s.verifyPeer(st.PeerCertificates, peer, x509.ExtKeyUsageClientAuth)
			}
			h, err := x.readHeader(e2e.NSServer)
			if err != nil {
				return err
			}
			if attr(h, "from") != peer {
				return streamErr("invalid-from", "stream from changed after STARTTLS")
			}
			x.id = randomID()
			feats := "<stream:features>"
			if certOK && !s.cfg.DisableExternal {
				feats += "<mechanisms xmlns='" + nsSASL + "'><mechanism>EXTERNAL</mechanism></mechanisms>"
			}
			feats += "<dialback xmlns='" + nsDBFeature + "'><errors/></dialback></stream:features>"
			if err := x.writeString(header(e2e.NSServer, s.domain, peer, x.id, true) + feats); err != nil {
				return err
			}
		case e.Name.Space == nsSASL && e.Name.Local == "auth":
			m, _ := e.AttrValue("mechanism")
			authz, ok := decodeSASL(e.Text())
			if m != "EXTERNAL" || !certOK || s.cfg.DisableExternal || !ok || (len(authz) != 0 && string(authz) != peer) || mech != "" {
				x.writeString("<failure xmlns='" + nsSASL + "'><not-authorized/></failure>")
				continue
			}
			if err := x.writeString("<success xmlns='" + nsSASL + "'/>"); err != nil {
				return err
			}
			mech = "EXTERNAL"
			x.restart(negotiationLimit)
			h, err := x.readHeader(e2e.NSServer)
			if err != nil {
				return err
			}
			if attr(h, "from") != peer {
				return streamErr("invalid-from", "stream from changed after SASL")
			}
			x.id = randomID()
			if err := x.writeString(header(e2e.NSServer, s.domain, peer, x.id, true) + "<stream:features/>"); err != nil {
				return err
			}
			authed[peer] = protectionOf(cs, "EXTERNAL", check)
			x.rec.limit = stanzaLimit
			conn.SetDeadline(time.Time{})
			note(fmt.Sprintf("%s by EXTERNAL (%s)", peer, authed[peer]))
		case e.Name.Space == nsDialback && e.Name.Local == "verify":
			// We are the authoritative server for the key's originating domain.
			from, _ := e.AttrValue("from")
			to, _ := e.AttrValue("to")
			id, _ := e.AttrValue("id")
			typ := "invalid"
			if to == s.domain && hmac.Equal([]byte(strings.TrimSpace(e.Text())), []byte(s.dialbackKey(from, s.domain, id))) {
				typ = "valid"
			}
			note(fmt.Sprintf("db:verify for %s: %s", from, typ))
			if err := x.writeString("<db:verify from='" + s.domain + "' to='" + xmlEscape(from) + "' id='" + xmlEscape(id) + "' type='" + typ + "'/>"); err != nil {
				return err
			}
		case e.Name.Space == nsDialback && e.Name.Local == "result":
			from, _ := e.AttrValue("from")
			to, _ := e.AttrValue("to")
			if to != s.domain {
				return streamErr("host-unknown", "dialback for %s", to)
			}
			if cs == nil {
				return streamErr("policy-violation", "TLS is required")
			}
			valid := s.dialbackVerify(from, x.id, strings.TrimSpace(e.Text()))
			typ := "invalid"
			if valid {
				typ = "valid"
				authed[from] = protectionOf(cs, "dialback", check)
				x.rec.limit = stanzaLimit
				conn.SetDeadline(time.Time{})
			}
			note(fmt.Sprintf("dialback from %s %s (%s)", from, typ, protectionOf(cs, "dialback", check)))
			if err := x.writeString("<db:result from='" + s.domain + "' to='" + xmlEscape(from) + "' type='" + typ + "'/>"); err != nil {
				return err
			}
		case e.Name.Space == e2e.NSServer && (e.Name.Local == "message" || e.Name.Local == "presence" || e.Name.Local == "iq"):
			st, err := elementToStanza(e)
			if err != nil {
				return streamErr("not-well-formed", "%v", err)
			}
			p, ok := authed[st.From.Domainpart()]
			if !ok {
				if len(authed) == 0 {
					return streamErr("not-authorized", "authenticate first")
				}
				return streamErr("invalid-from", "%s is not authenticated on this stream", st.From.Domainpart())
			}
			if st.To.Domainpart() != s.domain {
				return streamErr("host-unknown", "%s is not served here", st.To.Domainpart())
			}
			s.fromRemote(st.From.Domainpart(), st, raw, p)
		default:
			return streamErr("unsupported-stanza-type", "<%s xmlns=%q>", e.Name.Local, e.Name.Space)
		}
	}
}

// fromRemote handles a stanza received over s2s (hop s2s-in).
func (s *Server) fromRemote(peer string, st *e2e.Stanza, raw []byte, p Protection) {
	seen := st.Clone()
	outs, action := s.intercept(S2SIn, st, func(later []*e2e.Stanza) {
		for _, l := range later {
			s.route(l, false)
		}
	})
	s.record(S2SIn, peer, raw, seen, p, action)
	for _, o := range outs {
		s.route(o, false)
	}
}

// dialbackVerify asks the authoritative server of domain (over a new
// connection) whether key is the one it made for stream id (XEP-0220 §2.3).
func (s *Server) dialbackVerify(domain, id, key string) bool {
	addr, ok := s.peerAddr(domain)
	if !ok {
		return false
	}
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	x := newXStream(conn)
	open := func() (*e2e.Element, error) {
		if err := x.writeString(header(e2e.NSServer, s.domain, domain, "", true)); err != nil {
			return nil, err
		}
		if _, err := x.readHeader(e2e.NSServer); err != nil {
			return nil, err
		}
		return readFeatures(x)
	}
	f, err := open()
	if err != nil {
		return false
	}
	if f.Child(nsTLS, "starttls") != nil {
		if _, _, _, err := s.startTLSClient(x, domain); err != nil {
			return false
		}
		if _, err := open(); err != nil {
			return false
		}
	}
	if err := x.writeString("<db:verify from='" + s.domain + "' to='" + xmlEscape(domain) + "' id='" + xmlEscape(id) + "'>" + xmlEscape(key) + "</db:verify>"); err != nil {
		return false
	}
	defer x.writeString("</stream:stream>")
	for i := 0; i < 16; i++ {
		e, _, err := readTop(x.d)
		if err != nil {
			return false
		}
		if e.Name.Space == nsDialback && e.Name.Local == "verify" {
			t, _ := e.AttrValue("type")
			gotID, _ := e.AttrValue("id")
			return t == "valid" && gotID == id
		}
	}
	return false
}
