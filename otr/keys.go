package otr

import (
	"bytes"
	"crypto/dsa"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"

	"github.com/coyim/otr3"
	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/xmpp/jid"
)

// Identity is a local OTR identity: one long-term DSA key bound to a bare
// JID. Its Marshal output is a libotr private key file (the format of
// Pidgin's and Profanity's otr.private_key), which ParseIdentity reads back.
type Identity struct {
	addr     jid.JID
	protocol string
	key      *otr3.DSAPrivateKey
}

var _ e2e.Identity = (*Identity)(nil)

// JID returns the bare JID the identity is bound to.
func (id *Identity) JID() jid.JID { return id.addr }

// Public returns the identity's public key as peers see it after the AKE.
func (id *Identity) Public() e2e.Peer { return id.peer() }

func (id *Identity) peer() *Peer {
	return newPeer(id.addr, &id.key.DSAPublicKey)
}

// Marshal writes the identity as a libotr private key file with one account
// (name = the bare JID, protocol "xmpp" unless the file it came from named
// another). Every number is written with an even count of hex digits, which
// libgcrypt requires (otr3's own exporter does not, see docs/otr.md).
func (id *Identity) Marshal() ([]byte, error) {
	return MarshalKeyFile([]KeyFileAccount{{Name: id.addr.String(), Protocol: id.protocol, Identity: id}})
}

// Key returns the otr3 private key of the identity.
func (id *Identity) Key() *otr3.DSAPrivateKey { return id.key }

// Peer is an OTR public key: the DSA key a peer proved it holds in the AKE,
// or a fingerprint pinned in advance (then only Fingerprint is known).
type Peer struct {
	addr jid.JID
	key  *otr3.DSAPublicKey // nil for a fingerprint-only peer
	fp   [20]byte
}

var _ e2e.Peer = (*Peer)(nil)

func newPeer(addr jid.JID, k *otr3.DSAPublicKey) *Peer {
	p := &Peer{addr: addr.Bare(), key: k}
	copy(p.fp[:], k.Fingerprint())
	return p
}

// JID returns the bare JID the key is bound to, zero when unknown.
func (p *Peer) JID() jid.JID { return p.addr }

// Fingerprint returns the OTR fingerprint (SHA-1 of the public key without
// its type field) the way libotr shows it: five groups of eight upper-case
// hex digits separated by spaces.
func (p *Peer) Fingerprint() string { return HumanFingerprint(p.fp[:]) }

// FingerprintBytes returns the 20 raw bytes of the fingerprint.
func (p *Peer) FingerprintBytes() []byte { return append([]byte(nil), p.fp[:]...) }

// PublicKey returns the OTR wire form of the key (PUBKEY: type 0 then the MPIs
// p, q, g, y), or nil for a fingerprint-only peer.
func (p *Peer) PublicKey() []byte {
	if p.key == nil {
		return nil
	}
	return otr3.AppendMPI(otr3.AppendMPI(otr3.AppendMPI(otr3.AppendMPI([]byte{0, 0},
		p.key.P), p.key.Q), p.key.G), p.key.Y)
}

// Marshal writes the peer as an XMPP URI with its fingerprint,
// xmpp:romeo@montague.lit?otr-fingerprint=<40 hex>, the informal form clients
// use to share OTR fingerprints. ParsePeer reads it back.
func (p *Peer) Marshal() ([]byte, error) {
	return []byte("xmpp:" + p.addr.String() + "?otr-fingerprint=" + hex.EncodeToString(p.fp[:])), nil
}

// HumanFingerprint formats a 20-byte fingerprint as libotr does.
func HumanFingerprint(fp []byte) string {
	h := strings.ToUpper(hex.EncodeToString(fp))
	var b strings.Builder
	for i := 0; i < len(h); i += 8 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(h[i:min(i+8, len(h))])
	}
	return b.String()
}

