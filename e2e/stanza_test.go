package e2e_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"strings"
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/xmlstream"
)

const sample = `<message xmlns='jabber:client' from='juliet@capulet.lit/balcony' to='romeo@montague.lit' id='m1' type='chat' xml:lang='en' xmlns:foo='urn:foo' foo:extra='1'>
  <body>Wherefore art thou? &lt;&amp;&gt; ü
line two&#xD;</body>
  <thread>t1</thread>
  <active xmlns='http://jabber.org/protocol/chatstates'/>
  <x xmlns='urn:example:unknown' a='b'><deep><deeper>text <b>mixed</b> tail</deeper></deep></x>
</message>`

func TestParseRoundTrip(t *testing.T) {
	s, err := e2e.Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if s.Kind != e2e.Message || s.From.String() != "juliet@capulet.lit/balcony" || s.To.String() != "romeo@montague.lit" ||
		s.ID != "m1" || s.Type != "chat" || s.Lang != "en" {
		t.Fatalf("addressing not parsed: %+v", s)
	}
	if got, want := s.Body(), "Wherefore art thou? <&> ü\nline two\r"; got != want {
		t.Fatalf("body %q, want %q", got, want)
	}
	if v, ok := s.Attr[0], len(s.Attr) == 1; !ok || v.Name.Space != "urn:foo" || v.Value != "1" {
		t.Fatalf("extra attribute lost: %+v", s.Attr)
	}
	if len(s.Children) != 4 {
		t.Fatalf("%d children, want 4", len(s.Children))
	}
	x := s.Child("urn:example:unknown", "x")
	if x == nil || x.Elements()[0].Elements()[0].Text() != "text  tail" {
		t.Fatalf("unknown extension not kept: %v", x)
	}
	b := s.Bytes()
	s2, err := e2e.Parse(b)
	if err != nil {
		t.Fatalf("reparse %s: %v", b, err)
	}
	if !s.Equal(s2) {
		t.Fatalf("round trip changed the stanza:\n%s\n%s", b, s2.Bytes())
	}
	if !bytes.Equal(b, s2.Bytes()) {
		t.Fatalf("serialization not stable:\n%s\n%s", b, s2.Bytes())
	}
	c := s.Clone()
	c.Children[3].Elements()[0].SetText("changed")
	if s.Equal(c) || !s.Equal(s2) {
		t.Fatal("Clone shares children with the original")
	}
}

func TestTokenReaderRoundTrip(t *testing.T) {
	s, err := e2e.Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	// Through encoding/xml's encoder, as mellium writes tokens to a stream.
	var buf bytes.Buffer
	enc := xml.NewEncoder(&buf)
	if _, err := xmlstream.Copy(enc, s.TokenReader()); err != nil {
		t.Fatal(err)
	}
	if err := enc.Flush(); err != nil {
		t.Fatal(err)
	}
	s2, err := e2e.Parse(buf.Bytes())
	if err != nil {
		t.Fatalf("parse encoder output %s: %v", buf.Bytes(), err)
	}
	if !s.Equal(s2) {
		t.Fatalf("token round trip changed the stanza:\n%s\n%s", s.Bytes(), s2.Bytes())
	}
	// ReadStanza from a token stream positioned after the start element, with
	// a following stanza left unread.
	d := xml.NewDecoder(strings.NewReader(string(s.Bytes()) + "<presence xmlns='jabber:client'/>"))
	tok, _ := d.Token()
	s3, err := e2e.ReadStanza(tok.(xml.StartElement).Copy(), d)
	if err != nil || !s.Equal(s3) {
		t.Fatalf("ReadStanza: %v", err)
	}
	tok, _ = d.Token()
	if se, ok := tok.(xml.StartElement); !ok || se.Name.Local != "presence" {
		t.Fatalf("ReadStanza consumed the next stanza: %v", tok)
	}
}

