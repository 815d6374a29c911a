package openpgp

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/e2e/e2etest"
)

// The parties of the conformance kit.
var (
	julietFull   = e2etest.Juliet
	romeoFull    = e2etest.Romeo
	mercutioFull = e2etest.Mercutio
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	fixtureMu  sync.Mutex
	fixtureIDs = map[string]*Identity{}
)

// fixtureIdentity parses the gpg-made secret key testdata/<name>.sec.asc.
func fixtureIdentity(t testing.TB, name string) *Identity {
	t.Helper()
	fixtureMu.Lock()
	defer fixtureMu.Unlock()
	if id, ok := fixtureIDs[name]; ok {
		return id
	}
	id, err := Scheme.ParseIdentity(readFixture(t, name+".sec.asc"))
	if err != nil {
		t.Fatalf("ParseIdentity(%s): %v", name, err)
	}
	fixtureIDs[name] = id.(*Identity)
	return id.(*Identity)
}

// testClock is the conformance kit's deterministic clock (1 ms per call),
// shifted to start at start.
func testClock(start time.Time) func() time.Time {
	c, off := e2etest.Clock(), start.Sub(e2etest.Epoch)
	return func() time.Time { return c().Add(off) }
}

func seeded(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	return rand.NewChaCha8(s)
}

// pair opens a session for local (at full JID) that knows peers.
func newTestSession(t testing.TB, local *Identity, full jid.JID, peers ...e2e.Peer) e2e.Session {
	t.Helper()
	s, err := Scheme.NewSession(e2e.Config{
		Local: local,
		JID:   full,
		Peers: peers,
		Rand:  seeded(uint64(len(full.String()))),
		Clock: testClock(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type parties struct {
	juliet, romeo, mercutio *Identity
	jSess, rSess, mSess     e2e.Session
}

// cast returns sessions for juliet, romeo and mercutio made from the
// gpg-made fixture keys: juliet and romeo know each other, mercutio knows
// juliet only.
func cast(t testing.TB) parties {
	t.Helper()
	p := parties{
		juliet:   fixtureIdentity(t, "juliet"),
		romeo:    fixtureIdentity(t, "romeo"),
		mercutio: fixtureIdentity(t, "mercutio"),
	}
	p.jSess = newTestSession(t, p.juliet, julietFull, p.romeo.Public())
	p.rSess = newTestSession(t, p.romeo, romeoFull, p.juliet.Public())
	p.mSess = newTestSession(t, p.mercutio, mercutioFull, p.juliet.Public())
	return p
}

func chat(from, to jid.JID, body string) *e2e.Stanza {
	st := &e2e.Stanza{Kind: e2e.Message, From: from, To: to, Type: "chat", ID: "m1"}
	st.SetBody(body)
	return st
}

// roundTrip sends st from a to b, re-parsing the wire stanza as a server
// would, and returns what b opened.
func roundTrip(t *testing.T, a, b e2e.Session, st *e2e.Stanza, sign bool) e2e.Opened {
	t.Helper()
	ctx := context.Background()
	var wire []*e2e.Stanza
	var err error
	if sign {
		wire, err = a.Sign(ctx, st)
	} else {
		wire, err = a.Encrypt(ctx, st)
	}
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	if len(wire) != 1 {
		t.Fatalf("send gave %d stanzas", len(wire))
	}
	parsed, err := e2e.Parse(wire[0].Bytes())
	if err != nil {
		t.Fatalf("wire stanza does not parse: %v\n%s", err, wire[0])
	}
	got, err := b.Receive(ctx, parsed)
	if err != nil {
		t.Fatalf("Receive: %v\n%s", err, wire[0])
	}
	if len(got.Opened) != 1 || len(got.Replies) != 0 {
		t.Fatalf("Receive: %d opened, %d replies", len(got.Opened), len(got.Replies))
	}
	return got.Opened[0]
}
