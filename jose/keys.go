package jose

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"

	gojose "github.com/go-jose/go-jose/v4"
	"mellium.im/xmpp/jid"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// Limits on keys read from files and from the wire.
const (
	// MinRSABits is the smallest RSA modulus accepted for device and
	// signing keys.
	MinRSABits = 2048
	// MaxRSABits is the largest RSA modulus accepted (bounds the cost a
	// hostile key can impose).
	MaxRSABits = 8192
	// maxKeySetKeys bounds the keys in a JWK Set (pkey and key files).
	maxKeySetKeys = 16
	// maxKeyJSON bounds the size of one JWK or JWK Set in bytes.
	maxKeyJSON = 64 << 10
)

// A key is one parsed JWK with the members go-jose drops (key_ops) kept, so
// that the algorithms it may be used with can be pinned.
type key struct {
	gojose.JSONWebKey
	ops []string     // key_ops, nil when absent
	kek cipher.Block // AES cipher of an oct key, made once by withKEK (or nil)
}

// withKEK returns k with the AES cipher of its octets made once, for the
// AES key unwrap of every stanza under an SMK. Other keys are unchanged.
func withKEK(k key) key {
	if b, ok := k.Key.([]byte); ok && k.kek == nil {
		if c, err := aes.NewCipher(b); err == nil {
			k.kek = c
		}
	}
	return k
}

// parseKey reads one JWK. Private keys are allowed only with private set.
func parseKey(b []byte, private bool) (key, error) {
	if len(b) > maxKeyJSON {
		return key{}, fmt.Errorf("jose: %w: JWK of %d bytes", e2e.ErrMalformed, len(b))
	}
	var k key
	if err := json.Unmarshal(b, &k.JSONWebKey); err != nil {
		return key{}, fmt.Errorf("jose: %w: JWK: %v", e2e.ErrMalformed, err)
	}
	// Member names are case-sensitive (RFC 7517 §4): only "key_ops".
	var members map[string]json.RawMessage
	if err := json.Unmarshal(b, &members); err != nil {
		return key{}, fmt.Errorf("jose: %w: JWK: %v", e2e.ErrMalformed, err)
	}
	if ops, ok := members["key_ops"]; ok {
		if err := json.Unmarshal(ops, &k.ops); err != nil {
			return key{}, fmt.Errorf("jose: %w: JWK key_ops: %v", e2e.ErrMalformed, err)
		}
	}
	if b, sym := k.Key.([]byte); sym {
		if len(b) == 0 {
			return key{}, fmt.Errorf("jose: %w: empty oct JWK", e2e.ErrMalformed)
		}
	} else if !k.Valid() {
		return key{}, fmt.Errorf("jose: %w: invalid JWK", e2e.ErrMalformed)
	}
	if !private && !k.IsPublic() {
		if _, sym := k.Key.([]byte); !sym {
			return key{}, fmt.Errorf("jose: %w: expected a public JWK, got a private one", e2e.ErrMalformed)
		}
	}
	if err := checkKeySize(k.Key); err != nil {
		return key{}, err
	}
	return k, nil
}

func checkKeySize(k any) error {
	var n int
	switch k := k.(type) {
	case *rsa.PublicKey:
		n = k.N.BitLen()
	case *rsa.PrivateKey:
		n = k.N.BitLen()
	default:
		return nil
	}
	if n < MinRSABits || n > MaxRSABits {
		return fmt.Errorf("jose: %w: RSA key of %d bits (want %d to %d)", e2e.ErrUnsupported, n, MinRSABits, MaxRSABits)
	}
	return nil
}

// parseKeys reads a JWK or a JWK Set ({"keys":[...]}).
func parseKeys(b []byte, private bool) ([]key, error) { return parseKeySet(b, private, false) }

