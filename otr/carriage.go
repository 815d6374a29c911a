package otr

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/xmpp/jid"
)

// The namespaces of the elements XEP-0364 puts on every OTR stanza.
const (
	NSEME     = "urn:xmpp:eme:0"     // XEP-0380 explicit message encryption
	NSOTR     = "urn:xmpp:otr:0"     // the EME namespace value for OTR
	NSHints   = "urn:xmpp:hints"     // XEP-0334 processing hints
	NSCarbons = "urn:xmpp:carbons:2" // XEP-0280 message carbons
	NSMAM     = "urn:xmpp:mam:2"     // XEP-0313 archive results
)

// wireStanza wraps one OTR line in a message stanza as XEP-0364 advises:
// type chat, full JIDs, the body, EME (XEP-0380, without a name), no-copy,
// no-permanent-store and the carbons private element.
func wireStanza(from, to jid.JID, id, line string) *e2e.Stanza {
	st := &e2e.Stanza{Kind: e2e.Message, From: from, To: to, ID: id, Type: "chat"}
	st.SetBody(line)
	eme := e2e.NewElement(NSEME, "encryption", "")
	eme.SetAttr("namespace", NSOTR) // no 'name': XEP-0380 §4 lists OTR, so it SHOULD NOT have one
	st.Children = append(st.Children, eme,
		e2e.NewElement(NSHints, "no-copy", ""),
		e2e.NewElement(NSHints, "no-permanent-store", ""),
		e2e.NewElement(NSCarbons, "private", ""))
	return st
}

// otrVersion returns the protocol version in the header of an encoded
// message ("?OTR:" + base64), or 0 when it cannot be read.
func otrVersion(line string) int {
	rest, ok := strings.CutPrefix(line, "?OTR:")
	if !ok || len(rest) < 4 {
		return 0
	}
	h, err := base64.StdEncoding.DecodeString(rest[:4])
	if err != nil || h[0] != 0 {
		return 0
	}
	return int(h[1])
}

// header decodes the start of an encoded message: version, type, and for v3
// the sender and receiver instance tags, and the data message flags.
type header struct {
	version       int
	typ           byte
	sender, recvr uint32
	flags         byte // data messages only
}

func parseHeader(line string) (header, bool) {
	rest, ok := strings.CutPrefix(line, "?OTR:")
	if !ok {
		return header{}, false
	}
	rest = strings.TrimSuffix(rest, ".")
	n := min(len(rest), 16) &^ 3 // 16 base64 chars = 12 bytes: enough for the v3 header and flags
	h, err := base64.StdEncoding.DecodeString(rest[:n])
	if err != nil || len(h) < 4 || h[0] != 0 {
		return header{}, false
	}
	hd := header{version: int(h[1]), typ: h[2]}
	switch hd.version {
	case 2:
		if hd.typ == 3 {
			hd.flags = h[3]
		}
	case 3:
		if len(h) < 12 {
			return header{}, false
		}
		hd.sender = uint32(h[3])<<24 | uint32(h[4])<<16 | uint32(h[5])<<8 | uint32(h[6])
		hd.recvr = uint32(h[7])<<24 | uint32(h[8])<<16 | uint32(h[9])<<8 | uint32(h[10])
		if hd.typ == 3 {
			hd.flags = h[11]
		}
	default:
		return header{}, false
	}
	return hd, true
}

// fragment splits an encoded OTR message into fragments of at most size
// bytes, in the form of the version in its header. Messages that fit, and
// anything that is not an encoded message, are returned whole.
func fragment(line string, size int) ([]string, error) {
	if size <= 0 || len(line) <= size || !strings.HasPrefix(line, "?OTR:") {
		return []string{line}, nil
	}
	hd, ok := parseHeader(line)
	if !ok {
		return nil, fmt.Errorf("otr: cannot fragment a message without a valid header")
	}
	prefix := func(k, n int) string {
		if hd.version == 3 {
			return fmt.Sprintf("?OTR|%08x|%08x,%05d,%05d,", hd.sender, hd.recvr, k, n)
		}
		return fmt.Sprintf("?OTR,%05d,%05d,", k, n)
	}
	piece := size - len(prefix(1, 1)) - 1
	n := (len(line) + piece - 1) / piece
	if n > 65535 {
		return nil, fmt.Errorf("otr: %w: message needs %d fragments, more than 65535", e2e.ErrUnsupported, n)
	}
	out := make([]string, 0, n)
	for k := 1; k <= n; k++ {
		end := min(k*piece, len(line))
		out = append(out, prefix(k, n)+line[(k-1)*piece:end]+",")
	}
	return out, nil
}

// A fragment is one parsed OTR fragment.
type fragmentMsg struct {
	v3            bool
	sender, recvr uint32
	k, n          int
	piece         string
}

// errFragmentRange: a fragment with k = 0, n = 0 or k > n.
var errFragmentRange = errors.New("k must be in 1..n")

