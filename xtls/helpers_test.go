package xtls

import (
	"context"
	"fmt"
	"math/rand"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/e2e/e2etest"
	"mellium.im/xmpp/jid"
)

var (
	julietFull   = jid.MustParse("juliet@capulet.lit/balcony")
	romeoFull    = jid.MustParse("romeo@montague.lit/orchard")
	mercutioFull = jid.MustParse("mercutio@capulet.lit/tomb")
)

var idOnce sync.Once
var ids map[string]*Identity

// testIdentity returns a reproducible identity for a bare JID.
func testIdentity(t testing.TB, bare string) *Identity {
	idOnce.Do(func() {
		ids = make(map[string]*Identity)
		for i, b := range []string{"juliet@capulet.lit", "romeo@montague.lit", "mercutio@capulet.lit"} {
			id, err := generateIdentity(context.Background(), jid.MustParse(b), rand.New(rand.NewSource(int64(i+1))))
			if err != nil {
				panic(err)
			}
			ids[b] = id
		}
	})
	id, ok := ids[bare]
	if !ok {
		t.Fatalf("no test identity %s", bare)
	}
	return id
}

type clock = e2etest.ManualClock

func newTestSession(t testing.TB, opts Options, self jid.JID, local *Identity, peers ...e2e.Peer) (*Session, *clock) {
	t.Helper()
	clk := e2etest.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s, err := newSession(opts.withDefaults(), e2e.Config{Local: local, JID: self, Peers: peers,
		Rand: rand.New(rand.NewSource(seedOf(self.String()))), Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s, clk
}

// pair makes juliet (a) and romeo (b), each pinning the other.
func pair(t testing.TB, opts Options) (a, b *Session) {
	t.Helper()
	j, r := testIdentity(t, "juliet@capulet.lit"), testIdentity(t, "romeo@montague.lit")
	a, _ = newTestSession(t, opts, julietFull, j, r.Public())
	b, _ = newTestSession(t, opts, romeoFull, r, j.Public())
	return a, b
}

type delivery struct {
	to *Session
	st *e2e.Stanza
}

// result of a pump: what each side opened and the errors it reported.
type pumped struct {
	opened map[*Session][]*e2e.Stanza
	errs   map[*Session][]error
	wire   []*e2e.Stanza // every stanza that went over the wire
}

// pump delivers wire (sent by from) to the other side and every reply back
// and forth until nothing is left. route maps a session to its peer.
func pump(t testing.TB, route map[*Session]*Session, from *Session, wire []*e2e.Stanza) pumped {
	t.Helper()
	return pumpWith(t, route, from, wire, nil)
}

// pumpWith is pump with a hook that may rewrite (or drop, returning nil)
// each stanza before delivery.
func pumpWith(t testing.TB, route map[*Session]*Session, from *Session, wire []*e2e.Stanza, hook func(to *Session, st *e2e.Stanza) *e2e.Stanza) pumped {
	t.Helper()
	res := pumped{opened: map[*Session][]*e2e.Stanza{}, errs: map[*Session][]error{}}
	var q []delivery
	for _, st := range wire {
		q = append(q, delivery{route[from], st})
	}
	for n := 0; len(q) > 0; n++ {
		if n > 100000 {
			t.Fatal("pump: no end")
		}
		d := q[0]
		q = q[1:]
		if hook != nil {
			if d.st = hook(d.to, d.st.Clone()); d.st == nil {
				continue
			}
		}
		res.wire = append(res.wire, d.st)
		// Each delivery goes through serialization, as on a real stream.
		st, err := e2e.Parse(d.st.Bytes())
		if err != nil {
			t.Fatalf("pump: our own stanza does not parse: %v\n%s", err, d.st)
		}
		got, err := d.to.Receive(context.Background(), st)
		if err != nil {
			res.errs[d.to] = append(res.errs[d.to], err)
		}
		res.opened[d.to] = append(res.opened[d.to], got.Stanzas()...)
		for _, r := range got.Replies {
			q = append(q, delivery{route[d.to], r})
		}
	}
	return res
}

func msg(from, to jid.JID, body string) *e2e.Stanza {
	st := &e2e.Stanza{Kind: e2e.Message, From: from, To: to, Type: "chat", ID: "m1"}
	st.SetBody(body)
	return st
}

func encrypt(t testing.TB, s *Session, st *e2e.Stanza) []*e2e.Stanza {
	t.Helper()
	out, err := s.Encrypt(context.Background(), st)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	return out
}

// checkNoLeak fails when goroutines of this package outlive the test. The
// sessions must have been closed; the runtime may need a moment to retire
// exited goroutines, so the check polls for a bounded time.
func checkNoLeak(t testing.TB) {
	t.Helper()
	var stacks string
	for i := 0; i < 200; i++ {
		// Sessions other tests dropped without Close end when collected.
		runtime.GC()
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		if leaked(stacks) == "" {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("goroutines leaked:\n%s", leaked(stacks))
}

func leaked(stacks string) string {
	var out []string
	for _, g := range strings.Split(stacks, "\n\n") {
		if strings.Contains(g, "xmppe2e/xtls.(*tunnel).run") || strings.Contains(g, "xmppe2e/xtls.(*sched)") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

var _ = fmt.Sprint

func seedOf(s string) int64 {
	var h int64 = 1469598103934665603
	for i := 0; i < len(s); i++ {
		h = (h ^ int64(s[i])) * 1099511628211
	}
	return h
}
