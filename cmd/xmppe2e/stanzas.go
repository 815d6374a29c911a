package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/xmpp/jid"
)

var schemesCmd = &command{
	name:    "schemes",
	summary: "List the schemes, one line each: name, specification, claimed properties.",
	flags: func(fs *flag.FlagSet, e *env) func() error {
		return func() error {
			if len(e.args) > 0 {
				return usagef("unexpected arguments %q", e.args)
			}
			for _, s := range e.schemes {
				fmt.Fprintf(e.stdout, "%s\t%s\t%s\n", s.Name(), s.Spec(), s.Claims())
			}
			return nil
		}
	},
}

var keygenCmd = &command{
	name:    "keygen",
	args:    "--scheme S --jid JID --out PREFIX",
	summary: "Generate an identity: PREFIX.key (private, mode 0600) and PREFIX.pub, in the scheme's own key formats.",
	flags: func(fs *flag.FlagSet, e *env) func() error {
		name := fs.String("scheme", "", "the scheme `NAME` (see 'xmppe2e schemes')")
		addr := fs.String("jid", "", "the bare `JID` the identity is for")
		out := fs.String("out", "", "the `PREFIX` of the two files written (neither may exist)")
		return func() error {
			s, err := e.scheme(*name)
			if err != nil {
				return err
			}
			if *addr == "" || *out == "" {
				return usagef("--jid and --out are required")
			}
			j, err := jid.Parse(*addr)
			if err != nil {
				return usagef("--jid: %v", err)
			}
			id, err := s.GenerateIdentity(e.ctx, j.Bare(), nil)
			if err != nil {
				return err
			}
			priv, err := id.Marshal()
			if err != nil {
				return err
			}
			pub, err := id.Public().Marshal()
			if err != nil {
				return err
			}
			// Never overwrite a key: check both names before writing either.
			for _, name := range []string{*out + ".key", *out + ".pub"} {
				if _, err := os.Lstat(name); err == nil {
					return fmt.Errorf("%s exists: remove it or choose another --out", name)
				}
			}
			if err := writeNew(*out+".key", priv, 0o600); err != nil {
				return err
			}
			if err := writeNew(*out+".pub", pub, 0o644); err != nil {
				os.Remove(*out + ".key")
				return err
			}
			fmt.Fprintf(e.stderr, "xmppe2e keygen: %s identity for %s, fingerprint %s\n", s.Name(), j.Bare(), id.Public().Fingerprint())
			return nil
		}
	},
}

var encryptCmd = &command{
	name:    "encrypt",
	args:    "--scheme S --key MY.key --to PEER.pub [--to PEER2.pub] [--sign] < stanza.xml > wire.xml",
	summary: "Encrypt the stanza on standard input for the peers and write the wire stanzas.",
	flags: func(fs *flag.FlagSet, e *env) func() error {
		c := e.common(fs, true)
		c.outbound = true
		var to files
		fs.Var(&to, "to", "a recipient's public key `FILE` (repeat for more)")
		sign := fs.Bool("sign", false, "also sign what is encrypted, where the scheme can")
		return func() error {
			if len(to) == 0 {
				return usagef("--to is required")
			}
			sess, st, err := c.open(func(cfg *e2e.Config) error {
				cfg.Sign = *sign
				return c.addPeers(cfg, to)
			})
			if err != nil {
				return err
			}
			if c.s.Claims()[e2e.AsyncDelivery] == e2e.Fails {
				return fmt.Errorf("%s needs a live exchange with the peer (a handshake) and cannot encrypt to a file; the harness runs it: xmppe2e compare", c.s.Name())
			}
			wire, err := sess.Encrypt(e.ctx, st)
			if err != nil {
				return err
			}
			return writeStanzas(e.stdout, wire)
		}
	},
}

