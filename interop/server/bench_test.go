package server_test

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmppe2e/xmppe2e/interop/server"
)

// BenchmarkRoute measures messages routed per second and their latency
// (send to receipt, under load) from juliet to mercutio on one server and
// from juliet to romeo across the s2s link, everything over TLS 1.3 on
// loopback. The clients are the light raw clients, writing one stanza per
// write (one flush per stanza, as the spec digest's prototype did).
//
// BenchmarkLatency sends one message at a time (the next once the previous
// arrived): its p50/p99 are the unloaded one-way latencies, where
// BenchmarkRoute's include the queueing of an unthrottled sender.
func BenchmarkRoute(b *testing.B) { benchRoute(b, false) }

// BenchmarkLatency: see BenchmarkRoute.
func BenchmarkLatency(b *testing.B) { benchRoute(b, true) }

func benchRoute(b *testing.B, closedLoop bool) {
	for _, bc := range []struct{ name, to string }{{"local", "mercutio"}, {"s2s", "romeo"}} {
		b.Run(bc.name, func(b *testing.B) {
			n := startNet(b, server.NetworkConfig{NoWiretap: true, Iterations: 64})
			login := func(local, res string) *rawClient {
				a, err := n.Account(local)
				if err != nil {
					b.Fatal(err)
				}
				c, err := rawLogin(a.Addr, a.JID.Domainpart(), local, a.Password, res, a.RootCAs)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(c.close)
				return c
			}
			from, to := login("juliet", "bench"), login(bc.to, "bench")
			toJID := bc.to + "@" + map[string]string{"mercutio": server.Capulet, "romeo": server.Montague}[bc.to] + "/bench"
			// Warm the s2s link up.
			fmt.Fprintf(from.conn, "<message type='chat' to='%s'><body>warm 0</body></message>", toJID)
			to.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			if _, err := readMarker(to.r, "warm 0"); err != nil {
				b.Fatal(err)
			}
			lat := make([]time.Duration, 0, b.N)
			errc := make(chan error, 1)
			b.ResetTimer()
			start := time.Now()
			got := make(chan struct{}, 1)
			go func() {
				var buf []byte
				for i := 0; i < b.N; i++ {
					if closedLoop && i > 0 {
						<-got
					}
					buf = append(buf[:0], "<message type='chat' to='"...)
					buf = append(buf, toJID...)
					buf = append(buf, "'><body>"...)
					buf = strconv.AppendInt(buf, time.Now().UnixNano(), 10)
					buf = append(buf, "</body></message>"...)
					if _, err := from.conn.Write(buf); err != nil {
						errc <- err
						return
					}
				}
				errc <- nil
			}()
			to.conn.SetReadDeadline(time.Now().Add(5 * time.Minute))
			for len(lat) < b.N {
				s, err := readMarker(to.r, "</message>")
				if err != nil {
					b.Fatalf("after %d messages: %v", len(lat), err)
				}
				now := time.Now()
				i := strings.LastIndex(s, "<body>")
				j := strings.LastIndex(s, "</body>")
				if i < 0 || j < i {
					continue
				}
				ns, err := strconv.ParseInt(s[i+6:j], 10, 64)
				if err != nil {
					continue
				}
				lat = append(lat, now.Sub(time.Unix(0, ns)))
				if closedLoop {
					got <- struct{}{}
				}
			}
			el := time.Since(start)
			b.StopTimer()
			if err := <-errc; err != nil {
				b.Fatal(err)
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// BenchmarkIdleConnection reports the server's memory per idle
// authenticated connection (measured in a child process).
func BenchmarkIdleConnection(b *testing.B) {
	if raceEnabled {
		b.Skip("race detector")
	}
	// One measurement per run, whatever b.N: it takes seconds.
	b.ReportMetric(idleMemory(b, 300), "B/conn")
}
