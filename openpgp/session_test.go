package openpgp

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"mellium.im/xmpp/jid"

	"github.com/xmppe2e/xmppe2e/e2e"
)

func TestRoundTripMessages(t *testing.T) {
	p := cast(t)
	bodies := map[string]string{
		"ascii":    "Wherefore art thou Romeo?",
		"utf8":     "Ромео, où es-tu? 🌹 ünï",
		"specials": `<&>'" ]]> &amp;`,
		"empty":    "",
		"newlines": "line one\nline two\r\nline three\n",
		"64KiB":    strings.Repeat("x", 64<<10),
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			st := chat(julietFull, romeoFull, body)
			st.Children = append(st.Children, e2e.NewElement("http://jabber.org/protocol/chatstates", "active", ""))
			o := roundTrip(t, p.jSess, p.rSess, st, false)
			if !o.Encrypted || o.Signer != nil {
				t.Errorf("Encrypted %v, Signer %v; want true, nil (XEP-0027 encryption is unsigned)", o.Encrypted, o.Signer)
			}
			if !o.Stanza.Equal(st) {
				t.Errorf("opened\n%s\nwant\n%s", o.Stanza, st)
			}
			// and back, to check both directions
			back := chat(romeoFull, julietFull, body)
			if o := roundTrip(t, p.rSess, p.jSess, back, false); !o.Stanza.Equal(back) {
				t.Errorf("opened\n%s\nwant\n%s", o.Stanza, back)
			}
		})
	}
}

func TestWireFormat(t *testing.T) {
	p := cast(t)
	st := chat(julietFull, romeoFull, "secret words")
	wire, err := p.jSess.Encrypt(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	w := wire[0]
	if got := w.Body(); got != Fallback {
		t.Errorf("clear body %q, want the fallback %q", got, Fallback)
	}
	if bytes.Contains(w.Bytes(), []byte("secret")) {
		t.Error("plaintext on the wire")
	}
	x := w.Child(NSEncrypted, "x")
	if x == nil {
		t.Fatalf("no jabber:x:encrypted in %s", w)
	}
	if w.Children[len(w.Children)-1] != x || w.Children[0].Name.Local != "body" {
		t.Errorf("want the fallback body first and <x/> last: %s", w)
	}
	text := x.Text()
	if strings.Contains(text, "-----") || strings.Contains(text, "Version") {
		t.Errorf("armor framing left in payload:\n%s", text)
	}
	lines := strings.Fields(text)
	if crc := lines[len(lines)-1]; len(crc) != 5 || crc[0] != '=' {
		t.Errorf("last line %q is not a CRC line", crc)
	}
	for _, l := range lines[:len(lines)-1] {
		if len(l) > 64 {
			t.Errorf("line of %d characters", len(l))
		}
	}
	// Encrypted to romeo and to juliet herself: two PKESK key IDs.
	bin, err := dearmor(text)
	if err != nil {
		t.Fatal(err)
	}
	ids := recipientKeyIDs(t, bin)
	want := map[uint64]bool{}
	for _, id := range []*Identity{p.romeo, p.juliet} {
		k, _ := id.e.EncryptionKey(id.e.PrimaryKey.CreationTime.AddDate(1, 0, 0))
		want[k.PublicKey.KeyId] = true
	}
	if len(ids) != 2 || !want[ids[0]] || !want[ids[1]] {
		t.Errorf("recipient key IDs %X, want romeo's and juliet's encryption subkeys", ids)
	}
	// Juliet (her other devices) can read what she sent.
	if _, err := p.jSess.Receive(context.Background(), w); err != nil {
		t.Errorf("sender cannot read her own message: %v", err)
	}
}

func TestSignedPresence(t *testing.T) {
	p := cast(t)
	for _, status := range []string{"Online <&> ünï", "", "Away\nback soon"} {
		pres := &e2e.Stanza{Kind: e2e.Presence, From: romeoFull, To: julietFull}
		if status != "" {
			pres.Children = append(pres.Children, e2e.NewElement(e2e.NSClient, "status", status))
		}
		pres.Children = append(pres.Children, e2e.NewElement(e2e.NSClient, "show", "away"))
		o := roundTrip(t, p.rSess, p.jSess, pres, true)
		if o.Encrypted || o.Signer == nil || o.Signer.Fingerprint() != p.romeo.pub.fpr || !o.Trusted {
			t.Errorf("status %q: Encrypted %v Signer %v Trusted %v", status, o.Encrypted, o.Signer, o.Trusted)
		}
		if !o.Stanza.Equal(pres) {
			t.Errorf("opened\n%s\nwant\n%s", o.Stanza, pres)
		}
	}
}

func TestSignedPresenceTampered(t *testing.T) {
	p := cast(t)
	ctx := context.Background()
	pres := &e2e.Stanza{Kind: e2e.Presence, From: romeoFull, To: julietFull}
	pres.Children = []*e2e.Element{e2e.NewElement(e2e.NSClient, "status", "Online")}
	wire, err := p.rSess.Sign(ctx, pres)
	if err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*e2e.Stanza){
		"trailing space": func(s *e2e.Stanza) { s.Children[0].SetText("Online ") },
		"status removed": func(s *e2e.Stanza) { s.Children = s.Children[1:] },
		"other sender":   func(s *e2e.Stanza) { s.From = mercutioFull },
	} {
		w := wire[0].Clone()
		mutate(w)
		got, err := p.jSess.Receive(ctx, w)
		if !errors.Is(err, e2e.ErrBadSignature) || len(got.Opened) != 0 {
			t.Errorf("%s: %v, %d opened; want ErrBadSignature", name, err, len(got.Opened))
		}
	}
	// Signed by a key nobody gave us, from a JID we have no key for.
	mw, err := newTestSession(t, p.mercutio, mercutioFull).Sign(ctx, &e2e.Stanza{Kind: e2e.Presence, From: mercutioFull})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.jSess.Receive(ctx, mw[0]); !errors.Is(err, e2e.ErrNoKey) {
		t.Errorf("unknown signer: %v, want ErrNoKey", err)
	}
}

