package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/interop/client"
	"github.com/xmppe2e/xmppe2e/interop/server"
	"mellium.im/sasl"
	"mellium.im/xmpp/jid"
)

func startNet(t testing.TB, cfg server.NetworkConfig) *server.Network {
	t.Helper()
	if testing.Verbose() && cfg.Log == nil {
		cfg.Log = func(f string, a ...any) { t.Logf(f, a...) }
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := server.StartNetwork(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func login(t testing.TB, n *server.Network, local, res string, mechs ...sasl.Mechanism) *client.Client {
	t.Helper()
	a, err := n.Account(local)
	if err != nil {
		t.Fatal(err)
	}
	j := a.JID
	if res != "" {
		j, _ = a.JID.WithResource(res)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Login(ctx, client.Config{JID: j, Password: a.Password, Addr: a.Addr, RootCAs: a.RootCAs, Mechanisms: mechs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// next returns the next event matching f, within 5 s.
func next(t testing.TB, c *client.Client, f func(*e2e.Stanza) bool) client.Event {
	t.Helper()
	tm := time.NewTimer(5 * time.Second)
	defer tm.Stop()
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("%s: stream ended: %v", c.JID(), c.Err())
			}
			if f(ev.Wire) {
				return ev
			}
		case <-tm.C:
			t.Fatalf("%s: timed out waiting", c.JID())
		}
	}
}

func isMsg(body string) func(*e2e.Stanza) bool {
	return func(st *e2e.Stanza) bool { return st.Kind == e2e.Message && st.Body() == body }
}

func msg(to jid.JID, id, body string) *e2e.Stanza {
	st := &e2e.Stanza{Kind: e2e.Message, Type: "chat", To: to, ID: id}
	st.SetBody(body)
	return st
}

func TestFederatedMessage(t *testing.T) {
	for _, dialback := range []bool{false, true} {
		t.Run(fmt.Sprintf("dialback=%v", dialback), func(t *testing.T) {
			n := startNet(t, server.NetworkConfig{Dialback: dialback})
			juliet := login(t, n, "juliet", "balcony")
			romeo := login(t, n, "romeo", "orchard")
			if got := juliet.JID().String(); got != "juliet@capulet.lit/balcony" {
				t.Fatalf("bound %s, want the requested resource", got)
			}
			ctx := context.Background()
			if err := juliet.Send(ctx, msg(romeo.JID(), "m1", "hi <&> romeo")); err != nil {
				t.Fatal(err)
			}
			ev := next(t, romeo, isMsg("hi <&> romeo"))
			if !ev.Wire.From.Equal(juliet.JID()) {
				t.Errorf("from %s, want %s", ev.Wire.From, juliet.JID())
			}
			if err := romeo.Send(ctx, msg(juliet.JID().Bare(), "m2", "hi juliet")); err != nil {
				t.Fatal(err)
			}
			next(t, juliet, isMsg("hi juliet"))

			p := n.Path(e2e.Message, "m1")
			t.Log(p)
			want := []server.Hop{server.C2SIn, server.S2SOut, server.S2SIn, server.C2SOut}
			if len(p.Hops) != len(want) {
				t.Fatalf("path has %d hops, want %d:\n%s", len(p.Hops), len(want), p)
			}
			auth := "EXTERNAL"
			if dialback {
				auth = "dialback"
			}
			for i, h := range p.Hops {
				if h.Hop != want[i] {
					t.Errorf("hop %d is %s, want %s", i, h.Hop, want[i])
				}
				if h.TLSVersion == 0 || len(h.Raw) == 0 || h.Stanza == nil {
					t.Errorf("hop %d: %+v", i, h)
				}
				if (h.Hop == server.S2SOut || h.Hop == server.S2SIn) && h.Auth != auth {
					t.Errorf("hop %d auth %q, want %q", i, h.Auth, auth)
				}
			}
			if !p.Delivered() || !p.AllTLS() {
				t.Errorf("delivered %v, all TLS %v", p.Delivered(), p.AllTLS())
			}
		})
	}
}

// TestS2SInboundChecks: a sending server that forges the from domain or
// addresses another domain gets a stream error, and nothing is routed.
func TestS2SInboundChecks(t *testing.T) {
	for _, tc := range []struct{ name, from, to string }{
		{"invalid-from", "mallory@evil.lit/x", "romeo@montague.lit"},
		{"host-unknown", "juliet@capulet.lit/balcony", "romeo@elsewhere.lit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := startNet(t, server.NetworkConfig{})
			juliet := login(t, n, "juliet", "balcony")
			romeo := login(t, n, "romeo", "orchard")
			n.Capulet.Intercept(server.Interceptor{Hop: server.S2SOut,
				Match: func(st *e2e.Stanza) bool { return st.ID == "forged" },
				Do: server.Rewrite(func(st *e2e.Stanza) {
					st.From, st.To = jid.MustParse(tc.from), jid.MustParse(tc.to)
				})})
			ctx := context.Background()
			juliet.Send(ctx, msg(romeo.JID(), "forged", "forged"))
			// The link is torn down by the error (what followed on it is
			// lost, as on any s2s stream without XEP-0198); the next
			// message comes over a new link.
			waitFor(t, func() bool { return len(n.Path(e2e.Message, "forged").Hops) >= 2 })
			time.Sleep(200 * time.Millisecond)
			juliet.Send(ctx, msg(romeo.JID(), "after", "after the forgery"))
			next(t, romeo, isMsg("after the forgery"))
			for _, r := range n.Montague.Wiretap() {
				if r.Stanza != nil && r.Stanza.ID == "forged" {
					t.Errorf("montague routed the forged stanza: %s", r)
				}
			}
		})
	}
}
