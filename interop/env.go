package interop

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/xmpp/jid"
)

// The parties of every scenario.
var (
	JulietJID   = jid.MustParse("juliet@capulet.lit/balcony")
	Juliet2JID  = jid.MustParse("juliet@capulet.lit/chamber")
	RomeoJID    = jid.MustParse("romeo@montague.lit/orchard")
	Romeo2JID   = jid.MustParse("romeo@montague.lit/garden")
	MercutioJID = jid.MustParse("mercutio@capulet.lit/tomb")
)

// NSProbe is the namespace of the extension element the scenarios add to
// their stanzas to see whether extensions are protected.
const NSProbe = "urn:xmppe2e:probe:0"

// Addresses are the full JIDs the parties log in with. Juliet2 and Romeo2
// are the second devices of juliet and romeo.
type Addresses struct {
	Juliet, Juliet2, Romeo, Romeo2, Mercutio jid.JID
}

// DefaultAddresses are the parties of the built-in network.
func DefaultAddresses() Addresses {
	return Addresses{Juliet: JulietJID, Juliet2: Juliet2JID, Romeo: RomeoJID, Romeo2: Romeo2JID, Mercutio: MercutioJID}
}

// between reports whether st travels between juliet and romeo (either way)
// and is not plain presence, which the servers exchange by themselves.
func (a Addresses) between(st *e2e.Stanza) bool {
	if st.Kind == e2e.Presence {
		ext := false
		for _, c := range st.Children {
			if c.Name.Space != e2e.NSClient && c.Name.Space != "" {
				ext = true
			}
		}
		if !ext {
			return false
		}
	}
	f, t := st.From.Bare(), st.To.Bare()
	j, r := a.Juliet.Bare(), a.Romeo.Bare()
	return f.Equal(j) && t.Equal(r) || f.Equal(r) && t.Equal(j)
}

// identities are the long-term identities of one scheme's run.
type identities struct {
	a                       Addresses
	juliet, romeo, mercutio e2e.Identity
}

func (ids *identities) of(addr jid.JID) e2e.Identity {
	switch {
	case addr.Bare().Equal(ids.a.Juliet.Bare()):
		return ids.juliet
	case addr.Bare().Equal(ids.a.Romeo.Bare()):
		return ids.romeo
	}
	return ids.mercutio
}

// peersOf returns the public keys a party pins.
func (ids *identities) peersOf(addr jid.JID) []e2e.Peer {
	switch {
	case addr.Bare().Equal(ids.a.Juliet.Bare()):
		return []e2e.Peer{ids.romeo.Public()}
	case addr.Bare().Equal(ids.a.Romeo.Bare()):
		return []e2e.Peer{ids.juliet.Public()}
	}
	return []e2e.Peer{ids.romeo.Public(), ids.juliet.Public()}
}

// seededReader returns a deterministic random stream for the given labels.
func seededReader(seed int64, labels ...string) io.Reader {
	h := sha256.New()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(seed))
	h.Write(b[:])
	for _, l := range labels {
		h.Write([]byte(l))
		h.Write([]byte{0})
	}
	var key [32]byte
	copy(key[:], h.Sum(nil))
	return rand.NewChaCha8(key)
}

// stepClock is a deterministic clock: it starts at start and advances one
// millisecond per call.
type stepClock struct {
	mu    sync.Mutex
	start time.Time
	n     int64
}

func (c *stepClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.start.Add(time.Duration(c.n) * time.Millisecond)
}

// call is one input given to a session, kept so that an attacker can rebuild
// the session's state by replaying them (see clone).
type call struct {
	encrypt bool
	sign    bool
	st      *e2e.Stanza
}

// A party is one device with its session.
type party struct {
	name    string
	want    jid.JID // the address asked for at login
	id      e2e.Identity
	dev     Device
	sess    e2e.Session
	cfg     e2e.Config
	seedTag []string
	start   time.Time
	calls   []call
	opened  []openedAt
	errs    []error
	online  bool

	encTime, recvTime []time.Duration
}

