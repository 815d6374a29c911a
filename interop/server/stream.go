package server

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// XML namespaces used on the wire.
const (
	nsStream    = "http://etherx.jabber.org/streams"
	nsStreams   = "urn:ietf:params:xml:ns:xmpp-streams"
	nsStanzas   = "urn:ietf:params:xml:ns:xmpp-stanzas"
	nsTLS       = "urn:ietf:params:xml:ns:xmpp-tls"
	nsSASL      = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsBind      = "urn:ietf:params:xml:ns:xmpp-bind"
	nsSession   = "urn:ietf:params:xml:ns:xmpp-session"
	nsDialback  = "jabber:server:dialback"
	nsDBFeature = "urn:xmpp:features:dialback"
	nsRoster    = "jabber:iq:roster"
	nsCarbons   = "urn:xmpp:carbons:2"
	nsHints     = "urn:xmpp:hints"
	nsForward   = "urn:xmpp:forward:0"
	nsDelay     = "urn:xmpp:delay"
	nsDiscoInfo = "http://jabber.org/protocol/disco#info"
	nsPing      = "urn:xmpp:ping"
)

// negotiationLimit bounds the bytes buffered for one element during stream
// negotiation; stanzas are bounded by e2e.MaxStanzaSize plus markup.
const (
	negotiationLimit = 64 << 10
	stanzaLimit      = e2e.MaxStanzaSize + 256<<10
)

// errStream is a stream error to send before closing (RFC 6120 §4.9).
type errStream struct {
	cond string
	text string
}

func (e *errStream) Error() string {
	if e.text != "" {
		return "stream error " + e.cond + ": " + e.text
	}
	return "stream error " + e.cond
}

func streamErr(cond, format string, args ...any) error {
	return &errStream{cond: cond, text: fmt.Sprintf(format, args...)}
}

// recorder is the byte source of a stream's XML decoder: it keeps every byte
// read since the last discard, so the raw bytes of each stanza can go to the
// wiretap, and it bounds how much one element may take.
type recorder struct {
	r     *bufio.Reader
	buf   []byte
	base  int64 // stream offset of buf[0]
	limit int
}

func (r *recorder) ReadByte() (byte, error) {
	b, err := r.r.ReadByte()
	if err != nil {
		return 0, err
	}
	if len(r.buf) >= r.limit {
		return 0, streamErr("policy-violation", "element larger than %d bytes", r.limit)
	}
	r.buf = append(r.buf, b)
	return b, nil
}

func (r *recorder) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	b, err := r.ReadByte()
	if err != nil {
		return 0, err
	}
	p[0] = b
	return 1, nil
}

// slice returns the bytes between two decoder offsets.
func (r *recorder) slice(from, to int64) []byte {
	i, j := from-r.base, to-r.base
	if i < 0 || j > int64(len(r.buf)) || i > j {
		return nil
	}
	return bytes.TrimSpace(r.buf[i:j])
}

// discard forgets the bytes before offset off.
func (r *recorder) discard(off int64) {
	n := off - r.base
	if n <= 0 {
		return
	}
	if n >= int64(len(r.buf)) {
		r.buf = r.buf[:0]
		if cap(r.buf) > 4096 {
			r.buf = nil
		}
	} else {
		r.buf = append(r.buf[:0], r.buf[n:]...)
	}
	r.base = off
}

// xstream is one XML stream over a connection, in either direction: our
// own reader (a fresh decoder after every restart) and a serialized writer.
type xstream struct {
	raw  net.Conn // the accepted or dialled TCP connection
	conn net.Conn // raw, or the TLS connection over it
	rec  *recorder
	d    *xml.Decoder
	id   string // the stream ID we sent (receiving side) or got (initiating side)
	wmu  sync.Mutex
}

func newXStream(c net.Conn) *xstream {
	x := &xstream{raw: c, conn: c}
	x.restart(negotiationLimit)
	return x
}

// restart starts a new XML document on the current connection, after
// STARTTLS or SASL success (RFC 6120 §4.3.3).
func (x *xstream) restart(limit int) {
	x.rec = &recorder{r: bufio.NewReaderSize(x.conn, 1024), limit: limit}
	x.d = xml.NewDecoder(x.rec)
}

// setConn switches to c (the TLS connection after STARTTLS). The write
// lock orders it with writes from other goroutines (shutdown notices).
func (x *xstream) setConn(c net.Conn) {
	x.wmu.Lock()
	x.conn = c
	x.wmu.Unlock()
	x.restart(negotiationLimit)
}

// close closes the current connection.
func (x *xstream) close() error {
	x.wmu.Lock()
	c := x.conn
	x.wmu.Unlock()
	return c.Close()
}

func (x *xstream) write(b []byte) error {
	x.wmu.Lock()
	defer x.wmu.Unlock()
	x.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := x.conn.Write(b)
	return err
}

func (x *xstream) writeString(s string) error { return x.write([]byte(s)) }

