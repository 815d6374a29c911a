package xtls

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/xmpp/jid"
)

// Tests of the spec-conformance review: each one pins a rule of XEP-0047,
// XEP-0166 or XEP-0261 that the code once broke.

// tunnelSID returns the Jingle sid of s's only tunnel to peer.
func tunnelSID(t *testing.T, s *Session, peer jid.JID) string {
	t.Helper()
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	for _, tu := range s.tunnels {
		if tu.peer.Equal(peer) && !tu.ended {
			return tu.sid
		}
	}
	t.Fatalf("no tunnel to %s", peer)
	return ""
}

// bytestream returns the IBB sid and block-size of s's only tunnel.
func bytestream(s *Session) (sid string, block int) {
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	for _, tu := range s.tunnels {
		sid, block = tu.tr.SID, tu.conn.block
	}
	return sid, block
}

// jingleSet is a Jingle IQ-set from romeo to juliet.
func jingleSet(id string, j *jingle) *e2e.Stanza {
	return iqSet(romeoFull, julietFull, id, j.element())
}

// appCondition returns the application-specific condition of an IQ error.
func appCondition(st *e2e.Stanza) string {
	for _, c := range st.Children {
		if c.Name.Local != "error" {
			continue
		}
		for _, d := range c.Elements() {
			if d.Name.Space == nsJingleErrors {
				return d.Name.Local
			}
		}
	}
	return ""
}

// XEP-0261 §2.2: an IBB <open/> whose block-size differs from the one the
// responder put in its session-accept gets <resource-constraint/>, even
// when it is smaller.
func TestOpenBlockSizeMustMatchAccept(t *testing.T) {
	a, b := pair(t, Options{})
	route := map[*Session]*Session{a: b, b: a}
	var refusal *e2e.Stanza
	p := pumpWith(t, route, a, encrypt(t, a, msg(julietFull, romeoFull, "hi")), func(to *Session, st *e2e.Stanza) *e2e.Stanza {
		if o := st.Child(nsIBB, "open"); o != nil && to == b {
			o.SetAttr("block-size", "1024") // negotiated: 4096
		}
		if to == a && st.Type == "error" && refusal == nil {
			refusal = st
		}
		return st
	})
	if refusal == nil || errorCondition(refusal) != "resource-constraint" {
		t.Fatalf("open with a smaller block-size: reply %v", refusal)
	}
	if len(p.opened[b]) != 0 || !has(terminations(p.wire), "failed-transport") {
		t.Fatalf("romeo opened %d; terminations %v", len(p.opened[b]), terminations(p.wire))
	}
}

// XEP-0166 §6.8: an informational message whose payload we do not
// understand gets <feature-not-implemented/> + <unsupported-info/>; an
// empty session-info (a ping) gets a result.
func TestInformationalPayload(t *testing.T) {
	a, _, _ := established(t, Options{})
	sid := tunnelSID(t, a, romeoFull)
	res, err := a.Receive(context.Background(), jingleSet("p1", &jingle{Action: "session-info", SID: sid}))
	if err != nil || len(res.Replies) != 1 || res.Replies[0].Type != "result" {
		t.Fatalf("ping: %v %v", err, res.Replies)
	}
	for _, act := range []string{"session-info", "transport-info", "description-info"} {
		el := (&jingle{Action: act, SID: sid}).element()
		el.AppendChild(&e2e.Element{Name: xmlName("urn:example:payload", "ringing")})
		res, _ := a.Receive(context.Background(), iqSet(romeoFull, julietFull, "i-"+act, el))
		if len(res.Replies) != 1 || errorCondition(res.Replies[0]) != "feature-not-implemented" || appCondition(res.Replies[0]) != "unsupported-info" {
			t.Fatalf("%s with a payload: %v", act, res.Replies)
		}
	}
	// The tunnel is unharmed.
	if got := tunnelSID(t, a, romeoFull); got != sid {
		t.Fatalf("tunnel changed: %s", got)
	}
}

