package xtls

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/xmpp/jid"
)

// Namespaces. We send the :0 versions of the draft and accept :0 and :1
// (see docs/xtls.md).
const (
	nsJingle       = "urn:xmpp:jingle:1"
	nsJingleErrors = "urn:xmpp:jingle:errors:1"
	nsXTLS0        = "urn:xmpp:jingle:security:xtls:0"
	nsXTLS1        = "urn:xmpp:jingle:security:xtls:1"
	nsXMLStream0   = "urn:xmpp:jingle:apps:xmlstream:0"
	nsXMLStream1   = "urn:xmpp:jingle:apps:xmlstream:1"
	nsIBB0         = "urn:xmpp:jingle:transports:ibb:0"
	nsIBB1         = "urn:xmpp:jingle:transports:ibb:1"
	nsIBB          = "http://jabber.org/protocol/ibb"
	nsStream       = "http://etherx.jabber.org/streams"

	contentName = "xmlstream"
	methodX509  = "x509"
)

// Features lists the service discovery features an XTLS client advertises:
// both versions of the security and application namespaces (the draft's
// elements use :0, its disco example :1) and both IBB transports.
var Features = []string{nsJingle, nsXTLS0, nsXTLS1, nsXMLStream0, nsXMLStream1, nsIBB0, nsIBB1, nsIBB}

func xmlName(space, local string) xml.Name { return xml.Name{Space: space, Local: local} }

// attrs builds attributes without namespace from name, value pairs.
func attrs(kv ...string) []xml.Attr {
	out := make([]xml.Attr, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, xml.Attr{Name: xml.Name{Local: kv[i]}, Value: kv[i+1]})
	}
	return out
}

// A Fingerprint is a certificate hash as carried in <fingerprint algo=…/>.
type Fingerprint struct {
	Algo  string // "sha-256" or "sha-1" (the spellings sha256 and sha1 are accepted)
	Value []byte
}

// String formats f as uppercase hex pairs separated by colons.
func (f Fingerprint) String() string { return colonHex(f.Value) }

func colonHex(b []byte) string {
	h := strings.ToUpper(hex.EncodeToString(b))
	var sb strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			sb.WriteByte(':')
		}
		sb.WriteString(h[i : i+2])
	}
	return sb.String()
}

// Matches reports whether f is the fingerprint of the DER certificate der.
func (f Fingerprint) Matches(der []byte) bool {
	switch f.Algo {
	case "sha-256":
		h := sha256.Sum256(der)
		return string(h[:]) == string(f.Value)
	case "sha-1":
		h := sha1.Sum(der)
		return string(h[:]) == string(f.Value)
	}
	return false
}

// normAlgo maps the hash names seen in the wild to the IANA spelling.
func normAlgo(a string) string {
	switch strings.ToLower(strings.TrimSpace(a)) {
	case "sha-256", "sha256":
		return "sha-256"
	case "sha-1", "sha1":
		return "sha-1"
	}
	return ""
}

// parseFingerprintValue reads hex with or without colons and whitespace.
func parseFingerprintValue(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ':', ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("bad fingerprint: %v", err)
	}
	return b, nil
}

// security is the XTLS <security/> element.
type security struct {
	NS           string
	Fingerprints []Fingerprint
	Methods      []string // in order; unknown names kept
}

func (s *security) has(method string) bool {
	for _, m := range s.Methods {
		if m == method {
			return true
		}
	}
	return false
}

func (s *security) element() *e2e.Element {
	e := &e2e.Element{Name: xmlName(nsXTLS0, "security")}
	for _, f := range s.Fingerprints {
		e.AppendChild(&e2e.Element{Name: xmlName(nsXTLS0, "fingerprint"), Attr: attrs("algo", f.Algo), Nodes: []e2e.Node{e2e.CharData(f.String())}})
	}
	for _, m := range s.Methods {
		e.AppendChild(&e2e.Element{Name: xmlName(nsXTLS0, "method"), Attr: attrs("name", m)})
	}
	return e
}

