package smime

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// Limits of the MIME parser.
const (
	maxHeaders   = 64 // header fields per header block
	maxBoundary  = 70 // RFC 2046 §5.1.1
	maxNesting   = 3  // MIME layers: envelope, signature, content
	base64LineLn = 64
)

var errMIME = errors.New("smime: malformed MIME entity")

// canonical returns b with every line ending (CRLF, lone CR, lone LF) made
// CRLF: the canonical form S/MIME signs (RFC 5751 §3.1.1). XML parsing turns
// CRLF into LF, so the receiver restores CRLF before verifying.
func canonical(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/32+2)
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '\r':
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
			out = append(out, '\r', '\n')
		case '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	return out
}

// lfOnly returns canonical b with CRLF turned into LF: the form we put into
// <e2e/>, since XML would turn CRLF into LF anyway.
func lfOnly(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")) }

type field struct{ name, value string }

// entity is a parsed MIME entity over canonical (CRLF) input.
type entity struct {
	fields []field
	body   []byte
}

// get returns the value of the first header field named name (MIME field
// names are case-insensitive).
func (e *entity) get(name string) string {
	for _, f := range e.fields {
		if strings.EqualFold(f.name, name) {
			return f.value
		}
	}
	return ""
}

// mediaType returns the lower-cased media type and its parameters; an entity
// without Content-Type is text/plain (RFC 2045 §5.2).
func (e *entity) mediaType() (string, map[string]string, error) {
	ct := e.get("Content-Type")
	if ct == "" {
		return "text/plain", map[string]string{}, nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", nil, fmt.Errorf("%w: Content-Type: %v", errMIME, err)
	}
	return mt, params, nil
}

// parseHeaderBlock reads header fields from canonical b up to the empty
// line and returns them with the rest after the empty line.
func parseHeaderBlock(b []byte) ([]field, []byte, error) {
	var fields []field
	for {
		i := bytes.Index(b, []byte("\r\n"))
		if i < 0 {
			return nil, nil, fmt.Errorf("%w: header block does not end", errMIME)
		}
		line := b[:i]
		b = b[i+2:]
		if len(line) == 0 {
			return fields, b, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(fields) == 0 {
				return nil, nil, fmt.Errorf("%w: continuation line first", errMIME)
			}
			f := &fields[len(fields)-1]
			f.value += " " + strings.TrimSpace(string(line))
			continue
		}
		c := bytes.IndexByte(line, ':')
		if c <= 0 {
			return nil, nil, fmt.Errorf("%w: header line without a name", errMIME)
		}
		name := string(line[:c])
		if strings.IndexFunc(name, func(r rune) bool { return r <= ' ' || r >= 0x7f }) >= 0 {
			// RFC 5322 §3.6.8: printable US-ASCII except the colon.
			return nil, nil, fmt.Errorf("%w: bad header name", errMIME)
		}
		if len(fields) == maxHeaders {
			return nil, nil, fmt.Errorf("%w: more than %d header fields", errMIME, maxHeaders)
		}
		fields = append(fields, field{name, strings.TrimSpace(string(line[c+1:]))})
	}
}

// parseEntity parses a canonical MIME entity: header fields, an empty line,
// the body.
func parseEntity(b []byte) (*entity, error) {
	fields, body, err := parseHeaderBlock(b)
	if err != nil {
		return nil, err
	}
	return &entity{fields: fields, body: body}, nil
}

// writeFields writes header lines and the empty line that ends them.
func writeFields(b *bytes.Buffer, lines ...string) {
	for _, l := range lines {
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
}

// writeBase64 writes der in base64 lines of 64 characters, each ending in
// CRLF.
func writeBase64(b *bytes.Buffer, der []byte) {
	s := base64.StdEncoding.EncodeToString(der)
	for len(s) > base64LineLn {
		b.WriteString(s[:base64LineLn])
		b.WriteString("\r\n")
		s = s[base64LineLn:]
	}
	b.WriteString(s)
	b.WriteString("\r\n")
}

// decodeBase64 decodes base64 text, ignoring white space.
func decodeBase64(b []byte) ([]byte, error) {
	clean := make([]byte, 0, len(b))
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			clean = append(clean, c)
		}
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
	n, err := base64.StdEncoding.Strict().Decode(out, clean)
	if err != nil || n == 0 {
		return nil, fmt.Errorf("%w: bad base64", errMIME)
	}
	return out[:n], nil
}

// transferDecode returns the body of e decoded per its
// Content-Transfer-Encoding: base64 or an identity encoding.
func transferDecode(e *entity) ([]byte, error) {
	switch cte := strings.ToLower(e.get("Content-Transfer-Encoding")); cte {
	case "base64":
		return decodeBase64(e.body)
	case "", "7bit", "8bit", "binary":
		return e.body, nil
	default:
		return nil, fmt.Errorf("%w: Content-Transfer-Encoding %q", errMIME, cte)
	}
}

// splitSigned cuts a multipart/signed body into the exact octets of its
// first part (the signed content) and its second part (the signature
// entity). The CRLF before each delimiter belongs to the delimiter (RFC 2046
// §5.1.1). Anything but exactly two parts is an error.
func splitSigned(body []byte, boundary string) (signed, sig []byte, err error) {
	if boundary == "" || len(boundary) > maxBoundary {
		return nil, nil, fmt.Errorf("%w: bad boundary", errMIME)
	}
	delim := []byte("--" + boundary)
	// The first delimiter opens the body or follows a CRLF (after a preamble).
	var start int
	if bytes.HasPrefix(body, delim) {
		start = len(delim)
	} else {
		i := bytes.Index(body, append([]byte("\r\n"), delim...))
		if i < 0 {
			return nil, nil, fmt.Errorf("%w: no delimiter", errMIME)
		}
		start = i + 2 + len(delim)
	}
	var parts [][]byte
	for rest := body[start:]; ; {
		// After a delimiter: "--" ends the multipart, else transport
		// padding and CRLF open a part.
		if bytes.HasPrefix(rest, []byte("--")) {
			break
		}
		eol := bytes.Index(rest, []byte("\r\n"))
		if eol < 0 || len(bytes.Trim(rest[:eol], " \t")) != 0 {
			return nil, nil, fmt.Errorf("%w: bad delimiter line", errMIME)
		}
		rest = rest[eol+2:]
		next := bytes.Index(rest, append([]byte("\r\n"), delim...))
		if next < 0 {
			return nil, nil, fmt.Errorf("%w: part does not end", errMIME)
		}
		if len(parts) == 2 {
			return nil, nil, fmt.Errorf("%w: multipart/signed with more than two parts", errMIME)
		}
		parts = append(parts, rest[:next])
		rest = rest[next+2+len(delim):]
	}
	if len(parts) != 2 {
		return nil, nil, fmt.Errorf("%w: multipart/signed needs two parts", errMIME)
	}
	return parts[0], parts[1], nil
}

// randomBoundary returns a boundary that does not occur in content.
func randomBoundary(r io.Reader, content []byte) (string, error) {
	for range 8 {
		var buf [18]byte
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return "", err
		}
		b := "=_xmppe2e_" + base64.RawURLEncoding.EncodeToString(buf[:])
		if !bytes.Contains(content, []byte(b)) {
			return b, nil
		}
	}
	return "", fmt.Errorf("smime: %w: no free MIME boundary", e2e.ErrMalformed)
}