func TestParseMalformed(t *testing.T) {
	big := "<message xmlns='jabber:client'><body>" + strings.Repeat("a", e2e.MaxStanzaSize) + "</body></message>"
	deep := "<message xmlns='jabber:client'>" + strings.Repeat("<a>", e2e.MaxDepth+2) + strings.Repeat("</a>", e2e.MaxDepth+2) + "</message>"
	for name, in := range map[string]string{
		"empty":          "",
		"text":           "hello",
		"unclosed":       "<message xmlns='jabber:client'><body>hi</body>",
		"mismatched":     "<message xmlns='jabber:client'><body>hi</thread></message>",
		"two roots":      "<message xmlns='jabber:client'/><message xmlns='jabber:client'/>",
		"trailing text":  "<message xmlns='jabber:client'/>junk",
		"wrong ns":       "<message xmlns='urn:other'/>",
		"no ns":          "<message/>",
		"not a stanza":   "<stream xmlns='jabber:client'/>",
		"bad jid":        "<message xmlns='jabber:client' to='a@b@c'/>",
		"stanza text":    "<message xmlns='jabber:client'>text</message>",
		"comment":        "<message xmlns='jabber:client'><!-- x --></message>",
		"doctype":        "<!DOCTYPE message [<!ENTITY x 'y'>]><message xmlns='jabber:client'/>",
		"entity":         "<message xmlns='jabber:client'><body>&x;</body></message>",
		"pi inside":      "<message xmlns='jabber:client'><?pi x?></message>",
		"bad utf8":       "<message xmlns='jabber:client'><body>\xff\xfe</body></message>",
		"oversized":      big,
		"too deep":       deep,
		"undeclared pfx": "<message xmlns='jabber:client'><p:x/></message>",
	} {
		s, err := e2e.Parse([]byte(in))
		if !errors.Is(err, e2e.ErrMalformed) {
			t.Errorf("%s: got %v, %v; want ErrMalformed", name, s, err)
		}
	}
}

func TestParseAccepts(t *testing.T) {
	for _, in := range []string{
		"<?xml version='1.0'?>\n<presence xmlns='jabber:client'/>\n",
		"<iq xmlns='jabber:server' type='get' id='1'><query xmlns='jabber:iq:version'/></iq>",
		"<message xmlns='jabber:client'><body/></message>",
	} {
		if _, err := e2e.Parse([]byte(in)); err != nil {
			t.Errorf("%q: %v", in, err)
		}
	}
}

func TestSetBody(t *testing.T) {
	s, _ := e2e.Parse([]byte("<message xmlns='jabber:client'><body>a</body><x xmlns='urn:u'/><body xml:lang='de'>b</body></message>"))
	s.SetBody("c")
	if got := string(s.Bytes()); got != "<message xmlns='jabber:client'><body>c</body><x xmlns='urn:u'/></message>" {
		t.Fatal(got)
	}
	p := &e2e.Stanza{Kind: e2e.Presence}
	p.SetBody("x")
	if p.Body() != "x" || len(p.Children) != 1 {
		t.Fatal(p)
	}
}

func TestEscapingSurvives(t *testing.T) {
	s := &e2e.Stanza{Kind: e2e.Message, Type: "chat", Attr: []xml.Attr{{Name: xml.Name{Local: "a"}, Value: "q'\"\t\n\r<&>"}}}
	s.SetBody("\x00\xff ctrl <tag> & 'quotes' \"dq\" \r\n end")
	s2, err := e2e.Parse(s.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if s2.Body() != "\uFFFD\uFFFD ctrl <tag> & 'quotes' \"dq\" \r\n end" || s2.Attr[0].Value != s.Attr[0].Value {
		t.Fatalf("escaping lost data: %q %q", s2.Body(), s2.Attr[0].Value)
	}
}

func TestErrorClasses(t *testing.T) {
	for _, c := range e2e.Classes {
		name := e2e.ClassOf(c)
		if name == "other" || e2e.ClassByName(name) != c {
			t.Errorf("class %v has no stable name", c)
		}
	}
	if e2e.ClassOf(nil) != "" || e2e.ClassOf(errors.New("x")) != "other" {
		t.Error("ClassOf of nil or foreign error")
	}
}

func TestPropertiesDocumented(t *testing.T) {
	for _, p := range e2e.AllProperties {
		if !p.Valid() || p.Test() == "" {
			t.Errorf("property %s has no deciding test", p)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte("<presence xmlns='jabber:client'/>"))
	f.Add([]byte("<iq xmlns='jabber:server' type='get'><q xmlns='x' xml:lang='en'>t</q></iq>"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := e2e.Parse(b)
		if err != nil {
			if !errors.Is(err, e2e.ErrMalformed) {
				t.Fatalf("error outside ErrMalformed: %v", err)
			}
			return
		}
		out := s.Bytes()
		s2, err := e2e.Parse(out)
		if err != nil {
			t.Fatalf("our own output does not parse: %q: %v", out, err)
		}
		if !s.Equal(s2) {
			t.Fatalf("round trip changed the stanza: %q -> %q", b, out)
		}
	})
}
