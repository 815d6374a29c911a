package e2e

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"mellium.im/xmpp/jid"
)

// Stanza namespaces and limits.
const (
	// NSClient is the namespace of stanzas on client-to-server streams.
	NSClient = "jabber:client"
	// NSServer is the namespace of stanzas on server-to-server streams.
	NSServer = "jabber:server"
	// NSXML is the namespace bound to the xml: prefix (xml:lang).
	NSXML = "http://www.w3.org/XML/1998/namespace"

	// MaxStanzaSize is the largest stanza Parse and ReadStanza accept, in
	// bytes of XML (for ReadStanza: bytes of names, attribute values and
	// character data). Larger input is ErrMalformed. It leaves room for a
	// 64 KiB body after base64 and a second layer of encoding.
	MaxStanzaSize = 1 << 20

	// MaxDepth is the deepest element nesting accepted below the stanza
	// element. Deeper input is ErrMalformed.
	MaxDepth = 64
)

// Kind is the kind of a stanza: its element name.
type Kind string

// The three stanza kinds of RFC 6120.
const (
	Message  Kind = "message"
	Presence Kind = "presence"
	IQ       Kind = "iq"
)

// A Stanza is one XMPP stanza as codecs see it: its kind, its addressing
// attributes and its children. The zero namespace means NSClient.
//
// A Stanza parsed from XML and serialized again keeps every attribute, every
// child element with its namespace, and all character data inside children,
// so unknown extension elements survive a round trip. Namespace prefixes are
// not kept: every element is written with a default namespace declaration
// where its namespace differs from its parent's.
type Stanza struct {
	Kind Kind   // message, presence or iq
	NS   string // NSClient (also when empty) or NSServer

	From, To jid.JID // zero when absent
	ID       string
	Type     string
	Lang     string // xml:lang

	// Attr holds any other attributes of the stanza element, in order.
	Attr []xml.Attr

	// Children are the child elements in document order. Character data
	// directly inside the stanza element is only whitespace in XMPP and is
	// not kept.
	Children []*Element
}

// A Node is a child of an Element: an *Element or CharData.
type Node interface{ node() }

// CharData is character data inside an element, unescaped.
type CharData string

func (CharData) node() {}

// An Element is an XML element below the stanza element.
type Element struct {
	Name  xml.Name   // Name.Space is the namespace URI, never a prefix
	Attr  []xml.Attr // without namespace declarations
	Nodes []Node     // child elements and character data, in order
}

func (*Element) node() {}

// NewElement returns an element with the given namespace and local name,
// holding text when text is not empty.
func NewElement(space, local, text string) *Element {
	e := &Element{Name: xml.Name{Space: space, Local: local}}
	if text != "" {
		e.Nodes = []Node{CharData(text)}
	}
	return e
}

// Text returns the concatenated character data directly inside e.
func (e *Element) Text() string {
	var b strings.Builder
	for _, n := range e.Nodes {
		if c, ok := n.(CharData); ok {
			b.WriteString(string(c))
		}
	}
	return b.String()
}

// SetText replaces every child of e with the single text t.
func (e *Element) SetText(t string) {
	e.Nodes = nil
	if t != "" {
		e.Nodes = []Node{CharData(t)}
	}
}

// Elements returns the child elements of e in order.
func (e *Element) Elements() []*Element {
	var out []*Element
	for _, n := range e.Nodes {
		if c, ok := n.(*Element); ok {
			out = append(out, c)
		}
	}
	return out
}

// Child returns the first child element with the given namespace and local
// name, or nil.
func (e *Element) Child(space, local string) *Element {
	for _, n := range e.Nodes {
		if c, ok := n.(*Element); ok && c.Name.Space == space && c.Name.Local == local {
			return c
		}
	}
	return nil
}

// AppendChild adds c as the last child of e.
func (e *Element) AppendChild(c *Element) { e.Nodes = append(e.Nodes, c) }

// AttrValue returns the value of the attribute without namespace named local,
// and whether it was present.
func (e *Element) AttrValue(local string) (string, bool) {
	return attrValue(e.Attr, local)
}