func TestSignedMessage(t *testing.T) {
	p := cast(t)
	st := chat(romeoFull, julietFull, "signed, not sealed")
	o := roundTrip(t, p.rSess, p.jSess, st, true)
	if o.Encrypted || o.Signer == nil || o.Signer.Fingerprint() != p.romeo.pub.fpr || !o.Stanza.Equal(st) {
		t.Errorf("got %+v", o)
	}
}

func TestUnsupported(t *testing.T) {
	p := cast(t)
	ctx := context.Background()
	iq := &e2e.Stanza{Kind: e2e.IQ, From: julietFull, To: romeoFull, Type: "get", ID: "q",
		Children: []*e2e.Element{e2e.NewElement("urn:xmpp:ping", "ping", "")}}
	pres := &e2e.Stanza{Kind: e2e.Presence, From: julietFull, To: romeoFull}
	noBody := &e2e.Stanza{Kind: e2e.Message, From: julietFull, To: romeoFull}
	twoBodies := chat(julietFull, romeoFull, "a")
	fr := e2e.NewElement(e2e.NSClient, "body", "b")
	fr.SetAttr("lang", "fr")
	twoBodies.Children = append(twoBodies.Children, fr)
	for name, st := range map[string]*e2e.Stanza{"iq": iq, "presence": pres, "no body": noBody, "two bodies": twoBodies} {
		if _, err := p.jSess.Encrypt(ctx, st); !errors.Is(err, e2e.ErrUnsupported) {
			t.Errorf("Encrypt(%s): %v, want ErrUnsupported", name, err)
		}
	}
	if _, err := p.jSess.Sign(ctx, iq); !errors.Is(err, e2e.ErrUnsupported) {
		t.Errorf("Sign(iq): %v, want ErrUnsupported", err)
	}
	if _, err := p.jSess.Receive(ctx, iq); !errors.Is(err, e2e.ErrNotEncrypted) {
		t.Errorf("Receive(plain iq): %v, want ErrNotEncrypted", err)
	}
}

