// Package gen makes the test vector files. It works in two steps so that the
// committed files can be rebuilt byte for byte:
//
//   - Make runs real exchanges once, with fresh keys and randomness (ours,
//     or an independent implementation's through a Recorder: GnuPG, OpenSSL,
//     python3-jwcrypto, python3-potr, each in a file of its own), keeps the
//     keys and the wire stanzas in a Recording (committed under testdata/),
//     and adds the Crafters' vectors (the specs' own examples, a bad armor
//     checksum, swapped algorithm identifiers).
//   - Build turns a Recording into a vectors.File deterministically: the valid
//     vector of each record, then its negative mutations (a character flipped
//     at the start, middle and end of every payload region, each region cut
//     short and replaced by garbage, the protection stripped, the XML cut, a
//     replay, clocks an hour off, a wrong recipient, re-addressing), each
//     labelled by what the reference implementation does with it and flagged
//     where the scheme's documented weaknesses make it accept; then the
//     crafted vectors, labelled the same way but not mutated further.
//
// `xmppe2e vectors generate` runs Build over the committed recordings;
// `xmppe2e vectors generate --record` makes new recordings first.
package gen

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/internal/mutate"
	"github.com/xmppe2e/xmppe2e/vectors"
	"mellium.im/xmpp/jid"
)

// Epoch is the sender's clock in every recording; receivers check at Epoch
// plus one second.
var Epoch = time.Date(2026, time.November, 22, 12, 0, 0, 0, time.UTC)

// The parties, by key name.
var parties = map[string]jid.JID{
	"juliet":   jid.MustParse("juliet@capulet.lit/balcony"),
	"romeo":    jid.MustParse("romeo@montague.lit/orchard"),
	"mercutio": jid.MustParse("mercutio@capulet.lit/tomb"),
}

// A Recording is the product of Make: keys and the wire stanzas of real
// exchanges.
type Recording struct {
	Scheme  string                 `json:"scheme"`
	Keys    map[string]vectors.Key `json:"keys"`
	Records []Record               `json:"records"`
	// Crafted are hand-made vectors (the specs' own examples, scheme-specific
	// negatives such as a bad armor checksum or a swapped algorithm) that
	// Build labels by what the reference does, without mutating them further.
	Crafted []Crafted `json:"crafted,omitempty"`
}

// A Crafted vector is delivered as it is: its flags say what was done to it.
type Crafted struct {
	Name     string   `json:"name"`
	Comment  string   `json:"comment"`
	Flags    []string `json:"flags"`
	Sender   string   `json:"sender"`
	Receiver string   `json:"receiver"`
	// ReceiverJID overrides the receiver's full JID (a spec example addressed
	// elsewhere); Keys overrides the recording's keys (the spec's own keys).
	ReceiverJID  string                 `json:"receiverJid,omitempty"`
	Keys         map[string]vectors.Key `json:"keys,omitempty"`
	ReceiverSeed string                 `json:"receiverSeed,omitempty"`
	// Now is the receiver's clock (RFC 3339); Epoch plus one second when
	// empty.
	Now      string   `json:"now,omitempty"`
	Wire     []string `json:"wire"`
	Producer string   `json:"producer"`
}

// A Crafter derives crafted vectors from a recording (its records and keys),
// running an independent implementation where it needs one.
type Crafter func(ctx context.Context, rec *Recording) ([]Crafted, error)

// Crafters returns the crafters for the scheme named.
func Crafters(scheme string) []Crafter { return crafters[scheme] }

// crafters lists, per scheme, what adds crafted vectors.
var crafters = map[string][]Crafter{}

// A Record is one exchange: a plaintext stanza, what the sender's
// implementation put on the wire, and who made it.
type Record struct {
	Name     string `json:"name"`
	Op       string `json:"op"` // encrypt, sign, or sign+encrypt
	Sender   string `json:"sender"`
	Receiver string `json:"receiver"`
	Stanza   string `json:"stanza"`
	// Wire holds every stanza delivered to the receiver, in order; the last
	// one opens the stanza. Earlier ones are handshake messages.
	Wire     []string `json:"wire"`
	Producer string   `json:"producer"`
	// ReceiverSeed seeds the receiver's randomness when the exchange has a
	// handshake, so that a replay meets the same keys.
	ReceiverSeed string `json:"receiverSeed,omitempty"`
}

