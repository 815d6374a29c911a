package xtls

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// established returns a pair with an open tunnel (after one message).
func established(t testing.TB, opts Options) (a, b *Session, route map[*Session]*Session) {
	t.Helper()
	a, b = pair(t, opts)
	route = map[*Session]*Session{a: b, b: a}
	res := pump(t, route, a, encrypt(t, a, msg(julietFull, romeoFull, "warm-up")))
	if len(res.errs) != 0 || len(res.opened[b]) != 1 {
		t.Fatalf("warm-up: %v %v", res.errs, res.opened)
	}
	return a, b, route
}

func TestRoundTrips(t *testing.T) {
	a, b, route := established(t, Options{})
	big := strings.Repeat("0123456789abcdef", 4096) // 64 KiB
	iq := &e2e.Stanza{Kind: e2e.IQ, From: julietFull, To: romeoFull, Type: "get", ID: "q1",
		Children: []*e2e.Element{e2e.NewElement("urn:xmpp:ping", "ping", "")}}
	pres := &e2e.Stanza{Kind: e2e.Presence, From: julietFull, To: romeoFull,
		Children: []*e2e.Element{e2e.NewElement(e2e.NSClient, "status", "in the garden")}}
	for i, st := range []*e2e.Stanza{
		msg(julietFull, romeoFull, "ascii"),
		msg(julietFull, romeoFull, "Ромео ☃ 🌹"),
		msg(julietFull, romeoFull, `<&>'"`),
		msg(julietFull, romeoFull, ""),
		msg(julietFull, romeoFull, big),
		iq, pres,
	} {
		for _, dir := range []struct{ from, to *Session }{{a, b}, {b, a}} {
			s := st.Clone()
			if dir.from == b {
				s.From, s.To = romeoFull, julietFull
			}
			res := pump(t, route, dir.from, encrypt(t, dir.from, s))
			got := res.opened[dir.to]
			if len(res.errs) != 0 || len(got) != 1 || !got[0].Equal(s) {
				t.Fatalf("case %d: errs %v, opened %d", i, res.errs, len(got))
			}
		}
	}
}

// TestTamper flips characters of the wire stanzas that are not in the
// plaintext; each flip must give an error and open nothing, or open the
// original stanza.
func TestTamper(t *testing.T) {
	m := msg(julietFull, romeoFull, "wherefore art thou")
	for trial := 0; trial < 40; trial++ {
		a, b, _ := established(t, Options{})
		wire := encrypt(t, a, m)
		// pick a data stanza and one position in its text or attributes
		st := wire[trial%len(wire)].Clone()
		d := ibbChild(st)
		if d == nil {
			t.Fatal("no data")
		}
		txt := d.Text()
		switch trial % 4 {
		case 0, 1: // payload
			p := (trial * 7919) % len(txt)
			c := byte('A')
			if txt[p] == 'A' {
				c = 'B'
			}
			if txt[p] == '=' {
				c = 'A'
			}
			d.SetText(txt[:p] + string(c) + txt[p+1:])
		case 2: // seq
			d.SetAttr("seq", "7")
		case 3: // sid
			sid, _ := d.AttrValue("sid")
			d.SetAttr("sid", "x"+sid[1:])
		}
		var opened []*e2e.Stanza
		var errs []error
		for i, w := range wire {
			if i == trial%len(wire) {
				w = st
			}
			res, err := b.Receive(context.Background(), w)
			if err != nil {
				errs = append(errs, err)
				if len(res.Opened) != 0 {
					t.Fatal("opened with error")
				}
			}
			opened = append(opened, res.Stanzas()...)
		}
		for _, o := range opened {
			if !o.Equal(m) {
				t.Fatalf("trial %d: changed plaintext opened: %v", trial, o)
			}
		}
		if len(opened) == 0 && len(errs) == 0 {
			t.Fatalf("trial %d: nothing opened and no error", trial)
		}
		for _, err := range errs {
			c := e2e.ClassOf(err)
			if c != "decrypt" && c != "malformed" && c != "replay" && c != "bad-signature" {
				t.Fatalf("trial %d: error class %q: %v", trial, c, err)
			}
		}
		a.Close(context.Background())
		b.Close(context.Background())
	}
	checkNoLeak(t)
}

func TestReplay(t *testing.T) {
	a, b, route := established(t, Options{})
	m := msg(julietFull, romeoFull, "once")
	wire := encrypt(t, a, m)
	res := pump(t, route, a, wire)
	if len(res.opened[b]) != 1 {
		t.Fatal("not delivered")
	}
	for _, w := range wire {
		got, err := b.Receive(context.Background(), w)
		if !errors.Is(err, e2e.ErrReplay) || len(got.Opened) != 0 {
			t.Fatalf("replay: %v %v", err, got)
		}
	}
	// The tunnel still works.
	res = pump(t, route, a, encrypt(t, a, msg(julietFull, romeoFull, "twice")))
	if len(res.errs) != 0 || len(res.opened[b]) != 1 {
		t.Fatalf("after replay: %v", res.errs)
	}
}

func TestTruncationAndGarbage(t *testing.T) {
	for i, mangle := range []func(string) string{
		func(s string) string { return s[:len(s)/2] },
		func(s string) string { return "" },
		func(s string) string { return "!!!!" + s },
		func(s string) string { return strings.Repeat("QUFB", len(s)/4) },
	} {
		a, b, _ := established(t, Options{})
		wire := encrypt(t, a, msg(julietFull, romeoFull, "secret"))
		var sawErr bool
		for _, w := range wire {
			w = w.Clone()
			if d := ibbChild(w); d != nil {
				d.SetText(mangle(d.Text()))
			}
			res, err := b.Receive(context.Background(), w)
			if len(res.Opened) != 0 {
				t.Fatalf("case %d: opened %v", i, res.Opened)
			}
			sawErr = sawErr || err != nil
		}
		if !sawErr {
			t.Fatalf("case %d: no error", i)
		}
	}
}

func TestWrongRecipient(t *testing.T) {
	a, b, _ := established(t, Options{})
	_ = b
	mer := testIdentity(t, "mercutio@capulet.lit")
	j := testIdentity(t, "juliet@capulet.lit")
	m, _ := newTestSession(t, Options{}, mercutioFull, mer, j.Public())
	for _, w := range encrypt(t, a, msg(julietFull, romeoFull, "for romeo only")) {
		w = w.Clone()
		w.To = mercutioFull
		res, err := m.Receive(context.Background(), w)
		if err == nil || len(res.Opened) != 0 {
			t.Fatalf("mercutio: %v %v", err, res.Opened)
		}
	}
}

func TestConcurrentPairs(t *testing.T) {
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for i := 0; i < 8; i++ {
		a, b := pair(t, Options{})
		route := map[*Session]*Session{a: b, b: a}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 5; k++ {
				m := msg(julietFull, romeoFull, fmt.Sprintf("pair %d msg %d", i, k))
				out, err := a.Encrypt(context.Background(), m)
				if err != nil {
					errc <- err
					return
				}
				res := pump(t, route, a, out)
				if len(res.errs) != 0 || len(res.opened[b]) != 1 || !res.opened[b][0].Equal(m) {
					errc <- fmt.Errorf("pair %d: %v", i, res.errs)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}