// SetAttr sets the attribute without namespace named local, adding it if it
// is absent.
func (e *Element) SetAttr(local, value string) { e.Attr = setAttr(e.Attr, local, value) }

// Clone returns a deep copy of e.
func (e *Element) Clone() *Element {
	if e == nil {
		return nil
	}
	c := &Element{Name: e.Name, Attr: append([]xml.Attr(nil), e.Attr...)}
	if e.Nodes != nil {
		c.Nodes = make([]Node, len(e.Nodes))
		for i, n := range e.Nodes {
			if el, ok := n.(*Element); ok {
				c.Nodes[i] = el.Clone()
			} else {
				c.Nodes[i] = n
			}
		}
	}
	return c
}

// Equal reports whether e and o have the same name, the same attributes (in
// any order) and equal children.
func (e *Element) Equal(o *Element) bool {
	if e == nil || o == nil {
		return e == o
	}
	if e.Name != o.Name || !attrsEqual(e.Attr, o.Attr) || len(e.Nodes) != len(o.Nodes) {
		return false
	}
	for i, n := range e.Nodes {
		switch a := n.(type) {
		case CharData:
			if b, ok := o.Nodes[i].(CharData); !ok || a != b {
				return false
			}
		case *Element:
			b, ok := o.Nodes[i].(*Element)
			if !ok || !a.Equal(b) {
				return false
			}
		}
	}
	return true
}

// Bytes returns e serialized as XML, with a namespace declaration for its own
// namespace.
func (e *Element) Bytes() []byte {
	var b bytes.Buffer
	writeElement(&b, e, "")
	return b.Bytes()
}

// ParseElement parses one XML element, as Parse does for stanzas: the same
// limits apply and anything wrong is ErrMalformed.
func ParseElement(b []byte) (*Element, error) {
	if len(b) > MaxStanzaSize {
		return nil, fmt.Errorf("%w: element of %d bytes exceeds %d", ErrMalformed, len(b), MaxStanzaSize)
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	start, err := firstStart(d)
	if err != nil {
		return nil, err
	}
	r := &limitReader{r: d}
	e, err := readElement(start, r, 0)
	if err != nil {
		return nil, err
	}
	if err := expectEOF(d); err != nil {
		return nil, err
	}
	return e, nil
}

// Body returns the text of the stanza's <body/> in its own namespace, or "".
func (s *Stanza) Body() string {
	if b := s.Child(s.ns(), "body"); b != nil {
		return b.Text()
	}
	return ""
}

// SetBody replaces every <body/> of the stanza with one holding text,
// placed where the first one stood (or last when there was none).
func (s *Stanza) SetBody(text string) {
	body := NewElement(s.ns(), "body", text)
	for i, c := range s.Children {
		if c.Name.Space == s.ns() && c.Name.Local == "body" {
			s.Children[i] = body
			s.RemoveChildren(s.ns(), "body", i+1)
			return
		}
	}
	s.Children = append(s.Children, body)
}

// Child returns the first child with the given namespace and local name, or
// nil.
func (s *Stanza) Child(space, local string) *Element {
	for _, c := range s.Children {
		if c.Name.Space == space && c.Name.Local == local {
			return c
		}
	}
	return nil
}

// RemoveChildren removes every child with the given namespace and local name
// at index from or later, and reports how many it removed.
func (s *Stanza) RemoveChildren(space, local string, from int) int {
	kept := s.Children[:from]
	n := 0
	for _, c := range s.Children[from:] {
		if c.Name.Space == space && c.Name.Local == local {
			n++
			continue
		}
		kept = append(kept, c)
	}
	s.Children = kept
	return n
}

// AttrValue returns the value of the extra attribute named local, and
// whether it was present.
func (s *Stanza) AttrValue(local string) (string, bool) { return attrValue(s.Attr, local) }

// Clone returns a deep copy of s.
func (s *Stanza) Clone() *Stanza {
	if s == nil {
		return nil
	}
	c := *s
	c.Attr = append([]xml.Attr(nil), s.Attr...)
	c.Children = make([]*Element, len(s.Children))
	for i, e := range s.Children {
		c.Children[i] = e.Clone()
	}
	return &c
}

// Equal reports whether s and o are the same stanza: same kind, namespace,
// addressing, attributes (in any order) and equal children in order.
func (s *Stanza) Equal(o *Stanza) bool {
	if s == nil || o == nil {
		return s == o
	}
	if s.Kind != o.Kind || s.ns() != o.ns() || !s.From.Equal(o.From) || !s.To.Equal(o.To) ||
		s.ID != o.ID || s.Type != o.Type || s.Lang != o.Lang || !attrsEqual(s.Attr, o.Attr) ||
		len(s.Children) != len(o.Children) {
		return false
	}
	for i, c := range s.Children {
		if !c.Equal(o.Children[i]) {
			return false
		}
	}
	return true
}

func (s *Stanza) ns() string {
	if s.NS == "" {
		return NSClient
	}
	return s.NS
}

// StartElement returns the stanza's start element, with the stanza namespace
// in Name.Space and the addressing attributes first.
func (s *Stanza) StartElement() xml.StartElement {
	start := xml.StartElement{Name: xml.Name{Space: s.ns(), Local: string(s.Kind)}}
	add := func(local, v string) {
		if v != "" {
			start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: local}, Value: v})
		}
	}
	add("from", s.From.String())
	add("to", s.To.String())
	add("id", s.ID)
	add("type", s.Type)
	if s.Lang != "" {
		start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Space: NSXML, Local: "lang"}, Value: s.Lang})
	}
	start.Attr = append(start.Attr, s.Attr...)
	return start
}

