// Package stablerand keeps a seeded source of randomness aligned across
// runs. Since Go 1.26, crypto packages ignore a caller's random source
// unless GODEBUG=cryptocustomrand=1; with it, key generation and DSA or
// ECDSA signing first read one byte from the source with probability 1/2
// (crypto/internal/randutil.MaybeReadByte), so that nobody depends on the
// stream. A session seeded to replay a recorded handshake, or rebuilt from
// its seed to capture its state, does depend on it.
package stablerand

import (
	"crypto/rand"
	"io"
)

// New returns r answering one-byte reads with a zero byte that it does not
// take from r; longer reads come from r, filled completely. crypto/rand's
// Reader is returned as it is. Use it only for seeded sources: the protocols
// here never draw a single byte, so nothing but that stray read is served
// from the constant.
func New(r io.Reader) io.Reader {
	if r == rand.Reader {
		return r
	}
	return stable{r}
}

type stable struct{ r io.Reader }

func (s stable) Read(p []byte) (int, error) {
	if len(p) == 1 {
		p[0] = 0
		return 1, nil
	}
	return io.ReadFull(s.r, p)
}
