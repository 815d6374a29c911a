package xtls

import (
	"sync"
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/xmpp/jid"
)

// router links free-standing ibbConns (each with its own lock, Write
// waiting for acknowledgements) through an asynchronous in-memory XMPP
// route, as a server would: every stanza is serialized and parsed again.
type router struct {
	mu      sync.Mutex
	cond    sync.Cond
	q       []*e2e.Stanza
	closed  bool
	pending map[string]func(*e2e.Stanza)
	conns   map[string]*ibbConn
	done    chan struct{}
	n       int
}

func newRouter(t testing.TB) *router {
	r := &router{pending: map[string]func(*e2e.Stanza){}, conns: map[string]*ibbConn{}, done: make(chan struct{})}
	r.cond.L = &r.mu
	go r.run()
	t.Cleanup(r.close)
	return r
}

func (r *router) close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	r.cond.Broadcast()
	r.mu.Unlock()
	<-r.done
}

// conn makes the end of a bytestream at local towards remote.
func (r *router) conn(local, remote jid.JID, sid string, block int) *ibbConn {
	c := newIBBConn(newSched(false), local, remote, sid, block, 4)
	c.waitAcks = true
	c.send = func(st *e2e.Stanza, h func(*e2e.Stanza)) { r.push(st, h) }
	c.newID = func() string {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.n++
		return local.String() + "-" + itoa(r.n)
	}
	r.mu.Lock()
	r.conns[local.String()] = c
	r.mu.Unlock()
	return c
}

func itoa(n int) string {
	var b []byte
	for n > 0 || len(b) == 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

func (r *router) push(st *e2e.Stanza, h func(*e2e.Stanza)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h != nil {
		r.pending[st.ID] = h
	}
	r.q = append(r.q, st)
	r.cond.Broadcast()
}

func (r *router) run() {
	defer close(r.done)
	for {
		r.mu.Lock()
		for len(r.q) == 0 && !r.closed {
			r.cond.Wait()
		}
		if r.closed {
			r.mu.Unlock()
			return
		}
		st := r.q[0]
		r.q = r.q[1:]
		dst := r.conns[st.To.String()]
		var h func(*e2e.Stanza)
		if st.Type == "result" || st.Type == "error" {
			h = r.pending[st.ID]
			delete(r.pending, st.ID)
		}
		r.mu.Unlock()
		st, err := e2e.Parse(st.Bytes())
		if err != nil || dst == nil {
			panic("router: " + st.String())
		}
		dst.s.mu.Lock()
		var reply *e2e.Stanza
		switch {
		case h != nil:
			h(st)
		case st.Type == "set":
			reply, _ = dst.handleLocked(st, ibbChild(st))
		}
		dst.s.mu.Unlock()
		if reply != nil {
			r.push(reply, nil)
		}
	}
}