// Bytes returns the stanza serialized as XML, with an xmlns declaration on
// the stanza element. Parse(s.Bytes()) returns a stanza Equal to s.
func (s *Stanza) Bytes() []byte {
	var b bytes.Buffer
	start := s.StartElement()
	writeStart(&b, start.Name.Local, start.Name.Space, "", start.Attr)
	if len(s.Children) == 0 {
		b.WriteString("/>")
		return b.Bytes()
	}
	b.WriteByte('>')
	for _, c := range s.Children {
		writeElement(&b, c, start.Name.Space)
	}
	b.WriteString("</" + start.Name.Local + ">")
	return b.Bytes()
}

// String returns the stanza as XML.
func (s *Stanza) String() string { return string(s.Bytes()) }

// WriteTo writes the stanza as XML to w.
func (s *Stanza) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(s.Bytes())
	return int64(n), err
}

// TokenReader returns the stanza as a stream of encoding/xml tokens: its start
// element, its children and its end element. It is a mellium
// xmlstream.TokenReader, so the result can be passed to Session.Send.
func (s *Stanza) TokenReader() xml.TokenReader {
	start := s.StartElement()
	toks := []xml.Token{start}
	for _, c := range s.Children {
		toks = appendTokens(toks, c)
	}
	toks = append(toks, start.End())
	return &sliceReader{toks: toks}
}

func appendTokens(toks []xml.Token, e *Element) []xml.Token {
	start := xml.StartElement{Name: e.Name, Attr: e.Attr}
	toks = append(toks, start)
	for _, n := range e.Nodes {
		switch n := n.(type) {
		case CharData:
			toks = append(toks, xml.CharData(n))
		case *Element:
			toks = appendTokens(toks, n)
		}
	}
	return append(toks, start.End())
}

type sliceReader struct {
	toks []xml.Token
}

func (r *sliceReader) Token() (xml.Token, error) {
	if len(r.toks) == 0 {
		return nil, io.EOF
	}
	t := r.toks[0]
	r.toks = r.toks[1:]
	return t, nil
}

