package jose

import (
	"context"
	crand "crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gojose "github.com/go-jose/go-jose/v4"
	"mellium.im/xmpp/jid"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/e2e/e2etest"
	"github.com/xmppe2e/xmppe2e/internal/syncrand"
)

var update = flag.Bool("update", false, "rewrite generated fixtures in testdata")

// The fixture parties: committed 2048-bit keys (regenerate with -update),
// so tests need no slow key generation.
var fixtureNames = []string{"juliet", "romeo", "romeo2", "mercutio"}

var fixtureJIDs = map[string]string{
	"juliet":   "juliet@capulet.lit",
	"romeo":    "romeo@montague.lit",
	"romeo2":   "romeo@montague.lit",
	"mercutio": "mercutio@capulet.lit",
}

var fullJIDs = map[string]string{
	"juliet":   "juliet@capulet.lit/balcony",
	"romeo":    "romeo@montague.lit/orchard",
	"romeo2":   "romeo@montague.lit/garden",
	"mercutio": "mercutio@capulet.lit/tomb",
}

func TestFixtureKeys(t *testing.T) {
	if !*update {
		t.Skip("run with -update to regenerate testdata/keys")
	}
	for _, n := range fixtureNames {
		priv, err := rsa.GenerateKey(crand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		id, err := NewIdentity(jid.MustParse(fixtureJIDs[n]), priv)
		if err != nil {
			t.Fatal(err)
		}
		b, err := id.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("testdata", "keys", n+".jwk"), append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var (
	fixtureOnce sync.Once
	fixtures    map[string]*Identity
	fixtureErr  error
)

func identity(t testing.TB, name string) *Identity {
	t.Helper()
	fixtureOnce.Do(func() {
		fixtures = map[string]*Identity{}
		for _, n := range fixtureNames {
			b, err := os.ReadFile(filepath.Join("testdata", "keys", n+".jwk"))
			if err != nil {
				fixtureErr = err
				return
			}
			id, err := Scheme.ParseIdentity(b)
			if err != nil {
				fixtureErr = err
				return
			}
			fixtures[n] = id.(*Identity)
		}
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return fixtures[name]
}

// clock is a deterministic clock that advances 1 ms per call.
type clock = e2etest.ManualClock

func newClock() *clock { return e2etest.NewManualClock(time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)) }

// seededRand is a deterministic randomness source, safe for concurrent use.
func seededRand(seed byte) io.Reader {
	var k [32]byte
	k[0] = seed
	return syncrand.New(rand.NewChaCha8(k))
}

// party is one session under test.
type party struct {
	name string
	jid  jid.JID
	s    *Session
}

func newParty(t testing.TB, p *Profile, name string, clk *clock, seed byte, peers ...string) *party {
	t.Helper()
	var ps []e2e.Peer
	for _, n := range peers {
		ps = append(ps, identity(t, n).Public())
	}
	j := jid.MustParse(fullJIDs[name])
	s, err := p.NewSession(e2e.Config{Local: identity(t, name), JID: j, Peers: ps, Rand: seededRand(seed), Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &party{name: name, jid: j, s: s.(*Session)}
}

// pump delivers wire stanzas to the party they are addressed to (by full
// JID, or bare JID to every party of that bare JID) until quiet, and
// returns what each party opened and the errors it reported.
func pump(t testing.TB, parties []*party, wire []*e2e.Stanza) (map[string][]e2e.Opened, map[string][]error) {
	t.Helper()
	opened, errs := map[string][]e2e.Opened{}, map[string][]error{}
	queue := wire
	for steps := 0; len(queue) > 0; steps++ {
		if steps > 1000 {
			t.Fatal("pump does not settle")
		}
		st := queue[0]
		queue = queue[1:]
		for _, p := range parties {
			if !(st.To.Equal(p.jid) || st.To.Equal(p.jid.Bare()) && st.To.Resourcepart() == "") {
				continue
			}
			r, err := p.s.Receive(context.Background(), st)
			if err != nil {
				errs[p.name] = append(errs[p.name], err)
				if len(r.Opened) != 0 || len(r.Replies) != 0 {
					t.Fatalf("%s: Receive returned results with error %v", p.name, err)
				}
				continue
			}
			opened[p.name] = append(opened[p.name], r.Opened...)
			queue = append(queue, r.Replies...)
		}
	}
	return opened, errs
}

func msg(from, to, body string) *e2e.Stanza {
	st := &e2e.Stanza{Kind: e2e.Message, Type: "chat", ID: "m1", From: jid.MustParse(from), To: jid.MustParse(to)}
	st.SetBody(body)
	return st
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gojoseKey(smk []byte) gojose.JSONWebKey { return gojose.JSONWebKey{Key: smk} }

// splitCompact splits a compact serialization into n parts.
func splitCompact(s string, n int) (compact, error) {
	parts := strings.Split(s, ".")
	if len(parts) != n {
		return nil, fmt.Errorf("jose: %w: want %d dot-separated parts, got %d", e2e.ErrMalformed, n, len(parts))
	}
	return parts, nil
}

// b64Strict decodes only canonical unpadded base64url (the reference for
// canonicalB64 in the fuzz test).
var b64Strict = base64.RawURLEncoding.Strict()
