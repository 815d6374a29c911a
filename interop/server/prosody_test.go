package server_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/internal/prosodytest"
	"github.com/xmppe2e/xmppe2e/interop/client"
	"github.com/xmppe2e/xmppe2e/interop/server"
	"mellium.im/xmpp/jid"
)

// startProsody runs Prosody as montague.lit with a certificate from ca,
// romeo registered, on loopback ports, resolving names only through the
// loopback DNS responder dns. secureAuth is s2s_secure_auth.
func startProsody(t *testing.T, ca *server.CA, dns string, secureAuth bool) *prosodytest.Server {
	cert, err := ca.Issue(server.Montague, nil)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := server.KeyPEM(cert)
	if err != nil {
		t.Fatal(err)
	}
	ns := strings.Replace(dns, ":", "@", 1)
	return prosodytest.Start(t, prosodytest.Config{
		Domain: server.Montague, CertPEM: certPEM, KeyPEM: keyPEM, CAPEM: ca.PEM(), S2S: true,
		Modules: []string{"dialback", "posix"},
		Files: map[string][]byte{
			"hosts":       []byte("127.0.0.1 capulet.lit montague.lit\n"),
			"resolv.conf": []byte("nameserver " + ns + "\n"),
		},
		Settings: fmt.Sprintf(`s2s_require_encryption = true
s2s_secure_auth = %v
unbound = { hoststxt = base .. "/hosts"; resolvconf = base .. "/resolv.conf"; forward = %q }
`, secureAuth, ns),
		Users: map[string]string{"romeo": "romeo-pass"},
	})
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
			srv.AddPeer(server.Montague, p.S2S)

			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			romeo, err := client.Login(ctx, client.Config{JID: jid.MustParse("romeo@montague.lit/orchard"), Password: "romeo-pass", Addr: p.C2S, RootCAs: ca.Pool()})
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
