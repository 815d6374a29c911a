package gen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/internal/mutate"
	"github.com/xmppe2e/xmppe2e/vectors"
	"github.com/xmppe2e/xmppe2e/xtls"
)

// XTLS transcripts replay only where crypto/ecdh honours the receiver's
// seeded randomness: Go 1.26 and later need GODEBUG=cryptocustomrand=1 (the
// xmppe2e command sets it; so do this package's tests). The senders offer
// X25519 alone: Go's ML-KEM draws from randomness that cannot be seeded,
// so a hybrid key exchange could not be replayed.
func init() {
	senders["xtls"] = xtls.New(xtls.Options{CurvePreferences: x25519Only})
	extras["xtls"] = append(extras["xtls"], recordXTLSVariants)
	recorders["xtls"] = append(recorders["xtls"], recordOpenSSLXTLS)
	crafters["xtls"] = append(crafters["xtls"], craftXTLS)
}

var x25519Only = []tls.CurveID{tls.X25519}

// xtlsVariants are exchanges of our own beyond the bases: the other TLS
// version and the draft's IBB transport.
var xtlsVariants = []struct {
	name string
	opts xtls.Options
}{
	{"tls12", xtls.Options{MaxVersion: tls.VersionTLS12, CurvePreferences: x25519Only}},
	{"ibb0", xtls.Options{Transport: xtls.IBB0, CurvePreferences: x25519Only}},
}

// xtlsStanza is what the xtls records other than the bases carry.
func xtlsStanza(body string) string {
	return `<message xmlns='jabber:client' from='juliet@capulet.lit/balcony' to='romeo@montague.lit/orchard' type='chat'><body>` + body + `</body></message>`
}

