// Package toy holds small schemes for testing the harness without the real
// codecs: a plaintext baseline and a toy AEAD scheme (X25519 ephemeral-static
// key agreement, AES-GCM, optional Ed25519 signatures and replay cache).
// They are test instruments, not cryptography to deploy: the toy scheme has
// no forward secrecy by design, and its wire format is our own.
//
//	schemes := []e2e.Scheme{toy.Plain, toy.AEAD, toy.Bare}
//	rep, _ := interop.Run(ctx, interop.Options{Schemes: schemes})
package toy

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/xmpp/jid"
)

// NS is the namespace of the toy scheme's elements.
const NS = "urn:xmppe2e:toy:0"

// Plain is the plaintext baseline: Encrypt sends the stanza as it is and
// Receive opens anything.
var Plain e2e.Scheme = plainScheme{}

// AEAD is the toy scheme at full strength: every stanza child encrypted,
// signed with Ed25519, and a replay cache.
var AEAD e2e.Scheme = &Scheme{name: "toy-aead", sign: true, replay: true, whole: true}

// Bare is the toy scheme at its weakest: only the body encrypted, no
// signature, no replay cache.
var Bare e2e.Scheme = &Scheme{name: "toy-bare"}

// Scheme is the toy AEAD scheme with its options.
type Scheme struct {
	name                string
	sign, replay, whole bool
}

// Name is "toy-aead" or "toy-bare".
func (s *Scheme) Name() string { return s.name }

// Spec says that the toy is a test instrument.
func (s *Scheme) Spec() string { return "xmppe2e toy scheme (test instrument)" }

// Claims states what the toy's options give.
func (s *Scheme) Claims() e2e.Properties {
	lv := func(b bool) e2e.Level {
		if b {
			return e2e.Holds
		}
		return e2e.Fails
	}
	return e2e.Properties{
		e2e.Confidentiality: e2e.Holds, e2e.Integrity: e2e.Holds, e2e.Authentication: lv(s.sign),
		e2e.ForwardSecrecy: e2e.Fails, e2e.BackwardSecrecy: e2e.Fails, e2e.ReplayProtection: lv(s.replay),
		e2e.MessageRepudiation: lv(!s.sign), e2e.ParticipationRepudiation: lv(!s.sign),
		e2e.WholeStanza: lv(s.whole), e2e.MetadataProtection: lv(s.whole), e2e.AsyncDelivery: e2e.Holds,
		e2e.MultiDevice: e2e.Partial, e2e.OutOfOrder: e2e.Holds, e2e.DropResilience: e2e.Holds,
		e2e.PKIIndependence: e2e.Holds, e2e.SignOnly: lv(s.sign),
	}
}

// identity is a toy identity: an X25519 key for encryption and an Ed25519
// key for signatures.
type identity struct {
	addr jid.JID
	x    *ecdh.PrivateKey
	ed   ed25519.PrivateKey
}

type peer struct {
	addr jid.JID
	x    *ecdh.PublicKey
	ed   ed25519.PublicKey
}

func (i *identity) JID() jid.JID { return i.addr }
func (i *identity) Public() e2e.Peer {
	return &peer{addr: i.addr, x: i.x.PublicKey(), ed: i.ed.Public().(ed25519.PublicKey)}
}
func (i *identity) Marshal() ([]byte, error) {
	return []byte(i.addr.String() + " " + hex.EncodeToString(i.x.Bytes()) + " " + hex.EncodeToString(i.ed.Seed())), nil
}

func (p *peer) JID() jid.JID { return p.addr }
func (p *peer) Fingerprint() string {
	h := sha256.New()
	h.Write(p.x.Bytes())
	h.Write(p.ed)
	return hex.EncodeToString(h.Sum(nil))
}
func (p *peer) Marshal() ([]byte, error) {
	return []byte(p.addr.String() + " " + hex.EncodeToString(p.x.Bytes()) + " " + hex.EncodeToString(p.ed)), nil
}

// GenerateIdentity makes X25519 and Ed25519 keys from 64 bytes of rand.
func (s *Scheme) GenerateIdentity(ctx context.Context, addr jid.JID, rand io.Reader) (e2e.Identity, error) {
	if rand == nil {
		rand = (&e2e.Config{}).Random()
	}
	var seed [64]byte
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, err
	}
	x, err := ecdh.X25519().NewPrivateKey(seed[:32])
	if err != nil {
		return nil, err
	}
	return &identity{addr: addr.Bare(), x: x, ed: ed25519.NewKeyFromSeed(seed[32:])}, nil
}

