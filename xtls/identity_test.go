package xtls

import (
	"context"
	"math/rand"
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/xmpp/jid"
)

func TestIdentity(t *testing.T) {
	addr := jid.MustParse("romeo@montague.lit")
	a, err := generateIdentity(context.Background(), addr, rand.New(rand.NewSource(9)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := generateIdentity(context.Background(), addr, rand.New(rand.NewSource(9)))
	if a.Public().Fingerprint() != b.Public().Fingerprint() {
		t.Fatal("seeded generation is not reproducible")
	}
	if got := certJID(a.cert); !got.Equal(addr) {
		t.Fatalf("xmppAddr SAN gives %q", got)
	}
	pem, err := a.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Scheme.ParseIdentity(pem)
	if err != nil || back.Public().Fingerprint() != a.Public().Fingerprint() || !back.JID().Equal(addr) {
		t.Fatalf("ParseIdentity: %v", err)
	}
	pub, _ := a.Public().Marshal()
	p, err := Scheme.ParsePeer(pub)
	if err != nil || p.Fingerprint() != a.Public().Fingerprint() || !p.JID().Equal(addr) {
		t.Fatalf("ParsePeer: %v", err)
	}
	if len(p.Fingerprint()) != 32*3-1 {
		t.Fatalf("fingerprint %q", p.Fingerprint())
	}
	for _, bad := range [][]byte{nil, []byte("junk"), pub} {
		if _, err := Scheme.ParseIdentity(bad); err == nil {
			t.Fatal("bad identity parsed")
		}
	}
	var _ e2e.Identity = a
}
