// Package prosodytest runs a throwaway Prosody server for interop tests: one
// virtual host, its own configuration, certificate and data in a temporary
// directory, listening on free loopback ports only, with the users a test
// needs registered before it starts. The server is stopped when the test
// ends, and its log is printed when the test failed.
//
// Prosody and prosodyctl are found through internal/peers: without them the
// test is skipped, or failed when XMPPE2E_INTEROP=require.
//
//	func TestAgainstProsody(t *testing.T) {
//		srv := prosodytest.Start(t, prosodytest.Config{
//			Domain: "capulet.lit",
//			Users:  map[string]string{"juliet": "juliet-pass"},
//		})
//		// log in to srv.C2S as juliet@capulet.lit, trusting srv.CertFile
//	}
package prosodytest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/xmppe2e/xmppe2e/internal/peers"
	"github.com/xmppe2e/xmppe2e/interop/server"
)

// Config describes the server Start runs.
type Config struct {
	// Domain is the one VirtualHost, such as "capulet.lit".
	Domain string
	// CertPEM is the certificate chain of Domain (leaf first) and KeyPEM its
	// private key, both PEM. Without them Start makes a self-signed
	// certificate for Domain (see Server.CertFile).
	CertPEM, KeyPEM []byte
	// CAPEM, if set, holds the trust anchors (PEM) against which Prosody
	// checks the certificates of other servers; it becomes the cafile of the
	// server and of the host.
	CAPEM []byte
	// S2S opens a server-to-server listener on a loopback port. Without it
	// the s2s module is disabled and the server is c2s only.
	S2S bool
	// Modules are enabled besides roster, saslauth, tls, disco, ping,
	// offline and carbons.
	Modules []string
	// Files are written into the server's directory, by name, before it
	// starts (a hosts file, a resolv.conf). Settings can refer to them.
	Files map[string][]byte
	// Settings are more global Lua lines of the configuration; in them
	// the variable base names the server's directory.
	Settings string
	// Users maps local parts to passwords: the accounts registered on Domain
	// before the server starts.
	Users map[string]string
}

// A Server is a running Prosody.
type Server struct {
	// Dir is the server's directory: configuration (prosody.cfg.lua),
	// certificate, data and log (prosody.log).
	Dir string
	// C2S is the loopback address (host:port) that clients connect to.
	C2S string
	// S2S is the loopback address that servers connect to, empty unless
	// Config.S2S is set.
	S2S string
	// CertFile is the path of the PEM certificate chain of the host, a trust
	// anchor for clients when it is self-signed.
	CertFile string
}

// baseModules are enabled on every server Start runs.
var baseModules = []string{"roster", "saslauth", "tls", "disco", "ping", "offline", "carbons"}

// logTail is how much of prosody.log a failed test prints.
const logTail = 20000

// Start writes the configuration and certificate, registers the users, runs
// Prosody in the foreground and waits until it accepts connections on its
// ports. It stops the server (interrupt, then kill after 5 s) when t ends.
// Any failure fails t; a missing Prosody skips it (see package peers).
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	bin := peers.Command(t, "prosody")
	ctl := peers.Command(t, "prosodyctl")
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	if cfg.CertPEM == nil && cfg.KeyPEM == nil {
		cert, err := server.SelfSigned(cfg.Domain)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.CertPEM, cfg.KeyPEM, err = server.KeyPEM(cert); err != nil {
			t.Fatal(err)
		}
	}
	s := &Server{Dir: dir, C2S: freeAddr(t), CertFile: write(cfg.Domain+".crt", cfg.CertPEM)}
	write(cfg.Domain+".key", cfg.KeyPEM)
	if cfg.CAPEM != nil {
		write("ca.pem", cfg.CAPEM)
	}
	for name, b := range cfg.Files {
		write(name, b)
	}
	if cfg.S2S {
		s.S2S = freeAddr(t)
	}
	conf := write("prosody.cfg.lua", []byte(config(dir, s, cfg)))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	users := make([]string, 0, len(cfg.Users))
	for u := range cfg.Users {
		users = append(users, u)
	}
	sort.Strings(users)
	for _, u := range users {
		if out, err := exec.CommandContext(ctx, ctl, "--config", conf, "register", u, cfg.Domain, cfg.Users[u]).CombinedOutput(); err != nil {
			t.Fatalf("prosodyctl register %s@%s: %v\n%s", u, cfg.Domain, err, out)
		}
	}

	cmd := exec.Command(bin, "--config", conf, "-F")
	cmd.Dir = dir
	out, err := os.Create(filepath.Join(dir, "stdout.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		peers.Wait(cmd, 5*time.Second)
		out.Close()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "prosody.log"))
			if len(b) > logTail {
				b = b[len(b)-logTail:]
			}
			t.Logf("prosody.log (tail):\n%s", b)
		}
	})

	addrs := []string{s.C2S}
	if s.S2S != "" {
		addrs = append(addrs, s.S2S)
	}
	for i := 0; i < 100 && len(addrs) > 0; i++ {
		if c, err := net.Dial("tcp", addrs[0]); err == nil {
			c.Close()
			addrs = addrs[1:]
			continue
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(addrs) > 0 {
		t.Fatalf("prosody did not listen on %s within 10 s", strings.Join(addrs, " and "))
	}
	return s
}

// config is the Lua configuration of s.
func config(dir string, s *Server, cfg Config) string {
	var b strings.Builder
	port := func(addr string) string {
		if addr == "" {
			return ""
		}
		_, p, _ := net.SplitHostPort(addr)
		return p
	}
	fmt.Fprintf(&b, `local base = %q
pidfile = base .. "/prosody.pid"
data_path = base .. "/data"
run_as_root = %v
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
local6_interfaces = {}
c2s_ports = { %s }
s2s_ports = { %s }
c2s_direct_tls_ports = {}
s2s_direct_tls_ports = {}
http_ports = {}
https_ports = {}
admin_socket = base .. "/admin.sock"
log = { { levels = { min = "debug" }, to = "file", filename = base .. "/prosody.log" } }
authentication = "internal_hashed"
storage = "internal"
c2s_require_encryption = true
allow_registration = false
`, dir, os.Getuid() == 0, port(s.C2S), port(s.S2S))
	modules := append(append([]string(nil), baseModules...), cfg.Modules...)
	fmt.Fprintf(&b, "modules_enabled = { %s }\n", luaList(modules))
	if !cfg.S2S {
		b.WriteString("modules_disabled = { \"s2s\" }\n")
	}
	hostSSL := fmt.Sprintf("certificate = %q; key = %q;", s.CertFile, filepath.Join(dir, cfg.Domain+".key"))
	if cfg.CAPEM != nil {
		ca := filepath.Join(dir, "ca.pem")
		fmt.Fprintf(&b, "ssl = { cafile = %q }\n", ca)
		hostSSL += fmt.Sprintf(" cafile = %q;", ca)
	}
	if cfg.Settings != "" {
		b.WriteString(strings.TrimSuffix(cfg.Settings, "\n") + "\n")
	}
	fmt.Fprintf(&b, "VirtualHost %q\n  ssl = { %s }\n", cfg.Domain, hostSSL)
	return b.String()
}

// luaList quotes names as the items of a Lua table.
func luaList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, "; ")
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
