package server

import (
	"sync"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// An Interceptor turns a server into a malicious one at one hop: every
// stanza that reaches the hop (and that Match accepts) is given to Do, and
// the stanzas Do returns are forwarded in its place, after Delay. Do may
// drop (return nil), duplicate, rewrite, inject, or hold stanzas back to
// release them later (reorder).
//
// At the inbound hops (C2SIn, S2SIn) the returned stanzas are routed as if
// received, without the sender checks (a malicious server forges freely);
// at the outbound hops (S2SOut, C2SOut) they are written to the same stream.
// Do runs on the connection's goroutine: it must not block for long.
type Interceptor struct {
	Hop   Hop                                // where to act; "" acts at every hop
	Match func(st *e2e.Stanza) bool          // nil matches every stanza
	Do    func(st *e2e.Stanza) []*e2e.Stanza // nil forwards unchanged
	Delay time.Duration                      // forward what Do returned after this long
}

// Intercept installs ic and returns a function that removes it.
// Interceptors run in the order they were installed; each sees what the
// previous one returned.
func (s *Server) Intercept(ic Interceptor) (remove func()) {
	s.hookMu.Lock()
	defer s.hookMu.Unlock()
	h := &ic
	s.hooks = append(s.hooks, h)
	return func() {
		s.hookMu.Lock()
		defer s.hookMu.Unlock()
		for i, x := range s.hooks {
			if x == h {
				s.hooks = append(s.hooks[:i:i], s.hooks[i+1:]...)
				return
			}
		}
	}
}

// intercept runs the interceptors for hop over st. It returns the stanzas
// to forward now, the action taken, and schedules delayed ones with later.
func (s *Server) intercept(hop Hop, st *e2e.Stanza, later func([]*e2e.Stanza)) (out []*e2e.Stanza, action string) {
	s.hookMu.Lock()
	hooks := s.hooks
	s.hookMu.Unlock()
	out = []*e2e.Stanza{st}
	if len(hooks) == 0 {
		return out, ""
	}
	for _, h := range hooks {
		if h.Hop != "" && h.Hop != hop {
			continue
		}
		var next []*e2e.Stanza
		for _, x := range out {
			if h.Match != nil && !h.Match(x) {
				next = append(next, x)
				continue
			}
			res := []*e2e.Stanza{x}
			if h.Do != nil {
				res = h.Do(x.Clone())
				switch {
				case len(res) == 0:
					action = "dropped"
				case len(res) > 1:
					action = "duplicated"
				case !res[0].Equal(x):
					action = "rewritten"
				}
			}
			if h.Delay > 0 && len(res) > 0 {
				action = "delayed"
				d := res
				time.AfterFunc(h.Delay, func() { later(d) })
				continue
			}
			next = append(next, res...)
		}
		out = next
	}
	return out, action
}

// Drop returns a Do function that drops every stanza.
func Drop() func(*e2e.Stanza) []*e2e.Stanza {
	return func(*e2e.Stanza) []*e2e.Stanza { return nil }
}

// Duplicate returns a Do function that forwards n copies of each stanza.
func Duplicate(n int) func(*e2e.Stanza) []*e2e.Stanza {
	return func(st *e2e.Stanza) []*e2e.Stanza {
		out := make([]*e2e.Stanza, 0, n)
		for range n {
			out = append(out, st.Clone())
		}
		return out
	}
}

// Rewrite returns a Do function that lets f change each stanza in place and
// forwards it.
func Rewrite(f func(*e2e.Stanza)) func(*e2e.Stanza) []*e2e.Stanza {
	return func(st *e2e.Stanza) []*e2e.Stanza {
		f(st)
		return []*e2e.Stanza{st}
	}
}

// Reorder returns a Do function that holds back every odd stanza and
// forwards it after the next one, so pairs arrive swapped. A stanza still
// held when traffic stops is never forwarded (a deliberate loss).
func Reorder() func(*e2e.Stanza) []*e2e.Stanza {
	var mu sync.Mutex
	var held *e2e.Stanza
	return func(st *e2e.Stanza) []*e2e.Stanza {
		mu.Lock()
		defer mu.Unlock()
		if held == nil {
			held = st
			return nil
		}
		out := []*e2e.Stanza{st, held}
		held = nil
		return out
	}
}
