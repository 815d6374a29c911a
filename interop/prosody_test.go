package interop_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/internal/peers"
	"github.com/xmppe2e/xmppe2e/internal/toy"
	"github.com/xmppe2e/xmppe2e/interop"
)

// startProsody runs Prosody 0.12 in a temporary directory as a c2s-only
// server for capulet.lit on a free loopback port, with juliet, romeo and
// mercutio registered, and returns its address and an accounts file.
func startProsody(t *testing.T) (addr, accounts string) {
	prosody := peers.Command(t, "prosody")
	ctl := peers.Command(t, "prosodyctl")
	openssl := peers.Command(t, "openssl")
	dir := t.TempDir()
	for _, d := range []string{"data", "certs"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	crt, key := filepath.Join(dir, "certs", "capulet.lit.crt"), filepath.Join(dir, "certs", "capulet.lit.key")
	if out, err := exec.Command(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
		"-nodes", "-days", "2", "-subj", "/CN=capulet.lit", "-addext", "subjectAltName=DNS:capulet.lit",
		"-keyout", key, "-out", crt).CombinedOutput(); err != nil {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cfg := filepath.Join(dir, "prosody.cfg.lua")
	conf := fmt.Sprintf(`local base = %q
pidfile = base .. "/prosody.pid"
data_path = base .. "/data"
run_as_root = %v
interfaces = { "127.0.0.1" }; local6_interfaces = {}
c2s_ports = { %d }; s2s_ports = {}
c2s_direct_tls_ports = {}; s2s_direct_tls_ports = {}; http_ports = {}; https_ports = {}
admin_socket = base .. "/admin.sock"
log = { { levels = { min = "info" }, to = "file", filename = base .. "/prosody.log" } }
modules_enabled = { "roster"; "saslauth"; "tls"; "disco"; "ping"; "offline"; "carbons"; "presence"; }
modules_disabled = { "s2s" }
authentication = "internal_hashed"; storage = "internal"
c2s_require_encryption = true; allow_registration = false
VirtualHost "capulet.lit"
  ssl = { certificate = %q; key = %q; }
`, dir, os.Getuid() == 0, port, crt, key)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var acc strings.Builder
	fmt.Fprintf(&acc, "ca %s\n", crt)
	for _, u := range []string{"juliet", "romeo", "mercutio"} {
		if out, err := exec.Command(ctl, "--config", cfg, "register", u, "capulet.lit", u+"-pass").CombinedOutput(); err != nil {
			t.Fatalf("prosodyctl register %s: %v\n%s", u, err, out)
		}
		fmt.Fprintf(&acc, "%s %s@capulet.lit %s-pass\n", u, u, u)
	}
	accounts = filepath.Join(dir, "accounts")
	if err := os.WriteFile(accounts, []byte(acc.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(prosody, "--config", cfg, "-F")
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, accounts
		}
		time.Sleep(100 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "prosody.log"))
	t.Fatalf("prosody did not listen on %s:\n%s", addr, log)
	return "", ""
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
