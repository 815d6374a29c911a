package smime

import "errors"

// BER input. OpenSSL's streaming output (openssl cms -stream, and other
// S/MIME agents) uses indefinite lengths and constructed OCTET STRINGs;
// encoding/asn1 reads only DER lengths. toDER rewrites every length in
// definite, minimal form. Constructed strings are kept (their parts become
// DER); encryptedContent handles them (see octets).

var errBER = errors.New("smime: bad BER")

const maxBERDepth = 32

// toDER returns b with all lengths definite and minimal. It rejects
// anything that is not exactly one well-formed element.
func toDER(b []byte) ([]byte, error) {
	out, rest, err := berElement(b, 0)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, errBER
	}
	return out, nil
}

// berElement converts the first element of b and returns it with the input
// after it. An end-of-contents marker is returned as nil with rest after it.
func berElement(b []byte, depth int) (out, rest []byte, err error) {
	if depth > maxBERDepth || len(b) < 2 {
		return nil, nil, errBER
	}
	// Identifier octets, including high tag numbers.
	i := 1
	if b[0]&0x1f == 0x1f {
		for {
			if i >= len(b) || i > 5 {
				return nil, nil, errBER
			}
			i++
			if b[i-1]&0x80 == 0 {
				break
			}
		}
	}
	ident := b[:i]
	constructed := b[0]&0x20 != 0
	if i >= len(b) {
		return nil, nil, errBER
	}
	l := b[i]
	i++
	var body []byte
	switch {
	case l == 0x80: // indefinite
		if !constructed {
			return nil, nil, errBER
		}
		rest = b[i:]
		for {
			if len(rest) >= 2 && rest[0] == 0 && rest[1] == 0 {
				rest = rest[2:]
				break
			}
			var part []byte
			part, rest, err = berElement(rest, depth+1)
			if err != nil {
				return nil, nil, err
			}
			body = append(body, part...)
		}
		return append(append(append([]byte(nil), ident...), derLength(len(body))...), body...), rest, nil
	case l < 0x80:
		if len(b)-i < int(l) {
			return nil, nil, errBER
		}
		body, rest = b[i:i+int(l)], b[i+int(l):]
	default:
		n := int(l & 0x7f)
		if n > 4 || len(b)-i < n {
			return nil, nil, errBER
		}
		size := 0
		for _, c := range b[i : i+n] {
			size = size<<8 | int(c)
		}
		i += n
		if size < 0 || len(b)-i < size {
			return nil, nil, errBER
		}
		body, rest = b[i:i+size], b[i+size:]
	}
	if constructed {
		var conv []byte
		for r := body; len(r) > 0; {
			var part []byte
			part, r, err = berElement(r, depth+1)
			if err != nil {
				return nil, nil, err
			}
			conv = append(conv, part...)
		}
		body = conv
	}
	return append(append(append([]byte(nil), ident...), derLength(len(body))...), body...), rest, nil
}

func derLength(n int) []byte {
	if n < 0x80 {
		return []byte{byte(n)}
	}
	var l []byte
	for ; n > 0; n >>= 8 {
		l = append([]byte{byte(n)}, l...)
	}
	return append([]byte{0x80 | byte(len(l))}, l...)
}
