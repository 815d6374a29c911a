package xtls

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// syncPair is a sending and a receiving conn driven by hand: every stanza
// the sender emits is captured.
type syncPair struct {
	tx, rx *ibbConn
	sent   []*e2e.Stanza
	hs     []func(*e2e.Stanza)
}

func newSyncPair(block, window int) *syncPair {
	p := &syncPair{}
	n := 0
	p.tx = newIBBConn(newSched(false), julietFull, romeoFull, "s1", block, window)
	p.rx = newIBBConn(newSched(false), romeoFull, julietFull, "s1", block, window)
	for _, c := range []*ibbConn{p.tx, p.rx} {
		c.newID = func() string { n++; return strconv.Itoa(n) }
	}
	p.tx.send = func(st *e2e.Stanza, h func(*e2e.Stanza)) { p.sent = append(p.sent, st); p.hs = append(p.hs, h) }
	p.rx.send = func(*e2e.Stanza, func(*e2e.Stanza)) {}
	return p
}

// deliver hands every captured stanza to rx and its reply back to tx.
func (p *syncPair) deliver(t *testing.T) []byte {
	t.Helper()
	var got []byte
	for len(p.sent) > 0 {
		st, h := p.sent[0], p.hs[0]
		p.sent, p.hs = p.sent[1:], p.hs[1:]
		p.rx.s.mu.Lock()
		reply, err := p.rx.handleLocked(st, ibbChild(st))
		p.rx.s.mu.Unlock()
		if err != nil {
			t.Fatalf("rx: %v", err)
		}
		p.tx.s.mu.Lock()
		h(reply)
		p.tx.s.mu.Unlock()
	}
	p.rx.s.mu.Lock()
	got, p.rx.rbuf = p.rx.rbuf, nil
	p.rx.s.mu.Unlock()
	return got
}

func TestIBBChunking(t *testing.T) {
	for _, block := range []int{1, 2, 3, 4, 5, 7, 100, 4096} {
		for _, size := range []int{1, 2, 3, 4, 5, 99, 100, 101, 1000, 9999} {
			p := newSyncPair(block, 1<<20)
			msg := bytes.Repeat([]byte{0xA5, 0x5A, 0x00}, size)[:size]
			if _, err := p.tx.Write(msg); err != nil {
				t.Fatal(err)
			}
			if want := (size + block - 1) / block; len(p.sent) != want {
				t.Fatalf("block %d size %d: %d chunks, want %d", block, size, len(p.sent), want)
			}
			for i, st := range p.sent {
				d := ibbChild(st)
				if seq, _ := d.AttrValue("seq"); seq != strconv.Itoa(i) {
					t.Fatalf("seq %s, want %d", seq, i)
				}
				txt := d.Text()
				if strings.ContainsAny(txt, " \n\r\t") || len(txt)%4 != 0 {
					t.Fatalf("chunk not padded base64 without whitespace: %q", txt)
				}
				raw, err := base64.StdEncoding.Strict().DecodeString(txt)
				if err != nil || len(raw) > block {
					t.Fatalf("chunk of %d > block %d (%v)", len(raw), block, err)
				}
			}
			if got := p.deliver(t); !bytes.Equal(got, msg) {
				t.Fatalf("block %d size %d: got %d bytes", block, size, len(got))
			}
		}
	}
}

// TestIBBSeqWraps sends 65546 one-byte chunks: seq goes 0…65535, 0…9, each
// delivered at once.
func TestIBBSeqWraps(t *testing.T) {
	p := newSyncPair(4096, 1)
	var last string
	for i := 0; i < 65546; i++ {
		if _, err := p.tx.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if len(p.sent) != 1 {
			t.Fatalf("write %d: %d chunks sent at once", i, len(p.sent))
		}
		last, _ = ibbChild(p.sent[0]).AttrValue("seq")
		if got := p.deliver(t); len(got) != 1 || got[0] != byte(i) {
			t.Fatalf("write %d: delivered %v", i, got)
		}
	}
	if last != "9" {
		t.Fatalf("last seq %s, want 9", last)
	}
}

// TestIBBWindow: with a window of 2, a write of 5 chunks sends 2 and the
// rest as results come in.
func TestIBBWindow(t *testing.T) {
	p := newSyncPair(10, 2)
	p.tx.Write(make([]byte, 50))
	if len(p.sent) != 2 {
		t.Fatalf("%d in flight, want 2", len(p.sent))
	}
	if got := p.deliver(t); len(got) != 50 {
		t.Fatalf("delivered %d", len(got))
	}
}