// XEP-0166 §7.2: an action not defined there gets <bad-request/>;
// content-add and transport-replace, which XTLS does not negotiate, are
// answered with content-reject and transport-reject.
func TestUndefinedAndRefusedActions(t *testing.T) {
	a, b, route := established(t, Options{})
	sid := tunnelSID(t, a, romeoFull)
	res, err := a.Receive(context.Background(), jingleSet("u1", &jingle{Action: "session-frobnicate", SID: sid}))
	if err == nil || len(res.Replies) != 1 || errorCondition(res.Replies[0]) != "bad-request" {
		t.Fatalf("undefined action: %v %v", err, res.Replies)
	}
	for act, want := range map[string]string{"content-add": "content-reject", "transport-replace": "transport-reject"} {
		c := &content{Creator: "initiator", Name: contentName, Description: nsXMLStream0,
			Transport: &transport{NS: nsIBB1, SID: "other", BlockSize: 4096}}
		res, _ := a.Receive(context.Background(), jingleSet("r-"+act, &jingle{Action: act, SID: sid, Contents: []*content{c}}))
		if len(res.Replies) != 2 || res.Replies[0].Type != "result" || action(res.Replies[1]) != want {
			t.Fatalf("%s: %v", act, res.Replies)
		}
		j, err := parseJingle(jingleChild(res.Replies[1]))
		if err != nil || j.SID != sid || len(j.Contents) != 1 || j.Contents[0].Name != contentName || j.Contents[0].Creator != "initiator" {
			t.Fatalf("%s: %v %+v", want, err, j)
		}
	}
	// content-accept and transport-accept answer nothing we sent.
	for _, act := range []string{"content-accept", "content-reject", "transport-accept", "transport-reject"} {
		res, _ := a.Receive(context.Background(), jingleSet("o-"+act, &jingle{Action: act, SID: sid}))
		if len(res.Replies) != 1 || errorCondition(res.Replies[0]) != "unexpected-request" || appCondition(res.Replies[0]) != "out-of-order" {
			t.Fatalf("%s: %v", act, res.Replies)
		}
	}
	// The tunnel still carries stanzas.
	p := pump(t, route, a, encrypt(t, a, msg(julietFull, romeoFull, "still here")))
	if len(p.errs) != 0 || len(p.opened[b]) != 1 {
		t.Fatalf("after the refusals: %v", p.errs)
	}
}

// XEP-0166 §7.1: when 'initiator' differs from the IQ's 'from', the
// responder ignores the attribute and treats 'from' as the initiator.
func TestInitiatorAttributeIgnored(t *testing.T) {
	a, b := pair(t, Options{})
	route := map[*Session]*Session{a: b, b: a}
	p := pumpWith(t, route, a, encrypt(t, a, msg(julietFull, romeoFull, "hi")), func(to *Session, st *e2e.Stanza) *e2e.Stanza {
		if action(st) == "session-initiate" {
			jingleChild(st).SetAttr("initiator", mercutioFull.String())
		}
		return st
	})
	if len(p.errs) != 0 || len(p.opened[b]) != 1 {
		t.Fatalf("errors %v, romeo opened %d", p.errs, len(p.opened[b]))
	}
}

// XEP-0166 §7.3 (the 'creator' attribute): a content without 'creator' is
// the initiator's (the default), and the accept says so; a session-initiate
// whose content claims the responder created it, or that has no name, is
// malformed.
func TestContentCreator(t *testing.T) {
	for _, tc := range []struct {
		name    string
		edit    func(c *e2e.Element)
		wantErr bool
	}{
		{"no creator", func(c *e2e.Element) { c.Attr = attrs("name", contentName) }, false},
		{"creator responder", func(c *e2e.Element) { c.SetAttr("creator", "responder") }, true},
		{"no name", func(c *e2e.Element) { c.Attr = attrs("creator", "initiator") }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := pair(t, Options{})
			init := encrypt(t, a, msg(julietFull, romeoFull, "hi"))[0]
			tc.edit(jingleChild(init).Child(nsJingle, "content"))
			res, err := b.Receive(context.Background(), init)
			if tc.wantErr {
				if !errors.Is(err, e2e.ErrMalformed) || len(res.Replies) != 1 || errorCondition(res.Replies[0]) != "bad-request" {
					t.Fatalf("%v %v", err, res.Replies)
				}
				return
			}
			if err != nil || len(res.Replies) != 2 || action(res.Replies[1]) != "session-accept" {
				t.Fatalf("%v %v", err, res.Replies)
			}
			if cr, _ := jingleChild(res.Replies[1]).Child(nsJingle, "content").AttrValue("creator"); cr != "initiator" {
				t.Fatalf("accept with creator %q", cr)
			}
		})
	}
}