// recordXTLSVariants runs juliet's session, configured as each variant, to
// romeo's default one.
func recordXTLSVariants(ctx context.Context, keys map[string]vectors.Key) ([]Record, error) {
	j, r, err := xtlsParties(keys)
	if err != nil {
		return nil, err
	}
	ids := map[string]e2e.Identity{"juliet": j, "romeo": r}
	var recs []Record
	for _, v := range xtlsVariants {
		name := "xmppe2e-" + v.name
		b := Base{Name: name, Op: "encrypt", Sender: "juliet", Receiver: "romeo",
			Stanza: xtlsStanza("Over " + v.name + ": what light through yonder window breaks?")}
		rec, _, err := Exchange(ctx, xtls.New(v.opts), xtls.Scheme, ids, b, name)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

func xtlsParties(keys map[string]vectors.Key) (j, r e2e.Identity, err error) {
	if j, err = xtls.Scheme.ParseIdentity([]byte(keys["juliet"].Identity)); err != nil {
		return nil, nil, err
	}
	if r, err = xtls.Scheme.ParseIdentity([]byte(keys["romeo"].Identity)); err != nil {
		return nil, nil, err
	}
	return j, r, nil
}

// recordOpenSSLXTLS has openssl s_client play juliet's TLS, with her key,
// through an xtls.Bridge (Jingle and IBB without TLS), against romeo's
// session seeded as the vectors' receiver will be: TLS 1.3 and TLS 1.2,
// X25519. s_client types the inner stream header and a message. OpenSSL
// cannot be seeded, so each transcript is what one run gave; the receiver's
// side replays exactly.
func recordOpenSSLXTLS(ctx context.Context, keys map[string]vectors.Key) ([]Record, error) {
	t, ok, err := newTool("xtls", "openssl")
	if !ok {
		return nil, err
	}
	defer t.close()
	ver, err := t.run(ctx, "", "version")
	if err != nil {
		return nil, err
	}
	producer := "OpenSSL"
	if f := strings.Fields(ver); len(f) > 1 {
		producer += " " + f[1]
	}
	if err := errors.Join(t.write("juliet.pem", keys["juliet"].Identity), t.write("romeo.crt", keys["romeo"].Peer)); err != nil {
		return nil, err
	}
	j, r, err := xtlsParties(keys)
	if err != nil {
		return nil, err
	}
	var recs []Record
	for _, v := range []string{"tls1_3", "tls1_2"} {
		name := "openssl-" + v
		text := xtlsStanza("From openssl s_client over " + v + " &lt;&amp;&gt; ¿qué?")
		wire, err := opensslXTLSExchange(ctx, t, j, r, v, name, text)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		_, seed := seeded("recv/" + name)
		recs = append(recs, Record{Name: name, Op: "encrypt", Sender: "juliet", Receiver: "romeo", Stanza: text,
			Wire: wire, Producer: producer, ReceiverSeed: seed})
	}
	return recs, nil
}

// opensslXTLSExchange runs one s_client session and returns what romeo's
// session was given up to the stanza that opened the message.
func opensslXTLSExchange(ctx context.Context, t *tool, j, r e2e.Identity, version, name, text string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	cmd := exec.CommandContext(ctx, t.bin, "s_client", "-connect", ln.Addr().String(), "-"+version, "-groups", "X25519",
		"-cert", t.path("juliet.pem"), "-key", t.path("juliet.pem"), "-CAfile", t.path("romeo.crt"), "-verify_return_error", "-ign_eof", "-quiet")
	cmd.Dir = t.dir
	cmd.Stdin = strings.NewReader("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='juliet@capulet.lit/balcony' to='romeo@montague.lit/orchard' version='1.0'>\n" +
		text + "\n")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()

	recvRand, _ := seeded("recv/" + name)
	rcv, err := xtls.Scheme.NewSession(e2e.Config{Local: r, JID: parties["romeo"], Peers: []e2e.Peer{j.Public()}, Rand: recvRand,
		Clock: func() time.Time { return Epoch }})
	if err != nil {
		return nil, err
	}
	defer rcv.Close(ctx)
	cert := j.(*xtls.Identity).Certificate()
	b := xtls.NewBridge(parties["juliet"], parties["romeo"], cert, func(c net.Conn) {
		go func() {
			tcp, err := ln.Accept()
			if err != nil {
				c.Close()
				return
			}
			xtls.Splice(c, tcp.(*net.TCPConn))
		}()
	})
	b.Initiate("vectors-"+version, "ibb-"+version)
	var wire []string
	for {
		select {
		case st := <-b.Outgoing():
			// As on a real stream: serialized, then parsed.
			text := st.String()
			st, err := e2e.Parse([]byte(text))
			if err != nil {
				return nil, err
			}
			wire = append(wire, text)
			res, err := rcv.Receive(ctx, st)
			if err != nil {
				return nil, fmt.Errorf("romeo refused %s: %w\n%s", text, err, out.String())
			}
			if len(res.Opened) > 0 {
				return wire, nil
			}
			for _, rp := range res.Replies {
				rp, err := e2e.Parse(rp.Bytes())
				if err != nil {
					return nil, err
				}
				if err := b.Receive(rp); err != nil {
					return nil, err
				}
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("no message opened: %v\n%s", ctx.Err(), out.String())
		}
	}
}

// xtlsMutation changes a recorded transcript; it returns nil when the
// transcript has nothing it could change.
type xtlsMutation struct {
	name, comment, flag string
	change              func(wire []string) []string
	untrusted           bool // pin mercutio's certificate for juliet
}

var (
	reFingerprint = regexp.MustCompile(`(<fingerprint[^>]*>)([0-9A-F])`)
	reSecurity    = regexp.MustCompile(`<security xmlns='urn:xmpp:jingle:security:xtls:[01]'>.*?</security>`)
	reDataText    = regexp.MustCompile(`(<data [^>]*>)([^<]*)(</data>)`)
	reDataSeq     = regexp.MustCompile(`(<data [^>]*seq=')(\d+)(')`)
	reDataSID     = regexp.MustCompile(`(<data [^>]*sid=')([^']*)(')`)
)

// nth returns the index of the n-th (0-based) wire stanza containing sub,
// or -1.
func nth(wire []string, sub string, n int) int {
	for i, w := range wire {
		if strings.Contains(w, sub) {
			if n == 0 {
				return i
			}
			n--
		}
	}
	return -1
}

// editAt returns a copy of wire with stanza i changed by f (nil when i is
// out of range or f changes nothing).
func editAt(wire []string, i int, f func(string) string) []string {
	if i < 0 || i >= len(wire) {
		return nil
	}
	w := f(wire[i])
	if w == wire[i] {
		return nil
	}
	out := append([]string(nil), wire...)
	out[i] = w
	return out
}

// flipMiddle changes the middle character of the first <data/> payload in w.
func flipMiddle(w string) string {
	m := reDataText.FindStringSubmatchIndex(w)
	if m == nil {
		return w
	}
	text := w[m[4]:m[5]]
	for at := len(text) / 2; at < len(text); at++ {
		if t, ok := mutate.Flip(text, at); ok {
			return w[:m[4]] + t + w[m[5]:]
		}
	}
	return w
}

var xtlsMutations = []xtlsMutation{
	{name: "fingerprint-mismatch", flag: "FingerprintMismatch",
		comment: "the fingerprint in session-initiate is not that of the certificate juliet presents in TLS",
		change: func(w []string) []string {
			return editAt(w, nth(w, "session-initiate", 0), func(s string) string {
				return reFingerprint.ReplaceAllStringFunc(s, func(m string) string {
					if strings.HasSuffix(m, "0") {
						return m[:len(m)-1] + "1"
					}
					return m[:len(m)-1] + "0"
				})
			})
		}},
	{name: "srp-method", flag: "SecurityMethod",
		comment: "session-initiate offers the draft's SRP method only, which this profile does not implement",
		change: func(w []string) []string {
			return editAt(w, nth(w, "session-initiate", 0), func(s string) string {
				return strings.ReplaceAll(s, "<method name='x509'/>", "<method name='srp'/>")
			})
		}},
	{name: "no-security", flag: "SecurityMethod",
		comment: "session-initiate without the <security/> element",
		change: func(w []string) []string {
			return editAt(w, nth(w, "session-initiate", 0), func(s string) string { return reSecurity.ReplaceAllString(s, "") })
		}},
	{name: "untrusted-certificate", flag: "Untrusted", untrusted: true,
		comment: "the receiver pins another certificate (mercutio's) for juliet",
		change:  func(w []string) []string { return append([]string(nil), w...) }},
	{name: "client-hello-tampered", flag: "HandshakeTamper",
		comment: "a character in the middle of the first bytestream chunk (the ClientHello) changed",
		change:  func(w []string) []string { return editAt(w, nth(w, "<data ", 0), flipMiddle) }},
	{name: "client-flight-tampered", flag: "HandshakeTamper",
		comment: "a character in the middle of the second bytestream chunk (the client's certificate and Finished) changed",
		change:  func(w []string) []string { return editAt(w, nth(w, "<data ", 1), flipMiddle) }},
	{name: "seq-skipped", flag: "TransportViolation",
		comment: "the second chunk's sequence number skips one",
		change: func(w []string) []string {
			return editAt(w, nth(w, "<data ", 1), func(s string) string {
				return reDataSeq.ReplaceAllStringFunc(s, func(m string) string {
					sub := reDataSeq.FindStringSubmatch(m)
					n, _ := strconv.Atoi(sub[2])
					return sub[1] + strconv.Itoa(n+1) + sub[3]
				})
			})
		}},
	{name: "unknown-sid", flag: "TransportViolation",
		comment: "the last chunk names a bytestream that was never opened",
		change: func(w []string) []string {
			return editAt(w, nth(w, "<data ", strings.Count(strings.Join(w, ""), "<data ")-1), func(s string) string {
				return reDataSID.ReplaceAllString(s, "${1}not-this-stream${3}")
			})
		}},
	{name: "data-before-open", flag: "TransportViolation",
		comment: "the IBB <open/> removed: data arrives on a bytestream the initiator never opened (ibb:1)",
		change: func(w []string) []string {
			i := nth(w, "<open xmlns='http://jabber.org/protocol/ibb'", 0)
			if i < 0 {
				return nil
			}
			return append(append([]string(nil), w[:i]...), w[i+1:]...)
		}},
	{name: "other-sender", flag: "TransportViolation",
		comment: "the last chunk comes from another full JID (mercutio's), as a server would stamp it for him",
		change: func(w []string) []string {
			return editAt(w, len(w)-1, func(s string) string {
				return strings.Replace(s, "from='juliet@capulet.lit/balcony'", "from='mercutio@capulet.lit/tomb'", 1)
			})
		}},
}

// craftXTLS breaks recorded transcripts where the generic mutations of
// Build do not reach: the Jingle negotiation, the TLS handshake and the
// bytestream's framing. Each transcript is cut after the first stanza the
// reference refuses, so that every earlier stanza is one a correct
// receiver accepts; the vector then checks that stanza's refusal.
func craftXTLS(ctx context.Context, rec *Recording) ([]Crafted, error) {
	var out []Crafted
	for _, r := range rec.Records {
		if r.Name != "message" && r.Producer == "xmppe2e" || r.Name == "openssl-tls1_2" {
			continue // ours over TLS 1.3 and ibb:1, and OpenSSL's TLS 1.3
		}
		for _, m := range xtlsMutations {
			wire := m.change(r.Wire)
			if wire == nil {
				continue
			}
			keys := rec.Keys
			if m.untrusted {
				keys = maps.Clone(rec.Keys)
				j := keys["juliet"]
				j.Peer = keys["mercutio"].Peer
				keys["juliet"] = j
			}
			g := &vectors.Group{Keys: keys, Receiver: r.Receiver, ReceiverJID: parties[r.Receiver].String(), Peers: []string{r.Sender}, ReceiverSeed: r.ReceiverSeed}
			wire, err := cutAtRefusal(ctx, g, wire)
			if err != nil {
				return nil, fmt.Errorf("%s of %s: %w", m.name, r.Name, err)
			}
			c := Crafted{Name: r.Name + "/" + m.name, Comment: m.comment, Flags: peerFlags(r, m.flag), Sender: r.Sender, Receiver: r.Receiver,
				ReceiverSeed: r.ReceiverSeed, Wire: wire, Producer: r.Producer}
			if m.untrusted {
				c.Keys = keys
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// cutAtRefusal delivers wire to g's receiver one stanza more at a time and
// returns it up to the first stanza refused (all of it when none is).
func cutAtRefusal(ctx context.Context, g *vectors.Group, wire []string) ([]string, error) {
	for i := 1; i <= len(wire); i++ {
		_, rerr, serr := vectors.Observe(ctx, xtls.Scheme, g, vectors.Vector{Now: checkTime, Wire: wire[:i]})
		if serr != nil {
			return nil, serr
		}
		if rerr != nil {
			return wire[:i], nil
		}
	}
	return wire, nil
}