func TestIBBReceiveErrors(t *testing.T) {
	data := func(seq, sid, text string) *e2e.Stanza {
		d := ibbElement("data")
		d.Attr = attrs("seq", seq, "sid", sid)
		d.SetText(text)
		return iqSet(julietFull, romeoFull, "x", d)
	}
	for _, c := range []struct {
		st    *e2e.Stanza
		cond  string
		class error
		fatal bool
	}{
		{data("1", "s1", "AAAA"), "unexpected-request", e2e.ErrMalformed, true},
		{data("65535", "s1", "AAAA"), "", e2e.ErrReplay, false},
		{data("0", "s1", "AAA"), "bad-request", e2e.ErrMalformed, true},
		{data("0", "s1", "AAB="), "bad-request", e2e.ErrMalformed, true}, // non-canonical padding bits
		{data("0", "s1", "A=AA"), "bad-request", e2e.ErrMalformed, true},
		{data("0", "s1", "AA AA\n"), "", nil, false}, // XML whitespace is tolerated
		{data("0", "s1", ""), "bad-request", e2e.ErrMalformed, true},
		{data("-0", "s1", "AAAA"), "bad-request", e2e.ErrMalformed, true},
		{data("0", "s2", "AAAA"), "item-not-found", e2e.ErrDecrypt, false},
		{data("0", "s1", base64.StdEncoding.EncodeToString(make([]byte, 11))), "bad-request", e2e.ErrMalformed, true},
	} {
		rx := newIBBConn(newSched(false), romeoFull, julietFull, "s1", 10, 1)
		rx.s.mu.Lock()
		reply, err := rx.handleLocked(c.st, ibbChild(c.st))
		fatal := rx.err != nil
		rx.s.mu.Unlock()
		if c.class == nil {
			if err != nil || reply.Type != "result" {
				t.Fatalf("%s: %v", c.st, err)
			}
			continue
		}
		if !errors.Is(err, c.class) || fatal != c.fatal {
			t.Fatalf("%s: err %v fatal %v", c.st, err, fatal)
		}
		if c.cond != "" && (reply == nil || errorCondition(reply) != c.cond) {
			t.Fatalf("%s: reply %v, want %s", c.st, reply, c.cond)
		}
		if fatal {
			if _, err := rx.Read(make([]byte, 1)); err == nil {
				t.Fatal("read after fatal error")
			}
		}
	}
}

func TestIBBOpenBlockSize(t *testing.T) {
	rx := newIBBConn(newSched(false), romeoFull, julietFull, "s1", 100, 1)
	open := func(bs string) *e2e.Stanza {
		o := ibbElement("open")
		o.Attr = attrs("block-size", bs, "sid", "s1", "stanza", "iq")
		return iqSet(julietFull, romeoFull, "o", o)
	}
	rx.s.mu.Lock()
	defer rx.s.mu.Unlock()
	if reply, _ := rx.handleLocked(open("200"), ibbChild(open("200"))); errorCondition(reply) != "resource-constraint" {
		t.Fatalf("too large: %v", reply)
	}
	if reply, err := rx.handleLocked(open("50"), ibbChild(open("50"))); err != nil || reply.Type != "result" || rx.block != 50 {
		t.Fatalf("smaller: %v %v %d", reply, err, rx.block)
	}
}

// TestIBBConnDeadlinesAndClose uses the asynchronous router: a read
// deadline wakes a blocked Read, Close unblocks a reader, EOF follows the
// peer's <close/>.
func TestIBBConnDeadlinesAndClose(t *testing.T) {
	r := newRouter(t)
	a := r.conn(julietFull, romeoFull, "s1", 4096)
	b := r.conn(romeoFull, julietFull, "s1", 4096)
	b.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := b.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("deadline: %v", err)
	}
	b.SetReadDeadline(time.Time{})
	// A one-byte write is delivered at once.
	if _, err := a.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if n, err := b.Read(buf); n != 1 || err != nil {
		t.Fatalf("read %d %v", n, err)
	}
	done := make(chan error)
	go func() { _, err := b.Read(buf); done <- err }()
	b.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("close: %v", err)
	}
	// a got b's <close/>: EOF.
	if _, err := a.Read(buf); err != io.EOF {
		t.Fatalf("after peer close: %v", err)
	}
	if _, err := a.Write([]byte("y")); err == nil {
		t.Fatal("write after peer close")
	}
}

// TestSplitRecords: a short chunk that ends inside a TLS record is refused
// unless Options.SplitRecords is set.
func TestSplitRecords(t *testing.T) {
	rec := append([]byte{23, 3, 3, 0, 10}, make([]byte, 10)...)
	for _, split := range []bool{false, true} {
		rx := newIBBConn(newSched(false), romeoFull, julietFull, "s1", 4096, 1)
		rx.aligned = !split
		var errs []error
		for i, part := range [][]byte{rec[:7], rec[7:]} {
			d := ibbElement("data")
			d.Attr = attrs("seq", strconv.Itoa(i), "sid", "s1")
			d.SetText(base64.StdEncoding.EncodeToString(part))
			st := iqSet(julietFull, romeoFull, "x", d)
			rx.s.mu.Lock()
			_, err := rx.handleLocked(st, d)
			rx.s.mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
		}
		if split != (len(errs) == 0) {
			t.Fatalf("split %v: errors %v", split, errs)
		}
	}
}
