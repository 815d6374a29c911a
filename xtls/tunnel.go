package xtls

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"strings"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/internal/stablerand"
	"mellium.im/xmpp/jid"
)

// SASLabel is the RFC 5705 exporter label of the short authentication
// string. RFC 5705 leaves labels starting with EXPERIMENTAL to private use.
const SASLabel = "EXPERIMENTAL-XTLS-SAS"

// SASBytes is the length of the SAS in bytes: 40 bits. An active attacker
// who grinds handshakes needs about 2^40 attempts to make the two legs of
// a relay show the same value.
const SASBytes = 5

const streamEnd = "</stream:stream>"

// tunnel states
const (
	stInitiated = iota // initiator: session-initiate sent
	stAccepted         // Jingle negotiated; waiting for <open/> result or in the TLS handshake
	stOpen             // the peer's stream header arrived
)

// tunnel is one Jingle session with its bytestream, TLS connection and
// inner XML stream.
type tunnel struct {
	s          *session
	peer       jid.JID
	sid        string
	initiator  bool
	tr         transport
	content    string
	creator    string
	peerSec    *security
	conn       *ibbConn
	tc         *tls.Conn
	state      int
	started    bool
	gotSecInfo bool
	held       []*e2e.Stanza
	deadline   time.Time
	sas        string
	peerCert   *Peer
	verifyErr  error
	tlsRand    io.Reader // nil: crypto/rand; see tlsRandom
	closing    bool      // we sent </stream:stream>
	ended      bool
}

// jingleResultLocked handles the answer to one of our Jingle IQs: an error
// ends the session. A refused session-initiate leaves no session at the
// peer (XEP-0166 §6.3.2), so nothing more is sent; after any other refused
// action the peer still has the session, and session-terminate tells it.
func (t *tunnel) jingleResultLocked(res *e2e.Stanza) {
	if res.Type == "error" && !t.ended {
		refusedInitiate := t.initiator && t.state == stInitiated
		t.s.failLocked(t, "general-error", fmt.Errorf("xtls: %w: peer answered Jingle with <%s/>", e2e.ErrMalformed, errorCondition(res)), !refusedInitiate)
	}
}

// startLocked starts the TLS goroutine (once).
func (t *tunnel) startLocked() {
	if t.started || t.ended {
		return
	}
	t.started = true
	r, err := t.tlsRandom()
	if err != nil {
		t.s.failLocked(t, "general-error", err, true)
		return
	}
	t.tlsRand = r
	if t.initiator {
		t.tc = tls.Client(t.conn, t.tlsConfig())
	} else {
		t.tc = tls.Server(t.conn, t.tlsConfig())
	}
	t.s.s.goLocked(t.run)
}

// tlsConfig is the XTLS profile: mutual authentication with pinned
// certificates (the responder is the server and requires a client
// certificate), TLS 1.2 or 1.3, no resumption, no renegotiation.
func (t *tunnel) tlsConfig() *tls.Config {
	c := profileConfig(t.s.id, !t.initiator, t.s.opts.MaxVersion, func(cs tls.ConnectionState) error {
		t.s.s.mu.Lock()
		var adv []Fingerprint
		if t.peerSec != nil {
			adv = t.peerSec.Fingerprints
		}
		t.s.s.mu.Unlock()
		// Config.Trust may take its time (ask the user) or call the
		// Session: no lock is held while it runs.
		p, err := checkPeer(&t.s.cfg, t.peer, adv, cs.PeerCertificates)
		t.s.s.mu.Lock()
		defer t.s.s.mu.Unlock()
		if err != nil {
			t.verifyErr = err
			return err
		}
		t.peerCert = p
		return nil
	})
	c.CurvePreferences = t.s.opts.CurvePreferences
	c.Time = t.s.cfg.Now
	c.Rand = t.tlsRand
	return c
}

// tlsRandom returns the randomness of one tunnel's TLS connection: nil
// (crypto/rand) unless Config.Rand is set. With Config.Rand set, the
// connection draws from its own ChaCha8 stream keyed from Config.Rand, so
// that a recorded handshake replays exactly (the test vectors do this).
//
// Replay needs two more things, both outside this package: Go 1.26 and
// later ignore custom randomness in crypto/ecdh unless the program runs
// with GODEBUG=cryptocustomrand=1, and ML-KEM draws from a source that
// cannot be set, so a replayed handshake must not use a hybrid group.
func (t *tunnel) tlsRandom() (io.Reader, error) {
	if t.s.cfg.Rand == nil {
		return nil, nil
	}
	var seed [32]byte
	if _, err := io.ReadFull(t.s.cfg.Rand, seed[:]); err != nil {
		return nil, fmt.Errorf("xtls: reading randomness: %w", err)
	}
	return stablerand.New(mrand.NewChaCha8(seed)), nil
}