// parsePeer reads an XMPP fingerprint URI, a bare fingerprint (40 hex digits,
// spaces allowed) or the OTR wire form of a DSA public key.
func parsePeer(b []byte) (*Peer, error) {
	s := strings.TrimSpace(string(b))
	if rest, ok := strings.CutPrefix(s, "xmpp:"); ok {
		addr, fp, ok := strings.Cut(rest, "?otr-fingerprint=")
		if !ok {
			return nil, fmt.Errorf("otr: %w: XMPP URI without otr-fingerprint", e2e.ErrMalformed)
		}
		j, err := jid.Parse(addr)
		if err != nil && addr != "" {
			return nil, fmt.Errorf("otr: %w: bad JID in URI: %v", e2e.ErrMalformed, err)
		}
		p, err := fingerprintPeer(fp)
		if err != nil {
			return nil, err
		}
		p.addr = j.Bare()
		return p, nil
	}
	if p, err := fingerprintPeer(s); err == nil {
		return p, nil
	}
	k, ok := parsePublicKey(b)
	if !ok {
		return nil, fmt.Errorf("otr: %w: not a fingerprint, fingerprint URI or OTR public key", e2e.ErrMalformed)
	}
	return newPeer(jid.JID{}, k), nil
}

func fingerprintPeer(s string) (*Peer, error) {
	h := strings.NewReplacer(" ", "", ":", "").Replace(s)
	raw, err := hex.DecodeString(h)
	if err != nil || len(raw) != sha1.Size {
		return nil, fmt.Errorf("otr: %w: a fingerprint is 40 hex digits", e2e.ErrMalformed)
	}
	p := &Peer{}
	copy(p.fp[:], raw)
	return p, nil
}

// parsePublicKey reads an OTR PUBKEY and checks that it is a sane DSA key.
func parsePublicKey(b []byte) (k *otr3.DSAPublicKey, ok bool) {
	defer func() {
		if recover() != nil {
			k, ok = nil, false
		}
	}()
	k = &otr3.DSAPublicKey{}
	rest, ok := k.Parse(b)
	if !ok || len(rest) != 0 || checkDSAPublic(&k.PublicKey) != nil {
		return nil, false
	}
	return k, true
}

// checkDSAPublic rejects parameters no real OTR key has. OTR keys are DSA with
// a 1024-bit p and a 160-bit q in practice; we accept p up to 3072 bits.
func checkDSAPublic(k *dsa.PublicKey) error {
	one := big.NewInt(1)
	switch {
	case k.P == nil || k.Q == nil || k.G == nil || k.Y == nil:
		return fmt.Errorf("otr: %w: DSA key misses a parameter", e2e.ErrMalformed)
	case k.P.BitLen() < 1024 || k.P.BitLen() > 3072 || k.P.Bit(0) == 0:
		return fmt.Errorf("otr: %w: DSA p must be an odd number of 1024 to 3072 bits", e2e.ErrMalformed)
	case k.Q.BitLen() < 160 || k.Q.BitLen() > 256:
		return fmt.Errorf("otr: %w: DSA q must have 160 to 256 bits", e2e.ErrMalformed)
	case k.G.Cmp(one) <= 0 || k.G.Cmp(k.P) >= 0 || k.Y.Cmp(one) <= 0 || k.Y.Cmp(k.P) >= 0:
		return fmt.Errorf("otr: %w: DSA g or y out of range", e2e.ErrMalformed)
	}
	return nil
}

// KeyFileAccount is one account of a libotr private key file.
type KeyFileAccount struct {
	Name     string // account name: a JID for XMPP (Pidgin adds a resource)
	Protocol string // "xmpp" (Profanity and most libotr programs), "prpl-jabber" (Pidgin)
	Identity *Identity
}

