package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/xmpp/jid"
)

// ConflictPolicy is what a server does when a client binds a resource that
// another session of the same account holds (RFC 6120 §7.7.2.2).
type ConflictPolicy int

const (
	// Override ends the older session with a <conflict/> stream error and
	// gives the resource to the new one (the default, as Prosody does).
	Override ConflictPolicy = iota
	// Rename gives the new session the resource with a random suffix.
	Rename
	// Refuse answers the bind request with a <conflict/> error.
	Refuse
)

// Config configures one server (one XMPP domain).
type Config struct {
	// Domain is the XMPP domain served, such as "capulet.lit".
	Domain string

	// Certificate is presented on c2s and inbound s2s streams and as the
	// client certificate on outbound s2s streams.
	Certificate tls.Certificate

	// RootCAs are the trust anchors for s2s peer certificates. A peer whose
	// certificate verifies and names its domain (RFC 6125) authenticates
	// with SASL EXTERNAL; any other peer must use Server Dialback.
	RootCAs *x509.CertPool

	// Store keeps accounts and offline messages; a new MemStore when nil.
	Store Store

	// Roster maps a local bare JID to contacts (bare JIDs, local or remote)
	// with which it has a mutual ("both") subscription.
	Roster map[string][]string

	// Peers maps remote domains to the TCP address of their s2s listener
	// (loopback in tests: no DNS is ever used).
	Peers map[string]string

	// DialbackSecret is the XEP-0185 secret for dialback keys; random when
	// empty.
	DialbackSecret []byte

	// DisableExternal makes outbound s2s streams skip SASL EXTERNAL and
	// authenticate with dialback, and stops inbound streams offering it.
	DisableExternal bool

	// InsecureS2S accepts outbound s2s peers whose certificate does not
	// verify (the stream is then authenticated by dialback only). The
	// certificate check result is still recorded.
	InsecureS2S bool

	// ResourceConflict is the resource conflict policy.
	ResourceConflict ConflictPolicy

	// MinTLSVersion is the lowest TLS version accepted (TLS 1.2 when 0).
	MinTLSVersion uint16

	// NoWiretap turns recording off (the serve command and benchmarks).
	NoWiretap bool
	// WiretapLimit caps the records kept (the newest are kept); 0 is
	// 1,000,000.
	WiretapLimit int

	// OfflineLimit caps the stored offline messages per account (1000 when
	// 0); beyond it messages bounce with service-unavailable.
	OfflineLimit int

	// Log receives one line per connection event; nil discards.
	Log func(format string, args ...any)

	// NegotiationTimeout bounds stream negotiation (20 s when 0).
	NegotiationTimeout time.Duration
}

// A Server is one XMPP server: c2s and s2s listeners, a routing table,
// presence, rosters, offline storage and a wiretap.
type Server struct {
	cfg    Config
	domain string
	store  Store
	secret []byte

	mu       sync.RWMutex
	accounts map[string]map[string]*c2s // localpart -> resource -> session
	roster   map[string]map[string]*rosterItem
	s2sOut   map[string]*s2sLink
	conns    map[net.Conn]struct{}

	tap wiretap

	hookMu sync.Mutex
	hooks  []*Interceptor

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	lns       []net.Listener
	closed    atomic.Bool
	connCount atomic.Int64
}

type rosterItem struct {
	sub string // none, to, from, both
	ask bool   // our subscription request is pending
	// pendingIn: the contact asked to subscribe and the user has not
	// answered; the request is delivered again at each login (RFC 6121
	// §3.1.3).
	pendingIn bool
}

