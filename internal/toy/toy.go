// Package toy is a small, sound, test-only end-to-end scheme: ephemeral
// X25519 to the recipient, AES-256-GCM over the whole stanza, an Ed25519
// signature by the sender over the ciphertext, and a cache of nonces against
// replays. It exists so that the conformance kit and the CLI can be tested
// without any real codec; its fault switches turn on the bugs the kit must
// catch. It is not a scheme to use.
package toy

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ed25519"
	cryptorand "crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/xmpp/jid"
)

// Scheme is the toy scheme. Its zero value is sound; each field switches on a
// fault.
type Scheme struct {
	LeakOnTamper    bool // skip the signature and the tag, and open whatever comes out
	AcceptReplays   bool // no replay cache, while still claiming replay protection
	ClaimNoReplay   bool // claim no replay protection, while rejecting replays
	DropSilently    bool // a failed stanza returns neither error nor anything else
	PanicOnBadInput bool // panic on a payload that does not decode
}

const toyNS = "urn:xmppe2e:toy"

// Name returns "toy".
func (s *Scheme) Name() string { return "toy" }

// Spec names the kit.
func (s *Scheme) Spec() string { return "e2etest toy" }

// Claims claims what a sound AEAD-plus-signature scheme gives.
func (s *Scheme) Claims() e2e.Properties {
	c := e2e.Properties{}
	for _, p := range e2e.AllProperties {
		c[p] = e2e.Fails
	}
	for _, p := range []e2e.Property{e2e.Confidentiality, e2e.Integrity, e2e.Authentication,
		e2e.ReplayProtection, e2e.WholeStanza, e2e.SignOnly, e2e.AsyncDelivery, e2e.PKIIndependence} {
		c[p] = e2e.Holds
	}
	if s.ClaimNoReplay {
		c[e2e.ReplayProtection] = e2e.Fails
	}
	return c
}

type toyID struct {
	addr jid.JID
	x    *ecdh.PrivateKey
	ed   ed25519.PrivateKey
}

type toyPeer struct {
	addr jid.JID
	x    *ecdh.PublicKey
	ed   ed25519.PublicKey
}

func (i *toyID) JID() jid.JID { return i.addr }
func (i *toyID) Public() e2e.Peer {
	return &toyPeer{i.addr, i.x.PublicKey(), i.ed.Public().(ed25519.PublicKey)}
}
func (i *toyID) Marshal() ([]byte, error) {
	return fmt.Appendf(nil, "toy-identity %s %x %x", i.addr, i.x.Bytes(), i.ed.Seed()), nil
}
func (p *toyPeer) JID() jid.JID { return p.addr }
func (p *toyPeer) Fingerprint() string {
	h := sha256.Sum256(append(p.x.Bytes(), p.ed...))
	return hex.EncodeToString(h[:8])
}
func (p *toyPeer) Marshal() ([]byte, error) {
	return fmt.Appendf(nil, "toy-peer %s %x %x", p.addr, p.x.Bytes(), []byte(p.ed)), nil
}

// GenerateIdentity derives the keys from 64 bytes of rand.
func (s *Scheme) GenerateIdentity(_ context.Context, addr jid.JID, rand io.Reader) (e2e.Identity, error) {
	if rand == nil {
		rand = cryptorand.Reader
	}
	var seed [64]byte
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, err
	}
	x, err := ecdh.X25519().NewPrivateKey(seed[:32])
	if err != nil {
		return nil, err
	}
	return &toyID{addr, x, ed25519.NewKeyFromSeed(seed[32:])}, nil
}

func parseFields(b []byte, kind string) (jid.JID, []byte, []byte, error) {
	f := strings.Fields(string(b))
	if len(f) != 4 || f[0] != kind {
		return jid.JID{}, nil, nil, fmt.Errorf("toy: %w: not a %s", e2e.ErrMalformed, kind)
	}
	addr, err := jid.Parse(f[1])
	a, err2 := hex.DecodeString(f[2])
	c, err3 := hex.DecodeString(f[3])
	if err != nil || err2 != nil || err3 != nil || len(a) != 32 || len(c) != 32 {
		return jid.JID{}, nil, nil, fmt.Errorf("toy: %w: bad %s", e2e.ErrMalformed, kind)
	}
	return addr, a, c, nil
}