var decryptCmd = &command{
	name:    "decrypt",
	args:    "--scheme S --key MY.key [--from PEER.pub] < wire.xml > opened.xml",
	summary: "Decrypt the wire stanza on standard input and write the opened stanza; with --from, a signature on it must be that peer's.",
	flags: func(fs *flag.FlagSet, e *env) func() error {
		c := e.common(fs, true)
		from := fs.String("from", "", "the sender's public key `FILE`")
		return func() error {
			sess, st, err := c.open(func(cfg *e2e.Config) error {
				if *from != "" {
					return c.addPeers(cfg, files{*from})
				}
				return nil
			})
			if err != nil {
				return err
			}
			got, err := sess.Receive(e.ctx, st)
			if err != nil {
				return err
			}
			for _, o := range got.Opened {
				if !o.Encrypted {
					return fmt.Errorf("%w: the stanza was not encrypted (for a signed stanza: xmppe2e verify)", e2e.ErrNotEncrypted)
				}
			}
			if err := c.opened(got, false); err != nil {
				return err
			}
			return writeStanzas(e.stdout, got.Stanzas())
		}
	},
}

var signCmd = &command{
	name:    "sign",
	args:    "--scheme S --key MY.key < stanza.xml > wire.xml",
	summary: "Sign the stanza on standard input and write the signed wire stanza.",
	flags: func(fs *flag.FlagSet, e *env) func() error {
		c := e.common(fs, true)
		c.outbound = true
		return func() error {
			sess, st, err := c.open(nil)
			if err != nil {
				return err
			}
			wire, err := sess.Sign(e.ctx, st)
			if err != nil {
				return err
			}
			return writeStanzas(e.stdout, wire)
		}
	},
}

var verifyCmd = &command{
	name:    "verify",
	args:    "--scheme S --from PEER.pub < wire.xml > opened.xml",
	summary: "Verify that the signed stanza on standard input is the peer's, and write it without the signature.",
	flags: func(fs *flag.FlagSet, e *env) func() error {
		c := e.common(fs, false)
		from := fs.String("from", "", "the signer's public key or certificate bundle `FILE`")
		return func() error {
			if *from == "" {
				return usagef("--from is required")
			}
			sess, st, err := c.open(func(cfg *e2e.Config) error { return c.addPeers(cfg, files{*from}) })
			if err != nil {
				return err
			}
			got, err := sess.Receive(e.ctx, st)
			if err != nil {
				return err
			}
			if err := c.opened(got, true); err != nil {
				return err
			}
			return writeStanzas(e.stdout, got.Stanzas())
		}
	},
}

// files is a repeatable flag of file names.
type files []string

func (f *files) String() string     { return strings.Join(*f, ",") }
func (f *files) Set(v string) error { *f = append(*f, v); return nil }

// crypto holds the flags the stanza commands share and what they load.
type crypto struct {
	e      *env
	scheme *string
	key    *string
	now    *string
	s      e2e.Scheme
	peers  []e2e.Peer
	// outbound: the stanza on standard input is ours to protect (encrypt,
	// sign), so its from must be the key's JID.
	outbound bool
}

func (e *env) common(fs *flag.FlagSet, withKey bool) *crypto {
	c := &crypto{e: e}
	c.scheme = fs.String("scheme", "", "the scheme `NAME` (see 'xmppe2e schemes')")
	if withKey {
		c.key = fs.String("key", "", "my private identity `FILE`")
	}
	c.now = fs.String("now", "", "the `TIME` for timestamp checks, RFC 3339 (default $XMPPE2E_NOW, else the system clock)")
	return c
}

