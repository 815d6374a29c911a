package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
)

const nsBind = "urn:ietf:params:xml:ns:xmpp-bind"

// Config describes one login.
type Config struct {
	// JID is the account; its resourcepart, if any, is requested at bind
	// (the server may assign another: read Client.JID).
	JID      jid.JID
	Password string
	// Addr is the server's c2s address (host:port). No DNS lookups are made.
	Addr string
	// RootCAs verify the server certificate for JID's domain.
	RootCAs *x509.CertPool
	// TLS overrides the TLS configuration (RootCAs and the domain as
	// ServerName are used when nil).
	TLS *tls.Config
	// Mechanisms are the SASL mechanisms in order of preference; by default
	// SCRAM-SHA-256, SCRAM-SHA-1, PLAIN (the first the server offers wins).
	Mechanisms []sasl.Mechanism
	// Priority is sent in the initial presence.
	Priority int
	// NoPresence skips the initial presence (the client stays unavailable,
	// so bare-JID messages go offline).
	NoPresence bool
	// Buffer is the capacity of the Events channel (1024 when 0).
	Buffer int
}

// An Event is one inbound stanza.
type Event struct {
	// Wire is the stanza as it arrived.
	Wire *e2e.Stanza
	// Opened holds what the e2e.Session of the sender made readable; empty
	// when no session is set for the sender or the stanza was protocol-only.
	Opened []e2e.Opened
	// Err is the session's error for this stanza, if any.
	Err error
	// Session reports that the stanza went through an e2e.Session.
	Session bool
}

// A Client is one logged-in XMPP client session that can carry one
// e2e.Session per peer.
type Client struct {
	cfg  Config
	sess *xmpp.Session
	conn net.Conn
	jid  jid.JID

	events chan Event
	done   chan struct{}
	err    error

	wmu sync.Mutex // serializes sends, keeping Encrypt output in order

	mu       sync.Mutex
	sessions map[string]e2e.Session
	pending  map[string]chan *e2e.Stanza
	closed   bool
	seq      int
}