// openedAt is one opened stanza with when it opened.
type openedAt struct {
	e2e.Opened
	at time.Time
}

// env is the state of one scenario run for one scheme.
type env struct {
	ctx     context.Context
	a       Addresses
	scheme  e2e.Scheme
	ids     *identities
	net     Network
	seed    int64
	start   time.Time
	tr      *transcript
	parties map[string]*party
	rnd     *rand.Rand
	msgN    int
	clocks  map[string]*stepClock
	samples int
	sign    bool
}

// newEnv prepares a scenario; the caller closes the network.
func newEnv(ctx context.Context, s e2e.Scheme, ids *identities, net Network, seed int64, start time.Time, scenario string) *env {
	h := sha256.Sum256([]byte(fmt.Sprintf("%d/%s/%s", seed, s.Name(), scenario)))
	return &env{
		ctx: ctx, a: ids.a, scheme: s, ids: ids, net: net, seed: seed, start: start,
		tr:      newTranscript(s.Name(), scenario),
		parties: map[string]*party{},
		rnd:     rand.New(rand.NewPCG(binary.BigEndian.Uint64(h[:8]), binary.BigEndian.Uint64(h[8:16]))),
		clocks:  map[string]*stepClock{},
	}
}

// join logs a party in and opens its session. name is the party's label in
// transcripts; addr the full JID it asks for.
func (e *env) join(name string, addr jid.JID, opt LoginOptions) (*party, error) {
	dev, err := e.net.Login(e.ctx, addr, opt)
	if err != nil {
		return nil, fmt.Errorf("login %s: %w", addr, err)
	}
	if err := e.net.Settle(e.ctx); err != nil { // presence processed
		dev.Close(e.ctx)
		return nil, err
	}
	p := &party{name: name, want: addr, id: e.ids.of(addr), dev: dev, online: true,
		seedTag: []string{e.scheme.Name(), e.tr.scenario, name}}
	if err := e.openSession(p, nil); err != nil {
		dev.Close(e.ctx)
		return nil, err
	}
	e.parties[name] = p
	e.tr.logf("%s logs in as %s", name, dev.JID())
	return p, nil
}

// sessionConfig builds the configuration of p's session; id overrides the
// identity when not nil.
func (e *env) sessionConfig(p *party, tag string) e2e.Config {
	clk := &stepClock{start: e.start}
	return e2e.Config{
		Local: p.id,
		JID:   p.dev.JID(),
		Peers: e.ids.peersOf(p.want),
		Rand:  seededReader(e.seed, append(append([]string(nil), p.seedTag...), tag)...),
		Clock: clk.now,
		Sign:  e.sign,
	}
}

func (e *env) openSession(p *party, override *e2e.Config) error {
	cfg := e.sessionConfig(p, "session")
	if override != nil {
		cfg = *override
	}
	sess, err := e.scheme.NewSession(cfg)
	if err != nil {
		return fmt.Errorf("%s: NewSession: %w", p.name, err)
	}
	p.sess, p.cfg, p.calls = sess, cfg, nil
	return nil
}

// message builds a chat message from p to to with a fresh secret body of
// about size bytes, a subject, a thread and a probe extension.
func (e *env) message(from *party, to jid.JID, size int) *e2e.Stanza {
	e.msgN++
	body := e.secret(fmt.Sprintf("%s-%d", from.name, e.msgN), size)
	st := &e2e.Stanza{Kind: e2e.Message, From: from.dev.JID(), To: to, Type: "chat",
		ID: fmt.Sprintf("m%d-%s", e.msgN, e.hex(4))}
	st.SetBody(body)
	return st
}

