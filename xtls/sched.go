package xtls

import (
	"context"
	"sync"
)

// sched is the one lock of a Session and the bookkeeping that lets the
// synchronous e2e.Session calls wait for the TLS goroutines without sleeping.
//
// Every goroutine a Session starts is counted as running from the moment it
// is started until it parks in waitLocked (it blocks on input that only a
// later Encrypt or Receive can supply) or exits. A parked goroutine whose
// wait condition has become true counts as running again, even before the
// Go scheduler resumes it. The session is quiescent when nothing is running:
// every output the last input can cause has then been produced.
//
// With accounting off (an IBB conn used as a free-standing net.Conn), the
// same type is a plain mutex and condition variable.
type sched struct {
	mu         sync.Mutex
	cond       sync.Cond
	accounting bool
	running    int
	parked     map[*parker]struct{}
	wg         sync.WaitGroup
}

type parker struct{ ready func() bool }

func newSched(accounting bool) *sched {
	s := &sched{accounting: accounting, parked: make(map[*parker]struct{})}
	s.cond.L = &s.mu
	return s
}

// goLocked starts f on a counted goroutine. s.mu must be held.
func (s *sched) goLocked(f func()) {
	s.running++
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			s.running--
			s.cond.Broadcast()
			s.mu.Unlock()
		}()
		f()
	}()
}

// waitLocked blocks until ready returns true. s.mu must be held; ready is
// evaluated with it held and must not block.
func (s *sched) waitLocked(ready func() bool) {
	if ready() {
		return
	}
	var p *parker
	if s.accounting {
		p = &parker{ready: ready}
		s.parked[p] = struct{}{}
		s.running--
		s.cond.Broadcast()
	}
	for !ready() {
		s.cond.Wait()
	}
	if p != nil {
		delete(s.parked, p)
		s.running++
	}
}

func (s *sched) quiescentLocked() bool {
	if s.running > 0 {
		return false
	}
	for p := range s.parked {
		if p.ready() {
			return false
		}
	}
	return true
}

// quiesceLocked waits until the session is quiescent or ctx ends. s.mu must
// be held.
func (s *sched) quiesceLocked(ctx context.Context) error {
	if s.quiescentLocked() {
		return nil
	}
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	for !s.quiescentLocked() {
		if err := ctx.Err(); err != nil {
			return err
		}
		s.cond.Wait()
	}
	return nil
}
