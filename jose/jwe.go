package jose

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	gojose "github.com/go-jose/go-jose/v4"
	josecipher "github.com/go-jose/go-jose/v4/cipher"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// Content encryption algorithms (RFC 7518 names) this profile seals and opens.
var contentAlgs = []string{"A256CBC-HS512", "A128CBC-HS256", "A192CBC-HS384", "A256GCM", "A128GCM", "A192GCM"}

// cekSize is the CEK (-06: CMK) length of a content algorithm, 0 if unknown.
func cekSize(enc string) int {
	switch enc {
	case "A128CBC-HS256":
		return 32
	case "A192CBC-HS384":
		return 48
	case "A256CBC-HS512":
		return 64
	case "A128GCM":
		return 16
	case "A192GCM":
		return 24
	case "A256GCM":
		return 32
	}
	return 0
}

// tagSize is the authentication tag length of a content algorithm.
func tagSize(enc string) int {
	if strings.HasSuffix(enc, "GCM") {
		return 16
	}
	return cekSize(enc) / 2
}

// nonceSize is the IV length of a content algorithm (RFC 7518 §5.2.2.1,
// §5.3).
func nonceSize(enc string) int {
	if strings.HasSuffix(enc, "GCM") {
		return 12
	}
	return 16
}

func newAEAD(enc string, cek []byte) (cipher.AEAD, error) {
	if n := cekSize(enc); n == 0 || n != len(cek) {
		return nil, fmt.Errorf("jose: %w: content algorithm %q with a %d-octet key", e2e.ErrUnsupported, enc, len(cek))
	}
	if strings.HasSuffix(enc, "GCM") {
		b, err := aes.NewCipher(cek)
		if err != nil {
			return nil, err
		}
		return cipher.NewGCM(b)
	}
	return josecipher.NewCBCHMAC(cek, aes.NewCipher)
}

// jweHeader is the protected header this profile writes: the members of the
// draft's examples, in the draft's order.
type jweHeader struct {
	Alg string `json:"alg"`
	Enc string `json:"enc"`
	Kid string `json:"kid,omitempty"`
	Cty string `json:"cty,omitempty"`
}

// compact is a JWE or JWS in compact serialization, split into its parts as
// the <e2e/> element carries them (base64url text, unpadded).
type compact []string

func (c compact) String() string { return strings.Join(c, ".") }

var b64 = base64.RawURLEncoding

func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// wrapCEK encrypts the CEK for the key-management algorithm alg.
func wrapCEK(rand io.Reader, alg string, k any, cek []byte) ([]byte, error) {
	switch alg {
	case "A128KW", "A192KW", "A256KW":
		smk, ok := k.([]byte)
		if !ok || wrapAlgFor(len(smk)) != alg {
			return nil, fmt.Errorf("jose: %w: %s needs a %s key", e2e.ErrNoKey, alg, alg)
		}
		b, err := aes.NewCipher(smk)
		if err != nil {
			return nil, err
		}
		return josecipher.KeyWrap(b, cek)
	case "RSA-OAEP", "RSA-OAEP-256", "RSA1_5":
		pub, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("jose: %w: %s needs an RSA public key", e2e.ErrNoKey, alg)
		}
		switch alg {
		case "RSA-OAEP":
			return rsa.EncryptOAEP(sha1.New(), rand, pub, cek, nil)
		case "RSA-OAEP-256":
			return rsa.EncryptOAEP(sha256.New(), rand, pub, cek, nil)
		default:
			return rsa.EncryptPKCS1v15(rand, pub, cek)
		}
	}
	return nil, fmt.Errorf("jose: %w: key management algorithm %q", e2e.ErrUnsupported, alg)
}

// sealCompact encrypts pt as a compact JWE with header h, drawing the CEK
// and IV from rand. The AAD is the encoded protected header (RFC 7516).
func sealCompact(rand io.Reader, h jweHeader, k any, pt []byte) (compact, error) {
	cek := make([]byte, cekSize(h.Enc))
	if len(cek) == 0 {
		return nil, fmt.Errorf("jose: %w: content algorithm %q", e2e.ErrUnsupported, h.Enc)
	}
	if _, err := io.ReadFull(rand, cek); err != nil {
		return nil, err
	}
	return sealCompactCEK(rand, h, k, cek, nil, pt)
}

// sealCompactCEK is sealCompact with a given CEK and, when iv is not nil, a
// given IV: the path known-answer tests use to reproduce published output.
func sealCompactCEK(rand io.Reader, h jweHeader, k any, cek, iv, pt []byte) (compact, error) {
	hdr, err := marshalJSON(h)
	if err != nil {
		return nil, err
	}
	return sealRaw(rand, hdr, h.Alg, h.Enc, k, cek, iv, pt)
}