// parseKeySet is parseKeys; with skipBad the members of a set that are not
// usable keys (unknown kty, a key too small) are left out instead of
// failing the set, as a key request's <pkey/> needs (-06 §5.2 step 2: the
// sender chooses one of the offered keys).
func parseKeySet(b []byte, private, skipBad bool) ([]key, error) {
	if len(b) > maxKeyJSON {
		return nil, fmt.Errorf("jose: %w: key file of %d bytes", e2e.ErrMalformed, len(b))
	}
	// A JWK Set is an object with a "keys" member (RFC 7517 §5; names are
	// case-sensitive).
	var members map[string]json.RawMessage
	if err := json.Unmarshal(b, &members); err != nil {
		return nil, fmt.Errorf("jose: %w: JWK: %v", e2e.ErrMalformed, err)
	}
	var set struct{ Keys []json.RawMessage }
	if raw, ok := members["keys"]; ok {
		if err := json.Unmarshal(raw, &set.Keys); err != nil {
			return nil, fmt.Errorf("jose: %w: JWK Set: %v", e2e.ErrMalformed, err)
		}
	}
	if set.Keys == nil {
		k, err := parseKey(b, private)
		if err != nil {
			return nil, err
		}
		return []key{k}, nil
	}
	if len(set.Keys) == 0 || len(set.Keys) > maxKeySetKeys {
		return nil, fmt.Errorf("jose: %w: JWK Set of %d keys (want 1 to %d)", e2e.ErrMalformed, len(set.Keys), maxKeySetKeys)
	}
	out := make([]key, 0, len(set.Keys))
	for _, raw := range set.Keys {
		k, err := parseKey(raw, private)
		if err != nil {
			if skipBad {
				continue
			}
			return nil, err
		}
		out = append(out, k)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("jose: %w: no usable key in the JWK Set", e2e.ErrUnsupported)
	}
	return out, nil
}

// Purposes a key may serve; see allowedAlgs.
type purpose int

const (
	forSigning    purpose = iota // verify or sign a JWS
	forKeyWrap                   // wrap or unwrap a CEK (JWE "alg")
	forEncryption                // JWE "enc" with a direct key (never allowed here)
)

// Profile defaults for keys that do not name their own "alg".
var (
	defaultSigAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
	defaultRSAWrap = []string{"RSA-OAEP", "RSA-OAEP-256", "RSA1_5"}
	defaultECWrap  = []string{"ECDH-ES+A128KW", "ECDH-ES+A192KW", "ECDH-ES+A256KW"}
)

// allowedAlgs returns the algorithms k may be used with for p: the key's own
// "alg" when it names one, otherwise the profile's set for its type, and
// nothing when its "use" or "key_ops" forbid the purpose. go-jose itself
// ignores alg, use and key_ops; this is where they are enforced.
func allowedAlgs(k key, p purpose) []string {
	switch k.Use {
	case "":
	case "sig":
		if p != forSigning {
			return nil
		}
	case "enc":
		if p == forSigning {
			return nil
		}
	default:
		return nil
	}
	if k.ops != nil {
		var want []string
		switch p {
		case forSigning:
			want = []string{"verify", "sign"}
		case forKeyWrap:
			want = []string{"unwrapKey", "wrapKey", "decrypt", "encrypt"}
		}
		if !slices.ContainsFunc(k.ops, func(op string) bool { return slices.Contains(want, op) }) {
			return nil
		}
	}
	var set []string
	switch kk := k.Key.(type) {
	case *rsa.PublicKey, *rsa.PrivateKey:
		if p == forSigning {
			set = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
		} else {
			set = defaultRSAWrap
		}
	case []byte:
		switch p {
		case forKeyWrap:
			switch len(kk) {
			case 16:
				set = []string{"A128KW"}
			case 24:
				set = []string{"A192KW"}
			case 32:
				set = []string{"A256KW"}
			}
		case forSigning:
			set = []string{"HS256", "HS384", "HS512"}
		}
	default:
		if p == forSigning {
			set = defaultSigAlgs
		} else {
			set = defaultECWrap
		}
	}
	if k.Algorithm != "" {
		if slices.Contains(set, k.Algorithm) {
			return []string{k.Algorithm}
		}
		return nil
	}
	return set
}

// thumbprint is the RFC 7638 SHA-256 thumbprint of k, base64url.
func thumbprint(k gojose.JSONWebKey) string {
	t, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(t)
}

