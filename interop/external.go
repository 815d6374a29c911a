package interop

import (
	"bufio"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/interop/client"
	"mellium.im/xmpp/jid"
)

// External describes an XMPP deployment the harness does not control: its
// c2s address and the accounts of juliet, romeo and (optionally) mercutio.
// Only the scenarios without a malicious server run against it.
type External struct {
	Addr     string
	Accounts map[string]ExternalAccount // by party: "juliet", "romeo", "mercutio"
	RootCAs  *x509.CertPool
}

// An ExternalAccount is one login on the external server.
type ExternalAccount struct {
	JID      jid.JID
	Password string
}

// LoadExternal reads an accounts file: one "PARTY JID PASSWORD" line per
// account (PARTY is juliet, romeo or mercutio) and "ca PEMFILE" for the
// trust anchors of the server certificate (the system roots otherwise).
// Blank lines and lines starting with # are ignored.
func LoadExternal(addr, file string) (*External, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	x := &External{Addr: addr, Accounts: map[string]ExternalAccount{}}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Fields(line)
		switch {
		case len(fs) == 2 && fs[0] == "ca":
			pem, err := os.ReadFile(fs[1])
			if err != nil {
				return nil, err
			}
			if x.RootCAs == nil {
				x.RootCAs = x509.NewCertPool()
			}
			if !x.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%s:%d: no certificate in %s", file, n, fs[1])
			}
		case len(fs) == 3 && (fs[0] == "juliet" || fs[0] == "romeo" || fs[0] == "mercutio"):
			j, err := jid.Parse(fs[1])
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", file, n, err)
			}
			x.Accounts[fs[0]] = ExternalAccount{JID: j.Bare(), Password: fs[2]}
		default:
			return nil, fmt.Errorf("%s:%d: want \"juliet|romeo|mercutio JID PASSWORD\" or \"ca PEMFILE\"", file, n)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, p := range []string{"juliet", "romeo"} {
		if _, ok := x.Accounts[p]; !ok {
			return nil, fmt.Errorf("%s: no account for %s", file, p)
		}
	}
	return x, nil
}

// Addresses returns the parties' full JIDs on the external server.
func (x *External) Addresses() Addresses {
	res := func(b jid.JID, r string) jid.JID {
		j, _ := jid.New(b.Localpart(), b.Domainpart(), r)
		return j
	}
	j, r := x.Accounts["juliet"].JID, x.Accounts["romeo"].JID
	m, ok := x.Accounts["mercutio"]
	if !ok {
		m.JID, _ = jid.New("mercutio", j.Domainpart(), "")
	}
	return Addresses{Juliet: res(j, "balcony"), Juliet2: res(j, "chamber"), Romeo: res(r, "orchard"),
		Romeo2: res(r, "garden"), Mercutio: res(m.JID, "tomb")}
}

// Open returns a Network over the external server (Options.NewNetwork).
func (x *External) Open(ctx context.Context) (Network, error) {
	return &externalNet{x: x, quiet: 150 * time.Millisecond}, nil
}

// externalNet has no wiretap and no malicious server: Settle waits for a
// quiet spell on every device.
type externalNet struct {
	x     *External
	quiet time.Duration

	mu       sync.Mutex
	devices  []*realDevice
	lastSend time.Time
}

func (n *externalNet) Login(ctx context.Context, addr jid.JID, opt LoginOptions) (Device, error) {
	var acc *ExternalAccount
	for _, a := range n.x.Accounts {
		if a.JID.Equal(addr.Bare()) {
			a := a
			acc = &a
		}
	}
	if acc == nil {
		return nil, fmt.Errorf("interop: no external account for %s", addr.Bare())
	}
	c, err := client.Login(ctx, client.Config{JID: addr, Password: acc.Password, Addr: n.x.Addr, RootCAs: n.x.RootCAs})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNetwork, err)
	}
	d := &realDevice{c: c, addr: c.JID(), arrived: map[*e2e.Stanza]time.Time{}}
	if opt.Carbons {
		if err := c.EnableCarbons(ctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("%w: enable carbons: %v", errNetwork, err)
		}
	}
	go d.read()
	n.mu.Lock()
	n.devices = append(n.devices, d)
	n.mu.Unlock()
	return &sendTimer{realDevice: d, n: n}, nil
}

// sendTimer notes the time of every send for Settle.
type sendTimer struct {
	*realDevice
	n *externalNet
}

func (s *sendTimer) Send(ctx context.Context, st *e2e.Stanza) error {
	s.n.mu.Lock()
	s.n.lastSend = time.Now()
	s.n.mu.Unlock()
	return s.realDevice.Send(ctx, st)
}

func (n *externalNet) SetHook(Hook) {}

func (n *externalNet) Inject(context.Context, *e2e.Stanza) error {
	return errors.New("interop: an external server cannot be made malicious")
}

// Settle waits until no device has received anything, and nothing was
// sent, for the quiet spell.
func (n *externalNet) Settle(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	last, since := int64(-1), time.Now()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n.mu.Lock()
		var got int64
		for _, d := range n.devices {
			got += d.got.Load()
		}
		ls := n.lastSend
		n.mu.Unlock()
		now := time.Now()
		if got != last {
			last, since = got, now
		}
		if now.Sub(since) >= n.quiet && now.Sub(ls) >= n.quiet {
			return nil
		}
		if now.After(deadline) {
			return fmt.Errorf("%w: no quiet spell in 30s", errNetwork)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (n *externalNet) Wiretap() []Record { return nil }
func (n *externalNet) Malicious() string { return "" }

func (n *externalNet) Close() error {
	n.mu.Lock()
	devs := n.devices
	n.devices = nil
	n.mu.Unlock()
	for _, d := range devs {
		d.Close(context.Background())
	}
	return nil
}