// Parse parses one stanza from XML. An XML declaration and surrounding
// whitespace are allowed; anything else outside the stanza element, a stanza
// in another namespace than NSClient or NSServer, an element other than
// message, presence or iq, a DTD, a comment or processing instruction, a bad
// JID, input larger than MaxStanzaSize or nested deeper than MaxDepth is
// ErrMalformed.
func Parse(b []byte) (*Stanza, error) {
	if len(b) > MaxStanzaSize {
		return nil, fmt.Errorf("%w: stanza of %d bytes exceeds %d", ErrMalformed, len(b), MaxStanzaSize)
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	start, err := firstStart(d)
	if err != nil {
		return nil, err
	}
	s, err := ReadStanza(start, d)
	if err != nil {
		return nil, err
	}
	if err := expectEOF(d); err != nil {
		return nil, err
	}
	return s, nil
}

// ReadStanza reads the rest of a stanza whose start element has already been
// read from r: r yields the stanza's children and then its end element, as a
// mellium handler's token reader does. Only the tokens of this stanza are
// consumed. The limits and checks of Parse apply.
func ReadStanza(start xml.StartElement, r xml.TokenReader) (*Stanza, error) {
	lr := &limitReader{r: r}
	s := &Stanza{Kind: Kind(start.Name.Local), NS: start.Name.Space}
	switch s.Kind {
	case Message, Presence, IQ:
	default:
		return nil, fmt.Errorf("%w: <%s/> is not a stanza", ErrMalformed, start.Name.Local)
	}
	if s.NS != NSClient && s.NS != NSServer {
		return nil, fmt.Errorf("%w: stanza namespace %q", ErrMalformed, s.NS)
	}
	if err := lr.count(start); err != nil {
		return nil, err
	}
	if err := checkNames(start); err != nil {
		return nil, err
	}
	for _, a := range start.Attr {
		if isNSDecl(a) {
			continue
		}
		var err error
		switch {
		case a.Name.Space == "" && a.Name.Local == "from":
			s.From, err = parseJID(a.Value)
		case a.Name.Space == "" && a.Name.Local == "to":
			s.To, err = parseJID(a.Value)
		case a.Name.Space == "" && a.Name.Local == "id":
			s.ID = a.Value
		case a.Name.Space == "" && a.Name.Local == "type":
			s.Type = a.Value
		case a.Name.Space == NSXML && a.Name.Local == "lang":
			s.Lang = a.Value
		default:
			s.Attr = append(s.Attr, a)
		}
		if err != nil {
			return nil, err
		}
	}
	for {
		tok, err := lr.Token()
		if err != nil {
			return nil, truncated(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			c, err := readElement(t, lr, 1)
			if err != nil {
				return nil, err
			}
			s.Children = append(s.Children, c)
		case xml.EndElement:
			if t.Name != start.Name {
				return nil, fmt.Errorf("%w: </%s> closes <%s>", ErrMalformed, t.Name.Local, start.Name.Local)
			}
			return s, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return nil, fmt.Errorf("%w: text directly inside <%s/>", ErrMalformed, s.Kind)
			}
		default:
			return nil, badToken(tok)
		}
	}
}

func readElement(start xml.StartElement, r *limitReader, depth int) (*Element, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("%w: elements nested deeper than %d", ErrMalformed, MaxDepth)
	}
	if err := r.count(start); err != nil {
		return nil, err
	}
	if err := checkNames(start); err != nil {
		return nil, err
	}
	e := &Element{Name: start.Name}
	for _, a := range start.Attr {
		if !isNSDecl(a) {
			e.Attr = append(e.Attr, a)
		}
	}
	for {
		tok, err := r.Token()
		if err != nil {
			return nil, truncated(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			c, err := readElement(t, r, depth+1)
			if err != nil {
				return nil, err
			}
			e.Nodes = append(e.Nodes, c)
		case xml.EndElement:
			if t.Name != start.Name {
				return nil, fmt.Errorf("%w: </%s> closes <%s>", ErrMalformed, t.Name.Local, start.Name.Local)
			}
			return e, nil
		case xml.CharData:
			if !utf8.Valid(t) {
				return nil, fmt.Errorf("%w: invalid UTF-8", ErrMalformed)
			}
			if n := len(e.Nodes); n > 0 {
				if prev, ok := e.Nodes[n-1].(CharData); ok {
					e.Nodes[n-1] = prev + CharData(t)
					continue
				}
			}
			e.Nodes = append(e.Nodes, CharData(t))
		default:
			return nil, badToken(tok)
		}
	}
}

// limitReader counts what passes through it and copies the tokens it returns
// (encoding/xml reuses the bytes of CharData between calls).
type limitReader struct {
	r xml.TokenReader
	n int
}

func (l *limitReader) Token() (xml.Token, error) {
	tok, err := l.r.Token()
	if err != nil {
		return nil, err
	}
	tok = xml.CopyToken(tok)
	if c, ok := tok.(xml.CharData); ok {
		l.n += len(c)
		if l.n > MaxStanzaSize {
			return nil, fmt.Errorf("%w: stanza exceeds %d bytes", ErrMalformed, MaxStanzaSize)
		}
	}
	return tok, nil
}

func (l *limitReader) count(start xml.StartElement) error {
	l.n += len(start.Name.Local) + len(start.Name.Space)
	for _, a := range start.Attr {
		l.n += len(a.Name.Local) + len(a.Name.Space) + len(a.Value)
	}
	if l.n > MaxStanzaSize {
		return fmt.Errorf("%w: stanza exceeds %d bytes", ErrMalformed, MaxStanzaSize)
	}
	return nil
}

func firstStart(d *xml.Decoder) (xml.StartElement, error) {
	for first := true; ; first = false {
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				return xml.StartElement{}, fmt.Errorf("%w: no element", ErrMalformed)
			}
			return xml.StartElement{}, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t.Copy(), nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return xml.StartElement{}, fmt.Errorf("%w: text before the element", ErrMalformed)
			}
		case xml.ProcInst:
			if !first || t.Target != "xml" {
				return xml.StartElement{}, badToken(tok)
			}
		default:
			return xml.StartElement{}, badToken(tok)
		}
	}
}