// Identity is a local party's long-term key: an RSA key pair (RS256
// signatures and RSA-OAEP key transport of SMKs) bound to a bare JID by its
// "kid", or two of them with "use" "sig" and "use" "enc", plus any
// pre-placed Session Master Keys (oct keys whose "kid" is the SID) read from
// a JWK Set.
type Identity struct {
	addr jid.JID
	priv key  // signing key (and device key when enc is nil)
	enc  *key // separate device key for SMK transport, or nil
	smks []key
}

// device is the key that SMKs are encrypted to.
func (id *Identity) device() key {
	if id.enc != nil {
		return *id.enc
	}
	return id.priv
}

// NewIdentity returns the identity of addr with the RSA private key priv.
func NewIdentity(addr jid.JID, priv *rsa.PrivateKey) (*Identity, error) {
	if err := checkKeySize(priv); err != nil {
		return nil, err
	}
	k := key{JSONWebKey: gojose.JSONWebKey{Key: priv, KeyID: addr.Bare().String()}}
	return &Identity{addr: addr.Bare(), priv: k}, nil
}

// JID is the bare JID the identity is bound to (its key's "kid").
func (id *Identity) JID() jid.JID { return id.addr }

// Public returns the public half as a *Peer.
func (id *Identity) Public() e2e.Peer {
	p := &Peer{addr: id.addr, key: key{JSONWebKey: id.priv.Public(), ops: id.priv.ops}}
	if id.enc != nil {
		p.enc = &key{JSONWebKey: id.enc.Public(), ops: id.enc.ops}
	}
	return p
}

// SessionKeys returns the pre-placed Session Master Keys, as oct JWKs whose
// "kid" is the SID.
func (id *Identity) SessionKeys() []gojose.JSONWebKey {
	out := make([]gojose.JSONWebKey, len(id.smks))
	for i, k := range id.smks {
		out[i] = k.JSONWebKey
	}
	return out
}

// WithSessionKey returns a copy of id that also holds the pre-placed SMK
// smk (16, 24 or 32 octets) named sid.
func (id *Identity) WithSessionKey(sid string, smk []byte) (*Identity, error) {
	if sid == "" || wrapAlgFor(len(smk)) == "" {
		return nil, fmt.Errorf("jose: %w: an SMK needs a SID and 16, 24 or 32 octets", e2e.ErrMalformed)
	}
	c := *id
	c.smks = append(slices.Clip(id.smks), withKEK(key{JSONWebKey: gojose.JSONWebKey{Key: slices.Clone(smk), KeyID: sid, Algorithm: wrapAlgFor(len(smk)), Use: "enc"}}))
	return &c, nil
}

// Marshal writes the identity as a private JWK, or as a JWK Set when it
// holds pre-placed SMKs. ParseIdentity reads both back.
func (id *Identity) Marshal() ([]byte, error) {
	if len(id.smks) == 0 && id.enc == nil {
		return json.Marshal(id.priv.JSONWebKey)
	}
	var set gojose.JSONWebKeySet
	if id.priv.Key != nil {
		set.Keys = append(set.Keys, id.priv.JSONWebKey)
	}
	if id.enc != nil {
		set.Keys = append(set.Keys, id.enc.JSONWebKey)
	}
	set.Keys = append(set.Keys, id.SessionKeys()...)
	return json.Marshal(set)
}

func (id *Identity) rsaKey() *rsa.PrivateKey {
	k, _ := id.priv.Key.(*rsa.PrivateKey)
	return k
}

// Peer is a remote party's public key: an RSA public JWK whose "kid" is the
// party's bare JID (zero JID when the kid is not one), or a JWK Set of a
// signing key ("use" "sig") and a device key ("use" "enc"). Its fingerprint
// is the RFC 7638 SHA-256 thumbprint of the (signing) key; the device key is
// trusted with it.
type Peer struct {
	addr jid.JID
	key  key  // signing key (and device key when enc is nil)
	enc  *key // separate device key, or nil
}

// holds reports whether k is one of the peer's keys (by thumbprint).
func (p *Peer) holds(k key) bool {
	t := thumbprint(k.JSONWebKey)
	return t != "" && (t == thumbprint(p.key.JSONWebKey) || p.enc != nil && t == thumbprint(p.enc.JSONWebKey))
}

