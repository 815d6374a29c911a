package syncrand

import (
	"crypto/rand"
	mrand "math/rand/v2"
	"sync"
	"testing"
)

// A ChaCha8 stream read from many goroutines at once: the race detector
// would see the unserialized reads.
func TestConcurrentReads(t *testing.T) {
	if New(rand.Reader) != rand.Reader {
		t.Error("crypto/rand was wrapped")
	}
	r := New(mrand.NewChaCha8([32]byte{7}))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := make([]byte, 64)
			for range 100 {
				if _, err := r.Read(b); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