// ParseIdentity reads what Identity.Marshal writes.
func (s *Scheme) ParseIdentity(b []byte) (e2e.Identity, error) {
	addr, x, ed, err := parseFields(b, "toy-identity")
	if err != nil {
		return nil, err
	}
	k, err := ecdh.X25519().NewPrivateKey(x)
	if err != nil {
		return nil, fmt.Errorf("toy: %w: %v", e2e.ErrMalformed, err)
	}
	return &toyID{addr, k, ed25519.NewKeyFromSeed(ed)}, nil
}

// ParsePeer reads what Peer.Marshal writes.
func (s *Scheme) ParsePeer(b []byte) (e2e.Peer, error) {
	addr, x, ed, err := parseFields(b, "toy-peer")
	if err != nil {
		return nil, err
	}
	k, err := ecdh.X25519().NewPublicKey(x)
	if err != nil {
		return nil, fmt.Errorf("toy: %w: %v", e2e.ErrMalformed, err)
	}
	return &toyPeer{addr, k, ed25519.PublicKey(ed)}, nil
}

// NewSession opens a session; the toy keeps only a replay cache.
func (s *Scheme) NewSession(cfg e2e.Config) (e2e.Session, error) {
	return &toySession{s: s, cfg: cfg, seen: map[string]bool{}}, nil
}

type toySession struct {
	s    *Scheme
	cfg  e2e.Config
	mu   sync.Mutex
	seen map[string]bool
}

