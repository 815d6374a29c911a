package openpgp

import (
	"bytes"
	"context"
	"crypto"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// BenchmarkEncryptOpen measures Encrypt plus Receive of a message with a
// 1 KiB body against raw go-crypto encrypting the same bytes to the same
// two keys (recipient and sender) and decrypting them, interleaved in the
// same run. It reports the mean time of each and the codec's overhead in
// percent, the median over iterations of codec time / raw time - 1 (XML,
// armor, CRC, key selection and checks).
func BenchmarkEncryptOpen(b *testing.B) {
	for _, kt := range []struct{ name, juliet, romeo string }{
		{"cv25519", "juliet", "romeo"},
		{"rsa3072", "juliet-rsa", "romeo-rsa"},
	} {
		b.Run(kt.name, func(b *testing.B) {
			ctx := context.Background()
			juliet, romeo := fixtureIdentity(b, kt.juliet), fixtureIdentity(b, kt.romeo)
			js, err := Scheme.NewSession(e2e.Config{Local: juliet, JID: julietFull, Peers: []e2e.Peer{romeo.Public()}})
			if err != nil {
				b.Fatal(err)
			}
			rs, err := Scheme.NewSession(e2e.Config{Local: romeo, JID: romeoFull, Peers: []e2e.Peer{juliet.Public()}})
			if err != nil {
				b.Fatal(err)
			}
			body := strings.Repeat("0123456789abcdef", 64) // 1 KiB
			st := chat(julietFull, romeoFull, body)
			cfg := &packet.Config{DefaultHash: crypto.SHA256, DefaultCipher: packet.CipherAES128}
			to := []*openpgp.Entity{romeo.e, juliet.e}
			ring := openpgp.EntityList{romeo.e}

			codecOnce := func() {
				w, err := js.Encrypt(ctx, st)
				if err != nil {
					b.Fatal(err)
				}
				got, err := rs.Receive(ctx, w[0])
				if err != nil || got.Opened[0].Stanza.Body() != body {
					b.Fatal("codec round trip failed", err)
				}
			}
			rawOnce := func() {
				var buf bytes.Buffer
				pw, err := openpgp.Encrypt(&buf, to, nil, nil, cfg)
				if err != nil {
					b.Fatal(err)
				}
				io.WriteString(pw, body)
				pw.Close()
				md, err := openpgp.ReadMessage(&buf, ring, nil, cfg)
				if err != nil {
					b.Fatal(err)
				}
				pt, err := io.ReadAll(md.UnverifiedBody)
				if err != nil || string(pt) != body {
					b.Fatal("raw round trip failed", err)
				}
			}
			timed := func(f func()) time.Duration {
				t0 := time.Now()
				f()
				return time.Since(t0)
			}
			// Each iteration runs both, alternating which goes first, and the
			// overhead is the median of the per-iteration ratios, so that
			// bursts of load on a shared machine hit both sides alike.
			var codec, raw time.Duration
			var ratios []float64
			i := 0
			for b.Loop() {
				var c, r time.Duration
				if i%2 == 0 {
					c, r = timed(codecOnce), timed(rawOnce)
				} else {
					r, c = timed(rawOnce), timed(codecOnce)
				}
				i++
				codec += c
				raw += r
				ratios = append(ratios, float64(c)/float64(r))
			}
			slices.Sort(ratios)
			n := float64(len(ratios))
			b.ReportMetric(float64(codec.Nanoseconds())/n, "codec-ns/op")
			b.ReportMetric(float64(raw.Nanoseconds())/n, "raw-ns/op")
			b.ReportMetric(100*(ratios[len(ratios)/2]-1), "overhead-%")
		})
	}
}
