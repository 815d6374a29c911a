package jose

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// Namespaces of draft-miller-xmpp-e2e-06 and the XEPs it builds on.
const (
	// NS is the namespace of <e2e/>, <keyreq/> and the application error
	// conditions (unchanged in -07).
	NS = "urn:ietf:params:xml:ns:xmpp-e2e:6"
	// FeatureEncryption is the disco#info feature of a client that can
	// receive encrypted stanzas.
	FeatureEncryption = NS + ":encryption"
	// FeatureSignatures is the disco#info feature of a client that can
	// receive signed stanzas.
	FeatureSignatures = NS + ":signatures"

	nsForward = "urn:xmpp:forward:0"
	nsDelay   = "urn:xmpp:delay"
	nsStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"

	// NSGeneral is the namespace of this toolkit's multi-recipient
	// extension element (see Options.GeneralJSON); it is not part of the
	// draft.
	NSGeneral = "urn:xmppe2e:jose:general:0"
)

// The child elements that carry a compact JWE and a compact JWS, in order.
var (
	jweParts = []string{"encheader", "cmk", "iv", "data", "mac"}
	jwsParts = []string{"sigheader", "data", "sig"}
)

// partsElement returns <local xmlns=NS [id=SID]> holding the compact parts
// under the names given.
func partsElement(local string, attrs [][2]string, names []string, c compact) *e2e.Element {
	e := e2e.NewElement(NS, local, "")
	for _, a := range attrs {
		e.SetAttr(a[0], a[1])
	}
	// The children and their text nodes share two backing arrays (each
	// child's node slice is capped at its one text node).
	kids := make([]e2e.Element, len(names))
	texts := make([]e2e.Node, len(names))
	e.Nodes = make([]e2e.Node, len(names))
	for i, n := range names {
		kids[i].Name = xml.Name{Space: NS, Local: n}
		if c[i] != "" {
			texts[i] = e2e.CharData(c[i])
			kids[i].Nodes = texts[i : i+1 : i+1]
		}
		e.Nodes[i] = &kids[i]
	}
	return e
}

// readParts reads the compact parts from e's children named names, in that
// order and nothing else. XML whitespace inside the text is dropped (the
// draft's examples wrap the base64); any other character outside the
// base64url alphabet is ErrMalformed.
func readParts(e *e2e.Element, names []string) (compact, error) {
	kids := e.Elements()
	if len(kids) != len(names) {
		return nil, fmt.Errorf("jose: %w: <%s/> needs exactly %s", e2e.ErrMalformed, e.Name.Local, strings.Join(names, ", "))
	}
	for _, n := range e.Nodes {
		if t, ok := n.(e2e.CharData); ok && strings.TrimSpace(string(t)) != "" {
			return nil, fmt.Errorf("jose: %w: text inside <%s/>", e2e.ErrMalformed, e.Name.Local)
		}
	}
	out := make(compact, len(names))
	for i, k := range kids {
		if k.Name.Space != NS || k.Name.Local != names[i] {
			return nil, fmt.Errorf("jose: %w: <%s/> where <%s/> belongs", e2e.ErrMalformed, k.Name.Local, names[i])
		}
		if len(k.Elements()) != 0 {
			return nil, fmt.Errorf("jose: %w: elements inside <%s/>", e2e.ErrMalformed, names[i])
		}
		s, err := b64Text(partText(k))
		if err != nil {
			return nil, fmt.Errorf("jose: %w: <%s/>: %v", e2e.ErrMalformed, names[i], err)
		}
		out[i] = s
	}
	return out, nil
}

// partText is e.Text() without a copy when e holds a single text node (as
// every parsed or built part element does).
func partText(e *e2e.Element) string {
	if len(e.Nodes) == 1 {
		if t, ok := e.Nodes[0].(e2e.CharData); ok {
			return string(t)
		}
	}
	return e.Text()
}

