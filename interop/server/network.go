package server

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sort"

	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/xmpp/jid"
)

// The two domains and three accounts of the test network.
const (
	Capulet  = "capulet.lit"
	Montague = "montague.lit"
)

// An Account is what a client needs to log in to the test network.
type Account struct {
	JID      jid.JID // the bare JID, such as juliet@capulet.lit
	Password string
	Addr     string         // the c2s address of the account's server (host:port)
	RootCAs  *x509.CertPool // trust anchors for the server certificate
}

// NetworkConfig tunes StartNetwork. The zero value is the standard network.
type NetworkConfig struct {
	// Dialback makes the s2s links authenticate with Server Dialback
	// (XEP-0220) instead of SASL EXTERNAL.
	Dialback bool
	// Log receives one line per connection event; nil discards.
	Log func(format string, args ...any)
	// Iterations is the PBKDF2 iteration count of the accounts' SCRAM
	// credentials (4096 when 0).
	Iterations int
	// NoWiretap turns recording off (benchmarks).
	NoWiretap bool
}

// A Network is two federated servers on loopback: capulet.lit with juliet
// and mercutio, montague.lit with romeo, all mutually subscribed, with
// certificates from a fresh test CA.
type Network struct {
	CA       *CA
	Capulet  *Server
	Montague *Server
	accounts map[string]Account
}

// StartNetwork starts the test network on 127.0.0.1 (ephemeral ports).
// Close it when done.
func StartNetwork(ctx context.Context, cfg NetworkConfig) (*Network, error) {
	ca, err := NewCA()
	if err != nil {
		return nil, err
	}
	n := &Network{CA: ca, accounts: map[string]Account{}}
	mk := func(domain string) (*Server, net.Addr, net.Addr, error) {
		cert, err := ca.Issue(domain, nil)
		if err != nil {
			return nil, nil, nil, err
		}
		s, err := New(Config{
			Domain: domain, Certificate: cert, RootCAs: ca.Pool(),
			DisableExternal: cfg.Dialback, Log: cfg.Log, NoWiretap: cfg.NoWiretap,
		})
		if err != nil {
			return nil, nil, nil, err
		}
		c2sAddr, err := s.ListenC2S("127.0.0.1:0")
		if err != nil {
			s.Close()
			return nil, nil, nil, err
		}
		s2sAddr, err := s.ListenS2S("127.0.0.1:0")
		if err != nil {
			s.Close()
			return nil, nil, nil, err
		}
		return s, c2sAddr, s2sAddr, nil
	}
	var cAddr, mAddr, cS2S, mS2S net.Addr
	if n.Capulet, cAddr, cS2S, err = mk(Capulet); err != nil {
		return nil, err
	}
	if n.Montague, mAddr, mS2S, err = mk(Montague); err != nil {
		n.Capulet.Close()
		return nil, err
	}
	n.Capulet.AddPeer(Montague, mS2S.String())
	n.Montague.AddPeer(Capulet, cS2S.String())
	users := []struct {
		srv        *Server
		addr       net.Addr
		local, pwd string
	}{
		{n.Capulet, cAddr, "juliet", "juliet-pass"},
		{n.Capulet, cAddr, "mercutio", "mercutio-pass"},
		{n.Montague, mAddr, "romeo", "romeo-pass"},
	}
	for _, u := range users {
		if err := ctx.Err(); err != nil {
			n.Close()
			return nil, err
		}
		if err := u.srv.AddUserIterations(u.local, u.pwd, cfg.Iterations); err != nil {
			n.Close()
			return nil, err
		}
		j := jid.MustParse(u.local + "@" + u.srv.Domain())
		n.accounts[u.local] = Account{JID: j, Password: u.pwd, Addr: u.addr.String(), RootCAs: ca.Pool()}
	}
	all := []string{"juliet@capulet.lit", "mercutio@capulet.lit", "romeo@montague.lit"}
	for _, a := range all {
		for _, b := range all {
			if a == b {
				continue
			}
			srv := n.Capulet
			if jid.MustParse(a).Domainpart() == Montague {
				srv = n.Montague
			}
			if err := srv.AddContact(a, b); err != nil {
				n.Close()
				return nil, err
			}
		}
	}
	return n, nil
}

// Account returns the account with the given localpart ("juliet",
// "mercutio" or "romeo").
func (n *Network) Account(local string) (Account, error) {
	a, ok := n.accounts[local]
	if !ok {
		return Account{}, fmt.Errorf("server: no account %q on the test network", local)
	}
	return a, nil
}

// Accounts returns every account, sorted by JID.
func (n *Network) Accounts() []Account {
	out := make([]Account, 0, len(n.accounts))
	for _, a := range n.accounts {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].JID.String() < out[j].JID.String() })
	return out
}

// Servers returns both servers.
func (n *Network) Servers() []*Server { return []*Server{n.Capulet, n.Montague} }

// Server returns the server of domain, or nil.
func (n *Network) Server(domain string) *Server {
	for _, s := range n.Servers() {
		if s.Domain() == domain {
			return s
		}
	}
	return nil
}

// Wiretap returns the records of both servers, in time order.
func (n *Network) Wiretap() []Record {
	out := append(n.Capulet.Wiretap(), n.Montague.Wiretap()...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// Path returns the path report of the stanza of the given kind and id.
func (n *Network) Path(kind e2e.Kind, id string) PathReport {
	return Path(kind, id, n.Servers()...)
}

// Close stops both servers.
func (n *Network) Close() error {
	var errs []error
	for _, s := range n.Servers() {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}