func expectEOF(d *xml.Decoder) error {
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: after the element: %v", ErrMalformed, err)
		}
		if c, ok := tok.(xml.CharData); ok && len(bytes.TrimSpace(c)) == 0 {
			continue
		}
		return fmt.Errorf("%w: more than one root element", ErrMalformed)
	}
}

func truncated(err error) error {
	if errors.Is(err, ErrMalformed) {
		return err
	}
	if err == io.EOF {
		return fmt.Errorf("%w: truncated stanza", ErrMalformed)
	}
	return fmt.Errorf("%w: %v", ErrMalformed, err)
}

func badToken(tok xml.Token) error {
	switch tok.(type) {
	case xml.Comment:
		return fmt.Errorf("%w: XML comments are not allowed in XMPP", ErrMalformed)
	case xml.ProcInst:
		return fmt.Errorf("%w: processing instructions are not allowed in XMPP", ErrMalformed)
	case xml.Directive:
		return fmt.Errorf("%w: DTDs and directives are not allowed in XMPP", ErrMalformed)
	}
	return fmt.Errorf("%w: unexpected %T", ErrMalformed, tok)
}

func parseJID(v string) (jid.JID, error) {
	j, err := jid.Parse(v)
	if err != nil {
		return jid.JID{}, fmt.Errorf("%w: bad JID %q: %v", ErrMalformed, v, err)
	}
	return j, nil
}

// checkNames rejects names whose prefix was never declared. encoding/xml
// leaves such a prefix in Name.Space; a namespace name is an absolute URI and
// always has a colon, a prefix never does.
func checkNames(start xml.StartElement) error {
	if start.Name.Space != "" && !strings.Contains(start.Name.Space, ":") {
		return fmt.Errorf("%w: undeclared prefix or relative namespace %q", ErrMalformed, start.Name.Space)
	}
	for _, a := range start.Attr {
		if a.Name.Space != "" && a.Name.Space != "xmlns" && !strings.Contains(a.Name.Space, ":") {
			return fmt.Errorf("%w: undeclared attribute prefix %q", ErrMalformed, a.Name.Space)
		}
	}
	return nil
}