func TestKeySelection(t *testing.T) {
	p := cast(t)
	ctx := context.Background()
	rsa := fixtureIdentity(t, "romeo-rsa")
	// Juliet has two keys for romeo; until his signed presence arrives she
	// encrypts to both, then to the one that signed.
	j := newTestSession(t, p.juliet, julietFull, p.romeo.Public(), rsa.Public())
	r2 := newTestSession(t, rsa, romeoFull, p.juliet.Public())

	keyIDs := func() []uint64 {
		w, err := j.Encrypt(ctx, chat(julietFull, romeoFull, "hi"))
		if err != nil {
			t.Fatal(err)
		}
		bin, err := dearmor(w[0].Child(NSEncrypted, "x").Text())
		if err != nil {
			t.Fatal(err)
		}
		return recipientKeyIDs(t, bin)
	}
	if n := len(keyIDs()); n != 3 {
		t.Fatalf("before presence: %d recipients, want 3 (both of romeo's keys and juliet's)", n)
	}
	pres, err := r2.Sign(ctx, &e2e.Stanza{Kind: e2e.Presence, From: romeoFull})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Receive(ctx, pres[0]); err != nil {
		t.Fatal(err)
	}
	ids := keyIDs()
	rk, _ := rsa.e.EncryptionKey(rsa.e.PrimaryKey.CreationTime.AddDate(1, 0, 0))
	if len(ids) != 2 || (ids[0] != rk.PublicKey.KeyId && ids[1] != rk.PublicKey.KeyId) {
		t.Errorf("after presence: recipients %X, want romeo's RSA key %X and juliet's", ids, rk.PublicKey.KeyId)
	}

	// No key at all for the recipient.
	if _, err := j.Encrypt(ctx, chat(julietFull, mercutioFull, "hi")); !errors.Is(err, e2e.ErrNoKey) {
		t.Errorf("unknown recipient: %v, want ErrNoKey", err)
	}
	// A sign-only key.
	so, err := Scheme.ParsePeer(readFixture(t, "romeo-signonly.pub.asc"))
	if err != nil {
		t.Fatal(err)
	}
	s := newTestSession(t, p.juliet, julietFull, so)
	_, err = s.Encrypt(ctx, chat(julietFull, so.JID(), "hi"))
	if !errors.Is(err, e2e.ErrNoKey) || !strings.Contains(err.Error(), "encryption key") {
		t.Errorf("sign-only key: %v, want ErrNoKey naming the missing encryption key", err)
	}
}

func TestWrongRecipient(t *testing.T) {
	p := cast(t)
	ctx := context.Background()
	w, err := p.jSess.Encrypt(ctx, chat(julietFull, romeoFull, "for romeo only"))
	if err != nil {
		t.Fatal(err)
	}
	st := w[0].Clone()
	st.To = mercutioFull
	got, err := p.mSess.Receive(ctx, st)
	if !errors.Is(err, e2e.ErrDecrypt) || len(got.Opened) != 0 || len(got.Replies) != 0 {
		t.Errorf("mercutio: %v, %+v; want ErrDecrypt and nothing", err, got)
	}
}

