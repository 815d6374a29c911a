package xtls

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/xmpp/jid"
)

// IBB (XEP-0047) limits and defaults.
const (
	// DefaultBlockSize is the block-size we offer: the raw bytes per <data/>.
	DefaultBlockSize = 4096
	// DefaultWindow is how many <data/> IQs may await their result at once.
	DefaultWindow = 32
	// MaxReadBuffer caps the bytes received but not yet read by TLS.
	MaxReadBuffer = 1 << 20
	// maxWriteQueue caps the bytes written but not yet sent for want of IQ
	// results; past it Write fails.
	maxWriteQueue = 8 << 20
)

// errIBB is the root of IBB transport errors.
var (
	errIBBClosed = errors.New("xtls: ibb: bytestream closed")
)

// An IBBError is a transport failure of an in-band bytestream: a bad or
// out-of-order chunk from the peer, or an error reply to one of ours. Cond
// is the XMPP stanza error condition sent or received.
type IBBError struct {
	Cond   string // e.g. "unexpected-request", "bad-request", "item-not-found"
	Remote bool   // the peer answered one of our IQs with this error
	Detail string
	class  error
}

func (e *IBBError) Error() string {
	who := "local"
	if e.Remote {
		who = "remote"
	}
	return fmt.Sprintf("xtls: ibb: %s %s: %s", who, e.Cond, e.Detail)
}

// Unwrap returns the e2e error class: ErrMalformed for framing errors,
// ErrReplay for a replayed chunk.
func (e *IBBError) Unwrap() error { return e.class }

// addr is a JID as a net.Addr.
type addr struct{ j jid.JID }

func (a addr) Network() string { return "xmpp-ibb" }
func (a addr) String() string  { return a.j.String() }

// ibbConn is one in-band bytestream as a net.Conn: the carrier of an XTLS
// tunnel. It never holds bytes back: Write splits its input into chunks of
// at most the block size, each encoded on its own as padded base64, and
// hands them to the transport at once, up to window chunks awaiting their IQ
// result; the rest go out as results come in (IQ-acknowledged flow control).
// Read returns what has arrived, in order, as soon as there is any.
//
// All state is guarded by the shared sched's lock; the transport callbacks
// (send) are called with it held and must not block.
type ibbConn struct {
	s             *sched
	local, remote jid.JID
	sid           string
	block         int
	window        int
	waitAcks      bool // Write returns only once its chunks are acknowledged
	// aligned makes the receiver require that a chunk shorter than the
	// block size end on a TLS record boundary. Our sender always does so
	// (crypto/tls writes whole records, and only the last chunk of a Write
	// is short), and the check turns a truncated chunk into an immediate
	// error instead of a tunnel that waits for the rest of a record.
	aligned bool
	// needOpen makes the receiver refuse data and <close/> until the
	// bytestream is open; opened records that it is. With peerOpens (the
	// responder of an ibb:1 session) the peer's <open/> opens it, with the
	// block-size of session-accept; otherwise (the initiator) the session
	// marks it open once session-accept arrived (ibb:0) or its own <open/>
	// was acknowledged (ibb:1).
	needOpen, peerOpens, opened bool
	// fixedBlock: the block-size was negotiated in Jingle (XEP-0261), so
	// an <open/> must carry exactly that value.
	fixedBlock bool
	recHdr     []byte // partial TLS record header received
	recLeft    int    // bytes of the current TLS record body still to come
	send       func(st *e2e.Stanza, onResult func(*e2e.Stanza))
	newID      func() string
	onFail     func(err error) // a fatal transport error happened (lock held)

	sendSeq, recvSeq uint16
	queue            [][]byte
	queued           int
	inflight         int
	rbuf             []byte
	peerClosed       bool // the peer sent <close/>: EOF once rbuf is drained
	closed           bool // Close was called
	err              error
	rdl, wdl         time.Time
	rtimer, wtimer   *time.Timer
}

func newIBBConn(s *sched, local, remote jid.JID, sid string, block, window int) *ibbConn {
	if window < 1 {
		window = 1
	}
	return &ibbConn{s: s, local: local, remote: remote, sid: sid, block: block, window: window}
}

func ibbElement(local string) *e2e.Element { return &e2e.Element{Name: xmlName(nsIBB, local)} }

func iqSet(from, to jid.JID, id string, child *e2e.Element) *e2e.Stanza {
	return &e2e.Stanza{Kind: e2e.IQ, From: from, To: to, ID: id, Type: "set", Children: []*e2e.Element{child}}
}