// Login connects to cfg.Addr, negotiates STARTTLS (TLS 1.2 or later),
// authenticates with SASL, binds the requested resource, starts reading,
// and sends initial presence unless cfg.NoPresence.
func Login(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Buffer == 0 {
		cfg.Buffer = 1024
	}
	mechs := cfg.Mechanisms
	if len(mechs) == 0 {
		mechs = []sasl.Mechanism{sasl.ScramSha256, sasl.ScramSha1, sasl.Plain}
	}
	tlsCfg := cfg.TLS
	if tlsCfg == nil {
		tlsCfg = &tls.Config{ServerName: cfg.JID.Domainpart(), RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12}
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	res := cfg.JID.Resourcepart()
	sess, err := xmpp.NewSession(ctx, cfg.JID.Domain(), cfg.JID, conn, 0,
		xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
			return xmpp.StreamConfig{Features: []xmpp.StreamFeature{
				xmpp.StartTLS(tlsCfg),
				xmpp.SASL("", cfg.Password, mechs...),
				bindResource(res),
			}}
		}))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("client: login as %s: %w", cfg.JID, err)
	}
	c := &Client{
		cfg: cfg, sess: sess, conn: conn, jid: sess.LocalAddr(),
		events:   make(chan Event, cfg.Buffer),
		done:     make(chan struct{}),
		sessions: map[string]e2e.Session{},
		pending:  map[string]chan *e2e.Stanza{},
	}
	go c.readLoop()
	if !cfg.NoPresence {
		p := &e2e.Stanza{Kind: e2e.Presence}
		if cfg.Priority != 0 {
			p.Children = []*e2e.Element{e2e.NewElement(e2e.NSClient, "priority", strconv.Itoa(cfg.Priority))}
		}
		if err := c.Send(ctx, p); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// bindResource is resource binding (RFC 6120 §7) that sends the requested
// resource: mellium v0.22.0's BindResource always sends an empty one.
func bindResource(res string) xmpp.StreamFeature {
	return xmpp.StreamFeature{
		Name:       xml.Name{Space: nsBind, Local: "bind"},
		Necessary:  xmpp.Authn,
		Prohibited: xmpp.Ready,
		Parse: func(ctx context.Context, d *xml.Decoder, start *xml.StartElement) (bool, interface{}, error) {
			return true, nil, d.Skip()
		},
		Negotiate: func(ctx context.Context, s *xmpp.Session, _ interface{}) (xmpp.SessionState, io.ReadWriter, error) {
			id := "bind-" + strconv.FormatInt(time.Now().UnixNano(), 36)
			b := e2e.NewElement(nsBind, "bind", "")
			if res != "" {
				b.AppendChild(e2e.NewElement(nsBind, "resource", res))
			}
			req := &e2e.Stanza{Kind: e2e.IQ, Type: "set", ID: id, Children: []*e2e.Element{b}}
			w := s.TokenWriter()
			if _, err := xmlstream.Copy(w, req.TokenReader()); err != nil {
				w.Close()
				return 0, nil, err
			}
			err := w.Flush()
			w.Close()
			if err != nil {
				return 0, nil, err
			}
			r := s.TokenReader()
			defer r.Close()
			for i := 0; i < 16; i++ {
				tok, err := r.Token()
				if err != nil {
					return 0, nil, err
				}
				start, ok := tok.(xml.StartElement)
				if !ok {
					continue
				}
				st, err := e2e.ReadStanza(start.Copy(), r)
				if err != nil {
					return 0, nil, err
				}
				if st.Kind != e2e.IQ || st.ID != id {
					continue
				}
				if st.Type != "result" {
					return 0, nil, fmt.Errorf("client: bind refused: %s", st)
				}
				var j jid.JID
				if rb := st.Child(nsBind, "bind"); rb != nil {
					if je := rb.Child(nsBind, "jid"); je != nil {
						j, err = jid.Parse(je.Text())
						if err != nil {
							return 0, nil, fmt.Errorf("client: bad bound JID: %w", err)
						}
					}
				}
				if j.Resourcepart() == "" {
					return 0, nil, errors.New("client: bind result without a full JID")
				}
				s.UpdateAddr(j)
				return xmpp.Ready, nil, nil
			}
			return 0, nil, errors.New("client: no bind result")
		},
	}
}

// JID returns the bound full JID.
func (c *Client) JID() jid.JID { return c.jid }

// Events returns the inbound stanzas. It is closed when the stream ends.
// The reader waits while the channel is full: keep draining it.
func (c *Client) Events() <-chan Event { return c.events }

// Done is closed when the stream has ended; Err then tells why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the stream ended (nil for a clean close), once Done is
// closed.
func (c *Client) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// SetSession makes s the e2e.Session for the peer (by bare JID): inbound
// stanzas from the peer go through s.Receive, its replies are sent, and
// SendEncrypted uses s.Encrypt. A nil s removes it.
func (c *Client) SetSession(peer jid.JID, s e2e.Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s == nil {
		delete(c.sessions, peer.Bare().String())
		return
	}
	c.sessions[peer.Bare().String()] = s
}

func (c *Client) session(peer jid.JID) e2e.Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessions[peer.Bare().String()]
}

// Send writes st to the server as it is (the server stamps from).
func (c *Client) Send(ctx context.Context, st *e2e.Stanza) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.send(ctx, st)
}

func (c *Client) send(ctx context.Context, st *e2e.Stanza) error {
	if st.ID == "" && st.Kind != e2e.Presence {
		st = st.Clone()
		st.ID = c.nextID()
	}
	if err := c.sess.Send(ctx, st.TokenReader()); err != nil {
		return fmt.Errorf("client: send: %w", err)
	}
	return nil
}

// SendAll writes the stanzas in order, with no other send between them.
func (c *Client) SendAll(ctx context.Context, sts []*e2e.Stanza) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for _, st := range sts {
		if err := c.send(ctx, st); err != nil {
			return err
		}
	}
	return nil
}

// SendEncrypted passes st through the e2e.Session set for st.To and sends
// what Encrypt returns, in order. With no session for st.To it fails with
// e2e.ErrNoKey and sends nothing.
func (c *Client) SendEncrypted(ctx context.Context, st *e2e.Stanza) error {
	return c.protect(ctx, st, e2e.Session.Encrypt)
}

// SendSigned is SendEncrypted with Session.Sign.
func (c *Client) SendSigned(ctx context.Context, st *e2e.Stanza) error {
	return c.protect(ctx, st, e2e.Session.Sign)
}

