package vectors

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/xmpp/jid"
)

// SchemaID names the format version; files carry it in "schema".
const SchemaID = "xmppe2e-vectors-v1"

// The results a vector can expect, as in Wycheproof.
const (
	Valid      = "valid"      // the last stanza must open, as given
	Invalid    = "invalid"    // nothing may open: an error (of class Error, when given), or only protocol replies
	Acceptable = "acceptable" // either is allowed; Flags say why
)

// A File holds the vectors of one scheme.
type File struct {
	Schema        string            `json:"schema"`
	Scheme        string            `json:"scheme"`
	Spec          string            `json:"spec"`
	Generator     string            `json:"generator"`
	NumberOfTests int               `json:"numberOfTests"`
	Notes         map[string]string `json:"notes"` // flag → what it means
	Groups        []Group           `json:"testGroups"`
}

// A Group is a set of vectors that share a receiver and its keys.
type Group struct {
	Comment string `json:"comment,omitempty"`
	// Keys are the parties' keys by name, in the scheme's ecosystem format.
	Keys map[string]Key `json:"keys"`
	// Receiver names the key whose session receives the wire stanzas.
	Receiver string `json:"receiver"`
	// ReceiverJID is the receiving session's full JID.
	ReceiverJID string `json:"receiverJid"`
	// Peers name the keys the receiver knows and trusts.
	Peers []string `json:"peers"`
	// ReceiverSeed, when set, seeds the receiver's randomness (Config.Rand:
	// ChaCha8 keyed with these 32 bytes, hex). Session schemes need it to
	// replay a recorded handshake: the receiver must draw the same keys it
	// drew when the transcript was recorded.
	ReceiverSeed string   `json:"receiverSeed,omitempty"`
	Tests        []Vector `json:"tests"`
}

// A Key is one party's key material.
type Key struct {
	JID      string `json:"jid"`
	Identity string `json:"identity,omitempty"` // private, as Identity.Marshal writes it
	Peer     string `json:"peer"`               // public, as Peer.Marshal writes it
}

// A Vector is one test: stanzas delivered in order to a fresh session of the
// receiver, and what the last delivery must do. Earlier stanzas must be
// accepted (they set up a replay, say).
type Vector struct {
	TcID     int      `json:"tcId"`
	Comment  string   `json:"comment"`
	Flags    []string `json:"flags,omitempty"`
	Result   string   `json:"result"`
	Now      string   `json:"now"` // the receiver's clock, RFC 3339
	Wire     []string `json:"wire"`
	Opened   []string `json:"opened,omitempty"` // valid: what the last delivery opens
	Signer   string   `json:"signer,omitempty"` // valid: the key name reported as signer
	Error    string   `json:"error,omitempty"`  // invalid: the e2e error class (e2e.ClassOf)
	Producer string   `json:"producer"`         // who made the wire: "xmppe2e", "GnuPG 2.2.40", ...
}

//go:embed *.json
var embedded embed.FS

// Embedded returns the vector files shipped in this package, by scheme name.
func Embedded() (map[string]*File, error) { return load(embedded, ".") }

// LoadDir reads every *.json vector file in dir (the schema file aside). A
// directory that does not exist, or holds no vector file, is an error.
func LoadDir(dir string) (map[string]*File, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	files, err := load(os.DirFS(dir), ".")
	if err == nil && len(files) == 0 {
		err = fmt.Errorf("no vector files (SCHEME.json) in %s", dir)
	}
	return files, err
}