// sealRaw encrypts with the protected header hdr (JSON, naming alg and enc).
func sealRaw(rand io.Reader, hdr []byte, alg, enc string, k any, cek, iv, pt []byte) (compact, error) {
	aead, err := newAEAD(enc, cek)
	if err != nil {
		return nil, err
	}
	ek, err := wrapCEK(rand, alg, k, cek)
	if err != nil {
		return nil, err
	}
	if iv == nil {
		iv = make([]byte, aead.NonceSize())
		if _, err := io.ReadFull(rand, iv); err != nil {
			return nil, err
		}
	}
	return sealEncoded(b64.EncodeToString(hdr), nil, enc, aead, ek, iv, pt), nil
}

// sealEncoded finishes a compact JWE under an encoded header; aad is
// encHdr as bytes (nil: converted here). The five parts are encoded into
// one string and returned as substrings of it.
func sealEncoded(encHdr string, aad []byte, enc string, aead cipher.AEAD, ek, iv, pt []byte) compact {
	if aad == nil {
		aad = []byte(encHdr)
	}
	tagLen := tagSize(enc)
	sealed := aead.Seal(make([]byte, 0, len(pt)+aead.Overhead()), iv, pt, aad)
	ct, tag := sealed[:len(sealed)-tagLen], sealed[len(sealed)-tagLen:]
	return joinParts(encHdr, ek, iv, ct, tag)
}

// joinParts encodes raw as base64url after head, all in one string, and
// returns head and the encodings as the parts of a compact serialization
// (substrings of that string: one allocation for the text of a JWE).
func joinParts(head string, raw ...[]byte) compact {
	n := len(head)
	for _, r := range raw {
		n += b64.EncodedLen(len(r))
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(head)
	bounds := make([]int, 1, len(raw)+1)
	bounds[0] = b.Len()
	var chunk [1024]byte // encodes 768 octets: a multiple of 3, so chunks concatenate
	for _, r := range raw {
		for len(r) > 0 {
			k := min(len(r), 768)
			b64.Encode(chunk[:], r[:k])
			b.Write(chunk[:b64.EncodedLen(k)])
			r = r[k:]
		}
		bounds = append(bounds, b.Len())
	}
	all := b.String()
	c := make(compact, len(bounds))
	c[0] = all[:bounds[0]]
	for i := 1; i < len(bounds); i++ {
		c[i] = all[bounds[i-1]:bounds[i]]
	}
	return c
}

// protectedHeader decodes and checks a JWE or JWS protected header without
// verifying anything: a JSON object whose "alg" (and for a JWE "enc") this
// profile knows, with no "zip", "crit" or password-based algorithm. Keys in
// the header (jwk, jku, x5u, x5c) are never used for anything.
type protectedHeader struct {
	Alg  string          `json:"alg"`
	Enc  string          `json:"enc"`
	Kid  string          `json:"kid"`
	Cty  string          `json:"cty"`
	Zip  json.RawMessage `json:"zip"`
	Crit json.RawMessage `json:"crit"`
}

// decodeHeader reads the JOSE header JSON raw into h. Header Parameter
// names are case-sensitive (RFC 7515 §4, RFC 7516 §4), unlike the field
// matching of encoding/json: "ALG" or "Enc" is an unknown parameter, ignored,
// never "alg" or "enc". A duplicate name yields its last value, as RFC 7516
// §4 allows.
func decodeHeader(raw []byte, h *protectedHeader) error {
	var m map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(raw))
	if err := d.Decode(&m); err != nil || m == nil || d.More() {
		return fmt.Errorf("jose: %w: protected header is not a JSON object", e2e.ErrMalformed)
	}
	for name, dst := range map[string]*string{"alg": &h.Alg, "enc": &h.Enc, "kid": &h.Kid, "cty": &h.Cty} {
		if v, ok := m[name]; ok {
			if err := json.Unmarshal(v, dst); err != nil {
				return fmt.Errorf("jose: %w: header parameter %q is not a string", e2e.ErrMalformed, name)
			}
		}
	}
	h.Zip, h.Crit = m["zip"], m["crit"]
	return nil
}

func parseProtected(s string, jwe bool) (protectedHeader, error) {
	var h protectedHeader
	raw, err := b64.DecodeString(s)
	if err != nil {
		return h, fmt.Errorf("jose: %w: protected header is not base64url", e2e.ErrMalformed)
	}
	if len(raw) > 4096 {
		return h, fmt.Errorf("jose: %w: protected header of %d bytes", e2e.ErrMalformed, len(raw))
	}
	if err := decodeHeader(raw, &h); err != nil {
		return h, err
	}
	switch {
	case h.Zip != nil:
		return h, fmt.Errorf("jose: %w: compressed (zip) content is refused", e2e.ErrMalformed)
	case h.Crit != nil:
		return h, fmt.Errorf("jose: %w: no critical header extension is understood", e2e.ErrMalformed)
	case h.Alg == "" || h.Alg == "none" || h.Alg == "dir" || strings.HasPrefix(h.Alg, "PBES2"):
		return h, fmt.Errorf("jose: %w: algorithm %q is refused", e2e.ErrMalformed, h.Alg)
	case jwe && !slices.Contains(contentAlgs, h.Enc):
		return h, fmt.Errorf("jose: %w: content algorithm %q is refused", e2e.ErrMalformed, h.Enc)
	}
	return h, nil
}

