package smime

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"mellium.im/xmpp/jid"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// The inner objects of RFC 3923: Message/CPIM (RFC 3862) for messages, PIDF
// (RFC 3863) for presence, application/xmpp+xml (RFC 3923 §10) for the rest.

const (
	mtCPIM  = "message/cpim"
	mtPIDF  = "application/pidf+xml"
	mtXMPP  = "application/xmpp+xml"
	mtPlain = "text/plain"

	nsPIDF = "urn:ietf:params:xml:ns:pidf"

	// stampLayout is the DateTime and PIDF timestamp format we send: UTC,
	// with milliseconds and a Z (RFC 3923 §6.9).
	stampLayout = "2006-01-02T15:04:05.000Z"

	xmlDecl = "<?xml version='1.0' encoding='UTF-8'?>\r\n"
)

var errContent = errors.New("smime: malformed inner object")

// inner is what the inner object of a stanza says.
type inner struct {
	stanza *e2e.Stanza // the protected stanza
	stamp  time.Time   // DateTime or PIDF timestamp; zero when the object has none
	from   jid.JID     // CPIM From or PIDF entity; zero when absent
	to     []jid.JID   // CPIM To headers
}

// buildInner makes the inner MIME entity for st (canonical CRLF). Messages
// become Message/CPIM holding the whole stanza as application/xmpp+xml, so
// that every attribute and extension element is protected; presence becomes
// PIDF with the stanza as an extension element; anything else becomes
// application/xmpp+xml.
func buildInner(st *e2e.Stanza, stamp time.Time) []byte {
	var b bytes.Buffer
	ts := stamp.UTC().Format(stampLayout)
	switch st.Kind {
	case e2e.Message:
		writeFields(&b, "Content-Type: Message/CPIM")
		hdr := []string{
			"From: <im:" + st.From.Bare().String() + ">",
			"To: <im:" + st.To.Bare().String() + ">",
			"DateTime: " + ts,
		}
		if subj := st.Child(stanzaNS(st), "subject"); subj != nil {
			// RFC 3923 §3.1 shows the message subject as the CPIM Subject.
			hdr = append(hdr, "Subject: "+cpimEscape(subj.Text()))
		}
		writeFields(&b, hdr...)
		writeFields(&b, "Content-Type: application/xmpp+xml; charset=utf-8")
		b.WriteString(xmlDecl)
		writeXMPP(&b, st)
	case e2e.Presence:
		writeFields(&b, "Content-Type: application/pidf+xml; charset=utf-8")
		b.WriteString(xmlDecl)
		writePIDF(&b, st, ts)
	default:
		writeFields(&b, "Content-Type: application/xmpp+xml; charset=utf-8")
		b.WriteString(xmlDecl)
		writeXMPP(&b, st)
	}
	b.WriteString("\r\n")
	return canonical(b.Bytes())
}

func stanzaNS(st *e2e.Stanza) string {
	if st.NS == "" {
		return e2e.NSClient
	}
	return st.NS
}