// A Recorder makes records with an independent implementation (GnuPG,
// OpenSSL, jwcrypto, ...). It receives the recording's keys.
type Recorder func(ctx context.Context, keys map[string]vectors.Key) ([]Record, error)

// Recorders returns the recorders of independent implementations for the
// scheme named, in the order their records are added.
func Recorders(scheme string) []Recorder { return recorders[scheme] }

// recorders lists, per scheme, the independent implementations that add
// records; each lives in a file of its own in this package.
var recorders = map[string][]Recorder{}

// senders lists, per scheme, the configuration of the scheme that plays the
// sender in the bases when it must differ from the receiver's (xtls: a
// replayable handshake must avoid the ML-KEM hybrid, whose randomness
// cannot be seeded). The receiver is always the scheme given to Make.
var senders = map[string]e2e.Scheme{}

// extras lists, per scheme, exchanges of our own implementation beyond the
// bases (another protocol version, another transport); Make runs them after
// the bases and before the independent implementations.
var extras = map[string][]Recorder{}

// A Base is one exchange of our own implementation: op (encrypt, sign or
// sign+encrypt) of the stanza, from sender to receiver (key names).
type Base struct {
	Name, Op, Sender, Receiver, Stanza string
}

// Bases are the exchanges every recording makes with our own implementation.
var Bases = []Base{
	{"message", "encrypt", "juliet", "romeo",
		`<message xmlns='jabber:client' from='juliet@capulet.lit/balcony' to='romeo@montague.lit/orchard' id='v1' type='chat'><body>But soft, what light through yonder window breaks?</body><thread>act2</thread></message>`},
	{"message-utf8", "encrypt", "romeo", "juliet",
		`<message xmlns='jabber:client' from='romeo@montague.lit/orchard' to='juliet@capulet.lit/balcony' id='v2' type='chat'><body>With love's light wings — ¿qué? 🌹 &lt;&amp;&gt; "quoted"</body><x xmlns='urn:xmppe2e:vectors:extension'>an extension element</x></message>`},
	{"message-signed-encrypted", "sign+encrypt", "juliet", "romeo",
		`<message xmlns='jabber:client' from='juliet@capulet.lit/balcony' to='romeo@montague.lit/orchard' id='v3' type='chat'><body>Parting is such sweet sorrow.</body></message>`},
	{"message-signed", "sign", "juliet", "romeo",
		`<message xmlns='jabber:client' from='juliet@capulet.lit/balcony' to='romeo@montague.lit/orchard' id='v4' type='chat'><body>A signed, readable message.</body></message>`},
	{"presence-signed", "sign", "juliet", "romeo",
		`<presence xmlns='jabber:client' from='juliet@capulet.lit/balcony' to='romeo@montague.lit/orchard'><status>On the balcony</status></presence>`},
	{"iq-encrypted", "encrypt", "juliet", "romeo",
		`<iq xmlns='jabber:client' from='juliet@capulet.lit/balcony' to='romeo@montague.lit/orchard' id='v6' type='get'><query xmlns='jabber:iq:version'/></iq>`},
}

// seeded returns a ChaCha8 reader keyed by the label.
func seeded(label string) (io.Reader, string) {
	var key [32]byte
	copy(key[:], label)
	return mrand.NewChaCha8(key), hex.EncodeToString(key[:])
}

// Make makes a recording for s: keys for the three parties (from ids where
// given, else generated), the bases with our implementation, and whatever the
// recorders add.
func Make(ctx context.Context, s e2e.Scheme, ids map[string]e2e.Identity, recorders ...Recorder) (*Recording, error) {
	rec := &Recording{Scheme: s.Name(), Keys: map[string]vectors.Key{}}
	idents := map[string]e2e.Identity{}
	for _, name := range []string{"juliet", "romeo", "mercutio"} {
		id := ids[name]
		if id == nil {
			r, _ := seeded("identity/" + name)
			var err error
			if id, err = s.GenerateIdentity(ctx, parties[name].Bare(), r); err != nil {
				return nil, fmt.Errorf("GenerateIdentity(%s): %w", name, err)
			}
		}
		k, err := keyOf(id, parties[name].Bare().String())
		if err != nil {
			return nil, err
		}
		idents[name] = id
		rec.Keys[name] = k
	}
	ss := s
	if o := senders[s.Name()]; o != nil {
		ss = o
	}
	for i, b := range Bases {
		r, ok, err := Exchange(ctx, ss, s, idents, b, strconv.Itoa(i))
		if err != nil {
			return nil, err
		}
		if ok {
			rec.Records = append(rec.Records, r)
		}
	}
	for _, f := range slices.Concat(extras[s.Name()], recorders) {
		more, err := f(ctx, rec.Keys)
		if err != nil {
			return nil, err
		}
		rec.Records = append(rec.Records, more...)
	}
	for _, f := range crafters[s.Name()] {
		more, err := f(ctx, rec)
		if err != nil {
			return nil, err
		}
		rec.Crafted = append(rec.Crafted, more...)
	}
	return rec, nil
}

