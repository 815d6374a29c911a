//go:debug cryptocustomrand=1

package xtls

import (
	"bytes"
	"context"
	"crypto/tls"
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// A responder whose Config.Rand is seeded answers a recorded initiator with
// the same bytes every time, so that a recorded session replays: the test
// vectors depend on it. (The directive above lets crypto/ecdh honour the
// seeded reader, as the vector tools do.)
func TestSeededResponderReplays(t *testing.T) {
	for _, v := range []struct {
		name string
		max  uint16
	}{{"tls13", tls.VersionTLS13}, {"tls12", tls.VersionTLS12}} {
		t.Run(v.name, func(t *testing.T) {
			// The initiator offers X25519 only: ML-KEM's randomness
			// cannot be seeded.
			a, b := pair(t, Options{MaxVersion: v.max, CurvePreferences: []tls.CurveID{tls.X25519}})
			route := map[*Session]*Session{a: b, b: a}
			var toB, fromB []*e2e.Stanza
			p := pumpWith(t, route, a, encrypt(t, a, msg(julietFull, romeoFull, "replay me")), func(to *Session, st *e2e.Stanza) *e2e.Stanza {
				if to == b {
					toB = append(toB, st.Clone())
				} else {
					fromB = append(fromB, st.Clone())
				}
				return st
			})
			if len(p.opened[b]) != 1 {
				t.Fatalf("romeo opened %d stanzas, errors %v", len(p.opened[b]), p.errs)
			}
			for run := 0; run < 2; run++ {
				_, replay := pair(t, Options{MaxVersion: v.max})
				var got []*e2e.Stanza
				opened := 0
				for _, st := range toB {
					res, err := replay.Receive(context.Background(), st.Clone())
					if err != nil {
						t.Fatalf("run %d: replayed stanza refused: %v\n%s", run, err, st)
					}
					got = append(got, res.Replies...)
					opened += len(res.Opened)
				}
				if opened != 1 {
					t.Fatalf("run %d: the replay opened %d stanzas", run, opened)
				}
				// The replay answers as the recorded responder did, up to
				// the message (the recording also holds what followed).
				for i, st := range got {
					if i >= len(fromB) || !bytes.Equal(st.Bytes(), fromB[i].Bytes()) {
						t.Fatalf("run %d: reply %d differs from the recording:\n%s", run, i, st)
					}
				}
			}
		})
	}
}
