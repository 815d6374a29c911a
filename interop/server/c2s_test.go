package server_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/interop/client"
	"github.com/xmppe2e/xmppe2e/interop/server"
	"mellium.im/sasl"
	"mellium.im/xmpp/jid"
)

func TestMechanismsAndBadCredentials(t *testing.T) {
	n := startNet(t, server.NetworkConfig{Iterations: 64})
	for _, m := range []sasl.Mechanism{sasl.ScramSha256, sasl.ScramSha1, sasl.Plain} {
		c := login(t, n, "juliet", m.Name, m)
		if c.JID().Resourcepart() != m.Name {
			t.Errorf("%s: bound %s", m.Name, c.JID())
		}
		c.Close()
		if p := n.Capulet.Wiretap(); len(p) > 0 && p[len(p)-1].Auth != m.Name && p[len(p)-1].Hop == server.C2SIn {
			t.Errorf("recorded auth %s, want %s", p[len(p)-1].Auth, m.Name)
		}
	}
	a, _ := n.Account("juliet")
	for _, m := range []sasl.Mechanism{sasl.ScramSha256, sasl.ScramSha1, sasl.Plain} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := client.Login(ctx, client.Config{JID: a.JID, Password: "wrong", Addr: a.Addr, RootCAs: a.RootCAs, Mechanisms: []sasl.Mechanism{m}})
		cancel()
		if err == nil || !strings.Contains(err.Error(), "not-authorized") {
			t.Errorf("%s with a wrong password: %v, want not-authorized", m.Name, err)
		}
	}
}

// rawStream opens a c2s connection and returns it after the server's
// features (plaintext).
func rawStream(t *testing.T, addr, to string) (net.Conn, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='"+to+"' version='1.0'>")
	return c, readUntil(t, c, "</stream:features>")
}

func readUntil(t *testing.T, c net.Conn, marker string) string {
	t.Helper()
	var b []byte
	buf := make([]byte, 4096)
	for !strings.Contains(string(b), marker) {
		n, err := c.Read(buf)
		b = append(b, buf[:n]...)
		if err != nil {
			break
		}
	}
	return string(b)
}