// errDecrypt is the one error of every failed decryption (no oracle).
var errDecrypt = fmt.Errorf("jose: %w", e2e.ErrDecrypt)

// checkCompact checks the shape of a compact JWE (5 parts) or JWS (3
// parts): canonical base64url everywhere and an acceptable protected header.
func checkCompact(c compact, jwe bool) (protectedHeader, error) {
	n, what := 3, "JWS"
	if jwe {
		n, what = 5, "JWE"
	}
	if len(c) != n {
		return protectedHeader{}, fmt.Errorf("jose: %w: a compact %s has %d parts, got %d", e2e.ErrMalformed, what, n, len(c))
	}
	if err := strictParts(c); err != nil {
		return protectedHeader{}, err
	}
	return parseProtected(c[0], jwe)
}

// openCompact decrypts a compact JWE with k, accepting only the algorithms
// pinned for k (allowedAlgs). It returns the checked protected header.
// AES key wrap is done here; RSA and ECDH by go-jose, whose panics become
// ErrDecrypt.
func openCompact(c compact, k key) (h protectedHeader, pt []byte, err error) {
	if h, err = checkCompact(c, true); err != nil {
		return h, nil, err
	}
	pt, err = openParsed(c, h, k)
	return h, pt, err
}

// openParsed is openCompact for parts already checked by readParts and a
// header already checked by parseProtected.
func openParsed(c compact, h protectedHeader, k key) (pt []byte, err error) {
	algs := allowedAlgs(k, forKeyWrap)
	if !slices.Contains(algs, h.Alg) {
		return nil, fmt.Errorf("jose: %w: algorithm %q is not allowed for this key", e2e.ErrDecrypt, h.Alg)
	}
	if smk, ok := k.Key.([]byte); ok {
		return openKW(c, h, smk, k.kek)
	}
	defer func() {
		if r := recover(); r != nil {
			pt, err = nil, errDecrypt
		}
	}()
	obj, err := gojose.ParseEncryptedCompact(c.String(), keyAlgs(algs), encAlgs(contentAlgs))
	if err != nil {
		return nil, fmt.Errorf("jose: %w: %v", e2e.ErrMalformed, err)
	}
	pt, err = obj.Decrypt(k.Key)
	if err != nil {
		return nil, errDecrypt
	}
	return pt, nil
}

// openKW decrypts a compact JWE whose CEK is AES-key-wrapped with smk (the
// stanza path): unwrap, then the AEAD over the encoded header as AAD. The
// header is already checked and the alg pinned; parts are canonical
// base64url. kek is smk's AES cipher when the caller keeps one (nil: made
// here). The parts are decoded into one buffer and the content is opened
// in place.
func openKW(c compact, h protectedHeader, smk []byte, kek cipher.Block) ([]byte, error) {
	n := 0
	for _, p := range c[1:5] {
		n += b64.DecodedLen(len(p))
	}
	buf := make([]byte, n)
	var parts [4][]byte // ek, iv, ct||tag (contiguous), tag
	off := 0
	for i, p := range c[1:5] {
		m, err := b64.Decode(buf[off:], []byte(p))
		if err != nil {
			return nil, errDecrypt
		}
		parts[i] = buf[off : off+m : off+m]
		off += m
	}
	ek, iv, ct, tag := parts[0], parts[1], parts[2], parts[3]
	if kek == nil {
		var err error
		if kek, err = aes.NewCipher(smk); err != nil {
			return nil, errDecrypt
		}
	}
	cek, err := josecipher.KeyUnwrap(kek, ek)
	if err != nil || len(cek) != cekSize(h.Enc) {
		return nil, errDecrypt
	}
	aead, err := newAEAD(h.Enc, cek)
	if err != nil || len(iv) != aead.NonceSize() || len(tag) != tagSize(h.Enc) {
		return nil, errDecrypt
	}
	sealed := buf[off-len(tag)-len(ct) : off] // ct and tag, adjacent
	pt, err := aead.Open(sealed[:0], iv, sealed, []byte(c[0]))
	if err != nil {
		return nil, errDecrypt
	}
	return pt, nil
}

func keyAlgs(s []string) []gojose.KeyAlgorithm {
	out := make([]gojose.KeyAlgorithm, len(s))
	for i, a := range s {
		out[i] = gojose.KeyAlgorithm(a)
	}
	return out
}

func encAlgs(s []string) []gojose.ContentEncryption {
	out := make([]gojose.ContentEncryption, len(s))
	for i, a := range s {
		out[i] = gojose.ContentEncryption(a)
	}
	return out
}

func sigAlgs(s []string) []gojose.SignatureAlgorithm {
	out := make([]gojose.SignatureAlgorithm, len(s))
	for i, a := range s {
		out[i] = gojose.SignatureAlgorithm(a)
	}
	return out
}

// strictParts checks that every part is canonical unpadded base64url.
func strictParts(c compact) error {
	for i, p := range c {
		if !canonicalB64(p) {
			return fmt.Errorf("jose: %w: part %d is not canonical base64url", e2e.ErrMalformed, i+1)
		}
	}
	return nil
}
