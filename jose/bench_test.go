package jose

import (
	"crypto/aes"
	"io"
	"strings"
	"testing"
	"time"

	josecipher "github.com/go-jose/go-jose/v4/cipher"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// benchPair is juliet and romeo with the SMK already established.
func benchPair(b *testing.B, o Options) (*party, *party, *e2e.Stanza) {
	clk := newClock()
	p := New(o)
	j := newParty(b, p, "juliet", clk, 1, "romeo")
	r := newParty(b, p, "romeo", clk, 2, "juliet")
	pump(b, []*party{j, r}, encrypt(b, j, msg(fullJIDs["juliet"], fullJIDs["romeo"], "warm-up")))
	st := msg(fullJIDs["juliet"], fullJIDs["romeo"], "a")
	st.SetBody(strings.Repeat("a", 1024-len(st.Bytes())+1))
	if n := len(st.Bytes()); n != 1024 {
		b.Fatalf("stanza of %d bytes", n)
	}
	return j, r, st
}

// codecOp returns one Encrypt plus Receive of the 1 KiB stanza.
func codecOp(b *testing.B, o Options) func() {
	j, r, st := benchPair(b, o)
	return func() {
		w, err := j.s.Encrypt(ctx, st)
		if err != nil {
			b.Fatal(err)
		}
		res, err := r.s.Receive(ctx, w[0])
		if err != nil || len(res.Opened) != 1 {
			b.Fatal(err)
		}
	}
}

// rawOp returns the cryptography alone on the same bytes (the 1 KiB stanza
// in its envelope): draw a CEK and IV, AES key wrap with the SMK, seal;
// unwrap and open.
func rawOp(b *testing.B, enc string) func() {
	_, _, st := benchPair(b, Options{})
	pt := envelope(st, newClock().Now())
	smk := make([]byte, 32)
	rnd := seededRand(9)
	io.ReadFull(rnd, smk)
	kek, _ := aes.NewCipher(smk)
	aad := []byte("eyJhbGciOiJBMjU2S1ciLCJlbmMiOiJBMjU2R0NNIiwia2lkIjoiODM1YzkyYTgtOTRjZC00ZTk2LWIzZjMtYjJlNzVhNDM4ZjkyIn0")
	return func() {
		cek := make([]byte, cekSize(enc))
		io.ReadFull(rnd, cek)
		ek, _ := josecipher.KeyWrap(kek, cek)
		a, _ := newAEAD(enc, cek)
		iv := make([]byte, a.NonceSize())
		io.ReadFull(rnd, iv)
		ct := a.Seal(nil, iv, pt, aad)
		cek2, err := josecipher.KeyUnwrap(kek, ek)
		if err != nil {
			b.Fatal(err)
		}
		a2, _ := newAEAD(enc, cek2)
		if _, err := a2.Open(nil, iv, ct, aad); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncryptOpen1KiB: Encrypt plus Receive of a 1 KiB stanza under an
// established SMK, and the raw primitives on the same bytes, alternating in
// the same run: codec-ns/op and raw-ns/op, and codec/raw their ratio (ns/op
// is the sum).
func BenchmarkEncryptOpen1KiB(b *testing.B) {
	for _, c := range []struct {
		name string
		o    Options
	}{{"A256KW+A256GCM", Options{Content: "A256GCM"}}, {"A256KW+A256CBC-HS512", Options{}}} {
		b.Run(c.name+"/stanza", func(b *testing.B) {
			compare(b, codecOp(b, c.o), rawOp(b, c.o.withDefaultsB(b).Content))
		})
		b.Run(c.name+"/jwe", func(b *testing.B) {
			compare(b, jweOp(b, c.o.withDefaultsB(b).Content), rawOp(b, c.o.withDefaultsB(b).Content))
		})
	}
}

// jweOp is the JOSE layer alone on the same bytes: sealCompact and
// openCompact under an SMK (no stanza serialization or XML parsing).
func jweOp(b *testing.B, enc string) func() {
	_, _, st := benchPair(b, Options{})
	pt := envelope(st, newClock().Now())
	smk := make([]byte, 32)
	rnd := seededRand(10)
	io.ReadFull(rnd, smk)
	k := key{}
	k.Key, k.KeyID = smk, "sid"
	return func() {
		c, err := sealCompact(rnd, jweHeader{Alg: "A256KW", Enc: enc, Kid: "sid"}, smk, pt)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := openCompact(c, k); err != nil {
			b.Fatal(err)
		}
	}
}

// compare runs codec and raw alternately and reports both and their ratio.
func compare(b *testing.B, codec, raw func()) {
	{
		{
			b.SetBytes(1024)
			b.ReportAllocs()
			var tCodec, tRaw time.Duration
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				codec()
				t1 := time.Now()
				raw()
				tRaw += time.Since(t1)
				tCodec += t1.Sub(t0)
			}
			rawNs := float64(tRaw.Nanoseconds()) / float64(b.N)
			codecNs := float64(tCodec.Nanoseconds()) / float64(b.N)
			b.ReportMetric(codecNs, "codec-ns/op")
			b.ReportMetric(rawNs, "raw-ns/op")
			b.ReportMetric(codecNs/rawNs, "codec/raw")
		}
	}
}

func (o Options) withDefaultsB(b *testing.B) Options {
	o, err := o.withDefaults()
	if err != nil {
		b.Fatal(err)
	}
	return o
}

// BenchmarkKeyRequestRoundTrip: a stanza under a new SMK, the key request
// with romeo's public key, juliet's answer (RSA-OAEP to it), and romeo's
// decryption of the SMK and the held stanza.
func BenchmarkKeyRequestRoundTrip(b *testing.B) {
	j, r, st := benchPair(b, Options{})
	b.ResetTimer()
	for range b.N {
		j.s.Rotate(r.jid)
		w, err := j.s.Encrypt(ctx, st)
		if err != nil {
			b.Fatal(err)
		}
		req, err := r.s.Receive(ctx, w[0])
		if err != nil || len(req.Replies) != 1 {
			b.Fatal(err)
		}
		ans, err := j.s.Receive(ctx, req.Replies[0])
		if err != nil {
			b.Fatal(err)
		}
		got, err := r.s.Receive(ctx, ans.Replies[0])
		if err != nil || len(got.Opened) != 1 {
			b.Fatal(err)
		}
	}
}
