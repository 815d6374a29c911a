package jose

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// fuzzSeeds are wire stanzas of every kind the codec reads: encrypted,
// signed, sign-then-encrypt, General JSON, key request, response, refusal.
func fuzzSeeds(t testing.TB) [][]byte {
	clk := newClock()
	p := New(Options{GeneralJSON: true})
	j := newParty(t, p, "juliet", clk, 1, "romeo", "mercutio")
	r := newParty(t, p, "romeo", clk, 2, "juliet")
	var out [][]byte
	add := func(sts ...*e2e.Stanza) {
		for _, st := range sts {
			out = append(out, st.Bytes())
		}
	}
	orig := msg(fullJIDs["juliet"], fullJIDs["romeo"], "fuzz me")
	w, _ := j.s.Encrypt(ctx, orig)
	add(w...)
	res, _ := r.s.Receive(ctx, w[0])
	add(res.Replies...)
	ans, _ := j.s.Receive(ctx, res.Replies[0])
	add(ans.Replies...)
	s, _ := j.s.Sign(ctx, orig)
	add(s...)
	j.s.cfg.Sign = true
	w, _ = j.s.Encrypt(ctx, orig)
	add(w...)
	g, _ := j.s.EncryptGeneral(ctx, orig, []jid.JID{r.jid, jid.MustParse(fullJIDs["mercutio"])})
	add(g...)
	iq, _ := r.s.keyRequest(j.jid, "nope")
	ref, _ := j.s.Receive(ctx, iq)
	add(ref.Replies...)
	add(draftStanza(t, "enc-3.4.xml"), draftStanza(t, "sig-4.4.xml"), draftStanza(t, "keyreq-5.4-response.xml"))
	return out
}

// fuzzReceiver is romeo with juliet's SMK pre-placed, juliet's signing key
// pinned, the General JSON extension on and a fixed clock.
func fuzzReceiver(t testing.TB, smk *smkEntry, now time.Time) *Session {
	p := New(Options{GeneralJSON: true})
	id := identity(t, "romeo")
	if smk != nil {
		id, _ = id.WithSessionKey(smk.sid, smk.key)
	}
	s, err := p.NewSession(e2e.Config{Local: id, JID: jid.MustParse(fullJIDs["romeo"]),
		Peers: []e2e.Peer{identity(t, "juliet").Public()}, Rand: seededRand(3), Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return s.(*Session)
}

// FuzzReceive feeds arbitrary stanzas to a session: it must never panic,
// never return results with an error, and whatever opens must be a stanza
// that serializes and parses back.
func FuzzReceive(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	clk := newClock()
	j := newParty(f, Scheme, "juliet", clk, 1, "romeo")
	w, _ := j.s.Encrypt(ctx, msg(fullJIDs["juliet"], fullJIDs["romeo"], "seed"))
	f.Add(w[0].Bytes())
	smk := j.s.current["romeo@montague.lit"]
	now := clk.Now()
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := e2e.Parse(b)
		if err != nil {
			return
		}
		s := fuzzReceiver(t, smk, now)
		res, err := s.Receive(ctx, st)
		if err != nil {
			if len(res.Opened) != 0 || len(res.Replies) != 0 {
				t.Fatalf("results with error %v", err)
			}
			if e2e.ClassOf(err) == "other" {
				t.Fatalf("error outside the classes: %v", err)
			}
			return
		}
		for _, o := range res.Opened {
			if _, err := e2e.Parse(o.Stanza.Bytes()); err != nil {
				t.Fatalf("opened stanza does not re-parse: %v", err)
			}
		}
	})
}

// FuzzE2EElement parses <e2e/> and <keyreq/> parts, protected headers and
// envelopes from arbitrary bytes.
func FuzzE2EElement(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Add([]byte("<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2026-03-14T15:09:26.000Z'/><message xmlns='jabber:client'/></forwarded>"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, _, err := parseEnvelope(b); err != nil && e2e.ClassOf(err) != "malformed" {
			t.Fatalf("envelope error of class %s: %v", e2e.ClassOf(err), err)
		}
		el, err := e2e.ParseElement(b)
		if err != nil {
			st, perr := e2e.Parse(b)
			if perr != nil {
				return
			}
			if el = st.Child(NS, "e2e"); el == nil {
				if st.Kind == e2e.IQ {
					el = st.Child(NS, "keyreq")
				}
				if el == nil {
					return
				}
			}
		}
		for _, names := range [][]string{jweParts, jwsParts} {
			c, err := readParts(el, names)
			if err != nil {
				continue
			}
			for _, p := range c {
				if _, err := b64Strict.DecodeString(p); err != nil {
					t.Fatalf("readParts passed %q", p)
				}
			}
			parseProtected(c[0], len(names) == 5)
			if len(names) == 5 {
				OpenLegacy06(el, make([]byte, 32))
			}
		}
	})
}

// TestWriteFuzzSeeds writes the seed stanzas to testdata/fuzz (-update).
func TestWriteFuzzSeeds(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/fuzz seeds")
	}
	for _, name := range []string{"FuzzReceive", "FuzzE2EElement"} {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range fuzzSeeds(t) {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%02d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
