package openpgp

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/internal/peers"
)

// Live interop with GnuPG 2.2 (skipped without gpg, failed with
// XMPPE2E_INTEROP=require). Every check reads gpg's machine-readable status
// lines, not only its exit code.

type gnupg struct {
	t    *testing.T
	bin  string
	home string
}

func newGnuPG(t *testing.T) *gnupg {
	t.Helper()
	bin := peers.Command(t, "gpg")
	// A short path: the agent's socket path is length-limited, and
	// t.TempDir paths can be long.
	home, err := os.MkdirTemp("", "gpg")
	if err != nil {
		t.Fatal(err)
	}
	g := &gnupg{t: t, bin: bin, home: home}
	t.Cleanup(func() {
		if gc, err := exec.LookPath("gpgconf"); err == nil {
			cmd := exec.Command(gc, "--kill", "gpg-agent")
			cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
			cmd.Run()
		}
		os.RemoveAll(home)
	})
	return g
}

// run runs gpg in batch mode with status lines on stderr and returns stdout
// and stderr.
func (g *gnupg) run(stdin []byte, args ...string) (stdout, status string, err error) {
	g.t.Helper()
	args = append([]string{"--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", "",
		"--trust-model", "always", "--status-fd", "2"}, args...)
	cmd := exec.Command(g.bin, args...)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+g.home)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

func (g *gnupg) mustRun(stdin []byte, args ...string) (stdout, status string) {
	g.t.Helper()
	out, st, err := g.run(stdin, args...)
	if err != nil {
		g.t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, st)
	}
	return out, st
}

func (g *gnupg) importKey(b []byte) {
	g.t.Helper()
	if _, st := g.mustRun(b, "--import"); !strings.Contains(st, "[GNUPG:] IMPORT_OK") {
		g.t.Fatalf("gpg --import: %s", st)
	}
}

// strip does what `sed -e '1,/^$/d' -e '/^-----END/d'` does to gpg's armor:
// the payload of an XEP-0027 <x/> element.
func strip(t *testing.T, armored string) string {
	t.Helper()
	_, rest, ok := strings.Cut(armored, "\n\n")
	if !ok || !strings.HasPrefix(armored, "-----BEGIN PGP") {
		t.Fatalf("not armored: %q", armored)
	}
	end := strings.Index(rest, "-----END")
	if end < 0 {
		t.Fatalf("no END line: %q", armored)
	}
	return rest[:end]
}

// restore wraps a payload in armor again for gpg (digest §3.2).
func restore(kind, payload string) []byte {
	var b strings.Builder
	b.WriteString("-----BEGIN PGP " + kind + "-----\n\n")
	for l := range strings.SplitSeq(payload, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			b.WriteString(l + "\n")
		}
	}
	b.WriteString("-----END PGP " + kind + "-----\n")
	return []byte(b.String())
}

func wantStatus(t *testing.T, status string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(status, "[GNUPG:] "+l) {
			t.Errorf("gpg status lacks %s:\n%s", l, status)
		}
	}
}

// goIdentity makes a fresh key with our GenerateIdentity, so that the tests
// also show gpg reads the keys we make.
func goIdentity(t *testing.T, addr string) *Identity {
	t.Helper()
	id, err := Scheme.GenerateIdentity(context.Background(), jid.MustParse(addr), nil)
	if err != nil {
		t.Fatal(err)
	}
	return id.(*Identity)
}

func TestGnuPGDecryptsOurs(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		romeo *Identity
	}{
		{"ours cv25519", goIdentity(t, "romeo@montague.lit")},
		{"gpg rsa3072", fixtureIdentity(t, "romeo-rsa")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGnuPG(t)
			sec, err := tc.romeo.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			g.importKey(sec)
			juliet := goIdentity(t, "juliet@capulet.lit")
			jpub, err := juliet.Public().Marshal()
			if err != nil {
				t.Fatal(err)
			}
			g.importKey(jpub)
			for _, sign := range []bool{false, true} {
				s, err := Scheme.NewSession(e2e.Config{Local: juliet, JID: julietFull, Peers: []e2e.Peer{tc.romeo.Public()}, Sign: sign})
				if err != nil {
					t.Fatal(err)
				}
				body := "Online <&> ünï\nsecond line"
				w, err := s.Encrypt(ctx, chat(julietFull, romeoFull, body))
				if err != nil {
					t.Fatal(err)
				}
				out, st := g.mustRun(restore("MESSAGE", w[0].Child(NSEncrypted, "x").Text()), "--decrypt")
				if out != body {
					t.Errorf("gpg decrypted %q, want %q", out, body)
				}
				wantStatus(t, st, "DECRYPTION_OKAY", "GOODMDC")
				if sign {
					wantStatus(t, st, "GOODSIG "+juliet.pub.KeyID(), "VALIDSIG "+juliet.pub.Fingerprint())
				}
			}
		})
	}
}

