package xtls

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// rawTLSPair runs our TLS profile directly over net.Pipe: the baseline.
func rawTLSPair(b *testing.B, v uint16) (*tls.Conn, *tls.Conn) {
	j, r := testIdentity(b, "juliet@capulet.lit"), testIdentity(b, "romeo@montague.lit")
	c1, c2 := net.Pipe()
	ok := func(tls.ConnectionState) error { return nil }
	cl := tls.Client(c1, profileConfig(j, false, v, ok))
	sv := tls.Server(c2, profileConfig(r, true, v, ok))
	errc := make(chan error, 1)
	go func() { errc <- sv.Handshake() }()
	if err := cl.Handshake(); err != nil {
		b.Fatal(err)
	}
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	return cl, sv
}

// BenchmarkHandshake: a whole XTLS setup (Jingle, IBB, TLS, stream headers,
// first message) between two in-memory sessions, beside a bare TLS
// handshake with the same profile over net.Pipe, in the same run.
func BenchmarkHandshake(b *testing.B) {
	for _, v := range versions {
		b.Run(v.flag, func(b *testing.B) {
			var xt, raw time.Duration
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				a, r := pair(b, Options{MaxVersion: v.v})
				res := pump(b, map[*Session]*Session{a: r, r: a}, a, encrypt(b, a, msg(julietFull, romeoFull, "hi")))
				if len(res.opened[r]) != 1 {
					b.Fatal(res.errs)
				}
				xt += time.Since(t0)
				a.Close(context.Background())
				r.Close(context.Background())
				t1 := time.Now()
				cl, sv := rawTLSPair(b, v.v)
				raw += time.Since(t1)
				// Close the pipes, not the TLS conns: close_notify would
				// block on the unbuffered pipe with nobody reading.
				cl.NetConn().Close()
				sv.NetConn().Close()
			}
			b.ReportMetric(float64(xt.Nanoseconds())/float64(b.N), "xtls-ns/handshake")
			b.ReportMetric(float64(raw.Nanoseconds())/float64(b.N), "tls-ns/handshake")
			b.ReportMetric(float64(xt)/float64(raw), "xtls/tls")
		})
	}
}

// BenchmarkThroughput: 16 KiB message bodies through an established tunnel
// (Encrypt, serialization of every IBB stanza, Receive, acknowledgements),
// beside the same bytes written through bare TLS over net.Pipe.
func BenchmarkThroughput(b *testing.B) {
	body := strings.Repeat("x", 16<<10)
	a, r, route := established(b, Options{})
	m := msg(julietFull, romeoFull, body)
	size := len(m.Bytes())
	cl, sv := rawTLSPair(b, tls.VersionTLS13)
	go io.Copy(io.Discard, sv)
	defer cl.Close()
	payload := []byte(m.String())
	var xt, raw time.Duration
	b.SetBytes(int64(size))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		out, err := a.Encrypt(context.Background(), m)
		if err != nil {
			b.Fatal(err)
		}
		res := pumpFast(b, route, a, out)
		if res != 1 {
			b.Fatalf("opened %d", res)
		}
		xt += time.Since(t0)
		t1 := time.Now()
		if _, err := cl.Write(payload); err != nil {
			b.Fatal(err)
		}
		raw += time.Since(t1)
	}
	b.StopTimer()
	mb := func(d time.Duration) float64 { return float64(size) * float64(b.N) / d.Seconds() / 1e6 }
	b.ReportMetric(mb(xt), "xtls-MB/s")
	b.ReportMetric(mb(raw), "tls-MB/s")
	b.ReportMetric(mb(raw)/mb(xt), "tls/xtls")
	_ = r
}

// BenchmarkIBBConn: TLS over a pair of our IBB conns linked by an
// asynchronous in-memory router (every stanza serialized and parsed, every
// chunk acknowledged), beside TLS over net.Pipe, in the same run: the cost
// of the transport without the session machinery.
func BenchmarkIBBConn(b *testing.B) {
	j, r := testIdentity(b, "juliet@capulet.lit"), testIdentity(b, "romeo@montague.lit")
	rt := newRouter(b)
	c1 := rt.conn(julietFull, romeoFull, "s", DefaultBlockSize)
	c2 := rt.conn(romeoFull, julietFull, "s", DefaultBlockSize)
	c1.window, c2.window = DefaultWindow, DefaultWindow
	ok := func(tls.ConnectionState) error { return nil }
	cl := tls.Client(c1, profileConfig(j, false, tls.VersionTLS13, ok))
	sv := tls.Server(c2, profileConfig(r, true, tls.VersionTLS13, ok))
	go func() {
		sv.Handshake()
		io.Copy(io.Discard, sv)
	}()
	if err := cl.Handshake(); err != nil {
		b.Fatal(err)
	}
	pcl, psv := rawTLSPair(b, tls.VersionTLS13)
	go io.Copy(io.Discard, psv)
	buf := make([]byte, 16<<10)
	var xt, raw time.Duration
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := cl.Write(buf); err != nil {
			b.Fatal(err)
		}
		xt += time.Since(t0)
		t1 := time.Now()
		if _, err := pcl.Write(buf); err != nil {
			b.Fatal(err)
		}
		raw += time.Since(t1)
	}
	b.StopTimer()
	mb := func(d time.Duration) float64 { return float64(len(buf)) * float64(b.N) / d.Seconds() / 1e6 }
	b.ReportMetric(mb(xt), "ibb-MB/s")
	b.ReportMetric(mb(raw), "tls-MB/s")
	b.ReportMetric(mb(raw)/mb(xt), "tls/ibb")
	c1.Close()
	c2.Close()
	pcl.NetConn().Close()
	psv.NetConn().Close()
}

// pumpFast is pump without the bookkeeping, counting opened stanzas.
func pumpFast(b testing.TB, route map[*Session]*Session, from *Session, wire []*e2e.Stanza) int {
	type d struct {
		to *Session
		st *e2e.Stanza
	}
	var q []d
	for _, st := range wire {
		q = append(q, d{route[from], st})
	}
	opened := 0
	for len(q) > 0 {
		x := q[0]
		q = q[1:]
		st, err := e2e.Parse(x.st.Bytes())
		if err != nil {
			b.Fatal(err)
		}
		res, err := x.to.Receive(context.Background(), st)
		if err != nil {
			b.Fatal(err)
		}
		opened += len(res.Opened)
		for _, rp := range res.Replies {
			q = append(q, d{route[x.to], rp})
		}
	}
	return opened
}