// b64Text strips XML whitespace and checks the base64url alphabet and
// that unused trailing bits are zero (one value, one encoding: the replay
// cache keys on the text).
func b64Text(t string) (string, error) {
	clean := true
	for i := b64Run(t); i < len(t); i++ {
		c := t[i]
		if b64Index(c) < 0 {
			if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
				return "", fmt.Errorf("character %q is not base64url", c)
			}
			clean = false
		}
	}
	s := t
	if !clean {
		var b strings.Builder
		b.Grow(len(t))
		for i := 0; i < len(t); i++ {
			if b64Index(t[i]) >= 0 {
				b.WriteByte(t[i])
			}
		}
		s = b.String()
	}
	// Every character of s is in the alphabet: only the tail remains to check.
	if !canonicalTail(s) {
		return "", fmt.Errorf("not canonical unpadded base64url")
	}
	return s, nil
}

// b64Index is the value of a base64url character, -1 for others.
func b64Index(c byte) int { return int(b64Values[c]) }

var b64Values = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		t[c] = int8(i)
	}
	return t
}()

// canonicalB64 reports whether s is unpadded base64url of a whole number of
// octets with zero unused bits (what base64.RawURLEncoding.Strict accepts).
func canonicalB64(s string) bool {
	return b64Run(s) == len(s) && canonicalTail(s)
}

// b64Run is the length of the longest prefix of s in the base64url
// alphabet. It tests eight characters per step (a character outside the
// alphabet has a negative value, so the OR of eight values is negative).
func b64Run(s string) int {
	v := &b64Values
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if v[s[i]]|v[s[i+1]]|v[s[i+2]]|v[s[i+3]]|v[s[i+4]]|v[s[i+5]]|v[s[i+6]]|v[s[i+7]] < 0 {
			break
		}
	}
	for ; i < len(s) && v[s[i]] >= 0; i++ {
	}
	return i
}

// canonicalTail is canonicalB64 for s already known to be in the base64url
// alphabet: a length that is a whole number of octets and zero unused bits
// in the last character.
func canonicalTail(s string) bool {
	switch len(s) % 4 {
	case 1:
		return false
	case 2:
		return b64Index(s[len(s)-1])&0x0f == 0
	case 3:
		return b64Index(s[len(s)-1])&0x03 == 0
	}
	return true
}

// stampFormat is XEP-0082 with milliseconds in UTC, as -06 §7 asks.
const stampFormat = "2006-01-02T15:04:05.000Z"

// The envelope as this package writes it: envOpen, the stamp, envStamped,
// the stanza, envClose.
const (
	envOpen    = "<forwarded xmlns='" + nsForward + "'><delay xmlns='" + nsDelay + "' stamp='"
	envStamped = "'/>"
	envClose   = "</forwarded>"
)

// envelope serializes M' = <forwarded><delay stamp/>S</forwarded> with no
// whitespace between elements (-06 §3.2.2 steps 3 and 4).
func envelope(st *e2e.Stanza, stamp time.Time) []byte {
	s := st.Bytes()
	b := make([]byte, 0, len(envOpen)+len(stampFormat)+len(envStamped)+len(s)+len(envClose))
	b = append(b, envOpen...)
	b = stamp.UTC().AppendFormat(b, stampFormat)
	b = append(b, envStamped...)
	b = append(b, s...)
	return append(b, envClose...)
}

// parseEnvelope reads M': exactly one <forwarded xmlns='urn:xmpp:forward:0'>
// holding one <delay xmlns='urn:xmpp:delay' stamp/> and one stanza, and
// nothing else (no comments, PIs or DTDs). The stanza keeps its own
// namespace declaration; e2e.ReadStanza applies the stanza limits.
func parseEnvelope(b []byte) (*e2e.Stanza, time.Time, error) {
	if len(b) > e2e.MaxStanzaSize {
		return nil, time.Time{}, fmt.Errorf("jose: %w: envelope of %d bytes", e2e.ErrMalformed, len(b))
	}
	if stamp, inner, ok := ownEnvelope(b); ok {
		ts, err := parseStamp(stamp)
		if err != nil {
			return nil, time.Time{}, err
		}
		st, err := e2e.Parse(inner)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("jose: envelope: %w", err)
		}
		return st, ts, nil
	}
	return parseEnvelopeXML(b)
}