// MarshalKeyFile writes accounts as a libotr private key file
// ("(privkeys (account (name ...) (protocol ...) (private-key (dsa (p #..#) ...)))))").
// Every number has an even number of hex digits: libgcrypt rejects odd ones,
// which otr3.ExportKeysToFile writes for about one key in four.
func MarshalKeyFile(accounts []KeyFileAccount) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("(privkeys\n")
	for _, a := range accounts {
		if a.Identity == nil || a.Identity.key == nil {
			return nil, fmt.Errorf("otr: %w: account %q has no key", e2e.ErrNoKey, a.Name)
		}
		proto := a.Protocol
		if proto == "" {
			proto = "xmpp"
		}
		if strings.ContainsAny(proto, " ()\"#|\n\t") || proto == "" {
			return nil, fmt.Errorf("otr: %w: protocol %q is not an S-expression token", e2e.ErrMalformed, proto)
		}
		k := &a.Identity.key.PrivateKey
		fmt.Fprintf(&b, " (account\n  (name %s)\n  (protocol %s)\n  (private-key\n   (dsa\n", quoteSexp(a.Name), proto)
		for _, p := range []struct {
			n string
			v *big.Int
		}{{"p", k.P}, {"q", k.Q}, {"g", k.G}, {"y", k.Y}, {"x", k.X}} {
			fmt.Fprintf(&b, "    (%s #%s#)\n", p.n, evenHex(p.v))
		}
		b.WriteString("    )\n   )\n  )\n")
	}
	b.WriteString(" )\n")
	return b.Bytes(), nil
}

// evenHex writes v in upper-case hex with an even number of digits, and a
// leading 00 when the top bit is set, as libgcrypt writes unsigned MPIs.
func evenHex(v *big.Int) string {
	raw := v.Bytes()
	if len(raw) == 0 || raw[0]&0x80 != 0 {
		raw = append([]byte{0}, raw...)
	}
	return strings.ToUpper(hex.EncodeToString(raw))
}

func quoteSexp(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		if r == '"' || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

// ParseKeyFile reads every account of a libotr private key file. It accepts
// what libotr, Pidgin, Profanity and otr3 write, including hex numbers with an
// odd digit count, and checks each key (y = g^x mod p).
func ParseKeyFile(b []byte) ([]KeyFileAccount, error) {
	if len(b) > 1<<20 {
		return nil, fmt.Errorf("otr: %w: key file larger than 1 MiB", e2e.ErrMalformed)
	}
	root, err := parseSexp(b)
	if err != nil {
		return nil, err
	}
	if root.sym(0) != "privkeys" {
		return nil, fmt.Errorf("otr: %w: not a libotr private key file (no privkeys list)", e2e.ErrMalformed)
	}
	var out []KeyFileAccount
	for _, acct := range root.list[1:] {
		if acct.sym(0) != "account" {
			return nil, fmt.Errorf("otr: %w: expected (account ...)", e2e.ErrMalformed)
		}
		a := KeyFileAccount{Name: acct.field("name").sym(1), Protocol: acct.field("protocol").sym(1)}
		dsaList := acct.field("private-key").field("dsa")
		if dsaList == nil {
			return nil, fmt.Errorf("otr: %w: account %q has no DSA private key", e2e.ErrMalformed, a.Name)
		}
		var k otr3.DSAPrivateKey
		for _, p := range []struct {
			n string
			v **big.Int
		}{{"p", &k.PrivateKey.P}, {"q", &k.PrivateKey.Q}, {"g", &k.PrivateKey.G}, {"y", &k.PrivateKey.Y}, {"x", &k.PrivateKey.X}} {
			f := dsaList.field(p.n)
			if f == nil || len(f.list) != 2 || f.list[1].num == nil {
				return nil, fmt.Errorf("otr: %w: DSA parameter %s missing", e2e.ErrMalformed, p.n)
			}
			*p.v = f.list[1].num
		}
		if err := checkDSAPublic(&k.PrivateKey.PublicKey); err != nil {
			return nil, err
		}
		if k.PrivateKey.X.Sign() <= 0 || k.PrivateKey.X.Cmp(k.PrivateKey.Q) >= 0 ||
			new(big.Int).Exp(k.PrivateKey.G, k.PrivateKey.X, k.PrivateKey.P).Cmp(k.PrivateKey.Y) != 0 {
			return nil, fmt.Errorf("otr: %w: DSA private key of %q does not match its public key", e2e.ErrMalformed, a.Name)
		}
		k.DSAPublicKey.PublicKey = k.PrivateKey.PublicKey
		addr, err := jid.Parse(a.Name)
		if err != nil {
			addr = jid.JID{}
		}
		a.Identity = &Identity{addr: addr.Bare(), protocol: a.Protocol, key: &k}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("otr: %w: key file holds no account", e2e.ErrNoKey)
	}
	return out, nil
}

// sexp is a parsed S-expression: a list, a symbol or string, or a number.
type sexp struct {
	list  []*sexp
	atom  string
	num   *big.Int
	isLst bool
}

func (s *sexp) sym(i int) string {
	if s == nil || !s.isLst || i >= len(s.list) || s.list[i].isLst {
		return ""
	}
	return s.list[i].atom
}

// field returns the first sub-list whose head symbol is name.
func (s *sexp) field(name string) *sexp {
	if s == nil {
		return nil
	}
	for _, c := range s.list {
		if c.isLst && c.sym(0) == name {
			return c
		}
	}
	return nil
}

// parseSexp reads the advanced (textual) S-expression form libgcrypt writes:
// lists, bare tokens, "quoted strings" and #hex# numbers.
func parseSexp(b []byte) (*sexp, error) {
	p := &sexpParser{b: b}
	p.space()
	s, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.b) {
		return nil, fmt.Errorf("otr: %w: trailing data after the key file's S-expression", e2e.ErrMalformed)
	}
	if !s.isLst {
		return nil, fmt.Errorf("otr: %w: key file is not a list", e2e.ErrMalformed)
	}
	return s, nil
}

