package otr

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e"
)

var (
	fuzzOnce    sync.Once
	fuzzJ       *party
	fuzzR       *party
	fuzzGenuine = map[string]bool{}
)

// fuzzPair is one established conversation shared by the fuzz inputs.
func fuzzPair(t testing.TB) (*party, *party) {
	fuzzOnce.Do(func() {
		fuzzJ, fuzzR = established(t, Scheme, Scheme)
	})
	return fuzzJ, fuzzR
}

// FuzzReceive feeds arbitrary bodies to Receive outside any conversation
// (a fresh session) and inside an established one. It must never panic,
// never return opened stanzas with an error, and never open as encrypted
// anything but a genuine message of the peer.
func FuzzReceive(f *testing.F) {
	j, r := fuzzPair(f)
	for i, body := range []string{"short", strings.Repeat("long ", 80)} {
		for _, w := range send(f, j, r, body) {
			fuzzGenuine[w.Body()] = true
			f.Add(w.Body(), i == 0)
			if len(w.Body()) > 60 {
				f.Add(w.Body()[:len(w.Body())-25]+".", true)
			}
		}
	}
	for _, s := range []string{"?OTRv23?", "?OTRv2?\nhello", "?OTR?v2?", "?OTR Error: boom", "hi" + wsBase + wsV2 + wsV3,
		"?OTR:AAMC", "?OTR:AAIDAAAAAAEAAAABAAAAwA==.", "?OTR|0000abcd|00000000,00001,00002,?OTR:AAM,", "?OTR,1,1,?OTR:AAID.,",
		"?OTR,00002,00001,x,", "plain"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, body string, inside bool) {
		var s *Session
		if inside {
			_, r := fuzzPair(t)
			s = r.s
		} else {
			var err error
			s, err = Scheme.Open(e2e.Config{Local: fixture(t, "romeo@montague.lit"), JID: romeoJID})
			if err != nil {
				t.Fatal(err)
			}
		}
		res, err := s.Receive(context.Background(), msg(julietJID, romeoJID, "f", body))
		if err != nil && len(res.Opened) != 0 {
			t.Fatalf("opened %d stanzas together with error %v", len(res.Opened), err)
		}
		for _, o := range res.Opened {
			if o.Encrypted && !fuzzGenuine[body] {
				t.Fatalf("forged body opened as encrypted: %q -> %q", body, o.Stanza.Body())
			}
			if !o.Encrypted {
				t.Fatalf("plaintext opened without AllowPlaintext: %q", body)
			}
		}
		if err != nil && e2e.ClassOf(err) == "other" {
			t.Fatalf("error outside the classes: %v", err)
		}
	})
}

// FuzzParseKeyFile: the libotr key file reader never panics and accepts
// only keys that check out.
func FuzzParseKeyFile(f *testing.F) {
	for _, n := range fixtureNames {
		b, _ := fixture(f, n).Marshal()
		f.Add(b)
	}
	f.Add([]byte("(privkeys (account (name \"a\") (protocol xmpp) (private-key (dsa (p #0#)))))"))
	f.Add([]byte("((((((((((((((((((((((()))))))))))))))))))))))"))
	f.Fuzz(func(t *testing.T, b []byte) {
		as, err := ParseKeyFile(b)
		if err != nil {
			if e2e.ClassOf(err) == "other" {
				t.Fatalf("error outside the classes: %v", err)
			}
			return
		}
		for _, a := range as {
			out, err := a.Identity.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseKeyFile(out)
			if err != nil || back[0].Identity.Public().Fingerprint() != a.Identity.Public().Fingerprint() {
				t.Fatalf("re-marshalled key does not read back: %v", err)
			}
		}
	})
}

// FuzzParsePeer: the peer reader never panics.
func FuzzParsePeer(f *testing.F) {
	p := fixture(f, "romeo@montague.lit").peer()
	b, _ := p.Marshal()
	f.Add(b)
	f.Add(p.PublicKey())
	f.Add([]byte(p.Fingerprint()))
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := Scheme.ParsePeer(b)
		if err == nil {
			if _, err := q.Marshal(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzFragments: fragment then reassemble is the identity, and the
// reassembler never panics on arbitrary fragments.
func FuzzFragments(f *testing.F) {
	f.Add("?OTR:AAMDAAABAAAAAQEAAAAB"+strings.Repeat("QUJD", 50)+".", 70, "?OTR,1,2,abc,")
	f.Add("?OTR:AAIDAQAAAAIAAAAC"+strings.Repeat("eHl6", 30)+".", 64, "?OTR|00000100|00000000,00001,00001,?OTR:x.,")
	f.Fuzz(func(t *testing.T, line string, size int, frag string) {
		var r reassembly
		if fm, err := parseFragment(frag); err == nil {
			r.add(fm)
		}
		if size < MinFragmentSize || size > 1<<16 || !strings.HasPrefix(line, "?OTR:") || strings.Contains(line, ",") {
			return
		}
		parts, err := fragment(line, size)
		if err != nil {
			return
		}
		var got string
		var done bool
		r.reset()
		for i, p := range parts {
			if len(parts) > 1 && len(p) > size {
				t.Fatalf("fragment %d has %d bytes > %d", i, len(p), size)
			}
			if len(parts) == 1 {
				got, done = p, true
				break
			}
			fm, err := parseFragment(p)
			if err != nil {
				t.Fatalf("own fragment %q: %v", p, err)
			}
			got, done, err = r.add(fm)
			if err != nil {
				if !strings.HasSuffix(line, ".") {
					return
				}
				t.Fatalf("reassembly: %v", err)
			}
		}
		if !done || got != line {
			if len(parts) > 1 && !strings.HasSuffix(line, ".") {
				return
			}
			t.Fatalf("reassembled %q, want %q", got, line)
		}
	})
}