// open loads the scheme, the key and the stanza on standard input, lets
// configure add to the session's configuration, and opens the session.
func (c *crypto) open(configure func(*e2e.Config) error) (e2e.Session, *e2e.Stanza, error) {
	s, err := c.e.scheme(*c.scheme)
	if err != nil {
		return nil, nil, err
	}
	c.s = s
	if len(c.e.args) > 0 {
		return nil, nil, usagef("unexpected arguments %q (the stanza comes on standard input)", c.e.args)
	}
	var cfg e2e.Config
	if c.key != nil {
		if *c.key == "" {
			return nil, nil, usagef("--key is required")
		}
		b, err := os.ReadFile(*c.key)
		if err != nil {
			return nil, nil, err
		}
		if cfg.Local, err = s.ParseIdentity(b); err != nil {
			return nil, nil, fmt.Errorf("reading %s: %w", *c.key, err)
		}
	}
	now := *c.now
	if now == "" {
		now = c.e.getenv("XMPPE2E_NOW")
	}
	if now != "" {
		t, err := time.Parse(time.RFC3339, now)
		if err != nil {
			return nil, nil, usagef("--now/XMPPE2E_NOW: %q is not an RFC 3339 time such as 2026-03-14T15:09:26Z", now)
		}
		cfg.Clock = func() time.Time { return t }
	}
	if configure != nil {
		if err := configure(&cfg); err != nil {
			return nil, nil, err
		}
	}
	in, err := io.ReadAll(io.LimitReader(c.e.stdin, e2e.MaxStanzaSize+1))
	if err != nil {
		return nil, nil, err
	}
	if len(bytes.TrimSpace(in)) == 0 {
		return nil, nil, errors.New("no stanza on standard input")
	}
	st, err := e2e.Parse(in)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the stanza: %w", err)
	}
	if c.outbound && cfg.Local != nil && !st.From.Equal(jid.JID{}) && !cfg.Local.JID().Equal(jid.JID{}) &&
		!st.From.Bare().Equal(cfg.Local.JID()) {
		return nil, nil, fmt.Errorf("the stanza is from %s, but %s is the key of %s", st.From, *c.key, cfg.Local.JID())
	}
	// The local address: the sender's for outbound stanzas, the recipient's
	// for inbound ones; the identity's bare JID when the stanza names none.
	switch {
	case c.key == nil:
		cfg.JID = st.To
	case cfg.Local != nil && (st.From.Equal(jid.JID{}) || st.From.Bare().Equal(cfg.Local.JID())):
		cfg.JID = st.From
		if cfg.JID.Equal(jid.JID{}) {
			cfg.JID = cfg.Local.JID()
		}
	default:
		cfg.JID = st.To
	}
	sess, err := s.NewSession(cfg)
	if err != nil {
		return nil, nil, err
	}
	return sess, st, nil
}

func (c *crypto) addPeers(cfg *e2e.Config, names files) error {
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return err
		}
		p, err := c.s.ParsePeer(b)
		if err != nil {
			return fmt.Errorf("reading %s: %w", n, err)
		}
		cfg.Peers = append(cfg.Peers, p)
		c.peers = append(c.peers, p)
	}
	return nil
}

// opened checks what Receive opened: something must have opened, and a
// signer must be one of the peers given (required when mustSign).
func (c *crypto) opened(got e2e.Received, mustSign bool) error {
	if len(got.Opened) == 0 {
		return fmt.Errorf("nothing opened: %s answered with %d protocol stanza(s) (a handshake or key request) that only a live session with the sender can complete", c.s.Name(), len(got.Replies))
	}
	for _, o := range got.Opened {
		if o.Signer == nil {
			if mustSign {
				return fmt.Errorf("%w: the stanza is not signed", e2e.ErrBadSignature)
			}
			continue
		}
		if len(c.peers) > 0 && !c.known(o) {
			return fmt.Errorf("%w: signed by %s, not by the key given", e2e.ErrBadSignature, o.Signer.Fingerprint())
		}
		fmt.Fprintf(c.e.stderr, "xmppe2e: good signature from %s, fingerprint %s\n", o.Signer.JID(), o.Signer.Fingerprint())
	}
	return nil
}

// known reports whether the signer is one of the keys given, or, when a key
// given names no JID (a certificate authority), whether the session trusted
// the signer through it.
func (c *crypto) known(o e2e.Opened) bool {
	for _, q := range c.peers {
		if q.Fingerprint() == o.Signer.Fingerprint() {
			return true
		}
		if o.Trusted && q.JID().Equal(jid.JID{}) {
			return true
		}
	}
	return false
}

func (e *env) scheme(name string) (e2e.Scheme, error) {
	var names []string
	for _, s := range e.schemes {
		if s.Name() == name {
			return s, nil
		}
		names = append(names, s.Name())
	}
	if name == "" {
		return nil, usagef("--scheme is required (one of: %s)", strings.Join(names, ", "))
	}
	return nil, usagef("unknown scheme %q (have: %s)", name, strings.Join(names, ", "))
}

// writeNew writes a file that must not exist yet.
func writeNew(name string, b []byte, perm os.FileMode) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(name)
		return err
	}
	return f.Close()
}

func writeStanzas(w io.Writer, sts []*e2e.Stanza) error {
	if len(sts) == 0 {
		return errors.New("the scheme produced no stanza")
	}
	var b bytes.Buffer
	for _, st := range sts {
		b.Write(st.Bytes())
		b.WriteByte('\n')
	}
	_, err := w.Write(b.Bytes())
	return err
}