func load(fsys fs.FS, dir string) (map[string]*File, error) {
	names, err := fs.Glob(fsys, filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	out := map[string]*File{}
	for _, n := range names {
		if strings.HasSuffix(n, ".schema.json") {
			continue
		}
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		f, err := Decode(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		out[f.Scheme] = f
	}
	return out, nil
}

// Decode parses a vector file and checks its form.
func Decode(b []byte) (*File, error) {
	var f File
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&f); err != nil {
		return nil, err
	}
	if f.Schema != SchemaID {
		return nil, fmt.Errorf("schema %q, want %q", f.Schema, SchemaID)
	}
	n := 0
	ids := map[int]bool{}
	for _, g := range f.Groups {
		for _, v := range g.Tests {
			n++
			if ids[v.TcID] {
				return nil, fmt.Errorf("tcId %d appears twice", v.TcID)
			}
			ids[v.TcID] = true
			switch v.Result {
			case Valid, Invalid, Acceptable:
			default:
				return nil, fmt.Errorf("tcId %d: result %q", v.TcID, v.Result)
			}
			if v.Error != "" && e2e.ClassByName(v.Error) == nil {
				return nil, fmt.Errorf("tcId %d: unknown error class %q", v.TcID, v.Error)
			}
			for _, fl := range v.Flags {
				if _, ok := f.Notes[fl]; !ok {
					return nil, fmt.Errorf("tcId %d: flag %q has no note", v.TcID, fl)
				}
			}
		}
	}
	if n != f.NumberOfTests {
		return nil, fmt.Errorf("numberOfTests is %d but the file has %d", f.NumberOfTests, n)
	}
	return &f, nil
}

// Encode writes f as indented JSON with a final newline, the form the files
// are committed in, after setting NumberOfTests.
func Encode(f *File) ([]byte, error) {
	f.NumberOfTests = 0
	for _, g := range f.Groups {
		f.NumberOfTests += len(g.Tests)
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Outcome is what checking one vector found.
type Outcome struct {
	Group  int
	Vector Vector
	Err    error  // nil when the vector passed
	Got    string // what happened: "opened", or the error class
}

// Passed reports whether the vector passed.
func (o Outcome) Passed() bool { return o.Err == nil }

// Verify checks every vector of f against s and returns one outcome per
// vector, in file order.
func Verify(ctx context.Context, s e2e.Scheme, f *File) []Outcome {
	var out []Outcome
	for gi, g := range f.Groups {
		for _, v := range g.Tests {
			got, err := Check(ctx, s, &g, v)
			out = append(out, Outcome{Group: gi, Vector: v, Err: err, Got: got})
		}
	}
	return out
}

// Observe delivers the vector's wire stanzas, in order, to a fresh session
// of the group's receiver with the vector's clock, and returns what the last
// delivery gave. An earlier stanza that is refused is an error of its own
// (setupErr): the vector is broken.
func Observe(ctx context.Context, s e2e.Scheme, g *Group, v Vector) (res e2e.Received, recvErr, setupErr error) {
	defer func() {
		if p := recover(); p != nil {
			res, recvErr, setupErr = e2e.Received{}, nil, fmt.Errorf("panic: %v", p)
		}
	}()
	cfg, err := g.config(s)
	if err != nil {
		return res, nil, err
	}
	now, err := time.Parse(time.RFC3339Nano, v.Now)
	if err != nil {
		return res, nil, fmt.Errorf("now: %v", err)
	}
	cfg.Clock = func() time.Time { return now }
	sess, err := s.NewSession(cfg)
	if err != nil {
		return res, nil, fmt.Errorf("NewSession: %v", err)
	}
	if len(v.Wire) == 0 {
		return res, nil, errors.New("no wire stanza")
	}
	for i, w := range v.Wire {
		st, perr := e2e.Parse([]byte(w))
		if perr != nil {
			res, recvErr = e2e.Received{}, perr
		} else {
			res, recvErr = sess.Receive(ctx, st)
		}
		if i < len(v.Wire)-1 && recvErr != nil {
			return e2e.Received{}, nil, fmt.Errorf("setup stanza %d refused: %v", i, recvErr)
		}
	}
	return res, recvErr, nil
}

// Check runs one vector of group g against s. It returns what happened (the
// error class, "opened" or "nothing") and an error when that is not what the
// vector expects.
func Check(ctx context.Context, s e2e.Scheme, g *Group, v Vector) (got string, err error) {
	defer func() {
		if err != nil && g.ReceiverSeed != "" && !SeededCrypto() {
			err = fmt.Errorf("%w (this program's crypto ignores the group's seeded randomness, so a recorded handshake cannot replay: run it with GODEBUG=cryptocustomrand=1)", err)
		}
	}()
	res, rerr, serr := Observe(ctx, s, g, v)
	if serr != nil {
		return "setup", serr
	}
	if rerr != nil {
		got = e2e.ClassOf(rerr)
		if len(res.Opened) > 0 {
			return got, fmt.Errorf("an error (%v) came with opened stanzas", rerr)
		}
		switch {
		case v.Result == Valid:
			return got, fmt.Errorf("refused a valid vector: %v", rerr)
		case v.Result == Invalid && v.Error != "" && got != v.Error:
			return got, fmt.Errorf("refused with %q, want %q (%v)", got, v.Error, rerr)
		}
		return got, nil
	}
	got = "opened"
	if len(res.Opened) == 0 {
		got = "nothing"
	}
	switch v.Result {
	case Invalid:
		if len(res.Opened) == 0 && len(res.Replies) > 0 && v.Error == "" {
			return "replies", nil // refused by protocol: nothing opened
		}
		return got, fmt.Errorf("accepted an invalid vector (%d opened, %d replies)", len(res.Opened), len(res.Replies))
	case Acceptable:
		return got, nil
	}
	if len(res.Opened) != len(v.Opened) {
		return got, fmt.Errorf("%d stanzas opened, want %d", len(res.Opened), len(v.Opened))
	}
	for i, o := range res.Opened {
		want, perr := e2e.Parse([]byte(v.Opened[i]))
		if perr != nil {
			return got, fmt.Errorf("the vector's opened stanza %d: %v", i, perr)
		}
		if !o.Stanza.Equal(want) {
			return got, fmt.Errorf("opened %s, want %s", o.Stanza, want)
		}
	}
	if v.Signer != "" {
		k, ok := g.Keys[v.Signer]
		if !ok {
			return got, fmt.Errorf("signer %q is not a key of the group", v.Signer)
		}
		p, perr := s.ParsePeer([]byte(k.Peer))
		if perr != nil {
			return got, fmt.Errorf("signer key: %v", perr)
		}
		last := res.Opened[len(res.Opened)-1]
		if last.Signer == nil || last.Signer.Fingerprint() != p.Fingerprint() {
			return got, fmt.Errorf("signer %v, want %s", last.Signer, v.Signer)
		}
	}
	return got, nil
}

// SeededCrypto reports whether this program's crypto packages use the
// random source they are given. Go 1.26 and later ignore it in crypto/ecdh
// and elsewhere unless GODEBUG=cryptocustomrand=1 (or a //go:debug
// directive in the main package) says otherwise; without it, the xtls
// vectors, whose receivers must draw the TLS key shares they drew when the
// transcript was recorded, cannot replay.
func SeededCrypto() bool {
	a, err1 := ecdh.X25519().GenerateKey(constantReader{})
	b, err2 := ecdh.X25519().GenerateKey(constantReader{})
	return err1 == nil && err2 == nil && a.Equal(b)
}

// constantReader yields 0x42 forever: the same key every time, whatever
// the reader's position.
type constantReader struct{}

func (constantReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 0x42
	}
	return len(p), nil
}

// config builds the receiver's session configuration from the group's keys.
func (g *Group) config(s e2e.Scheme) (e2e.Config, error) {
	var cfg e2e.Config
	r, ok := g.Keys[g.Receiver]
	if !ok {
		return cfg, fmt.Errorf("receiver %q is not a key of the group", g.Receiver)
	}
	if r.Identity != "" {
		id, err := s.ParseIdentity([]byte(r.Identity))
		if err != nil {
			return cfg, fmt.Errorf("receiver identity: %v", err)
		}
		cfg.Local = id
	}
	j, err := jid.Parse(g.ReceiverJID)
	if err != nil {
		return cfg, fmt.Errorf("receiverJid: %v", err)
	}
	cfg.JID = j
	if g.ReceiverSeed != "" {
		seed, err := hex.DecodeString(g.ReceiverSeed)
		if err != nil || len(seed) != 32 {
			return cfg, fmt.Errorf("receiverSeed: want 32 bytes of hex")
		}
		cfg.Rand = rand.NewChaCha8([32]byte(seed))
	}
	for _, name := range g.Peers {
		k, ok := g.Keys[name]
		if !ok {
			return cfg, fmt.Errorf("peer %q is not a key of the group", name)
		}
		p, err := s.ParsePeer([]byte(k.Peer))
		if err != nil {
			return cfg, fmt.Errorf("peer %s: %v", name, err)
		}
		cfg.Peers = append(cfg.Peers, p)
	}
	return cfg, nil
}

// SchemeNames returns the names of the files' schemes, sorted.
func SchemeNames(files map[string]*File) []string {
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
