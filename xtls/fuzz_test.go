package xtls

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// FuzzIBBData feeds <data/> chunks with arbitrary seq, sid and payload to a
// bytestream expecting seq 65535: accepted chunks must deliver exactly their
// strict base64 decoding; rejected ones must deliver nothing.
func FuzzIBBData(f *testing.F) {
	f.Add("65535", "s1", "AAAA", false)
	f.Add("0", "s1", "AAAA", false)
	f.Add("65534", "s1", "AAAA", true)
	f.Add("65535", "s2", "AAAA", false)
	f.Add("65535", "s1", "AAB=", false)
	f.Add("65535", "s1", "A A A A\n", false)
	f.Add("065535", "s1", "FgMBAAA=", true)
	f.Add("65535", "s1", "FgMBAAU=", true)
	f.Fuzz(func(t *testing.T, seq, sid, text string, aligned bool) {
		c := newIBBConn(newSched(false), romeoFull, julietFull, "s1", 16, 1)
		c.recvSeq = 65535
		c.aligned = aligned
		d := ibbElement("data")
		d.Attr = attrs("seq", seq, "sid", sid)
		d.SetText(text)
		st := iqSet(julietFull, romeoFull, "x", d)
		c.s.mu.Lock()
		defer c.s.mu.Unlock()
		reply, err := c.handleLocked(st, d)
		if reply == nil && err == nil {
			t.Fatal("no reply and no error")
		}
		if err != nil {
			if len(c.rbuf) != 0 {
				t.Fatal("data delivered with an error")
			}
			if e2e.ClassOf(err) != "malformed" && e2e.ClassOf(err) != "replay" && e2e.ClassOf(err) != "decrypt" {
				t.Fatalf("error class %q", e2e.ClassOf(err))
			}
			if errors.Is(err, e2e.ErrReplay) && c.err != nil {
				t.Fatal("a replay killed the stream")
			}
			return
		}
		want, derr := base64.StdEncoding.Strict().DecodeString(stripXMLSpace(text))
		if derr != nil || !bytes.Equal(want, c.rbuf) || len(want) > 16 || c.recvSeq != 0 || sid != "s1" {
			t.Fatalf("accepted %q (seq %q): delivered %x", text, seq, c.rbuf)
		}
	})
}

func stripXMLSpace(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\r', '\n':
		default:
			b = append(b, s[i])
		}
	}
	return string(b)
}

// FuzzJingle parses arbitrary <jingle/> elements; what parses must
// serialize to XML that parses to the same values.
func FuzzJingle(f *testing.F) {
	f.Add([]byte(draftInitiate))
	f.Add([]byte(`<jingle xmlns='urn:xmpp:jingle:1' action='session-terminate' sid='a'><reason><security-error/><text>bad pin</text></reason></jingle>`))
	f.Add([]byte(`<jingle xmlns='urn:xmpp:jingle:1' action='security-info' sid='a'><content creator='initiator' name='xmlstream'><security xmlns='urn:xmpp:jingle:security:xtls:0'><method name='srp'/></security></content></jingle>`))
	f.Add([]byte(`<jingle xmlns='urn:xmpp:jingle:1' action='session-accept' sid='a' responder='juliet@capulet.lit/balcony'><content creator='initiator' name='xmlstream'><description xmlns='urn:xmpp:jingle:apps:xmlstream:0'/><transport xmlns='urn:xmpp:jingle:transports:ibb:1' block-size='65535' sid='b'/><security xmlns='urn:xmpp:jingle:security:xtls:0'><fingerprint algo='sha-256'>00</fingerprint></security></content></jingle>`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var el *e2e.Element
		if st, err := e2e.Parse(raw); err == nil {
			el = jingleChild(st)
		} else if el, err = e2e.ParseElement(raw); err != nil {
			return
		}
		j, err := parseJingle(el)
		if err != nil {
			if !errors.Is(err, e2e.ErrMalformed) {
				t.Fatalf("error class: %v", err)
			}
			return
		}
		out := j.element().Bytes()
		el2, err := e2e.ParseElement(out)
		if err != nil {
			t.Fatalf("our output does not parse: %v\n%s", err, out)
		}
		j2, err := parseJingle(el2)
		if err != nil {
			t.Fatalf("our output does not parse as Jingle: %v\n%s", err, out)
		}
		if j2.Action != j.Action || j2.SID != j.SID || len(j2.Contents) != len(j.Contents) || j2.Reason != j.Reason {
			t.Fatalf("round trip changed %+v to %+v", j, j2)
		}
		for i, c := range j.Contents {
			c2 := j2.Contents[i]
			if (c.Security == nil) != (c2.Security == nil) || (c.Transport == nil) != (c2.Transport == nil) {
				t.Fatalf("content %d changed", i)
			}
			if c.Security != nil && (len(c.Security.Methods) != len(c2.Security.Methods) || len(c.Security.Fingerprints) != len(c2.Security.Fingerprints)) {
				t.Fatalf("security %d changed", i)
			}
		}
	})
}