// parseFields reads "JID HEX HEX" as Marshal writes it.
func parseFields(b []byte, secondLen int) (jid.JID, []byte, []byte, error) {
	var a, xs, es string
	if _, err := fmt.Sscan(string(b), &a, &xs, &es); err != nil {
		return jid.JID{}, nil, nil, fmt.Errorf("%w: %v", e2e.ErrMalformed, err)
	}
	addr, err1 := jid.Parse(a)
	xb, err2 := hex.DecodeString(xs)
	eb, err3 := hex.DecodeString(es)
	if err := errors.Join(err1, err2, err3); err != nil || len(eb) != secondLen {
		return jid.JID{}, nil, nil, fmt.Errorf("%w: bad toy key", e2e.ErrMalformed)
	}
	return addr, xb, eb, nil
}

// ParseIdentity reads what identity.Marshal writes.
func (s *Scheme) ParseIdentity(b []byte) (e2e.Identity, error) {
	addr, xb, eb, err := parseFields(b, ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	x, err := ecdh.X25519().NewPrivateKey(xb)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", e2e.ErrMalformed, err)
	}
	return &identity{addr: addr, x: x, ed: ed25519.NewKeyFromSeed(eb)}, nil
}

// ParsePeer reads what peer.Marshal writes.
func (s *Scheme) ParsePeer(b []byte) (e2e.Peer, error) {
	addr, xb, eb, err := parseFields(b, ed25519.PublicKeySize)
	if err != nil {
		return nil, err
	}
	x, err := ecdh.X25519().NewPublicKey(xb)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", e2e.ErrMalformed, err)
	}
	return &peer{addr: addr, x: x, ed: ed25519.PublicKey(eb)}, nil
}

// NewSession opens a session; it keeps only a replay cache.
func (s *Scheme) NewSession(cfg e2e.Config) (e2e.Session, error) {
	id, ok := cfg.Local.(*identity)
	if cfg.Local != nil && !ok {
		return nil, fmt.Errorf("toy: %w: foreign identity", e2e.ErrUnsupported)
	}
	return &session{s: s, cfg: cfg, id: id, seen: map[string]bool{}}, nil
}

type session struct {
	s   *Scheme
	cfg e2e.Config
	id  *identity

	mu   sync.Mutex
	seen map[string]bool
}

const fallback = "This message is encrypted with the xmppe2e toy scheme."

func (ss *session) Encrypt(ctx context.Context, st *e2e.Stanza) ([]*e2e.Stanza, error) {
	if st.Kind != e2e.Message {
		return nil, fmt.Errorf("toy: %w: %s", e2e.ErrUnsupported, st.Kind)
	}
	if ss.id == nil {
		return nil, fmt.Errorf("toy: %w: no local identity", e2e.ErrNoKey)
	}
	if st.From.Equal(jid.JID{}) {
		st.From = ss.cfg.JID
	}
	peers := ss.cfg.PeersFor(st.To)
	if len(peers) == 0 {
		return nil, fmt.Errorf("toy: %w for %s", e2e.ErrNoKey, st.To.Bare())
	}
	rcpt := peers[0].(*peer)
	var pt []byte
	out := &e2e.Stanza{Kind: st.Kind, From: st.From, To: st.To, ID: st.ID, Type: st.Type, Lang: st.Lang, Attr: st.Attr}
	if ss.s.whole {
		for _, c := range st.Children {
			pt = append(pt, c.Bytes()...)
			pt = append(pt, 0)
		}
	} else {
		pt = []byte(st.Body())
		for _, c := range st.Children {
			if !(c.Name.Space == e2e.NSClient && c.Name.Local == "body") {
				out.Children = append(out.Children, c.Clone())
			}
		}
	}
	var eb [32]byte
	if _, err := io.ReadFull(ss.cfg.Random(), eb[:]); err != nil {
		return nil, err
	}
	eph, err := ecdh.X25519().NewPrivateKey(eb[:])
	if err != nil {
		return nil, err
	}
	shared, err := eph.ECDH(rcpt.x)
	if err != nil {
		return nil, fmt.Errorf("toy: %w", e2e.ErrNoKey)
	}
	nonce := make([]byte, 12)
	if _, err := io.ReadFull(ss.cfg.Random(), nonce); err != nil {
		return nil, err
	}
	ad := ss.ad(st.From, st.To, eph.PublicKey().Bytes(), nonce)
	aead, err := newAEAD(shared, eph.PublicKey().Bytes())
	if err != nil {
		return nil, err
	}
	ct := aead.Seal(nil, nonce, pt, ad)
	el := e2e.NewElement(NS, "toy", base64.StdEncoding.EncodeToString(ct))
	el.SetAttr("eph", base64.StdEncoding.EncodeToString(eph.PublicKey().Bytes()))
	el.SetAttr("n", base64.StdEncoding.EncodeToString(nonce))
	if ss.s.sign {
		sig := ed25519.Sign(ss.id.ed, append(ad, ct...))
		el.SetAttr("sig", base64.StdEncoding.EncodeToString(sig))
	}
	out.Children = append([]*e2e.Element{e2e.NewElement(e2e.NSClient, "body", fallback)}, out.Children...)
	out.Children = append(out.Children, el)
	return []*e2e.Stanza{out}, nil
}

