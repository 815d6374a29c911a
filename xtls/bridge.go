package xtls

import (
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"strconv"

	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/xmpp/jid"
)

// A Bridge is the Jingle and IBB half of an XTLS party without the TLS: it
// negotiates a session with a Session, as a Session would, and hands the
// raw bytestream to the caller, who runs TLS with another stack (openssl
// s_client or s_server, say). It protects nothing by itself: it exists for
// interoperability tests and for recording test vectors against an
// independent TLS implementation.
//
// The Bridge is safe for concurrent use: the outside TLS stack writes to the
// bytestream from its own goroutines, and every stanza the Bridge sends,
// from whichever goroutine, goes to Outgoing in order.
type Bridge struct {
	s       *sched // s.mu guards everything below
	self    jid.JID
	peer    jid.JID
	fp      Fingerprint
	out     chan *e2e.Stanza
	pending map[string]func(*e2e.Stanza)
	conn    *ibbConn
	n       int
	onOpen  func(net.Conn)
	started bool
}

// NewBridge returns a Bridge for self, talking to the Session of peer. cert
// is the certificate the outside TLS stack presents; the Bridge advertises
// its SHA-256 fingerprint. When the bytestream opens, onOpen gets it, on the
// goroutine that delivered the stanza that opened it: onOpen should start
// its own goroutines (Splice, say) and return.
func NewBridge(self, peer jid.JID, cert *x509.Certificate, onOpen func(net.Conn)) *Bridge {
	return &Bridge{s: newSched(false), self: self, peer: peer, fp: fingerprintSHA256(cert.Raw),
		out: make(chan *e2e.Stanza, 1<<16), pending: map[string]func(*e2e.Stanza){}, onOpen: onOpen}
}

// Outgoing delivers the stanzas the Bridge sends to the Session, in order.
func (b *Bridge) Outgoing() <-chan *e2e.Stanza { return b.out }

func (b *Bridge) idLocked() string { b.n++; return "bridge-" + strconv.Itoa(b.n) }

func (b *Bridge) sendLocked(st *e2e.Stanza, h func(*e2e.Stanza)) {
	if h != nil {
		b.pending[st.ID] = h
	}
	b.out <- st
}

func (b *Bridge) newConnLocked(tr *transport) {
	c := newIBBConn(b.s, b.self, b.peer, tr.SID, tr.BlockSize, 8)
	c.waitAcks = true
	c.send = b.sendLocked
	c.newID = b.idLocked
	b.conn = c
}

func (b *Bridge) security() *security {
	return &security{Fingerprints: []Fingerprint{b.fp}, Methods: []string{methodX509}}
}

// Initiate starts a Jingle session towards the peer: the outside TLS stack
// is then the TLS client. sid and ibbSID name the Jingle session and the
// bytestream.
func (b *Bridge) Initiate(sid, ibbSID string) {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	tr := &transport{NS: nsIBB1, SID: ibbSID, BlockSize: DefaultBlockSize}
	b.newConnLocked(tr)
	j := &jingle{Action: "session-initiate", SID: sid, Initiator: b.self, Contents: []*content{{
		Creator: "initiator", Name: contentName, Description: nsXMLStream0, Transport: tr, Security: b.security()}}}
	b.sendLocked(iqSet(b.self, b.peer, b.idLocked(), j.element()), func(*e2e.Stanza) {})
}

// Receive handles one stanza from the Session: Jingle (a session-initiate
// makes the Bridge the responder, whose outside TLS stack is the server),
// IBB, and results of the Bridge's own IQs.
func (b *Bridge) Receive(st *e2e.Stanza) error {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	if st.Type == "result" || st.Type == "error" {
		if h := b.pending[st.ID]; h != nil {
			delete(b.pending, st.ID)
			h(st)
		}
		return nil
	}
	if el := jingleChild(st); el != nil {
		j, err := parseJingle(el)
		if err != nil {
			return err
		}
		b.sendLocked(iqResult(b.self, st), nil)
		switch j.Action {
		case "session-initiate":
			c := j.xmlstreamContent()
			if c == nil || c.Transport == nil {
				return fmt.Errorf("xtls: %w: session-initiate without an xmlstream content over IBB", e2e.ErrMalformed)
			}
			b.newConnLocked(c.Transport)
			acc := &jingle{Action: "session-accept", SID: j.SID, Responder: b.self, Contents: []*content{{
				Creator: "initiator", Name: c.Name, Description: nsXMLStream0, Transport: c.Transport, Security: b.security()}}}
			b.sendLocked(iqSet(b.self, b.peer, b.idLocked(), acc.element()), func(*e2e.Stanza) {})
		case "session-accept":
			info := &jingle{Action: "security-info", SID: j.SID, Contents: []*content{{Creator: "initiator", Name: contentName, Security: &security{Methods: []string{methodX509}}}}}
			b.sendLocked(iqSet(b.self, b.peer, b.idLocked(), info.element()), func(*e2e.Stanza) {})
			o := ibbElement("open")
			o.Attr = attrs("block-size", strconv.Itoa(b.conn.block), "sid", b.conn.sid, "stanza", "iq")
			b.sendLocked(iqSet(b.self, b.peer, b.idLocked(), o), func(res *e2e.Stanza) {
				if res.Type == "result" {
					b.startLocked()
				}
			})
		}
		return nil
	}
	if el := ibbChild(st); el != nil && b.conn != nil {
		if el.Name.Local == "open" {
			b.startLocked()
		}
		reply, err := b.conn.handleLocked(st, el)
		if reply != nil {
			b.sendLocked(reply, nil)
		}
		if el.Name.Local == "data" && !b.started { // ibb:0: data without <open/>
			b.startLocked()
		}
		return err
	}
	return nil
}

func (b *Bridge) startLocked() {
	if !b.started {
		b.started = true
		b.onOpen(b.conn)
	}
}

// Splice copies between the bytestream c and a TCP connection to the
// outside TLS stack until either side ends. What comes from TCP is written
// to c one whole TLS record per Write, as a TLS stack writing to the
// bytestream itself does (a Session refuses a short chunk that ends inside
// a record unless Options.SplitRecords is set). Splice returns at once; its
// goroutines end with the connections.
func Splice(c net.Conn, tcp *net.TCPConn) {
	go func() {
		io.Copy(tcp, c)
		tcp.CloseWrite()
	}()
	go func() {
		defer c.Close()
		for {
			hdr := make([]byte, 5)
			if _, err := io.ReadFull(tcp, hdr); err != nil {
				return
			}
			rec := make([]byte, 5+(int(hdr[3])<<8|int(hdr[4])))
			copy(rec, hdr)
			if _, err := io.ReadFull(tcp, rec[5:]); err != nil {
				return
			}
			if _, err := c.Write(rec); err != nil {
				return
			}
		}
	}()
}