// richMessage adds a subject, a thread and an extension element, each with
// its own secret marker.
func (e *env) richMessage(from *party, to jid.JID) *e2e.Stanza {
	st := e.message(from, to, 0)
	st.Children = append(st.Children,
		e2e.NewElement(e2e.NSClient, "subject", "subj-"+e.hex(8)),
		e2e.NewElement(e2e.NSClient, "thread", "thread-"+e.hex(8)))
	probe := e2e.NewElement(NSProbe, "probe", "ext-"+e.hex(8))
	probe.SetAttr("mark", "attr-"+e.hex(8))
	st.Children = append(st.Children, probe)
	return st
}

// secret returns a unique marker padded to size bytes (at least the
// marker).
func (e *env) secret(label string, size int) string {
	s := "secret-" + label + "-" + e.hex(6)
	if len(s) < size {
		s += strings.Repeat("x", size-len(s))
	}
	return s
}

func (e *env) hex(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(e.rnd.Uint32())
	}
	return hex.EncodeToString(b)
}

// encrypt has p's session encrypt st and sends the result.
func (e *env) encrypt(p *party, st *e2e.Stanza) ([]*e2e.Stanza, error) {
	return e.protect(p, st, false)
}

func (e *env) protect(p *party, st *e2e.Stanza, sign bool) ([]*e2e.Stanza, error) {
	p.calls = append(p.calls, call{encrypt: !sign, sign: sign, st: st.Clone()})
	t0 := time.Now()
	var out []*e2e.Stanza
	var err error
	if sign {
		out, err = p.sess.Sign(e.ctx, st.Clone())
	} else {
		out, err = p.sess.Encrypt(e.ctx, st.Clone())
	}
	p.encTime = append(p.encTime, time.Since(t0))
	verb := "Encrypt"
	if sign {
		verb = "Sign"
	}
	if err != nil {
		e.tr.logf("%s %s %s: error %s: %v", p.name, verb, st.ID, e2e.ClassOf(err), err)
		return nil, err
	}
	e.tr.logf("%s %s %s -> %d wire stanza(s)", p.name, verb, st.ID, len(out))
	for _, w := range out {
		if err := p.dev.Send(e.ctx, w); err != nil {
			return out, fmt.Errorf("%w: %s sending: %v", errNetwork, p.name, err)
		}
	}
	return out, nil
}

// receive gives one inbound stanza to p's session and sends its replies.
func (e *env) receive(p *party, st *e2e.Stanza) (e2e.Received, error) {
	inner := unwrapCarbon(st)
	p.calls = append(p.calls, call{st: inner.Clone()})
	t0 := time.Now()
	res, err := p.sess.Receive(e.ctx, inner.Clone())
	took := time.Since(t0)
	p.recvTime = append(p.recvTime, took)
	now := time.Now()
	if td, ok := p.dev.(interface {
		ArrivedAt(*e2e.Stanza) (time.Time, bool)
	}); ok {
		if at, ok := td.ArrivedAt(st); ok {
			now = at.Add(took)
		}
	}
	if err != nil {
		p.errs = append(p.errs, err)
		e.tr.logf("%s Receive %s from %s: error %s: %v", p.name, inner.Kind, inner.From, e2e.ClassOf(err), err)
		if len(res.Opened) > 0 {
			e.tr.logf("VIOLATION: %s Receive returned %d opened stanza(s) with an error", p.name, len(res.Opened))
		}
	}
	for _, o := range res.Opened {
		p.opened = append(p.opened, openedAt{Opened: o, at: now})
		e.tr.logf("%s opened (encrypted=%v signer=%s trusted=%v): %s", p.name, o.Encrypted,
			signerName(e.ids, o.Signer), o.Trusted, abbreviate(o.Stanza.String(), 400))
	}
	if err == nil && len(res.Opened) == 0 {
		e.tr.logf("%s Receive %s from %s: protocol only, %d replies", p.name, inner.Kind, inner.From, len(res.Replies))
	}
	for _, r := range res.Replies {
		if !p.online {
			break
		}
		if serr := p.dev.Send(e.ctx, r); serr != nil {
			return res, fmt.Errorf("%w: %s sending a reply: %v", errNetwork, p.name, serr)
		}
	}
	return res, err
}

