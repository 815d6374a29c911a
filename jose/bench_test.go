package jose

import (
	"bytes"
	"crypto/aes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"

	gojose "github.com/go-jose/go-jose/v4"
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

// layerOp is one measured operation: its metric prefix and one
// encrypt-and-open.
type layerOp struct {
	name string
	run  func()
}

// BenchmarkEncryptOpen1KiB measures, in one run, encrypt+open of the same
// 1 KiB stanza under an established SMK at four depths, and the XML work
// alone, alternating per iteration (the order rotates, so GC and cache
// effects spread evenly):
//
//   - raw: the primitives alone on the envelope bytes: draw a CEK and IV,
//     AES key wrap with the SMK, AEAD seal with the encoded protected
//     header as AAD; unwrap, open. The floor.
//   - gojose: go-jose v4 compact JWE with the same algorithms, key and kid
//     on the same bytes: Encrypt, CompactSerialize, ParseEncryptedCompact,
//     Decrypt. No XML.
//   - jwe: this package's JWE layer as Session runs it: the SMK entry's
//     seal; the canonical-base64url check, the header cache and the pinned
//     unwrap+open. No XML.
//   - xml: the XML work whole-stanza protection cannot skip, with package
//     e2e: serializing the stanza (Stanza.Bytes) and parsing it back
//     (e2e.Parse). No cryptography.
//   - stanza: Session.Encrypt plus Session.Receive of the whole stanza
//     (envelope, JWE, <e2e/> element, parse of the decrypted envelope,
//     address, timestamp and replay checks).
//
// Metrics: <op>-ns/op for each, <op>-x-raw its ratio to raw in the same
// run, <op>-allocs/op (counted before timing). ns/op is the sum of
// all five.
func BenchmarkEncryptOpen1KiB(b *testing.B) {
	for _, enc := range []string{"A256GCM", "A256CBC-HS512"} {
		b.Run("A256KW+"+enc, func(b *testing.B) {
			j, r, st := benchPair(b, Options{Content: enc})
			e := j.s.current[r.jid.Bare().String()]
			if e == nil {
				b.Fatal("no SMK after the warm-up")
			}
			pt := envelope(st, newClock().Now())
			ops := []layerOp{
				{"raw", rawOp(b, e, enc, pt)},
				{"gojose", gojoseOp(b, e, enc, pt)},
				{"jwe", jweOp(b, e, r, enc, pt)},
				{"xml", xmlOp(b, st)},
				{"stanza", stanzaOp(b, j, r, st)},
			}
			allocs := make([]float64, len(ops))
			for n, op := range ops {
				allocs[n] = testing.AllocsPerRun(20, op.run)
			}
			d := make([]time.Duration, len(ops))
			b.ResetTimer()
			for i := range b.N {
				for k := range ops {
					n := (i + k) % len(ops)
					t0 := time.Now()
					ops[n].run()
					d[n] += time.Since(t0)
				}
			}
			b.StopTimer()
			raw := float64(d[0]) / float64(b.N)
			for n, op := range ops {
				ns := float64(d[n]) / float64(b.N)
				b.ReportMetric(ns, op.name+"-ns/op")
				b.ReportMetric(allocs[n], op.name+"-allocs/op")
				if n > 0 {
					b.ReportMetric(ns/raw, op.name+"-x-raw")
				}
			}
		})
	}
}

// stanzaOp is one Encrypt plus Receive of st, juliet to romeo.
func stanzaOp(b *testing.B, j, r *party, st *e2e.Stanza) func() {
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

// xmlOp serializes st and parses it back with package e2e.
func xmlOp(b *testing.B, st *e2e.Stanza) func() {
	return func() {
		if _, err := e2e.Parse(st.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
}

// rawOp is the cryptography alone on pt under e's key, with its encoded
// protected header as AAD.
func rawOp(b *testing.B, e *smkEntry, enc string, pt []byte) func() {
	rnd := seededRand(9)
	kek, err := aes.NewCipher(e.key)
	if err != nil {
		b.Fatal(err)
	}
	aad := []byte(headerOf(b, e, enc))
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

// headerOf is the encoded protected header of stanzas under e.
func headerOf(b *testing.B, e *smkEntry, enc string) string {
	hdr, err := marshalJSON(jweHeader{Alg: e.alg, Enc: enc, Kid: e.sid})
	if err != nil {
		b.Fatal(err)
	}
	return b64.EncodeToString(hdr)
}

// gojoseOp is go-jose's own compact JWE round trip on pt with e's key and
// SID (its CEK and IV come from crypto/rand, ≈ 0.2 µs here).
func gojoseOp(b *testing.B, e *smkEntry, enc string, pt []byte) func() {
	alg := gojose.KeyAlgorithm(e.alg)
	ce := gojose.ContentEncryption(enc)
	encrypter, err := gojose.NewEncrypter(ce, gojose.Recipient{Algorithm: alg, Key: e.key, KeyID: e.sid}, nil)
	if err != nil {
		b.Fatal(err)
	}
	op := func() []byte {
		obj, err := encrypter.Encrypt(pt)
		if err != nil {
			b.Fatal(err)
		}
		s, err := obj.CompactSerialize()
		if err != nil {
			b.Fatal(err)
		}
		in, err := gojose.ParseEncryptedCompact(s, []gojose.KeyAlgorithm{alg}, []gojose.ContentEncryption{ce})
		if err != nil {
			b.Fatal(err)
		}
		out, err := in.Decrypt(e.key)
		if err != nil {
			b.Fatal(err)
		}
		return out
	}
	if !bytes.Equal(op(), pt) {
		b.Fatal("go-jose round trip changed the plaintext")
	}
	return func() { op() }
}

// jweOp is this package's JWE layer on pt as the sessions run it: e's
// seal on the sending side; on the receiving side the canonical check
// readParts makes, romeo's header cache and openParsed with the SMK romeo
// learned for e's SID.
func jweOp(b *testing.B, e *smkEntry, r *party, enc string, pt []byte) func() {
	rnd := seededRand(10)
	se := &smkEntry{sid: e.sid, key: e.key, alg: e.alg}
	k, ok := r.s.smk(inKey{fullJIDs["juliet"], e.sid})
	if !ok {
		b.Fatal("romeo lacks the SMK")
	}
	op := func() []byte {
		c, err := se.seal(rnd, enc, pt)
		if err != nil {
			b.Fatal(err)
		}
		if err := strictParts(c); err != nil {
			b.Fatal(err)
		}
		h, err := r.s.header(c[0])
		if err != nil {
			b.Fatal(err)
		}
		out, err := openParsed(c, h, k)
		if err != nil {
			b.Fatal(err)
		}
		return out
	}
	if !bytes.Equal(op(), pt) {
		b.Fatal("JWE round trip changed the plaintext")
	}
	return func() { op() }
}

// BenchmarkXML1KiB splits the XML work of the whole-stanza path on the same
// 1 KiB stanza: Stanza.Bytes (the envelope's serialization), e2e.Parse
// (the parse of the decrypted envelope), and encoding/xml alone on the same
// bytes, as Token (namespaces) and as RawToken (none), to show what a
// different e2e.Parse could and could not save.
func BenchmarkXML1KiB(b *testing.B) {
	_, _, st := benchPair(b, Options{})
	raw := st.Bytes()
	tokens := func(next func(*xml.Decoder) (xml.Token, error)) func() {
		return func() {
			d := xml.NewDecoder(bytes.NewReader(raw))
			for {
				if _, err := next(d); err == io.EOF {
					return
				} else if err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	for _, c := range []layerOp{
		{"Stanza.Bytes", func() { st.Bytes() }},
		{"e2e.Parse", func() {
			if _, err := e2e.Parse(raw); err != nil {
				b.Fatal(err)
			}
		}},
		{"xml.Token", tokens((*xml.Decoder).Token)},
		{"xml.RawToken", tokens((*xml.Decoder).RawToken)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				c.run()
			}
		})
	}
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