// iqResult answers the IQ req from local.
func iqResult(local jid.JID, req *e2e.Stanza) *e2e.Stanza {
	return &e2e.Stanza{Kind: e2e.IQ, From: local, To: req.From, ID: req.ID, Type: "result"}
}

const nsStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"

// iqError answers the IQ req with a stanza error of the given type and
// condition, plus an application-specific condition when app is not nil.
func iqError(local jid.JID, req *e2e.Stanza, typ, cond string, app *e2e.Element) *e2e.Stanza {
	e := &e2e.Element{Name: xmlName(e2e.NSClient, "error"), Attr: attrs("type", typ)}
	e.AppendChild(&e2e.Element{Name: xmlName(nsStanzas, cond)})
	if app != nil {
		e.AppendChild(app)
	}
	return &e2e.Stanza{Kind: e2e.IQ, From: local, To: req.From, ID: req.ID, Type: "error", Children: []*e2e.Element{e}}
}

// errorCondition returns the defined condition of an error stanza.
func errorCondition(st *e2e.Stanza) string {
	for _, c := range st.Children {
		if c.Name.Local != "error" {
			continue
		}
		for _, d := range c.Elements() {
			if d.Name.Space == nsStanzas && d.Name.Local != "text" {
				return d.Name.Local
			}
		}
	}
	return "undefined-condition"
}

// sendChunksLocked sends queued chunks while the window allows.
func (c *ibbConn) pumpLocked() {
	for len(c.queue) > 0 && c.inflight < c.window && c.err == nil && !c.closed {
		chunk := c.queue[0]
		c.queue = c.queue[1:]
		c.queued -= len(chunk)
		d := ibbElement("data")
		d.Attr = attrs("seq", strconv.Itoa(int(c.sendSeq)), "sid", c.sid)
		d.SetText(base64.StdEncoding.EncodeToString(chunk))
		c.sendSeq++ // uint16: wraps 65535 → 0
		c.inflight++
		c.send(iqSet(c.local, c.remote, c.newID(), d), c.dataResultLocked)
	}
	c.s.cond.Broadcast()
}

func (c *ibbConn) dataResultLocked(res *e2e.Stanza) {
	c.inflight--
	if res.Type == "error" {
		c.failLocked(&IBBError{Cond: errorCondition(res), Remote: true, Detail: "peer refused a <data/> chunk", class: e2e.ErrMalformed})
		return
	}
	c.pumpLocked()
}

// failLocked records a fatal transport error and tells the owner.
func (c *ibbConn) failLocked(err error) {
	if c.err != nil || c.closed {
		return
	}
	c.err = err
	c.queue, c.queued = nil, 0
	c.s.cond.Broadcast()
	if c.onFail != nil {
		c.onFail(err)
	}
}

func passed(t time.Time) bool { return !t.IsZero() && !time.Now().Before(t) }

// Write sends all of p before it returns (see ibbConn).
func (c *ibbConn) Write(p []byte) (int, error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if err := c.writableLocked(); err != nil {
		return 0, err
	}
	if c.queued+len(p) > maxWriteQueue {
		return 0, &net.OpError{Op: "write", Net: "xmpp-ibb", Err: errors.New("xtls: ibb: write queue full: the peer does not acknowledge")}
	}
	for rest := p; len(rest) > 0; {
		n := min(len(rest), c.block)
		c.queue = append(c.queue, append([]byte(nil), rest[:n]...))
		c.queued += n
		rest = rest[n:]
	}
	c.pumpLocked()
	if c.waitAcks {
		c.s.waitLocked(func() bool {
			return (len(c.queue) == 0 && c.inflight == 0) || c.writableLocked() != nil
		})
		if err := c.writableLocked(); err != nil && (len(c.queue) > 0 || c.inflight > 0) {
			return 0, err
		}
	}
	return len(p), nil
}

func (c *ibbConn) writableLocked() error {
	switch {
	case c.closed:
		return net.ErrClosed
	case c.err != nil:
		return c.err
	case c.peerClosed:
		return &net.OpError{Op: "write", Net: "xmpp-ibb", Err: errIBBClosed}
	case passed(c.wdl):
		return os.ErrDeadlineExceeded
	}
	return nil
}

// Read returns buffered bytes, blocking until some arrive, the stream ends
// (io.EOF), it fails, it is closed or the read deadline passes.
func (c *ibbConn) Read(p []byte) (int, error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	c.s.waitLocked(func() bool {
		return len(c.rbuf) > 0 || c.peerClosed || c.err != nil || c.closed || passed(c.rdl)
	})
	switch {
	case c.closed:
		return 0, net.ErrClosed
	case c.err != nil:
		return 0, c.err
	case len(c.rbuf) > 0:
		n := copy(p, c.rbuf)
		c.rbuf = c.rbuf[n:]
		if len(c.rbuf) == 0 {
			c.rbuf = nil
		}
		return n, nil
	case c.peerClosed:
		return 0, io.EOF
	}
	return 0, os.ErrDeadlineExceeded
}

