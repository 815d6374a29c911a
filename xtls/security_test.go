package xtls

import (
	"context"
	"errors"
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/xmpp/jid"
)

// terminations returns the reasons of the session-terminate stanzas in wire.
func terminations(wire []*e2e.Stanza) []string {
	var out []string
	for _, st := range wire {
		if j := jingleChild(st); j != nil {
			if pj, err := parseJingle(j); err == nil && pj.Action == "session-terminate" {
				out = append(out, pj.Reason)
			}
		}
	}
	return out
}

func has(reasons []string, r string) bool {
	for _, x := range reasons {
		if x == r {
			return true
		}
	}
	return false
}

// securitySection returns the <security/> of a Jingle stanza's content.
func securitySection(st *e2e.Stanza) (*e2e.Element, *e2e.Element) {
	j := jingleChild(st)
	if j == nil {
		return nil, nil
	}
	for _, c := range j.Elements() {
		for _, e := range c.Elements() {
			if e.Name.Local == "security" {
				return c, e
			}
		}
	}
	return nil, nil
}

// dropSecurity returns a hook that removes <security/> from the Jingle
// action named.
func dropSecurity(name string) func(*Session, *e2e.Stanza) *e2e.Stanza {
	return func(_ *Session, st *e2e.Stanza) *e2e.Stanza {
		if action(st) == name {
			c, sec := securitySection(st)
			var keep []e2e.Node
			for _, n := range c.Nodes {
				if n != e2e.Node(sec) {
					keep = append(keep, n)
				}
			}
			c.Nodes = keep
		}
		return st
	}
}

func action(st *e2e.Stanza) string {
	if j := jingleChild(st); j != nil {
		a, _ := j.AttrValue("action")
		return a
	}
	return ""
}

func TestSecurityFailures(t *testing.T) {
	j, r, m := testIdentity(t, "juliet@capulet.lit"), testIdentity(t, "romeo@montague.lit"), testIdentity(t, "mercutio@capulet.lit")
	cases := []struct {
		name     string
		jPeers   []e2e.Peer // juliet's pins
		rPeers   []e2e.Peer // romeo's pins
		hook     func(to *Session, st *e2e.Stanza) *e2e.Stanza
		wantErr  error
		wantFrom string // who reports wantErr: "juliet" or "romeo"
	}{
		{name: "juliet pins the wrong certificate", jPeers: []e2e.Peer{m.Public()}, rPeers: []e2e.Peer{j.Public()},
			wantErr: e2e.ErrNoKey, wantFrom: "juliet"},
		{name: "romeo does not pin juliet", jPeers: []e2e.Peer{r.Public()}, rPeers: []e2e.Peer{m.Public()},
			wantErr: ErrPeerNotTrusted, wantFrom: "romeo"},
		{name: "advertised fingerprint differs", jPeers: []e2e.Peer{r.Public()}, rPeers: []e2e.Peer{j.Public()},
			hook: func(to *Session, st *e2e.Stanza) *e2e.Stanza {
				if action(st) == "session-accept" {
					_, sec := securitySection(st)
					fp := sec.Child(sec.Name.Space, "fingerprint")
					fp.SetText(fingerprintSHA256(m.cert.Raw).String())
				}
				return st
			}, wantErr: ErrFingerprintMismatch, wantFrom: "juliet"},
		{name: "sha-1 fingerprint differs", jPeers: []e2e.Peer{r.Public()}, rPeers: []e2e.Peer{j.Public()},
			hook: func(to *Session, st *e2e.Stanza) *e2e.Stanza {
				if action(st) == "session-initiate" {
					_, sec := securitySection(st)
					sec.Nodes = nil
					sec.AppendChild(&e2e.Element{Name: xmlName(nsXTLS0, "fingerprint"), Attr: attrs("algo", "sha1"),
						Nodes: []e2e.Node{e2e.CharData("00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33")}})
					sec.AppendChild(&e2e.Element{Name: xmlName(nsXTLS0, "method"), Attr: attrs("name", "x509")})
				}
				return st
			}, wantErr: ErrFingerprintMismatch, wantFrom: "romeo"},
		{name: "accept without security", jPeers: []e2e.Peer{r.Public()}, rPeers: []e2e.Peer{j.Public()},
			hook: dropSecurity("session-accept"), wantErr: ErrNoSecurity, wantFrom: "juliet"},
		{name: "initiate without security", jPeers: []e2e.Peer{r.Public()}, rPeers: []e2e.Peer{j.Public()},
			hook: dropSecurity("session-initiate"), wantErr: ErrNoSecurity, wantFrom: "romeo"},
		{name: "initiator picks srp", jPeers: []e2e.Peer{r.Public()}, rPeers: []e2e.Peer{j.Public()},
			hook: func(to *Session, st *e2e.Stanza) *e2e.Stanza {
				if action(st) == "security-info" {
					_, sec := securitySection(st)
					sec.Child(sec.Name.Space, "method").SetAttr("name", "srp")
				}
				return st
			}, wantErr: ErrUnsupportedMethod, wantFrom: "romeo"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, _ := newTestSession(t, Options{}, julietFull, j, c.jPeers...)
			b, _ := newTestSession(t, Options{}, romeoFull, r, c.rPeers...)
			route := map[*Session]*Session{a: b, b: a}
			out, err := a.Encrypt(context.Background(), msg(julietFull, romeoFull, "secret"))
			if c.wantErr == e2e.ErrNoKey {
				if !errors.Is(err, e2e.ErrNoKey) {
					t.Fatalf("Encrypt: %v", err)
				}
				// Even with Trust saying yes to anything from the wrong
				// JID, the pinned peer check fails in the handshake.
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			res := pumpWith(t, route, a, out, c.hook)
			if len(res.opened[a])+len(res.opened[b]) != 0 {
				t.Fatalf("opened %v", res.opened)
			}
			who := map[string]*Session{"juliet": a, "romeo": b}[c.wantFrom]
			var found bool
			for _, err := range res.errs[who] {
				var te *TerminatedError
				if errors.Is(err, c.wantErr) && errors.As(err, &te) && te.Reason == "security-error" {
					found = true
				}
			}
			if !found {
				t.Fatalf("%s errors %v, want %v", c.wantFrom, res.errs[who], c.wantErr)
			}
			if !has(terminations(res.wire), "security-error") {
				t.Fatalf("no <security-error/> on the wire: %v", terminations(res.wire))
			}
			// The other side learns it too (under TLS 1.3 a client whose
			// certificate the server refused sees it at its first read).
			other := map[string]*Session{"juliet": b, "romeo": a}[c.wantFrom]
			var told bool
			for _, err := range res.errs[other] {
				var te *TerminatedError
				told = told || (errors.As(err, &te) && te.Reason == "security-error")
			}
			if !told {
				t.Fatalf("the other side was not told: %v", res.errs[other])
			}
			a.Close(context.Background())
			b.Close(context.Background())
			checkNoLeak(t)
		})
	}
}

