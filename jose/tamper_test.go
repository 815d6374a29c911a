package jose

import (
	"errors"
	"strings"
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e"
)

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// flip replaces the character at i of s with another one of its class.
func flip(s string, i int) string {
	c := s[i]
	var r byte
	if k := strings.IndexByte(b64Alphabet, c); k >= 0 {
		r = b64Alphabet[(k+1+i%7)%64]
	} else if c >= 0x80 {
		return s
	} else {
		r = 'x'
		if c == 'x' {
			r = 'y'
		}
	}
	return s[:i] + string(r) + s[i+1:]
}

// mutations returns copies of w with one character changed in one text
// node or attribute value, every step-th position.
func mutations(w *e2e.Stanza, step int) []*e2e.Stanza {
	var out []*e2e.Stanza
	n := 0
	try := func(apply func(c *e2e.Stanza, i int) bool, length int) {
		for i := 0; i < length; i++ {
			n++
			if n%step != 0 {
				continue
			}
			c := w.Clone()
			if apply(c, i) {
				out = append(out, c)
			}
		}
	}
	try(func(c *e2e.Stanza, i int) bool { c.ID = flip(c.ID, i); return true }, len(w.ID))
	try(func(c *e2e.Stanza, i int) bool { c.Type = flip(c.Type, i); return true }, len(w.Type))
	for _, attr := range []string{"from", "to"} {
		v := w.From.String()
		if attr == "to" {
			v = w.To.String()
		}
		try(func(c *e2e.Stanza, i int) bool {
			st, err := e2e.Parse([]byte(strings.Replace(c.String(), attr+"='"+v+"'", attr+"='"+flip(v, i)+"'", 1)))
			if err != nil {
				return false
			}
			*c = *st
			return true
		}, len(v))
	}
	var walk func(path []int, e *e2e.Element)
	walk = func(path []int, e *e2e.Element) {
		for ai, a := range e.Attr {
			try(func(c *e2e.Stanza, i int) bool {
				el := at(c, path)
				el.Attr[ai].Value = flip(a.Value, i)
				return true
			}, len(a.Value))
		}
		for ni, nd := range e.Nodes {
			switch nd := nd.(type) {
			case e2e.CharData:
				try(func(c *e2e.Stanza, i int) bool {
					el := at(c, path)
					el.Nodes[ni] = e2e.CharData(flip(string(nd), i))
					return true
				}, len(nd))
			case *e2e.Element:
				walk(append(append([]int(nil), path...), ni), nd)
			}
		}
	}
	for ci, c := range w.Children {
		walk([]int{-1 - ci}, c)
	}
	return out
}

// at finds the element at path (first entry: -1-child index).
func at(st *e2e.Stanza, path []int) *e2e.Element {
	e := st.Children[-1-path[0]]
	for _, i := range path[1:] {
		e = e.Nodes[i].(*e2e.Element)
	}
	return e
}

func TestTamper(t *testing.T) {
	clk := newClock()
	j := newParty(t, Scheme, "juliet", clk, 1, "romeo")
	r := newParty(t, Scheme, "romeo", clk, 2, "juliet")
	pump(t, []*party{j, r}, encrypt(t, j, msg(fullJIDs["juliet"], fullJIDs["romeo"], "warm-up")))
	orig := msg(fullJIDs["juliet"], fullJIDs["romeo"], "tamper with me")
	var wires []*e2e.Stanza
	wires = append(wires, encrypt(t, j, orig)...)
	s, err := j.s.Sign(ctx, orig)
	if err != nil {
		t.Fatal(err)
	}
	wires = append(wires, s...)
	j.s.cfg.Sign = true
	wires = append(wires, encrypt(t, j, orig)...)
	j.s.cfg.Sign = false
	step := 3
	if testing.Short() {
		step = 17
	}
	total := 0
	for wi, w := range wires {
		for _, m := range mutations(w, step) {
			total++
			res, err := r.s.Receive(ctx, m)
			switch {
			case err != nil:
				if len(res.Opened) != 0 || len(res.Replies) != 0 {
					t.Fatalf("wire %d: error with results", wi)
				}
				if !errors.Is(err, e2e.ErrDecrypt) && !errors.Is(err, e2e.ErrBadSignature) && !errors.Is(err, e2e.ErrMalformed) && !errors.Is(err, e2e.ErrReplay) {
					t.Errorf("wire %d: %s\n  error of class %s: %v", wi, m, e2e.ClassOf(err), err)
				}
			case len(res.Opened) == 1 && len(res.Replies) == 0:
				if !res.Opened[0].Stanza.Equal(orig) {
					t.Errorf("wire %d: tampered stanza opened changed:\n%s", wi, res.Opened[0].Stanza)
				}
			default:
				t.Errorf("wire %d: %s\n  gave %d opened, %d replies", wi, m, len(res.Opened), len(res.Replies))
			}
		}
	}
	t.Logf("%d tampered stanzas", total)
}