// pump delivers everything in flight until the network is quiet. It
// returns the first error of a session only through the parties' logs.
func (e *env) pump() error {
	for round := 0; round < 400; round++ {
		if err := e.net.Settle(e.ctx); err != nil {
			return err
		}
		busy := false
		for _, name := range e.order() {
			p := e.parties[name]
			if !p.online {
				continue
			}
			for _, st := range p.dev.Drain() {
				busy = true
				if _, err := e.receive(p, st); err != nil && !isSessionError(err) {
					return err
				}
			}
		}
		if !busy {
			return nil
		}
	}
	return errors.New("interop: the parties never went quiet (400 rounds)")
}

func (e *env) order() []string {
	var names []string
	for _, n := range []string{"juliet", "romeo", "juliet2", "romeo2", "mercutio"} {
		if _, ok := e.parties[n]; ok {
			names = append(names, n)
		}
	}
	return names
}

// errNetwork marks failures of the network, as opposed to a session's
// verdict on its input.
var errNetwork = errors.New("interop: network")

// isSessionError reports whether err came from a session (a scheme's verdict)
// rather than from the network.
func isSessionError(err error) bool { return !errors.Is(err, errNetwork) }

// offline logs p out.
func (e *env) offline(p *party) error {
	if err := e.net.Settle(e.ctx); err != nil {
		return err
	}
	p.online = false
	e.tr.logf("%s goes offline", p.name)
	return p.dev.Close(e.ctx)
}

// online logs p in again, keeping its session.
func (e *env) online(p *party, opt LoginOptions) error {
	dev, err := e.net.Login(e.ctx, p.want, opt)
	if err != nil {
		return err
	}
	if err := e.net.Settle(e.ctx); err != nil {
		return err
	}
	if !dev.JID().Equal(p.dev.JID()) {
		e.tr.logf("%s came back as %s (was %s)", p.name, dev.JID(), p.dev.JID())
	}
	p.dev, p.online = dev, true
	e.tr.logf("%s comes online", p.name)
	return nil
}

// openedBody reports whether p opened a stanza whose body is body, and
// returns it.
func (p *party) openedBody(body string) *openedAt {
	for i := range p.opened {
		if p.opened[i].Stanza != nil && p.opened[i].Stanza.Body() == body {
			return &p.opened[i]
		}
	}
	return nil
}

// exchange sends one message from a to b's address and pumps. It reports
// whether b opened it.
func (e *env) exchange(a, b *party, st *e2e.Stanza) (*openedAt, error) {
	if _, err := e.encrypt(a, st); err != nil {
		return nil, err
	}
	if err := e.pump(); err != nil {
		return nil, err
	}
	return b.openedBody(st.Body()), nil
}

// unwrapCarbon returns the forwarded message inside a carbon, or st.
func unwrapCarbon(st *e2e.Stanza) *e2e.Stanza {
	for _, kind := range []string{"sent", "received"} {
		c := st.Child(NSCarbons, kind)
		if c == nil {
			continue
		}
		fwd := c.Child(NSForward, "forwarded")
		if fwd == nil {
			continue
		}
		for _, m := range fwd.Elements() {
			if m.Name.Local == "message" {
				if inner, err := e2e.Parse(m.Bytes()); err == nil {
					return inner
				}
			}
		}
	}
	return st
}

func signerName(ids *identities, p e2e.Peer) string {
	if p == nil {
		return "none"
	}
	switch p.Fingerprint() {
	case ids.juliet.Public().Fingerprint():
		return "juliet"
	case ids.romeo.Public().Fingerprint():
		return "romeo"
	case ids.mercutio.Public().Fingerprint():
		return "mercutio"
	}
	return "unknown(" + p.Fingerprint() + ")"
}

func abbreviate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("…(%d bytes)", len(s))
}