// TestWrongPinWithTrust: juliet trusts mercutio's certificate, but romeo
// presents his own: the handshake fails on juliet's side.
func TestWrongPinClientSide(t *testing.T) {
	j, r, m := testIdentity(t, "juliet@capulet.lit"), testIdentity(t, "romeo@montague.lit"), testIdentity(t, "mercutio@capulet.lit")
	// A certificate for romeo's JID that is not romeo's: mercutio forged one.
	forged, err := generateIdentity(context.Background(), r.JID(), nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = m
	a, _ := newTestSession(t, Options{}, julietFull, j, forged.Public())
	b, _ := newTestSession(t, Options{}, romeoFull, r, j.Public())
	route := map[*Session]*Session{a: b, b: a}
	res := pump(t, route, a, encrypt(t, a, msg(julietFull, romeoFull, "secret")))
	if len(res.opened[b]) != 0 {
		t.Fatal("opened")
	}
	var ok bool
	for _, err := range res.errs[a] {
		ok = ok || errors.Is(err, ErrPeerNotTrusted)
	}
	if !ok || !has(terminations(res.wire), "security-error") {
		t.Fatalf("juliet: %v; wire %v", res.errs[a], terminations(res.wire))
	}
	a.Close(context.Background())
	b.Close(context.Background())
	checkNoLeak(t)
}

func TestTimeout(t *testing.T) {
	j, r := testIdentity(t, "juliet@capulet.lit"), testIdentity(t, "romeo@montague.lit")
	a, clk := newTestSession(t, Options{HandshakeTimeout: 10e9}, julietFull, j, r.Public())
	b, _ := newTestSession(t, Options{HandshakeTimeout: 10e9}, romeoFull, r, j.Public())
	route := map[*Session]*Session{a: b, b: a}
	// Romeo's answers are lost after session-accept: the TLS handshake
	// never completes.
	res := pumpWith(t, route, a, encrypt(t, a, msg(julietFull, romeoFull, "secret")), func(to *Session, st *e2e.Stanza) *e2e.Stanza {
		if to == a && action(st) != "session-accept" && st.Type != "result" {
			return nil
		}
		return st
	})
	if len(res.opened[b]) != 0 {
		t.Fatal("opened")
	}
	clk.Advance(11e9)
	out, err := a.Expire(context.Background())
	var te *TerminatedError
	if !errors.As(err, &te) || te.Reason != "timeout" || !errors.Is(err, ErrTimeout) {
		t.Fatalf("Expire: %v", err)
	}
	if !has(terminations(out), "timeout") {
		t.Fatalf("no <timeout/>: %v", out)
	}
	// The goroutine of juliet's tunnel is gone already.
	a.Close(context.Background())
	b.Close(context.Background())
	checkNoLeak(t)
}

// TestMITMRelay: mallory terminates TLS towards each side, with forged
// certificates that juliet and romeo accept on first use (Config.Trust).
// Messages flow, but the two SAS values differ, which users comparing them
// detect. With pins (no Trust), the relay fails.
func TestMITMRelay(t *testing.T) {
	j, r := testIdentity(t, "juliet@capulet.lit"), testIdentity(t, "romeo@montague.lit")
	fakeRomeo, err := generateIdentity(context.Background(), r.JID(), nil)
	if err != nil {
		t.Fatal(err)
	}
	fakeJuliet, err := generateIdentity(context.Background(), j.JID(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tofu := func(jid.JID, e2e.Peer) bool { return true }
	mk := func(self jid.JID, id *Identity, trust func(jid.JID, e2e.Peer) bool) *Session {
		s, err := newSession(Options{}.withDefaults(), e2e.Config{Local: id, JID: self, Trust: trust})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close(context.Background()) })
		return s
	}
	a := mk(julietFull, j, tofu)
	b := mk(romeoFull, r, tofu)
	ma := mk(romeoFull, fakeRomeo, tofu)   // mallory facing juliet
	mb := mk(julietFull, fakeJuliet, tofu) // mallory facing romeo
	route := map[*Session]*Session{a: ma, ma: a, b: mb, mb: b}
	m := msg(julietFull, romeoFull, "only for romeo")
	res := pump(t, route, a, encrypt(t, a, m))
	if len(res.errs) != 0 || len(res.opened[ma]) != 1 {
		t.Fatalf("leg 1: %v", res.errs)
	}
	res = pump(t, route, mb, encrypt(t, mb, res.opened[ma][0]))
	if len(res.errs) != 0 || len(res.opened[b]) != 1 || !res.opened[b][0].Equal(m) {
		t.Fatalf("leg 2: %v", res.errs)
	}
	sasJ, err1 := a.SAS(romeoFull)
	sasR, err2 := b.SAS(julietFull)
	sasMA, _ := ma.SAS(julietFull)
	sasMB, _ := mb.SAS(romeoFull)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if sasJ == sasR {
		t.Fatalf("relay not detected: both SAS %s", sasJ)
	}
	if sasJ != sasMA || sasR != sasMB {
		t.Fatal("each leg should agree with mallory")
	}
	t.Logf("juliet sees %s, romeo sees %s", sasJ, sasR)

	// With romeo's real certificate pinned, juliet refuses mallory.
	a2, _ := newTestSession(t, Options{}, julietFull, j, r.Public())
	route[a2] = ma
	ma2 := mk(romeoFull, fakeRomeo, tofu)
	route = map[*Session]*Session{a2: ma2, ma2: a2}
	res = pump(t, route, a2, encrypt(t, a2, m))
	if len(res.opened[ma2]) != 0 {
		t.Fatal("mallory opened a pinned session")
	}
	var pinned bool
	for _, err := range res.errs[a2] {
		pinned = pinned || errors.Is(err, ErrPeerNotTrusted)
	}
	if !pinned {
		t.Fatalf("juliet: %v", res.errs[a2])
	}
}

// TestInnerFromSpoofing: a stanza inside the tunnel that claims to come from
// someone else than the authenticated peer ends the session with
// <security-error/> and opens nothing.
func TestInnerFromSpoofing(t *testing.T) {
	a, b, route := established(t, Options{})
	if _, err := a.Encrypt(context.Background(), msg(mercutioFull, romeoFull, "forged")); !errors.Is(err, e2e.ErrMalformed) {
		t.Fatalf("Encrypt of a stanza from someone else: %v", err)
	}
	// Write the forgery into the tunnel directly, as a modified client would.
	a.s.mu.Lock()
	tun := a.tunnelToLocked(romeoFull)
	a.s.mu.Unlock()
	if _, err := tun.tc.Write(msg(mercutioFull, romeoFull, "forged").Bytes()); err != nil {
		t.Fatal(err)
	}
	a.s.mu.Lock()
	wire := a.out
	a.out = nil
	a.s.mu.Unlock()
	res := pump(t, route, a, wire)
	if len(res.opened[b]) != 0 {
		t.Fatalf("opened %v", res.opened[b])
	}
	var ok bool
	for _, err := range res.errs[b] {
		var te *TerminatedError
		ok = ok || (errors.Is(err, e2e.ErrBadSignature) && errors.As(err, &te) && te.Reason == "security-error")
	}
	if !ok || !has(terminations(res.wire), "security-error") {
		t.Fatalf("romeo: %v", res.errs[b])
	}
	a.Close(context.Background())
	b.Close(context.Background())
	checkNoLeak(t)
}

// TestTimeoutNoticedByOtherCall: a timeout noticed by an unrelated call
// sends its <timeout/> with that call's output, and Expire reports it.
func TestTimeoutNoticedByOtherCall(t *testing.T) {
	j, r := testIdentity(t, "juliet@capulet.lit"), testIdentity(t, "romeo@montague.lit")
	a, clk := newTestSession(t, Options{HandshakeTimeout: 10e9}, julietFull, j, r.Public())
	encrypt(t, a, msg(julietFull, romeoFull, "never answered"))
	clk.Advance(11e9)
	other := jid.MustParse("romeo@montague.lit/garden")
	out, err := a.Encrypt(context.Background(), msg(julietFull, other, "to another resource"))
	if err != nil {
		t.Fatalf("unrelated Encrypt failed: %v", err)
	}
	if !has(terminations(out), "timeout") || len(out) != 2 {
		t.Fatalf("out %v", out)
	}
	if _, err := a.Expire(context.Background()); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Expire: %v", err)
	}
	a.Close(context.Background())
	checkNoLeak(t)
}