// ownEnvelope splits an envelope written byte for byte as envelope writes
// it into its stamp and the stanza's XML, so that the stanza is parsed
// once, by e2e.Parse, without a decoder pass over the wrapper. It declines
// (ok false, and parseEnvelopeXML decides) anything else: other quoting,
// whitespace or prefixes, a stamp with characters that XML would decode
// (entities), a stanza not starting with an element, data after
// </forwarded>. What it accepts is what parseEnvelopeXML accepts: the
// wrapper is fixed text, and e2e.Parse rejects as parseEnvelopeXML does a
// stanza without its own namespace (it would be in no namespace here and in
// the forward namespace there), comments, processing instructions, DTDs,
// text and more than one element.
func ownEnvelope(b []byte) (stamp string, inner []byte, ok bool) {
	rest, ok := bytes.CutPrefix(b, []byte(envOpen))
	if !ok {
		return "", nil, false
	}
	i := bytes.IndexByte(rest, '\'')
	if i < 0 {
		return "", nil, false
	}
	for _, c := range rest[:i] {
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || c == ':' || c == '.' || c == '-' || c == '+') {
			return "", nil, false
		}
	}
	inner, ok = bytes.CutPrefix(rest[i:], []byte(envStamped))
	if !ok {
		return "", nil, false
	}
	inner, ok = bytes.CutSuffix(inner, []byte(envClose))
	if !ok || len(inner) < 2 || inner[0] != '<' || inner[1] == '?' || inner[1] == '!' || inner[1] == '/' {
		return "", nil, false
	}
	return string(rest[:i]), inner, true
}

// parseEnvelopeXML is parseEnvelope for any serialization of M'.
func parseEnvelopeXML(b []byte) (*e2e.Stanza, time.Time, error) {
	var zero time.Time
	d := xml.NewDecoder(bytes.NewReader(b))
	next := func() (xml.StartElement, bool, error) {
		for {
			tok, err := d.Token()
			if err != nil {
				return xml.StartElement{}, false, fmt.Errorf("jose: %w: envelope: %v", e2e.ErrMalformed, err)
			}
			switch t := tok.(type) {
			case xml.StartElement:
				return t.Copy(), true, nil
			case xml.EndElement:
				return xml.StartElement{Name: t.Name}, false, nil
			case xml.CharData:
				if len(bytes.TrimSpace(t)) != 0 {
					return xml.StartElement{}, false, fmt.Errorf("jose: %w: text in the envelope", e2e.ErrMalformed)
				}
			default:
				return xml.StartElement{}, false, fmt.Errorf("jose: %w: %T in the envelope", e2e.ErrMalformed, tok)
			}
		}
	}
	fw, ok, err := next()
	if err != nil {
		return nil, zero, err
	}
	if !ok || fw.Name.Space != nsForward || fw.Name.Local != "forwarded" {
		return nil, zero, fmt.Errorf("jose: %w: envelope is <%s xmlns='%s'/>, not <forwarded xmlns='%s'/>", e2e.ErrMalformed, fw.Name.Local, fw.Name.Space, nsForward)
	}
	delay, ok, err := next()
	if err != nil {
		return nil, zero, err
	}
	if !ok || delay.Name.Space != nsDelay || delay.Name.Local != "delay" {
		return nil, zero, fmt.Errorf("jose: %w: envelope without <delay xmlns='%s'/> first", e2e.ErrMalformed, nsDelay)
	}
	var stamp string
	for _, a := range delay.Attr {
		if a.Name.Space == "" && a.Name.Local == "stamp" {
			stamp = a.Value
		}
	}
	ts, err := parseStamp(stamp)
	if err != nil {
		return nil, zero, err
	}
	// XEP-0203 §3 lets <delay/> hold a natural-language reason as text;
	// nothing else.
	for done := false; !done; {
		tok, err := d.Token()
		if err != nil {
			return nil, zero, fmt.Errorf("jose: %w: envelope: %v", e2e.ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.CharData:
		case xml.EndElement:
			done = true
		default:
			return nil, zero, fmt.Errorf("jose: %w: <delay/> holds %T; it may hold only text", e2e.ErrMalformed, t)
		}
	}
	start, ok, err := next()
	if err != nil {
		return nil, zero, err
	}
	if !ok {
		return nil, zero, fmt.Errorf("jose: %w: envelope without a stanza", e2e.ErrMalformed)
	}
	st, err := e2e.ReadStanza(start, d)
	if err != nil {
		return nil, zero, fmt.Errorf("jose: envelope: %w", err)
	}
	if end, ok, err := next(); err != nil || ok || end.Name != fw.Name {
		return nil, zero, fmt.Errorf("jose: %w: envelope holds more than one stanza", e2e.ErrMalformed)
	}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return st, ts, nil
		}
		if err != nil {
			return nil, zero, fmt.Errorf("jose: %w: after the envelope: %v", e2e.ErrMalformed, err)
		}
		if c, ok := tok.(xml.CharData); !ok || len(bytes.TrimSpace(c)) != 0 {
			return nil, zero, fmt.Errorf("jose: %w: data after the envelope", e2e.ErrMalformed)
		}
	}
}