// XEP-0166: the content of a session-accept or security-info is the one
// with the same creator and name; a security-info for the responder's
// "xmlstream" content names nothing we negotiated.
func TestSecurityInfoCreatorMustMatch(t *testing.T) {
	a, b := pair(t, Options{})
	route := map[*Session]*Session{a: b, b: a}
	var reply *e2e.Stanza
	p := pumpWith(t, route, a, encrypt(t, a, msg(julietFull, romeoFull, "hi")), func(to *Session, st *e2e.Stanza) *e2e.Stanza {
		if action(st) == "security-info" {
			jingleChild(st).Child(nsJingle, "content").SetAttr("creator", "responder")
		}
		if to == a && st.Type == "error" && reply == nil {
			reply = st
		}
		return st
	})
	if reply == nil || errorCondition(reply) != "bad-request" || len(p.opened[b]) != 0 {
		t.Fatalf("security-info for another content: %v; romeo opened %d", reply, len(p.opened[b]))
	}
	// Juliet ends the session she can no longer use, and tells romeo
	// (XEP-0166 §6.7), who would otherwise wait for the handshake.
	if !has(terminations(p.wire), "general-error") {
		t.Fatalf("no session-terminate after the refused security-info: %v", terminations(p.wire))
	}
}

// XEP-0047 §2.3: after a <close/>, both parties consider the bytestream
// closed, so a later <data/> names an unknown bytestream: <item-not-found/>.
func TestDataAfterClose(t *testing.T) {
	rx := newIBBConn(newSched(false), romeoFull, julietFull, "s1", 16, 1)
	rx.send = func(*e2e.Stanza, func(*e2e.Stanza)) {}
	rx.newID = func() string { return "x" }
	cl := ibbElement("close")
	cl.Attr = attrs("sid", "s1")
	rx.s.mu.Lock()
	defer rx.s.mu.Unlock()
	if reply, err := rx.handleLocked(iqSet(julietFull, romeoFull, "c", cl), cl); err != nil || reply.Type != "result" {
		t.Fatalf("close: %v %v", err, reply)
	}
	d := ibbElement("data")
	d.Attr = attrs("seq", "0", "sid", "s1")
	d.SetText("AAAA")
	reply, err := rx.handleLocked(iqSet(julietFull, romeoFull, "d", d), d)
	if err == nil || errorCondition(reply) != "item-not-found" {
		t.Fatalf("data after close: %v %v", err, reply)
	}
}

// RFC 6120 §8.2.3: every IQ-set gets a result or an error, a replayed
// Jingle action too: <unexpected-request/> with <out-of-order/>, and
// ErrReplay for the caller. The session goes on.
func TestReplayedJingleAnswered(t *testing.T) {
	a, b := pair(t, Options{})
	route := map[*Session]*Session{a: b, b: a}
	seen := map[string]*e2e.Stanza{}
	p := pumpWith(t, route, a, encrypt(t, a, msg(julietFull, romeoFull, "hi")), func(to *Session, st *e2e.Stanza) *e2e.Stanza {
		if act := action(st); act != "" && seen[act] == nil {
			seen[act] = st.Clone()
		}
		return st
	})
	if len(p.errs) != 0 || len(p.opened[b]) != 1 {
		t.Fatalf("%v", p.errs)
	}
	for act, to := range map[string]*Session{"session-initiate": b, "session-accept": a, "security-info": b} {
		st := seen[act]
		if st == nil {
			t.Fatalf("no %s on the wire", act)
		}
		res, err := to.Receive(context.Background(), st)
		if !errors.Is(err, e2e.ErrReplay) || len(res.Replies) != 1 || res.Replies[0].ID != st.ID ||
			errorCondition(res.Replies[0]) != "unexpected-request" || appCondition(res.Replies[0]) != "out-of-order" {
			t.Fatalf("replayed %s: %v %v", act, err, res.Replies)
		}
		// The sender ignores the error: the IQ it answers is long done.
		if _, err := route[to].Receive(context.Background(), res.Replies[0]); err != nil {
			t.Fatalf("the error to a replayed %s: %v", act, err)
		}
	}
	p = pump(t, route, a, encrypt(t, a, msg(julietFull, romeoFull, "still here")))
	if len(p.errs) != 0 || len(p.opened[b]) != 1 {
		t.Fatalf("after the replays: %v", p.errs)
	}
}

// XEP-0047 §2.2 and XEP-0261 §2.2: the initiator's bytestream exists once
// session-accept has arrived (ibb:0), or once its <open/> is acknowledged
// (ibb:1). Data from the responder before then names no open bytestream:
// <item-not-found/>, and the session ends with <failed-transport/>.
func TestInitiatorRefusesDataBeforeItOpens(t *testing.T) {
	for _, ns := range []string{nsIBB0, nsIBB1} {
		t.Run(ns[len(ns)-5:], func(t *testing.T) {
			a, _ := pair(t, Options{Transport: ns})
			init := encrypt(t, a, msg(julietFull, romeoFull, "hi"))[0]
			j, err := parseJingle(jingleChild(init))
			if err != nil {
				t.Fatal(err)
			}
			d := ibbElement("data")
			d.Attr = attrs("seq", "0", "sid", j.Contents[0].Transport.SID)
			d.SetText("FgMDAAA=")
			res, err := a.Receive(context.Background(), iqSet(romeoFull, julietFull, "early", d))
			var ie *IBBError
			if !errors.As(err, &ie) || ie.Cond != "item-not-found" || len(res.Replies) == 0 || errorCondition(res.Replies[0]) != "item-not-found" {
				t.Fatalf("data before the bytestream is open: %v %v", err, res.Replies)
			}
			if !has(terminations(res.Replies), "failed-transport") {
				t.Fatalf("no <failed-transport/>: %v", res.Replies)
			}
		})
	}
}