// cpimEscape writes a header value with the escapes of RFC 3862 §2.3 for
// backslash and control characters.
func cpimEscape(v string) string {
	var b strings.Builder
	for _, r := range v {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// cpimUnescape reverses cpimEscape (and accepts \", \' and \b).
func cpimUnescape(v string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '\\' {
			b.WriteByte(v[i])
			continue
		}
		if i+1 == len(v) {
			return "", fmt.Errorf("%w: CPIM escape at the end", errContent)
		}
		i++
		switch v[i] {
		case '\\', '"', '\'':
			b.WriteByte(v[i])
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'b':
			b.WriteByte('\b')
		case 'u':
			if i+5 > len(v) {
				return "", fmt.Errorf("%w: short CPIM \\u escape", errContent)
			}
			n, err := strconv.ParseUint(v[i+1:i+5], 16, 16)
			if err != nil {
				return "", fmt.Errorf("%w: CPIM \\u escape", errContent)
			}
			b.WriteRune(rune(n))
			i += 4
		default:
			return "", fmt.Errorf("%w: CPIM escape \\%c", errContent, v[i])
		}
	}
	return b.String(), nil
}

func writeXMPP(b *bytes.Buffer, st *e2e.Stanza) {
	b.WriteString("<xmpp xmlns='" + stanzaNS(st) + "'>")
	b.Write(st.Bytes())
	b.WriteString("</xmpp>")
}

func writePIDF(b *bytes.Buffer, st *e2e.Stanza, ts string) {
	basic := "open"
	if st.Type == "unavailable" {
		basic = "closed"
	}
	root := e2e.NewElement(nsPIDF, "presence", "")
	root.SetAttr("entity", "pres:"+st.From.Bare().String())
	tuple := e2e.NewElement(nsPIDF, "tuple", "")
	tuple.SetAttr("id", "xmpp")
	status := e2e.NewElement(nsPIDF, "status", "")
	status.AppendChild(e2e.NewElement(nsPIDF, "basic", basic))
	tuple.AppendChild(status)
	if s := st.Child(stanzaNS(st), "status"); s != nil && s.Text() != "" {
		tuple.AppendChild(e2e.NewElement(nsPIDF, "note", s.Text()))
	}
	tuple.AppendChild(e2e.NewElement(nsPIDF, "timestamp", ts))
	root.AppendChild(tuple)
	head := root.Bytes()
	b.Write(head[:len(head)-len("</presence>")])
	// The presence stanza itself, as a PIDF extension element (RFC 3863
	// §4.1.6 allows elements of other namespaces after the tuples).
	b.Write(st.Bytes())
	b.WriteString("</presence>")
}

// parseInner parses an inner object entity. outer is the wire stanza: it
// supplies the addressing of objects that carry no stanza (text/plain
// CPIM content, PIDF without the embedded stanza).
func parseInner(e *entity, outer *e2e.Stanza) (*inner, error) {
	mt, body, err := textBody(e)
	if err != nil {
		return nil, err
	}
	switch mt {
	case mtCPIM:
		return parseCPIM(body, outer)
	case mtPIDF:
		return parsePIDF(body, outer)
	case mtXMPP:
		st, err := parseXMPP(body)
		if err != nil {
			return nil, err
		}
		return &inner{stanza: st}, nil
	}
	return nil, fmt.Errorf("%w: inner media type %q", errContent, mt)
}

// textBody returns the media type and decoded body of a text entity, whose
// charset must be UTF-8 (or its subset US-ASCII).
func textBody(e *entity) (string, []byte, error) {
	mt, params, err := e.mediaType()
	if err != nil {
		return "", nil, err
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "us-ascii") {
		return "", nil, fmt.Errorf("%w: charset %q", errContent, cs)
	}
	body, err := transferDecode(e)
	return mt, body, err
}

// CPIM header names we understand (RFC 3862 §4; RFC 3923 uses these).
var cpimKnown = map[string]bool{"From": true, "To": true, "cc": true, "DateTime": true, "Subject": true, "NS": true, "Require": true}

// parseCPIM parses a Message/CPIM body: message headers, an empty line, the
// encapsulated MIME entity.
func parseCPIM(body []byte, outer *e2e.Stanza) (*inner, error) {
	fields, rest, err := parseCPIMHeaders(body)
	if err != nil {
		return nil, err
	}
	in := &inner{}
	var haveStamp, haveFrom bool
	var subject *string
	for _, f := range fields {
		switch f.name {
		case "From":
			if haveFrom {
				return nil, fmt.Errorf("%w: two CPIM From headers", errContent)
			}
			if in.from, err = cpimAddr(f.value); err != nil {
				return nil, err
			}
			haveFrom = true
		case "To":
			j, err := cpimAddr(f.value)
			if err != nil {
				return nil, err
			}
			in.to = append(in.to, j)
		case "DateTime":
			if haveStamp {
				return nil, fmt.Errorf("%w: two CPIM DateTime headers", errContent)
			}
			if in.stamp, err = parseStamp(f.value); err != nil {
				return nil, fmt.Errorf("%w: CPIM DateTime %q", errContent, f.value)
			}
			haveStamp = true
		case "Subject":
			if subject == nil {
				v, err := cpimUnescape(f.value)
				if err != nil {
					return nil, err
				}
				subject = &v
			}
		case "Require":
			for _, r := range strings.Split(f.value, ",") {
				if r = strings.TrimSpace(r); r != "" && !cpimKnown[r] {
					return nil, fmt.Errorf("%w: CPIM requires unknown header %q", errContent, r)
				}
			}
		}
	}
	if !haveFrom || len(in.to) == 0 || !haveStamp {
		return nil, fmt.Errorf("%w: CPIM needs From, To and DateTime", errContent)
	}
	content, err := parseEntity(rest)
	if err != nil {
		return nil, err
	}
	if content.get("Content-Type") == "" {
		// RFC 3862 §2.4: the content headers include at least Content-Type.
		return nil, fmt.Errorf("%w: CPIM content without Content-Type", errContent)
	}
	mt, cbody, err := textBody(content)
	if err != nil {
		return nil, err
	}
	switch mt {
	case mtXMPP:
		in.stanza, err = parseXMPP(cbody)
		if err != nil {
			return nil, err
		}
		if in.stanza.Kind != e2e.Message {
			return nil, fmt.Errorf("%w: CPIM carries a <%s/>", errContent, in.stanza.Kind)
		}
	case mtPlain:
		// The RFC 3923 §3.1 form: the text is the message body. Addressing
		// and type come from the wire stanza.
		text := string(bytes.ReplaceAll(cbody, []byte("\r\n"), []byte("\n")))
		if !validXMLText(text) {
			return nil, fmt.Errorf("%w: body is not XML text", errContent)
		}
		st := &e2e.Stanza{Kind: e2e.Message, NS: outer.NS, From: outer.From, To: outer.To, ID: outer.ID, Type: outer.Type, Lang: outer.Lang}
		if subject != nil && validXMLText(*subject) {
			st.Children = append(st.Children, e2e.NewElement(stanzaNS(st), "subject", *subject))
		}
		st.SetBody(text)
		in.stanza = st
	default:
		return nil, fmt.Errorf("%w: CPIM content type %q", errContent, mt)
	}
	return in, nil
}

// parseCPIMHeaders reads the message headers of a Message/CPIM body up to
// the empty line (RFC 3862 §3): each header is one line, Name ":"
// [parameters] SP value, with no folding and no control characters in the
// value (they are escaped, §2.3). Header parameters (";lang=fr", §3.3)
// are checked for shape and dropped.
func parseCPIMHeaders(b []byte) ([]field, []byte, error) {
	var fields []field
	for {
		i := bytes.Index(b, []byte("\r\n"))
		if i < 0 {
			return nil, nil, fmt.Errorf("%w: CPIM headers do not end", errContent)
		}
		line := string(b[:i])
		b = b[i+2:]
		if line == "" {
			return fields, b, nil
		}
		if len(fields) == maxHeaders {
			return nil, nil, fmt.Errorf("%w: more than %d CPIM headers", errContent, maxHeaders)
		}
		c := strings.IndexByte(line, ':')
		if c <= 0 || strings.IndexFunc(line[:c], func(r rune) bool { return r <= ' ' || r >= 0x7f }) >= 0 {
			return nil, nil, fmt.Errorf("%w: CPIM header line %q", errContent, line)
		}
		j := c + 1
		for j < len(line) && line[j] == ';' {
			j++
			for quoted := false; j < len(line) && (quoted || (line[j] != ';' && line[j] != ' ')); j++ {
				switch {
				case line[j] == '"':
					quoted = !quoted
				case quoted && line[j] == '\\':
					j++
				}
			}
		}
		if j >= len(line) || line[j] != ' ' {
			return nil, nil, fmt.Errorf("%w: CPIM header %q lacks the space after the colon", errContent, line[:c])
		}
		value := line[j+1:]
		if strings.IndexFunc(value, func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0 {
			return nil, nil, fmt.Errorf("%w: control character in CPIM header %q", errContent, line[:c])
		}
		fields = append(fields, field{line[:c], value})
	}
}

// cpimAddr parses a CPIM address, [Formal-name] <URI>, with an im:, pres:
// or xmpp: URI.
func cpimAddr(v string) (jid.JID, error) {
	l := strings.LastIndexByte(v, '<')
	if l < 0 || !strings.HasSuffix(v, ">") {
		return jid.JID{}, fmt.Errorf("%w: CPIM address %q", errContent, v)
	}
	return uriJID(v[l+1 : len(v)-1])
}

func uriJID(u string) (jid.JID, error) {
	for _, p := range []string{"im:", "pres:", "xmpp:"} {
		if strings.HasPrefix(u, p) {
			j, err := jid.Parse(u[len(p):])
			if err != nil {
				return jid.JID{}, fmt.Errorf("%w: URI %q", errContent, u)
			}
			return j, nil
		}
	}
	return jid.JID{}, fmt.Errorf("%w: URI %q is not im:, pres: or xmpp:", errContent, u)
}

// parseStamp parses an RFC 3339 timestamp that RFC 3923 §6.9 requires to
// be UTC with no offset: it ends in Z.
func parseStamp(v string) (time.Time, error) {
	if !strings.HasSuffix(v, "Z") {
		return time.Time{}, errors.New("timestamp not in UTC")
	}
	return time.Parse(time.RFC3339Nano, v)
}

// parseXMPP parses an application/xmpp+xml document: <xmpp/> in
// jabber:client or jabber:server holding exactly one stanza (RFC 3923 §10).
func parseXMPP(body []byte) (*e2e.Stanza, error) {
	root, err := e2e.ParseElement(body)
	if err != nil {
		return nil, err
	}
	if root.Name.Local != "xmpp" || (root.Name.Space != e2e.NSClient && root.Name.Space != e2e.NSServer) {
		return nil, fmt.Errorf("%w: root is not <xmpp/>", errContent)
	}
	var child *e2e.Element
	for _, n := range root.Nodes {
		switch n := n.(type) {
		case e2e.CharData:
			if strings.TrimSpace(string(n)) != "" {
				return nil, fmt.Errorf("%w: text in <xmpp/>", errContent)
			}
		case *e2e.Element:
			if child != nil {
				return nil, fmt.Errorf("%w: more than one stanza in <xmpp/>", errContent)
			}
			child = n
		}
	}
	if child == nil || child.Name.Space != root.Name.Space {
		return nil, fmt.Errorf("%w: no stanza in <xmpp/>", errContent)
	}
	return e2e.Parse(child.Bytes())
}

// parsePIDF parses a PIDF document. Our own carries the presence stanza as
// an extension element; a PIDF without it becomes a presence built from the
// wire stanza's addressing, its basic status and first note.
func parsePIDF(body []byte, outer *e2e.Stanza) (*inner, error) {
	root, err := e2e.ParseElement(body)
	if err != nil {
		return nil, err
	}
	if root.Name.Space != nsPIDF || root.Name.Local != "presence" {
		return nil, fmt.Errorf("%w: root is not a PIDF <presence/>", errContent)
	}
	in := &inner{}
	ent, ok := root.AttrValue("entity")
	if !ok {
		return nil, fmt.Errorf("%w: PIDF without entity", errContent)
	}
	if in.from, err = uriJID(ent); err != nil {
		return nil, err
	}
	var basic, note string
	for _, c := range root.Elements() {
		switch {
		case c.Name.Space == nsPIDF && c.Name.Local == "tuple":
			if ts := c.Child(nsPIDF, "timestamp"); ts != nil && in.stamp.IsZero() {
				if in.stamp, err = parseStamp(strings.TrimSpace(ts.Text())); err != nil {
					return nil, fmt.Errorf("%w: PIDF timestamp", errContent)
				}
			}
			if s := c.Child(nsPIDF, "status"); s != nil && basic == "" {
				if b := s.Child(nsPIDF, "basic"); b != nil {
					basic = strings.TrimSpace(b.Text())
				}
			}
			if n := c.Child(nsPIDF, "note"); n != nil && note == "" {
				note = n.Text()
			}
		case (c.Name.Space == e2e.NSClient || c.Name.Space == e2e.NSServer) && c.Name.Local == "presence":
			if in.stanza != nil {
				return nil, fmt.Errorf("%w: two presence stanzas in PIDF", errContent)
			}
			if in.stanza, err = e2e.Parse(c.Bytes()); err != nil {
				return nil, err
			}
		}
	}
	if in.stamp.IsZero() {
		return nil, fmt.Errorf("%w: PIDF without timestamp", errContent)
	}
	if in.stanza == nil {
		st := &e2e.Stanza{Kind: e2e.Presence, NS: outer.NS, From: outer.From, To: outer.To, ID: outer.ID, Lang: outer.Lang}
		switch basic {
		case "open":
		case "closed":
			st.Type = "unavailable"
		default:
			return nil, fmt.Errorf("%w: PIDF basic status %q", errContent, basic)
		}
		if note != "" {
			st.Children = append(st.Children, e2e.NewElement(st.NS, "status", note))
			if st.NS == "" {
				st.Children[0].Name.Space = e2e.NSClient
			}
		}
		in.stanza = st
	}
	return in, nil
}

func validXMLText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !(r == 0x09 || r == 0x0A || r == 0x0D || (r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)) {
			return false
		}
	}
	return true
}