// parseFragment reads "?OTR|sss|rrr,k,n,piece," (v3) or "?OTR,k,n,piece," (v2).
func parseFragment(s string) (fragmentMsg, error) {
	bad := func(what string) (fragmentMsg, error) {
		return fragmentMsg{}, fmt.Errorf("otr: %w: fragment: %s", e2e.ErrMalformed, what)
	}
	var f fragmentMsg
	var rest string
	switch {
	case strings.HasPrefix(s, "?OTR|"):
		f.v3 = true
		tags, r, ok := strings.Cut(s[5:], ",")
		if !ok {
			return bad("no comma after the instance tags")
		}
		st, rt, ok := strings.Cut(tags, "|")
		if !ok || len(st) != 8 || len(rt) != 8 {
			return bad("instance tags are not two 8-digit hex numbers")
		}
		a, err1 := strconv.ParseUint(st, 16, 32)
		b, err2 := strconv.ParseUint(rt, 16, 32)
		if err1 != nil || err2 != nil {
			return bad("instance tags are not hex")
		}
		f.sender, f.recvr, rest = uint32(a), uint32(b), r
	case strings.HasPrefix(s, "?OTR,"):
		rest = s[5:]
	default:
		return bad("no fragment prefix")
	}
	parts := strings.SplitN(rest, ",", 3)
	if len(parts) != 3 || !strings.HasSuffix(parts[2], ",") {
		return bad("expected k,n,piece,")
	}
	k, err1 := strconv.ParseUint(parts[0], 10, 16)
	n, err2 := strconv.ParseUint(parts[1], 10, 16)
	if err1 != nil || err2 != nil || len(parts[0]) > 5 || len(parts[1]) > 5 {
		return bad("k and n are not numbers up to 65535")
	}
	f.k, f.n, f.piece = int(k), int(n), strings.TrimSuffix(parts[2], ",")
	if f.k == 0 || f.n == 0 || f.k > f.n {
		// OTR v3 "Fragmentation": such a fragment is discarded alone; the
		// message being reassembled is kept.
		return fragmentMsg{}, fmt.Errorf("otr: %w: fragment: %w", e2e.ErrMalformed, errFragmentRange)
	}
	if strings.Contains(f.piece, ",") {
		return bad("piece holds a comma")
	}
	return f, nil
}

// reassembly holds the fragments of one message received so far.
type reassembly struct {
	k, n  int
	v3    bool
	sendr uint32
	buf   strings.Builder
}

// maxAssembly bounds a reassembled message.
const maxAssembly = e2e.MaxStanzaSize

// add applies the OTR reassembly rules to f: the first fragment starts over,
// the next one in sequence appends, anything else is an error that drops the
// partial message. It returns the message once complete.
func (r *reassembly) add(f fragmentMsg) (string, bool, error) {
	switch {
	case f.k == 1:
		r.k, r.n, r.v3, r.sendr = 1, f.n, f.v3, f.sender
		r.buf.Reset()
	case r.n != 0 && f.n == r.n && f.k == r.k+1 && f.v3 == r.v3 && f.sender == r.sendr:
		r.k = f.k
	default:
		r.reset()
		return "", false, fmt.Errorf("otr: %w: fragment %d/%d out of sequence", e2e.ErrMalformed, f.k, f.n)
	}
	if r.buf.Len()+len(f.piece) > maxAssembly {
		r.reset()
		return "", false, fmt.Errorf("otr: %w: fragmented message larger than %d bytes", e2e.ErrMalformed, maxAssembly)
	}
	r.buf.WriteString(f.piece)
	if r.k < r.n {
		return "", false, nil
	}
	msg := r.buf.String()
	r.reset()
	if !strings.HasPrefix(msg, "?OTR:") || !strings.HasSuffix(msg, ".") {
		return "", false, fmt.Errorf("otr: %w: reassembled fragments are not an encoded OTR message", e2e.ErrMalformed)
	}
	return msg, true, nil
}

func (r *reassembly) reset() {
	r.k, r.n = 0, 0
	r.buf.Reset()
}

// The whitespace tag of OTR: a base tag and one 8-byte tag per version.
const (
	wsBase = " \t  \t\t\t\t \t \t \t  "
	wsV2   = "  \t\t  \t "
	wsV3   = "  \t\t  \t\t"
)

// stripTag removes the first whitespace tag from body: the base tag and the
// 8-byte version tags after it. It reports whether the tag offers versions
// 2 and 3.
func stripTag(body string) (text string, v2, v3 bool) {
	i := strings.Index(body, wsBase)
	if i < 0 {
		return body, false, false
	}
	j := i + len(wsBase)
	for j+8 <= len(body) && strings.Trim(body[j:j+8], " \t") == "" {
		switch body[j : j+8] {
		case wsV2:
			v2 = true
		case wsV3:
			v3 = true
		}
		j += 8
	}
	return body[:i] + body[j:], v2, v3
}
