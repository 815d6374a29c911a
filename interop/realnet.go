package interop

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/interop/client"
	"github.com/xmppe2e/xmppe2e/interop/server"
	"mellium.im/xmpp/jid"
)

// BuiltinNetwork is the Network over the built-in XMPP servers of package
// interop/server: capulet.lit and montague.lit on loopback TCP with
// STARTTLS, SASL and a TLS s2s link; clients of package interop/client.
// capulet.lit is the malicious server.
type BuiltinNetwork struct {
	n     *server.Network
	quiet time.Duration

	mu      sync.Mutex
	hook    Hook
	removes []func()
	devices []*realDevice
	closed  bool
	// expect counts what the servers must write: stanzas routed towards
	// the other server and to an online device, counted as they leave the
	// inbound hops, by outKey.
	expect map[string]int

	// the wiretap, converted once, in the order first seen
	tapMu   sync.Mutex
	tap     []Record
	seen    map[string]bool
	lastLen [2]int

	// injection: a carrier message from the injector client is replaced
	// at capulet.lit's c2s-in hop by the queued stanzas.
	injMu    sync.Mutex
	injector *client.Client
	queue    map[string][]*e2e.Stanza
	injN     atomic.Int64
}

const injectPrefix = "xmppe2e-inject-"

// StartBuiltinNetwork starts the two built-in servers.
func StartBuiltinNetwork(ctx context.Context) (*BuiltinNetwork, error) {
	n, err := server.StartNetwork(ctx, server.NetworkConfig{})
	if err != nil {
		return nil, err
	}
	b := &BuiltinNetwork{n: n, quiet: 2 * time.Millisecond, seen: map[string]bool{}, queue: map[string][]*e2e.Stanza{},
		expect: map[string]int{}}
	b.installHooks()
	if err := b.warm(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// warm opens the s2s links both ways and logs the injector in, so that no
// connection setup happens inside a scenario (Settle could mistake its
// silence for quiet), then forgets the wiretap.
func (b *BuiltinNetwork) warm(ctx context.Context) error {
	if err := b.loginInjector(ctx); err != nil {
		return err
	}
	var cs []*client.Client
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	for _, who := range []string{"juliet", "romeo"} {
		acc, err := b.n.Account(who)
		if err != nil {
			return err
		}
		addr, _ := jid.New(acc.JID.Localpart(), acc.JID.Domainpart(), "xmppe2e-warmup")
		c, err := client.Login(ctx, client.Config{JID: addr, Password: acc.Password, Addr: acc.Addr, RootCAs: acc.RootCAs, NoPresence: true})
		if err != nil {
			return fmt.Errorf("%w: warm-up login: %v", errNetwork, err)
		}
		cs = append(cs, c)
	}
	for i, c := range cs {
		peer := cs[1-i]
		if err := c.Send(ctx, &e2e.Stanza{Kind: e2e.Message, To: peer.JID(), Type: "normal", ID: "warmup"}); err != nil {
			return err
		}
		select {
		case <-peer.Events():
		case <-time.After(10 * time.Second):
			return fmt.Errorf("%w: the s2s link did not come up", errNetwork)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for _, c := range cs {
		c.Close()
	}
	cs = nil
	time.Sleep(20 * time.Millisecond)
	for _, s := range b.n.Servers() {
		s.ResetWiretap()
	}
	b.mu.Lock()
	b.expect = map[string]int{}
	b.mu.Unlock()
	return nil
}

func (b *BuiltinNetwork) loginInjector(ctx context.Context) error {
	acc, err := b.n.Account("mercutio")
	if err != nil {
		return err
	}
	addr, err := jid.New(acc.JID.Localpart(), acc.JID.Domainpart(), "xmppe2e-injector")
	if err != nil {
		return err
	}
	c, err := client.Login(ctx, client.Config{JID: addr, Password: acc.Password, Addr: acc.Addr, RootCAs: acc.RootCAs, NoPresence: true})
	if err != nil {
		return fmt.Errorf("%w: injector login: %v", errNetwork, err)
	}
	go func() {
		for range c.Events() {
		}
	}()
	b.injMu.Lock()
	b.injector = c
	b.injMu.Unlock()
	return nil
}

// Server returns the underlying test network.
func (b *BuiltinNetwork) Server() *server.Network { return b.n }

// Malicious returns capulet.lit.
func (b *BuiltinNetwork) Malicious() string { return server.Capulet }

// SetHook installs h on capulet.lit's inbound hops.
func (b *BuiltinNetwork) SetHook(h Hook) {
	b.mu.Lock()
	b.hook = h
	b.mu.Unlock()
}

// installHooks puts the hook and the injector on capulet.lit: the hook at
// both inbound hops (from clients and from montague.lit), the injector
// after it at the c2s hop.
func (b *BuiltinNetwork) installHooks() {
	for _, hop := range []server.Hop{server.C2SIn, server.S2SIn} {
		hop := hop
		b.removes = append(b.removes, b.n.Capulet.Intercept(server.Interceptor{
			Hop:   hop,
			Match: func(st *e2e.Stanza) bool { return !strings.HasPrefix(st.ID, injectPrefix) },
			Do: func(st *e2e.Stanza) []*e2e.Stanza {
				b.mu.Lock()
				h := b.hook
				b.mu.Unlock()
				if h == nil {
					return []*e2e.Stanza{st}
				}
				name := "c2s"
				if hop == server.S2SIn {
					name = "s2s"
				}
				return h(Record{Server: server.Capulet, Hop: name, From: st.From, To: st.To, Bytes: st.Bytes(), Time: time.Now()}, st)
			},
		}))
	}
	b.removes = append(b.removes, b.n.Capulet.Intercept(server.Interceptor{
		Hop:   server.C2SIn,
		Match: func(st *e2e.Stanza) bool { return strings.HasPrefix(st.ID, injectPrefix) },
		Do: func(st *e2e.Stanza) []*e2e.Stanza {
			b.injMu.Lock()
			defer b.injMu.Unlock()
			q := b.queue[st.ID]
			delete(b.queue, st.ID)
			return q
		},
	}))
	// Last on both servers: count what leaves the inbound hops.
	for _, srv := range b.n.Servers() {
		for _, hop := range []server.Hop{server.C2SIn, server.S2SIn} {
			srv, hop := srv, hop
			b.removes = append(b.removes, srv.Intercept(server.Interceptor{
				Hop: hop,
				Do: func(st *e2e.Stanza) []*e2e.Stanza {
					b.account(srv.Domain(), hop, st)
					return []*e2e.Stanza{st}
				},
			}))
		}
	}
}

// account notes that st left an inbound hop of domain: towards the other
// server (from a client only; servers do not relay), or towards one of our
// online devices.
func (b *BuiltinNetwork) account(domain string, hop server.Hop, st *e2e.Stanza) {
	dom := st.To.Domainpart()
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case dom == "" || strings.HasPrefix(st.ID, injectPrefix):
	case dom != domain:
		if hop == server.C2SIn {
			b.expect[outKey("s2s:"+domain+">"+dom, st)]++
		}
	case st.To.Resourcepart() != "" && !(st.Kind == e2e.Presence && st.Type == "probe"):
		for _, d := range b.devices {
			if !d.gone.Load() && d.addr.Equal(st.To) {
				b.expect[outKey("dev:"+st.To.String(), st)]++
				break
			}
		}
	}
}

// outKey names a stanza on an outbound path: the path, its kind and id.
// Servers keep ids, so the same key is computed from the outbound record.
func outKey(path string, st *e2e.Stanza) string {
	return path + "|" + string(st.Kind) + "|" + st.ID
}

// Inject makes capulet.lit route st: a carrier message from an injector
// client of capulet.lit is replaced by st at the c2s-in hop.
func (b *BuiltinNetwork) Inject(ctx context.Context, st *e2e.Stanza) error {
	b.injMu.Lock()
	id := injectPrefix + strconv.FormatInt(b.injN.Add(1), 10)
	b.queue[id] = []*e2e.Stanza{st.Clone()}
	c := b.injector
	b.injMu.Unlock()
	return c.Send(ctx, &e2e.Stanza{Kind: e2e.Message, To: jid.MustParse(server.Capulet), ID: id, Type: "normal"})
}

// Wiretap returns the records of both servers at their inbound hops (what
// each server read), carriers of injections left out.
func (b *BuiltinNetwork) Wiretap() []Record {
	b.tapMu.Lock()
	defer b.tapMu.Unlock()
	for _, s := range b.n.Servers() {
		for _, r := range s.Wiretap() {
			key := r.Server + "/" + strconv.FormatUint(r.Seq, 10)
			if b.seen[key] {
				continue
			}
			b.seen[key] = true
			if r.Hop != server.C2SIn && r.Hop != server.S2SIn {
				continue
			}
			if r.Stanza == nil || strings.HasPrefix(r.Stanza.ID, injectPrefix) {
				continue
			}
			hop := "c2s"
			if r.Hop == server.S2SIn {
				hop = "s2s"
			}
			b.tap = append(b.tap, Record{Seq: len(b.tap), Time: r.Time, Server: r.Server, Hop: hop,
				From: r.Stanza.From, To: r.Stanza.To, Bytes: r.Raw})
		}
	}
	return append([]Record(nil), b.tap...)
}

// counts are the wiretap's bookkeeping that Settle compares with what the
// clients sent and read.
type counts struct {
	total  int
	c2sIn  map[string]int // per client full JID
	c2sOut map[string]int // per client full JID, not dropped
	s2sOut map[string]int // "from>to" domains, not dropped
	s2sIn  map[string]int // "from>to" domains
	out    map[string]int // outbound records by outKey
}

func (b *BuiltinNetwork) counts() counts {
	c := counts{c2sIn: map[string]int{}, c2sOut: map[string]int{}, s2sOut: map[string]int{}, s2sIn: map[string]int{},
		out: map[string]int{}}
	for _, s := range b.n.Servers() {
		for _, r := range s.Wiretap() {
			c.total++
			switch {
			case r.Hop == server.C2SIn:
				c.c2sIn[r.Peer]++
			case r.Hop == server.C2SOut && r.Action != "dropped":
				c.c2sOut[r.Peer]++
				if r.Stanza != nil {
					c.out[outKey("dev:"+r.Peer, r.Stanza)]++
				}
			case r.Hop == server.S2SOut && r.Action != "dropped":
				c.s2sOut[r.Server+">"+r.Peer]++
				if r.Stanza != nil {
					c.out[outKey("s2s:"+r.Server+">"+r.Peer, r.Stanza)]++
				}
			case r.Hop == server.S2SIn:
				c.s2sIn[r.Peer+">"+r.Server]++
			}
		}
	}
	return c
}

// settled reports whether every stanza a client sent reached its server,
// every stanza written to an s2s link was read at the other end, and every
// client read what its server wrote to it.
func (b *BuiltinNetwork) settled(c counts) bool {
	b.mu.Lock()
	devs := append([]*realDevice(nil), b.devices...)
	b.mu.Unlock()
	for _, d := range devs {
		if d.gone.Load() {
			continue
		}
		a := d.addr.String()
		if c.c2sIn[a] < d.baseIn+int(d.sent.Load()) || int(d.got.Load()) < c.c2sOut[a]-d.baseOut-d.hidden {
			return false
		}
	}
	if b.injector != nil && c.c2sIn[b.injector.JID().String()] < int(b.injN.Load()) {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, n := range b.expect {
		if c.out[k] < n {
			return false
		}
	}
	for k, n := range c.s2sOut {
		if c.s2sIn[k] < n {
			return false
		}
	}
	return true
}

// Settle waits until every stanza sent so far is accounted for at every hop
// and nothing new has been recorded for a quiet spell: at least b.quiet of
// wall time and eight polls in a row, each after a sleep that lets the
// servers' writer goroutines run (wall time alone would be fooled when the
// whole process was not scheduled).
func (b *BuiltinNetwork) Settle(ctx context.Context) error {
	const polls = 8
	deadline := time.Now().Add(10 * time.Second)
	last, stable, n := -1, time.Time{}, 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		c := b.counts()
		now := time.Now()
		if c.total != last || !b.settled(c) {
			last, stable, n = c.total, now, 0
		} else if n++; n >= polls && now.Sub(stable) >= b.quiet {
			return nil
		}
		if now.After(deadline) {
			return fmt.Errorf("%w: the network did not settle in 10s", errNetwork)
		}
		time.Sleep(250 * time.Microsecond)
	}
}

// Login logs a client in for addr; the account's password comes from the
// test network.
func (b *BuiltinNetwork) Login(ctx context.Context, addr jid.JID, opt LoginOptions) (Device, error) {
	acc, err := b.n.Account(addr.Localpart())
	if err != nil {
		return nil, err
	}
	before := b.counts()
	c, err := client.Login(ctx, client.Config{JID: addr, Password: acc.Password, Addr: acc.Addr, RootCAs: acc.RootCAs})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNetwork, err)
	}
	d := &realDevice{c: c, addr: c.JID(), arrived: map[*e2e.Stanza]time.Time{},
		baseIn: before.c2sIn[c.JID().String()] + 1, baseOut: before.c2sOut[c.JID().String()]}
	srv := b.n.Server(addr.Domainpart())
	d.beforeClose = func() int { return srv.Conns() }
	d.onClose = func(conns int) {
		// The server drops the session only when it sees the connection
		// go: wait for that (bounded), or a stanza sent meanwhile would be
		// written to the dead connection instead of stored.
		for deadline := time.Now().Add(2 * time.Second); srv.Conns() >= conns && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		// What was on its way to the device is stored or lost now.
		c := b.counts()
		prefix := "dev:" + d.addr.String() + "|"
		b.mu.Lock()
		for k, n := range b.expect {
			if strings.HasPrefix(k, prefix) && n > c.out[k] {
				b.expect[k] = c.out[k]
			}
		}
		b.mu.Unlock()
	}
	if opt.Carbons {
		d.baseIn++
		if err := c.EnableCarbons(ctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("%w: enable carbons: %v", errNetwork, err)
		}
		d.hidden = 1 // the iq result the client consumes itself
	}
	go d.read()
	b.mu.Lock()
	b.devices = append(b.devices, d)
	b.mu.Unlock()
	return d, nil
}

// Close logs every device out and stops the servers.
func (b *BuiltinNetwork) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	devs := b.devices
	b.mu.Unlock()
	for _, d := range devs {
		d.Close(context.Background())
	}
	if b.injector != nil {
		b.injector.Close()
	}
	for _, r := range b.removes {
		r()
	}
	return b.n.Close()
}

