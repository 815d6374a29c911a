package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/interop/client"
	"mellium.im/xmpp/jid"
)

// syncBuf is a goroutine-safe buffer for the command's output.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe runs 'xmppe2e serve' in-process and returns its c2s address
// and a stop function that cancels it (as SIGINT does) and waits.
func startServe(t *testing.T, args ...string) (string, *syncBuf, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errb := &syncBuf{}, &syncBuf{}
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, append([]string{"serve"}, args...), nil, out, errb, schemes, os.Getenv)
	}()
	re := regexp.MustCompile(`serving \S+ on (\S+)`)
	for i := 0; i < 500; i++ {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1], errb, func() int { cancel(); return <-code }
		}
		select {
		case c := <-code:
			t.Fatalf("serve exited with %d: %s", c, errb.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	t.Fatalf("serve did not start: %s %s", out.String(), errb.String())
	return "", nil, nil
}

func TestServe(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users.txt")
	os.WriteFile(users, []byte("# test\njuliet juliet-pass\nromeo romeo-pass\n"), 0o600)
	data := filepath.Join(dir, "data")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	insecure := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} // self-signed, fingerprint printed
	login := func(addr, who, pw string, presence bool) *client.Client {
		c, err := client.Login(ctx, client.Config{JID: jid.MustParse(who + "@capulet.lit/t"), Password: pw, Addr: addr, TLS: insecure, NoPresence: !presence})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	addr, logs, stop := startServe(t, "--domain", "capulet.lit", "--listen", "127.0.0.1:0", "--users", users, "--data", data)
	if _, err := client.Login(ctx, client.Config{JID: jid.MustParse("juliet@capulet.lit"), Password: "wrong", Addr: addr, TLS: insecure}); err == nil {
		t.Fatal("login with a wrong password succeeded")
	}
	j := login(addr, "juliet", "juliet-pass", true)
	st := &e2e.Stanza{Kind: e2e.Message, Type: "chat", To: jid.MustParse("romeo@capulet.lit"), ID: "off1"}
	st.SetBody("kept across a restart")
	if err := j.Send(ctx, st); err != nil {
		t.Fatal(err)
	}
	// Let the server store it before stopping.
	time.Sleep(200 * time.Millisecond)
	j.Close()
	if code := stop(); code != 0 {
		t.Fatalf("serve exited with %d", code)
	}
	if n := len(regexp.MustCompile(`(?m)^capulet.lit: c2s .* juliet@capulet.lit/t \(TLS 1.3 .*SCRAM-SHA-256\) for .*: stream closed$`).FindAllString(logs.String(), -1)); n != 1 {
		t.Errorf("%d connection log lines for one session:\n%s", n, logs)
	}

	addr, _, stop = startServe(t, "--domain", "capulet.lit", "--listen", "127.0.0.1:0", "--data", data)
	defer stop()
	r := login(addr, "romeo", "romeo-pass", true)
	defer r.Close()
	select {
	case ev := <-r.Events():
		if ev.Wire.Body() != "kept across a restart" || ev.Wire.Child("urn:xmpp:delay", "delay") == nil {
			t.Fatalf("got %s", ev.Wire)
		}
	case <-ctx.Done():
		t.Fatal("offline message lost across the restart")
	}
}

// TestServeSignal: SIGTERM stops serve cleanly (exit status 0).
func TestServeSignal(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users.txt")
	os.WriteFile(users, []byte("juliet pw\n"), 0o600)
	ctx := context.Background()
	out, errb := &syncBuf{}, &syncBuf{}
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"serve", "--domain", "capulet.lit", "--listen", "127.0.0.1:0", "--users", users}, nil, out, errb, schemes, os.Getenv)
	}()
	for i := 0; !strings.Contains(out.String(), "serving"); i++ {
		if i > 500 {
			t.Fatalf("serve did not start: %s", errb)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !regexp.MustCompile(`fingerprint: ([0-9A-F]{2}:){31}[0-9A-F]{2}\n`).MatchString(out.String()) {
		t.Errorf("no SHA-256 fingerprint printed: %s", out)
	}
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case c := <-code:
		if c != 0 || !strings.Contains(out.String(), "stopped") {
			t.Errorf("exit %d, output %s", c, out)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
}
