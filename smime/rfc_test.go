package smime

import (
	"context"
	"strings"
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// TestRFCShapes parses inner objects shaped like the RFC 3923 examples (§3.1
// CPIM, §4.1 PIDF with its typos fixed, §5 application/xmpp+xml), written
// with LF line ends as XML would deliver them.
func TestRFCShapes(t *testing.T) {
	outer := &e2e.Stanza{Kind: e2e.Message, From: julietFull, To: romeoFull, Type: "chat"}
	cpim := "Content-type: Message/CPIM\n\nFrom: Juliet Capulet <im:juliet@capulet.lit>\nTo: Romeo Montague <im:romeo@montague.lit>\nDateTime: 2026-11-22T03:00:00.66Z\nSubject: Imploring\n\nContent-type: text/plain; charset=utf-8\nContent-ID: <1234567890@capulet.lit>\n\nWherefore art thou, Romeo?\n"
	ent, err := parseEntity(canonical([]byte(cpim)))
	if err != nil {
		t.Fatal(err)
	}
	in, err := parseInner(ent, outer)
	if err != nil {
		t.Fatal(err)
	}
	if in.stanza.Body() != "Wherefore art thou, Romeo?\n" || in.from.String() != "juliet@capulet.lit" || in.to[0].String() != "romeo@montague.lit" || in.stamp.IsZero() {
		t.Fatalf("CPIM: %+v %s", in, in.stanza)
	}
	if subj := in.stanza.Child(e2e.NSClient, "subject"); subj == nil || subj.Text() != "Imploring" {
		t.Fatalf("CPIM Subject not mapped: %s", in.stanza)
	}

	pres := &e2e.Stanza{Kind: e2e.Presence, From: julietFull, To: romeoFull}
	pidf := "Content-Type: application/pidf+xml\n\n<?xml version='1.0' encoding='UTF-8'?>\n<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:juliet@capulet.lit'>\n  <tuple id='hr0zny'>\n    <status><basic>open</basic></status>\n    <note xml:lang='en'>Thinking of Romeo</note>\n    <timestamp>2026-11-22T03:00:00Z</timestamp>\n  </tuple>\n</presence>\n"
	ent, _ = parseEntity(canonical([]byte(pidf)))
	in, err = parseInner(ent, pres)
	if err != nil {
		t.Fatal(err)
	}
	if in.stanza.Type != "" || in.stanza.Child(e2e.NSClient, "status").Text() != "Thinking of Romeo" || in.from.String() != "juliet@capulet.lit" {
		t.Fatalf("PIDF: %s", in.stanza)
	}

	for _, x := range []string{
		"<?xml version='1.0' encoding='UTF-8'?>\n<xmpp xmlns='jabber:client'>\n  <iq type='result' from='juliet@capulet.lit/balcony' to='romeo@montague.lit/orchard' id='roster_1'>\n    <query xmlns='jabber:iq:roster'><item jid='nurse@capulet.lit' name='Nurse' subscription='both'><group>Servants</group></item></query>\n  </iq>\n</xmpp>\n",
		"<?xml version='1.0' encoding='UTF-8'?>\n<xmpp xmlns='jabber:client'><message from='juliet@capulet.lit/balcony' to='romeo@montague.lit/orchard'><thread>e0ffe42b28561960c6b12b944a092794b9683a38</thread><body>x</body></message></xmpp>",
	} {
		st, err := parseXMPP(canonical([]byte(x)))
		if err != nil || !st.From.Equal(julietFull) {
			t.Fatalf("xmpp+xml: %v %v", st, err)
		}
	}
	for _, bad := range []string{
		"<xmpp xmlns='jabber:client'><iq type='get' id='1'/><iq type='get' id='2'/></xmpp>",
		"<xmpp xmlns='jabber:client'>text</xmpp>",
		"<xmpp xmlns='urn:other'><iq type='get' id='1'/></xmpp>",
		"<!DOCTYPE x [<!ENTITY a 'b'>]><xmpp xmlns='jabber:client'><iq type='get' id='1'/></xmpp>",
	} {
		if _, err := parseXMPP([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// TestXMLTransport: the payload arrives in CDATA with raw CRLF (which the
// XML parser turns into LF), with leading white space, and with a body
// containing "]]>".
func TestXMLTransport(t *testing.T) {
	j, r := pair(t, Scheme)
	st := message("a ]]> b\r\nc")
	w, err := j.sess.Sign(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	text := w[0].Child(NS, "e2e").Text()
	crlf := strings.ReplaceAll(text, "\n", "\r\n")
	cdata := "<![CDATA[" + strings.ReplaceAll(crlf, "]]>", "]]]]><![CDATA[>") + "]]>"
	raw := `<message xmlns='jabber:client' from='juliet@capulet.lit/balcony' to='romeo@montague.lit/orchard' type='chat' id='m1'>` +
		"<e2e xmlns='urn:ietf:params:xml:ns:xmpp-e2e'>\r\n  " + cdata + "</e2e></message>"
	in, err := e2e.Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	o, err := receiveOne(t, r, in)
	if err != nil {
		t.Fatal(err)
	}
	if !o.Stanza.Equal(st) {
		t.Fatalf("opened %s", o.Stanza)
	}
}

func TestCPIMSubject(t *testing.T) {
	j, r := pair(t, Scheme)
	st := message("body")
	st.Children = append([]*e2e.Element{e2e.NewElement(e2e.NSClient, "subject", "line one\nback\\slash \t é")}, st.Children...)
	w, err := j.sess.Sign(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(w[0].Child(NS, "e2e").Text(), "\nSubject: line one\\nback\\\\slash \\t é\n") {
		t.Fatalf("no escaped Subject header:\n%s", w[0].Child(NS, "e2e").Text())
	}
	o, err := receiveOne(t, r, transport(t, w[0]))
	if err != nil || !o.Stanza.Equal(st) {
		t.Fatalf("%v %v", o.Stanza, err)
	}
	for _, bad := range []string{`\`, `\u12`, `\uzzzz`, `\q`} {
		if _, err := cpimUnescape(bad); err == nil {
			t.Errorf("cpimUnescape(%q) accepted", bad)
		}
	}
}