func TestGnuPGVerifiesOurs(t *testing.T) {
	g := newGnuPG(t)
	ctx := context.Background()
	romeo := goIdentity(t, "romeo@montague.lit")
	pub, err := romeo.Public().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	g.importKey(pub)
	s := newTestSession(t, romeo, romeoFull)
	for _, status := range []string{"Online <&> ünï", "", "Away\nback soon"} {
		pres := &e2e.Stanza{Kind: e2e.Presence, From: romeoFull}
		if status != "" {
			pres.Children = []*e2e.Element{e2e.NewElement(e2e.NSClient, "status", status)}
		}
		w, err := s.Sign(ctx, pres)
		if err != nil {
			t.Fatal(err)
		}
		// Over the wire and parsed again, as the receiver's gpg would get it.
		parsed, err := e2e.Parse(w[0].Bytes())
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		sigFile, textFile := dir+"/s.asc", dir+"/status"
		os.WriteFile(sigFile, restore("SIGNATURE", parsed.Child(NSSigned, "x").Text()), 0o600)
		os.WriteFile(textFile, []byte(status), 0o600)
		_, st := g.mustRun(nil, "--verify", sigFile, textFile)
		wantStatus(t, st, "GOODSIG "+romeo.pub.KeyID(), "VALIDSIG "+romeo.pub.Fingerprint())
		// A changed status fails in gpg too.
		os.WriteFile(textFile, []byte(status+" "), 0o600)
		if _, st, err := g.run(nil, "--verify", sigFile, textFile); err == nil || !strings.Contains(st, "BADSIG") {
			t.Errorf("gpg accepted a changed status: %v\n%s", err, st)
		}
	}
}

func TestOursDecryptsGnuPG(t *testing.T) {
	g := newGnuPG(t)
	juliet := goIdentity(t, "juliet@capulet.lit")
	pub, err := juliet.Public().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	g.importKey(pub)
	g.mustRun(nil, "--quick-gen-key", "Romeo <romeo@montague.lit>", "future-default", "default", "never")
	romeoPub, _ := g.mustRun(nil, "--armor", "--export", "romeo@montague.lit")
	romeo, err := Scheme.ParsePeer([]byte(romeoPub))
	if err != nil {
		t.Fatal(err)
	}
	s := newTestSession(t, juliet, julietFull, romeo)
	body := "Hello <&> ünï"
	for _, args := range [][]string{
		{"--armor", "--encrypt", "-r", "juliet@capulet.lit"},
		{"--armor", "--sign", "--encrypt", "-u", "romeo@montague.lit", "-r", "juliet@capulet.lit"},
	} {
		out, _ := g.mustRun([]byte(body), args...)
		signed := len(args) > 4
		o, err := receiveFixture(t, s, e2e.Message, NSEncrypted, strip(t, out), "")
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if o.Stanza.Body() != body || !o.Encrypted || (o.Signer != nil) != signed {
			t.Errorf("%v: body %q signer %v", args, o.Stanza.Body(), o.Signer)
		}
		if signed && o.Signer.Fingerprint() != romeo.Fingerprint() {
			t.Errorf("signer %s, want %s", o.Signer.Fingerprint(), romeo.Fingerprint())
		}
	}
	// Signed presence, text mode and binary mode.
	dir := t.TempDir()
	status := "Online <&> ünï"
	os.WriteFile(dir+"/status", []byte(status), 0o600)
	for _, mode := range [][]string{{"--textmode"}, nil} {
		args := append([]string{"--armor", "--detach-sign", "-u", "romeo@montague.lit", "-o", "-"}, mode...)
		out, _ := g.mustRun(nil, append(args, dir+"/status")...)
		o, err := receiveFixture(t, s, e2e.Presence, NSSigned, strip(t, out), status)
		if err != nil || o.Signer == nil || o.Signer.Fingerprint() != romeo.Fingerprint() {
			t.Errorf("%v: %v %+v", mode, err, o)
		}
	}
}