// XEP-0261 §2.2: the initiator opens the bytestream. An <open/> from the
// responder names a bytestream that is already open: <not-acceptable/>.
func TestInitiatorRefusesResponderOpen(t *testing.T) {
	a, _, _ := established(t, Options{})
	sid, block := bytestream(a)
	o := ibbElement("open")
	o.Attr = attrs("block-size", strconv.Itoa(block), "sid", sid, "stanza", "iq")
	res, err := a.Receive(context.Background(), iqSet(romeoFull, julietFull, "o2", o))
	if !errors.Is(err, e2e.ErrMalformed) || len(res.Replies) != 1 || errorCondition(res.Replies[0]) != "not-acceptable" {
		t.Fatalf("open from the responder: %v %v", err, res.Replies)
	}
}

// XEP-0047 §6: base64 characters outside the alphabet are rejected, not
// ignored, and so is a pad character anywhere but at the end ("=AAA",
// "BBBB=CCC"). XML whitespace is the one exception: the examples of
// XEP-0047 and XEP-0247 wrap their chunks in line breaks and indentation
// (docs/xtls.md, errata).
func TestChunkBase64(t *testing.T) {
	for _, bad := range []string{"=AAA", "BBBB=CCC", "QQ==QQ==", "QQ=", "QQ", "QR==", "QUJD\x00", "QUJD!", "QU JD\u00a0", "QUJD\v"} {
		if _, err := decodeChunk(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	// The first chunk of XEP-0247's example 5, as printed.
	wrapped := `
    PHN0cmVhbTpzdHJlYW0geG1sbnM9J2phYmJlcjpjbGllbnQnIHhtbG5zOnN0cmVh
    bT0naHR0cDovL2V0aGVyeC5qYWJiZXIub3JnL3N0cmVhbXMnIGZyb209J3JvbWVv
    QG1vbnRhZ3VlLmxpdC9vcmNoYXJkJyB0bz0nanVsaWV0QGNhcHVsZXQubGl0L2Jh
    bGNvbnknIHZlcnNpb249JzEuMCc+
  `
	b, err := decodeChunk(wrapped)
	if err != nil || string(b) != "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='romeo@montague.lit/orchard' to='juliet@capulet.lit/balcony' version='1.0'>" {
		t.Fatalf("%q %v", b, err)
	}
}

// RFC 6120 §8.2.3: an IQ-get is answered too, even one that carries Jingle
// or IBB, which only IQ-sets may: <bad-request/>.
func TestJingleInGetAnswered(t *testing.T) {
	a, _, _ := established(t, Options{})
	for _, el := range []*e2e.Element{(&jingle{Action: "session-info", SID: tunnelSID(t, a, romeoFull)}).element(), ibbElement("close")} {
		st := iqSet(romeoFull, julietFull, "g1", el)
		st.Type = "get"
		res, err := a.Receive(context.Background(), st)
		if !errors.Is(err, e2e.ErrMalformed) || len(res.Replies) != 1 || errorCondition(res.Replies[0]) != "bad-request" {
			t.Fatalf("<%s/> in an IQ-get: %v %v", el.Name.Local, err, res.Replies)
		}
	}
}

// Under ibb:0 the Jingle negotiation replaces the <open/> (XEP-0261 v0.2),
// and an <open/> the responder acknowledges anyway must not change the
// negotiated block-size either.
func TestOpenUnderIBB0KeepsBlockSize(t *testing.T) {
	_, b, _ := established(t, Options{Transport: nsIBB0})
	sid, block := bytestream(b)
	o := ibbElement("open")
	o.Attr = attrs("block-size", strconv.Itoa(block/2), "sid", sid)
	res, _ := b.Receive(context.Background(), iqSet(julietFull, romeoFull, "o0", o))
	if len(res.Replies) != 1 || errorCondition(res.Replies[0]) != "resource-constraint" {
		t.Fatalf("smaller block-size in an ibb:0 <open/>: %v", res.Replies)
	}
}