type sexpParser struct {
	b []byte
	i int
}

func (p *sexpParser) space() {
	for p.i < len(p.b) && strings.IndexByte(" \t\r\n", p.b[p.i]) >= 0 {
		p.i++
	}
}

func (p *sexpParser) value(depth int) (*sexp, error) {
	bad := func(what string) error {
		return fmt.Errorf("otr: %w: key file: %s at byte %d", e2e.ErrMalformed, what, p.i)
	}
	if depth > 16 {
		return nil, bad("nesting too deep")
	}
	if p.i >= len(p.b) {
		return nil, bad("unexpected end")
	}
	switch c := p.b[p.i]; {
	case c == '(':
		p.i++
		s := &sexp{isLst: true}
		for {
			p.space()
			if p.i >= len(p.b) {
				return nil, bad("unclosed list")
			}
			if p.b[p.i] == ')' {
				p.i++
				return s, nil
			}
			c, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			s.list = append(s.list, c)
		}
	case c == '#':
		end := bytes.IndexByte(p.b[p.i+1:], '#')
		if end < 0 {
			return nil, bad("unterminated #hex#")
		}
		h := string(p.b[p.i+1 : p.i+1+end])
		p.i += end + 2
		if len(h)%2 == 1 { // otr3's exporter writes odd-length hex; accept it
			h = "0" + h
		}
		raw, err := hex.DecodeString(h)
		if err != nil {
			return nil, bad("bad hex number")
		}
		return &sexp{num: new(big.Int).SetBytes(raw)}, nil
	case c == '"':
		var b strings.Builder
		for p.i++; p.i < len(p.b); p.i++ {
			switch p.b[p.i] {
			case '\\':
				p.i++
				if p.i < len(p.b) {
					b.WriteByte(p.b[p.i])
				}
			case '"':
				p.i++
				return &sexp{atom: b.String()}, nil
			default:
				b.WriteByte(p.b[p.i])
			}
		}
		return nil, bad("unterminated string")
	case c == ')':
		return nil, bad("unexpected )")
	default:
		start := p.i
		for p.i < len(p.b) && strings.IndexByte(" \t\r\n()\"#", p.b[p.i]) < 0 {
			p.i++
		}
		return &sexp{atom: string(p.b[start:p.i])}, nil
	}
}