func parseSecurity(e *e2e.Element) (*security, error) {
	s := &security{NS: e.Name.Space}
	for _, c := range e.Elements() {
		if c.Name.Space != e.Name.Space {
			continue
		}
		switch c.Name.Local {
		case "fingerprint":
			algo, _ := c.AttrValue("algo")
			a := normAlgo(algo)
			if a == "" {
				continue // unknown hash: ignored
			}
			v, err := parseFingerprintValue(c.Text())
			if err != nil {
				return nil, err
			}
			if (a == "sha-256" && len(v) != sha256.Size) || (a == "sha-1" && len(v) != sha1.Size) {
				return nil, fmt.Errorf("fingerprint of %d bytes for %s", len(v), a)
			}
			s.Fingerprints = append(s.Fingerprints, Fingerprint{Algo: a, Value: v})
		case "method":
			if n, _ := c.AttrValue("name"); n != "" {
				s.Methods = append(s.Methods, n)
			}
		}
	}
	return s, nil
}

// transport is an XEP-0261 IBB <transport/>.
type transport struct {
	NS        string
	SID       string
	BlockSize int
	Stanza    string
}

func (t *transport) element() *e2e.Element {
	return &e2e.Element{Name: xmlName(t.NS, "transport"), Attr: attrs("block-size", strconv.Itoa(t.BlockSize), "sid", t.SID)}
}

// content is one Jingle <content/>. Description and Transport are the
// namespaces of the elements found ("" when absent); Security is nil when the
// element is missing (an empty element gives a non-nil value).
type content struct {
	Creator, Name string // Creator defaults to "initiator" (XEP-0166)
	Disposition   string // defaults to "session"
	Description   string
	Transport     *transport
	TransportNS   string
	Security      *security
}

// jingle is one <jingle/> element.
type jingle struct {
	Action, SID          string
	Initiator, Responder jid.JID
	Contents             []*content
	Reason               string // the reason condition of session-terminate
	ReasonText           string
}

var (
	errNoJingle = errors.New("no <jingle/>")
)

func isOneOf(s string, set ...string) bool {
	for _, x := range set {
		if s == x {
			return true
		}
	}
	return false
}

// jingleChild returns the <jingle/> child of an IQ, or nil.
func jingleChild(st *e2e.Stanza) *e2e.Element {
	for _, c := range st.Children {
		if c.Name.Space == nsJingle && c.Name.Local == "jingle" {
			return c
		}
	}
	return nil
}

// parseJingle reads a <jingle/> element. Every failure wraps
// e2e.ErrMalformed.
func parseJingle(e *e2e.Element) (*jingle, error) {
	if e == nil || e.Name.Space != nsJingle || e.Name.Local != "jingle" {
		return nil, fmt.Errorf("xtls: %w: %v", e2e.ErrMalformed, errNoJingle)
	}
	j := &jingle{}
	j.Action, _ = e.AttrValue("action")
	j.SID, _ = e.AttrValue("sid")
	if j.Action == "" || j.SID == "" {
		return nil, fmt.Errorf("xtls: %w: <jingle/> without action or sid", e2e.ErrMalformed)
	}
	// XEP-0166 §7.1: the recipient ignores 'initiator' and 'responder'
	// (it treats the IQ's 'from' as the party), so a value that is not a
	// JID is dropped rather than refused.
	for _, a := range []struct {
		name string
		dst  *jid.JID
	}{{"initiator", &j.Initiator}, {"responder", &j.Responder}} {
		if v, ok := e.AttrValue(a.name); ok {
			if p, err := jid.Parse(v); err == nil {
				*a.dst = p
			}
		}
	}
	for _, c := range e.Elements() {
		switch {
		case c.Name.Space == nsJingle && c.Name.Local == "content":
			ct, err := parseContent(c)
			if err != nil {
				return nil, fmt.Errorf("xtls: %w: %v", e2e.ErrMalformed, err)
			}
			j.Contents = append(j.Contents, ct)
		case c.Name.Space == nsJingle && c.Name.Local == "reason":
			for _, r := range c.Elements() {
				if r.Name.Space != nsJingle {
					continue
				}
				if r.Name.Local == "text" {
					j.ReasonText = r.Text()
				} else if j.Reason == "" {
					j.Reason = r.Name.Local
				}
			}
		}
	}
	return j, nil
}

