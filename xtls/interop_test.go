package xtls

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/internal/peers"
	"mellium.im/xmpp/jid"
)

// These tests prove that an XTLS tunnel is standard TLS: one end is our
// profile (profileConfig, checkPeer, ExportSAS) over our IBB conn, the other
// is OpenSSL 3 reached through a bridge that copies the raw IBB byte stream
// to and from a loopback TCP socket.

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// writePEM writes id's certificate and PKCS#8 key into dir.
func writePEM(t *testing.T, dir, name string, id *Identity) (crt, key string) {
	t.Helper()
	b, err := id.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var keyPEM, crtPEM []byte
	for rest := b; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		if blk.Type == "CERTIFICATE" {
			crtPEM = pem.EncodeToMemory(blk)
		} else {
			keyPEM = pem.EncodeToMemory(blk)
		}
	}
	crt, key = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(crt, crtPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return crt, key
}

// bridge copies between the IBB conn c and the TCP conn tcp, passing EOF
// on: TCP EOF closes the bytestream (<close/>), IBB EOF half-closes TCP.
func bridge(c net.Conn, tcp *net.TCPConn) {
	go func() {
		io.Copy(tcp, c)
		tcp.CloseWrite()
	}()
	go func() {
		io.Copy(c, tcp)
		c.Close()
	}()
}

func pinVerifier(self jid.JID, pinned *Identity, peer jid.JID) func(tls.ConnectionState) error {
	cfg := e2e.Config{JID: self, Peers: []e2e.Peer{pinned.Public()}}
	return func(cs tls.ConnectionState) error {
		_, err := checkPeer(&cfg, peer, []Fingerprint{fingerprintSHA256(pinned.cert.Raw)}, cs.PeerCertificates)
		return err
	}
}

var keyingMaterial = func(out string) string {
	i := strings.Index(out, "Keying material: ")
	if i < 0 {
		return ""
	}
	s := out[i+len("Keying material: "):]
	if j := strings.IndexAny(s, "\r\n"); j >= 0 {
		s = s[:j]
	}
	return strings.TrimSpace(s)
}

var versions = []struct {
	flag string
	v    uint16
}{{"tls1_2", tls.VersionTLS12}, {"tls1_3", tls.VersionTLS13}}

// pemFiles are juliet's and romeo's test identities as PEM files.
type pemFiles struct{ jc, jk, rc, rk string }

// opensslSetup finds openssl (or skips) and writes the identities for it.
func opensslSetup(t *testing.T) (openssl string, j, r *Identity, f pemFiles) {
	t.Helper()
	openssl = peers.Command(t, "openssl")
	j, r = testIdentity(t, "juliet@capulet.lit"), testIdentity(t, "romeo@montague.lit")
	dir := t.TempDir()
	f.jc, f.jk = writePEM(t, dir, "juliet", j)
	f.rc, f.rk = writePEM(t, dir, "romeo", r)
	return openssl, j, r, f
}

// sServer is a running `openssl s_server` for one connection: the
// responder's TLS stack, requiring a client certificate whose only trust
// anchor is caCert, and exporting the SAS.
type sServer struct {
	addr  string
	stdin io.WriteCloser
	out   *syncBuffer
	wait  func()
}

func startSServer(t *testing.T, openssl, version, cert, key, caCert string) *sServer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	cmd := exec.CommandContext(ctx, openssl, "s_server", "-accept", "127.0.0.1:0", "-naccept", "1", "-"+version,
		"-cert", cert, "-key", key, "-Verify", "1", "-CAfile", caCert, "-verify_return_error",
		"-keymatexport", SASLabel, "-keymatexportlen", "5")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	copied := make(chan struct{})
	wait := func() { cmd.Wait(); <-copied }
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); cancel() })
	sc := bufio.NewScanner(stdout)
	var addr string
	for sc.Scan() {
		out.Write([]byte(sc.Text() + "\n"))
		if a, ok := strings.CutPrefix(sc.Text(), "ACCEPT "); ok {
			addr = a
			break
		}
	}
	if addr == "" {
		t.Fatalf("no ACCEPT line: %s", out.String())
	}
	go func() { io.Copy(out, stdout); close(copied) }()
	return &sServer{addr: addr, stdin: stdin, out: out, wait: wait}
}

