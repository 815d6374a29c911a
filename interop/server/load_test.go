package server_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppe2e/xmppe2e/interop/server"
)

// loadServer starts one server with n accounts u0..u(n-1) (password "pw",
// few PBKDF2 iterations: logins, not key stretching, are under test).
func loadServer(t testing.TB, n int) (*server.Server, *server.CA, string) {
	t.Helper()
	ca, err := server.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(server.Capulet, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.New(server.Config{Domain: server.Capulet, Certificate: cert, NoWiretap: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for i := 0; i < n; i++ {
		if err := s.AddUserIterations("u"+strconv.Itoa(i), "pw", 16); err != nil {
			t.Fatal(err)
		}
	}
	addr, err := s.ListenC2S("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return s, ca, addr.String()
}

// manyConns is the number of concurrent connections of
// TestManyConnections: 2,000, or 200 under -short or the race detector
// (which allows at most 8,128 live goroutines).
func manyConns() int {
	if testing.Short() || raceEnabled {
		return 200
	}
	return 2000
}

// TestManyConnections logs in many clients at once; each sends one message
// to the next, and every message must arrive exactly once.
func TestManyConnections(t *testing.T) {
	n := manyConns()
	s, ca, addr := loadServer(t, n)
	clients := make([]*rawClient, n)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 64) // bound concurrent handshakes
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := rawLogin(addr, server.Capulet, "u"+strconv.Itoa(i), "pw", "r", ca.Pool())
			if err != nil {
				errs <- fmt.Errorf("login %d: %w", i, err)
				return
			}
			clients[i] = c
		}()
	}
	wg.Wait()
	t.Logf("%d logins in %v", n, time.Since(start))
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range clients {
			c.close()
		}
	}()
	if got := s.Conns(); got != n {
		t.Fatalf("server has %d connections, want %d", got, n)
	}
	// Every client reads until it has its one message.
	got := make([]string, n)
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.conn.SetReadDeadline(time.Now().Add(60 * time.Second))
			s, err := readMarker(c.r, "</message>")
			if err != nil {
				got[i] = "error: " + err.Error()
				return
			}
			got[i] = s
		}()
	}
	start = time.Now()
	for i, c := range clients {
		to := "u" + strconv.Itoa((i+1)%n) + "@capulet.lit/r"
		fmt.Fprintf(c.conn, "<message type='chat' to='%s' id='m%d'><body>from %d</body></message>", to, i, i)
	}
	wg.Wait()
	t.Logf("%d messages routed in %v", n, time.Since(start))
	for i := range got {
		from := (i - 1 + n) % n
		if !strings.Contains(got[i], fmt.Sprintf("<body>from %d</body>", from)) {
			t.Fatalf("client %d: want the message from %d, got %q", i, from, got[i])
		}
	}
}

// TestIdleConnectionMemory measures the server's memory per idle
// authenticated connection in a child process (so the clients' memory is
// not counted) and checks the 64 KiB budget.
func TestIdleConnectionMemory(t *testing.T) {
	if os.Getenv("XMPPE2E_MEMCHILD") != "" {
		t.Skip("child")
	}
	if raceEnabled {
		t.Skip("the race detector's shadow memory makes the measurement meaningless")
	}
	per := idleMemory(t, 300)
	t.Logf("server memory per idle authenticated connection: %.1f KiB", per/1024)
	if per > 64*1024 {
		t.Errorf("%.1f KiB per idle connection, budget 64 KiB", per/1024)
	}
}

// idleMemory returns the child server's heap+stack growth per connection
// for n idle authenticated connections.
func idleMemory(t testing.TB, n int) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestMemChild$", "-test.v")
	cmd.Env = append(os.Environ(), "XMPPE2E_MEMCHILD="+strconv.Itoa(n))
	in, _ := cmd.StdinPipe()
	outp, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { in.Close(); cmd.Wait() }()
	lines := make(chan string, 16)
	go func() {
		buf := make([]byte, 0, 4096)
		tmp := make([]byte, 1024)
		for {
			k, err := outp.Read(tmp)
			buf = append(buf, tmp[:k]...)
			for {
				i := strings.IndexByte(string(buf), '\n')
				if i < 0 {
					break
				}
				lines <- string(buf[:i])
				buf = buf[i+1:]
			}
			if err != nil {
				close(lines)
				return
			}
		}
	}()
	expect := func(prefix string) string {
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("child exited before %q", prefix)
				}
				if v, ok := strings.CutPrefix(l, prefix); ok {
					return strings.TrimSpace(v)
				}
			case <-ctx.Done():
				t.Fatalf("child: no %q", prefix)
			}
		}
	}
	addr := expect("ADDR ")
	caPEM := expect("CA ")
	roots, err := poolFromPEMLine(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := strconv.ParseFloat(expect("MEM "), 64)
	clients := make([]*rawClient, n)
	for i := range clients {
		c, err := rawLogin(addr, server.Capulet, "u"+strconv.Itoa(i), "pw", "idle", roots)
		if err != nil {
			t.Fatal(err)
		}
		clients[i] = c
	}
	time.Sleep(200 * time.Millisecond)
	in.Write([]byte("mem\n"))
	after, _ := strconv.ParseFloat(expect("MEM "), 64)
	for _, c := range clients {
		c.close()
	}
	return (after - before) / float64(n)
}

// TestMemChild is the child of TestIdleConnectionMemory: it serves, prints
// its address, CA and memory, and prints memory again on each "mem" line.
func TestMemChild(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("XMPPE2E_MEMCHILD"))
	if n == 0 {
		t.Skip("run by TestIdleConnectionMemory")
	}
	s, ca, addr := loadServer(t, n)
	_ = s
	fmt.Printf("ADDR %s\nCA %s\n", addr, strings.ReplaceAll(string(ca.PEM()), "\n", "|"))
	mem := func() {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		fmt.Printf("MEM %d\n", m.HeapInuse+m.StackInuse)
	}
	mem()
	buf := make([]byte, 64)
	for {
		k, err := os.Stdin.Read(buf)
		if err != nil || k == 0 {
			return
		}
		mem()
	}
}
