package xtls

import (
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/xmpp/jid"
)

// These tests run the whole Session (Jingle, IBB, TLS, inner stream)
// against OpenSSL: the other party is a bare Jingle/IBB endpoint without
// TLS (rawPeer) whose bytestream is bridged to openssl s_server or
// s_client, which does the TLS and the typing.

// rawPeer speaks Jingle and IBB but no TLS: it hands the bytestream to
// onConn. Its stanzas go out on out; deliver takes the session's.
type rawPeer struct {
	s        *sched
	self     jid.JID
	peer     jid.JID
	fp       Fingerprint // of the certificate OpenSSL presents
	out      chan *e2e.Stanza
	pending  map[string]func(*e2e.Stanza)
	conn     *ibbConn
	n        int
	onConn   func(c *ibbConn)
	initSID  string
	started  bool
	ibbBlock int
}

func newRawPeer(self, peer jid.JID, openSSLCert *Identity, onConn func(*ibbConn)) *rawPeer {
	return &rawPeer{s: newSched(false), self: self, peer: peer, fp: fingerprintSHA256(openSSLCert.cert.Raw),
		out: make(chan *e2e.Stanza, 1<<16), pending: map[string]func(*e2e.Stanza){}, onConn: onConn}
}

func (r *rawPeer) idLocked() string { r.n++; return fmt.Sprintf("raw-%d", r.n) }

func (r *rawPeer) sendLocked(st *e2e.Stanza, h func(*e2e.Stanza)) {
	if h != nil {
		r.pending[st.ID] = h
	}
	r.out <- st
}

func (r *rawPeer) newConnLocked(tr *transport) {
	c := newIBBConn(r.s, r.self, r.peer, tr.SID, tr.BlockSize, 8)
	c.waitAcks = true
	c.send = r.sendLocked
	c.newID = r.idLocked
	r.conn = c
}

func (r *rawPeer) security() *security {
	return &security{Fingerprints: []Fingerprint{r.fp}, Methods: []string{methodX509}}
}

// initiate starts a Jingle session towards the Go session (s_client case).
func (r *rawPeer) initiate() {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	tr := &transport{NS: nsIBB1, SID: "ch3d9s71", BlockSize: 4096}
	r.initSID = "a73sjjvkla37jfea"
	r.newConnLocked(tr)
	j := &jingle{Action: "session-initiate", SID: r.initSID, Initiator: r.self, Contents: []*content{{
		Creator: "initiator", Name: contentName, Description: nsXMLStream0, Transport: tr, Security: r.security()}}}
	r.sendLocked(iqSet(r.self, r.peer, r.idLocked(), j.element()), func(*e2e.Stanza) {})
}

// deliver handles one stanza from the Go session.
func (r *rawPeer) deliver(t *testing.T, st *e2e.Stanza) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	st, err := e2e.Parse(st.Bytes())
	if err != nil {
		t.Errorf("session sent an unparsable stanza: %v", err)
		return
	}
	if st.Type == "result" || st.Type == "error" {
		if h := r.pending[st.ID]; h != nil {
			delete(r.pending, st.ID)
			h(st)
		}
		return
	}
	if el := jingleChild(st); el != nil {
		j, err := parseJingle(el)
		if err != nil {
			t.Errorf("session sent bad Jingle: %v", err)
			return
		}
		r.sendLocked(iqResult(r.self, st), nil)
		switch j.Action {
		case "session-initiate": // we are the responder
			c := j.xmlstreamContent()
			r.newConnLocked(c.Transport)
			acc := &jingle{Action: "session-accept", SID: j.SID, Responder: r.self, Contents: []*content{{
				Creator: "initiator", Name: c.Name, Description: nsXMLStream0, Transport: c.Transport, Security: r.security()}}}
			r.sendLocked(iqSet(r.self, r.peer, r.idLocked(), acc.element()), func(*e2e.Stanza) {})
		case "session-accept": // we are the initiator: open the bytestream
			info := &jingle{Action: "security-info", SID: j.SID, Contents: []*content{{Creator: "initiator", Name: contentName, Security: &security{Methods: []string{methodX509}}}}}
			r.sendLocked(iqSet(r.self, r.peer, r.idLocked(), info.element()), func(*e2e.Stanza) {})
			o := ibbElement("open")
			o.Attr = attrs("block-size", "4096", "sid", r.conn.sid, "stanza", "iq")
			r.sendLocked(iqSet(r.self, r.peer, r.idLocked(), o), func(res *e2e.Stanza) {
				if res.Type == "result" {
					r.startLocked()
				}
			})
		}
		return
	}
	if el := ibbChild(st); el != nil && r.conn != nil {
		if el.Name.Local == "open" {
			r.startLocked()
		}
		reply, _ := r.conn.handleLocked(st, el)
		if reply != nil {
			r.sendLocked(reply, nil)
		}
		if el.Name.Local == "data" && !r.started { // ibb:0: data without <open/>
			r.startLocked()
		}
	}
}

