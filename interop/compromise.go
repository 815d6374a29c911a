package interop

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/xmpp/jid"
)

// attackerDevice lets a party talk through the malicious server under
// another party's address: what it sends the server injects, and the
// server hands it the stanzas addressed to the impersonated account.
type attackerDevice struct {
	net  Network
	addr jid.JID
	mu   sync.Mutex
	in   []*e2e.Stanza
}

func (d *attackerDevice) JID() jid.JID { return d.addr }

func (d *attackerDevice) Send(ctx context.Context, st *e2e.Stanza) error {
	c := st.Clone()
	c.From = d.addr
	return d.net.Inject(ctx, c)
}

func (d *attackerDevice) Drain() []*e2e.Stanza {
	d.mu.Lock()
	defer d.mu.Unlock()
	in := d.in
	d.in = nil
	return in
}

func (d *attackerDevice) Close(context.Context) error { return nil }

// divert is the hook that hands the attacker device every stanza addressed
// to its account.
func (d *attackerDevice) divert(r Record, st *e2e.Stanza) []*e2e.Stanza {
	if st.To.Bare().Equal(d.addr.Bare()) {
		d.mu.Lock()
		d.in = append(d.in, st)
		d.mu.Unlock()
		return nil
	}
	return []*e2e.Stanza{st}
}

func runForgery(e *env) (*result, error) {
	res := newResult()
	dev := &attackerDevice{net: e.net, addr: e.a.Juliet}
	e.net.SetHook(dev.divert)
	r, err := e.join("romeo", e.a.Romeo, LoginOptions{})
	if err != nil {
		return nil, err
	}
	m := &party{name: "mercutio", want: e.a.Mercutio, id: e.ids.mercutio, dev: dev, online: true,
		seedTag: []string{e.scheme.Name(), e.tr.scenario, "mercutio"}}
	cfg := e.sessionConfig(m, "session")
	cfg.JID = e.a.Juliet
	cfg.Peers = []e2e.Peer{e.ids.romeo.Public(), e.ids.juliet.Public()}
	if err := e.openSession(m, &cfg); err != nil {
		return nil, err
	}
	e.parties["mercutio"] = m
	e.tr.logf("mercutio speaks as %s through the malicious server, with his own keys", e.a.Juliet)
	st := e.message(m, r.dev.JID(), 0)
	st.From = e.a.Juliet
	if _, err := e.encrypt(m, st); err != nil {
		// The scheme binds the identity to its address: mercutio encrypts
		// as himself, and the server puts juliet's address on the wire.
		e.tr.logf("mercutio cannot encrypt as juliet (%s); he encrypts as himself and the server rewrites the sender", e2e.ClassOf(err))
		cfg := e.sessionConfig(m, "session-own")
		cfg.JID = e.a.Mercutio
		cfg.Peers = []e2e.Peer{e.ids.romeo.Public(), e.ids.juliet.Public()}
		if err := e.openSession(m, &cfg); err != nil {
			return nil, err
		}
		st = e.message(m, r.dev.JID(), 0)
		st.From = e.a.Mercutio
		if _, err := e.encrypt(m, st); err != nil {
			res.attack = "cannot-encrypt"
			res.detail = fmt.Sprintf("mercutio's session refused to encrypt: %s", e2e.ClassOf(err))
			res.facts["forged"] = "none"
			return res, nil
		}
	}
	if err := e.pump(); err != nil {
		return nil, err
	}
	o := r.openedBody(st.Body())
	switch {
	case o == nil:
		res.attack = "refused:" + classes(r.errs)
		res.facts["forged"] = "none"
		res.set(e2e.Authentication, e2e.Holds, "romeo refused the stanza mercutio made as juliet (%s)", classes(r.errs))
	case isSigner(e.ids, o.Opened, e.ids.juliet):
		res.attack = "opened-as-juliet"
		res.facts["forged"] = "juliet"
		res.set(e2e.Authentication, e2e.Fails, "a stanza mercutio made opened at romeo with juliet as signer")
	case o.Signer == nil:
		res.attack = "opened-unsigned"
		res.facts["forged"] = "unsigned"
		res.set(e2e.Authentication, e2e.Holds, "mercutio's stanza opened with no signer, so the receiver can tell it apart only if juliet's stanzas name her")
	default:
		res.attack = "opened-signed-by-" + signerName(e.ids, o.Signer)
		res.facts["forged"] = "other"
		res.set(e2e.Authentication, e2e.Holds, "mercutio's stanza opened naming %s (trusted %v), not juliet", signerName(e.ids, o.Signer), o.Trusted)
	}
	res.detail = res.attack
	return res, nil
}

// recorded returns the stanzas of the conversation between juliet and romeo
// as the malicious server recorded them, in order, with their recipient.
func recorded(a Addresses, tap []Record, after int, malicious string) []*e2e.Stanza {
	var out []*e2e.Stanza
	for _, r := range tap {
		if r.Seq < after || r.Server != malicious || r.Hop == "inject" {
			continue
		}
		st, err := e2e.Parse(r.Bytes)
		if err != nil {
			continue
		}
		fj, tj := st.From.Bare(), st.To.Bare()
		if (fj.Equal(a.Juliet.Bare()) && tj.Equal(a.Romeo.Bare())) || (fj.Equal(a.Romeo.Bare()) && tj.Equal(a.Juliet.Bare())) {
			out = append(out, st)
		}
	}
	return out
}

