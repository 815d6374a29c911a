package interop

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/internal/mutate"
)

// A variant is one modified copy of the wire stanzas of a message.
type variant struct {
	what   string // description for the transcript
	region int    // which payload region (or which cut) it changes
	wire   []*e2e.Stanza
}

// b64run locates the longest run of base64 characters (whitespace allowed
// inside, as in MIME) in s and returns the positions of its characters.
func b64run(s string) []int {
	var best, cur []int
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isB64(c):
			cur = append(cur, i)
		case c == '\n' || c == '\r' || c == ' ' || c == '\t':
		default:
			if len(cur) > len(best) {
				best = cur
			}
			cur = nil
		}
	}
	if len(cur) > len(best) {
		best = cur
	}
	return best
}

func isB64(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '+' || c == '/' || c == '-' || c == '_'
}

// decodeB64 decodes unpadded base64 in the standard or the URL alphabet.
func decodeB64(chars string) ([]byte, *base64.Encoding) {
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(chars); err == nil {
			return b, enc
		}
	}
	return nil, nil
}

func trimB64(s string) string { return strings.TrimRight(s, "=") }

// b64Chars returns the characters at pos.
func b64Chars(s string, pos []int) string {
	b := make([]byte, len(pos))
	for i, p := range pos {
		b[i] = s[p]
	}
	return string(b)
}

// replaceAt writes enc back into the positions of the run in val.
func replaceAt(val string, pos []int, enc string) string {
	v := []byte(val)
	for i, p := range pos {
		if i < len(enc) {
			v[p] = enc[i]
		}
	}
	return string(v)
}

// flipVariants makes bit-flip variants of every payload region of wire
// (mutate.Regions): where a region holds base64, single bit flips in the
// decoded bytes at the first and last byte and at random bytes between,
// perRegion in all; elsewhere a character changed within its class at the
// start, middle and end.
func flipVariants(sent *e2e.Stanza, wire []*e2e.Stanza, perRegion int, rnd *rand.Rand) []variant {
	var out []variant
	for ri, rg := range mutate.Regions(sent, wire) {
		pos := b64run(rg.Text)
		raw, enc := decodeB64(trimB64(b64Chars(rg.Text, pos)))
		if len(pos) >= 12 && len(raw) > 0 {
			for _, bi := range samplePositions(len(raw), perRegion, rnd) {
				bit := rnd.IntN(8)
				flipped := append([]byte(nil), raw...)
				flipped[bi] ^= 1 << bit
				v := replaceAt(rg.Text, pos, enc.EncodeToString(flipped))
				out = append(out, variant{what: fmt.Sprintf("region %d of stanza %d: bit %d of decoded byte %d/%d flipped", ri, rg.Stanza, bit, bi, len(raw)),
					region: ri, wire: rg.With(wire, v)})
			}
			continue
		}
		for _, ci := range samplePositions(len(rg.Text), 3, rnd) {
			v, ok := mutate.Flip(rg.Text, ci)
			if !ok {
				b := []byte(rg.Text)
				b[ci] = 'x'
				if rg.Text[ci] == 'x' {
					b[ci] = 'y'
				}
				v = string(b)
			}
			out = append(out, variant{what: fmt.Sprintf("region %d of stanza %d: character %d/%d changed", ri, rg.Stanza, ci, len(rg.Text)),
				region: ri, wire: rg.With(wire, v)})
		}
	}
	return out
}

// truncVariants cuts the largest payload region short: a base64 payload
// loses its last quarter, its last 18 bytes, or all but 4 characters; other
// text is cut in half; and the region is emptied.
func truncVariants(sent *e2e.Stanza, wire []*e2e.Stanza) []variant {
	regs := mutate.Regions(sent, wire)
	if len(regs) == 0 {
		return nil
	}
	big := 0
	for i, r := range regs {
		if len(r.Text) > len(regs[big].Text) {
			big = i
		}
	}
	rg := regs[big]
	var out []variant
	pos := b64run(rg.Text)
	if len(pos) >= 32 {
		for _, keep := range []struct {
			n    int
			what string
		}{{len(pos) * 3 / 4 &^ 3, "last quarter of the base64 payload cut"},
			{(len(pos) - 24) &^ 3, "last 18 bytes of the base64 payload cut"},
			{4, "all but the first 4 base64 characters cut"}} {
			v := rg.Text[:pos[keep.n-1]+1] + rg.Text[pos[len(pos)-1]+1:]
			out = append(out, variant{what: fmt.Sprintf("region %d of stanza %d: %s", big, rg.Stanza, keep.what), wire: rg.With(wire, v)})
		}
	} else if len(rg.Text) > 1 {
		out = append(out, variant{what: fmt.Sprintf("region %d of stanza %d: cut in half", big, rg.Stanza), wire: rg.With(wire, rg.Text[:len(rg.Text)/2])})
	}
	out = append(out, variant{what: fmt.Sprintf("region %d of stanza %d: emptied", big, rg.Stanza), wire: rg.With(wire, "")})
	for i := range out {
		out[i].region = i
	}
	return out
}

// samplePositions returns up to k distinct positions in [0,n): the first,
// the last, the middle, and random ones.
func samplePositions(n, k int, rnd *rand.Rand) []int {
	if n <= 0 {
		return nil
	}
	seen := map[int]bool{}
	var out []int
	add := func(i int) {
		if !seen[i] && len(out) < k {
			seen[i] = true
			out = append(out, i)
		}
	}
	add(0)
	add(n - 1)
	add(n / 2)
	for tries := 0; len(out) < k && tries < 4*k; tries++ {
		add(rnd.IntN(n))
	}
	return out
}