func isNSDecl(a xml.Attr) bool {
	return a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns")
}

func attrValue(attrs []xml.Attr, local string) (string, bool) {
	for _, a := range attrs {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value, true
		}
	}
	return "", false
}

func setAttr(attrs []xml.Attr, local, value string) []xml.Attr {
	for i, a := range attrs {
		if a.Name.Space == "" && a.Name.Local == local {
			attrs[i].Value = value
			return attrs
		}
	}
	return append(attrs, xml.Attr{Name: xml.Name{Local: local}, Value: value})
}

func attrsEqual(a, b []xml.Attr) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		found := false
		for _, y := range b {
			if x == y {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// writeStart writes "<local" with the namespace declarations and attributes;
// the caller closes the tag.
func writeStart(b *bytes.Buffer, local, space, parent string, attrs []xml.Attr) {
	b.WriteString("<" + local)
	if space != parent {
		b.WriteString(" xmlns='")
		escape(b, space, true)
		b.WriteByte('\'')
	}
	prefixes := 0
	for _, a := range attrs {
		if isNSDecl(a) {
			continue
		}
		b.WriteByte(' ')
		switch a.Name.Space {
		case "":
		case NSXML:
			b.WriteString("xml:")
		default:
			prefixes++
			p := fmt.Sprintf("ns%d", prefixes)
			b.WriteString("xmlns:" + p + "='")
			escape(b, a.Name.Space, true)
			b.WriteString("' " + p + ":")
		}
		b.WriteString(a.Name.Local + "='")
		escape(b, a.Value, true)
		b.WriteByte('\'')
	}
}

func writeElement(b *bytes.Buffer, e *Element, parent string) {
	writeStart(b, e.Name.Local, e.Name.Space, parent, e.Attr)
	if len(e.Nodes) == 0 {
		b.WriteString("/>")
		return
	}
	b.WriteByte('>')
	for _, n := range e.Nodes {
		switch n := n.(type) {
		case CharData:
			escape(b, string(n), false)
		case *Element:
			writeElement(b, n, e.Name.Space)
		}
	}
	b.WriteString("</" + e.Name.Local + ">")
}

// escape writes s escaped for XML text (attr false) or a single-quoted
// attribute value (attr true). Carriage returns, and in attributes also tabs
// and newlines, become character references so that parsing gives back
// exactly s. Characters XML cannot carry become U+FFFD.
func escape(b *bytes.Buffer, s string, attr bool) {
	// Copy the runs that need no escaping in one write each.
	for len(s) > 0 {
		i := 0
		for i < len(s) && plainByte(s[i], attr) {
			i++
		}
		b.WriteString(s[:i])
		s = s[i:]
		if len(s) == 0 {
			return
		}
		r, n := utf8.DecodeRuneInString(s)
		if n == 1 && r == utf8.RuneError {
			b.WriteRune('\uFFFD')
		} else {
			escapeRune(b, r, attr)
		}
		s = s[n:]
	}
}

// plainByte reports whether c is printable ASCII that needs no escaping.
func plainByte(c byte, attr bool) bool {
	if c < 0x20 || c >= 0x80 || c == '&' || c == '<' || c == '>' {
		return c == '\n' && !attr
	}
	return !attr || (c != '\'' && c != '"')
}

func escapeRune(b *bytes.Buffer, r rune, attr bool) {
	switch {
	case r == '&':
		b.WriteString("&amp;")
	case r == '<':
		b.WriteString("&lt;")
	case r == '>':
		b.WriteString("&gt;")
	case r == '\'' && attr:
		b.WriteString("&apos;")
	case r == '"' && attr:
		b.WriteString("&quot;")
	case r == '\r':
		b.WriteString("&#xD;")
	case r == '\n' && attr:
		b.WriteString("&#xA;")
	case r == '\t' && attr:
		b.WriteString("&#x9;")
	case !xmlChar(r):
		b.WriteRune('\uFFFD')
	default:
		b.WriteRune(r)
	}
}

func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		(r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
}