// New makes a server for cfg. It listens nowhere until ServeC2S, ServeS2S,
// ListenC2S or ListenS2S.
func New(cfg Config) (*Server, error) {
	d, err := jid.Parse(cfg.Domain)
	if err != nil || d.Localpart() != "" || d.Resourcepart() != "" {
		return nil, fmt.Errorf("server: bad domain %q", cfg.Domain)
	}
	if len(cfg.Certificate.Certificate) == 0 {
		return nil, errors.New("server: no certificate")
	}
	s := &Server{
		cfg:      cfg,
		domain:   d.Domainpart(),
		store:    cfg.Store,
		accounts: map[string]map[string]*c2s{},
		roster:   map[string]map[string]*rosterItem{},
		s2sOut:   map[string]*s2sLink{},
		conns:    map[net.Conn]struct{}{},
		secret:   cfg.DialbackSecret,
	}
	if s.store == nil {
		s.store = NewMemStore()
	}
	if len(s.secret) == 0 {
		s.secret = []byte(randomID() + randomID())
	}
	s.tap.off = cfg.NoWiretap
	s.tap.limit = cfg.WiretapLimit
	if s.tap.limit == 0 {
		s.tap.limit = 1_000_000
	}
	if s.cfg.OfflineLimit == 0 {
		s.cfg.OfflineLimit = 1000
	}
	if s.cfg.NegotiationTimeout == 0 {
		s.cfg.NegotiationTimeout = 20 * time.Second
	}
	if s.cfg.MinTLSVersion == 0 {
		s.cfg.MinTLSVersion = tls.VersionTLS12
	}
	for user, contacts := range cfg.Roster {
		for _, c := range contacts {
			if err := s.AddContact(user, c); err != nil {
				return nil, err
			}
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Domain returns the served domain.
func (s *Server) Domain() string { return s.domain }

// Store returns the server's account and offline store.
func (s *Server) Store() Store { return s.store }

// AddUser creates or replaces an account, deriving its SCRAM credentials
// with 4096 PBKDF2 iterations.
func (s *Server) AddUser(localpart, password string) error {
	return s.AddUserIterations(localpart, password, 4096)
}

// AddUserIterations is AddUser with a chosen PBKDF2 iteration count (tests
// with thousands of accounts use fewer).
func (s *Server) AddUserIterations(localpart, password string, iterations int) error {
	l, err := normLocal(localpart, s.domain)
	if err != nil {
		return fmt.Errorf("server: bad localpart %q: %w", localpart, err)
	}
	c, err := NewCredentials(password, iterations)
	if err != nil {
		return err
	}
	return s.store.SetCredentials(l, c)
}

// AddContact gives the local user (a bare JID or localpart) a mutual
// subscription with contact (a bare JID). When the contact is local too,
// its roster gets the user.
func (s *Server) AddContact(user, contact string) error {
	u, err := s.localBare(user)
	if err != nil {
		return err
	}
	c, err := jid.Parse(contact)
	if err != nil {
		return fmt.Errorf("server: bad contact %q: %w", contact, err)
	}
	c = c.Bare()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setSub(u, c.String(), "both")
	if c.Domainpart() == s.domain {
		s.setSub(c, u.String(), "both")
	}
	return nil
}

func (s *Server) localBare(user string) (jid.JID, error) {
	if !strings.Contains(user, "@") {
		user += "@" + s.domain
	}
	u, err := jid.Parse(user)
	if err != nil || u.Domainpart() != s.domain || u.Localpart() == "" {
		return jid.JID{}, fmt.Errorf("server: %q is not a user of %s", user, s.domain)
	}
	return u.Bare(), nil
}

// setSub sets a roster item; s.mu must be held.
func (s *Server) setSub(user jid.JID, contact, sub string) {
	r := s.roster[user.Localpart()]
	if r == nil {
		r = map[string]*rosterItem{}
		s.roster[user.Localpart()] = r
	}
	it := r[contact]
	if it == nil {
		it = &rosterItem{}
		r[contact] = it
	}
	it.sub = sub
	it.ask = false
}

// subscription returns the local user's subscription state with contact.
func (s *Server) subscription(local, contact string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if it := s.roster[local][contact]; it != nil {
		return it.sub
	}
	return "none"
}

// contacts returns the local user's contacts whose subscription state is
// one of subs.
func (s *Server) contacts(local string, subs ...string) []jid.JID {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []jid.JID
	for c, it := range s.roster[local] {
		for _, x := range subs {
			if it.sub == x {
				if j, err := jid.Parse(c); err == nil {
					out = append(out, j)
				}
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// AddPeer maps a remote domain to the address of its s2s listener.
func (s *Server) AddPeer(domain, addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.Peers == nil {
		s.cfg.Peers = map[string]string{}
	}
	s.cfg.Peers[domain] = addr
}

func (s *Server) peerAddr(domain string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.cfg.Peers[domain]
	return a, ok
}

// ListenC2S listens for clients on addr (such as "127.0.0.1:0") and serves
// them until Close. It returns the bound address.
func (s *Server) ListenC2S(addr string) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s.serve(ln, s.handleC2S)
	return ln.Addr(), nil
}

// ListenS2S listens for remote servers on addr and serves them until Close.
func (s *Server) ListenS2S(addr string) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s.serve(ln, s.handleS2SIn)
	return ln.Addr(), nil
}

// ServeC2S serves clients on ln until Close. It does not block.
func (s *Server) ServeC2S(ln net.Listener) { s.serve(ln, s.handleC2S) }

// ServeS2S serves remote servers on ln until Close. It does not block.
func (s *Server) ServeS2S(ln net.Listener) { s.serve(ln, s.handleS2SIn) }

func (s *Server) serve(ln net.Listener, handle func(net.Conn)) {
	s.mu.Lock()
	s.lns = append(s.lns, ln)
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				if s.closed.Load() {
					return
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				return
			}
			if !s.track(c) {
				c.Close()
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer s.untrack(c)
				handle(c)
			}()
		}
	}()
}

func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	s.connCount.Add(1)
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conns[c]; ok {
		delete(s.conns, c)
		s.connCount.Add(-1)
	}
	c.Close()
}

// Conns returns the number of open connections (c2s and s2s, both ways).
func (s *Server) Conns() int { return int(s.connCount.Load()) }

// Close stops the listeners, ends every stream with </stream:stream>, closes
// the connections after at most a second, and waits for every goroutine.
func (s *Server) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.cancel()
	s.mu.Lock()
	for _, ln := range s.lns {
		ln.Close()
	}
	var sessions []*c2s
	for _, rs := range s.accounts {
		for _, c := range rs {
			sessions = append(sessions, c)
		}
	}
	links := make([]*s2sLink, 0, len(s.s2sOut))
	for _, l := range s.s2sOut {
		links = append(links, l)
	}
	conns := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range sessions {
		c.shutdown("system-shutdown")
	}
	for _, l := range links {
		l.close()
	}
	// Give peers a moment to close their side, then cut.
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		for _, c := range conns {
			c.Close()
		}
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		<-done
	}
	return nil
}

func (s *Server) logf(format string, args ...any) {
	if s.cfg.Log != nil {
		s.cfg.Log(s.domain+": "+format, args...)
	}
}

func (s *Server) tlsConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{s.cfg.Certificate},
		MinVersion:   s.cfg.MinTLSVersion,
	}
}

// record adds a wiretap record.
func (s *Server) record(hop Hop, peer string, raw []byte, st *e2e.Stanza, p Protection, action string) {
	if s.cfg.NoWiretap {
		return
	}
	s.tap.add(Record{Server: s.domain, Hop: hop, Peer: peer, Time: time.Now(), Raw: raw, Stanza: st, Protection: p, Action: action})
}