func (ts *toySession) peer(addr jid.JID) (*toyPeer, error) {
	ps := ts.cfg.PeersFor(addr)
	if len(ps) == 0 {
		return nil, fmt.Errorf("toy: %w for %s", e2e.ErrNoKey, addr)
	}
	return ps[0].(*toyPeer), nil
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func (ts *toySession) Encrypt(_ context.Context, st *e2e.Stanza) ([]*e2e.Stanza, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	p, err := ts.peer(st.To)
	if err != nil {
		return nil, err
	}
	var seed [32 + 12]byte
	if _, err := io.ReadFull(ts.cfg.Random(), seed[:]); err != nil {
		return nil, err
	}
	eph, _ := ecdh.X25519().NewPrivateKey(seed[:32])
	shared, err := eph.ECDH(p.x)
	if err != nil {
		return nil, err
	}
	key := sha256.Sum256(append(shared, eph.PublicKey().Bytes()...))
	block, _ := aes.NewCipher(key[:])
	gcm, _ := cipher.NewGCM(block)
	nonce := seed[32:]
	ct := gcm.Seal(nil, nonce, st.Bytes(), nil)
	head := append(eph.PublicKey().Bytes(), nonce...)
	sig := ed25519.Sign(ts.cfg.Local.(*toyID).ed, append(head, ct...))
	w := &e2e.Stanza{Kind: st.Kind, From: st.From, To: st.To, ID: st.ID, Type: st.Type}
	w.SetBody("[toy encrypted]")
	x := &e2e.Element{Name: xmlName("x")}
	for _, part := range [][2]string{{"h", b64(head)}, {"c", b64(ct)}, {"s", b64(sig)}} {
		x.AppendChild(e2e.NewElement(toyNS, part[0], part[1]))
	}
	w.Children = append(w.Children, x)
	return []*e2e.Stanza{w}, nil
}

func (ts *toySession) Sign(_ context.Context, st *e2e.Stanza) ([]*e2e.Stanza, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	w := st.Clone()
	sig := ed25519.Sign(ts.cfg.Local.(*toyID).ed, w.Bytes())
	w.Children = append(w.Children, e2e.NewElement(toyNS, "sig", b64(sig)))
	return []*e2e.Stanza{w}, nil
}

func (ts *toySession) Close(context.Context) ([]*e2e.Stanza, error) { return nil, nil }

func (ts *toySession) fail(err error) (e2e.Received, error) {
	if ts.s.DropSilently {
		return e2e.Received{}, nil
	}
	return e2e.Received{}, err
}

func (ts *toySession) Receive(_ context.Context, st *e2e.Stanza) (e2e.Received, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if sig := st.Child(toyNS, "sig"); sig != nil {
		return ts.verify(st, sig)
	}
	x := st.Child(toyNS, "x")
	if x == nil {
		return ts.fail(fmt.Errorf("toy: %w", e2e.ErrNotEncrypted))
	}
	var parts [3][]byte
	for i, name := range []string{"h", "c", "s"} {
		e := x.Child(toyNS, name)
		if e == nil {
			return ts.fail(fmt.Errorf("toy: %w: no <%s/>", e2e.ErrMalformed, name))
		}
		b, err := base64.StdEncoding.DecodeString(e.Text())
		if err != nil {
			if ts.s.PanicOnBadInput {
				panic("toy: bad base64")
			}
			return ts.fail(fmt.Errorf("toy: %w: %v", e2e.ErrMalformed, err))
		}
		parts[i] = b
	}
	head, ct, sig := parts[0], parts[1], parts[2]
	if len(head) != 44 {
		return ts.fail(fmt.Errorf("toy: %w: header length", e2e.ErrMalformed))
	}
	p, err := ts.peer(st.From)
	if err != nil {
		return ts.fail(err)
	}
	if !ts.s.LeakOnTamper && !ed25519.Verify(p.ed, append(append([]byte(nil), head...), ct...), sig) {
		return ts.fail(fmt.Errorf("toy: %w", e2e.ErrBadSignature))
	}
	if !ts.s.AcceptReplays {
		if ts.seen[string(head)] {
			return ts.fail(fmt.Errorf("toy: %w", e2e.ErrReplay))
		}
		ts.seen[string(head)] = true
	}
	eph, err := ecdh.X25519().NewPublicKey(head[:32])
	if err != nil {
		return ts.fail(fmt.Errorf("toy: %w", e2e.ErrDecrypt))
	}
	shared, err := ts.cfg.Local.(*toyID).x.ECDH(eph)
	if err != nil {
		return ts.fail(fmt.Errorf("toy: %w", e2e.ErrDecrypt))
	}
	key := sha256.Sum256(append(shared, head[:32]...))
	block, _ := aes.NewCipher(key[:])
	var plain []byte
	if ts.s.LeakOnTamper {
		// The bug: CTR-decrypt the ciphertext without checking the tag.
		if len(ct) < 16 {
			return ts.fail(fmt.Errorf("toy: %w", e2e.ErrDecrypt))
		}
		iv := append(append([]byte(nil), head[32:44]...), 0, 0, 0, 2)
		plain = make([]byte, len(ct)-16)
		cipher.NewCTR(block, iv).XORKeyStream(plain, ct[:len(ct)-16])
	} else {
		gcm, _ := cipher.NewGCM(block)
		plain, err = gcm.Open(nil, head[32:44], ct, nil)
		if err != nil {
			return ts.fail(fmt.Errorf("toy: %w", e2e.ErrDecrypt))
		}
	}
	inner, err := e2e.Parse(plain)
	if err != nil {
		if ts.s.LeakOnTamper {
			inner = &e2e.Stanza{Kind: st.Kind, From: st.From, To: st.To}
			inner.SetBody(string(plain))
		} else {
			return ts.fail(err)
		}
	}
	return e2e.Received{Opened: []e2e.Opened{{Stanza: inner, Encrypted: true, Signer: p, Trusted: true}}}, nil
}

func (ts *toySession) verify(st *e2e.Stanza, sig *e2e.Element) (e2e.Received, error) {
	p, err := ts.peer(st.From)
	if err != nil {
		return ts.fail(err)
	}
	s, err := base64.StdEncoding.DecodeString(sig.Text())
	if err != nil {
		return ts.fail(fmt.Errorf("toy: %w: %v", e2e.ErrMalformed, err))
	}
	plain := st.Clone()
	plain.RemoveChildren(toyNS, "sig", 0)
	if !ed25519.Verify(p.ed, plain.Bytes(), s) {
		return ts.fail(fmt.Errorf("toy: %w", e2e.ErrBadSignature))
	}
	return e2e.Received{Opened: []e2e.Opened{{Stanza: plain, Signer: p, Trusted: true}}}, nil
}

func xmlName(local string) xml.Name { return xml.Name{Space: toyNS, Local: local} }