// Close closes the stream, sending <close/> unless the stream already ended.
// It unblocks pending reads and writes and does not wait for the peer.
func (c *ibbConn) Close() error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.closeLocked(true)
}

func (c *ibbConn) closeLocked(sendClose bool) error {
	if c.closed {
		return net.ErrClosed
	}
	if sendClose && c.err == nil && !c.peerClosed {
		cl := ibbElement("close")
		cl.Attr = attrs("sid", c.sid)
		c.send(iqSet(c.local, c.remote, c.newID(), cl), func(*e2e.Stanza) {})
	}
	c.closed = true
	c.queue, c.queued = nil, 0
	for _, t := range []*time.Timer{c.rtimer, c.wtimer} {
		if t != nil {
			t.Stop()
		}
	}
	c.s.cond.Broadcast()
	return nil
}

func (c *ibbConn) LocalAddr() net.Addr  { return addr{c.local} }
func (c *ibbConn) RemoteAddr() net.Addr { return addr{c.remote} }

func (c *ibbConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

func (c *ibbConn) SetReadDeadline(t time.Time) error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	c.rdl = t
	c.rtimer = c.armLocked(c.rtimer, t)
	return nil
}

func (c *ibbConn) SetWriteDeadline(t time.Time) error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	c.wdl = t
	c.wtimer = c.armLocked(c.wtimer, t)
	return nil
}

// armLocked replaces old with a timer that wakes the waiters at t.
func (c *ibbConn) armLocked(old *time.Timer, t time.Time) *time.Timer {
	if old != nil {
		old.Stop()
	}
	c.s.cond.Broadcast()
	if t.IsZero() || c.closed || !t.After(time.Now()) {
		return nil // no deadline, or one already passed: waiters see it at once
	}
	return time.AfterFunc(time.Until(t), func() {
		c.s.mu.Lock()
		c.s.cond.Broadcast()
		c.s.mu.Unlock()
	})
}