func (r *rawPeer) startLocked() {
	if !r.started {
		r.started = true
		r.onConn(r.conn)
	}
}

// drive pumps between the session and the raw peer until done reports
// true, for at most 20 seconds.
func drive(t *testing.T, sess *Session, raw *rawPeer, done func(opened []*e2e.Stanza) bool) []*e2e.Stanza {
	t.Helper()
	var opened []*e2e.Stanza
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(20 * time.Second)
	for !done(opened) {
		select {
		case st := <-raw.out:
			st, err := e2e.Parse(st.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			res, err := sess.Receive(context.Background(), st)
			if err != nil {
				t.Fatalf("session: %v", err)
			}
			opened = append(opened, res.Stanzas()...)
			for _, rp := range res.Replies {
				raw.deliver(t, rp)
			}
		case <-tick.C:
		case <-deadline:
			t.Fatalf("no end; opened %v", opened)
		}
	}
	return opened
}

// TestSessionWithOpenSSLServer: our Session initiates; the responder's TLS
// stack is openssl s_server, which types the responder's stream header and
// a message.
func TestSessionWithOpenSSLServer(t *testing.T) {
	openssl, j, r, f := opensslSetup(t)
	jc, rc := f.jc, f.rc
	rk := f.rk
	for _, v := range versions {
		t.Run(v.flag, func(t *testing.T) {
			srv := startSServer(t, openssl, v.flag, rc, rk, jc)
			addr, stdin, out := srv.addr, srv.stdin, srv.out

			raw := newRawPeer(romeoFull, julietFull, r, func(c *ibbConn) {
				go func() {
					tcp, err := net.Dial("tcp", addr)
					if err != nil {
						c.Close()
						return
					}
					recordBridge(c, tcp.(*net.TCPConn))
				}()
			})
			sess, _ := newTestSession(t, Options{MaxVersion: v.v}, julietFull, j, r.Public())
			m := msg(julietFull, romeoFull, "art thou not Romeo")
			for _, st := range encrypt(t, sess, m) {
				raw.deliver(t, st)
			}
			typed := false
			opened := drive(t, sess, raw, func(opened []*e2e.Stanza) bool {
				if !typed {
					if _, err := sess.SAS(romeoFull); err == nil {
						// The handshake is done: "type" romeo's side.
						fmt.Fprintf(stdin, "<stream:stream xmlns='jabber:client' xmlns:stream='%s' from='%s' to='%s' version='1.0' id='s1'>\n"+
							"<message from='%s' to='%s' type='chat'><body>it is my lady</body></message>\n",
							nsStream, romeoFull, julietFull, romeoFull, julietFull)
						typed = true
					}
				}
				return len(opened) == 1 && strings.Contains(out.String(), "art thou not Romeo")
			})
			if opened[0].Body() != "it is my lady" || !opened[0].From.Equal(romeoFull) {
				t.Fatalf("opened %v", opened[0])
			}
			sas, _ := sess.SAS(romeoFull)
			if km := keyingMaterial(out.String()); km != sas {
				t.Fatalf("SAS %s, s_server keying material %q\n%s", sas, km, out.String())
			}
			for _, want := range []string{"<stream:stream", "from='" + julietFull.String() + "'", "to='" + romeoFull.String() + "'"} {
				if !strings.Contains(out.String(), want) {
					t.Fatalf("s_server did not see %q:\n%s", want, out.String())
				}
			}
			bye, err := sess.Close(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range bye {
				raw.deliver(t, st)
			}
			t.Logf("%s: full session; SAS %s equals s_server -keymatexport", v.flag, sas)
			checkNoLeak(t)
		})
	}
}

// TestSessionWithOpenSSLClient: the initiator's TLS stack is openssl
// s_client (its stream header and message come from stdin); our Session is
// the responder and TLS server.
func TestSessionWithOpenSSLClient(t *testing.T) {
	openssl, j, r, f := opensslSetup(t)
	jc, rc := f.jc, f.rc
	jk := f.jk
	for _, v := range versions {
		t.Run(v.flag, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			raw := newRawPeer(julietFull, romeoFull, j, func(c *ibbConn) {
				go func() {
					tcp, err := ln.Accept()
					if err != nil {
						c.Close()
						return
					}
					recordBridge(c, tcp.(*net.TCPConn))
				}()
			})
			sess, _ := newTestSession(t, Options{MaxVersion: v.v}, romeoFull, r, j.Public())
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, openssl, "s_client", "-connect", ln.Addr().String(), "-"+v.flag,
				"-cert", jc, "-key", jk, "-CAfile", rc, "-verify_return_error",
				"-keymatexport", SASLabel, "-keymatexportlen", "5", "-ign_eof")
			cmd.Stdin = strings.NewReader(fmt.Sprintf("<stream:stream xmlns='jabber:client' xmlns:stream='%s' from='%s' to='%s' version='1.0'>\n"+
				"<message from='%s' to='%s' type='chat'><body>wherefore art thou</body></message>\n",
				nsStream, julietFull, romeoFull, julietFull, romeoFull))
			var out syncBuffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			t.Cleanup(func() { cmd.Process.Kill() })

			raw.initiate()
			opened := drive(t, sess, raw, func(opened []*e2e.Stanza) bool { return len(opened) == 1 })
			if opened[0].Body() != "wherefore art thou" || !opened[0].From.Equal(julietFull) {
				t.Fatalf("opened %v", opened[0])
			}
			sas, err := sess.SAS(julietFull)
			if err != nil {
				t.Fatal(err)
			}
			// Our reply, then the end of the stream: s_client prints both
			// and exits on close_notify.
			reply := msg(romeoFull, julietFull, "it is my lady")
			var mu sync.Mutex
			for _, st := range encrypt(t, sess, reply) {
				raw.deliver(t, st)
			}
			bye, err := sess.Close(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range bye {
				raw.deliver(t, st)
			}
			// Keep acknowledging what the bridge sends until s_client exits.
			for waiting := true; waiting; {
				select {
				case st := <-raw.out:
					mu.Lock()
					res, _ := sess.Receive(context.Background(), st)
					mu.Unlock()
					for _, rp := range res.Replies {
						raw.deliver(t, rp)
					}
				case <-exited:
					waiting = false
				case <-ctx.Done():
					t.Fatalf("s_client did not exit:\n%s", out.String())
				}
			}
			o := out.String()
			for _, want := range []string{"Verify return code: 0 (ok)", "it is my lady", "id='", "from='" + romeoFull.String() + "'"} {
				if !strings.Contains(o, want) {
					t.Fatalf("s_client output lacks %q:\n%s", want, o)
				}
			}
			if km := keyingMaterial(o); km != sas {
				t.Fatalf("SAS %s, s_client keying material %q\n%s", sas, km, o)
			}
			t.Logf("%s: full session; SAS %s equals s_client -keymatexport", v.flag, sas)
			checkNoLeak(t)
		})
	}
}

// recordBridge is bridge, except that what comes from TCP is written to the
// bytestream one whole TLS record per Write, as a TLS stack writing to the
// bytestream itself does (our receiver refuses a short chunk that ends
// inside a record, see Options.SplitRecords).
func recordBridge(c net.Conn, tcp *net.TCPConn) {
	go func() {
		io.Copy(tcp, c)
		tcp.CloseWrite()
	}()
	go func() {
		defer c.Close()
		for {
			hdr := make([]byte, 5)
			if _, err := io.ReadFull(tcp, hdr); err != nil {
				return
			}
			rec := make([]byte, 5+(int(hdr[3])<<8|int(hdr[4])))
			copy(rec, hdr)
			if _, err := io.ReadFull(tcp, rec[5:]); err != nil {
				return
			}
			if _, err := c.Write(rec); err != nil {
				return
			}
		}
	}()
}
