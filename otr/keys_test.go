package otr

import (
	"bytes"
	"context"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/coyim/otr3"
	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/xmpp/jid"
)

var hexNum = regexp.MustCompile(`#([0-9A-Fa-f]*)#`)

func TestKeyFileRoundTripEvenHex(t *testing.T) {
	for _, n := range fixtureNames {
		id := fixture(t, n)
		b, err := id.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range hexNum.FindAllSubmatch(b, -1) {
			if len(m[1])%2 != 0 {
				t.Fatalf("%s: odd-length hex %s", n, m[1])
			}
		}
		back, err := Scheme.ParseIdentity(b)
		if err != nil {
			t.Fatal(err)
		}
		if back.Public().Fingerprint() != id.Public().Fingerprint() || !back.JID().Equal(jid.MustParse(n)) {
			t.Fatalf("%s: round trip changed the key or JID", n)
		}
		// otr3's exporter writes %X (odd lengths for a leading 0 nibble): we read it
		tmp := filepath.Join(t.TempDir(), "otr3.key")
		if err := otr3.ExportKeysToFile([]*otr3.Account{{Name: n, Protocol: "prpl-jabber", Key: id.key}}, tmp); err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(tmp)
		as, err := ParseKeyFile(raw)
		if err != nil || as[0].Identity.Public().Fingerprint() != id.Public().Fingerprint() || as[0].Protocol != "prpl-jabber" {
			t.Fatalf("%s: reading otr3's export: %v", n, err)
		}
	}
	// the even-hex rule itself: a leading zero nibble and a set top bit
	for _, c := range []struct{ v, want string }{{"abc", "0ABC"}, {"80", "0080"}, {"7f", "7F"}, {"0", "00"}} {
		v, _ := new(big.Int).SetString(c.v, 16)
		if got := evenHex(v); got != c.want {
			t.Fatalf("evenHex(%s) = %s, want %s", c.v, got, c.want)
		}
	}
}

// TestLibotrGeneratedKeyFile reads a key file libotr 4.1.1 generated
// (testdata/keys/libotr-generated.key, made by TestLibotrKeyFileLive).
func TestLibotrGeneratedKeyFile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "keys", "libotr-generated.key"))
	if err != nil {
		t.Fatal(err)
	}
	fp, err := os.ReadFile(filepath.Join("testdata", "keys", "libotr-generated.fp"))
	if err != nil {
		t.Fatal(err)
	}
	as, err := ParseKeyFile(b)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.ReplaceAll(as[0].Identity.Public().Fingerprint(), " ", "")
	if got != strings.TrimSpace(string(fp)) || as[0].Name != "nurse@capulet.lit" {
		t.Fatalf("libotr key: fingerprint %s name %q, libotr said %s", got, as[0].Name, fp)
	}
}

func TestLibotrKeyFileLive(t *testing.T) {
	bin := buildLibotrPeer(t)
	keyfile := filepath.Join(t.TempDir(), "generated.key")
	r := startRemote(t, nil, bin, keyfile, "nurse@capulet.lit", "xmpp", "x", "v23")
	fp := r.last("EV FP ours ")
	b, err := os.ReadFile(keyfile)
	if err != nil {
		t.Fatal(err)
	}
	as, err := ParseKeyFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.ReplaceAll(as[0].Identity.Public().Fingerprint(), " ", ""); got != fp {
		t.Fatalf("fingerprint of libotr's key: ours %s, libotr %s", got, fp)
	}
	if *updateKeys {
		os.WriteFile(filepath.Join("testdata", "keys", "libotr-generated.key"), b, 0o644)
		os.WriteFile(filepath.Join("testdata", "keys", "libotr-generated.fp"), []byte(fp+"\n"), 0o644)
	}
	// otr3's own export of the odd-nibble key is refused by libotr: the bug
	// MarshalKeyFile fixes
	if !hasOddNibble(fixture(t, oddKeyName)) {
		t.Fatal("the odd-nibble fixture lost its odd nibble")
	}
	bad := filepath.Join(t.TempDir(), "otr3-export.key")
	if err := otr3.ExportKeysToFile([]*otr3.Account{{Name: oddKeyName, Protocol: "xmpp", Key: fixture(t, oddKeyName).key}}, bad); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, bad, oddKeyName, "xmpp", "x", "v23").CombinedOutput(); err == nil {
		t.Fatalf("libotr read otr3's odd-length hex export; the upstream bug is gone? %s", out)
	}
	// and libotr reads every fixture as we write it
	for _, n := range fixtureNames {
		kf := filepath.Join(t.TempDir(), "ours.key")
		b, _ := fixture(t, n).Marshal()
		os.WriteFile(kf, b, 0o600)
		r := startRemote(t, nil, bin, kf, n, "xmpp", "x", "v23")
		if got, want := r.last("EV FP ours "), strings.ReplaceAll(fixture(t, n).Public().Fingerprint(), " ", ""); got != want {
			t.Fatalf("%s: libotr fingerprint %s, want %s", n, got, want)
		}
	}
}

func TestParsePeerAndHostileKeyFiles(t *testing.T) {
	id := fixture(t, "romeo@montague.lit")
	p := id.Public()
	b, _ := p.Marshal()
	if !bytes.HasPrefix(b, []byte("xmpp:romeo@montague.lit?otr-fingerprint=")) {
		t.Fatalf("peer marshal %s", b)
	}
	for _, in := range [][]byte{b, []byte(p.Fingerprint()), id.peer().PublicKey()} {
		q, err := Scheme.ParsePeer(in)
		if err != nil || q.Fingerprint() != p.Fingerprint() {
			t.Fatalf("ParsePeer(%.40q): %v", in, err)
		}
	}
	for _, bad := range []string{"", "(", "(privkeys)", "(privkeys (account (name x)))", "(privkeys (account (name \"a\") (protocol xmpp) (private-key (dsa (p #00#) (q #01#) (g #02#) (y #03#) (x #04#)))))",
		strings.Repeat("(", 100), "(privkeys #zz#)", "xmpp:a@b", "0011"} {
		if _, err := Scheme.ParseIdentity([]byte(bad)); err == nil || !(errors.Is(err, e2e.ErrMalformed) || errors.Is(err, e2e.ErrNoKey)) {
			t.Fatalf("ParseIdentity(%q): %v", bad, err)
		}
		if _, err := Scheme.ParsePeer([]byte(bad)); err == nil {
			t.Fatalf("ParsePeer(%q) accepted", bad)
		}
	}
	// a key whose y does not match x is refused
	other := fixture(t, "juliet@capulet.lit")
	mixed := &Identity{addr: id.addr, key: &otr3.DSAPrivateKey{}}
	*mixed.key = *id.key
	mixed.key.PrivateKey.X = other.key.PrivateKey.X
	mb, _ := mixed.Marshal()
	if _, err := Scheme.ParseIdentity(mb); !errors.Is(err, e2e.ErrMalformed) {
		t.Fatalf("mismatched key: %v", err)
	}
	if _, err := Scheme.NewSession(e2e.Config{}); !errors.Is(err, e2e.ErrNoKey) {
		t.Fatalf("session without identity: %v", err)
	}
	_ = context.Background
}