// judge gives recorded stanzas to fresh sessions holding the long-term
// identities and returns what they opened.
func (e *env) judge(recs []*e2e.Stanza, tag string, jAddr, rAddr jid.JID) (map[string][]e2e.Opened, error) {
	sess := map[string]e2e.Session{}
	for _, who := range []struct {
		name string
		id   e2e.Identity
		addr jid.JID
		peer e2e.Peer
	}{{"juliet", e.ids.juliet, jAddr, e.ids.romeo.Public()}, {"romeo", e.ids.romeo, rAddr, e.ids.juliet.Public()}} {
		clk := &stepClock{start: e.start}
		s, err := e.scheme.NewSession(e2e.Config{Local: who.id, JID: who.addr, Peers: []e2e.Peer{who.peer},
			Rand: seededReader(e.seed, e.scheme.Name(), e.tr.scenario, tag, who.name), Clock: clk.now})
		if err != nil {
			return nil, err
		}
		sess[who.name] = s
	}
	// The attacker drives the fresh sessions: where a recorded iq answers a
	// request, it is re-addressed to the id of the matching request the
	// fresh session made itself (the k-th request of a party in the record
	// is matched with the k-th request of its fresh session).
	party := func(j jid.JID) string {
		if j.Bare().Equal(e.a.Juliet.Bare()) {
			return "juliet"
		}
		return "romeo"
	}
	isReq := func(st *e2e.Stanza) bool { return st.Kind == e2e.IQ && (st.Type == "get" || st.Type == "set") }
	recReqs, ownReqs := map[string][]string{}, map[string][]string{}
	for _, st := range recs {
		if isReq(st) {
			recReqs[party(st.From)] = append(recReqs[party(st.From)], st.ID)
		}
	}
	out := map[string][]e2e.Opened{}
	for _, st := range recs {
		to := party(st.To)
		st = st.Clone()
		if st.Kind == e2e.IQ && (st.Type == "result" || st.Type == "error") {
			for k, id := range recReqs[to] {
				if id == st.ID && k < len(ownReqs[to]) {
					st.ID = ownReqs[to][k]
					break
				}
			}
		}
		res, err := sess[to].Receive(e.ctx, st)
		if err != nil {
			e.tr.logf("attacker as %s: %s from the record: %s", to, st.Kind, e2e.ClassOf(err))
			continue
		}
		for _, r := range res.Replies {
			if isReq(r) {
				ownReqs[to] = append(ownReqs[to], r.ID)
			}
		}
		for _, o := range res.Opened {
			e.tr.logf("attacker as %s OPENED (signer %s): %s", to, signerName(e.ids, o.Signer), abbreviate(o.Stanza.String(), 300))
			out[to] = append(out[to], o)
		}
	}
	return out, nil
}

func runKeyCompromise(e *env) (*result, error) {
	res := newResult()
	j, r, err := e.pair()
	if err != nil {
		return nil, err
	}
	var sent []*e2e.Stanza
	for i := 0; i < 2; i++ {
		for _, d := range [][2]*party{{j, r}, {r, j}} {
			st := e.message(d[0], d[1].dev.JID(), 0)
			if _, err := e.exchange(d[0], d[1], st); err != nil && !isSessionError(err) {
				return nil, err
			}
			sent = append(sent, st)
		}
	}
	for _, p := range []*party{j, r} {
		if out, err := p.sess.Close(e.ctx); err == nil {
			for _, st := range out {
				p.dev.Send(e.ctx, st)
			}
		}
	}
	if err := e.pump(); err != nil {
		return nil, err
	}
	recs := recorded(e.a, e.net.Wiretap(), 0, e.net.Malicious())
	e.tr.logf("the sessions are over; the attacker holds both long-term identities and %d recorded stanzas", len(recs))
	got, err := e.judge(recs, "attacker", j.dev.JID(), r.dev.JID())
	if err != nil {
		return nil, err
	}
	bodies := map[string]string{}
	for _, st := range sent {
		bodies[st.Body()] = st.From.Bare().String()
	}
	leaked, signed, opened := 0, 0, 0
	for _, os := range got {
		for _, o := range os {
			if o.Stanza == nil {
				continue
			}
			from, ok := bodies[o.Stanza.Body()]
			if !ok {
				continue
			}
			leaked++
			opened++
			if o.Signer != nil && (from == e.a.Juliet.Bare().String() && isSigner(e.ids, o, e.ids.juliet) ||
				from == e.a.Romeo.Bare().String() && isSigner(e.ids, o, e.ids.romeo)) {
				signed++
			}
		}
	}
	res.facts["judge-opened"] = opened
	res.facts["judge-signed"] = signed
	if leaked > 0 {
		res.attack = "recorded-traffic-opened"
		res.set(e2e.ForwardSecrecy, e2e.Fails, "with the long-term keys the attacker opened %d of %d recorded messages", leaked, len(sent))
	} else {
		res.attack = "recorded-traffic-safe"
		res.set(e2e.ForwardSecrecy, e2e.Holds, "fresh sessions holding both long-term identities opened none of the %d recorded stanzas", len(recs))
	}
	res.detail = fmt.Sprintf("%d recorded stanzas; %d messages opened, %d of them verify as signed by their sender", len(recs), leaked, signed)
	return res, nil
}

