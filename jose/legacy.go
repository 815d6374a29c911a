package jose

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"hash"

	josecipher "github.com/go-jose/go-jose/v4/cipher"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// OpenLegacy06 decrypts the five-part JWE in e (an <e2e type='enc'/> or a
// <keyreq/> response) written with the pre-RFC content algorithms of the
// draft's own examples, "A256CBC+HS512" and "A128CBC+HS256" (JOSE -11 era):
// the CEK splits into MAC key then encryption key, the tag is the first half
// of HMAC(MAC key, AAD ‖ ciphertext ‖ bit length of AAD) and the IV is not
// MACed. The draft's §3.4 example MACs "encheader.cmk" as the AAD, its §5.4
// example only "encheader"; both are tried. key is the SMK ([]byte, for
// A128KW/A256KW) or the device's *rsa.PrivateKey (RSA-OAEP, RSA1_5).
//
// It is decode-only, for known-answer tests and archives: it returns the
// raw plaintext, checks nothing about it (the §3.4 envelope is misspelled
// <fowarded/>), and Sessions never use it.
func OpenLegacy06(e *e2e.Element, key any) ([]byte, error) {
	c, err := readParts(e, jweParts)
	if err != nil {
		return nil, err
	}
	h, err := parseProtected(c[0], false)
	if err != nil {
		return nil, err
	}
	var newHash func() hash.Hash
	switch h.Enc {
	case "A256CBC+HS512":
		newHash = sha512.New
	case "A128CBC+HS256":
		newHash = sha256.New
	default:
		return nil, fmt.Errorf("jose: %w: %q is not a legacy -06 content algorithm", e2e.ErrUnsupported, h.Enc)
	}
	ek, _ := b64.DecodeString(c[1])
	iv, _ := b64.DecodeString(c[2])
	ct, _ := b64.DecodeString(c[3])
	tag, _ := b64.DecodeString(c[4])
	var cek []byte
	switch h.Alg {
	case "A128KW", "A256KW":
		k, ok := key.([]byte)
		if !ok || wrapAlgFor(len(k)) != h.Alg {
			return nil, fmt.Errorf("jose: %w: %s needs a %s key", e2e.ErrNoKey, h.Alg, h.Alg)
		}
		b, _ := aes.NewCipher(k)
		if cek, err = josecipher.KeyUnwrap(b, ek); err != nil {
			return nil, errDecrypt
		}
	case "RSA-OAEP", "RSA1_5":
		k, ok := key.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("jose: %w: %s needs an RSA private key", e2e.ErrNoKey, h.Alg)
		}
		if h.Alg == "RSA-OAEP" {
			cek, err = rsa.DecryptOAEP(sha1.New(), nil, k, ek, nil)
		} else {
			cek, err = rsa.DecryptPKCS1v15(nil, k, ek)
		}
		if err != nil {
			return nil, errDecrypt
		}
	default:
		return nil, fmt.Errorf("jose: %w: algorithm %q", e2e.ErrUnsupported, h.Alg)
	}
	n := newHash().Size() / 2 // key half and tag length
	if len(cek) != 2*n || len(iv) != aes.BlockSize || len(ct) == 0 || len(ct)%aes.BlockSize != 0 || len(tag) != n {
		return nil, errDecrypt
	}
	ok := false
	for _, aad := range []string{c[0] + "." + c[1], c[0]} {
		if subtle.ConstantTimeCompare(legacyTag(newHash, cek[:n], []byte(aad), ct), tag) == 1 {
			ok = true
		}
	}
	if !ok {
		return nil, errDecrypt
	}
	b, _ := aes.NewCipher(cek[n:])
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(b, iv).CryptBlocks(pt, ct)
	pad := int(pt[len(pt)-1])
	if pad == 0 || pad > aes.BlockSize {
		return nil, errDecrypt
	}
	for _, p := range pt[len(pt)-pad:] {
		if int(p) != pad {
			return nil, errDecrypt
		}
	}
	return pt[:len(pt)-pad], nil
}

// legacyTag is the -11-era tag: the first half of
// HMAC(macKey, AAD ‖ C ‖ uint64be(bits(AAD))).
func legacyTag(newHash func() hash.Hash, macKey, aad, ct []byte) []byte {
	m := hmac.New(newHash, macKey)
	m.Write(aad)
	m.Write(ct)
	var al [8]byte
	binary.BigEndian.PutUint64(al[:], uint64(len(aad))*8)
	m.Write(al[:])
	return m.Sum(nil)[:len(macKey)]
}