// profileConfig builds the crypto/tls configuration of the XTLS profile.
// verify decides about the peer's certificate; it runs on every handshake.
func profileConfig(id *Identity, server bool, maxVersion uint16, verify func(tls.ConnectionState) error) *tls.Config {
	c := &tls.Config{
		Certificates:           []tls.Certificate{id.tlsCertificate()},
		MinVersion:             tls.VersionTLS12,
		MaxVersion:             maxVersion,
		SessionTicketsDisabled: true,
		// Chains are not built: the peer's certificate is checked against
		// pins in VerifyConnection, which also runs on resumption.
		InsecureSkipVerify: true,
		VerifyConnection:   verify,
	}
	if server {
		c.ClientAuth = tls.RequireAnyClientCert
	}
	return c
}

// checkPeer verifies the certificate chain a peer presented: the leaf must
// match every fingerprint the peer advertised in Jingle, name the peer's
// JID (when it names one) and be trusted by cfg (pinned, or approved by
// Config.Trust).
func checkPeer(cfg *e2e.Config, peer jid.JID, advertised []Fingerprint, chain []*x509.Certificate) (*Peer, error) {
	if len(chain) == 0 {
		return nil, fmt.Errorf("%w: no certificate presented", ErrPeerNotTrusted)
	}
	leaf := chain[0]
	for _, f := range advertised {
		if !f.Matches(leaf.Raw) {
			return nil, fmt.Errorf("%w: advertised %s %s", ErrFingerprintMismatch, f.Algo, f)
		}
	}
	p := &Peer{addr: certJID(leaf), cert: leaf}
	if !p.addr.Equal(jid.JID{}) && !p.addr.Equal(peer.Bare()) {
		return nil, fmt.Errorf("%w: certificate is for %s, not %s", ErrPeerNotTrusted, p.addr, peer.Bare())
	}
	if !cfg.Trusts(peer, p) {
		return nil, fmt.Errorf("%w: %s presented %s", ErrPeerNotTrusted, peer.Bare(), p.Fingerprint())
	}
	return p, nil
}

// ExportSAS computes the short authentication string of a TLS connection:
// ExportKeyingMaterial(SASLabel, nil, SASBytes) as uppercase hex, the format
// of `openssl s_client -keymatexport`.
func ExportSAS(cs tls.ConnectionState) (string, error) {
	b, err := cs.ExportKeyingMaterial(SASLabel, nil, SASBytes)
	if err != nil {
		return "", fmt.Errorf("xtls: exporter: %w", err)
	}
	return strings.ToUpper(hex.EncodeToString(b)), nil
}

// run is the tunnel goroutine: TLS handshake, stream headers, held stanzas,
// then the inner stream until it ends.
func (t *tunnel) run() {
	s := t.s
	err := t.tc.Handshake()
	if err != nil {
		t.abort(t.classify(err))
		return
	}
	sas, err := ExportSAS(t.tc.ConnectionState())
	if err != nil {
		t.abort("security-error", err)
		return
	}
	s.s.mu.Lock()
	t.sas = sas
	s.s.mu.Unlock()

	lr := &countingReader{r: t.tc}
	d := xml.NewDecoder(lr)
	if t.initiator {
		if err := t.writeHeader("", false); err != nil {
			t.abort(t.classify(err))
			return
		}
		if err := t.readHeader(d); err != nil {
			t.streamError(err)
			t.abort(t.classify(err))
			return
		}
	} else {
		if err := t.readHeader(d); err != nil {
			if errors.Is(err, errStream) {
				t.writeHeader("refused", false) // RFC 6120 §4.9.1.1: our header, then the error
			}
			t.streamError(err)
			t.abort(t.classify(err))
			return
		}
		s.s.mu.Lock()
		sid, err := s.randHex(8)
		s.s.mu.Unlock()
		if err == nil {
			err = t.writeHeader(sid, true)
		}
		if err != nil {
			t.abort(t.classify(err))
			return
		}
	}
	// Open: send what was held back, then read stanzas.
	for {
		s.s.mu.Lock()
		if t.ended {
			s.s.mu.Unlock()
			return
		}
		batch := t.held
		t.held = nil
		if len(batch) == 0 {
			t.state = stOpen
			s.s.mu.Unlock()
			break
		}
		s.s.mu.Unlock()
		for _, st := range batch {
			if err := t.writeStanzaUnlocked(st); err != nil {
				t.abort(t.classify(err))
				return
			}
		}
	}
	for {
		lr.n = 0
		st, end, err := t.readStanza(d)
		if err != nil {
			t.streamError(err)
			t.abort(t.classify(err))
			return
		}
		if end {
			t.peerEnded()
			return
		}
		s.s.mu.Lock()
		if !t.ended {
			s.opened = append(s.opened, e2e.Opened{Stanza: st, Encrypted: true, Signer: t.peerCert, Trusted: true})
		}
		s.s.mu.Unlock()
	}
}

