package e2etest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/internal/mutate"
	"mellium.im/xmpp/jid"
)

// An Option changes how TestScheme runs.
type Option func(*options)

type options struct {
	ids     [3]e2e.Identity
	seed    uint64
	flips   int
	pairs   int
	timeout time.Duration
}

// WithIdentities gives the battery ready identities for juliet@capulet.lit,
// romeo@montague.lit and mercutio@capulet.lit instead of generating them: for
// schemes whose key generation is slow, or whose identities must come from a
// certificate authority.
func WithIdentities(juliet, romeo, mercutio e2e.Identity) Option {
	return func(o *options) { o.ids = [3]e2e.Identity{juliet, romeo, mercutio} }
}

// WithSeed sets the seed of every random choice and every Config.Rand.
func WithSeed(seed uint64) Option { return func(o *options) { o.seed = seed } }

// WithFlips sets how many positions of the protected payload the tamper test
// changes (default 64; every position when the payload has fewer).
func WithFlips(n int) Option { return func(o *options) { o.flips = n } }

// WithConcurrentPairs sets how many session pairs run at once in the
// concurrency test (default 8).
func WithConcurrentPairs(n int) Option { return func(o *options) { o.pairs = n } }

// WithTimeout bounds each subtest (default 2 minutes).
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// T is the part of *testing.T the battery uses. TestScheme passes a
// *testing.T; the kit's own tests pass a recorder, to show that the battery
// fails broken schemes.
type T interface {
	Helper()
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Run(name string, f func(T)) bool
}

type testingT struct{ *testing.T }

func (t testingT) Run(name string, f func(T)) bool {
	return t.T.Run(name, func(t *testing.T) { f(testingT{t}) })
}

// TestScheme runs the conformance battery against s: round trips both ways,
// tampering, wrong recipients, truncation, garbage, replays, signatures,
// plaintext refusal, key formats and concurrent sessions. Every codec's tests
// call it:
//
//	func TestConformance(t *testing.T) { e2etest.TestScheme(t, openpgp.Scheme) }
//
// Where a scheme's Claims deny a property, the battery checks that the
// property indeed fails (a replay is accepted, say), so claims are tested
// both ways.
func TestScheme(t *testing.T, s e2e.Scheme, opts ...Option) {
	t.Helper()
	run(testingT{t}, s, opts...)
}

// kit holds what every subtest shares.
type kit struct {
	s      e2e.Scheme
	o      options
	claims e2e.Properties
	ids    [3]e2e.Identity // juliet, romeo, mercutio
	n      int             // sessions made, for distinct random streams
	mu     sync.Mutex
}

func run(t T, s e2e.Scheme, opts ...Option) {
	t.Helper()
	o := options{seed: 1, flips: 64, pairs: 8, timeout: 2 * time.Minute}
	for _, f := range opts {
		f(&o)
	}
	k := &kit{s: s, o: o, claims: s.Claims()}
	t.Run("Metadata", k.testMetadata)
	if !k.identities(t) {
		return
	}
	t.Run("KeyFormats", k.testKeyFormats)
	t.Run("RoundTrip", k.testRoundTrip)
	t.Run("OtherStanzas", k.testOtherStanzas)
	t.Run("Confidentiality", k.testConfidentiality)
	t.Run("Tamper", k.testTamper)
	t.Run("WrongRecipient", k.testWrongRecipient)
	t.Run("Truncation", k.testTruncation)
	t.Run("Garbage", k.testGarbage)
	t.Run("Replay", k.testReplay)
	t.Run("Sign", k.testSign)
	t.Run("Plaintext", k.testPlaintext)
	t.Run("Concurrent", k.testConcurrent)
}

func (k *kit) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), k.o.timeout)
}

func (k *kit) testMetadata(t T) {
	if n := k.s.Name(); n == "" || strings.ToLower(n) != n || strings.ContainsAny(n, " \t") {
		t.Errorf("Name() = %q: want a short lower-case word", n)
	}
	if k.s.Spec() == "" {
		t.Errorf("Spec() is empty")
	}
	for _, p := range e2e.AllProperties {
		l, ok := k.claims[p]
		if !ok {
			t.Errorf("Claims() says nothing about %s", p)
			continue
		}
		if _, err := e2e.ParseLevel(string(l)); err != nil {
			t.Errorf("Claims()[%s]: %v", p, err)
		}
	}
}