// TestOpenSSLServer: our initiator (TLS client) against openssl s_server as
// the responder's TLS stack (client certificate required, our certificate as
// its only trust anchor). Each side sends a line to the other.
func TestOpenSSLServer(t *testing.T) {
	openssl, j, r, f := opensslSetup(t)
	jc, rc := f.jc, f.rc
	rk := f.rk
	for _, v := range versions {
		t.Run(v.flag, func(t *testing.T) {
			srv := startSServer(t, openssl, v.flag, rc, rk, jc)
			addr, stdin, out := srv.addr, srv.stdin, srv.out

			rt := newRouter(t)
			ours := rt.conn(julietFull, romeoFull, "ch3d9s71", 4096)
			theirs := rt.conn(romeoFull, julietFull, "ch3d9s71", 4096)
			tcp, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			bridge(theirs, tcp.(*net.TCPConn))

			tc := tls.Client(ours, profileConfig(j, false, v.v, pinVerifier(julietFull, r, romeoFull)))
			tc.SetDeadline(time.Now().Add(15 * time.Second))
			if err := tc.Handshake(); err != nil {
				t.Fatalf("handshake: %v\n%s", err, out.String())
			}
			cs := tc.ConnectionState()
			if cs.Version != v.v {
				t.Fatalf("version %x", cs.Version)
			}
			sas, err := ExportSAS(cs)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(tc, "art thou not romeo\n"); err != nil {
				t.Fatal(err)
			}
			// s_server sends what it reads on stdin.
			io.WriteString(stdin, "it is my lady\n")
			line, err := bufio.NewReader(tc).ReadString('\n')
			if err != nil {
				t.Fatalf("read: %v\n%s", err, out.String())
			}
			if line != "it is my lady\n" {
				t.Fatalf("got %q", line)
			}
			tc.Close()
			srv.wait()
			if !strings.Contains(out.String(), "art thou not romeo") {
				t.Fatalf("s_server did not receive our line:\n%s", out.String())
			}
			if km := keyingMaterial(out.String()); km != sas {
				t.Fatalf("SAS %s, OpenSSL keying material %q\n%s", sas, km, out.String())
			}
			t.Logf("%s: SAS %s equals s_server -keymatexport", v.flag, sas)
		})
	}
}

// TestOpenSSLClient: openssl s_client as the initiator's TLS stack against
// our responder (TLS server requiring a client certificate).
func TestOpenSSLClient(t *testing.T) {
	openssl, j, r, f := opensslSetup(t)
	jc, rc := f.jc, f.rc
	jk := f.jk
	for _, v := range versions {
		t.Run(v.flag, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			rt := newRouter(t)
			theirs := rt.conn(julietFull, romeoFull, "ch3d9s71", 4096)
			ours := rt.conn(romeoFull, julietFull, "ch3d9s71", 4096)

			type result struct {
				sas, header string
				err         error
			}
			done := make(chan result, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					done <- result{err: err}
					return
				}
				bridge(theirs, c.(*net.TCPConn))
				tc := tls.Server(ours, profileConfig(r, true, v.v, pinVerifier(romeoFull, j, julietFull)))
				tc.SetDeadline(time.Now().Add(15 * time.Second))
				if err := tc.Handshake(); err != nil {
					done <- result{err: fmt.Errorf("handshake: %w", err)}
					return
				}
				sas, err := ExportSAS(tc.ConnectionState())
				if err != nil {
					done <- result{err: err}
					return
				}
				d := xml.NewDecoder(tc)
				var header string
				for {
					tok, err := d.Token()
					if err != nil {
						done <- result{err: fmt.Errorf("header: %w", err)}
						return
					}
					if se, ok := tok.(xml.StartElement); ok {
						for _, a := range se.Attr {
							if a.Name.Local == "from" {
								header = a.Value
							}
						}
						break
					}
				}
				fmt.Fprintf(tc, "<stream:stream xmlns='jabber:client' xmlns:stream='%s' from='%s' to='%s' version='1.0' id='x1'>"+
					"<message from='%s' to='%s'><body>it is my lady</body></message></stream:stream>",
					nsStream, romeoFull, julietFull, romeoFull, julietFull)
				tc.Close()
				done <- result{sas: sas, header: header}
			}()

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, openssl, "s_client", "-connect", ln.Addr().String(), "-"+v.flag,
				"-cert", jc, "-key", jk, "-CAfile", rc, "-verify_return_error",
				"-keymatexport", SASLabel, "-keymatexportlen", "5", "-ign_eof")
			cmd.Stdin = strings.NewReader(fmt.Sprintf("<stream:stream xmlns='jabber:client' xmlns:stream='%s' from='%s' to='%s' version='1.0'>\n",
				nsStream, julietFull, romeoFull))
			outb, err := cmd.CombinedOutput()
			out := string(outb)
			res := <-done
			if res.err != nil {
				t.Fatalf("our responder: %v\n%s", res.err, out)
			}
			if err != nil {
				t.Fatalf("s_client: %v\n%s", err, out)
			}
			if res.header != julietFull.String() {
				t.Fatalf("initial header from %q", res.header)
			}
			for _, want := range []string{"Verify return code: 0 (ok)", "it is my lady", "id='x1'"} {
				if !strings.Contains(out, want) {
					t.Fatalf("s_client output lacks %q:\n%s", want, out)
				}
			}
			if km := keyingMaterial(out); km != res.sas {
				t.Fatalf("SAS %s, OpenSSL keying material %q\n%s", res.sas, km, out)
			}
			t.Logf("%s: SAS %s equals s_client -keymatexport", v.flag, res.sas)
		})
	}
}
