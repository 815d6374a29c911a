package server_test

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/internal/peers"
	"github.com/xmppe2e/xmppe2e/interop/server"
)

var update = flag.Bool("update", false, "rewrite the recorded interop transcripts in testdata/transcripts")

// record writes, with -update, the raw bytes of the records of srv at hop
// whose peer starts with peer: a transcript that internal tests replay
// without the peer installed.
func record(t *testing.T, name string, srv *server.Server, hop server.Hop, peer string) {
	if !*update {
		return
	}
	var b []byte
	for _, r := range srv.Wiretap() {
		if r.Hop == hop && strings.HasPrefix(r.Peer, peer) {
			b = append(append(b, r.Raw...), '\n')
		}
	}
	if err := os.WriteFile(filepath.Join("testdata", "transcripts", name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSlixmpp: slixmpp clients log in to our servers (each SASL mechanism)
// and exchange messages on one server and across the s2s link.
func TestSlixmpp(t *testing.T) {
	py := peers.PythonModule(t, "slixmpp")
	n := startNet(t, server.NetworkConfig{})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, n.CA.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	j, _ := n.Account("juliet")
	m, _ := n.Account("mercutio")
	r, _ := n.Account("romeo")
	cases := []struct {
		name string
		a, b server.Account
		mech string
		hops int
	}{
		{"s2s/SCRAM-SHA-256", j, r, "SCRAM-SHA-256", 4},
		{"local/SCRAM-SHA-1", j, m, "SCRAM-SHA-1", 2},
		{"local/PLAIN", m, j, "PLAIN", 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n.Capulet.ResetWiretap()
			n.Montague.ResetWiretap()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, py, "testdata/slixmpp_pair.py", ca,
				tc.a.JID.String(), tc.a.Password, tc.a.Addr, tc.b.JID.String(), tc.b.Password, tc.b.Addr, tc.mech).CombinedOutput()
			if err != nil {
				t.Fatalf("slixmpp: %v\n%s", err, out)
			}
			s := string(out)
			if !strings.Contains(s, "B got "+tc.a.JID.String()) || !strings.Contains(s, "hello from slixmpp <&>") || !strings.Contains(s, "A got "+tc.b.JID.String()) {
				t.Fatalf("slixmpp output:\n%s", s)
			}
			// Our wiretap saw the slixmpp message on every hop, with the
			// mechanism slixmpp used.
			var found bool
			for _, rec := range n.Wiretap() {
				if rec.Hop == server.C2SIn && rec.Stanza.Kind == e2e.Message && rec.Stanza.Body() == "hello from slixmpp <&>" && rec.Auth == tc.mech {
					p := n.Path(e2e.Message, rec.Stanza.ID)
					found = p.Delivered() && len(p.Hops) >= tc.hops
				}
			}
			if !found {
				t.Errorf("no delivered path with %s in the wiretap", tc.mech)
			}
			if tc.mech == "SCRAM-SHA-1" {
				record(t, "slixmpp-juliet-c2s.xml", n.Capulet, server.C2SIn, "juliet@")
			}
		})
	}
}