func parseContent(c *e2e.Element) (*content, error) {
	ct := &content{Creator: "initiator", Disposition: "session"}
	if v, ok := c.AttrValue("creator"); ok {
		ct.Creator = v
	}
	if v, ok := c.AttrValue("disposition"); ok {
		ct.Disposition = v
	}
	ct.Name, _ = c.AttrValue("name")
	for _, e := range c.Elements() {
		switch e.Name.Local {
		case "description":
			ct.Description = e.Name.Space
		case "transport":
			ct.TransportNS = e.Name.Space
			if !isOneOf(e.Name.Space, nsIBB0, nsIBB1) {
				continue
			}
			t := &transport{NS: e.Name.Space}
			t.SID, _ = e.AttrValue("sid")
			if t.SID == "" {
				return nil, errors.New("IBB transport without sid")
			}
			bs, err := parseBlockSize(e)
			if err != nil {
				return nil, err
			}
			t.BlockSize = bs
			t.Stanza, _ = e.AttrValue("stanza")
			ct.Transport = t
		case "security":
			if !isOneOf(e.Name.Space, nsXTLS0, nsXTLS1) {
				continue
			}
			s, err := parseSecurity(e)
			if err != nil {
				return nil, err
			}
			ct.Security = s
		}
	}
	return ct, nil
}

// element builds the <jingle/> element for j.
func (j *jingle) element() *e2e.Element {
	e := &e2e.Element{Name: xmlName(nsJingle, "jingle"), Attr: attrs("action", j.Action)}
	if !j.Initiator.Equal(jid.JID{}) {
		e.Attr = append(e.Attr, attrs("initiator", j.Initiator.String())...)
	}
	if !j.Responder.Equal(jid.JID{}) {
		e.Attr = append(e.Attr, attrs("responder", j.Responder.String())...)
	}
	e.Attr = append(e.Attr, attrs("sid", j.SID)...)
	for _, c := range j.Contents {
		ce := &e2e.Element{Name: xmlName(nsJingle, "content"), Attr: attrs("creator", c.Creator, "name", c.Name)}
		if c.Disposition != "" && c.Disposition != "session" {
			ce.Attr = append(ce.Attr, attrs("disposition", c.Disposition)...)
		}
		if c.Description != "" {
			ce.AppendChild(&e2e.Element{Name: xmlName(c.Description, "description")})
		}
		if c.Transport != nil {
			ce.AppendChild(c.Transport.element())
		}
		if c.Security != nil {
			ce.AppendChild(c.Security.element())
		}
		e.AppendChild(ce)
	}
	if j.Reason != "" {
		r := &e2e.Element{Name: xmlName(nsJingle, "reason")}
		r.AppendChild(&e2e.Element{Name: xmlName(nsJingle, j.Reason)})
		if j.ReasonText != "" {
			r.AppendChild(e2e.NewElement(nsJingle, "text", j.ReasonText))
		}
		e.AppendChild(r)
	}
	return e
}

// xmlstreamContent returns the content that carries the XML-stream
// application, or nil.
func (j *jingle) xmlstreamContent() *content {
	for _, c := range j.Contents {
		if isOneOf(c.Description, nsXMLStream0, nsXMLStream1) {
			return c
		}
	}
	return nil
}

// contentFor returns the content with the given creator and name (the pair
// that identifies a content in XEP-0166), or nil.
func (j *jingle) contentFor(creator, name string) *content {
	for _, c := range j.Contents {
		if c.Creator == creator && c.Name == name {
			return c
		}
	}
	return nil
}

// hasPayload reports whether a <jingle/> element has any child: the payload
// of an informational message.
func hasPayload(e *e2e.Element) bool { return len(e.Elements()) > 0 }
