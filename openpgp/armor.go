package openpgp

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// lineLen is the length of the base64 lines armorPayload writes, as GnuPG
// and RFC 4880 §6.3 do.
const lineLen = 64

// crc24Table holds the CRC-24 of every byte value, for crc24.
var crc24Table = func() (t [256]uint32) {
	const poly = 0x1864CFB
	for i := range t {
		crc := uint32(i) << 16
		for range 8 {
			crc <<= 1
			if crc&0x1000000 != 0 {
				crc ^= poly
			}
		}
		t[i] = crc & 0xFFFFFF
	}
	return t
}()

// crc24 computes the OpenPGP armor checksum of RFC 4880 §6.1: initial value
// 0xB704CE, generator 0x1864CFB, one table lookup per byte.
func crc24(b []byte) uint32 {
	crc := uint32(0xB704CE)
	for _, c := range b {
		crc = (crc << 8 & 0xFFFFFF) ^ crc24Table[byte(crc>>16)^c]
	}
	return crc
}

// armorPayload writes the OpenPGP packets bin as XEP-0027 carries them: the
// ASCII armor of RFC 4880 §6.2 without its BEGIN line, header lines, blank
// line and END line. What remains is base64 in lines of 64 characters and the
// "=XXXX" CRC-24 line; every line ends in a newline, and the text starts with
// one so that the payload stands on lines of its own inside the element.
// GnuPG 2.2 needs the CRC line, so it is always written.
func armorPayload(bin []byte) string {
	enc := base64.StdEncoding.EncodeToString(bin)
	var b strings.Builder
	b.Grow(len(enc) + len(enc)/lineLen + 8)
	b.WriteByte('\n')
	for len(enc) > lineLen {
		b.WriteString(enc[:lineLen])
		b.WriteByte('\n')
		enc = enc[lineLen:]
	}
	if enc != "" {
		b.WriteString(enc)
		b.WriteByte('\n')
	}
	c := crc24(bin)
	b.WriteByte('=')
	b.WriteString(base64.StdEncoding.EncodeToString([]byte{byte(c >> 16), byte(c >> 8), byte(c)}))
	b.WriteByte('\n')
	return b.String()
}

// dearmor decodes the text of a jabber:x:encrypted or jabber:x:signed
// element (or a complete ASCII-armored block) into OpenPGP packets.
//
// It is deliberately more tolerant than go-crypto's armor.Decode, which needs
// the blank line after the BEGIN line and refuses lines over 96 characters:
// leading and trailing whitespace on every line (indentation, CR of CRLF
// line ends), empty lines, "-----" framing lines and "Key: value" armor
// headers are skipped, and the base64 may come in lines of any length,
// including one long line. The CRC-24 line ("=" and four base64 characters)
// is optional, as RFC 4880 §6 allows, but when present it must be the last
// line of data and must match: go-crypto does not check it, so a wrong CRC is
// caught here. Anything else is ErrMalformed.
func dearmor(text string) ([]byte, error) {
	if len(text) > e2e.MaxStanzaSize {
		return nil, fmt.Errorf("%w: openpgp: payload of %d bytes exceeds %d", e2e.ErrMalformed, len(text), e2e.MaxStanzaSize)
	}
	var (
		data   strings.Builder
		crc    string
		gotCRC bool
	)
	data.Grow(len(text))
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "-----"):
			// BEGIN or END line of a complete armored block.
			continue
		case strings.Contains(line, ":"):
			// An armor header such as "Version: GnuPG v2"; base64 has no ':'.
			continue
		}
		if gotCRC {
			return nil, fmt.Errorf("%w: openpgp: data after the armor checksum", e2e.ErrMalformed)
		}
		if line[0] == '=' {
			if len(line) != 5 {
				return nil, fmt.Errorf("%w: openpgp: bad armor checksum line", e2e.ErrMalformed)
			}
			crc, gotCRC = line[1:], true
			continue
		}
		data.WriteString(line)
	}
	if data.Len() == 0 {
		return nil, fmt.Errorf("%w: openpgp: empty payload", e2e.ErrMalformed)
	}
	bin, err := base64.StdEncoding.Strict().DecodeString(data.String())
	if err != nil {
		return nil, fmt.Errorf("%w: openpgp: bad base64 in payload: %v", e2e.ErrMalformed, err)
	}
	if gotCRC {
		sum, err := base64.StdEncoding.Strict().DecodeString(crc)
		if err != nil || len(sum) != 3 {
			return nil, fmt.Errorf("%w: openpgp: bad armor checksum line", e2e.ErrMalformed)
		}
		if got, want := uint32(sum[0])<<16|uint32(sum[1])<<8|uint32(sum[2]), crc24(bin); got != want {
			return nil, fmt.Errorf("%w: openpgp: armor checksum %06X does not match the data (%06X)", e2e.ErrMalformed, got, want)
		}
	}
	return bin, nil
}
