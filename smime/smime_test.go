package smime

import (
	"bytes"
	"context"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/e2e/e2etest"
)

var (
	julietFull   = e2etest.Juliet
	romeoFull    = e2etest.Romeo
	mercutioFull = e2etest.Mercutio
	epoch        = e2etest.Epoch
)

// testClock starts at start and advances 1 ms per call.
func testClock(start time.Time) func() time.Time { return e2etest.NewManualClock(start).Now }

// newSeeded is a deterministic randomness source.
func newSeeded(seed byte) *rand.ChaCha8 {
	var s [32]byte
	s[0] = seed
	return rand.NewChaCha8(s)
}

type party struct {
	id   *Identity
	sess e2e.Session
}

// newParty opens a session for the fixture identity name, trusting peers.
func newParty(t testing.TB, s e2e.Scheme, name string, full jid.JID, clock func() time.Time, peerList ...e2e.Peer) *party {
	t.Helper()
	id := fixtureIdentity(t, name)
	sess, err := s.NewSession(e2e.Config{Local: id, JID: full, Peers: peerList, Rand: newSeeded(byte(len(name))), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	return &party{id, sess}
}

// pair returns juliet and romeo, each pinning the other's certificate.
func pair(t testing.TB, s e2e.Scheme) (j, r *party) {
	jid, rid := fixtureIdentity(t, "juliet"), fixtureIdentity(t, "romeo")
	j = newParty(t, s, "juliet", julietFull, testClock(epoch), rid.Public())
	r = newParty(t, s, "romeo", romeoFull, testClock(epoch), jid.Public())
	return j, r
}

// transport serializes and reparses a stanza, as an XMPP server would.
func transport(t testing.TB, st *e2e.Stanza) *e2e.Stanza {
	t.Helper()
	out, err := e2e.Parse(st.Bytes())
	if err != nil {
		t.Fatalf("wire stanza does not parse: %v\n%s", err, st.Bytes())
	}
	return out
}

func message(body string) *e2e.Stanza {
	st := &e2e.Stanza{Kind: e2e.Message, From: julietFull, To: romeoFull, Type: "chat", ID: "m1"}
	st.SetBody(body)
	return st
}

func receiveOne(t testing.TB, p *party, st *e2e.Stanza) (e2e.Opened, error) {
	t.Helper()
	got, err := p.sess.Receive(context.Background(), st)
	if err != nil {
		if len(got.Opened) != 0 || len(got.Replies) != 0 {
			t.Fatalf("Receive returned a result with error %v", err)
		}
		return e2e.Opened{}, err
	}
	if len(got.Opened) != 1 {
		t.Fatalf("Receive opened %d stanzas", len(got.Opened))
	}
	return got.Opened[0], nil
}

func bodies() map[string]string {
	return map[string]string{
		"ascii":    "Wherefore art thou, Romeo?",
		"utf8":     "Ромео, о, Ромео! 羅密歐 🌹",
		"specials": `<&>'" ]]> --=_xmppe2e_ boundary`,
		"lines":    "one\ntwo\r\nthree\rfour\n\n",
		"empty":    "",
		"64KiB":    strings.Repeat("0123456789abcdef", 4096),
		"dots":     ".\r\n.\r\n--\r\n",
	}
}

func TestRoundTrip(t *testing.T) {
	for _, s := range []e2e.Scheme{Scheme, StrictScheme} {
		j, r := pair(t, s)
		for name, body := range bodies() {
			for _, op := range []string{"encrypt", "sign"} {
				t.Run(s.Name()+"/"+op+"/"+name, func(t *testing.T) {
					st := message(body)
					st.Children = append(st.Children, e2e.NewElement("urn:xmpp:example", "x", "extension <payload>"))
					var wire []*e2e.Stanza
					var err error
					if op == "encrypt" {
						wire, err = j.sess.Encrypt(context.Background(), st)
					} else {
						wire, err = j.sess.Sign(context.Background(), st)
					}
					if err != nil {
						t.Fatal(err)
					}
					if len(wire) != 1 {
						t.Fatalf("%d wire stanzas", len(wire))
					}
					if op == "encrypt" && body != "" && bytes.Contains(wire[0].Bytes(), []byte(body)) {
						t.Fatal("plaintext on the wire")
					}
					o, err := receiveOne(t, r, transport(t, wire[0]))
					if err != nil {
						t.Fatal(err)
					}
					if !o.Stanza.Equal(st) {
						t.Fatalf("opened\n%s\nwant\n%s", o.Stanza, st)
					}
					if o.Encrypted != (op == "encrypt") {
						t.Errorf("Encrypted = %v", o.Encrypted)
					}
					if o.Signer == nil || !o.Trusted || o.Signer.Fingerprint() != j.id.Public().Fingerprint() {
						t.Errorf("Signer = %v, Trusted = %v", o.Signer, o.Trusted)
					}
				})
			}
		}
	}
}

func TestPresenceAndIQ(t *testing.T) {
	j, r := pair(t, Scheme)
	pres := &e2e.Stanza{Kind: e2e.Presence, From: julietFull, To: romeoFull}
	pres.Children = []*e2e.Element{e2e.NewElement(e2e.NSClient, "show", "away"), e2e.NewElement(e2e.NSClient, "status", "On the balcony")}
	unavail := &e2e.Stanza{Kind: e2e.Presence, From: julietFull, To: romeoFull, Type: "unavailable"}
	iq := &e2e.Stanza{Kind: e2e.IQ, From: julietFull, To: romeoFull, Type: "get", ID: "v1"}
	iq.Children = []*e2e.Element{e2e.NewElement("jabber:iq:version", "query", "")}
	iqErr := &e2e.Stanza{Kind: e2e.IQ, From: julietFull, To: romeoFull, Type: "error", ID: "v2"}
	cond := e2e.NewElement(e2e.NSClient, "error", "")
	cond.SetAttr("type", "cancel")
	cond.AppendChild(e2e.NewElement("urn:ietf:params:xml:ns:xmpp-stanzas", "item-not-found", ""))
	iqErr.Children = []*e2e.Element{cond}
	for _, st := range []*e2e.Stanza{pres, unavail, iq, iqErr} {
		for _, enc := range []bool{true, false} {
			var wire []*e2e.Stanza
			var err error
			if enc {
				wire, err = j.sess.Encrypt(context.Background(), st)
			} else {
				wire, err = j.sess.Sign(context.Background(), st)
			}
			if err != nil {
				t.Fatal(err)
			}
			text := wire[0].Child(NS, "e2e").Text()
			want := map[e2e.Kind]string{e2e.Presence: "application/pidf+xml", e2e.IQ: "application/xmpp+xml"}[st.Kind]
			if !enc && !strings.Contains(text, "Content-Type: "+want) {
				t.Errorf("signed %s does not carry %s:\n%s", st.Kind, want, text)
			}
			o, err := receiveOne(t, r, transport(t, wire[0]))
			if err != nil {
				t.Fatalf("%s: %v", st.Kind, err)
			}
			if !o.Stanza.Equal(st) {
				t.Fatalf("opened\n%s\nwant\n%s", o.Stanza, st)
			}
		}
	}
	// Broadcast presence is outside RFC 3923.
	_, err := j.sess.Encrypt(context.Background(), &e2e.Stanza{Kind: e2e.Presence, From: julietFull})
	if !errors.Is(err, e2e.ErrUnsupported) {
		t.Errorf("undirected presence: %v", err)
	}
}

func TestCPIMHeaders(t *testing.T) {
	j, _ := pair(t, Scheme)
	wire, err := j.sess.Sign(context.Background(), message("hi"))
	if err != nil {
		t.Fatal(err)
	}
	text := wire[0].Child(NS, "e2e").Text()
	for _, want := range []string{
		"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256",
		"\nContent-Type: Message/CPIM\n\nFrom: <im:juliet@capulet.lit>\nTo: <im:romeo@montague.lit>\nDateTime: 2026-11-22T12:00:00.",
		"Content-Type: application/pkcs7-signature; name=smime.p7s\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; handling=required; filename=smime.p7s\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("payload lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "\r") {
		t.Error("payload carries CR")
	}
}

// cmsOf extracts the DER CMS object of a wire stanza: the envelope, or the
// signature of a signed one.
func cmsOf(t testing.TB, st *e2e.Stanza) []byte {
	t.Helper()
	ent, err := parseEntity(canonical([]byte(st.Child(NS, "e2e").Text())))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, _ := ent.mediaType()
	if mt == "multipart/signed" {
		_, sig, err := splitSigned(ent.body, params["boundary"])
		if err != nil {
			t.Fatal(err)
		}
		if ent, err = parseEntity(append(sig, "\r\n"...)); err != nil {
			t.Fatal(err)
		}
	}
	der, err := transferDecode(ent)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestProfiles(t *testing.T) {
	for _, tc := range []struct {
		s              e2e.Scheme
		digest, cipher asn1.ObjectIdentifier
		envelope       asn1.ObjectIdentifier
	}{
		{StrictScheme, oidSHA1, oidAES128CBC, oidEnvelopedData},
		{Scheme, oidSHA256, oidAES128GCM, oidAuthEnvelopedData},
	} {
		j, r := pair(t, tc.s)
		signed, _ := j.sess.Sign(context.Background(), message("x"))
		sig := cmsOf(t, signed[0])
		if !bytes.Contains(sig, mustOID(tc.digest)) {
			t.Errorf("%s: signature does not use digest %v", tc.s.Name(), tc.digest)
		}
		enc, _ := j.sess.Encrypt(context.Background(), message("x"))
		der := cmsOf(t, enc[0])
		if !contentType(der).Equal(tc.envelope) || !bytes.Contains(der, mustOID(tc.cipher)) {
			t.Errorf("%s: envelope %v does not use %v", tc.s.Name(), contentType(der), tc.cipher)
		}
		for _, bad := range []asn1.ObjectIdentifier{{1, 3, 14, 3, 2, 7}, oidDESEDE3} {
			if bytes.Contains(der, mustOID(bad)) {
				t.Errorf("%s: sends %v", tc.s.Name(), bad)
			}
		}
		if _, err := receiveOne(t, r, transport(t, enc[0])); err != nil {
			t.Error(err)
		}
	}
	// Receiving accepts both: a strict sender to a default receiver and back.
	jid, rid := fixtureIdentity(t, "juliet"), fixtureIdentity(t, "romeo")
	js := newParty(t, StrictScheme, "juliet", julietFull, testClock(epoch), rid.Public())
	rd := newParty(t, Scheme, "romeo", romeoFull, testClock(epoch), jid.Public())
	w, err := js.sess.Encrypt(context.Background(), message("strict to default"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := receiveOne(t, rd, transport(t, w[0])); err != nil {
		t.Fatal(err)
	}
}

func mustOID(o asn1.ObjectIdentifier) []byte {
	b, err := asn1.Marshal(o)
	if err != nil {
		panic(err)
	}
	return b
}

// TestGCMNegotiation: without an advertised capability the default profile
// falls back to CBC, and learns AES-GCM from a verified signature.
func TestGCMNegotiation(t *testing.T) {
	// ca-romeo's certificate (made by OpenSSL) advertises no capabilities.
	ca := caPeer(t)
	rid := fixtureIdentity(t, "ca-romeo")
	j := newParty(t, Scheme, "ca-juliet", julietFull, testClock(epoch), rid.Public(), ca)
	r := newParty(t, Scheme, "ca-romeo", romeoFull, testClock(epoch), ca)
	w, err := j.sess.Encrypt(context.Background(), message("first"))
	if err != nil {
		t.Fatal(err)
	}
	if ct := contentType(cmsOf(t, w[0])); !ct.Equal(oidEnvelopedData) {
		t.Fatalf("first message uses %v, want CBC EnvelopedData", ct)
	}
	// Romeo learns juliet's certificate through the CA, and her GCM
	// capability through her signed attributes.
	if _, err := receiveOne(t, r, transport(t, w[0])); err != nil {
		t.Fatal(err)
	}
	back := &e2e.Stanza{Kind: e2e.Message, From: romeoFull, To: julietFull}
	back.SetBody("reply")
	w, err = r.sess.Encrypt(context.Background(), back)
	if err != nil {
		t.Fatalf("romeo cannot encrypt to the certificate learned through the CA: %v", err)
	}
	if ct := contentType(cmsOf(t, w[0])); !ct.Equal(oidAuthEnvelopedData) {
		t.Fatalf("reply uses %v, want AuthEnvelopedData", ct)
	}
	o, err := receiveOne(t, j, transport(t, w[0]))
	if err != nil {
		t.Fatal(err)
	}
	if !o.Stanza.Equal(back) {
		t.Fatal("reply differs")
	}
}

func TestTamper(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range []e2e.Scheme{Scheme, StrictScheme} {
		for _, op := range []string{"encrypt", "sign"} {
			j, r := pair(t, s)
			st := message("Wherefore art thou, Romeo?")
			var wire []*e2e.Stanza
			if op == "encrypt" {
				wire, _ = j.sess.Encrypt(context.Background(), st)
			} else {
				wire, _ = j.sess.Sign(context.Background(), st)
			}
			const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
			text := wire[0].Child(NS, "e2e").Text()
			// Like the conformance kit: one character of a text node or an
			// attribute value at a time.
			targets := []string{"e2e", "from", "to", "id", "type"}
			for n := 0; n < 400; n++ {
				w := wire[0].Clone()
				target := targets[0]
				if n%8 == 7 {
					target = targets[1+rng.IntN(len(targets)-1)]
				}
				var val string
				switch target {
				case "e2e":
					val = text
				case "from":
					val = w.From.String()
				case "to":
					val = w.To.String()
				case "id":
					val = w.ID
				case "type":
					val = w.Type
				}
				i := rng.IntN(len(val))
				c := val[i]
				if !strings.ContainsRune(alphabet, rune(c)) {
					continue
				}
				mut := []byte(val)
				for mut[i] == c {
					mut[i] = alphabet[rng.IntN(len(alphabet))]
				}
				switch target {
				case "e2e":
					w.Child(NS, "e2e").SetText(string(mut))
				case "from", "to":
					j, err := jid.Parse(string(mut))
					if err != nil {
						continue
					}
					if target == "from" {
						w.From = j
					} else {
						w.To = j
					}
				case "id":
					w.ID = string(mut)
				case "type":
					w.Type = string(mut)
				}
				o, err := receiveOne(t, r, transport(t, w))
				if err == nil {
					if !o.Stanza.Equal(st) {
						t.Fatalf("%s/%s: flip of %s[%d] opened a changed stanza:\n%s", s.Name(), op, target, i, o.Stanza)
					}
					continue
				}
				switch e2e.ClassOf(err) {
				case "decrypt", "bad-signature", "malformed", "replay":
				default:
					t.Fatalf("%s/%s: flip of %s[%d] gave %v", s.Name(), op, target, i, err)
				}
				if op == "encrypt" && target == "e2e" && e2e.ClassOf(err) == "bad-signature" {
					t.Fatalf("%s: a flip inside the envelope is distinguishable: %v", s.Name(), err)
				}
			}
		}
	}
}

func TestAttacks(t *testing.T) {
	j, r := pair(t, StrictScheme)
	ctx := context.Background()
	enc, _ := j.sess.Encrypt(ctx, message("secret"))
	sig, _ := j.sess.Sign(ctx, message("signed"))

	t.Run("wrong recipient", func(t *testing.T) {
		m := newParty(t, StrictScheme, "mercutio", mercutioFull, testClock(epoch), fixtureIdentity(t, "juliet").Public())
		for _, w := range []*e2e.Stanza{enc[0], sig[0]} {
			re := w.Clone()
			re.To = mercutioFull
			if o, err := receiveOne(t, m, re); err == nil {
				t.Fatalf("mercutio opened %s", o.Stanza)
			} else if c := e2e.ClassOf(err); c != "decrypt" && c != "bad-signature" {
				t.Errorf("got %v", err)
			}
		}
	})
	t.Run("re-addressed sender", func(t *testing.T) {
		re := sig[0].Clone()
		re.From = mercutioFull
		if _, err := receiveOne(t, r, re); !errors.Is(err, e2e.ErrBadSignature) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("other resource", func(t *testing.T) {
		re := sig[0].Clone()
		re.To = jid.MustParse("romeo@montague.lit/elsewhere")
		if _, err := receiveOne(t, r, re); !errors.Is(err, e2e.ErrBadSignature) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("replay", func(t *testing.T) {
		for _, w := range []*e2e.Stanza{enc[0], sig[0]} {
			if _, err := receiveOne(t, r, w); err != nil {
				t.Fatal(err)
			}
			if _, err := receiveOne(t, r, w); !errors.Is(err, e2e.ErrReplay) {
				t.Errorf("replay: %v", err)
			}
		}
	})
	t.Run("truncation and garbage", func(t *testing.T) {
		text := enc[0].Child(NS, "e2e").Text()
		rng := rand.New(rand.NewPCG(3, 4))
		for _, cut := range []int{0, 10, len(text) / 2, len(text) - 40, len(text) - 5} {
			w := enc[0].Clone()
			w.Child(NS, "e2e").SetText(text[:cut])
			if _, err := receiveOne(t, r, w); err == nil {
				t.Fatalf("truncated at %d opened", cut)
			}
		}
		for range 50 {
			g := make([]byte, rng.IntN(600))
			for i := range g {
				g[i] = byte(32 + rng.IntN(90))
			}
			w := enc[0].Clone()
			w.Child(NS, "e2e").SetText(text[:strings.Index(text, "\n\n")+2] + string(g))
			if _, err := receiveOne(t, r, w); err == nil {
				t.Fatal("garbage opened")
			}
		}
	})
	t.Run("plaintext", func(t *testing.T) {
		if _, err := receiveOne(t, r, message("clear")); !errors.Is(err, e2e.ErrNotEncrypted) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("untrusted signer", func(t *testing.T) {
		stranger := newParty(t, StrictScheme, "romeo", romeoFull, testClock(epoch))
		if _, err := receiveOne(t, stranger, sig[0]); !errors.Is(err, e2e.ErrUntrustedKey) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("certificate of another JID", func(t *testing.T) {
		// Mercutio signs with his own certificate but claims to be juliet.
		m := newParty(t, StrictScheme, "mercutio", mercutioFull, testClock(epoch))
		st := message("forged")
		st.From = mercutioFull
		w, err := m.sess.Sign(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		w[0].From = julietFull
		rr := newParty(t, StrictScheme, "romeo", romeoFull, testClock(epoch), fixtureIdentity(t, "juliet").Public(), fixtureIdentity(t, "mercutio").Public())
		if _, err := receiveOne(t, rr, w[0]); !errors.Is(err, e2e.ErrBadSignature) {
			t.Errorf("got %v", err)
		}
	})
}

func TestTimestamps(t *testing.T) {
	rid := fixtureIdentity(t, "romeo").Public()
	jidP := fixtureIdentity(t, "juliet").Public()
	for _, tc := range []struct {
		name   string
		offset time.Duration
		want   error
	}{
		{"now", 0, nil},
		{"4m59s old", -4*time.Minute - 59*time.Second, nil},
		{"6m old", -6 * time.Minute, e2e.ErrStale},
		{"6m future", 6 * time.Minute, e2e.ErrStale},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := newParty(t, Scheme, "juliet", julietFull, testClock(epoch.Add(tc.offset)), rid)
			r := newParty(t, Scheme, "romeo", romeoFull, testClock(epoch), jidP)
			for _, op := range []func(context.Context, *e2e.Stanza) ([]*e2e.Stanza, error){j.sess.Encrypt, j.sess.Sign} {
				w, err := op(context.Background(), message("tick"))
				if err != nil {
					t.Fatal(err)
				}
				_, err = receiveOne(t, r, w[0])
				if (tc.want == nil && err != nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
					t.Errorf("got %v, want %v", err, tc.want)
				}
			}
		})
	}
	// Reordered stanzas both open; each only once.
	j, r := pair(t, Scheme)
	a, _ := j.sess.Encrypt(context.Background(), message("a"))
	b, _ := j.sess.Encrypt(context.Background(), message("b"))
	for _, w := range []*e2e.Stanza{b[0], a[0]} {
		if _, err := receiveOne(t, r, w); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCATrust(t *testing.T) {
	ca := caPeer(t)
	j := newParty(t, Scheme, "ca-juliet", julietFull, testClock(epoch), fixtureIdentity(t, "ca-romeo").Public())
	r := newParty(t, Scheme, "ca-romeo", romeoFull, testClock(epoch), ca)
	w, err := j.sess.Encrypt(context.Background(), message("through the CA"))
	if err != nil {
		t.Fatal(err)
	}
	o, err := receiveOne(t, r, w[0])
	if err != nil {
		t.Fatal(err)
	}
	if !o.Trusted || o.Signer.JID().String() != "juliet@capulet.lit" {
		t.Errorf("signer %v trusted %v", o.Signer, o.Trusted)
	}
	// A CA-issued certificate must not be trusted at a time it is not valid.
	r2 := newParty(t, Scheme, "ca-romeo", romeoFull, testClock(time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)), ca)
	j2 := newParty(t, Scheme, "ca-juliet", julietFull, testClock(time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)), fixtureIdentity(t, "ca-romeo").Public())
	w, _ = j2.sess.Sign(context.Background(), message("old"))
	if _, err := receiveOne(t, r2, w[0]); !errors.Is(err, e2e.ErrUntrustedKey) {
		t.Errorf("expired chain: %v", err)
	}
}

func TestConcurrentSessions(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		s := Scheme
		if i%2 == 1 {
			s = StrictScheme
		}
		j, r := pair(t, s)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range 5 {
				st := message(fmt.Sprintf("pair %d message %d", i, n))
				w, err := j.sess.Encrypt(context.Background(), st)
				if err != nil {
					errs <- err
					return
				}
				got, err := r.sess.Receive(context.Background(), w[0])
				if err != nil || !got.Opened[0].Stanza.Equal(st) {
					errs <- fmt.Errorf("pair %d: %v", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestIdentityFormat(t *testing.T) {
	id := fixtureIdentity(t, "juliet")
	b, err := id.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("-----BEGIN PRIVATE KEY-----")) || !bytes.Contains(b, []byte("-----BEGIN CERTIFICATE-----")) {
		t.Fatalf("identity is not PEM key then certificate:\n%s", b)
	}
	again, err := Scheme.ParseIdentity(b)
	if err != nil || again.Public().Fingerprint() != id.Public().Fingerprint() || again.JID().String() != "juliet@capulet.lit" {
		t.Fatalf("reparse: %v", err)
	}
	pb, _ := id.Public().Marshal()
	p, err := Scheme.ParsePeer(pb)
	if err != nil || p.JID().String() != "juliet@capulet.lit" {
		t.Fatalf("peer: %v %v", p, err)
	}
	if _, err := Scheme.ParsePeer([]byte("junk")); !errors.Is(err, e2e.ErrMalformed) {
		t.Errorf("junk peer: %v", err)
	}
	if !certSupportsGCM(id.cert) || certSupportsGCM(fixtureIdentity(t, "ca-juliet").cert) {
		t.Error("capabilities extension")
	}
}

func TestErrorReply(t *testing.T) {
	j, r := pair(t, Scheme)
	enc, _ := j.sess.Encrypt(context.Background(), message("x"))
	sig, _ := j.sess.Sign(context.Background(), message("y"))
	for _, tc := range []struct {
		in   *e2e.Stanza
		err  error
		cond string
	}{
		{enc[0], e2e.ErrDecrypt, "decryption-failed"},
		{enc[0], e2e.ErrBadSignature, "decryption-failed"},
		{enc[0], e2e.ErrMalformed, "decryption-failed"},
		{sig[0], e2e.ErrBadSignature, "unverified-signature"},
		{sig[0], e2e.ErrUntrustedKey, "unverified-signature"},
		{sig[0], e2e.ErrStale, "bad-timestamp"},
		{enc[0], e2e.ErrStale, "bad-timestamp"},
		{enc[0], e2e.ErrReplay, ""},
	} {
		reply := ErrorReply(tc.in, fmt.Errorf("smime: %w", tc.err))
		if got := ErrorCondition(reply); got != tc.cond {
			t.Errorf("%v: condition %q, want %q", tc.err, got, tc.cond)
		}
		if reply == nil {
			continue
		}
		if reply.Type != "error" || !reply.To.Equal(julietFull) || reply.Child(e2e.NSClient, "error").Child(nsStanzas, map[string]string{
			"decryption-failed": "bad-request", "unverified-signature": "not-acceptable", "bad-timestamp": "not-acceptable"}[tc.cond]) == nil {
			t.Errorf("reply %s", reply)
		}
		if _, err := receiveOne(t, j, transport(t, reply)); !errors.Is(err, e2e.ErrNotEncrypted) {
			t.Errorf("receiving an error reply: %v", err)
		}
	}
	// The RFC's other spellings are understood.
	for _, x := range []string{
		`<message xmlns='jabber:client' type='error' from='romeo@montague.lit'><error type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><signature-unverified xmlns='urn:ietf:params:xml:ns:xmpp-e2e'/></error></message>`,
		`<message xmlns='jabber:client' type='error' from='romeo@montague.lit'><error type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><unverified-signature xmlns='urn:ietf:params:xml:xmpp-e2e'/></error></message>`,
	} {
		st, err := e2e.Parse([]byte(x))
		if err != nil {
			t.Fatal(err)
		}
		if ErrorCondition(st) != "unverified-signature" {
			t.Errorf("not understood: %s", x)
		}
	}
	_ = r
}

// TestSharedSession uses one session pair from many goroutines at once.
func TestSharedSession(t *testing.T) {
	j, r := pair(t, Scheme)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := message(fmt.Sprintf("goroutine %d", i))
			var w []*e2e.Stanza
			var err error
			if i%2 == 0 {
				w, err = j.sess.Encrypt(context.Background(), st)
			} else {
				w, err = j.sess.Sign(context.Background(), st)
			}
			if err != nil {
				errs <- err
				return
			}
			got, err := r.sess.Receive(context.Background(), w[0])
			if err != nil || !got.Opened[0].Stanza.Equal(st) {
				errs <- fmt.Errorf("goroutine %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