func TestReplayOpensAgain(t *testing.T) {
	p := cast(t)
	ctx := context.Background()
	w, err := p.jSess.Encrypt(ctx, chat(julietFull, romeoFull, "again"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if got, err := p.rSess.Receive(ctx, w[0]); err != nil || got.Opened[0].Stanza.Body() != "again" {
			t.Fatalf("delivery %d: %v", i, err)
		}
	}
	if Scheme.Claims()[e2e.ReplayProtection] != e2e.Fails {
		t.Error("claims replay protection XEP-0027 does not have")
	}
}

func TestSignAndEncrypt(t *testing.T) {
	p := cast(t)
	ctx := context.Background()
	j, err := Scheme.NewSession(e2e.Config{Local: p.juliet, JID: julietFull, Peers: []e2e.Peer{p.romeo.Public()}, Sign: true,
		Clock: testClock(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))})
	if err != nil {
		t.Fatal(err)
	}
	st := chat(julietFull, romeoFull, "signed and sealed")
	o := roundTrip(t, j, p.rSess, st, false)
	if !o.Encrypted || o.Signer == nil || o.Signer.Fingerprint() != p.juliet.pub.fpr || !o.Trusted || !o.Stanza.Equal(st) {
		t.Errorf("got %+v", o)
	}
	// The inner signature binds the key to juliet: the same message from
	// another address is refused.
	w, err := j.Encrypt(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	w[0].From = mercutioFull
	if _, err := p.rSess.Receive(ctx, w[0]); !errors.Is(err, e2e.ErrBadSignature) {
		t.Errorf("signed by juliet, from mercutio: %v, want ErrBadSignature", err)
	}
	// Signed by a key the receiver lacks: ErrNoKey when the receiver has no
	// key for the sender, ErrBadSignature when it has another one.
	w[0].From = julietFull
	m := newTestSession(t, p.romeo, romeoFull)
	if got, err := m.Receive(ctx, w[0]); !errors.Is(err, e2e.ErrNoKey) || len(got.Opened) != 0 {
		t.Errorf("unknown inner signer: %v, %+v; want ErrNoKey", err, got)
	}
	m = newTestSession(t, p.romeo, romeoFull, fixtureIdentity(t, "juliet-rsa").Public())
	if _, err := m.Receive(ctx, w[0]); !errors.Is(err, e2e.ErrBadSignature) {
		t.Errorf("inner signer not the sender's known key: %v, want ErrBadSignature", err)
	}
}

func TestGarbageAndTruncation(t *testing.T) {
	p := cast(t)
	ctx := context.Background()
	w, err := p.jSess.Encrypt(ctx, chat(julietFull, romeoFull, "intact"))
	if err != nil {
		t.Fatal(err)
	}
	payload := w[0].Child(NSEncrypted, "x").Text()
	noCRC := payload[:strings.LastIndex(strings.TrimSpace(payload), "\n")]
	cases := map[string]string{
		"empty":         "",
		"garbage":       "this is not OpenPGP at all",
		"base64 junk":   "AAAAAAAAAAAAAAAA",
		"half":          payload[:len(payload)/2],
		"truncated":     noCRC[:len(noCRC)-8],
		"no crc, cut":   noCRC[:len(noCRC)-4],
		"nested":        "",
		"bad crc":       noCRC + "\n=AAAA\n",
		"not encrypted": armorPayload(literalPacket(t, "plain")),
	}
	for name, text := range cases {
		st := w[0].Clone()
		x := st.Child(NSEncrypted, "x")
		x.SetText(text)
		if name == "nested" {
			x.AppendChild(e2e.NewElement("urn:x", "y", ""))
		}
		got, err := p.rSess.Receive(ctx, st)
		if err == nil || len(got.Opened) != 0 {
			t.Errorf("%s: %v, %d opened", name, err, len(got.Opened))
		}
		if c := e2e.ClassOf(err); c != "malformed" && c != "decrypt" && c != "not-encrypted" {
			t.Errorf("%s: error class %q (%v)", name, c, err)
		}
	}
}

// TestTamper flips every character of the wire stanza's protected payload
// (sampled) into another base64 character: each flip must be refused with
// nothing opened, or open the original.
func TestTamper(t *testing.T) {
	p := cast(t)
	ctx := context.Background()
	st := chat(julietFull, romeoFull, "tamper with me")
	enc, err := p.jSess.Encrypt(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	pres := &e2e.Stanza{Kind: e2e.Presence, From: julietFull, To: romeoFull,
		Children: []*e2e.Element{e2e.NewElement(e2e.NSClient, "status", "Online")}}
	sig, err := p.jSess.Sign(ctx, pres)
	if err != nil {
		t.Fatal(err)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	rnd := seeded(7)
	for _, tc := range []struct {
		name string
		wire *e2e.Stanza
		orig *e2e.Stanza
		ns   string
	}{{"encrypted", enc[0], st, NSEncrypted}, {"signed", sig[0], pres, NSSigned}} {
		text := tc.wire.Child(tc.ns, "x").Text()
		flips := 0
		for i := 0; i < len(text); i++ {
			if !strings.ContainsRune(alphabet, rune(text[i])) {
				continue
			}
			if !testing.Short() || i%3 == 0 {
				b := []byte(text)
				for b[i] == text[i] {
					b[i] = alphabet[rnd.Uint64()%64]
				}
				w := tc.wire.Clone()
				w.Child(tc.ns, "x").SetText(string(b))
				got, err := p.rSess.Receive(ctx, w)
				flips++
				if err == nil {
					if len(got.Opened) != 1 || !got.Opened[0].Stanza.Equal(tc.orig) {
						t.Fatalf("%s: flip at %d opened changed content: %+v", tc.name, i, got)
					}
					continue
				}
				if len(got.Opened) != 0 {
					t.Fatalf("%s: flip at %d: error with opened content", tc.name, i)
				}
				switch e2e.ClassOf(err) {
				case "decrypt", "bad-signature", "malformed":
				default:
					t.Fatalf("%s: flip at %d: error class %q: %v", tc.name, i, e2e.ClassOf(err), err)
				}
			}
		}
		if flips < 50 {
			t.Errorf("%s: only %d flips", tc.name, flips)
		}
	}
}

func TestNoMDCRefused(t *testing.T) {
	p := cast(t)
	bin := noMDCMessage(t, p.romeo, "no integrity")
	st := chat(julietFull, romeoFull, Fallback)
	st.Children = append(st.Children, e2e.NewElement(NSEncrypted, "x", armorPayload(bin)))
	got, err := p.rSess.Receive(context.Background(), st)
	if !errors.Is(err, e2e.ErrDecrypt) || len(got.Opened) != 0 {
		t.Errorf("tag 9 without MDC: %v, %+v; want ErrDecrypt", err, got)
	}
	// The same message with SEIPD (MDC) under the same session key format
	// opens, so the refusal is about the missing MDC and not the crafting.
	good := seipdMessage(t, p.romeo, "with integrity")
	st.Children[len(st.Children)-1].SetText(armorPayload(good))
	if got, err := p.rSess.Receive(context.Background(), st); err != nil || got.Opened[0].Stanza.Body() != "with integrity" {
		t.Errorf("crafted SEIPD control: %v", err)
	}
}

func TestConcurrentSessions(t *testing.T) {
	p := cast(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				st := chat(julietFull, romeoFull, strings.Repeat("é", i+1))
				w, err := p.jSess.Encrypt(context.Background(), st)
				if err != nil {
					t.Error(err)
					return
				}
				got, err := p.rSess.Receive(context.Background(), w[0])
				if err != nil || !got.Opened[0].Stanza.Equal(st) {
					t.Error("concurrent round trip failed", err)
					return
				}
				pres := &e2e.Stanza{Kind: e2e.Presence, From: romeoFull}
				ws, err := p.rSess.Sign(context.Background(), pres)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := p.jSess.Receive(context.Background(), ws[0]); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
}

func TestAllowPlaintext(t *testing.T) {
	p := cast(t)
	s, err := Scheme.NewSession(e2e.Config{Local: p.romeo, JID: romeoFull, AllowPlaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	st := chat(julietFull, romeoFull, "clear")
	got, err := s.Receive(context.Background(), st)
	if err != nil || got.Opened[0].Encrypted || !got.Opened[0].Stanza.Equal(st) {
		t.Errorf("%v %+v", err, got)
	}
	if _, err := p.rSess.Receive(context.Background(), st); !errors.Is(err, e2e.ErrNotEncrypted) {
		t.Errorf("without AllowPlaintext: %v", err)
	}
}

// TestClockSkew: signatures dated up to MaxClockSkew after the receiver's
// clock verify; later ones do not. A clock behind the keys' creation (the
// 2024 clocks of the other tests) is lifted to the keys' time.
func TestClockSkew(t *testing.T) {
	p := cast(t)
	ctx := context.Background()
	base := keyTime(p.juliet.e).Add(24 * time.Hour)
	at := func(id *Identity, full jid.JID, start time.Time, peer *Identity) e2e.Session {
		s, err := Scheme.NewSession(e2e.Config{Local: id, JID: full, Peers: []e2e.Peer{peer.Public()}, Clock: testClock(start)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	r := at(p.romeo, romeoFull, base, p.juliet)
	for _, tc := range []struct {
		ahead time.Duration
		ok    bool
	}{{0, true}, {2 * time.Minute, true}, {MaxClockSkew + time.Minute, false}} {
		j := at(p.juliet, julietFull, base.Add(tc.ahead), p.romeo)
		w, err := j.Sign(ctx, &e2e.Stanza{Kind: e2e.Presence, From: julietFull})
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.Receive(ctx, w[0])
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, e2e.ErrBadSignature)) {
			t.Errorf("sender %v ahead: %v", tc.ahead, err)
		}
	}
}

// TestSignedBesideEncrypted: a client that puts a jabber:x:signed over the
// body next to the jabber:x:encrypted gets its signature checked against
// the decrypted body.
func TestSignedBesideEncrypted(t *testing.T) {
	p := cast(t)
	ctx := context.Background()
	st := chat(julietFull, romeoFull, "both")
	signed, err := p.jSess.Sign(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := p.jSess.Encrypt(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	w := enc[0]
	w.Children = append(w.Children, signed[0].Child(NSSigned, "x"))
	got, err := p.rSess.Receive(ctx, w)
	if err != nil || got.Opened[0].Signer == nil || !got.Opened[0].Stanza.Equal(st) {
		t.Fatalf("%v %+v", err, got)
	}
	other, err := p.jSess.Sign(ctx, chat(julietFull, romeoFull, "not both"))
	if err != nil {
		t.Fatal(err)
	}
	w.Children[len(w.Children)-1] = other[0].Child(NSSigned, "x")
	if _, err := p.rSess.Receive(ctx, w); !errors.Is(err, e2e.ErrBadSignature) {
		t.Errorf("signature over another body: %v", err)
	}
}

func TestTooManyRecipients(t *testing.T) {
	p := cast(t)
	pkesk := sessionKeyPacket(t, p.romeo, bytes.Repeat([]byte{1}, 16))
	msg := seipdMessage(t, p.romeo, "x")
	many := append(bytes.Repeat(pkesk, MaxRecipients), msg...)
	st := chat(julietFull, romeoFull, Fallback)
	st.Children = append(st.Children, e2e.NewElement(NSEncrypted, "x", armorPayload(many)))
	if _, err := p.rSess.Receive(context.Background(), st); !errors.Is(err, e2e.ErrMalformed) {
		t.Errorf("%d recipients: %v, want ErrMalformed", MaxRecipients+1, err)
	}
}

// TestRevokedAndProtectedKeys: a revoked peer key neither receives
// messages nor verifies presence; a passphrase-protected secret key is
// refused as an identity.
func TestRevokedAndProtectedKeys(t *testing.T) {
	p := cast(t)
	ctx := context.Background()
	romeo, err := parseIdentity(readFixture(t, "romeo.sec.asc")) // a private copy to revoke
	if err != nil {
		t.Fatal(err)
	}
	pres, err := p.rSess.Sign(ctx, &e2e.Stanza{Kind: e2e.Presence, From: romeoFull})
	if err != nil {
		t.Fatal(err)
	}
	if err := romeo.e.RevokeKey(packet.KeyCompromised, "test", nil); err != nil {
		t.Fatal(err)
	}
	revoked, err := newPeer(romeo.e)
	if err != nil {
		t.Fatal(err)
	}
	j := newTestSession(t, p.juliet, julietFull, revoked)
	if _, err := j.Encrypt(ctx, chat(julietFull, romeoFull, "hi")); !errors.Is(err, e2e.ErrNoKey) {
		t.Errorf("Encrypt to a revoked key: %v, want ErrNoKey", err)
	}
	if _, err := j.Receive(ctx, pres[0]); !errors.Is(err, e2e.ErrBadSignature) {
		t.Errorf("presence signed by a revoked key: %v, want ErrBadSignature", err)
	}

	if err := romeo.e.EncryptPrivateKeys([]byte("secret"), nil); err != nil {
		t.Fatal(err)
	}
	b, err := romeo.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Scheme.ParseIdentity(b); !errors.Is(err, e2e.ErrUnsupported) || !strings.Contains(err.Error(), "passphrase") {
		t.Errorf("protected secret key: %v, want ErrUnsupported naming the passphrase", err)
	}
}

func TestNewSessionZeroKeys(t *testing.T) {
	if _, err := Scheme.NewSession(e2e.Config{Peers: []e2e.Peer{&Peer{}}}); !errors.Is(err, e2e.ErrNoKey) {
		t.Errorf("zero Peer: %v", err)
	}
	if _, err := Scheme.NewSession(e2e.Config{Local: &Identity{}}); !errors.Is(err, e2e.ErrNoKey) {
		t.Errorf("zero Identity: %v", err)
	}
}

// TestTextElementsHoldNoElements checks that a <status/> or <body/> with
// child elements is refused: RFC 6121 §4.7.2.2 and §5.2.3 give them
// character data only, XEP-0027 §2 and §3 sign and encrypt exactly that
// character data, so an element inside would be dropped by Encrypt and left
// unprotected inside a verified status by Receive.
func TestTextElementsHoldNoElements(t *testing.T) {
	p := cast(t)
	ctx := context.Background()
	mixed := func(name string) *e2e.Element {
		el := e2e.NewElement(e2e.NSClient, name, "")
		el.Nodes = []e2e.Node{e2e.CharData("On"), e2e.NewElement("urn:example", "b", "x"), e2e.CharData("line")}
		return el
	}
	msg := &e2e.Stanza{Kind: e2e.Message, From: romeoFull, To: julietFull, Type: "chat", Children: []*e2e.Element{mixed("body")}}
	if _, err := p.rSess.Encrypt(ctx, msg); !errors.Is(err, e2e.ErrMalformed) {
		t.Errorf("Encrypt of a body with an element: %v, want ErrMalformed", err)
	}
	pres := &e2e.Stanza{Kind: e2e.Presence, From: romeoFull, To: julietFull, Children: []*e2e.Element{mixed("status")}}
	if _, err := p.rSess.Sign(ctx, pres); !errors.Is(err, e2e.ErrMalformed) {
		t.Errorf("Sign of a status with an element: %v, want ErrMalformed", err)
	}
	// A signature over "Online", and an element slipped into the status.
	plain := &e2e.Stanza{Kind: e2e.Presence, From: romeoFull, To: julietFull,
		Children: []*e2e.Element{e2e.NewElement(e2e.NSClient, "status", "Online")}}
	wire, err := p.rSess.Sign(ctx, plain)
	if err != nil {
		t.Fatal(err)
	}
	w := wire[0].Clone()
	w.Children[0] = mixed("status")
	if got, err := p.jSess.Receive(ctx, w); !errors.Is(err, e2e.ErrMalformed) || len(got.Opened) != 0 {
		t.Errorf("Receive of a signed status with an element: %v, %d opened; want ErrMalformed", err, len(got.Opened))
	}
}

// TestDocumentedLimits pins the XEP-0027 limits docs/openpgp.md describes
// under "Conformance review": a signature covers text, not the stanza kind
// (§4 replay), and an error bounce of our own message opens as from the
// bouncing address (RFC 6120 §8.3.1), keeping type='error'.
func TestDocumentedLimits(t *testing.T) {
	p := cast(t)
	ctx := context.Background()
	pres := &e2e.Stanza{Kind: e2e.Presence, From: romeoFull, To: julietFull,
		Children: []*e2e.Element{e2e.NewElement(e2e.NSClient, "status", "Online")}}
	wire, err := p.rSess.Sign(ctx, pres)
	if err != nil {
		t.Fatal(err)
	}
	msg := chat(romeoFull, julietFull, "Online")
	msg.Children = append(msg.Children, wire[0].Children[len(wire[0].Children)-1])
	got, err := p.jSess.Receive(ctx, msg)
	if err != nil || len(got.Opened) != 1 || got.Opened[0].Signer == nil {
		t.Errorf("presence signature on a message body: %v, %+v; want it to verify (XEP-0027 §4)", err, got)
	}
	noFrom := wire[0].Clone()
	noFrom.From = jid.JID{}
	if got, err := p.jSess.Receive(ctx, noFrom); !errors.Is(err, e2e.ErrBadSignature) || len(got.Opened) != 0 {
		t.Errorf("signed presence without from: %v, %d opened; want ErrBadSignature", err, len(got.Opened))
	}

	out, err := p.jSess.Encrypt(ctx, chat(julietFull, romeoFull, "to romeo"))
	if err != nil {
		t.Fatal(err)
	}
	bounce := out[0].Clone()
	bounce.From, bounce.To, bounce.Type = romeoFull, julietFull, "error"
	got, err = p.jSess.Receive(ctx, bounce)
	if err != nil || len(got.Opened) != 1 {
		t.Fatalf("bounce: %v, %+v", err, got)
	}
	if o := got.Opened[0]; o.Stanza.Type != "error" || o.Signer != nil || o.Stanza.Body() != "to romeo" {
		t.Errorf("bounce opened as type %q, Signer %v, body %q", o.Stanza.Type, o.Signer, o.Stanza.Body())
	}
}

// TestStatusLanguagesDistinct checks RFC 6121 §4.7.2.2: several <status/>
// elements must each have a distinct xml:lang. A second status without
// xml:lang (or with a repeated one) next to the signed one would open,
// unsigned, beside it; Sign and Receive refuse it with ErrMalformed.
func TestStatusLanguagesDistinct(t *testing.T) {
	p := cast(t)
	ctx := context.Background()
	status := func(lang, text string) *e2e.Element {
		el := e2e.NewElement(e2e.NSClient, "status", text)
		if lang != "" {
			el.Attr = append(el.Attr, xml.Attr{Name: xml.Name{Space: e2e.NSXML, Local: "lang"}, Value: lang})
		}
		return el
	}
	pres := &e2e.Stanza{Kind: e2e.Presence, From: romeoFull, To: julietFull,
		Children: []*e2e.Element{status("", "Online"), status("de", "Da")}}
	wire, err := p.rSess.Sign(ctx, pres)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := p.jSess.Receive(ctx, wire[0]); err != nil || len(got.Opened) != 1 {
		t.Fatalf("distinct languages: %v", err)
	}
	for name, extra := range map[string]*e2e.Element{
		"second without xml:lang": status("", "Evil"),
		"repeated xml:lang":       status("de", "Böse"),
	} {
		w := wire[0].Clone()
		w.Children = append([]*e2e.Element{w.Children[0], w.Children[1], extra}, w.Children[2:]...)
		if got, err := p.jSess.Receive(ctx, w); !errors.Is(err, e2e.ErrMalformed) || len(got.Opened) != 0 {
			t.Errorf("Receive, %s: %v, %d opened; want ErrMalformed", name, err, len(got.Opened))
		}
		bad := pres.Clone()
		bad.Children = append(bad.Children, extra)
		if _, err := p.rSess.Sign(ctx, bad); !errors.Is(err, e2e.ErrMalformed) {
			t.Errorf("Sign, %s: %v; want ErrMalformed", name, err)
		}
	}
}