// JID is the bare JID named by the key's "kid", or the zero JID.
func (p *Peer) JID() jid.JID { return p.addr }

// Fingerprint is the RFC 7638 SHA-256 JWK thumbprint, base64url.
func (p *Peer) Fingerprint() string { return thumbprint(p.key.JSONWebKey) }

// Marshal writes the public JWK, or the JWK Set of both keys.
func (p *Peer) Marshal() ([]byte, error) {
	if p.enc == nil {
		return json.Marshal(p.key.JSONWebKey)
	}
	return json.Marshal(gojose.JSONWebKeySet{Keys: []gojose.JSONWebKey{p.key.JSONWebKey, p.enc.JSONWebKey}})
}

// JWK returns the peer's public key.
func (p *Peer) JWK() gojose.JSONWebKey { return p.key.JSONWebKey }

// kidJID reads a bare JID from a kid; zero when the kid is not a JID with a
// localpart (device kids carry full JIDs, those become bare).
func kidJID(kid string) jid.JID {
	j, err := jid.Parse(kid)
	if err != nil || j.Localpart() == "" {
		return jid.JID{}
	}
	return j.Bare()
}

// ParseIdentity reads a private RSA JWK, or a JWK Set with exactly one private
// RSA key and any number of oct keys (pre-placed SMKs, "kid" = SID).
func parseIdentity(b []byte) (*Identity, error) {
	keys, err := parseKeys(b, true)
	if err != nil {
		return nil, err
	}
	id := &Identity{}
	var rsaKeys []key
	for _, k := range keys {
		switch kk := k.Key.(type) {
		case *rsa.PrivateKey:
			rsaKeys = append(rsaKeys, k)
		case []byte:
			if k.KeyID == "" || wrapAlgFor(len(kk)) == "" || len(allowedAlgs(k, forKeyWrap)) == 0 {
				return nil, fmt.Errorf("jose: %w: an SMK needs a kid (the SID), 16/24/32 octets and a key-wrap alg", e2e.ErrMalformed)
			}
			id.smks = append(id.smks, withKEK(k))
		default:
			return nil, fmt.Errorf("jose: %w: identity key of type %T (want RSA private or oct)", e2e.ErrUnsupported, k.Key)
		}
	}
	sig, enc, err := splitUse(rsaKeys)
	if err != nil {
		return nil, err
	}
	if sig == nil {
		if len(id.smks) == 0 {
			return nil, fmt.Errorf("jose: %w: no private key in the key file", e2e.ErrNoKey)
		}
		return id, nil
	}
	id.priv, id.enc, id.addr = *sig, enc, kidJID(sig.KeyID)
	return id, nil
}

func parsePeer(b []byte) (*Peer, error) {
	keys, err := parseKeys(b, false)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if _, ok := k.Key.(*rsa.PublicKey); !ok {
			return nil, fmt.Errorf("jose: %w: peer key of type %T (want RSA public)", e2e.ErrUnsupported, k.Key)
		}
	}
	sig, enc, err := splitUse(keys)
	if err != nil {
		return nil, err
	}
	return &Peer{addr: kidJID(sig.KeyID), key: *sig, enc: enc}, nil
}

// splitUse sorts one RSA key (both uses), or two with "use" "sig" and "enc"
// and the same bare JID kid, into the signing and the device key.
func splitUse(keys []key) (sig, enc *key, err error) {
	switch len(keys) {
	case 0:
		return nil, nil, nil
	case 1:
		return &keys[0], nil, nil
	case 2:
		a, b := &keys[0], &keys[1]
		if a.Use == "enc" {
			a, b = b, a
		}
		if a.Use == "sig" && b.Use == "enc" && kidJID(a.KeyID).Equal(kidJID(b.KeyID)) {
			return a, b, nil
		}
	}
	return nil, nil, fmt.Errorf("jose: %w: want one RSA key, or two with use sig and enc for the same JID, got %d", e2e.ErrMalformed, len(keys))
}

// wrapAlgFor names the AES key wrap for an SMK of n octets, "" for others.
func wrapAlgFor(n int) string {
	switch n {
	case 16:
		return "A128KW"
	case 24:
		return "A192KW"
	case 32:
		return "A256KW"
	}
	return ""
}
