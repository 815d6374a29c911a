package interop_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/internal/prosodytest"
	"github.com/xmppe2e/xmppe2e/internal/toy"
	"github.com/xmppe2e/xmppe2e/interop"
)

// startProsody runs Prosody as a c2s-only server for capulet.lit with a
// self-signed certificate, with juliet, romeo and mercutio registered, and
// returns its address and an accounts file for LoadExternal.
func startProsody(t *testing.T) (addr, accounts string) {
	parties := []string{"juliet", "romeo", "mercutio"}
	users := map[string]string{}
	for _, u := range parties {
		users[u] = u + "-pass"
	}
	p := prosodytest.Start(t, prosodytest.Config{
		Domain: "capulet.lit", Modules: []string{"presence"}, Users: users,
	})
	var acc strings.Builder
	fmt.Fprintf(&acc, "ca %s\n", p.CertFile)
	for _, u := range parties {
		fmt.Fprintf(&acc, "%s %s@capulet.lit %s\n", u, u, users[u])
	}
	accounts = filepath.Join(t.TempDir(), "accounts")
	if err := os.WriteFile(accounts, []byte(acc.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p.C2S, accounts
}

// The scenarios without a malicious server run against Prosody.
func TestExternalProsody(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prosody")
	}
	addr, accounts := startProsody(t)
	x, err := interop.LoadExternal(addr, accounts)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := interop.Run(context.Background(), interop.Options{
		Schemes: []e2e.Scheme{&toy.Scheme{}}, Seed: 1, Samples: 2, OutDir: t.TempDir(),
		External: true, Addresses: x.Addresses(), NewNetwork: x.Open, NetworkName: "prosody",
	})
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Schemes[0]
	if len(s.Errors) > 0 {
		t.Fatalf("errors: %v", s.Errors)
	}
	want := map[string]string{
		"authentication": "holds", "async-delivery": "holds", "multi-device": "partial", "pki-independence": "holds",
		"confidentiality": "n/a", "replay-protection": "n/a",
	}
	for k, w := range want {
		if p := s.Property(k); p.Result != w {
			t.Errorf("%s = %s, want %s (%s)", k, p.Result, w, p.Detail)
		}
	}
	if len(s.Attacks) != 0 {
		t.Errorf("attacks ran against an external server: %v", s.Attacks)
	}
	if s.Costs.Latency <= 0 {
		t.Errorf("no latency measured: %+v", s.Costs)
	}
}
