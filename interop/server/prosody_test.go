package server_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/internal/peers"
	"github.com/xmppe2e/xmppe2e/interop/client"
	"github.com/xmppe2e/xmppe2e/interop/server"
	"mellium.im/xmpp/jid"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type prosody struct {
	dir      string
	c2s, s2s string
}

// startProsody runs Prosody 0.12 in a temporary directory as montague.lit
// with a certificate from ca, on loopback ports, resolving names only
// through the loopback DNS responder dns. secureAuth is s2s_secure_auth.
func startProsody(t *testing.T, ca *server.CA, dns string, secureAuth bool) *prosody {
	bin := peers.Command(t, "prosody")
	ctl := peers.Command(t, "prosodyctl")
	dir := t.TempDir()
	p := &prosody{dir: dir, c2s: fmt.Sprintf("127.0.0.1:%d", freePort(t)), s2s: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	cert, err := ca.Issue(server.Montague, nil)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := server.KeyPEM(cert)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	write("montague.lit.crt", certPEM)
	write("montague.lit.key", keyPEM)
	write("ca.pem", ca.PEM())
	write("hosts", []byte("127.0.0.1 capulet.lit montague.lit\n"))
	write("resolv.conf", []byte("nameserver "+strings.Replace(dns, ":", "@", 1)+"\n"))
	os.MkdirAll(filepath.Join(dir, "data"), 0o700)
	_, c2sPort, _ := net.SplitHostPort(p.c2s)
	_, s2sPort, _ := net.SplitHostPort(p.s2s)
	cfg := fmt.Sprintf(`local base = %q
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
modules_enabled = { "roster"; "saslauth"; "tls"; "dialback"; "disco"; "ping"; "offline"; "carbons"; "posix" }
authentication = "internal_hashed"
storage = "internal"
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = %v
allow_registration = false
unbound = { hoststxt = base .. "/hosts"; resolvconf = base .. "/resolv.conf"; forward = %q }
ssl = { cafile = base .. "/ca.pem" }
VirtualHost "montague.lit"
  ssl = { certificate = base .. "/montague.lit.crt"; key = base .. "/montague.lit.key"; cafile = base .. "/ca.pem" }
`, dir, os.Getuid() == 0, c2sPort, s2sPort, secureAuth, strings.Replace(dns, ":", "@", 1))
	conf := write("prosody.cfg.lua", []byte(cfg))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, ctl, "--config", conf, "register", "romeo", server.Montague, "romeo-pass").CombinedOutput(); err != nil {
		t.Fatalf("prosodyctl register: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "--config", conf, "-F")
	cmd.Dir = dir
	logf, _ := os.Create(filepath.Join(dir, "stdout.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
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
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "prosody.log"))
			if len(b) > 20000 {
				b = b[len(b)-20000:]
			}
			t.Logf("prosody.log (tail):\n%s", b)
		}
	})
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", p.c2s); err == nil {
			c.Close()
			if c, err := net.Dial("tcp", p.s2s); err == nil {
				c.Close()
				return p
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("prosody did not start listening in 10 s")
	return nil
}

// TestProsody: our client logs in to Prosody; our capulet.lit and Prosody's
// montague.lit federate both ways, with SASL EXTERNAL and with dialback.
func TestProsody(t *testing.T) {
	for _, dialback := range []bool{false, true} {
		t.Run(fmt.Sprintf("dialback=%v", dialback), func(t *testing.T) {
			ca, err := server.NewCA()
			if err != nil {
				t.Fatal(err)
			}
			cert, err := ca.Issue(server.Capulet, nil)
			if err != nil {
				t.Fatal(err)
			}
			var logf func(string, ...any)
			if testing.Verbose() {
				logf = t.Logf
			}
			srv, err := server.New(server.Config{Domain: server.Capulet, Certificate: cert, RootCAs: ca.Pool(), DisableExternal: dialback, Log: logf})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			srv.AddUser("juliet", "juliet-pass")
			srv.AddContact("juliet", "romeo@montague.lit")
			c2s, _ := srv.ListenC2S("127.0.0.1:0")
			s2s, _ := srv.ListenS2S("127.0.0.1:0")
			port, _ := strconv.Atoi(strings.TrimPrefix(s2s.String(), "127.0.0.1:"))
			dns := loopbackDNS(t, map[string]uint16{server.Capulet: uint16(port)})
			p := startProsody(t, ca, dns, !dialback)
			srv.AddPeer(server.Montague, p.s2s)

			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			romeo, err := client.Login(ctx, client.Config{JID: jid.MustParse("romeo@montague.lit/orchard"), Password: "romeo-pass", Addr: p.c2s, RootCAs: ca.Pool()})
			if err != nil {
				t.Fatalf("our client on Prosody: %v", err)
			}
			defer romeo.Close()
			if romeo.JID().String() != "romeo@montague.lit/orchard" {
				t.Errorf("Prosody bound %s: the requested resource was not sent", romeo.JID())
			}
			juliet, err := client.Login(ctx, client.Config{JID: jid.MustParse("juliet@capulet.lit/balcony"), Password: "juliet-pass", Addr: c2s.String(), RootCAs: ca.Pool()})
			if err != nil {
				t.Fatal(err)
			}
			defer juliet.Close()

			juliet.Send(ctx, msg(romeo.JID(), "to-prosody", "over s2s to Prosody"))
			waitMsg(t, ctx, romeo, "over s2s to Prosody")
			romeo.Send(ctx, msg(juliet.JID(), "from-prosody", "from Prosody over s2s"))
			waitMsg(t, ctx, juliet, "from Prosody over s2s")

			want := "EXTERNAL"
			if dialback {
				want = "dialback"
			}
			out := server.Path(e2e.Message, "to-prosody", srv)
			in := server.Path(e2e.Message, "from-prosody", srv)
			t.Log(out, in)
			if len(out.Hops) != 2 || out.Hops[1].Hop != server.S2SOut || out.Hops[1].Auth != want || out.Hops[1].TLSVersion == 0 {
				t.Errorf("outbound path:\n%s", out)
			}
			if !dialback {
				record(t, "prosody-s2s-in.xml", srv, server.S2SIn, server.Montague)
			}
			if len(in.Hops) != 2 || in.Hops[0].Hop != server.S2SIn || in.Hops[0].Auth != want || !strings.HasPrefix(in.Hops[0].CertCheck, "DNS-ID") {
				t.Errorf("inbound path:\n%s", in)
			}
		})
	}
}

func waitMsg(t *testing.T, ctx context.Context, c *client.Client, body string) {
	t.Helper()
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("%s: stream ended: %v", c.JID(), c.Err())
			}
			if ev.Wire.Kind == e2e.Message && ev.Wire.Body() == body {
				return
			}
		case <-ctx.Done():
			t.Fatalf("%s: no message %q", c.JID(), body)
		}
	}
}