// switchReader reads from a until switched, then from b: the clone of a
// session shares its past randomness but not its future.
type switchReader struct {
	a, b     io.Reader
	switched atomic.Bool
}

func (s *switchReader) Read(p []byte) (int, error) {
	if s.switched.Load() {
		return s.b.Read(p)
	}
	return s.a.Read(p)
}

func runPostCompromise(e *env) (*result, error) {
	res := newResult()
	j, r, err := e.pair()
	if err != nil {
		return nil, err
	}
	if err := e.warmup(j, r); err != nil {
		return nil, err
	}
	// The compromise: the attacker rebuilds romeo's state by running a
	// session with the same identity, randomness and clock through every
	// input romeo's session has had.
	sw := &switchReader{a: seededReader(e.seed, append(append([]string(nil), r.seedTag...), "session")...),
		b: seededReader(e.seed, e.scheme.Name(), e.tr.scenario, "attacker-fresh")}
	clk := &stepClock{start: e.start}
	cfg := r.cfg
	cfg.Rand, cfg.Clock = sw, clk.now
	clone, err := e.scheme.NewSession(cfg)
	if err != nil {
		return nil, err
	}
	for _, c := range r.calls {
		switch {
		case c.encrypt:
			clone.Encrypt(e.ctx, c.st.Clone())
		case c.sign:
			clone.Sign(e.ctx, c.st.Clone())
		default:
			clone.Receive(e.ctx, c.st.Clone())
		}
	}
	sw.switched.Store(true)
	e.tr.logf("compromise: the attacker replayed romeo's %d session inputs into a copy of his session", len(r.calls))
	mark := len(e.net.Wiretap())
	m3 := e.message(j, r.dev.JID(), 0)
	if _, err := e.exchange(j, r, m3); err != nil && !isSessionError(err) {
		return nil, err
	}
	var last *e2e.Stanza
	for i := 0; i < 2; i++ {
		if _, err := e.exchange(r, j, e.message(r, j.dev.JID(), 0)); err != nil && !isSessionError(err) {
			return nil, err
		}
		last = e.message(j, r.dev.JID(), 0)
		if _, err := e.exchange(j, r, last); err != nil && !isSessionError(err) {
			return nil, err
		}
	}
	if r.openedBody(last.Body()) == nil {
		return nil, fmt.Errorf("the conversation broke down after the compromise")
	}
	var toRomeo []*e2e.Stanza
	for _, st := range recorded(e.a, e.net.Wiretap(), mark, e.net.Malicious()) {
		if st.To.Bare().Equal(e.a.Romeo.Bare()) {
			toRomeo = append(toRomeo, st)
		}
	}
	openedM3, openedLast := false, false
	for _, st := range toRomeo {
		got, err := clone.Receive(e.ctx, st.Clone())
		if err != nil {
			e.tr.logf("attacker's copy: %s", e2e.ClassOf(err))
			continue
		}
		for _, o := range got.Opened {
			if o.Stanza == nil {
				continue
			}
			e.tr.logf("attacker's copy OPENED %s", abbreviate(o.Stanza.String(), 200))
			switch o.Stanza.Body() {
			case m3.Body():
				openedM3 = true
			case last.Body():
				openedLast = true
			}
		}
	}
	switch {
	case openedM3 && openedLast:
		res.attack = "no-recovery"
		res.set(e2e.BackwardSecrecy, e2e.Fails, "with romeo's state the attacker still reads juliet's message after two more round trips")
	case openedM3:
		res.attack = "recovered"
		res.set(e2e.BackwardSecrecy, e2e.Holds, "the attacker's copy read the next message but not the one after two round trips: the keys recovered")
	default:
		// The copy holds no usable state: the scheme's secrets do not come
		// from Config.Rand alone. Fall back to the long-term keys.
		got, err := e.judge(toRomeo, "attacker-longterm", j.dev.JID(), r.dev.JID())
		if err != nil {
			return nil, err
		}
		lt := false
		for _, o := range got["romeo"] {
			if o.Stanza != nil && o.Stanza.Body() == last.Body() {
				lt = true
			}
		}
		if lt {
			res.attack = "no-recovery"
			res.set(e2e.BackwardSecrecy, e2e.Fails, "the long-term keys alone open the traffic after the compromise")
		} else {
			res.attack = "state-not-captured"
			res.set(e2e.BackwardSecrecy, e2e.Partial, "the session's secrets are not reproducible from Config.Rand, so its state could not be captured through the interface; the long-term keys alone do not open later traffic")
		}
	}
	res.detail = fmt.Sprintf("%s: copy opened the next message %v, the message after two round trips %v", res.attack, openedM3, openedLast)
	return res, nil
}