// parseStamp reads an XEP-0082 DateTime in UTC: -06 §7 requires "UTC with
// no offset" (so "Z", never "+00:00" or another zone) and XEP-0082 a "."
// before the fraction (time.Parse also takes ",").
func parseStamp(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err == nil && !utcStamp(s) {
		err = fmt.Errorf("not UTC with Z")
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("jose: %w: bad <delay/> stamp %q", e2e.ErrMalformed, s)
	}
	return t, nil
}

// utcStamp reports whether s has the shape CCYY-MM-DDThh:mm:ss[.s+]Z.
func utcStamp(s string) bool {
	const fixed = len("2006-01-02T15:04:05")
	if len(s) < fixed+1 || s[len(s)-1] != 'Z' {
		return false
	}
	frac := s[fixed : len(s)-1]
	if frac == "" {
		return true
	}
	if len(frac) < 2 || frac[0] != '.' {
		return false
	}
	for _, c := range frac[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Application error conditions of the draft (all in NS).
const (
	CondInsufficientInformation = "insufficient-information"
	CondDecryptionFailed        = "decryption-failed"
	CondVerificationFailed      = "verification-failed"
	CondBadTimestamp            = "bad-timestamp"
)

// errorElement builds <error type=typ><cond xmlns=stanzas/>[<app xmlns=NS/>]</error>.
func errorElement(ns, typ, cond, app string) *e2e.Element {
	e := e2e.NewElement(ns, "error", "")
	e.SetAttr("type", typ)
	e.AppendChild(e2e.NewElement(nsStanzas, cond, ""))
	if app != "" {
		e.AppendChild(e2e.NewElement(NS, app, ""))
	}
	return e
}

// stanzaError reads the first defined condition and the draft's application
// condition from an error stanza.
func stanzaError(st *e2e.Stanza) (cond, app string) {
	ns := st.NS
	if ns == "" {
		ns = e2e.NSClient
	}
	e := st.Child(ns, "error")
	if e == nil {
		return "", ""
	}
	for _, c := range e.Elements() {
		switch c.Name.Space {
		case nsStanzas:
			if cond == "" && c.Name.Local != "text" {
				cond = c.Name.Local
			}
		case NS:
			app = c.Name.Local
		}
	}
	return cond, app
}