// TestTrustCallbackMayUseSession: Config.Trust runs without the session's
// lock, so it may call the Session (here SAS, which has no answer yet).
func TestTrustCallbackMayUseSession(t *testing.T) {
	j, r := testIdentity(t, "juliet@capulet.lit"), testIdentity(t, "romeo@montague.lit")
	var a *Session
	calls := 0
	trust := func(addr jid.JID, p e2e.Peer) bool {
		calls++
		_, err := a.SAS(addr)
		return err != nil && p.Fingerprint() == r.Public().Fingerprint()
	}
	var err error
	a, err = newSession(Options{}.withDefaults(), e2e.Config{Local: j, JID: julietFull, Trust: trust})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	b, _ := newTestSession(t, Options{}, romeoFull, r, j.Public())
	res := pump(t, map[*Session]*Session{a: b, b: a}, a, encrypt(t, a, msg(julietFull, romeoFull, "tofu")))
	if len(res.errs) != 0 || len(res.opened[b]) != 1 || calls != 1 {
		t.Fatalf("%v %d", res.errs, calls)
	}
}

// TestCloseMidHandshake: an IBB <close/> before the tunnel is open ends the
// session with <failed-transport/>.
func TestCloseMidHandshake(t *testing.T) {
	a, b := pair(t, Options{})
	route := map[*Session]*Session{a: b, b: a}
	var sid string
	res := pumpWith(t, route, a, encrypt(t, a, msg(julietFull, romeoFull, "never")), func(to *Session, st *e2e.Stanza) *e2e.Stanza {
		if d := ibbChild(st); d != nil && d.Name.Local == "data" && to == b {
			// romeo gets a <close/> instead of the ClientHello
			sid, _ = d.AttrValue("sid")
			cl := ibbElement("close")
			cl.Attr = attrs("sid", sid)
			st.Children = []*e2e.Element{cl}
		}
		return st
	})
	if sid == "" || len(res.opened[b]) != 0 {
		t.Fatal("no data seen")
	}
	var ok bool
	for _, err := range res.errs[b] {
		var te *TerminatedError
		ok = ok || (errors.As(err, &te) && te.Reason == "failed-transport")
	}
	if !ok || !has(terminations(res.wire), "failed-transport") {
		t.Fatalf("romeo: %v; wire %v", res.errs[b], terminations(res.wire))
	}
	a.Close(context.Background())
	b.Close(context.Background())
	checkNoLeak(t)
}
