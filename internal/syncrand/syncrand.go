// Package syncrand makes a source of randomness safe for concurrent use.
// e2e.Config.Rand need not be (a seeded math/rand/v2 ChaCha8 is not), but a
// Session must be; sessions that draw from several goroutines wrap it.
package syncrand

import (
	"crypto/rand"
	"io"
	"sync"
)

// New returns r with its reads serialized; crypto/rand's Reader, safe
// already, is returned as it is.
func New(r io.Reader) io.Reader {
	if r == rand.Reader {
		return r
	}
	return &locked{r: r}
}

type locked struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *locked) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}
