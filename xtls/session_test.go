package xtls

import (
	"context"
	"crypto/tls"
	"errors"
	"math/rand"
	"strings"
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/xmpp/jid"
)

func TestHappyPath(t *testing.T) {
	for _, v := range []struct {
		name string
		opts Options
	}{
		{"tls13-ibb1", Options{}},
		{"tls12-ibb1", Options{MaxVersion: tls.VersionTLS12}},
		{"tls13-ibb0", Options{Transport: IBB0}},
		{"tls12-ibb0-stopwait", Options{MaxVersion: tls.VersionTLS12, Transport: IBB0, Window: 1, BlockSize: 100}},
	} {
		t.Run(v.name, func(t *testing.T) {
			a, b := pair(t, v.opts)
			route := map[*Session]*Session{a: b, b: a}
			m := msg(julietFull, romeoFull, "art thou not Romeo?")
			wire := encrypt(t, a, m)
			if len(wire) != 1 || jingleChild(wire[0]) == nil {
				t.Fatalf("first Encrypt: want one session-initiate, got %v", wire)
			}
			res := pump(t, route, a, wire)
			if len(res.errs) != 0 {
				t.Fatalf("errors: %v", res.errs)
			}
			got := res.opened[b]
			if len(got) != 1 || !got[0].Equal(m) {
				t.Fatalf("romeo opened %v, want %v", got, m)
			}
			sa, err := a.SAS(romeoFull)
			if err != nil {
				t.Fatal(err)
			}
			sb, err := b.SAS(julietFull)
			if err != nil {
				t.Fatal(err)
			}
			if sa != sb || len(sa) != 2*SASBytes {
				t.Fatalf("SAS %q vs %q", sa, sb)
			}
			cs, err := a.ConnectionState(romeoFull)
			if err != nil {
				t.Fatal(err)
			}
			want := uint16(tls.VersionTLS13)
			if v.opts.MaxVersion == tls.VersionTLS12 {
				want = tls.VersionTLS12
			}
			if cs.Version != want || cs.DidResume {
				t.Fatalf("version %x resumed %v", cs.Version, cs.DidResume)
			}
			// Back the other way, on the same tunnel.
			r := msg(romeoFull, julietFull, "<&>'\" ☃")
			wire = encrypt(t, b, r)
			for _, st := range wire {
				if jingleChild(st) != nil {
					t.Fatal("second direction started a new Jingle session")
				}
			}
			res = pump(t, route, b, wire)
			if len(res.errs) != 0 || len(res.opened[a]) != 1 || !res.opened[a][0].Equal(r) {
				t.Fatalf("juliet: %v %v", res.errs, res.opened[a])
			}
			// Teardown.
			out, err := a.Close(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var reason string
			for _, st := range out {
				if j := jingleChild(st); j != nil {
					pj, _ := parseJingle(j)
					reason = pj.Reason
				}
			}
			if reason != "success" {
				t.Fatalf("close reason %q", reason)
			}
			res = pump(t, route, a, out)
			if errs := res.errs[b]; len(errs) != 0 {
				t.Fatalf("romeo on teardown: %v", errs)
			}
			b.Close(context.Background())
			checkNoLeak(t)
		})
	}
}

func TestNoPlaintextOutsideTunnel(t *testing.T) {
	a, _ := pair(t, Options{})
	_, err := a.Receive(context.Background(), msg(romeoFull, julietFull, "hi"))
	if !errors.Is(err, e2e.ErrNotEncrypted) {
		t.Fatal(err)
	}
}

// TestSimultaneousInitiation: both sides Encrypt before either has heard
// from the other. Each accepts the other's session-initiate, so two tunnels
// come up; every held stanza arrives exactly once.
// TestSimultaneousInitiation: both sides send session-initiate before
// either sees the other's (XMPP delivers each direction in order, so each
// initiate arrives before any answer to the other). XEP-0166's tie-break
// keeps the one with the lower sid: its receiver accepts it, and the other
// gets <conflict/> with <tie-break/>. Each side's message goes through the
// one session, whichever side started it. The seeds cover both orders of
// the two sids.
func TestSimultaneousInitiation(t *testing.T) {
	j, r := testIdentity(t, "juliet@capulet.lit"), testIdentity(t, "romeo@montague.lit")
	mk := func(self jid.JID, id, peer *Identity, seed int64) *Session {
		s, err := newSession(Options{}.withDefaults(), e2e.Config{Local: id, JID: self, Peers: []e2e.Peer{peer.Public()},
			Rand: rand.New(rand.NewSource(seed))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close(context.Background()) })
		return s
	}
	seen := map[bool]bool{}
	for seed := int64(1); seed <= 16 && len(seen) < 2; seed++ {
		a, b := mk(julietFull, j, r, seed), mk(romeoFull, r, j, 1000+seed)
		route := map[*Session]*Session{a: b, b: a}
		ma := msg(julietFull, romeoFull, "from juliet")
		mb := msg(romeoFull, julietFull, "from romeo")
		wa := encrypt(t, a, ma)
		wb := encrypt(t, b, mb)
		julietWins := tunnelSID(t, a, romeoFull) < tunnelSID(t, b, julietFull)
		if seen[julietWins] {
			continue
		}
		seen[julietWins] = true
		// The two session-initiates cross.
		ra, erra := b.Receive(context.Background(), wa[0])
		rb, errb := a.Receive(context.Background(), wb[0])
		if erra != nil || errb != nil {
			t.Fatalf("crossing initiates: %v %v", erra, errb)
		}
		// The winner refuses the loser's session-initiate.
		loser, refusal := ra, "romeo"
		if julietWins {
			loser, refusal = rb, "juliet"
		}
		if len(loser.Replies) != 1 || errorCondition(loser.Replies[0]) != "conflict" || appCondition(loser.Replies[0]) != "tie-break" {
			t.Fatalf("%s's answer to the higher sid: %v", refusal, loser.Replies)
		}
		pa := pump(t, route, b, ra.Replies)
		pb := pump(t, route, a, rb.Replies)
		if len(pa.errs)+len(pb.errs) != 0 {
			t.Fatalf("errors %v %v", pa.errs, pb.errs)
		}
		gotB := append(pa.opened[b], pb.opened[b]...)
		gotA := append(pa.opened[a], pb.opened[a]...)
		if len(gotB) != 1 || !gotB[0].Equal(ma) || len(gotA) != 1 || !gotA[0].Equal(mb) {
			t.Fatalf("juliet got %v, romeo got %v", gotA, gotB)
		}
		for _, s := range []*Session{a, b} {
			s.s.mu.Lock()
			n := len(s.tunnels)
			s.s.mu.Unlock()
			if n != 1 {
				t.Fatalf("%d tunnels, want the one that won", n)
			}
		}
		// Later messages use the open tunnel.
		res := pump(t, route, a, encrypt(t, a, msg(julietFull, romeoFull, "again")))
		if len(res.errs) != 0 || len(res.opened[b]) != 1 {
			t.Fatalf("again: %v", res.errs)
		}
	}
	if len(seen) != 2 {
		t.Fatalf("the seeds covered only %v", seen)
	}
}

func TestJingleErrors(t *testing.T) {
	a, b := pair(t, Options{})
	// A Jingle action for a session nobody knows.
	j := &jingle{Action: "session-info", SID: "nope"}
	st := iqSet(romeoFull, julietFull, "u1", j.element())
	res, err := a.Receive(context.Background(), st)
	if !errors.Is(err, e2e.ErrMalformed) || len(res.Replies) != 1 || errorCondition(res.Replies[0]) != "item-not-found" ||
		res.Replies[0].Children[0].Child(nsJingleErrors, "unknown-session") == nil {
		t.Fatalf("unknown session: %v %v", err, res.Replies)
	}
	// The peer refuses our session-initiate with an IQ error: the session
	// ends, with no session-terminate of ours.
	out := encrypt(t, a, msg(julietFull, romeoFull, "hello?"))
	refusal := iqError(romeoFull, out[0], "cancel", "service-unavailable", nil)
	res, err = a.Receive(context.Background(), refusal)
	var te *TerminatedError
	if !errors.As(err, &te) || len(terminations(res.Replies)) != 0 {
		t.Fatalf("refused initiate: %v %v", err, res.Replies)
	}
	// A later message starts a new session.
	out = encrypt(t, a, msg(julietFull, romeoFull, "hello again"))
	if len(out) != 1 || action(out[0]) != "session-initiate" {
		t.Fatalf("no new session-initiate: %v", out)
	}
	res2 := pump(t, map[*Session]*Session{a: b, b: a}, a, out)
	if len(res2.errs) != 0 || len(res2.opened[b]) != 1 {
		t.Fatalf("%v", res2.errs)
	}
}

// TestAbandonedSessionEnds: a Session dropped without Close does not keep
// its tunnel goroutines once it is collected.
func TestAbandonedSessionEnds(t *testing.T) {
	func() {
		j, r := testIdentity(t, "juliet@capulet.lit"), testIdentity(t, "romeo@montague.lit")
		mk := func(self jid.JID, id *Identity, peer *Identity) *Session {
			s, err := newSession(Options{}.withDefaults(), e2e.Config{Local: id, JID: self, Peers: []e2e.Peer{peer.Public()}})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		a, b := mk(julietFull, j, r), mk(romeoFull, r, j)
		route := map[*Session]*Session{a: b, b: a}
		if res := pump(t, route, a, encrypt(t, a, msg(julietFull, romeoFull, "hi"))); len(res.opened[b]) != 1 {
			t.Fatal(res.errs)
		}
	}()
	checkNoLeak(t)
}

// TestMessageCarrier: <data/> in a <message/> (XEP-0047 stanza='message')
// is accepted and needs no reply.
func TestMessageCarrier(t *testing.T) {
	a, b, _ := established(t, Options{})
	m := msg(julietFull, romeoFull, "by message")
	var opened []*e2e.Stanza
	for _, st := range encrypt(t, a, m) {
		d := ibbChild(st)
		carrier := &e2e.Stanza{Kind: e2e.Message, From: st.From, To: st.To, ID: st.ID, Children: []*e2e.Element{d}}
		res, err := b.Receive(context.Background(), carrier)
		if err != nil || len(res.Replies) != 0 {
			t.Fatalf("%v %v", err, res.Replies)
		}
		opened = append(opened, res.Stanzas()...)
	}
	if len(opened) != 1 || !opened[0].Equal(m) {
		t.Fatalf("opened %v", opened)
	}
}

// TestStopAndWait: with Window 1, Encrypt hands out one <data/> IQ; each
// result releases the next.
func TestStopAndWait(t *testing.T) {
	a, b, _ := established(t, Options{Window: 1, BlockSize: 64})
	m := msg(julietFull, romeoFull, strings.Repeat("slowly ", 40))
	wire := encrypt(t, a, m)
	var opened []*e2e.Stanza
	for steps := 0; len(wire) > 0; steps++ {
		if len(wire) != 1 || steps > 100 {
			t.Fatalf("step %d: %d stanzas in flight", steps, len(wire))
		}
		res, err := b.Receive(context.Background(), wire[0])
		if err != nil || len(res.Replies) != 1 {
			t.Fatalf("%v %v", err, res.Replies)
		}
		opened = append(opened, res.Stanzas()...)
		back, err := a.Receive(context.Background(), res.Replies[0])
		if err != nil {
			t.Fatal(err)
		}
		wire = back.Replies
	}
	if len(opened) != 1 || !opened[0].Equal(m) {
		t.Fatalf("opened %v", opened)
	}
}

// On ibb:1 the initiator opens the bytestream: a responder refuses data on
// a bytestream that was never opened, and a second <open/>.
func TestDataBeforeOpen(t *testing.T) {
	a, b := pair(t, Options{})
	route := map[*Session]*Session{a: b, b: a}
	var toB []*e2e.Stanza
	var open *e2e.Stanza
	p := pumpWith(t, route, a, encrypt(t, a, msg(julietFull, romeoFull, "first")), func(to *Session, st *e2e.Stanza) *e2e.Stanza {
		if to == b {
			toB = append(toB, st.Clone())
			if st.Child(nsIBB, "open") != nil {
				open = st.Clone()
			}
		}
		return st
	})
	if len(p.opened[b]) != 1 || open == nil {
		t.Fatalf("romeo opened %d stanzas; errors %v", len(p.opened[b]), p.errs)
	}
	// A replayed <open/> is refused and changes nothing.
	res, err := b.Receive(context.Background(), open)
	if !errors.Is(err, e2e.ErrReplay) {
		t.Fatalf("second <open/>: %v, want a replay", err)
	}
	p = pump(t, route, b, res.Replies)
	p2 := pump(t, route, a, encrypt(t, a, msg(julietFull, romeoFull, "second")))
	if len(p.errs)+len(p2.errs) != 0 || len(p2.opened[b]) != 1 {
		t.Fatalf("after a replayed <open/>: errors %v %v, opened %d", p.errs, p2.errs, len(p2.opened[b]))
	}

	// The same initiator's stanzas without the <open/>, to a fresh romeo:
	// the first chunk is refused.
	_, b = pair(t, Options{})
	for _, st := range toB {
		if st.Child(nsIBB, "open") != nil {
			continue
		}
		res, err := b.Receive(context.Background(), st)
		if len(res.Opened) != 0 {
			t.Fatalf("romeo opened %v", res.Opened)
		}
		if st.Child(nsIBB, "data") != nil {
			var ibbErr *IBBError
			if !errors.As(err, &ibbErr) || ibbErr.Cond != "item-not-found" {
				t.Fatalf("data before <open/>: %v, want item-not-found", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("%v\n%s", err, st)
		}
	}
	t.Fatal("no data reached romeo")
}
