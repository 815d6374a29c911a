package interop

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// A region is one place in a wire stanza that can carry protected payload:
// the character data of an element or the value of an attribute of an
// element below the stanza.
type region struct {
	path string        // for transcripts: "x[jabber:x:encrypted]/text()"
	get  func() string // current value
	set  func(string)  // replace the value
}

// regions lists the payload regions of w: every text node and attribute
// value of the child elements whose value does not occur in the plaintext
// stanza pt (those are not protected payload: they are copied as they are).
func regions(w, pt *e2e.Stanza) []region {
	plain := map[string]bool{}
	collect(pt.Children, func(v string) { plain[v] = true })
	var out []region
	var walk func(prefix string, e *e2e.Element)
	walk = func(prefix string, e *e2e.Element) {
		name := prefix + e.Name.Local
		for i := range e.Attr {
			a := &e.Attr[i]
			if a.Value == "" || plain[a.Value] {
				continue
			}
			out = append(out, region{path: name + "/@" + a.Name.Local,
				get: func() string { return a.Value }, set: func(v string) { a.Value = v }})
		}
		for i, n := range e.Nodes {
			switch n := n.(type) {
			case e2e.CharData:
				if strings.TrimSpace(string(n)) == "" || plain[string(n)] {
					continue
				}
				i := i
				out = append(out, region{path: name + "/text()",
					get: func() string { return string(e.Nodes[i].(e2e.CharData)) },
					set: func(v string) { e.Nodes[i] = e2e.CharData(v) }})
			case *e2e.Element:
				walk(name+"/", n)
			}
		}
	}
	for _, c := range w.Children {
		walk("", c)
	}
	return out
}

func collect(es []*e2e.Element, f func(string)) {
	for _, e := range es {
		for _, a := range e.Attr {
			f(a.Value)
		}
		for _, n := range e.Nodes {
			switch n := n.(type) {
			case e2e.CharData:
				f(string(n))
			case *e2e.Element:
				collect([]*e2e.Element{n}, f)
			}
		}
	}
}

// A variant is one modified copy of a wire stanza.
type variant struct {
	index int    // which wire stanza of the message
	what  string // description for the transcript
	st    *e2e.Stanza
}

// b64run locates the longest run of base64 characters (whitespace
// allowed inside) in s; it returns the positions of the base64 characters.
func b64run(s string) []int {
	var best, cur []int
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isB64(c):
			cur = append(cur, i)
		case c == '\n' || c == '\r' || c == ' ' || c == '\t':
			// inside MIME base64 lines
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

// decodeB64 decodes chars (without padding) with the standard or the URL
// alphabet.
func decodeB64(chars string) ([]byte, *base64.Encoding) {
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(chars); err == nil {
			return b, enc
		}
	}
	return nil, nil
}

// flipVariants makes bit-flip variants of every region of w: for a region
// holding base64, single bit flips in the decoded bytes at the first and last
// byte and at perRegion-2 random positions; for other text, a changed
// character at the start, middle and end.
func flipVariants(w, pt *e2e.Stanza, index, perRegion int, rnd *rand.Rand) []variant {
	var out []variant
	n := len(regions(w, pt))
	for ri := 0; ri < n; ri++ {
		val := regions(w, pt)[ri].get()
		pos := b64run(val)
		chars := make([]byte, len(pos))
		for i, p := range pos {
			chars[i] = val[p]
		}
		raw, enc := decodeB64(trimB64(string(chars)))
		if len(pos) >= 12 && raw != nil && len(raw) > 0 {
			for _, bi := range samplePositions(len(raw), perRegion, rnd) {
				bit := rnd.IntN(8)
				c := w.Clone()
				r := regions(c, pt)[ri]
				flipped := append([]byte(nil), raw...)
				flipped[bi] ^= 1 << bit
				r.set(replaceB64(r.get(), pos, enc.EncodeToString(flipped)))
				out = append(out, variant{index: index, st: c,
					what: fmt.Sprintf("%s: bit %d of decoded byte %d/%d flipped", regions(w, pt)[ri].path, bit, bi, len(raw))})
			}
			continue
		}
		for _, ci := range samplePositions(len(val), 3, rnd) {
			c := w.Clone()
			r := regions(c, pt)[ri]
			v := []byte(r.get())
			v[ci] = otherChar(v[ci])
			r.set(string(v))
			out = append(out, variant{index: index, st: c,
				what: fmt.Sprintf("%s: character %d/%d changed", regions(w, pt)[ri].path, ci, len(val))})
		}
	}
	return out
}

// truncVariants cuts the payload short: the largest base64 region loses its
// last quarter, its last 16 decoded bytes, or all but its first 4 characters;
// and the largest region of any kind is emptied.
func truncVariants(w, pt *e2e.Stanza, index int) []variant {
	rs := regions(w, pt)
	if len(rs) == 0 {
		return nil
	}
	big := 0
	for i, r := range rs {
		if len(r.get()) > len(rs[big].get()) {
			big = i
		}
	}
	var out []variant
	val := rs[big].get()
	pos := b64run(val)
	if len(pos) >= 24 {
		for _, keep := range []struct {
			n    int
			what string
		}{{len(pos) * 3 / 4 &^ 3, "last quarter of the base64 payload cut"},
			{(len(pos) - 24) &^ 3, "last 18 bytes of the base64 payload cut"},
			{4, "all but the first 4 base64 characters cut"}} {
			if keep.n <= 0 {
				continue
			}
			c := w.Clone()
			r := regions(c, pt)[big]
			v := r.get()
			r.set(v[:pos[keep.n-1]+1] + v[pos[len(pos)-1]+1:])
			out = append(out, variant{index: index, st: c, what: rs[big].path + ": " + keep.what})
		}
	} else if len(val) > 1 {
		c := w.Clone()
		r := regions(c, pt)[big]
		r.set(val[:len(val)/2])
		out = append(out, variant{index: index, st: c, what: rs[big].path + ": cut in half"})
	}
	c := w.Clone()
	regions(c, pt)[big].set("")
	out = append(out, variant{index: index, st: c, what: rs[big].path + ": emptied"})
	return out
}

func trimB64(s string) string { return strings.TrimRight(s, "=") }

// replaceB64 writes enc (unpadded base64 of the same length as the run) back
// into the positions of the run in val.
func replaceB64(val string, pos []int, enc string) string {
	v := []byte(val)
	j := 0
	for _, p := range pos {
		if v[p] == '=' {
			continue
		}
		if j < len(enc) {
			v[p] = enc[j]
			j++
		}
	}
	return string(v)
}

// samplePositions returns up to k distinct positions in [0,n): the first,
// the last, and random ones between.
func samplePositions(n, k int, rnd *rand.Rand) []int {
	if n <= 0 {
		return nil
	}
	seen := map[int]bool{}
	var out []int
	add := func(i int) {
		if !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	add(0)
	add(n - 1)
	if k > 2 {
		add(n / 2)
	}
	for tries := 0; len(out) < k && tries < 4*k; tries++ {
		add(rnd.IntN(n))
	}
	return out
}

// otherChar returns a different character of the same class.
func otherChar(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return '0' + (c-'0'+1)%10
	case c >= 'a' && c <= 'z':
		return 'a' + (c-'a'+1)%26
	case c >= 'A' && c <= 'Z':
		return 'A' + (c-'A'+1)%26
	case c == '+':
		return '/'
	case c == '/':
		return '+'
	}
	return 'x'
}