func (ss *session) ad(from, to jid.JID, eph, nonce []byte) []byte {
	var b bytes.Buffer
	b.WriteString(from.Bare().String())
	b.WriteByte(0)
	b.WriteString(to.Bare().String())
	b.WriteByte(0)
	b.Write(eph)
	b.Write(nonce)
	return b.Bytes()
}

func newAEAD(shared, eph []byte) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, shared, eph, "xmppe2e toy", 32)
	if err != nil {
		return nil, err
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(blk)
}

func (ss *session) Sign(ctx context.Context, st *e2e.Stanza) ([]*e2e.Stanza, error) {
	if !ss.s.sign {
		return nil, fmt.Errorf("toy: %w: sign", e2e.ErrUnsupported)
	}
	if ss.id == nil {
		return nil, fmt.Errorf("toy: %w: no local identity", e2e.ErrNoKey)
	}
	if st.From.Equal(jid.JID{}) {
		st.From = ss.cfg.JID
	}
	out := st.Clone()
	sig := ed25519.Sign(ss.id.ed, signedBytes(st))
	el := e2e.NewElement(NS, "signed", base64.StdEncoding.EncodeToString(sig))
	out.Children = append(out.Children, el)
	return []*e2e.Stanza{out}, nil
}

// signedBytes covers the bare addresses and every child but the signature.
func signedBytes(st *e2e.Stanza) []byte {
	var b bytes.Buffer
	b.WriteString(st.From.Bare().String())
	b.WriteByte(0)
	b.WriteString(st.To.Bare().String())
	b.WriteByte(0)
	for _, c := range st.Children {
		if c.Name.Space == NS && c.Name.Local == "signed" {
			continue
		}
		b.Write(c.Bytes())
		b.WriteByte(0)
	}
	return b.Bytes()
}

func (ss *session) sender(from jid.JID) *peer {
	for _, p := range ss.cfg.Peers {
		if p.JID().Equal(from.Bare()) {
			return p.(*peer)
		}
	}
	return nil
}

func (ss *session) Receive(ctx context.Context, st *e2e.Stanza) (res e2e.Received, err error) {
	el := st.Child(NS, "toy")
	if el == nil {
		if sg := st.Child(NS, "signed"); sg != nil {
			return ss.verify(st, sg)
		}
		if !ss.cfg.AllowPlaintext {
			return e2e.Received{}, fmt.Errorf("toy: %w", e2e.ErrNotEncrypted)
		}
		return e2e.Received{Opened: []e2e.Opened{{Stanza: st}}}, nil
	}
	if ss.id == nil {
		return e2e.Received{}, fmt.Errorf("toy: %w", e2e.ErrNoKey)
	}
	dec := func(name string) []byte {
		v, _ := el.AttrValue(name)
		b, e := base64.StdEncoding.DecodeString(v)
		if e != nil && err == nil {
			err = fmt.Errorf("toy: %w: %s", e2e.ErrMalformed, name)
		}
		return b
	}
	eph, nonce := dec("eph"), dec("n")
	ct, derr := base64.StdEncoding.DecodeString(el.Text())
	if err != nil || derr != nil || len(nonce) != 12 {
		return e2e.Received{}, fmt.Errorf("toy: %w", e2e.ErrMalformed)
	}
	ad := ss.ad(st.From, st.To, eph, nonce)
	var signer e2e.Peer
	if ss.s.sign {
		p := ss.sender(st.From)
		sig := dec("sig")
		if p == nil {
			return e2e.Received{}, fmt.Errorf("toy: %w: sender %s", e2e.ErrNoKey, st.From.Bare())
		}
		if err != nil || !ed25519.Verify(p.ed, append(append([]byte(nil), ad...), ct...), sig) {
			return e2e.Received{}, fmt.Errorf("toy: %w", e2e.ErrBadSignature)
		}
		signer = p
	}
	pub, perr := ecdh.X25519().NewPublicKey(eph)
	if perr != nil {
		return e2e.Received{}, fmt.Errorf("toy: %w", e2e.ErrDecrypt)
	}
	shared, perr := ss.id.x.ECDH(pub)
	if perr != nil {
		return e2e.Received{}, fmt.Errorf("toy: %w", e2e.ErrDecrypt)
	}
	aead, perr := newAEAD(shared, eph)
	if perr != nil {
		return e2e.Received{}, fmt.Errorf("toy: %w", e2e.ErrDecrypt)
	}
	pt, perr := aead.Open(nil, nonce, ct, ad)
	if perr != nil {
		return e2e.Received{}, fmt.Errorf("toy: %w", e2e.ErrDecrypt)
	}
	if ss.s.replay {
		ss.mu.Lock()
		key := string(eph) + string(nonce)
		dup := ss.seen[key]
		ss.seen[key] = true
		ss.mu.Unlock()
		if dup {
			return e2e.Received{}, fmt.Errorf("toy: %w", e2e.ErrReplay)
		}
	}
	out := &e2e.Stanza{Kind: st.Kind, NS: st.NS, From: st.From, To: st.To, ID: st.ID, Type: st.Type, Lang: st.Lang, Attr: st.Attr}
	if ss.s.whole {
		for _, part := range bytes.Split(pt, []byte{0}) {
			if len(part) == 0 {
				continue
			}
			c, err := e2e.ParseElement(part)
			if err != nil {
				return e2e.Received{}, fmt.Errorf("toy: %w", e2e.ErrMalformed)
			}
			out.Children = append(out.Children, c)
		}
	} else {
		for _, c := range st.Children {
			if c.Name.Space == NS || (c.Name.Space == e2e.NSClient && c.Name.Local == "body") {
				continue
			}
			out.Children = append(out.Children, c.Clone())
		}
		out.SetBody(string(pt))
	}
	o := e2e.Opened{Stanza: out, Encrypted: true, Signer: signer}
	if signer != nil {
		o.Trusted = ss.cfg.Trusts(st.From, signer)
	}
	return e2e.Received{Opened: []e2e.Opened{o}}, nil
}