// Exchange runs b between a session of snd and one of rcv, with the
// parties' identities in ids, randomness seeded by label ("send/"+label,
// "recv/"+label) and the clock at Epoch, and returns it as a record of ours.
// ok is false when the sender does not support b.Op.
func Exchange(ctx context.Context, snd, rcv e2e.Scheme, ids map[string]e2e.Identity, b Base, label string) (r Record, ok bool, err error) {
	st, err := e2e.Parse([]byte(b.Stanza))
	if err != nil {
		return r, false, err
	}
	sendRand, _ := seeded("send/" + label)
	recvRand, recvSeed := seeded("recv/" + label)
	clock := func() time.Time { return Epoch }
	s, err := snd.NewSession(e2e.Config{Local: ids[b.Sender], JID: parties[b.Sender],
		Peers: []e2e.Peer{ids[b.Receiver].Public()}, Sign: b.Op == "sign+encrypt", Rand: sendRand, Clock: clock})
	if err != nil {
		return r, false, err
	}
	rs, err := rcv.NewSession(e2e.Config{Local: ids[b.Receiver], JID: parties[b.Receiver],
		Peers: []e2e.Peer{ids[b.Sender].Public()}, Rand: recvRand, Clock: clock})
	if err != nil {
		return r, false, err
	}
	var wire []*e2e.Stanza
	if b.Op == "sign" {
		wire, err = s.Sign(ctx, st)
	} else {
		wire, err = s.Encrypt(ctx, st)
	}
	if errors.Is(err, e2e.ErrUnsupported) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("%s: %w", b.Name, err)
	}
	delivered, err := deliver(ctx, s, rs, wire)
	if err != nil {
		return r, false, fmt.Errorf("%s: %w", b.Name, err)
	}
	r = Record{Name: b.Name, Op: b.Op, Sender: b.Sender, Receiver: b.Receiver, Stanza: b.Stanza, Producer: "xmppe2e", Wire: strs(delivered)}
	if len(delivered) > 1 {
		r.ReceiverSeed = recvSeed
	}
	return r, true, nil
}

// keyOf is id's key material as the files keep it.
func keyOf(id e2e.Identity, bare string) (vectors.Key, error) {
	priv, err := id.Marshal()
	if err != nil {
		return vectors.Key{}, err
	}
	pub, err := id.Public().Marshal()
	if err != nil {
		return vectors.Key{}, err
	}
	return vectors.Key{JID: bare, Identity: string(priv), Peer: string(pub)}, nil
}

// deliver pumps wire from snd to rcv and every reply back and forth until
// the first stanza opens at rcv, and returns what rcv was given up to then.
func deliver(ctx context.Context, snd, rcv e2e.Session, wire []*e2e.Stanza) ([]*e2e.Stanza, error) {
	type item struct {
		toRcv bool
		st    *e2e.Stanza
	}
	var queue []item
	for _, w := range wire {
		queue = append(queue, item{true, w})
	}
	var got []*e2e.Stanza
	for n := 0; len(queue) > 0 && n < 1000; n++ {
		it := queue[0]
		queue = queue[1:]
		dst := snd
		if it.toRcv {
			dst = rcv
			got = append(got, it.st)
		}
		res, err := dst.Receive(ctx, it.st.Clone())
		if err != nil {
			return nil, err
		}
		if it.toRcv && len(res.Opened) > 0 {
			return got, nil
		}
		for _, r := range res.Replies {
			queue = append(queue, item{!it.toRcv, r})
		}
	}
	return nil, errors.New("the stanza never opened")
}