const nsStreamErrors = "urn:ietf:params:xml:ns:xmpp-streams"

// streamError tells the peer, inside the tunnel, why its inner stream is
// refused (RFC 6120 §4.9), when the failure is the stream's content and
// not the tunnel itself. The caller has sent our stream header.
func (t *tunnel) streamError(err error) {
	if !errors.Is(err, errStream) {
		return
	}
	cond := "not-well-formed"
	var es errSecurity
	if errors.As(err, &es) {
		cond = "invalid-from"
	}
	t.tc.Write([]byte("<stream:error><" + cond + " xmlns='" + nsStreamErrors + "'/></stream:error>" + streamEnd))
}

// peerEnded answers the peer's </stream:stream> with ours and close_notify.
// The Jingle session ends with the peer's session-terminate.
func (t *tunnel) peerEnded() {
	s := t.s
	s.s.mu.Lock()
	send := !t.closing && !t.ended
	t.closing = true
	s.s.mu.Unlock()
	if send {
		t.tc.Write([]byte(streamEnd))
		t.tc.CloseWrite()
	}
}

// classify maps a failure to a Jingle reason and the error to report.
func (t *tunnel) classify(err error) (string, error) {
	s := t.s
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	var es errSecurity
	switch {
	case t.verifyErr != nil:
		return "security-error", t.verifyErr
	case t.conn.err != nil:
		return "failed-transport", t.conn.err
	case t.conn.peerClosed && t.state != stOpen:
		return "failed-transport", fmt.Errorf("xtls: %w: the peer closed the bytestream before the tunnel was open: %v", e2e.ErrMalformed, err)
	case errors.As(err, &es):
		return "security-error", err
	case errors.Is(err, errStream):
		return "general-error", err
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "general-error", fmt.Errorf("xtls: %w: tunnel ended early: %v", e2e.ErrDecrypt, err)
	}
	// TLS failures: alerts, bad records, handshake errors.
	return "security-error", fmt.Errorf("xtls: %w: %v", e2e.ErrDecrypt, err)
}

// abort ends the tunnel after a failure on its goroutine (unless it was
// ended from outside, which is what made the goroutine fail).
func (t *tunnel) abort(reason string, err error) {
	s := t.s
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	if t.ended {
		return
	}
	s.failLocked(t, reason, err, true)
}

func (t *tunnel) writeStanzaUnlocked(st *e2e.Stanza) error {
	if _, err := t.tc.Write(st.Bytes()); err != nil {
		return fmt.Errorf("xtls: writing to the tunnel: %w", err)
	}
	return nil
}

// writeHeader writes our stream header: the initial one (id == "") or the
// response with a stream id, followed by an empty <stream:features/> when
// features is set (the response to an accepted header).
func (t *tunnel) writeHeader(id string, features bool) error {
	var b bytes.Buffer
	b.WriteString("<stream:stream xmlns='jabber:client' xmlns:stream='" + nsStream + "' from='")
	xmlAttrEscape(&b, t.s.cfg.JID.String())
	b.WriteString("' to='")
	xmlAttrEscape(&b, t.peer.String())
	b.WriteString("' version='1.0'")
	if id != "" {
		b.WriteString(" id='" + id + "'")
	}
	b.WriteString(">")
	if features {
		// RFC 6120 §4.3.2: a receiving entity that answers version='1.0'
		// sends <stream:features/>. The tunnel needs no negotiation, so it
		// is empty; it goes in the same record as the header.
		b.WriteString("<stream:features/>")
	}
	_, err := t.tc.Write(b.Bytes())
	return err
}

func xmlAttrEscape(b *bytes.Buffer, s string) {
	xml.EscapeText(b, []byte(s)) // escapes & < > ' " and control characters
}

