package otr

import (
	"context"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/xmpp/jid"
)

var updateKeys = flag.Bool("update-keys", false, "regenerate the DSA fixture keys in testdata/keys")

// The fixture parties. Their DSA keys are committed in testdata/keys (DSA
// parameter generation takes seconds under -race); regenerate them with
// go test -run TestFixtureKeys -update-keys.
var fixtureNames = []string{"juliet@capulet.lit", "romeo@montague.lit", "mercutio@capulet.lit", "nurse@capulet.lit", oddKeyName}

// oddKeyName's key has a DSA number with a leading zero nibble, which
// otr3.ExportKeysToFile writes as odd-length hex (libotr refuses that file).
const oddKeyName = "tybalt@capulet.lit"

func TestFixtureKeys(t *testing.T) {
	if !*updateKeys {
		for _, n := range fixtureNames {
			if fixture(t, n) == nil {
				t.Fatal("no fixture")
			}
		}
		return
	}
	for _, n := range fixtureNames {
		id, err := Scheme.GenerateIdentity(context.Background(), jid.MustParse(n), nil)
		if err != nil {
			t.Fatal(err)
		}
		for n == oddKeyName && !hasOddNibble(id.(*Identity)) {
			if id, err = Scheme.GenerateIdentity(context.Background(), jid.MustParse(n), nil); err != nil {
				t.Fatal(err)
			}
		}
		b, err := id.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("testdata", "keys", n+".key"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var (
	fixMu sync.Mutex
	fixes = map[string]*Identity{}
)

// fixture returns the committed identity of name.
func fixture(t testing.TB, name string) *Identity {
	t.Helper()
	fixMu.Lock()
	defer fixMu.Unlock()
	if id := fixes[name]; id != nil {
		return id
	}
	b, err := os.ReadFile(filepath.Join("testdata", "keys", name+".key"))
	if err != nil {
		t.Fatalf("fixture key: %v (go test -run TestFixtureKeys -update-keys)", err)
	}
	id, err := Scheme.ParseIdentity(b)
	if err != nil {
		t.Fatal(err)
	}
	fixes[name] = id.(*Identity)
	return fixes[name]
}

var _ e2e.Identity = (*Identity)(nil)

func hasOddNibble(id *Identity) bool {
	k := &id.key.PrivateKey
	for _, v := range []*big.Int{k.P, k.Q, k.G, k.Y, k.X} {
		if len(fmt.Sprintf("%X", v))%2 == 1 {
			return true
		}
	}
	return false
}
