package server_test

import (
	"net"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// loopbackDNS answers, on 127.0.0.1 UDP, the SRV and A queries an XMPP
// server makes for the given domains (each with its s2s port), so that
// Prosody finds our servers without any DNS leaving the machine. Every
// other name is NXDOMAIN. It returns the address and stops at cleanup.
func loopbackDNS(t *testing.T, s2sPorts map[string]uint16) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RCode: dnsmessage.RCodeSuccess})
			b.EnableCompression()
			name := strings.ToLower(strings.TrimSuffix(q.Name.String(), "."))
			rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
			var answer func() error
			known := false
			for domain, port := range s2sPorts {
				switch {
				case name == "_xmpp-server._tcp."+domain && q.Type == dnsmessage.TypeSRV:
					known = true
					target := dnsmessage.MustNewName(domain + ".")
					answer = func() error {
						return b.SRVResource(rh, dnsmessage.SRVResource{Priority: 0, Weight: 0, Port: port, Target: target})
					}
				case name == domain && q.Type == dnsmessage.TypeA:
					known = true
					answer = func() error { return b.AResource(rh, dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}}) }
				case name == domain:
					known = true // other types: no data
				}
			}
			if !known {
				b = dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RCode: dnsmessage.RCodeNameError})
			}
			b.StartQuestions()
			b.Question(q)
			b.StartAnswers()
			if answer != nil {
				answer()
			}
			out, err := b.Finish()
			if err == nil {
				pc.WriteTo(out, from)
			}
		}
	}()
	return pc.LocalAddr().String()
}