func TestStartTLSRequiredAndStreamErrors(t *testing.T) {
	n := startNet(t, server.NetworkConfig{})
	a, _ := n.Account("juliet")
	// A healthy session that must survive the others' errors.
	juliet := login(t, n, "juliet", "balcony")
	mercutio := login(t, n, "mercutio", "tomb")

	c, feats := rawStream(t, a.Addr, "capulet.lit")
	if !strings.Contains(feats, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/>") || strings.Contains(feats, "PLAIN") {
		t.Fatalf("plaintext features: %s", feats)
	}
	io.WriteString(c, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldABqdWxpZXQtcGFzcw==</auth>")
	if got := readUntil(t, c, "</stream:stream>"); !strings.Contains(got, "policy-violation") {
		t.Errorf("PLAIN before TLS: %s", got)
	}

	c, _ = rawStream(t, a.Addr, "nosuch.lit")
	_ = c
	c2, got := rawStream(t, a.Addr, "nosuch.lit")
	_ = c2
	if !strings.Contains(got+readUntil(t, c2, "</stream:stream>"), "host-unknown") {
		t.Errorf("wrong domain: %s", got)
	}

	c3, _ := rawStream(t, a.Addr, "capulet.lit")
	io.WriteString(c3, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	readUntil(t, c3, "<proceed")
	tc := tls.Client(c3, &tls.Config{ServerName: "capulet.lit", RootCAs: a.RootCAs, MaxVersion: tls.VersionTLS12})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS 1.2: %v", err)
	}
	io.WriteString(tc, "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='capulet.lit' version='1.0'>")
	readUntil(t, tc, "</stream:features>")
	io.WriteString(tc, "<a><b></a>")
	if got := readUntil(t, tc, "</stream:stream>"); !strings.Contains(got, "<stream:error>") {
		t.Errorf("bad XML: %s", got)
	}

	// The healthy sessions still work.
	ctx := context.Background()
	juliet.Send(ctx, msg(mercutio.JID(), "ok", "still fine"))
	next(t, mercutio, isMsg("still fine"))
}

func TestResourceConflictAndSecondDevice(t *testing.T) {
	n := startNet(t, server.NetworkConfig{})
	old := login(t, n, "juliet", "balcony")
	phone := login(t, n, "juliet", "phone")
	romeo := login(t, n, "romeo", "orchard")
	newer := login(t, n, "juliet", "balcony")
	select {
	case <-old.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the older session with the same resource was not replaced")
	}
	if newer.JID().String() != "juliet@capulet.lit/balcony" {
		t.Fatalf("bound %s", newer.JID())
	}
	// Wait until the server has the new session's initial presence: the
	// phone (another resource of the account) is told of the old one
	// leaving, then of the new one arriving under the same JID.
	for _, typ := range []string{"unavailable", ""} {
		next(t, phone, func(st *e2e.Stanza) bool {
			return st.Kind == e2e.Presence && st.Type == typ && st.From.Equal(newer.JID())
		})
	}
	// Bare JID: both devices at priority 0 get it.
	ctx := context.Background()
	romeo.Send(ctx, msg(jid.MustParse("juliet@capulet.lit"), "b1", "to both"))
	defer func() {
		if t.Failed() {
			for _, r := range n.Wiretap() {
				t.Logf("%s %s", r, r.Raw)
			}
		}
	}()
	next(t, newer, isMsg("to both"))
	next(t, phone, isMsg("to both"))
	// Full JID: only that device.
	romeo.Send(ctx, msg(phone.JID(), "f1", "to the phone"))
	next(t, phone, isMsg("to the phone"))
}

func TestPresence(t *testing.T) {
	n := startNet(t, server.NetworkConfig{})
	juliet := login(t, n, "juliet", "balcony")
	romeo := login(t, n, "romeo", "orchard")
	isPresence := func(from jid.JID, typ string) func(*e2e.Stanza) bool {
		return func(st *e2e.Stanza) bool {
			return st.Kind == e2e.Presence && st.From.Equal(from) && st.Type == typ
		}
	}
	// Romeo's initial presence reaches juliet over s2s, and juliet's
	// presence reaches romeo (broadcast, or the answer to his probe).
	next(t, juliet, isPresence(romeo.JID(), ""))
	next(t, romeo, isPresence(juliet.JID(), ""))
	mercutio := login(t, n, "mercutio", "tomb")
	next(t, mercutio, isPresence(juliet.JID(), ""))
	next(t, mercutio, isPresence(romeo.JID(), ""))
	next(t, juliet, isPresence(mercutio.JID(), ""))
	mercutio.Close()
	next(t, juliet, isPresence(mercutio.JID(), "unavailable"))
	next(t, romeo, isPresence(mercutio.JID(), "unavailable"))
}

func TestPriorityOfflineErrorsIQ(t *testing.T) {
	n := startNet(t, server.NetworkConfig{})
	ctx := context.Background()
	romeo := login(t, n, "romeo", "orchard")
	// Offline: juliet is not logged in.
	romeo.Send(ctx, msg(jid.MustParse("juliet@capulet.lit"), "o1", "while you slept"))
	time.Sleep(200 * time.Millisecond)
	a, _ := n.Account("juliet")
	hi, err := client.Login(ctx, client.Config{JID: jid.MustParse("juliet@capulet.lit/high"), Password: a.Password, Addr: a.Addr, RootCAs: a.RootCAs, Priority: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer hi.Close()
	ev := next(t, hi, isMsg("while you slept"))
	if ev.Wire.Child("urn:xmpp:delay", "delay") == nil {
		t.Errorf("offline message without delay: %s", ev.Wire)
	}
	lo := login(t, n, "juliet", "low") // priority 0
	romeo.Send(ctx, msg(jid.MustParse("juliet@capulet.lit"), "p1", "to the highest"))
	next(t, hi, isMsg("to the highest"))
	romeo.Send(ctx, msg(lo.JID(), "p2", "to low"))
	next(t, lo, isMsg("to low")) // and low never saw p1: it would have come first

	// Undeliverable: unknown user gets service-unavailable.
	romeo.Send(ctx, msg(jid.MustParse("nobody@capulet.lit"), "e1", "?"))
	ev = next(t, romeo, func(st *e2e.Stanza) bool { return st.ID == "e1" })
	if ev.Wire.Type != "error" || !strings.Contains(ev.Wire.String(), "service-unavailable") {
		t.Errorf("undeliverable: %s", ev.Wire)
	}
	// IQ routing between clients across s2s, answered by the client.
	iq := &e2e.Stanza{Kind: e2e.IQ, Type: "get", ID: "q1", To: hi.JID(), Children: []*e2e.Element{e2e.NewElement("urn:example", "q", "")}}
	go func() {
		ev := next(t, hi, func(st *e2e.Stanza) bool { return st.ID == "q1" })
		hi.Send(ctx, &e2e.Stanza{Kind: e2e.IQ, Type: "result", ID: "q1", To: ev.Wire.From})
	}()
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := romeo.Request(rctx, iq)
	if err != nil || res.Type != "result" || !res.From.Equal(hi.JID()) {
		t.Fatalf("IQ: %v %v", res, err)
	}
	// IQ to an offline full JID: service-unavailable.
	_, err = romeo.Request(rctx, &e2e.Stanza{Kind: e2e.IQ, Type: "get", To: jid.MustParse("juliet@capulet.lit/gone"), Children: []*e2e.Element{e2e.NewElement("urn:example", "q", "")}})
	if err == nil || !strings.Contains(err.Error(), "service-unavailable") {
		t.Errorf("IQ to a missing resource: %v", err)
	}
}

func TestCarbons(t *testing.T) {
	n := startNet(t, server.NetworkConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	desk := login(t, n, "juliet", "desk")
	phone := login(t, n, "juliet", "phone")
	romeo := login(t, n, "romeo", "orchard")
	if err := phone.EnableCarbons(ctx); err != nil {
		t.Fatal(err)
	}
	desk.Send(ctx, msg(romeo.JID(), "c1", "copied"))
	ev := next(t, phone, func(st *e2e.Stanza) bool { return st.Child("urn:xmpp:carbons:2", "sent") != nil })
	if !strings.Contains(ev.Wire.String(), "copied") {
		t.Errorf("carbon: %s", ev.Wire)
	}
	priv := msg(romeo.JID(), "c2", "private one")
	priv.Children = append(priv.Children, e2e.NewElement("urn:xmpp:carbons:2", "private", ""))
	desk.Send(ctx, priv)
	desk.Send(ctx, msg(romeo.JID(), "c3", "after"))
	ev = next(t, phone, func(st *e2e.Stanza) bool { return st.Child("urn:xmpp:carbons:2", "sent") != nil })
	if strings.Contains(ev.Wire.String(), "private one") || !strings.Contains(ev.Wire.String(), "after") {
		t.Errorf("private message was carbon-copied: %s", ev.Wire)
	}
	// Received carbons: romeo writes to desk's full JID.
	romeo.Send(ctx, msg(desk.JID(), "c4", "to desk"))
	ev = next(t, phone, func(st *e2e.Stanza) bool { return st.Child("urn:xmpp:carbons:2", "received") != nil })
	if !strings.Contains(ev.Wire.String(), "to desk") {
		t.Errorf("received carbon: %s", ev.Wire)
	}
}

func TestInterceptors(t *testing.T) {
	n := startNet(t, server.NetworkConfig{})
	ctx := context.Background()
	juliet := login(t, n, "juliet", "balcony")
	romeo := login(t, n, "romeo", "orchard")
	isChat := func(st *e2e.Stanza) bool { return st.Kind == e2e.Message && st.Body() != "" }
	remove := n.Capulet.Intercept(server.Interceptor{Hop: server.S2SOut, Match: isChat, Do: server.Drop()})
	juliet.Send(ctx, msg(romeo.JID(), "d1", "dropped"))
	waitFor(t, func() bool { p := n.Path(e2e.Message, "d1"); return len(p.Hops) == 2 })
	remove()
	remove = n.Montague.Intercept(server.Interceptor{Hop: server.S2SIn, Match: isChat, Do: server.Rewrite(func(st *e2e.Stanza) { st.SetBody("forged") })})
	juliet.Send(ctx, msg(romeo.JID(), "r1", "original"))
	next(t, romeo, isMsg("forged"))
	remove()
	remove = n.Montague.Intercept(server.Interceptor{Hop: server.C2SOut, Match: isChat, Do: server.Duplicate(2)})
	juliet.Send(ctx, msg(romeo.JID(), "u1", "twice"))
	next(t, romeo, isMsg("twice"))
	next(t, romeo, isMsg("twice"))
	remove()
	remove = n.Capulet.Intercept(server.Interceptor{Hop: server.C2SIn, Match: isChat, Do: server.Reorder()})
	juliet.Send(ctx, msg(romeo.JID(), "o1", "first"))
	juliet.Send(ctx, msg(romeo.JID(), "o2", "second"))
	ev := next(t, romeo, isChat)
	if ev.Wire.Body() != "second" {
		t.Errorf("reorder: got %q first", ev.Wire.Body())
	}
	next(t, romeo, isMsg("first"))
	remove()
	start := time.Now()
	remove = n.Capulet.Intercept(server.Interceptor{Hop: server.C2SIn, Match: isChat, Delay: 300 * time.Millisecond})
	juliet.Send(ctx, msg(romeo.JID(), "l1", "late"))
	next(t, romeo, isMsg("late"))
	if time.Since(start) < 300*time.Millisecond {
		t.Error("delay not applied")
	}
	remove()
	if p := n.Path(e2e.Message, "d1"); p.Delivered() || len(p.Hops) != 2 || p.Hops[1].Action != "dropped" {
		t.Errorf("dropped path:\n%s", p)
	}
	if p := n.Path(e2e.Message, "r1"); p.Hops[2].Action != "rewritten" || p.Hops[3].Stanza.Body() != "forged" || p.Hops[2].Stanza.Body() != "original" {
		t.Errorf("rewritten path:\n%s", p)
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not reached in 5 s")
}

// TestSubscription runs the RFC 6121 §3 handshake between two users with
// empty rosters: a subscription request, its approval, the roster states
// it leaves, and presence flowing only in the approved direction.
func TestSubscription(t *testing.T) {
	ca, err := server.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := ca.Issue("capulet.lit", nil)
	s, err := server.New(server.Config{Domain: "capulet.lit", Certificate: cert})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.AddUserIterations("juliet", "a", 64)
	s.AddUserIterations("nurse", "b", 64)
	addr, _ := s.ListenC2S("127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	log := func(who, pw string) *client.Client {
		c, err := client.Login(ctx, client.Config{JID: jid.MustParse(who + "@capulet.lit/x"), Password: pw, Addr: addr.String(), RootCAs: ca.Pool()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	juliet, nurse := log("juliet", "a"), log("nurse", "b")
	nurseBare := jid.MustParse("nurse@capulet.lit")
	juliet.Send(ctx, &e2e.Stanza{Kind: e2e.Presence, Type: "subscribe", To: nurseBare})
	ev := next(t, nurse, func(st *e2e.Stanza) bool { return st.Type == "subscribe" })
	if !ev.Wire.From.Equal(jid.MustParse("juliet@capulet.lit")) {
		t.Errorf("subscribe from %s, want the bare JID", ev.Wire.From)
	}
	nurse.Send(ctx, &e2e.Stanza{Kind: e2e.Presence, Type: "subscribed", To: ev.Wire.From})
	next(t, juliet, func(st *e2e.Stanza) bool { return st.Type == "subscribed" })
	// The nurse's presence now reaches juliet (sent on approval).
	next(t, juliet, func(st *e2e.Stanza) bool {
		return st.Kind == e2e.Presence && st.Type == "" && st.From.Equal(nurse.JID())
	})
	roster := func(c *client.Client) string {
		r, err := c.Request(ctx, &e2e.Stanza{Kind: e2e.IQ, Type: "get", Children: []*e2e.Element{e2e.NewElement("jabber:iq:roster", "query", "")}})
		if err != nil {
			t.Fatal(err)
		}
		return r.String()
	}
	if r := roster(juliet); !strings.Contains(r, "jid='nurse@capulet.lit'") || !strings.Contains(r, "subscription='to'") {
		t.Errorf("juliet's roster: %s", r)
	}
	if r := roster(nurse); !strings.Contains(r, "jid='juliet@capulet.lit'") || !strings.Contains(r, "subscription='from'") {
		t.Errorf("nurse's roster: %s", r)
	}
	// A probe from the nurse to juliet is not answered: not subscribed.
	juliet.Send(ctx, &e2e.Stanza{Kind: e2e.Presence, Children: []*e2e.Element{e2e.NewElement("jabber:client", "status", "away")}})
	nurse.Send(ctx, &e2e.Stanza{Kind: e2e.Message, Type: "chat", To: jid.MustParse("nurse@capulet.lit/x"), ID: "mark"})
	next(t, nurse, func(st *e2e.Stanza) bool {
		if st.Kind == e2e.Presence && st.From.Bare().Equal(jid.MustParse("juliet@capulet.lit")) && st.Type == "" {
			t.Errorf("juliet's presence leaked to an unsubscribed contact: %s", st)
		}
		return st.ID == "mark"
	})
}

func TestConflictPoliciesAndTLSVersions(t *testing.T) {
	ca, err := server.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := ca.Issue("capulet.lit", nil)
	for _, pol := range []server.ConflictPolicy{server.Rename, server.Refuse} {
		s, err := server.New(server.Config{Domain: "capulet.lit", Certificate: cert, ResourceConflict: pol})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		s.AddUserIterations("juliet", "pw", 64)
		addr, _ := s.ListenC2S("127.0.0.1:0")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cfg := client.Config{JID: jid.MustParse("juliet@capulet.lit/balcony"), Password: "pw", Addr: addr.String(), RootCAs: ca.Pool()}
		first, err := client.Login(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer first.Close()
		second, err := client.Login(ctx, cfg)
		switch pol {
		case server.Rename:
			if err != nil || second.JID().Equal(first.JID()) || !strings.HasPrefix(second.JID().Resourcepart(), "balcony-") {
				t.Errorf("rename: %v %v", second, err)
			} else {
				second.Close()
			}
		case server.Refuse:
			if err == nil || !strings.Contains(err.Error(), "conflict") {
				t.Errorf("refuse: %v", err)
			}
		}
		select {
		case <-first.Done():
			t.Errorf("policy %d ended the first session", pol)
		default:
		}
		if pol == server.Refuse {
			// TLS 1.1 is refused; TLS 1.3 works (TLS 1.2: TestStartTLSRequiredAndStreamErrors).
			c, _ := rawStream(t, addr.String(), "capulet.lit")
			io.WriteString(c, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
			readUntil(t, c, "<proceed")
			tc := tls.Client(c, &tls.Config{ServerName: "capulet.lit", RootCAs: ca.Pool(), MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
			if err := tc.Handshake(); err == nil {
				t.Error("TLS 1.1 accepted")
			}
		}
	}
}
