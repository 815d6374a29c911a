package server

import (
	"github.com/xmppe2e/xmppe2e/e2e"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

var fuzzOnce struct {
	sync.Once
	srv *Server
	err error
}

// fuzzServer is one server shared by the fuzz iterations (certificate and
// SCRAM derivation are too slow to redo each time).
func fuzzServer(t testing.TB) *Server {
	fuzzOnce.Do(func() {
		ca, err := NewCA()
		if err != nil {
			fuzzOnce.err = err
			return
		}
		cert, err := ca.Issue("capulet.lit", nil)
		if err != nil {
			fuzzOnce.err = err
			return
		}
		s, err := New(Config{Domain: "capulet.lit", Certificate: cert, NegotiationTimeout: time.Second, WiretapLimit: 1000})
		if err != nil {
			fuzzOnce.err = err
			return
		}
		s.AddUserIterations("juliet", "pw", 16)
		s.AddUserIterations("romeo", "pw", 16)
		fuzzOnce.srv = s
	})
	if fuzzOnce.err != nil {
		t.Fatal(fuzzOnce.err)
	}
	return fuzzOnce.srv
}

// pipe returns a connected pair whose far end discards what the server
// writes.
func pipe() (server, far net.Conn) {
	a, b := net.Pipe()
	go io.Copy(io.Discard, b)
	return a, b
}

const fuzzHeader = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='capulet.lit' version='1.0'>"

// FuzzC2SNegotiation feeds arbitrary bytes to a fresh c2s connection.
func FuzzC2SNegotiation(f *testing.F) {
	f.Add([]byte(fuzzHeader + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"))
	f.Add([]byte(fuzzHeader + "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldABwdw==</auth>"))
	f.Add([]byte("<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'>"))
	f.Add([]byte("<!DOCTYPE x [<!ENTITY a 'aaaa'>]><x>&a;</x>"))
	f.Add([]byte{0x16, 0x03, 0x01, 0x00, 0x05})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := fuzzServer(t)
		c, far := pipe()
		done := make(chan struct{})
		go func() { defer close(done); s.handleC2S(c); c.Close() }()
		far.SetWriteDeadline(time.Now().Add(time.Second))
		far.Write(data)
		far.Close()
		<-done
	})
}

// FuzzC2SStanzas feeds arbitrary bytes to a bound session's read loop, so
// the stanza parser, the router, presence, carbons and offline storage see
// them.
func FuzzC2SStanzas(f *testing.F) {
	f.Add([]byte("<message to='romeo@capulet.lit' type='chat'><body>hi</body></message>"))
	f.Add([]byte("<presence/><presence type='unavailable'/><presence to='romeo@capulet.lit' type='subscribe'/>"))
	f.Add([]byte("<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq><iq type='set' id='2'><enable xmlns='urn:xmpp:carbons:2'/></iq>"))
	f.Add([]byte("<message to='juliet@capulet.lit/fuzz'><body>self</body></message><iq type='get' to='capulet.lit' id='p'><ping xmlns='urn:xmpp:ping'/></iq>"))
	f.Add([]byte("<message to='x@montague.lit'><body>no route</body></message><message to='@@'/>"))
	f.Add([]byte("<message><body>&#0;</body></message></stream:stream>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := fuzzServer(t)
		runBound(t, s, "juliet", "fuzz", data)
		s.store.PopOffline("romeo")
	})
}

// runBound runs the read loop of a session bound as user/res over data
// (stanzas after the stream header), then ends the session.
func runBound(t testing.TB, s *Server, user, res string, data []byte) {
	conn, far := pipe()
	x := newXStream(conn)
	c := &c2s{srv: s, x: x, q: newOutq(queueLen)}
	if _, cond := s.bind(c, user, res); cond != "" {
		t.Fatal(cond)
	}
	x.rec.limit = stanzaLimit
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := x.readHeader("jabber:client"); err != nil {
			t.Errorf("header: %v", err)
			return
		}
		wrote := make(chan struct{})
		go func() { defer close(wrote); c.q.run(x, c.tail, nil) }()
		s.readC2S(c)
		c.shutdown("")
		s.unregister(c)
		<-wrote
		conn.Close() // unblocks the far side's writes
	}()
	far.SetWriteDeadline(time.Now().Add(2 * time.Second))
	far.Write([]byte(fuzzHeader))
	far.Write(data)
	far.Close()
	<-done
}

func mustStanza(t testing.TB, s string) *e2e.Stanza {
	t.Helper()
	st, err := e2e.Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return st
}