type realDevice struct {
	c       *client.Client
	addr    jid.JID
	baseIn  int // c2s-in records of this address before, plus presence and the carbons iq
	baseOut int // c2s-out records of this address before login
	hidden  int // stanzas written to the client that it consumes itself
	sent    atomic.Int64
	got     atomic.Int64
	gone    atomic.Bool
	// beforeClose and onClose, when set, let the network follow a logout.
	beforeClose func() int
	onClose     func(conns int)

	mu      sync.Mutex
	inbox   []*e2e.Stanza
	arrived map[*e2e.Stanza]time.Time
}

func (d *realDevice) read() {
	for ev := range d.c.Events() {
		st := ev.Wire
		d.mu.Lock()
		if st.Kind != e2e.Presence && !(st.Kind == e2e.IQ && st.From.Equal(d.addr.Bare())) {
			d.inbox = append(d.inbox, st)
			d.arrived[st] = time.Now()
		}
		d.mu.Unlock()
		d.got.Add(1)
	}
}

func (d *realDevice) JID() jid.JID { return d.addr }

func (d *realDevice) Send(ctx context.Context, st *e2e.Stanza) error {
	c := st.Clone()
	c.From = d.addr
	d.sent.Add(1)
	if err := d.c.Send(ctx, c); err != nil {
		return fmt.Errorf("%w: %v", errNetwork, err)
	}
	return nil
}

func (d *realDevice) Drain() []*e2e.Stanza {
	d.mu.Lock()
	defer d.mu.Unlock()
	in := d.inbox
	d.inbox = nil
	return in
}

// ArrivedAt returns when st reached the device.
func (d *realDevice) ArrivedAt(st *e2e.Stanza) (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.arrived[st]
	delete(d.arrived, st)
	return t, ok
}

func (d *realDevice) Close(ctx context.Context) error {
	if d.gone.Swap(true) {
		return nil
	}
	conns := 0
	if d.beforeClose != nil {
		conns = d.beforeClose()
	}
	err := d.c.Close()
	if d.onClose != nil {
		d.onClose(conns)
	}
	return err
}