func (ss *session) verify(st *e2e.Stanza, sg *e2e.Element) (e2e.Received, error) {
	p := ss.sender(st.From)
	if p == nil {
		return e2e.Received{}, fmt.Errorf("toy: %w: sender %s", e2e.ErrNoKey, st.From.Bare())
	}
	sig, err := base64.StdEncoding.DecodeString(sg.Text())
	if err != nil || !ed25519.Verify(p.ed, signedBytes(st), sig) {
		return e2e.Received{}, fmt.Errorf("toy: %w", e2e.ErrBadSignature)
	}
	out := st.Clone()
	out.RemoveChildren(NS, "signed", 0)
	return e2e.Received{Opened: []e2e.Opened{{Stanza: out, Signer: p, Trusted: ss.cfg.Trusts(st.From, p)}}}, nil
}

func (ss *session) Close(ctx context.Context) ([]*e2e.Stanza, error) { return nil, nil }

type plainScheme struct{}

func (plainScheme) Name() string { return "plain" }
func (plainScheme) Spec() string { return "none (plaintext baseline)" }
func (plainScheme) Claims() e2e.Properties {
	c := e2e.Properties{}
	for _, p := range e2e.AllProperties {
		c[p] = e2e.Fails
	}
	for _, p := range []e2e.Property{e2e.MessageRepudiation, e2e.ParticipationRepudiation, e2e.AsyncDelivery,
		e2e.MultiDevice, e2e.OutOfOrder, e2e.DropResilience, e2e.PKIIndependence} {
		c[p] = e2e.Holds
	}
	c[e2e.SignOnly] = e2e.NotApplicable
	return c
}
func (plainScheme) GenerateIdentity(ctx context.Context, addr jid.JID, rand io.Reader) (e2e.Identity, error) {
	return plainID{addr.Bare()}, nil
}
func (plainScheme) ParseIdentity(b []byte) (e2e.Identity, error) {
	a, err := jid.Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", e2e.ErrMalformed, err)
	}
	return plainID{a}, nil
}
func (plainScheme) ParsePeer(b []byte) (e2e.Peer, error) {
	a, err := jid.Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", e2e.ErrMalformed, err)
	}
	return plainID{a}, nil
}
func (plainScheme) NewSession(cfg e2e.Config) (e2e.Session, error) { return plainSession{cfg}, nil }

type plainID struct{ addr jid.JID }

func (p plainID) JID() jid.JID             { return p.addr }
func (p plainID) Public() e2e.Peer         { return p }
func (p plainID) Marshal() ([]byte, error) { return []byte(p.addr.String()), nil }
func (p plainID) Fingerprint() string      { return "plain:" + p.addr.String() }

type plainSession struct{ cfg e2e.Config }

func (s plainSession) Encrypt(ctx context.Context, st *e2e.Stanza) ([]*e2e.Stanza, error) {
	return []*e2e.Stanza{st.Clone()}, nil
}
func (s plainSession) Sign(ctx context.Context, st *e2e.Stanza) ([]*e2e.Stanza, error) {
	return nil, fmt.Errorf("plain: %w", e2e.ErrUnsupported)
}
func (s plainSession) Receive(ctx context.Context, st *e2e.Stanza) (e2e.Received, error) {
	return e2e.Received{Opened: []e2e.Opened{{Stanza: st.Clone()}}}, nil
}
func (s plainSession) Close(ctx context.Context) ([]*e2e.Stanza, error) { return nil, nil }
