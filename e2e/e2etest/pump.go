package e2etest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/xmpp/jid"
)

// The three parties of the battery, as full JIDs. Their bare JIDs are what
// identities are generated for.
var (
	Juliet   = jid.MustParse("juliet@capulet.lit/balcony")
	Romeo    = jid.MustParse("romeo@montague.lit/orchard")
	Mercutio = jid.MustParse("mercutio@capulet.lit/tomb")
)

// Epoch is the time at which every Clock starts.
var Epoch = time.Date(2026, time.November, 22, 12, 0, 0, 0, time.UTC)

// Clock returns a deterministic clock for Config.Clock: it starts at Epoch
// and advances by one millisecond on every call. It is safe for concurrent
// use.
func Clock() func() time.Time { return NewManualClock(Epoch).Now }

// A ManualClock is a deterministic clock that tests can also move on (for
// timeouts and stale stanzas): Now advances it by one millisecond per call,
// Advance by any duration. It is safe for concurrent use; pass its Now as
// Config.Clock.
type ManualClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewManualClock returns a ManualClock that starts at start.
func NewManualClock(start time.Time) *ManualClock { return &ManualClock{now: start} }

// Now advances the clock by one millisecond and returns the new time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Millisecond)
	return c.now
}

// Advance moves the clock on by d.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Rand returns a deterministic source of randomness for Config.Rand, the same
// stream for the same seed and label. It is not safe for concurrent use: give
// each session its own.
func Rand(seed uint64, label string) *rand.ChaCha8 {
	var key [32]byte
	copy(key[:], fmt.Sprintf("%016x|%s", seed, label))
	return rand.NewChaCha8(key)
}

// Result is what a delivery did: the stanzas each side opened and every
// stanza that crossed the in-memory link.
type Result struct {
	// Opened are the stanzas the receiving side opened, in order.
	Opened []e2e.Opened
	// Back are the stanzas the sending side opened from the replies, in
	// order (data a session scheme released on the way back).
	Back []e2e.Opened
	// Wire lists every stanza delivered, in order, with the side it was
	// delivered to.
	Wire []Hop
	// Errors are the errors Receive returned, in order; Deliver stops at the
	// first unless it was asked to go on.
	Errors []error
}

// A Hop is one stanza delivered over the link.
type Hop struct {
	ToReceiver bool // delivered to the receiving side (else back to the sender)
	Stanza     *e2e.Stanza
}

// MaxPump bounds the stanzas one Deliver call moves, so that two sessions
// that answer each other forever fail instead of hanging.
const MaxPump = 10000

// Deliver gives wire, sent by from, to the session to, and then pumps every
// reply to the other side until neither side has anything more to send: a
// perfect network between two sessions. It stops at the first Receive error
// and returns it with what happened until then.
func Deliver(ctx context.Context, from, to e2e.Session, wire []*e2e.Stanza) (Result, error) {
	r := pump(ctx, from, to, wire, false)
	if len(r.Errors) > 0 {
		return r, r.Errors[0]
	}
	return r, nil
}

// Send encrypts st with from and delivers it to to with Deliver.
func Send(ctx context.Context, from, to e2e.Session, st *e2e.Stanza) (Result, error) {
	wire, err := from.Encrypt(ctx, st)
	if err != nil {
		return Result{}, fmt.Errorf("encrypt: %w", err)
	}
	return Deliver(ctx, from, to, wire)
}

// pump moves stanzas until quiet. With goOn it keeps going after errors.
func pump(ctx context.Context, from, to e2e.Session, wire []*e2e.Stanza, goOn bool) Result {
	var r Result
	type item struct {
		toReceiver bool
		st         *e2e.Stanza
	}
	queue := make([]item, 0, len(wire))
	for _, w := range wire {
		queue = append(queue, item{true, w})
	}
	for n := 0; len(queue) > 0; n++ {
		if n == MaxPump {
			r.Errors = append(r.Errors, fmt.Errorf("e2etest: sessions still talking after %d stanzas", MaxPump))
			return r
		}
		if err := ctx.Err(); err != nil {
			r.Errors = append(r.Errors, err)
			return r
		}
		it := queue[0]
		queue = queue[1:]
		dst := from
		if it.toReceiver {
			dst = to
		}
		r.Wire = append(r.Wire, Hop{ToReceiver: it.toReceiver, Stanza: it.st})
		got, err := receive(ctx, dst, it.st)
		if err != nil {
			r.Errors = append(r.Errors, err)
			if !goOn {
				return r
			}
			continue
		}
		if it.toReceiver {
			r.Opened = append(r.Opened, got.Opened...)
		} else {
			r.Back = append(r.Back, got.Opened...)
		}
		for _, rep := range got.Replies {
			queue = append(queue, item{!it.toReceiver, rep})
		}
	}
	return r
}

// receive calls Receive on a copy of st, so that a session that keeps or
// changes its input cannot corrupt the caller's, and turns a panic into an
// error that names it.
func receive(ctx context.Context, s e2e.Session, st *e2e.Stanza) (got e2e.Received, err error) {
	defer func() {
		if p := recover(); p != nil {
			got, err = e2e.Received{}, &panicError{p}
		}
	}()
	got, err = s.Receive(ctx, st.Clone())
	if err != nil && (len(got.Opened) > 0) {
		return got, &partialError{err}
	}
	return got, err
}

type panicError struct{ v any }

func (p *panicError) Error() string { return fmt.Sprintf("Receive panicked: %v", p.v) }

// partialError marks a Receive that returned an error together with opened
// stanzas: plaintext on failure.
type partialError struct{ err error }

func (p *partialError) Error() string {
	return fmt.Sprintf("Receive returned opened stanzas together with the error %v", p.err)
}
func (p *partialError) Unwrap() error { return p.err }

// isKitFailure reports errors that are failures whatever the scheme claims.
func isKitFailure(err error) bool {
	var pe *panicError
	var pa *partialError
	return errors.As(err, &pe) || errors.As(err, &pa)
}
