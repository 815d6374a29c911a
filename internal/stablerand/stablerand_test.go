package stablerand

import (
	"bytes"
	"crypto/rand"
	mrand "math/rand/v2"
	"testing"
)

// A stray one-byte read leaves the stream where it was.
func TestOneByteReadsDoNotAdvance(t *testing.T) {
	if New(rand.Reader) != rand.Reader {
		t.Error("crypto/rand was wrapped")
	}
	a, b := New(mrand.NewChaCha8([32]byte{3})), New(mrand.NewChaCha8([32]byte{3}))
	one := make([]byte, 1)
	a.Read(one)
	a.Read(one)
	x, y := make([]byte, 32), make([]byte, 32)
	a.Read(x)
	b.Read(y)
	if !bytes.Equal(x, y) || bytes.Equal(x, make([]byte, 32)) {
		t.Fatalf("streams differ after one-byte reads: %x %x", x, y)
	}
}