// Notes explains every flag Build uses.
var Notes = map[string]string{
	"Valid":                   "An unmodified exchange.",
	"Peer":                    "Made by an independent implementation, named in producer.",
	"Tamper":                  "One character of a payload region changed to another of its class (A-Z, a-z, 0-9), so the encoding stays valid and the bytes under it change.",
	"Truncated":               "A payload region cut to half its length.",
	"Garbage":                 "A payload region replaced by random base64 of the same length.",
	"Stripped":                "Every element and attribute the scheme added was removed: a downgrade to plaintext.",
	"MalformedXML":            "The last wire stanza cut short: not well-formed XML.",
	"Replay":                  "The last wire stanza delivered twice; the second delivery is the test.",
	"NoReplayProtection":      "The scheme has no replay protection: the replay opens again.",
	"Stale":                   "The receiver's clock is an hour after the sender's.",
	"Future":                  "The receiver's clock is an hour before the sender's.",
	"NoFreshness":             "The scheme carries no protected timestamp: a stanza opens at any time.",
	"WrongRecipient":          "Delivered to a party that was not a recipient.",
	"Readdressed":             "The stanza's to was changed to another party who holds the sender's public key (surreptitious forwarding).",
	"SurreptitiousForwarding": "The scheme does not bind the recipient's address: a re-addressed stanza opens for the new recipient.",
	"Malleable":               "The scheme does not protect integrity here: a change yields changed plaintext.",
	"ProtocolReply":           "The reference answers with protocol stanzas instead of an error (a key request; or, when a held stanza fails to open once its key arrived, an error stanza to the sender, -06 §3.3); nothing may open.",
	"SpecExample":             "The specification's own example, as published (with the specification's keys); the result is what our implementation does with it.",
	"Legacy":                  "An example of the XEP or draft that a current implementation is not expected to open (other keys, a pre-RFC algorithm, a misspelt element); kept to show how it fails.",
	"BadArmorCRC":             "The OpenPGP armor checksum line (=XXXX) does not match the data.",
	"NoArmorCRC":              "The OpenPGP armor checksum line removed; it is optional (RFC 4880 §6.1, RFC 9580 §6.1).",
	"AlgorithmConfusion":      "A header or algorithm identifier swapped for another algorithm (none, dir, HS256 keyed with the public key, RSA1_5, another digest or cipher) after the protection was computed.",
	"UnsignedEnvelope":        "Encrypted but not signed inside (RFC 3923 §4 signs, then encrypts); the reference refuses it as a decryption failure, so that no oracle tells a forged envelope from a broken one.",
	"FingerprintMismatch":     "The certificate fingerprint advertised in Jingle is not that of the certificate presented in TLS.",
	"SecurityMethod":          "The Jingle <security/> element is missing or names only a method the profile does not implement (the draft's SRP).",
	"Untrusted":               "The receiver pins another certificate for the sender.",
	"HandshakeTamper":         "One character of a bytestream chunk that carries the TLS handshake changed; the handshake must fail.",
	"TransportViolation":      "The in-band bytestream broken: a sequence number skipped, an unknown stream, data before <open/>, data from another address.",
	"WeakAlgorithm":           "Made by the independent implementation with an algorithm the profile does not send (3DES, SHA-1 where SHA-256 is sent); the result is the reference's policy.",
}

