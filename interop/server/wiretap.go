package server

import (
	"crypto/tls"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// A Hop is where on its path a server saw a stanza.
type Hop string

// The four hops of the federated path juliet → capulet.lit → montague.lit →
// romeo. A stanza between two users of one server has only the first and
// the last.
const (
	C2SIn  Hop = "c2s-in"  // received from a client
	S2SOut Hop = "s2s-out" // sent to a remote server
	S2SIn  Hop = "s2s-in"  // received from a remote server
	C2SOut Hop = "c2s-out" // sent to a client
)

// Protection describes how the stream a stanza travelled on was protected.
type Protection struct {
	TLSVersion  uint16 // tls.VersionTLS12, tls.VersionTLS13; 0 without TLS
	CipherSuite uint16 // the negotiated suite; 0 without TLS
	// Auth is how the peer authenticated: a SASL mechanism such as
	// "SCRAM-SHA-256" or "EXTERNAL", or "dialback".
	Auth string
	// CertCheck is the outcome of the peer certificate check on s2s links:
	// the RFC 6125 identifier that matched ("DNS-ID montague.lit"), or why
	// none did. Empty on c2s.
	CertCheck string
}

// String returns a one-line summary such as
// "TLS 1.3 TLS_AES_128_GCM_SHA256, EXTERNAL, DNS-ID montague.lit".
func (p Protection) String() string {
	var parts []string
	if p.TLSVersion == 0 {
		parts = append(parts, "no TLS")
	} else {
		parts = append(parts, tls.VersionName(p.TLSVersion)+" "+tls.CipherSuiteName(p.CipherSuite))
	}
	if p.Auth != "" {
		parts = append(parts, p.Auth)
	}
	if p.CertCheck != "" {
		parts = append(parts, p.CertCheck)
	}
	return strings.Join(parts, ", ")
}

func protectionOf(cs *tls.ConnectionState, auth, check string) Protection {
	p := Protection{Auth: auth, CertCheck: check}
	if cs != nil && cs.HandshakeComplete {
		p.TLSVersion, p.CipherSuite = cs.Version, cs.CipherSuite
	}
	return p
}

// A Record is one stanza as a server saw it on one hop: the wiretap.
type Record struct {
	Seq    uint64    // order of recording on this server, from 1
	Server string    // the domain of the recording server
	Hop    Hop       // where the stanza was seen
	Peer   string    // the other end: a full JID on c2s, a domain on s2s
	Time   time.Time // when it was seen
	// Raw is the stanza's XML exactly as read from the stream (inbound hops)
	// or as written to it (outbound hops).
	Raw    []byte
	Stanza *e2e.Stanza // Raw parsed
	Protection
	// Action is what an interceptor did to the stanza at this hop: ""
	// (nothing), "dropped", "rewritten", "delayed", or "injected" for a
	// stanza an interceptor produced.
	Action string
}

// String summarizes r on one line.
func (r Record) String() string {
	a := ""
	if r.Action != "" {
		a = " [" + r.Action + "]"
	}
	return fmt.Sprintf("%s %-7s %s %s (%s)%s", r.Server, r.Hop, r.Peer, r.Time.Format("15:04:05.000000"), r.Protection, a)
}

type wiretap struct {
	mu      sync.Mutex
	off     bool
	seq     uint64
	records []Record
	limit   int
}

func (w *wiretap) add(r Record) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.off {
		return
	}
	w.seq++
	r.Seq = w.seq
	if w.limit > 0 && len(w.records) >= w.limit {
		copy(w.records, w.records[1:])
		w.records = w.records[:len(w.records)-1]
	}
	w.records = append(w.records, r)
}

// Wiretap returns a copy of the records of every stanza the server routed,
// oldest first (at most Config.WiretapLimit of the newest).
func (s *Server) Wiretap() []Record {
	s.tap.mu.Lock()
	defer s.tap.mu.Unlock()
	return append([]Record(nil), s.tap.records...)
}

// ResetWiretap forgets every record so far.
func (s *Server) ResetWiretap() {
	s.tap.mu.Lock()
	s.tap.records = nil
	s.tap.mu.Unlock()
}

// A PathReport lists every hop a stanza took, in the spirit of XEP-0219
// (hop check): which servers saw it and how each stream was protected.
type PathReport struct {
	Kind e2e.Kind
	ID   string
	Hops []Record // in time order
}

// Path returns the hops of the stanza of the given kind and id across the
// given servers' wiretaps, in time order.
func Path(kind e2e.Kind, id string, servers ...*Server) PathReport {
	p := PathReport{Kind: kind, ID: id}
	for _, s := range servers {
		for _, r := range s.Wiretap() {
			if r.Stanza != nil && r.Stanza.Kind == kind && r.Stanza.ID == id {
				p.Hops = append(p.Hops, r)
			}
		}
	}
	sort.SliceStable(p.Hops, func(i, j int) bool { return p.Hops[i].Time.Before(p.Hops[j].Time) })
	return p
}

// Delivered reports whether the path ends with delivery to a client.
func (p PathReport) Delivered() bool {
	return len(p.Hops) > 0 && p.Hops[len(p.Hops)-1].Hop == C2SOut && p.Hops[len(p.Hops)-1].Action != "dropped"
}

// AllTLS reports whether every hop was on a TLS-protected stream.
func (p PathReport) AllTLS() bool {
	for _, h := range p.Hops {
		if h.TLSVersion == 0 {
			return false
		}
	}
	return len(p.Hops) > 0
}

// Servers returns the domains of the servers that saw the stanza, in order,
// each once.
func (p PathReport) Servers() []string {
	var out []string
	for _, h := range p.Hops {
		if len(out) == 0 || out[len(out)-1] != h.Server {
			out = append(out, h.Server)
		}
	}
	return out
}

// String renders the report, one hop per line.
func (p PathReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "path of <%s id=%q>: %d hops\n", p.Kind, p.ID, len(p.Hops))
	for i, h := range p.Hops {
		fmt.Fprintf(&b, "%d. %s\n", i+1, h)
	}
	return b.String()
}
