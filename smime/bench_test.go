package smime

import (
	"context"
	"crypto/x509"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"
)

// BenchmarkSignEncryptOpen1KiB measures, in the same run, one message of
// 1 KiB through the codec (Encrypt: CPIM, sign, encrypt; Receive: decrypt,
// verify, parse, check) with RSA-2048 and the default profile, and the raw
// CMS operations it is built on (detached SignedData with SHA-256,
// AuthEnvelopedData to the same two recipients, decryption, verification).
// codec/raw is the codec's cost relative to raw CMS: the overhead of MIME,
// XML, base64 and the checks.
func BenchmarkSignEncryptOpen1KiB(b *testing.B) {
	j, r := pair(b, Scheme)
	st := message(strings.Repeat("Wherefore art thou, Romeo? ", 38)[:1024])
	ctx := context.Background()
	jid, rid := fixtureIdentity(b, "juliet"), fixtureIdentity(b, "romeo")
	content := buildInner(st, epoch)
	rng := newSeeded(9)

	raw := func() {
		sd, err := pkcs7.NewSignedData(content)
		if err != nil {
			b.Fatal(err)
		}
		sd.SetDigestAlgorithm(oidSHA256)
		if err := sd.AddSigner(jid.cert, jid.key, pkcs7.SignerInfoConfig{}); err != nil {
			b.Fatal(err)
		}
		sd.Detach()
		sig, err := sd.Finish()
		if err != nil {
			b.Fatal(err)
		}
		env, err := envelope(rng, append(content, sig...), []*x509.Certificate{rid.cert, jid.cert}, aes128GCM)
		if err != nil {
			b.Fatal(err)
		}
		pt, _, err := open(env, rid.cert, rid.key)
		if err != nil {
			b.Fatal(err)
		}
		p7, err := pkcs7.Parse(pt[len(content):])
		if err != nil {
			b.Fatal(err)
		}
		p7.Content = pt[:len(content)]
		if err := p7.Verify(); err != nil {
			b.Fatal(err)
		}
	}
	codec := func() {
		w, err := j.sess.Encrypt(ctx, st)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.sess.Receive(ctx, w[0]); err != nil {
			b.Fatal(err)
		}
	}
	// Alternate the order every iteration and compare medians, so that
	// load from other processes on a shared machine mostly cancels out.
	timed := func(f func()) time.Duration {
		t0 := time.Now()
		f()
		return time.Since(t0)
	}
	var raws, codecs []time.Duration
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			raws = append(raws, timed(raw))
			codecs = append(codecs, timed(codec))
		} else {
			codecs = append(codecs, timed(codec))
			raws = append(raws, timed(raw))
		}
	}
	mr, mc := median(raws), median(codecs)
	b.ReportMetric(float64(mr.Nanoseconds()), "raw-ns/msg")
	b.ReportMetric(float64(mc.Nanoseconds()), "codec-ns/msg")
	b.ReportMetric(float64(mc)/float64(mr), "codec/raw")
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
