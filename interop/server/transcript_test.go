package server

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// The transcripts in testdata/transcripts are the raw bytes real peers
// sent to our server, recorded by TestSlixmpp and TestProsody with
//
//	XMPPE2E_INTEROP=require go test -run 'TestSlixmpp|TestProsody' ./interop/server/ -update
//
// These tests replay them without the peers installed.

func replayServer(t *testing.T) *Server {
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := ca.Issue("capulet.lit", nil)
	s, err := New(Config{Domain: "capulet.lit", Certificate: cert})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, u := range []string{"juliet", "mercutio"} {
		s.AddUserIterations(u, "pw", 16)
	}
	return s
}

func offlineBodies(t *testing.T, s *Server, user string) []string {
	msgs, err := s.store.PopOffline(user)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range msgs {
		st, err := e2e.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, st.Body())
	}
	return out
}

// TestSlixmppTranscript: slixmpp's stanzas (initial presence, roster get, a
// chat message with XML specials) go through the c2s read loop and router.
func TestSlixmppTranscript(t *testing.T) {
	data, err := os.ReadFile("testdata/transcripts/slixmpp-juliet-c2s.xml")
	if err != nil {
		t.Fatal(err)
	}
	s := replayServer(t)
	runBound(t, s, "juliet", "slixmpp", data)
	if got := offlineBodies(t, s, "mercutio"); len(got) != 1 || got[0] != "hello from slixmpp <&>" {
		t.Fatalf("mercutio's offline messages: %q", got)
	}
	var kinds []e2e.Kind
	for _, r := range s.Wiretap() {
		if r.Hop == C2SIn {
			kinds = append(kinds, r.Stanza.Kind)
		}
	}
	if len(kinds) != 3 {
		t.Errorf("recorded %v, want presence, iq, message", kinds)
	}
}

// TestProsodyTranscript: a stanza Prosody sent over s2s is parsed and
// routed as our s2s read loop does.
func TestProsodyTranscript(t *testing.T) {
	data, err := os.ReadFile("testdata/transcripts/prosody-s2s-in.xml")
	if err != nil {
		t.Fatal(err)
	}
	s := replayServer(t)
	d := xml.NewDecoder(io.MultiReader(bytes.NewReader([]byte(
		"<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' version='1.0'>")),
		bytes.NewReader(data), bytes.NewReader([]byte("</stream:stream>"))))
	if _, err := d.Token(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := 0; i < 100; i++ {
		e, _, err := readTop(d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		st, err := elementToStanza(e)
		if err != nil {
			t.Fatal(err)
		}
		s.fromRemote("montague.lit", st, e.Bytes(), Protection{})
		n++
	}
	time.Sleep(10 * time.Millisecond)
	if got := offlineBodies(t, s, "juliet"); n == 0 || len(got) != 1 || got[0] != "from Prosody over s2s" {
		t.Fatalf("%d stanzas; juliet's offline messages: %q", n, got)
	}
}