// handleLocked processes an incoming IBB element el (open, data or close)
// carried by st, and returns the reply to send (nil for a message carrier).
// A non-nil error wrapping ErrReplay leaves the stream as it was; any other
// error has already failed the stream.
func (c *ibbConn) handleLocked(st *e2e.Stanza, el *e2e.Element) (*e2e.Stanza, error) {
	isIQ := st.Kind == e2e.IQ
	reply := func(r *e2e.Stanza) *e2e.Stanza {
		if !isIQ {
			return nil
		}
		return r
	}
	fail := func(cond, detail string) (*e2e.Stanza, error) {
		err := &IBBError{Cond: cond, Detail: detail, class: e2e.ErrMalformed}
		c.failLocked(err)
		return reply(iqError(c.local, st, "cancel", cond, nil)), err
	}
	if sid, _ := el.AttrValue("sid"); sid != c.sid || !st.From.Equal(c.remote) {
		return reply(iqError(c.local, st, "cancel", "item-not-found", nil)),
			&IBBError{Cond: "item-not-found", Detail: "unknown bytestream", class: e2e.ErrDecrypt}
	}
	if c.closed || c.err != nil {
		return reply(iqError(c.local, st, "cancel", "item-not-found", nil)),
			&IBBError{Cond: "item-not-found", Detail: "bytestream already ended", class: e2e.ErrDecrypt}
	}
	if c.needOpen && !c.opened && (el.Name.Local != "open" || !c.peerOpens) {
		return fail("item-not-found", "<"+el.Name.Local+"/> before <open/>")
	}
	switch el.Name.Local {
	case "open":
		bs, err := parseBlockSize(el)
		if err != nil {
			return reply(iqError(c.local, st, "modify", "bad-request", nil)), &IBBError{Cond: "bad-request", Detail: err.Error(), class: e2e.ErrMalformed}
		}
		// XEP-0047 §2.1: a block-size the responder cannot take gets
		// <resource-constraint/>. Under Jingle (XEP-0261 §2.2) the size was
		// negotiated in session-accept, and an <open/> with any other value,
		// smaller ones included, gets the same error.
		if bs > c.block || (c.fixedBlock && bs != c.block) {
			return reply(iqError(c.local, st, "modify", "resource-constraint", nil)),
				&IBBError{Cond: "resource-constraint", Detail: fmt.Sprintf("block-size %d, negotiated %d", bs, c.block), class: e2e.ErrMalformed}
		}
		if c.opened {
			if c.needOpen && !c.peerOpens { // we are the initiator
				return reply(iqError(c.local, st, "cancel", "not-acceptable", nil)),
					&IBBError{Cond: "not-acceptable", Detail: "<open/> from the responder: the initiator opens the bytestream", class: e2e.ErrMalformed}
			}
			return reply(iqError(c.local, st, "cancel", "not-acceptable", nil)),
				&IBBError{Cond: "not-acceptable", Detail: "bytestream opened twice", class: e2e.ErrReplay}
		}
		if bs < c.block {
			c.block = bs
		}
		c.opened = true
		return reply(iqResult(c.local, st)), nil
	case "close":
		c.peerClosed = true
		c.queue, c.queued = nil, 0
		c.s.cond.Broadcast()
		return reply(iqResult(c.local, st)), nil
	case "data":
	default:
		return fail("bad-request", "unknown IBB element <"+el.Name.Local+"/>")
	}
	if c.peerClosed {
		// XEP-0047 §2.3: after <close/> both parties consider the
		// bytestream closed, so its sid is no longer known.
		return fail("item-not-found", "data after <close/>")
	}
	sv, _ := el.AttrValue("seq")
	seq, err := parseSeq(sv)
	if err != nil {
		return fail("bad-request", err.Error())
	}
	if seq != c.recvSeq {
		if behind := c.recvSeq - seq; behind >= 1 && behind <= 1<<15 {
			// Already delivered: a replay (or a duplicate from a resending
			// server). Nothing is processed and the stream goes on.
			return nil, &IBBError{Cond: "unexpected-request", Detail: fmt.Sprintf("seq %d already received", seq), class: e2e.ErrReplay}
		}
		return fail("unexpected-request", fmt.Sprintf("seq %d, expected %d", seq, c.recvSeq))
	}
	data, err := decodeChunk(el.Text())
	if err != nil {
		return fail("bad-request", err.Error())
	}
	if len(data) == 0 {
		return fail("bad-request", "empty chunk")
	}
	if len(data) > c.block {
		return fail("bad-request", fmt.Sprintf("chunk of %d bytes exceeds block-size %d", len(data), c.block))
	}
	if c.aligned {
		hdr, left := trackRecords(c.recHdr, c.recLeft, data)
		if len(data) < c.block && (len(hdr) != 0 || left != 0) {
			return fail("bad-request", fmt.Sprintf("chunk of %d bytes (< block-size %d) ends inside a TLS record: truncated", len(data), c.block))
		}
		c.recHdr, c.recLeft = hdr, left
	}
	if len(c.rbuf)+len(data) > MaxReadBuffer {
		return fail("resource-constraint", "receive buffer full")
	}
	c.recvSeq++
	c.rbuf = append(c.rbuf, data...)
	c.s.cond.Broadcast()
	return reply(iqResult(c.local, st)), nil
}

// parseSeq parses a seq attribute: decimal digits only, at most 65535.
func parseSeq(v string) (uint16, error) {
	if v == "" || len(v) > 5 || strings.TrimLeft(v, "0123456789") != "" {
		return 0, fmt.Errorf("bad seq %q", v)
	}
	n, err := strconv.ParseUint(v, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("bad seq %q", v)
	}
	return uint16(n), nil
}

func parseBlockSize(el *e2e.Element) (int, error) {
	v, ok := el.AttrValue("block-size")
	if !ok || v == "" || len(v) > 5 || strings.TrimLeft(v, "0123456789") != "" {
		return 0, fmt.Errorf("bad block-size %q", v)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("bad block-size %q", v)
	}
	return n, nil
}

// decodeChunk decodes one <data/> payload: padded standard base64 (RFC 4648
// §4) with canonical padding bits, ignoring only XML whitespace.
func decodeChunk(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("bad base64: %v", err)
	}
	return b, nil
}

// trackRecords follows TLS record framing (5-byte headers with a 16-bit
// body length) over b, given the partial header and body bytes left from
// before, and returns the new state.
func trackRecords(hdr []byte, left int, b []byte) ([]byte, int) {
	hdr = append([]byte(nil), hdr...)
	for len(b) > 0 {
		if left > 0 {
			n := min(len(b), left)
			left -= n
			b = b[n:]
			continue
		}
		n := min(5-len(hdr), len(b))
		hdr = append(hdr, b[:n]...)
		b = b[n:]
		if len(hdr) == 5 {
			left = int(hdr[3])<<8 | int(hdr[4])
			hdr = hdr[:0]
		}
	}
	return hdr, left
}
