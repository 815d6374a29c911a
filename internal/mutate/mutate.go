// Package mutate finds the protected payload in wire stanzas and changes it
// in controlled ways: one character flipped within its class, a region cut
// short, a region replaced. The conformance kit, the harness and the test
// vector generator all attack payloads the same way through it.
package mutate

import (
	"math/rand/v2"
	"strings"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// A Region is a piece of text in a wire stanza that does not occur in the
// plaintext: a text node or an attribute value of the protected payload or
// its headers.
type Region struct {
	Stanza int    // index in the wire
	Text   string // the text as it is on the wire
	set    func(st *e2e.Stanza, v string)
}

// With returns a copy of wire in which the region's text is v.
func (r Region) With(wire []*e2e.Stanza, v string) []*e2e.Stanza {
	out := Clone(wire)
	r.set(out[r.Stanza], v)
	return out
}

// Clone returns deep copies of the stanzas.
func Clone(wire []*e2e.Stanza) []*e2e.Stanza {
	out := make([]*e2e.Stanza, len(wire))
	for i, w := range wire {
		out[i] = w.Clone()
	}
	return out
}

// Regions finds the text nodes and attribute values of wire that do not
// occur anywhere in sent, the plaintext stanza: what the scheme added.
func Regions(sent *e2e.Stanza, wire []*e2e.Stanza) []Region {
	plain := map[string]bool{"": true}
	if sent != nil {
		for _, a := range sent.StartElement().Attr {
			plain[a.Value] = true
		}
		for _, c := range sent.Children {
			collect(c, plain)
		}
	}
	var out []Region
	for si, w := range wire {
		var walk func(e *e2e.Element, path []int)
		walk = func(e *e2e.Element, path []int) {
			for ai, a := range e.Attr {
				if !plain[a.Value] {
					p, ai := append([]int(nil), path...), ai
					out = append(out, Region{Stanza: si, Text: a.Value, set: func(st *e2e.Stanza, v string) {
						at(st, p).Attr[ai].Value = v
					}})
				}
			}
			for ni, n := range e.Nodes {
				switch n := n.(type) {
				case e2e.CharData:
					if !plain[string(n)] && strings.TrimSpace(string(n)) != "" {
						p, ni := append([]int(nil), path...), ni
						out = append(out, Region{Stanza: si, Text: string(n), set: func(st *e2e.Stanza, v string) {
							at(st, p).Nodes[ni] = e2e.CharData(v)
						}})
					}
				case *e2e.Element:
					walk(n, append(path, ni))
				}
			}
		}
		for ci, c := range w.Children {
			walk(c, []int{ci})
		}
	}
	return out
}

func collect(e *e2e.Element, plain map[string]bool) {
	for _, a := range e.Attr {
		plain[a.Value] = true
	}
	for _, n := range e.Nodes {
		switch n := n.(type) {
		case e2e.CharData:
			plain[string(n)] = true
		case *e2e.Element:
			collect(n, plain)
		}
	}
}

// at follows a path of child indices (the first into Children, the rest into
// Nodes).
func at(st *e2e.Stanza, path []int) *e2e.Element {
	e := st.Children[path[0]]
	for _, i := range path[1:] {
		e = e.Nodes[i].(*e2e.Element)
	}
	return e
}

// Flip changes the character at i to the next one of its class (A-Z, a-z,
// 0-9, wrapping), so that base64, base64url and hex stay well formed while
// the bytes under them change. It reports false for other characters.
func Flip(s string, i int) (string, bool) {
	c := s[i]
	var n byte
	switch {
	case c >= 'A' && c <= 'Z':
		n = 'A' + (c-'A'+1)%26
	case c >= 'a' && c <= 'z':
		n = 'a' + (c-'a'+1)%26
	case c >= '0' && c <= '9':
		n = '0' + (c-'0'+1)%10
	default:
		return s, false
	}
	return s[:i] + string(n) + s[i+1:], true
}

// A Position is a flippable character: region index and byte index.
type Position struct{ Region, Index int }

// Positions picks up to n flippable positions spread over the regions: the
// first and last of each region, then a sample drawn from r.
func Positions(regs []Region, n int, r *rand.Rand) []Position {
	var all []Position
	for ri, rg := range regs {
		for i := 0; i < len(rg.Text); i++ {
			if _, ok := Flip(rg.Text, i); ok {
				all = append(all, Position{ri, i})
			}
		}
	}
	if len(all) <= n {
		return all
	}
	picked := map[Position]bool{}
	var out []Position
	add := func(p Position) {
		if !picked[p] && len(out) < n {
			picked[p] = true
			out = append(out, p)
		}
	}
	for ri := range regs {
		first, last := -1, -1
		for i, p := range all {
			if p.Region == ri {
				if first < 0 {
					first = i
				}
				last = i
			}
		}
		if first >= 0 {
			add(all[first])
			add(all[last])
		}
	}
	for len(out) < n {
		add(all[r.IntN(len(all))])
	}
	return out
}

// Base64 is the alphabet Garbage draws from.
const Base64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// Garbage returns n characters drawn from Base64 with r.
func Garbage(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = Base64[r.IntN(len(Base64))]
	}
	return string(b)
}
