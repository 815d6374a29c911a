package interop

import (
	"fmt"
	"slices"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/interop/report"
)

// OverheadSizes are the body sizes the overhead is measured for, at least:
// every body carries a secret marker (about 28 bytes), so the smallest is
// the marker alone. Reports label the measured sizes.
var OverheadSizes = []int{16, 1024, 16384}

// conversation returns the records of the malicious server for stanzas
// between juliet and romeo after mark, with their direction ('j' for
// juliet to romeo).
func conversation(a Addresses, tap []Record, mark int, server string) (dirs []byte, sizes []int) {
	for _, r := range tap {
		if r.Seq < mark || r.Server != server || r.Hop == "inject" {
			continue
		}
		if st, err := e2e.Parse(r.Bytes); err != nil || !a.between(st) {
			continue
		}
		switch {
		case r.From.Bare().Equal(a.Juliet.Bare()) && r.To.Bare().Equal(a.Romeo.Bare()):
			dirs = append(dirs, 'j')
		case r.From.Bare().Equal(a.Romeo.Bare()) && r.To.Bare().Equal(a.Juliet.Bare()):
			dirs = append(dirs, 'r')
		default:
			continue
		}
		sizes = append(sizes, len(r.Bytes))
	}
	return dirs, sizes
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func runCosts(e *env) (*result, error) {
	res := newResult()
	c := report.Costs{}
	server := e.net.Malicious()
	if server == "" {
		server = e.a.Juliet.Domainpart()
	}
	j, r, err := e.pair()
	if err != nil {
		return nil, err
	}
	// Handshake: the first message of fresh sessions.
	mark := len(e.net.Wiretap())
	first := e.message(j, r.dev.JID(), 16)
	t0 := time.Now()
	o, err := e.exchange(j, r, first)
	if err != nil && !isSessionError(err) {
		return nil, err
	}
	if o == nil {
		return nil, fmt.Errorf("the first message did not open: %v", err)
	}
	c.HandshakeTime = report.Duration(o.at.Sub(t0))
	dirs, _ := conversation(e.a, e.net.Wiretap(), mark, server)
	flights := 0
	for i := range dirs {
		if i == 0 || dirs[i] != dirs[i-1] {
			flights++
		}
	}
	c.HandshakeRoundTrips = flights / 2
	firstStanzas := len(dirs)
	if err := e.warmup(j, r); err != nil {
		return nil, err
	}
	// Overhead, in steady state: the second of two messages of each size.
	// Without a wiretap (an external server) there is nothing to measure.
	steady := 0
	sizes := OverheadSizes
	if e.net.Malicious() == "" {
		sizes = nil
	}
	for _, size := range sizes {
		var ov report.Overhead
		for k := 0; k < 2; k++ {
			st := e.message(j, r.dev.JID(), size)
			plain := st.Clone()
			plain.From = j.dev.JID()
			mark := len(e.net.Wiretap())
			if o, err := e.exchange(j, r, st); o == nil {
				return nil, fmt.Errorf("a %d-byte message did not open: %v", size, err)
			}
			_, sizes := conversation(e.a, e.net.Wiretap(), mark, server)
			ov = report.Overhead{BodyBytes: len(st.Body()), Stanzas: len(sizes)}
			for _, s := range sizes {
				ov.WireBytes += s
			}
			// The same stanza unprotected over the same hop.
			mark = len(e.net.Wiretap())
			if err := j.dev.Send(e.ctx, plain); err != nil {
				return nil, err
			}
			if err := e.net.Settle(e.ctx); err != nil {
				return nil, err
			}
			r.dev.Drain()
			_, sizes = conversation(e.a, e.net.Wiretap(), mark, server)
			for _, s := range sizes {
				ov.PlainBytes += s
			}
			ov.OverheadBytes = ov.WireBytes - ov.PlainBytes
		}
		if size == OverheadSizes[0] {
			steady = ov.Stanzas
		}
		c.Overhead = append(c.Overhead, ov)
	}
	c.HandshakeStanzas = max(firstStanzas-steady, 0)
	// Time per call and latency over the three hops.
	n := e.samples
	var enc, recv, lat, plat []time.Duration
	for i := 0; i < n; i++ {
		st := e.message(j, r.dev.JID(), 16)
		ne, nr := len(j.encTime), len(r.recvTime)
		t0 := time.Now()
		o, _ := e.exchange(j, r, st)
		if o == nil {
			return nil, fmt.Errorf("sample %d did not open", i)
		}
		lat = append(lat, o.at.Sub(t0))
		enc = append(enc, sum(j.encTime[ne:]))
		recv = append(recv, sum(r.recvTime[nr:]))
		// The same path without protection.
		pl := &e2e.Stanza{Kind: e2e.Message, To: r.dev.JID(), Type: "chat", ID: fmt.Sprintf("plain%d", i)}
		pl.SetBody(st.Body())
		t1 := time.Now()
		if err := j.dev.Send(e.ctx, pl); err != nil {
			return nil, err
		}
		for tries := 0; tries < 1000; tries++ {
			if err := e.net.Settle(e.ctx); err != nil {
				return nil, err
			}
			if got := r.dev.Drain(); len(got) > 0 {
				at := time.Now()
				if td, ok := r.dev.(interface {
					ArrivedAt(*e2e.Stanza) (time.Time, bool)
				}); ok {
					if t, ok := td.ArrivedAt(got[0]); ok {
						at = t
					}
				}
				plat = append(plat, at.Sub(t1))
				break
			}
		}
	}
	c.EncryptTime = report.Duration(median(enc))
	c.ReceiveTime = report.Duration(median(recv))
	c.Latency = report.Duration(median(lat))
	c.LatencyPlain = report.Duration(median(plat))
	c.Samples = n
	res.facts["costs"] = c
	res.detail = fmt.Sprintf("handshake %d round trip(s), %d stanza(s); latency %s", c.HandshakeRoundTrips, c.HandshakeStanzas, c.Latency)
	for _, o := range c.Overhead {
		res.detail += fmt.Sprintf("; %d B body %+d B", o.BodyBytes, o.OverheadBytes)
	}
	return res, nil
}

func sum(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t
}