// readHeader reads the XML declaration and the stream header.
func (x *xstream) readHeader(ns string) (xml.StartElement, error) {
	for i := 0; i < 8; i++ {
		tok, err := x.d.Token()
		if err != nil {
			return xml.StartElement{}, wrapRead(err)
		}
		switch t := tok.(type) {
		case xml.ProcInst:
			if t.Target != "xml" {
				return xml.StartElement{}, streamErr("restricted-xml", "processing instruction")
			}
			continue
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return xml.StartElement{}, streamErr("not-well-formed", "text before the stream header")
			}
			continue
		case xml.StartElement:
			if t.Name.Local != "stream" || t.Name.Space != nsStream {
				return xml.StartElement{}, streamErr("invalid-namespace", "root element <%s xmlns=%q>", t.Name.Local, t.Name.Space)
			}
			var defNS, ver string
			for _, a := range t.Attr {
				switch {
				case a.Name.Space == "" && a.Name.Local == "xmlns":
					defNS = a.Value
				case a.Name.Space == "" && a.Name.Local == "version":
					ver = a.Value
				}
			}
			if defNS != ns {
				return xml.StartElement{}, streamErr("invalid-namespace", "content namespace %q, want %q", defNS, ns)
			}
			if !strings.HasPrefix(ver, "1.") {
				return xml.StartElement{}, streamErr("unsupported-version", "version %q", ver)
			}
			x.rec.discard(x.d.InputOffset())
			return t.Copy(), nil
		default:
			return xml.StartElement{}, streamErr("restricted-xml", "%T before the stream header", tok)
		}
	}
	return xml.StartElement{}, streamErr("not-well-formed", "no stream header")
}

// readTop reads the next top-level element of the stream into an element
// tree, skipping whitespace. It returns io.EOF at </stream:stream>.
func readTop(r *xml.Decoder) (*e2e.Element, xml.StartElement, error) {
	for i := 0; i < 1<<16; i++ {
		tok, err := r.Token()
		if err != nil {
			return nil, xml.StartElement{}, wrapRead(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			e, err := readTree(r, t, 0)
			return e, t, err
		case xml.EndElement:
			return nil, xml.StartElement{}, io.EOF
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return nil, xml.StartElement{}, streamErr("not-well-formed", "text between elements")
			}
		default:
			return nil, xml.StartElement{}, streamErr("restricted-xml", "%T in the stream", tok)
		}
	}
	return nil, xml.StartElement{}, streamErr("policy-violation", "too much whitespace")
}

func readTree(r *xml.Decoder, start xml.StartElement, depth int) (*e2e.Element, error) {
	if depth > e2e.MaxDepth {
		return nil, streamErr("policy-violation", "nesting too deep")
	}
	e := &e2e.Element{Name: start.Name}
	for _, a := range start.Attr {
		if a.Name.Space != "xmlns" && !(a.Name.Space == "" && a.Name.Local == "xmlns") {
			e.Attr = append(e.Attr, a)
		}
	}
	for {
		tok, err := r.Token()
		if err != nil {
			return nil, wrapRead(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			c, err := readTree(r, t, depth+1)
			if err != nil {
				return nil, err
			}
			e.Nodes = append(e.Nodes, c)
		case xml.EndElement:
			if t.Name != start.Name {
				return nil, streamErr("not-well-formed", "mismatched end tag")
			}
			return e, nil
		case xml.CharData:
			if !utf8.Valid(t) {
				return nil, streamErr("not-well-formed", "invalid UTF-8")
			}
			e.Nodes = append(e.Nodes, e2e.CharData(string(t)))
		default:
			return nil, streamErr("restricted-xml", "%T in an element", tok)
		}
	}
}

// elementToStanza turns a top-level element in a content namespace into a
// stanza, with the checks of e2e.Parse (JIDs, sizes).
func elementToStanza(e *e2e.Element) (*e2e.Stanza, error) {
	b := e.Bytes()
	st, err := e2e.Parse(b)
	if err != nil {
		return nil, err
	}
	return st, nil
}

func wrapRead(err error) error {
	var se *errStream
	if errors.As(err, &se) {
		return se
	}
	var xe *xml.SyntaxError
	if errors.As(err, &xe) {
		return streamErr("not-well-formed", "%v", xe.Msg)
	}
	return err
}

func randomID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return strings.ReplaceAll(b.String(), "'", "&apos;")
}

// header returns our stream header.
func header(ns, from, to, id string, db bool) string {
	var b strings.Builder
	b.WriteString("<?xml version='1.0'?><stream:stream xmlns='" + ns + "' xmlns:stream='" + nsStream + "'")
	if db {
		b.WriteString(" xmlns:db='" + nsDialback + "'")
	}
	if from != "" {
		b.WriteString(" from='" + xmlEscape(from) + "'")
	}
	if to != "" {
		b.WriteString(" to='" + xmlEscape(to) + "'")
	}
	if id != "" {
		b.WriteString(" id='" + id + "'")
	}
	b.WriteString(" version='1.0' xml:lang='en'>")
	return b.String()
}

func streamErrorXML(cond, text string) string {
	s := "<stream:error><" + cond + " xmlns='" + nsStreams + "'/>"
	if text != "" {
		s += "<text xmlns='" + nsStreams + "'>" + xmlEscape(text) + "</text>"
	}
	return s + "</stream:error></stream:stream>"
}

func attr(start xml.StartElement, local string) string {
	for _, a := range start.Attr {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}
