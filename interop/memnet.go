package interop

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/xmpp/jid"
)

// XEP namespaces the networks use.
const (
	NSCarbons = "urn:xmpp:carbons:2"
	NSForward = "urn:xmpp:forward:0"
	NSDelay   = "urn:xmpp:delay"
	nsStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"
)

// MemNetwork is an in-memory Network: one server per domain, routing by the
// rules of RFC 6121 §8.5 as far as the scenarios need them (full and bare
// JID delivery, offline storage of messages with XEP-0203 delay stamps,
// XEP-0280 carbons for chat messages, service-unavailable for iqs to
// unavailable resources), a wiretap on every server and a hook on the
// malicious one. Routing is synchronous, so Settle has nothing to wait for.
type MemNetwork struct {
	malicious string
	clock     func() time.Time

	mu      sync.Mutex
	hook    Hook
	tap     []Record
	devices map[string]*memDevice    // full JID -> device
	offline map[string][]*e2e.Stanza // bare JID -> stored messages
	closed  bool
}

// NewMemNetwork returns an in-memory network whose server for the domain
// malicious runs the hook.
func NewMemNetwork(malicious string) *MemNetwork {
	return &MemNetwork{
		malicious: malicious,
		clock:     time.Now,
		devices:   make(map[string]*memDevice),
		offline:   make(map[string][]*e2e.Stanza),
	}
}

// Malicious returns the domain of the malicious server.
func (n *MemNetwork) Malicious() string { return n.malicious }

// SetHook installs the malicious server's hook.
func (n *MemNetwork) SetHook(h Hook) {
	n.mu.Lock()
	n.hook = h
	n.mu.Unlock()
}

// Settle returns at once: routing is synchronous.
func (n *MemNetwork) Settle(ctx context.Context) error { return ctx.Err() }

// Wiretap returns a copy of the records so far.
func (n *MemNetwork) Wiretap() []Record {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Record(nil), n.tap...)
}

// Close logs every device out.
func (n *MemNetwork) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed = true
	n.devices = map[string]*memDevice{}
	return nil
}

// Login connects a device for addr.
func (n *MemNetwork) Login(ctx context.Context, addr jid.JID, opt LoginOptions) (Device, error) {
	if addr.Resourcepart() == "" {
		return nil, fmt.Errorf("interop: login needs a full JID, got %s", addr)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, errors.New("interop: network closed")
	}
	if _, ok := n.devices[addr.String()]; ok {
		return nil, fmt.Errorf("interop: %s is already logged in", addr)
	}
	d := &memDevice{net: n, addr: addr, carbons: opt.Carbons}
	n.devices[addr.String()] = d
	bare := addr.Bare().String()
	stored := n.offline[bare]
	delete(n.offline, bare)
	for _, st := range stored {
		st.To = addr
		d.inbox = append(d.inbox, st)
	}
	return d, nil
}

// Inject routes st from the malicious server.
func (n *MemNetwork) Inject(ctx context.Context, st *e2e.Stanza) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.record(n.malicious, "inject", st)
	n.forward(n.malicious, st.Clone())
	return nil
}

// record adds a wiretap record; n.mu is held.
func (n *MemNetwork) record(server, hop string, st *e2e.Stanza) Record {
	r := Record{Seq: len(n.tap), Time: n.clock(), Server: server, Hop: hop,
		From: st.From, To: st.To, Bytes: st.Bytes()}
	n.tap = append(n.tap, r)
	return r
}

// arrive is a stanza reaching server (from a client or a peer); n.mu is
// held.
func (n *MemNetwork) arrive(server, hop string, st *e2e.Stanza) {
	r := n.record(server, hop, st)
	out := []*e2e.Stanza{st}
	if server == n.malicious && n.hook != nil {
		out = n.hook(r, st.Clone())
	}
	for _, o := range out {
		if o != nil {
			n.forward(server, o)
		}
	}
}

// forward routes st onwards from server; n.mu is held.
func (n *MemNetwork) forward(server string, st *e2e.Stanza) {
	dom := st.To.Domainpart()
	if dom == "" {
		return // addressed to the server itself: nothing to route
	}
	if dom != server {
		n.arrive(dom, "s2s", st)
		return
	}
	n.deliverLocal(server, st)
}