func (k *kit) identities(t T) bool {
	t.Helper()
	if k.o.ids[0] != nil {
		k.ids = k.o.ids
		return true
	}
	ctx, cancel := k.ctx()
	defer cancel()
	for i, addr := range []jid.JID{Juliet, Romeo, Mercutio} {
		id, err := k.s.GenerateIdentity(ctx, addr.Bare(), Rand(k.o.seed, "identity/"+addr.String()))
		if err != nil {
			t.Errorf("GenerateIdentity(%s): %v", addr.Bare(), err)
			return false
		}
		if !id.JID().Equal(addr.Bare()) {
			t.Errorf("GenerateIdentity(%s) made an identity for %s", addr.Bare(), id.JID())
		}
		k.ids[i] = id
	}
	return true
}

// session opens a session for party i (0 juliet, 1 romeo, 2 mercutio) that
// knows the public keys of the parties in peers.
func (k *kit) session(t T, i int, peers ...int) e2e.Session {
	t.Helper()
	k.mu.Lock()
	k.n++
	label := fmt.Sprintf("session/%d", k.n)
	k.mu.Unlock()
	cfg := e2e.Config{
		Local: k.ids[i],
		JID:   []jid.JID{Juliet, Romeo, Mercutio}[i],
		Rand:  Rand(k.o.seed, label),
		Clock: Clock(),
	}
	for _, p := range peers {
		cfg.Peers = append(cfg.Peers, k.ids[p].Public())
	}
	s, err := k.s.NewSession(cfg)
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	return s
}

// pair opens juliet's and romeo's sessions, each knowing the other.
func (k *kit) pair(t T) (juliet, romeo e2e.Session) {
	t.Helper()
	return k.session(t, 0, 1), k.session(t, 1, 0)
}

func message(from, to jid.JID, id, body string) *e2e.Stanza {
	st := &e2e.Stanza{Kind: e2e.Message, From: from, To: to, ID: id, Type: "chat"}
	st.SetBody(body)
	return st
}

const extNS = "urn:xmppe2e:test:extension"

// withExtension adds an extension element holding a secret.
func withExtension(st *e2e.Stanza, secret string) *e2e.Stanza {
	st.Children = append(st.Children, e2e.NewElement(extNS, "x", secret))
	return st
}

// sameContent reports whether opened carries the content of sent that the
// scheme protects: the body always, the other children when the scheme
// claims whole-stanza protection.
func (k *kit) sameContent(sent, opened *e2e.Stanza) bool {
	if opened.Kind != sent.Kind || opened.Body() != sent.Body() {
		return false
	}
	return k.claims[e2e.WholeStanza] != e2e.Holds || hasChildren(opened, sent)
}