// FuzzReceive gives arbitrary stanzas to a responder session: never a
// panic, never an opened stanza, every error classed.
func FuzzReceive(f *testing.F) {
	f.Add([]byte(draftInitiate))
	f.Add([]byte(`<iq xmlns='jabber:client' type='set' from='romeo@montague.lit/orchard' to='juliet@capulet.lit/balcony' id='1'><data xmlns='http://jabber.org/protocol/ibb' seq='0' sid='ch3d9s71'>FgMBAAU=</data></iq>`))
	f.Add([]byte(`<message xmlns='jabber:client' from='romeo@montague.lit/orchard'><data xmlns='http://jabber.org/protocol/ibb' seq='0' sid='x'>AAAA</data></message>`))
	f.Add([]byte(`<iq xmlns='jabber:client' type='result' from='romeo@montague.lit/orchard' id='1'/>`))
	j, r := testIdentity(f, "juliet@capulet.lit"), testIdentity(f, "romeo@montague.lit")
	f.Fuzz(func(t *testing.T, raw []byte) {
		st, err := e2e.Parse(raw)
		if err != nil {
			return
		}
		s, err := newSession(Options{}.withDefaults(), e2e.Config{Local: j, JID: julietFull, Peers: []e2e.Peer{r.Public()}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(context.Background())
		for i := 0; i < 2; i++ { // twice: the second time it may be a replay
			res, err := s.Receive(context.Background(), st)
			if len(res.Opened) != 0 {
				t.Fatalf("opened %v", res.Opened)
			}
			if err != nil && e2e.ClassOf(err) == "other" && !errors.Is(err, ErrTimeout) {
				var te *TerminatedError
				if !errors.As(err, &te) {
					t.Fatalf("unclassed error %v", err)
				}
			}
		}
	})
}

// FuzzTunnelData replaces the payload, seq and sid of the first <data/>
// chunk of a message on an established tunnel: the receiver may open the
// original message or nothing, never anything else, and never panics.
func FuzzTunnelData(f *testing.F) {
	f.Add("FwMDABk=", "1", false)
	f.Add("", "0", true)
	f.Add("AAAA", "65535", false)
	f.Fuzz(func(t *testing.T, payload, seq string, keepPayload bool) {
		a, b, _ := established(t, Options{})
		defer a.Close(context.Background())
		defer b.Close(context.Background())
		m := msg(julietFull, romeoFull, "the original")
		wire := encrypt(t, a, m)
		d := ibbChild(wire[0])
		if !keepPayload {
			d.SetText(payload)
		}
		d.SetAttr("seq", seq)
		for _, st := range wire {
			res, err := b.Receive(context.Background(), st)
			if err != nil && len(res.Opened) != 0 {
				t.Fatal("opened with an error")
			}
			for _, o := range res.Opened {
				if !o.Stanza.Equal(m) {
					t.Fatalf("opened changed plaintext %v", o.Stanza)
				}
			}
		}
	})
}
