package otr

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// BenchmarkAKE measures a whole session start, query to the last AKE
// message, with fixture keys (no DSA key generation), and the bytes the
// five AKE messages put on the wire.
func BenchmarkAKE(b *testing.B) {
	ctx := context.Background()
	var wire int
	for b.Loop() {
		j, r := pair(b, Scheme, Scheme)
		q, err := j.s.Encrypt(ctx, msg(julietJID, romeoJID, "x", ""))
		if err != nil {
			b.Fatal(err)
		}
		wire = 0
		from, to, sts := j, r, q
		for len(sts) > 0 {
			var next []*e2e.Stanza
			for _, st := range sts {
				if strings.HasPrefix(st.Body(), "?OTR") && !strings.HasPrefix(st.Body(), "?OTR:AAMD") {
					wire += len(st.Bytes())
				}
				res, err := to.s.Receive(ctx, st)
				if err != nil {
					b.Fatal(err)
				}
				next = append(next, res.Replies...)
			}
			from, to, sts = to, from, next
		}
		if !j.s.Encrypted(romeoJID) {
			b.Fatal("no AKE")
		}
	}
	b.ReportMetric(float64(wire), "ake-wire-bytes")
}

// BenchmarkMessage1KiB measures Encrypt on one side and Receive on the
// other for a 1 KiB body, reports the wire size, and times raw AES-128-CTR
// plus HMAC-SHA1 (seal and open) of the same body in the same run.
func BenchmarkMessage1KiB(b *testing.B) {
	ctx := context.Background()
	j, r := established(b, Scheme, Scheme)
	body := strings.Repeat("0123456789abcdef", 64)
	var wire, stanza int
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	start := time.Now()
	n := 0
	for b.Loop() {
		n++
		ws, err := j.s.Encrypt(ctx, msg(julietJID, romeoJID, "b", body))
		if err != nil {
			b.Fatal(err)
		}
		wire, stanza = len(ws[0].Body()), len(ws[0].Bytes())
		res, err := r.s.Receive(ctx, ws[0])
		if err != nil || len(res.Opened) != 1 {
			b.Fatal(err)
		}
	}
	perMsg := float64(time.Since(start).Nanoseconds()) / float64(n)
	b.StopTimer()

	key, mk, iv := make([]byte, 16), make([]byte, 20), make([]byte, 16)
	ct, pt := make([]byte, len(body)), make([]byte, len(body))
	blk, _ := aes.NewCipher(key)
	rawStart := time.Now()
	for i := 0; i < n; i++ {
		iv[7] = byte(i)
		cipher.NewCTR(blk, iv).XORKeyStream(ct, []byte(body))
		m := hmac.New(sha1.New, mk)
		m.Write(ct)
		tag := m.Sum(nil)
		m = hmac.New(sha1.New, mk)
		m.Write(ct)
		if !hmac.Equal(tag, m.Sum(nil)) {
			b.Fatal("raw MAC")
		}
		cipher.NewCTR(blk, iv).XORKeyStream(pt, ct)
	}
	raw := float64(time.Since(rawStart).Nanoseconds()) / float64(n)
	b.ReportMetric(float64(wire), "body-bytes/msg")
	b.ReportMetric(float64(stanza), "stanza-bytes/msg")
	b.ReportMetric(raw, "raw-aesctr-hmacsha1-ns/msg")
	b.ReportMetric(perMsg/raw, "x-raw")
}

// BenchmarkEncryptVsLibotr compares Encrypt of a 1 KiB body with libotr
// 4.1.1 encrypting the same body in the same run (both in one established v3
// conversation, without answers, so neither side rotates keys). otr3
// recomputes the DH shared secret for every message; libotr keeps the
// session keys of the current key pair.
func BenchmarkEncryptVsLibotr(b *testing.B) {
	ctx := context.Background()
	l := newLink(b, Options{}, &transcript{})
	l.rem = libotrPeer(b, "v23")
	l.remoteCmd("!query")
	if l.s.Version(remoteJID) != 3 {
		b.Fatal("no v3 AKE with libotr")
	}
	body := strings.Repeat("0123456789abcdef", 64)
	var wire int
	n := 0
	start := time.Now()
	for b.Loop() {
		n++
		ws, err := l.s.Encrypt(ctx, msg(julietJID, remoteJID, "b", body))
		if err != nil {
			b.Fatal(err)
		}
		wire = len(ws[0].Body())
	}
	ours := float64(time.Since(start).Nanoseconds()) / float64(n)
	b.StopTimer()
	l.rem.do(fmt.Sprintf("!bench %d %s", n, body))
	var cnt, total, libWire int64
	if _, err := fmt.Sscanf(l.rem.last("EV BENCH "), "%d %d %d", &cnt, &total, &libWire); err != nil || cnt != int64(n) {
		b.Fatalf("libotr bench: %q %v", l.rem.last("EV BENCH "), err)
	}
	lib := float64(total) / float64(cnt)
	b.ReportMetric(lib, "libotr-ns/msg")
	b.ReportMetric(ours/lib, "x-libotr")
	b.ReportMetric(float64(wire), "body-bytes/msg")
	b.ReportMetric(float64(libWire), "libotr-body-bytes/msg")
}