// hasChildren reports whether every child of want is in got, unchanged.
func hasChildren(got, want *e2e.Stanza) bool {
	for _, c := range want.Children {
		found := false
		for _, d := range got.Children {
			if c.Equal(d) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// exchange sends st from a to b and checks that exactly it opens, encrypted,
// attributed to the sender where the scheme claims authentication.
func (k *kit) exchange(t T, a, b e2e.Session, sender int, st *e2e.Stanza) (Result, bool) {
	t.Helper()
	ctx, cancel := k.ctx()
	defer cancel()
	res, err := Send(ctx, a, b, st)
	if err != nil {
		t.Errorf("%s %s: %v", st.Kind, describe(st), err)
		return res, false
	}
	if len(res.Opened) != 1 {
		t.Errorf("%s %s: %d stanzas opened, want 1", st.Kind, describe(st), len(res.Opened))
		return res, false
	}
	o := res.Opened[0]
	ok := true
	if o.Stanza == nil || !k.sameContent(st, o.Stanza) {
		t.Errorf("%s %s: opened %v, want the content of %v", st.Kind, describe(st), o.Stanza, st)
		ok = false
	}
	if !o.Encrypted {
		t.Errorf("%s %s: Opened.Encrypted is false", st.Kind, describe(st))
		ok = false
	}
	if k.claims[e2e.Authentication] == e2e.Holds {
		want := k.ids[sender].Public().Fingerprint()
		if o.Signer == nil || o.Signer.Fingerprint() != want {
			t.Errorf("%s %s: Signer %v, want the sender's key %s (the scheme claims authentication)", st.Kind, describe(st), o.Signer, want)
			ok = false
		}
	}
	return res, ok
}

func describe(st *e2e.Stanza) string {
	b := st.Body()
	if len(b) > 24 {
		return fmt.Sprintf("with a %d-byte body", len(b))
	}
	return fmt.Sprintf("with body %q", b)
}

func (k *kit) testKeyFormats(t T) {
	for i, id := range k.ids {
		b, err := id.Marshal()
		if err != nil {
			t.Errorf("Identity.Marshal: %v", err)
			continue
		}
		id2, err := k.s.ParseIdentity(b)
		if err != nil {
			t.Errorf("ParseIdentity(Marshal()) of identity %d: %v", i, err)
			continue
		}
		if id2.Public().Fingerprint() != id.Public().Fingerprint() || !id2.JID().Equal(id.JID()) {
			t.Errorf("identity round trip changed the key or JID")
		}
		pb, err := id.Public().Marshal()
		if err != nil {
			t.Errorf("Peer.Marshal: %v", err)
			continue
		}
		p, err := k.s.ParsePeer(pb)
		if err != nil {
			t.Errorf("ParsePeer(Marshal()): %v", err)
			continue
		}
		if p.Fingerprint() != id.Public().Fingerprint() || !p.JID().Equal(id.Public().JID()) {
			t.Errorf("peer round trip changed the key or JID")
		}
	}
	r := rand.New(rand.NewPCG(k.o.seed, 2))
	for _, in := range [][]byte{nil, []byte("garbage"), []byte("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nAAAA\n"), randomBytes(r, 300)} {
		if _, err := k.s.ParseIdentity(in); err == nil {
			t.Errorf("ParseIdentity(%q) succeeded", truncate(in))
		}
		if _, err := k.s.ParsePeer(in); err == nil {
			t.Errorf("ParsePeer(%q) succeeded", truncate(in))
		}
	}
	// A truncated key must be an error too.
	if b, err := k.ids[0].Marshal(); err == nil && len(b) > 8 {
		if _, err := k.s.ParseIdentity(b[:len(b)/2]); err == nil {
			t.Errorf("ParseIdentity of half an identity succeeded")
		}
	}
}

func truncate(b []byte) []byte {
	if len(b) > 20 {
		return b[:20]
	}
	return b
}

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// Bodies are the message bodies of the round-trip test.
var Bodies = map[string]string{
	"ASCII":    "But soft, what light through yonder window breaks?",
	"UTF-8":    "Wherefore art thou — ¿qué? 日本語, Ελληνικά, 🌹 Ω",
	"XML":      `<b>&amp; "double" 'single' </b> & < > ]]> <!-- -->`,
	"Empty":    "",
	"64KiB":    longBody(64 << 10),
	"Newlines": "line one\nline two\r\nline three\r\n\ttabbed",
}

func longBody(n int) string {
	const words = "thy drugs are quick thus with a kiss I die "
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(words)
	}
	return b.String()[:n]
}

func (k *kit) testRoundTrip(t T) {
	j, r := k.pair(t)
	for _, name := range []string{"ASCII", "UTF-8", "XML", "Empty", "Newlines", "64KiB"} {
		body := Bodies[name]
		t.Run(name, func(t T) {
			k.exchange(t, j, r, 0, message(Juliet, Romeo, "j-"+name, body))
			k.exchange(t, r, j, 1, message(Romeo, Juliet, "r-"+name, body))
		})
	}
	t.Run("Extension", func(t T) {
		st := withExtension(message(Juliet, Romeo, "ext", "with an extension"), "extension secret")
		res, ok := k.exchange(t, j, r, 0, st)
		if ok && k.claims[e2e.WholeStanza] == e2e.Holds && res.Opened[0].Stanza.Child(extNS, "x") == nil {
			t.Errorf("the scheme claims whole-stanza protection but the extension element did not arrive")
		}
	})
	t.Run("Close", func(t T) {
		ctx, cancel := k.ctx()
		defer cancel()
		bye, err := j.Close(ctx)
		if err != nil {
			t.Errorf("Close: %v", err)
		}
		res, err := Deliver(ctx, j, r, bye)
		if err != nil {
			t.Errorf("delivering Close's stanzas: %v", err)
		}
		if len(res.Opened) != 0 {
			t.Errorf("Close's stanzas opened %d stanzas", len(res.Opened))
		}
		if _, err := r.Close(ctx); err != nil {
			t.Errorf("Close of the other side: %v", err)
		}
	})
}

func (k *kit) testOtherStanzas(t T) {
	j, r := k.pair(t)
	pres := &e2e.Stanza{Kind: e2e.Presence, From: Juliet, To: Romeo}
	pres.Children = []*e2e.Element{e2e.NewElement(e2e.NSClient, "status", "on the balcony")}
	iq := &e2e.Stanza{Kind: e2e.IQ, From: Juliet, To: Romeo, ID: "iq1", Type: "get"}
	iq.Children = []*e2e.Element{e2e.NewElement("jabber:iq:version", "query", "")}
	for _, st := range []*e2e.Stanza{pres, iq} {
		t.Run(string(st.Kind), func(t T) {
			ctx, cancel := k.ctx()
			defer cancel()
			wire, err := j.Encrypt(ctx, st.Clone())
			if errors.Is(err, e2e.ErrUnsupported) {
				t.Logf("Encrypt(%s): %v (the scheme does not cover it)", st.Kind, err)
				return
			}
			if err != nil {
				t.Errorf("Encrypt(%s): %v", st.Kind, err)
				return
			}
			res, err := Deliver(ctx, j, r, wire)
			if err != nil {
				t.Errorf("%s: %v", st.Kind, err)
				return
			}
			if len(res.Opened) != 1 || res.Opened[0].Stanza.Kind != st.Kind || !res.Opened[0].Encrypted {
				t.Errorf("%s: opened %+v", st.Kind, res.Opened)
				return
			}
			got := res.Opened[0].Stanza
			for _, c := range st.Children {
				if got.Child(c.Name.Space, c.Name.Local) == nil || !got.Child(c.Name.Space, c.Name.Local).Equal(c) {
					t.Errorf("%s: child <%s xmlns='%s'/> did not arrive intact: %v", st.Kind, c.Name.Local, c.Name.Space, got)
				}
			}
		})
	}
}

// wireText returns every stanza of the wire as one string.
func wireText(wire []*e2e.Stanza) string {
	var b strings.Builder
	for _, w := range wire {
		b.Write(w.Bytes())
	}
	return b.String()
}

func (k *kit) testConfidentiality(t T) {
	j, r := k.pair(t)
	const body, secret = "meet me at the friar's cell at noon", "the ring is in the ext"
	st := withExtension(message(Juliet, Romeo, "conf", body), secret)
	res, ok := k.exchange(t, j, r, 0, st)
	if !ok {
		return
	}
	var all []*e2e.Stanza
	for _, h := range res.Wire {
		all = append(all, h.Stanza)
	}
	seen := wireText(all)
	if strings.Contains(seen, body) {
		t.Errorf("the body appears in the clear on the wire")
	}
	leak := strings.Contains(seen, secret)
	switch {
	case k.claims[e2e.WholeStanza] == e2e.Holds && leak:
		t.Errorf("the scheme claims whole-stanza protection but the extension's content is on the wire")
	case k.claims[e2e.WholeStanza] == e2e.Fails && !leak:
		t.Logf("the extension element was not sent in the clear, though whole-stanza protection is claimed to fail")
	}
}

// attack delivers a mutated wire to the receiver of a fresh, warmed-up pair
// and checks the outcome: an error of a known class or protocol replies,
// never changed plaintext and never silence.
type attackOutcome struct {
	err     error
	opened  []e2e.Opened
	replies bool
}

// freshTarget opens a pair, warms it up with one exchange (so handshakes and
// key requests are done), and returns it with the wire of the target stanza.
func (k *kit) freshTarget(t T, st *e2e.Stanza) (j, r e2e.Session, wire []*e2e.Stanza, ok bool) {
	t.Helper()
	j, r = k.pair(t)
	if _, ok := k.exchange(t, j, r, 0, message(Juliet, Romeo, "warm-up", "warm-up message")); !ok {
		return nil, nil, nil, false
	}
	ctx, cancel := k.ctx()
	defer cancel()
	wire, err := j.Encrypt(ctx, st.Clone())
	if err != nil {
		t.Errorf("Encrypt: %v", err)
		return nil, nil, nil, false
	}
	if len(wire) == 0 {
		t.Errorf("Encrypt on an established session returned no stanza")
		return nil, nil, nil, false
	}
	return j, r, wire, true
}

// inject delivers wire (one stanza changed) from j to r, pumping whatever
// protocol traffic follows, and gathers the outcome.
func (k *kit) inject(j, r e2e.Session, wire []*e2e.Stanza) attackOutcome {
	ctx, cancel := k.ctx()
	defer cancel()
	res := pump(ctx, j, r, wire, true)
	out := attackOutcome{opened: append(res.Opened, res.Back...)}
	for _, h := range res.Wire {
		if !h.ToReceiver {
			out.replies = true
		}
	}
	if len(res.Errors) > 0 {
		out.err = res.Errors[0]
		for _, e := range res.Errors {
			if isKitFailure(e) {
				out.err = e
			}
		}
	}
	return out
}

// judge checks an attack outcome; what says what was done.
func (k *kit) judge(t T, what string, sent *e2e.Stanza, o attackOutcome) {
	t.Helper()
	if o.err != nil && isKitFailure(o.err) {
		t.Errorf("%s: %v", what, o.err)
		return
	}
	for _, op := range o.opened {
		if op.Stanza == nil || !k.sameContent(sent, op.Stanza) {
			if k.claims[e2e.Integrity] == e2e.Holds {
				t.Errorf("%s: changed plaintext was accepted (%v), though the scheme claims integrity", what, op.Stanza)
			} else {
				t.Logf("%s: changed plaintext accepted; the scheme does not claim integrity", what)
			}
			return
		}
	}
	if o.err != nil {
		switch e2e.ClassOf(o.err) {
		case "other", "unsupported":
			t.Errorf("%s: error outside the e2e classes: %v", what, o.err)
		}
		return
	}
	if len(o.opened) == 0 && !o.replies {
		t.Errorf("%s: no error, nothing opened and no reply: the stanza was silently dropped", what)
	}
}

func (k *kit) tamperTarget() *e2e.Stanza {
	return withExtension(message(Juliet, Romeo, "target", "the target of the tamper test, forty-odd bytes"), "ext")
}

func (k *kit) testTamper(t T) {
	st := k.tamperTarget()
	_, _, wire, ok := k.freshTarget(t, st)
	if !ok {
		return
	}
	regs := mutate.Regions(st, wire)
	if len(regs) == 0 {
		t.Errorf("the wire stanzas carry no text outside the plaintext: nothing is protected")
		return
	}
	r := rand.New(rand.NewPCG(k.o.seed, 3))
	pos := mutate.Positions(regs, k.o.flips, r)
	t.Logf("%d payload regions, %d positions changed", len(regs), len(pos))
	for _, p := range pos {
		// A fresh pair for each change, so that a session scheme whose state
		// the previous change broke still meets each change as its first.
		j, rs, wire, ok := k.freshTarget(t, st)
		if !ok {
			return
		}
		regs := mutate.Regions(st, wire)
		if p.Region >= len(regs) || p.Index >= len(regs[p.Region].Text) {
			continue // this wire came out shorter; the position does not exist
		}
		rg := regs[p.Region]
		v, ok := mutate.Flip(rg.Text, p.Index)
		if !ok {
			continue
		}
		bad := rg.With(wire, v)
		k.judge(t, fmt.Sprintf("change at %d of region %d (%.16q…)", p.Index, p.Region, rg.Text), st, k.inject(j, rs, bad))
	}
}

func (k *kit) testWrongRecipient(t T) {
	st := k.tamperTarget()
	j, _, wire, ok := k.freshTarget(t, st)
	if !ok {
		return
	}
	// Mercutio knows juliet's public key but was not a recipient.
	m := k.session(t, 2, 0)
	forwarded := mutate.Clone(wire)
	for _, w := range forwarded {
		w.To = Mercutio
	}
	o := k.inject(j, m, forwarded)
	if len(o.opened) > 0 {
		t.Errorf("a party that was not a recipient opened %d stanzas", len(o.opened))
		return
	}
	k.judge(t, "delivered to mercutio", st, o)
}

func (k *kit) testTruncation(t T) {
	st := k.tamperTarget()
	_, _, wire, ok := k.freshTarget(t, st)
	if !ok {
		return
	}
	for ri := range mutate.Regions(st, wire) {
		j, r, wire, ok := k.freshTarget(t, st)
		if !ok {
			return
		}
		regs := mutate.Regions(st, wire)
		if ri >= len(regs) {
			continue
		}
		rg := regs[ri]
		bad := rg.With(wire, rg.Text[:len(rg.Text)/2])
		k.judge(t, fmt.Sprintf("region %d cut to half", ri), st, k.inject(j, r, bad))
	}
}

func (k *kit) testGarbage(t T) {
	st := k.tamperTarget()
	_, _, wire, ok := k.freshTarget(t, st)
	if !ok {
		return
	}
	rnd := rand.New(rand.NewPCG(k.o.seed, 4))
	for ri := range mutate.Regions(st, wire) {
		j, r, wire, ok := k.freshTarget(t, st)
		if !ok {
			return
		}
		regs := mutate.Regions(st, wire)
		if ri >= len(regs) {
			continue
		}
		rg := regs[ri]
		bad := rg.With(wire, mutate.Garbage(rnd, len(rg.Text)))
		k.judge(t, fmt.Sprintf("region %d replaced by random base64", ri), st, k.inject(j, r, bad))
	}
}

func (k *kit) testReplay(t T) {
	j, r := k.pair(t)
	st := message(Juliet, Romeo, "replayed", "a stanza the server will deliver twice")
	res, ok := k.exchange(t, j, r, 0, st)
	if !ok {
		return
	}
	// Replay what juliet's session sent to romeo's, in order.
	var again []*e2e.Stanza
	for _, h := range res.Wire {
		if h.ToReceiver {
			again = append(again, h.Stanza)
		}
	}
	ctx, cancel := k.ctx()
	defer cancel()
	res2 := pump(ctx, j, r, again, true)
	var err error
	if len(res2.Errors) > 0 {
		err = res2.Errors[0]
	}
	replayed := false
	for _, o := range res2.Opened {
		if o.Stanza != nil && k.sameContent(st, o.Stanza) {
			replayed = true
		}
	}
	switch claim := k.claims[e2e.ReplayProtection]; {
	case err != nil && isKitFailure(err):
		t.Errorf("replay: %v", err)
	case claim == e2e.Holds && replayed:
		t.Errorf("the replayed stanza opened again, though the scheme claims replay protection")
	case claim == e2e.Holds && !errors.Is(err, e2e.ErrReplay):
		t.Errorf("replay: got error %v, want ErrReplay", err)
	case claim == e2e.Fails && !replayed:
		t.Errorf("the replay was rejected (%v), though the scheme claims no replay protection: the claim is wrong", err)
	default:
		t.Logf("replay: opened again %v, error %v (claim %s)", replayed, err, claim)
	}
}

func (k *kit) testSign(t T) {
	j, r := k.pair(t)
	pres := &e2e.Stanza{Kind: e2e.Presence, From: Juliet, To: Romeo}
	pres.Children = []*e2e.Element{e2e.NewElement(e2e.NSClient, "status", "signed status")}
	msg := message(Juliet, Romeo, "signed", "a signed message")
	claim := k.claims[e2e.SignOnly]
	signed := 0
	for _, st := range []*e2e.Stanza{msg, pres} {
		ctx, cancel := k.ctx()
		wire, err := j.Sign(ctx, st.Clone())
		cancel()
		if errors.Is(err, e2e.ErrUnsupported) {
			t.Logf("Sign(%s): %v", st.Kind, err)
			continue
		}
		if err != nil {
			t.Errorf("Sign(%s): %v", st.Kind, err)
			continue
		}
		if claim != e2e.Holds && claim != e2e.Partial {
			t.Errorf("Sign(%s) succeeded, though the scheme claims sign-only %s", st.Kind, claim)
		}
		signed++
		ctx, cancel = k.ctx()
		res, err := Deliver(ctx, j, r, wire)
		cancel()
		if err != nil {
			t.Errorf("receiving a signed %s: %v", st.Kind, err)
			continue
		}
		if len(res.Opened) != 1 {
			t.Errorf("signed %s: %d opened, want 1", st.Kind, len(res.Opened))
			continue
		}
		o := res.Opened[0]
		if o.Signer == nil || o.Signer.Fingerprint() != k.ids[0].Public().Fingerprint() {
			t.Errorf("signed %s: Signer %v, want juliet's key", st.Kind, o.Signer)
		}
		if o.Stanza == nil || o.Stanza.Kind != st.Kind {
			t.Errorf("signed %s opened as %v", st.Kind, o.Stanza)
		} else if st.Kind == e2e.Message && o.Stanza.Body() != st.Body() {
			t.Errorf("signed message body %q, want %q", o.Stanza.Body(), st.Body())
		}
		// Tampering with a signed stanza must be detected.
		regs := mutate.Regions(st, wire)
		rnd := rand.New(rand.NewPCG(k.o.seed, 5))
		for _, p := range mutate.Positions(regs, 8, rnd) {
			rg := regs[p.Region]
			v, _ := mutate.Flip(rg.Text, p.Index)
			bad := rg.With(wire, v)
			j2, r2 := k.pair(t)
			o := k.inject(j2, r2, bad)
			// A change that decodes to the same bytes (base64 padding bits)
			// may verify; changed content must not name a signer.
			for _, op := range o.opened {
				if op.Signer != nil && (op.Stanza == nil || !hasChildren(op.Stanza, st)) {
					t.Errorf("changed signed content still names a signer: %v", op.Stanza)
				}
			}
			if o.err != nil && isKitFailure(o.err) {
				t.Errorf("tampered signed %s: %v", st.Kind, o.err)
			}
		}
	}
	if claim == e2e.Holds && signed == 0 {
		t.Errorf("the scheme claims sign-only stanzas but Sign supports neither messages nor presence")
	}
}

func (k *kit) testPlaintext(t T) {
	_, r := k.pair(t)
	ctx, cancel := k.ctx()
	defer cancel()
	st := message(Juliet, Romeo, "plain", "a downgraded, unprotected message")
	got, err := r.Receive(ctx, st)
	if !errors.Is(err, e2e.ErrNotEncrypted) {
		t.Errorf("plaintext message: got %+v, %v; want ErrNotEncrypted", got, err)
	}
	if len(got.Opened) != 0 {
		t.Errorf("plaintext message opened with an error")
	}
}

func (k *kit) testConcurrent(t T) {
	var wg sync.WaitGroup
	for p := 0; p < k.o.pairs; p++ {
		j, r := k.pair(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 3; i++ {
				for dir, s := range [][2]e2e.Session{{j, r}, {r, j}} {
					from, to := Juliet, Romeo
					if dir == 1 {
						from, to = Romeo, Juliet
					}
					body := fmt.Sprintf("pair %d message %d direction %d", p, i, dir)
					ctx, cancel := k.ctx()
					res, err := Send(ctx, s[0], s[1], message(from, to, fmt.Sprint(i), body))
					cancel()
					if err != nil {
						t.Errorf("pair %d: %v", p, err)
						return
					}
					if len(res.Opened) != 1 || res.Opened[0].Stanza.Body() != body {
						t.Errorf("pair %d: opened %d stanzas, want %q", p, len(res.Opened), body)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	runtime.Gosched()
}