func (c *Client) protect(ctx context.Context, st *e2e.Stanza, op func(e2e.Session, context.Context, *e2e.Stanza) ([]*e2e.Stanza, error)) error {
	s := c.session(st.To)
	if s == nil {
		return fmt.Errorf("client: no session for %s: %w", st.To, e2e.ErrNoKey)
	}
	st = st.Clone()
	if st.From.Equal(jid.JID{}) {
		st.From = c.jid
	}
	if st.ID == "" && st.Kind != e2e.Presence {
		st.ID = c.nextID()
	}
	// Hold the write lock across the session call so that the wire order is
	// the session's order.
	c.wmu.Lock()
	defer c.wmu.Unlock()
	out, err := op(s, ctx, st)
	if err != nil {
		return err
	}
	for _, o := range out {
		if err := c.send(ctx, o); err != nil {
			return err
		}
	}
	return nil
}

// Request sends an IQ get or set and waits for its result or error.
func (c *Client) Request(ctx context.Context, iq *e2e.Stanza) (*e2e.Stanza, error) {
	iq = iq.Clone()
	if iq.ID == "" {
		iq.ID = c.nextID()
	}
	ch := make(chan *e2e.Stanza, 1)
	c.mu.Lock()
	c.pending[iq.ID] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, iq.ID)
		c.mu.Unlock()
	}()
	if err := c.Send(ctx, iq); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		if r.Type == "error" {
			return r, fmt.Errorf("client: IQ %s failed: %s", iq.ID, r)
		}
		return r, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.done:
		return nil, errors.New("client: stream closed")
	}
}

// EnableCarbons turns on message carbons (XEP-0280) for this session.
func (c *Client) EnableCarbons(ctx context.Context) error {
	_, err := c.Request(ctx, &e2e.Stanza{Kind: e2e.IQ, Type: "set",
		Children: []*e2e.Element{e2e.NewElement("urn:xmpp:carbons:2", "enable", "")}})
	return err
}

func (c *Client) nextID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	return c.jid.Resourcepart() + "-" + strconv.Itoa(c.seq)
}

// readLoop reads stanzas until the stream ends (mellium's Serve is not
// used: it answers every IQ itself).
func (c *Client) readLoop() {
	defer close(c.events)
	defer close(c.done)
	r := c.sess.TokenReader()
	defer r.Close()
	for {
		tok, err := r.Token()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				c.err = err
			}
			return
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		st, err := e2e.ReadStanza(start.Copy(), r)
		if err != nil {
			c.err = err
			return
		}
		c.dispatch(st)
	}
}

func (c *Client) dispatch(st *e2e.Stanza) {
	if st.Kind == e2e.IQ && (st.Type == "result" || st.Type == "error") {
		c.mu.Lock()
		ch := c.pending[st.ID]
		c.mu.Unlock()
		if ch != nil {
			ch <- st
			return
		}
	}
	// IQ errors go to the session like IQ results: they answer its own IQs
	// (an XTLS bytestream chunk, a JOSE key request). Bounced messages and
	// presence errors do not.
	s := c.session(st.From)
	if s == nil || (st.Type == "error" && st.Kind != e2e.IQ) || (st.Kind == e2e.Presence && !hasExtension(st)) {
		c.events <- Event{Wire: st}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := s.Receive(ctx, st)
	ev := Event{Wire: st, Session: true, Err: err}
	if err == nil {
		ev.Opened = got.Opened
	}
	// Replies go out even with an error: an IQ error or a session-terminate
	// the peer must get.
	if len(got.Replies) > 0 {
		if serr := c.SendAll(ctx, got.Replies); serr != nil && ev.Err == nil {
			ev.Err = serr
		}
	}
	c.events <- ev
}

// hasExtension reports whether a presence carries an element outside the
// jabber:client namespace (what a scheme could have protected).
func hasExtension(st *e2e.Stanza) bool {
	for _, ch := range st.Children {
		if ch.Name.Space != e2e.NSClient && ch.Name.Space != "" {
			return true
		}
	}
	return false
}

// Close sends unavailable presence, closes the stream, waits up to a second
// for the server's close and closes the connection: the client goes
// offline. Log in again to come back online.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c.Send(ctx, &e2e.Stanza{Kind: e2e.Presence, Type: "unavailable"})
	c.sess.SetCloseDeadline(time.Now().Add(time.Second))
	err := c.sess.Close()
	t := time.NewTimer(time.Second)
	defer t.Stop()
	// Drain events so the reader can reach the stream end.
	for done := false; !done; {
		select {
		case <-c.done:
			done = true
		case _, ok := <-c.events:
			if !ok {
				<-c.done
				done = true
			}
		case <-t.C:
			done = true
		}
	}
	if cerr := c.conn.Close(); err == nil && !errors.Is(cerr, net.ErrClosed) {
		err = cerr
	}
	return err
}