// errStream is the class of inner-stream protocol errors.
var errStream = errors.New("xtls: inner stream")

// readHeader reads the peer's stream header and checks its addresses: from
// (when present; we always send it) must be the peer (full or bare JID), to
// (when present) us.
func (t *tunnel) readHeader(d *xml.Decoder) error {
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch tk := tok.(type) {
		case xml.ProcInst:
			if tk.Target != "xml" {
				return fmt.Errorf("%w: %w: processing instruction", errStream, e2e.ErrMalformed)
			}
		case xml.CharData:
			if len(bytes.TrimSpace(tk)) != 0 {
				return fmt.Errorf("%w: %w: text before the stream header", errStream, e2e.ErrMalformed)
			}
		case xml.StartElement:
			if tk.Name.Space != nsStream || tk.Name.Local != "stream" {
				return fmt.Errorf("%w: %w: <%s/> instead of a stream header", errStream, e2e.ErrMalformed, tk.Name.Local)
			}
			var from, to string
			var hasFrom bool
			for _, a := range tk.Attr {
				if a.Name.Space == "" && a.Name.Local == "from" {
					from, hasFrom = a.Value, true
				}
				if a.Name.Space == "" && a.Name.Local == "to" {
					to = a.Value
				}
			}
			if hasFrom && !t.isPeer(from) { // absent: the TLS peer, as for stanzas
				return t.securityStreamError(fmt.Errorf("%w: %w: stream header from %q, expected %s", errStream, e2e.ErrBadSignature, from, t.peer))
			}
			if to != "" {
				if j, err := jid.Parse(to); err != nil || !(j.Equal(t.s.cfg.JID) || j.Equal(t.s.cfg.JID.Bare())) {
					return t.securityStreamError(fmt.Errorf("%w: %w: stream header to %q, expected %s", errStream, e2e.ErrBadSignature, to, t.s.cfg.JID))
				}
			}
			return nil
		default:
			return fmt.Errorf("%w: %w: unexpected %T before the stream header", errStream, e2e.ErrMalformed, tok)
		}
	}
}

// errSecurity marks inner-stream failures that end with <security-error/>.
type errSecurity struct{ error }

func (e errSecurity) Unwrap() error { return e.error }

func (t *tunnel) securityStreamError(err error) error { return errSecurity{err} }

func (t *tunnel) isPeer(s string) bool {
	j, err := jid.Parse(s)
	return err == nil && (j.Equal(t.peer) || j.Equal(t.peer.Bare()))
}

// readStanza reads the next stanza of the inner stream, skipping
// whitespace and an empty <stream:features/>. end reports the peer's
// </stream:stream>.
func (t *tunnel) readStanza(d *xml.Decoder) (st *e2e.Stanza, end bool, err error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, false, err
		}
		switch tk := tok.(type) {
		case xml.CharData:
			if len(bytes.TrimSpace(tk)) != 0 {
				return nil, false, fmt.Errorf("%w: %w: text between stanzas", errStream, e2e.ErrMalformed)
			}
		case xml.EndElement:
			return nil, true, nil
		case xml.StartElement:
			if tk.Name.Space == nsStream {
				if tk.Name.Local == "features" {
					if err := d.Skip(); err != nil {
						return nil, false, err
					}
					continue
				}
				return nil, false, fmt.Errorf("%w: %w: peer sent <stream:%s/>", errStream, e2e.ErrMalformed, tk.Name.Local)
			}
			st, err := e2e.ReadStanza(tk.Copy(), d)
			if err != nil {
				return nil, false, fmt.Errorf("%w: %w", errStream, err)
			}
			if st.From.Equal(jid.JID{}) {
				st.From = t.peer
			} else if !st.From.Equal(t.peer) && !st.From.Equal(t.peer.Bare()) {
				return nil, false, t.securityStreamError(fmt.Errorf("%w: %w: inner stanza from %s in the tunnel of %s", errStream, e2e.ErrBadSignature, st.From, t.peer))
			}
			return st, false, nil
		default:
			return nil, false, fmt.Errorf("%w: %w: unexpected %T in the stream", errStream, e2e.ErrMalformed, tok)
		}
	}
}

// countingReader bounds what one inner stanza may read (the decoder would
// otherwise buffer an endless text node).
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.n > 2*e2e.MaxStanzaSize {
		return 0, fmt.Errorf("%w: %w: inner stanza larger than %d bytes", errStream, e2e.ErrMalformed, e2e.MaxStanzaSize)
	}
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