// deliverLocal applies RFC 6121 §8.5 for the local user st.To; n.mu is held.
func (n *MemNetwork) deliverLocal(server string, st *e2e.Stanza) {
	to := st.To
	if to.Resourcepart() != "" {
		if d, ok := n.devices[to.String()]; ok {
			d.inbox = append(d.inbox, st)
			if st.Kind == e2e.Message && st.Type == "chat" {
				n.carbon(to, st, "received", d)
			}
			return
		}
	}
	switch st.Kind {
	case e2e.Message:
		if st.Type == "error" || st.Type == "groupchat" {
			return
		}
		var online []*memDevice
		for _, d := range n.devices {
			if d.addr.Bare().Equal(to.Bare()) {
				online = append(online, d)
			}
		}
		if len(online) == 0 {
			c := st.Clone()
			delay := e2e.NewElement(NSDelay, "delay", "")
			delay.SetAttr("from", server)
			delay.SetAttr("stamp", n.clock().UTC().Format("2006-01-02T15:04:05.000Z"))
			c.Children = append(c.Children, delay)
			n.offline[to.Bare().String()] = append(n.offline[to.Bare().String()], c)
			return
		}
		sortDevices(online)
		for _, d := range online {
			c := st.Clone()
			d.inbox = append(d.inbox, c)
		}
	case e2e.IQ:
		if st.Type == "get" || st.Type == "set" {
			e := &e2e.Stanza{Kind: e2e.IQ, From: st.To, To: st.From, ID: st.ID, Type: "error"}
			er := e2e.NewElement(e2e.NSClient, "error", "")
			er.SetAttr("type", "cancel")
			er.AppendChild(e2e.NewElement(nsStanzas, "service-unavailable", ""))
			e.Children = []*e2e.Element{er}
			n.forward(server, e)
		}
	}
}

// carbon sends a XEP-0280 copy of st to the other carbon-enabled resources
// of owner; n.mu is held.
func (n *MemNetwork) carbon(owner jid.JID, st *e2e.Stanza, kind string, except *memDevice) {
	for _, d := range n.devices {
		if d == except || !d.carbons || !d.addr.Bare().Equal(owner.Bare()) {
			continue
		}
		fwd := e2e.NewElement(NSForward, "forwarded", "")
		inner, err := e2e.ParseElement(st.Bytes())
		if err != nil {
			continue
		}
		fwd.AppendChild(inner)
		wrap := e2e.NewElement(NSCarbons, kind, "")
		wrap.AppendChild(fwd)
		c := &e2e.Stanza{Kind: e2e.Message, Type: st.Type, From: owner.Bare(), To: d.addr,
			Children: []*e2e.Element{wrap}}
		d.inbox = append(d.inbox, c)
	}
}

type memDevice struct {
	net     *MemNetwork
	addr    jid.JID
	carbons bool
	inbox   []*e2e.Stanza
	gone    bool
}

func (d *memDevice) JID() jid.JID { return d.addr }

func (d *memDevice) Send(ctx context.Context, st *e2e.Stanza) error {
	n := d.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if d.gone {
		return fmt.Errorf("interop: %s is offline", d.addr)
	}
	c := st.Clone()
	c.From = d.addr
	if c.Kind == e2e.Message && c.Type == "chat" {
		n.carbon(d.addr, c, "sent", d)
	}
	n.arrive(d.addr.Domainpart(), "c2s", c)
	return nil
}

func (d *memDevice) Drain() []*e2e.Stanza {
	d.net.mu.Lock()
	defer d.net.mu.Unlock()
	in := d.inbox
	d.inbox = nil
	return in
}

func (d *memDevice) Close(ctx context.Context) error {
	n := d.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.devices[d.addr.String()] == d {
		delete(n.devices, d.addr.String())
	}
	d.gone = true
	return nil
}

func sortDevices(ds []*memDevice) {
	for i := 1; i < len(ds); i++ {
		for j := i; j > 0 && ds[j].addr.String() < ds[j-1].addr.String(); j-- {
			ds[j], ds[j-1] = ds[j-1], ds[j]
		}
	}
}
