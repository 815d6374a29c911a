package interop

import (
	"context"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/xmpp/jid"
)

// A Network is what the scenarios run over: XMPP servers that route stanzas
// between logged-in devices, record what they route (the wiretap) and let
// one server on the path act maliciously (the hook).
//
// The harness runs over the built-in two-server network in production;
// MemNetwork is an in-memory implementation with the same routing rules for
// fast tests.
type Network interface {
	// Login connects a device for the full JID addr. The device's bound
	// address may differ in its resource (Device.JID is the real one).
	// Stanzas stored while the account was offline are delivered at login.
	Login(ctx context.Context, addr jid.JID, opt LoginOptions) (Device, error)

	// SetHook installs h as the malicious server (nil removes it). The hook
	// sees every stanza the malicious server routes, before it delivers or
	// forwards it, and decides what goes on in its place.
	SetHook(h Hook)

	// Inject makes the malicious server route st as if it had received it
	// from one of its clients or peers.
	Inject(ctx context.Context, st *e2e.Stanza) error

	// Settle returns once every stanza sent so far has been delivered,
	// stored or dropped, and the devices' inboxes hold everything delivered
	// to them.
	Settle(ctx context.Context) error

	// Wiretap returns every record made so far, in order.
	Wiretap() []Record

	// Malicious names the domain of the server that runs the hook.
	Malicious() string

	// Close stops the network and logs every device out.
	Close() error
}

// LoginOptions are per-device options.
type LoginOptions struct {
	// Carbons enables XEP-0280 message carbons for the device.
	Carbons bool
}

// A Device is one logged-in resource.
type Device interface {
	// JID is the full JID the server bound.
	JID() jid.JID
	// Send sends st (its from is stamped by the server).
	Send(ctx context.Context, st *e2e.Stanza) error
	// Drain returns and forgets the stanzas delivered so far.
	Drain() []*e2e.Stanza
	// Close logs the device out; later stanzas for a bare JID without
	// devices are stored for it.
	Close(ctx context.Context) error
}

// A Hook is the malicious server's decision about one routed stanza: it
// returns the stanzas to route instead (nil drops it; the same stanza lets
// it pass).
type Hook func(r Record, st *e2e.Stanza) []*e2e.Stanza

// A Record is one stanza a server routed, as it saw it.
type Record struct {
	Seq    int       // position in the wiretap, from 0
	Time   time.Time // when the server saw it
	Server string    // the domain of the server that recorded it
	// Hop says where the stanza came from: "c2s" from a local client,
	// "s2s" from the peer server, "inject" from the hook.
	Hop  string
	From jid.JID
	To   jid.JID
	// Bytes is the stanza as the server read it.
	Bytes []byte
}