// Build turns a recording into a vector file with s, deterministically.
func Build(ctx context.Context, s e2e.Scheme, rec *Recording) (*vectors.File, error) {
	f := &vectors.File{Schema: vectors.SchemaID, Scheme: s.Name(), Spec: s.Spec(),
		Generator: "xmppe2e vectors generate", Notes: map[string]string{}}
	// Records are independent: each is built by a builder of its own, with
	// randomness of its own, in parallel, and the groups joined in order.
	parts := make([][]vectors.Group, len(rec.Records))
	errs := make([]error, len(rec.Records))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, r := range rec.Records {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			rb := &builder{ctx: ctx, s: s, f: &vectors.File{}, rec: rec, rnd: mrand.New(mrand.NewPCG(1, uint64(2+i)))}
			if err := rb.record(r); err != nil {
				errs[i] = fmt.Errorf("%s: %w", r.Name, err)
			}
			parts[i] = rb.f.Groups
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, p := range parts {
		f.Groups = append(f.Groups, p...)
	}
	b := &builder{ctx: ctx, s: s, f: f, rec: rec}
	for _, c := range rec.Crafted {
		if err := b.crafted(c); err != nil {
			return nil, fmt.Errorf("%s: %w", c.Name, err)
		}
	}
	// Number the vectors in file order.
	n := 0
	for gi := range f.Groups {
		for vi := range f.Groups[gi].Tests {
			n++
			f.Groups[gi].Tests[vi].TcID = n
		}
	}
	for _, g := range f.Groups {
		for _, v := range g.Tests {
			for _, fl := range v.Flags {
				f.Notes[fl] = Notes[fl]
			}
		}
	}
	return f, nil
}

type builder struct {
	ctx  context.Context
	s    e2e.Scheme
	f    *vectors.File
	rec  *Recording
	rnd  *mrand.Rand
	next int
}

func (b *builder) group(comment, receiver string, peers []string, seed string) *vectors.Group {
	b.f.Groups = append(b.f.Groups, vectors.Group{Comment: comment, Keys: b.rec.Keys, Receiver: receiver,
		ReceiverJID: parties[receiver].String(), Peers: peers, ReceiverSeed: seed})
	return &b.f.Groups[len(b.f.Groups)-1]
}

var checkTime = Epoch.Add(time.Second).Format(time.RFC3339Nano)

func (b *builder) record(r Record) error {
	if len(r.Wire) == 0 {
		return errors.New("no wire")
	}
	plain, err := e2e.Parse([]byte(r.Stanza))
	if err != nil {
		return err
	}
	var wire []*e2e.Stanza
	for _, w := range r.Wire {
		st, err := e2e.Parse([]byte(w))
		if err != nil {
			return err
		}
		wire = append(wire, st)
	}
	setup, last := r.Wire[:len(r.Wire)-1], wire[len(wire)-1]
	peerFlag := []string(nil)
	if r.Producer != "xmppe2e" {
		peerFlag = []string{"Peer"}
	}
	g := b.group(fmt.Sprintf("%s (%s by %s), received by %s", r.Name, r.Op, r.Producer, r.Receiver), r.Receiver, []string{r.Sender}, r.ReceiverSeed)

	// The valid vector: what the reference opens is what every
	// implementation must open.
	v := b.vector(r, "unmodified "+r.Op, append(peerFlag, "Valid"), checkTime, r.Wire)
	res, rerr, serr := vectors.Observe(b.ctx, b.s, g, v)
	if serr != nil || rerr != nil || len(res.Opened) == 0 {
		return fmt.Errorf("the unmodified record does not open: %v %v", serr, rerr)
	}
	v.Result = vectors.Valid
	opened := res.Opened
	for _, o := range opened {
		v.Opened = append(v.Opened, o.Stanza.String())
	}
	if s := opened[len(opened)-1].Signer; s != nil && s.Fingerprint() == b.fingerprint(r.Sender) {
		v.Signer = r.Sender
	}
	g.Tests = append(g.Tests, v)
	content := opened[len(opened)-1].Stanza

	mutated := func(comment string, flags []string, now string, w []*e2e.Stanza) {
		b.addRaw(g, r, comment, append(append([]string(nil), peerFlag...), flags...), now, append(append([]string(nil), setup...), strs(w)...), content)
	}
	// Mutations of the last stanza's payload regions.
	regs := mutate.Regions(plain, []*e2e.Stanza{last})
	for ri, rg := range regs {
		idx := flippable(rg.Text)
		for _, at := range pick(idx) {
			t, _ := mutate.Flip(rg.Text, at)
			mutated(fmt.Sprintf("region %d (%.12q…) changed at %d", ri, rg.Text, at), []string{"Tamper"}, checkTime, rg.With([]*e2e.Stanza{last}, t))
		}
		mutated(fmt.Sprintf("region %d cut to half", ri), []string{"Truncated"}, checkTime, rg.With([]*e2e.Stanza{last}, rg.Text[:len(rg.Text)/2]))
		mutated(fmt.Sprintf("region %d replaced by garbage", ri), []string{"Garbage"}, checkTime, rg.With([]*e2e.Stanza{last}, mutate.Garbage(b.rnd, len(rg.Text))))
	}
	mutated("protection stripped", []string{"Stripped"}, checkTime, []*e2e.Stanza{strip(plain, last)})
	cut := r.Wire[len(r.Wire)-1]
	b.addRaw(g, r, "last stanza cut short", append(peerFlag, "MalformedXML"), checkTime, append(append([]string(nil), setup...), cut[:len(cut)*3/5]), content)
	b.addRaw(g, r, "delivered twice", append(peerFlag, "Replay"), checkTime, append(append([]string(nil), r.Wire...), cut), content)
	b.addRaw(g, r, "received an hour later", append(peerFlag, "Stale"), Epoch.Add(time.Hour).Format(time.RFC3339Nano), r.Wire, content)
	b.addRaw(g, r, "received an hour earlier", append(peerFlag, "Future"), Epoch.Add(-time.Hour).Format(time.RFC3339Nano), r.Wire, content)

	// Another party: mercutio, who knows the sender's key. After a
	// handshake he gets only the stanza that opened: replaying the handshake
	// to him with the receiver's seed would hand him the receiver's
	// ephemeral keys, which no real third party has.
	other := "mercutio"
	g2 := b.group(fmt.Sprintf("%s (%s by %s), received by %s", r.Name, r.Op, r.Producer, other), other, []string{r.Sender}, "")
	sent := wire
	if len(wire) > 1 {
		sent = wire[len(wire)-1:]
	}
	re := make([]*e2e.Stanza, len(sent))
	for i, w := range sent {
		re[i] = w.Clone()
		re[i].To = parties[other]
	}
	flag := "WrongRecipient"
	if r.Op == "sign" {
		flag = "Readdressed"
	}
	b.addRaw(g2, r, "re-addressed to "+other, append(peerFlag, flag), checkTime, strs(re), content)
	return nil
}

// crafted adds a crafted vector, labelled by what the reference does with
// it: refused is invalid with that error class, answered only with protocol
// stanzas is invalid (ProtocolReply), opened is valid with what opened.
// Silence makes no vector: there is nothing an implementation could check.
func (b *builder) crafted(c Crafted) error {
	keys := b.rec.Keys
	if c.Keys != nil {
		keys = c.Keys
	}
	rj := c.ReceiverJID
	if rj == "" {
		rj = parties[c.Receiver].String()
	}
	b.f.Groups = append(b.f.Groups, vectors.Group{Comment: fmt.Sprintf("%s (crafted, by %s), received by %s", c.Name, c.Producer, c.Receiver),
		Keys: keys, Receiver: c.Receiver, ReceiverJID: rj, Peers: []string{c.Sender}, ReceiverSeed: c.ReceiverSeed})
	g := &b.f.Groups[len(b.f.Groups)-1]
	now := c.Now
	if now == "" {
		now = checkTime
	}
	b.next++
	v := vectors.Vector{TcID: b.next, Comment: c.Name + ": " + c.Comment, Flags: append([]string(nil), c.Flags...),
		Result: vectors.Invalid, Now: now, Wire: c.Wire, Producer: c.Producer}
	res, rerr, serr := vectors.Observe(b.ctx, b.s, g, v)
	switch {
	case serr != nil:
		return serr
	case rerr != nil:
		v.Error = e2e.ClassOf(rerr)
	case len(res.Opened) > 0:
		v.Result = vectors.Valid
		for _, o := range res.Opened {
			v.Opened = append(v.Opened, o.Stanza.String())
		}
		if s := res.Opened[len(res.Opened)-1].Signer; s != nil && c.Sender != "" {
			if p, err := b.s.ParsePeer([]byte(keys[c.Sender].Peer)); err == nil && p.Fingerprint() == s.Fingerprint() {
				v.Signer = c.Sender
			}
		}
	case len(res.Replies) > 0:
		v.Flags = append(v.Flags, "ProtocolReply")
	default:
		b.next--
		b.f.Groups = b.f.Groups[:len(b.f.Groups)-1]
		return nil
	}
	g.Tests = append(g.Tests, v)
	return nil
}

func (b *builder) fingerprint(name string) string {
	p, err := b.s.ParsePeer([]byte(b.rec.Keys[name].Peer))
	if err != nil {
		return ""
	}
	return p.Fingerprint()
}

func (b *builder) vector(r Record, comment string, flags []string, now string, wire []string) vectors.Vector {
	b.next++
	return vectors.Vector{TcID: b.next, Comment: r.Name + ": " + comment, Flags: flags, Result: vectors.Acceptable,
		Now: now, Wire: wire, Producer: r.Producer}
}

// addRaw labels a mutated vector by what the reference does with it: refused
// is invalid with that error class; opened unchanged after a change that had
// no effect on the bytes is dropped; opened where a documented weakness lets
// it through is valid or acceptable with the weakness flagged.
func (b *builder) addRaw(g *vectors.Group, r Record, comment string, flags []string, now string, wire []string, content *e2e.Stanza) {
	v := b.vector(r, comment, flags, now, wire)
	res, rerr, serr := vectors.Observe(b.ctx, b.s, g, v)
	if serr != nil {
		b.next--
		return
	}
	if rerr != nil {
		v.Result, v.Error = vectors.Invalid, e2e.ClassOf(rerr)
		g.Tests = append(g.Tests, v)
		return
	}
	if len(res.Opened) == 0 {
		if len(res.Replies) == 0 {
			b.next-- // silence: the codec's own tests catch it; no vector
			return
		}
		// Only protocol replies (a key request, say): nothing opened, which
		// is what a refusal must achieve.
		v.Result, v.Flags = vectors.Invalid, append(v.Flags, "ProtocolReply")
		g.Tests = append(g.Tests, v)
		return
	}
	o := res.Opened[len(res.Opened)-1]
	same := o.Stanza.Body() == content.Body() && o.Stanza.Kind == content.Kind
	switch {
	case has(flags, "Replay") && same:
		v.Result, v.Flags = vectors.Valid, append(v.Flags, "NoReplayProtection")
	case (has(flags, "Stale") || has(flags, "Future")) && same:
		v.Result, v.Flags = vectors.Valid, append(v.Flags, "NoFreshness")
	case (has(flags, "Readdressed") || has(flags, "WrongRecipient")) && same:
		v.Result, v.Flags = vectors.Acceptable, append(v.Flags, "SurreptitiousForwarding")
	case same:
		// The change did not reach the protected bytes (base64 padding bits,
		// an unprotected fallback): nothing to test.
		b.next--
		return
	default:
		v.Result, v.Flags = vectors.Acceptable, append(v.Flags, "Malleable")
	}
	if v.Result == vectors.Valid {
		for _, op := range res.Opened {
			v.Opened = append(v.Opened, op.Stanza.String())
		}
		if s := o.Signer; s != nil && s.Fingerprint() == b.fingerprint(r.Sender) {
			v.Signer = r.Sender
		}
	}
	g.Tests = append(g.Tests, v)
}

func has(flags []string, f string) bool {
	for _, x := range flags {
		if x == f {
			return true
		}
	}
	return false
}

// strip removes from w every child element that is not in plain, and every
// attribute of the stanza element that plain does not have.
func strip(plain, w *e2e.Stanza) *e2e.Stanza {
	out := w.Clone()
	out.Children = nil
	for _, c := range w.Children {
		for _, p := range plain.Children {
			if c.Equal(p) {
				out.Children = append(out.Children, c.Clone())
				break
			}
		}
	}
	out.Attr = nil
	for _, a := range w.Attr {
		if v, ok := plain.AttrValue(a.Name.Local); ok && v == a.Value {
			out.Attr = append(out.Attr, a)
		}
	}
	return out
}

func strs(w []*e2e.Stanza) []string {
	out := make([]string, len(w))
	for i, s := range w {
		out[i] = s.String()
	}
	return out
}

func flippable(s string) []int {
	var idx []int
	for i := 0; i < len(s); i++ {
		if _, ok := mutate.Flip(s, i); ok {
			idx = append(idx, i)
		}
	}
	return idx
}

// pick returns the first, middle and last of idx.
func pick(idx []int) []int {
	switch len(idx) {
	case 0:
		return nil
	case 1, 2:
		return idx
	}
	return []int{idx[0], idx[len(idx)/2], idx[len(idx)-1]}
}

// EncodeRecording writes a recording as committed: indented JSON.
func EncodeRecording(r *Recording) ([]byte, error) {
	out, err := json.MarshalIndent(r, "", "  ")
	return append(out, '\n'), err
}

// DecodeRecording reads a recording.
func DecodeRecording(b []byte) (*Recording, error) {
	var r Recording
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.DisallowUnknownFields()
	if err := d.Decode(&r); err != nil {
		return nil, err
	}
	return &r, nil
}
