package xtls

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// These tests run the whole Session (Jingle, IBB, TLS, inner stream)
// against OpenSSL: the other party is a bare Jingle/IBB endpoint without
// TLS (a Bridge) whose bytestream is bridged to openssl s_server or
// s_client, which does the TLS and the typing.

// deliverTo hands the bridge a stanza of the session, serialized and parsed
// again as on a real stream.
func deliverTo(t *testing.T, b *Bridge, st *e2e.Stanza) {
	t.Helper()
	st, err := e2e.Parse(st.Bytes())
	if err != nil {
		t.Errorf("session sent an unparsable stanza: %v", err)
		return
	}
	if err := b.Receive(st); err != nil {
		t.Errorf("bridge: %v", err)
	}
}

// drive pumps between the session and the raw peer until done reports
// true, for at most 20 seconds.
func drive(t *testing.T, sess *Session, raw *Bridge, done func(opened []*e2e.Stanza) bool) []*e2e.Stanza {
	t.Helper()
	var opened []*e2e.Stanza
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(20 * time.Second)
	for !done(opened) {
		select {
		case st := <-raw.Outgoing():
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
				deliverTo(t, raw, rp)
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

			raw := NewBridge(romeoFull, julietFull, r.cert, func(c net.Conn) {
				go func() {
					tcp, err := net.Dial("tcp", addr)
					if err != nil {
						c.Close()
						return
					}
					Splice(c, tcp.(*net.TCPConn))
				}()
			})
			sess, _ := newTestSession(t, Options{MaxVersion: v.v}, julietFull, j, r.Public())
			m := msg(julietFull, romeoFull, "art thou not Romeo")
			for _, st := range encrypt(t, sess, m) {
				deliverTo(t, raw, st)
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
				deliverTo(t, raw, st)
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
			raw := NewBridge(julietFull, romeoFull, j.cert, func(c net.Conn) {
				go func() {
					tcp, err := ln.Accept()
					if err != nil {
						c.Close()
						return
					}
					Splice(c, tcp.(*net.TCPConn))
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

			raw.Initiate("a73sjjvkla37jfea", "ch3d9s71")
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
				deliverTo(t, raw, st)
			}
			bye, err := sess.Close(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range bye {
				deliverTo(t, raw, st)
			}
			// Keep acknowledging what the bridge sends until s_client exits.
			for waiting := true; waiting; {
				select {
				case st := <-raw.Outgoing():
					mu.Lock()
					res, _ := sess.Receive(context.Background(), st)
					mu.Unlock()
					for _, rp := range res.Replies {
						deliverTo(t, raw, rp)
					}
				case <-exited:
					waiting = false
				case <-ctx.Done():
					t.Fatalf("s_client did not exit:\n%s", out.String())
				}
			}
			o := out.String()
			// The response header announces no features, as RFC 6120
			// §4.3.2 asks of a version='1.0' stream.
			for _, want := range []string{"Verify return code: 0 (ok)", "it is my lady", "id='", "from='" + romeoFull.String() + "'", "version='1.0' id='", "><stream:features/>"} {
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
