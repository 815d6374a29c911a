package smime

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	cryptorand "crypto/rand"
	"crypto/rsa"
	_ "crypto/sha1" // hashes named in OAEP parameters
	_ "crypto/sha256"
	_ "crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// This file holds our own CMS EnvelopedData (RFC 5652 §6) and
// AuthEnvelopedData (RFC 5083, AES-GCM per RFC 5084) codec. smallstep/pkcs7
// keeps its algorithm choice in package globals, panics on crafted CBC
// padding, does not implement AuthEnvelopedData and writes non-standard GCM,
// so encryption and decryption are done here with encoding/asn1 and
// crypto/cipher. Only key transport to RSA recipients identified by issuer
// and serial number is supported.

var (
	oidData              = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidEnvelopedData     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 3}
	oidAuthEnvelopedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 23}
	oidSMIMECapabilities = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 15}

	oidRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidRSAESOAEP     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 7}
	oidMGF1          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}

	oidSHA1   = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}

	oidAES128CBC = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidAES128GCM = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 6}
	oidAES192GCM = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 26}
	oidAES256GCM = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 46}
	oidDESEDE3   = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
)

// errDecrypt is the one internal decryption failure. Its text says nothing
// about which step failed.
var errDecrypt = errors.New("smime: cannot decrypt")

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"explicit,tag:0"`
}

type contentInfoOut struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue
}

type algorithmIdentifier struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

type issuerAndSerial struct {
	Issuer asn1.RawValue
	Serial *big.Int
}

type keyTransRecipientInfo struct {
	Version         int
	RID             issuerAndSerial
	KeyEncAlgorithm algorithmIdentifier
	EncryptedKey    []byte
}

type encryptedContentInfo struct {
	ContentType      asn1.ObjectIdentifier
	Algorithm        algorithmIdentifier
	EncryptedContent []byte `asn1:"optional,tag:0"`
}

// encryptedContentInfoIn is encryptedContentInfo as parsed: the content
// may be a primitive [0] or, from BER streaming, a constructed [0] of
// OCTET STRING parts.
type encryptedContentInfoIn struct {
	ContentType      asn1.ObjectIdentifier
	Algorithm        algorithmIdentifier
	EncryptedContent asn1.RawValue `asn1:"optional"`
}

// octets returns the encrypted content, joining the parts of a constructed
// encoding.
func (e encryptedContentInfoIn) octets() ([]byte, error) {
	c := e.EncryptedContent
	if c.Class != asn1.ClassContextSpecific || c.Tag != 0 {
		return nil, errDecrypt
	}
	if !c.IsCompound {
		return c.Bytes, nil
	}
	var out []byte
	for r := c.Bytes; len(r) > 0; {
		var part asn1.RawValue
		var err error
		if r, err = asn1.Unmarshal(r, &part); err != nil || part.Class != asn1.ClassUniversal || part.Tag != asn1.TagOctetString || part.IsCompound {
			return nil, errDecrypt
		}
		out = append(out, part.Bytes...)
	}
	return out, nil
}

type envelopedData struct {
	Version        int
	RecipientInfos []asn1.RawValue `asn1:"set"`
	Content        encryptedContentInfo
}

// envelopedDataIn is envelopedData as parsed: originatorInfo and
// unprotectedAttrs are tolerated and ignored.
type envelopedDataIn struct {
	Version        int
	Originator     asn1.RawValue   `asn1:"optional,tag:0"`
	RecipientInfos []asn1.RawValue `asn1:"set"`
	Content        encryptedContentInfoIn
	Unprotected    asn1.RawValue `asn1:"optional,tag:1"`
}

type authEnvelopedData struct {
	Version        int
	RecipientInfos []asn1.RawValue `asn1:"set"`
	Content        encryptedContentInfo
	MAC            []byte
}

type authEnvelopedDataIn struct {
	Version        int
	Originator     asn1.RawValue   `asn1:"optional,tag:0"`
	RecipientInfos []asn1.RawValue `asn1:"set"`
	Content        encryptedContentInfoIn
	AuthAttrs      asn1.RawValue `asn1:"optional,tag:1"`
	MAC            []byte
	UnauthAttrs    asn1.RawValue `asn1:"optional,tag:2"`
}

type gcmParameters struct {
	Nonce  []byte
	ICVLen int `asn1:"optional,default:12"`
}

type rsaesOAEPParams struct {
	Hash algorithmIdentifier `asn1:"optional,explicit,tag:0"`
	MGF  algorithmIdentifier `asn1:"optional,explicit,tag:1"`
	// pSourceFunc [2] is not supported: a non-empty label fails.
	PSource asn1.RawValue `asn1:"optional,explicit,tag:2"`
}

var asn1Null = asn1.RawValue{FullBytes: []byte{5, 0}}

// A cipherSuite names a content-encryption algorithm we send.
type cipherSuite int

const (
	aes128CBC cipherSuite = iota
	aes128GCM
)

// envelope encrypts content (the MIME entity) for every certificate in
// recipients with RSA PKCS #1 v1.5 key transport, as EnvelopedData with
// AES-128-CBC or AuthEnvelopedData with AES-128-GCM. It returns the DER
// ContentInfo.
func envelope(rand io.Reader, content []byte, recipients []*x509.Certificate, suite cipherSuite) ([]byte, error) {
	key := make([]byte, 16)
	if _, err := io.ReadFull(rand, key); err != nil {
		return nil, err
	}
	var ris []asn1.RawValue
	for _, c := range recipients {
		pub, ok := c.PublicKey.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("smime: %w: recipient key %T is not RSA", e2e.ErrUnsupported, c.PublicKey)
		}
		ek, err := rsa.EncryptPKCS1v15(rand, pub, key)
		if err != nil {
			return nil, err
		}
		ri, err := asn1.Marshal(keyTransRecipientInfo{
			RID:             issuerAndSerial{Issuer: asn1.RawValue{FullBytes: c.RawIssuer}, Serial: c.SerialNumber},
			KeyEncAlgorithm: algorithmIdentifier{Algorithm: oidRSAEncryption, Parameters: asn1Null},
			EncryptedKey:    ek,
		})
		if err != nil {
			return nil, err
		}
		ris = append(ris, asn1.RawValue{FullBytes: ri})
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	var inner []byte
	var ctype asn1.ObjectIdentifier
	switch suite {
	case aes128GCM:
		nonce := make([]byte, 12)
		if _, err := io.ReadFull(rand, nonce); err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		sealed := aead.Seal(nil, nonce, content, nil)
		params, err := asn1.Marshal(gcmParameters{Nonce: nonce, ICVLen: 16})
		if err != nil {
			return nil, err
		}
		n := len(sealed) - aead.Overhead()
		inner, err = asn1.Marshal(authEnvelopedData{
			RecipientInfos: ris,
			Content: encryptedContentInfo{
				ContentType:      oidData,
				Algorithm:        algorithmIdentifier{Algorithm: oidAES128GCM, Parameters: asn1.RawValue{FullBytes: params}},
				EncryptedContent: sealed[:n],
			},
			MAC: sealed[n:],
		})
		if err != nil {
			return nil, err
		}
		ctype = oidAuthEnvelopedData
	default:
		iv := make([]byte, aes.BlockSize)
		if _, err := io.ReadFull(rand, iv); err != nil {
			return nil, err
		}
		pad := aes.BlockSize - len(content)%aes.BlockSize
		buf := make([]byte, len(content)+pad)
		copy(buf, content)
		for i := len(content); i < len(buf); i++ {
			buf[i] = byte(pad)
		}
		cipher.NewCBCEncrypter(block, iv).CryptBlocks(buf, buf)
		params, err := asn1.Marshal(iv)
		if err != nil {
			return nil, err
		}
		inner, err = asn1.Marshal(envelopedData{
			RecipientInfos: ris,
			Content: encryptedContentInfo{
				ContentType:      oidData,
				Algorithm:        algorithmIdentifier{Algorithm: oidAES128CBC, Parameters: asn1.RawValue{FullBytes: params}},
				EncryptedContent: buf,
			},
		})
		if err != nil {
			return nil, err
		}
		ctype = oidEnvelopedData
	}
	// A RawValue with FullBytes would lose the explicit [0] tag: build it.
	return asn1.Marshal(contentInfoOut{ContentType: ctype, Content: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner}})
}

// contentType returns the content type of a DER ContentInfo, or nil when it
// does not parse.
func contentType(der []byte) asn1.ObjectIdentifier {
	var ci contentInfo
	if rest, err := asn1.Unmarshal(der, &ci); err != nil || len(rest) != 0 {
		return nil
	}
	return ci.ContentType
}

// open decrypts a DER ContentInfo holding EnvelopedData or AuthEnvelopedData
// addressed to cert (by issuer and serial number) with key. Every failure is
// errDecrypt, and it never panics. authenticated reports AuthEnvelopedData.
func open(der []byte, cert *x509.Certificate, key *rsa.PrivateKey) (plain []byte, authenticated bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			plain, authenticated, err = nil, false, errDecrypt
		}
	}()
	der, err = toDER(der)
	if err != nil {
		return nil, false, errDecrypt
	}
	var ci contentInfo
	if rest, err := asn1.Unmarshal(der, &ci); err != nil || len(rest) != 0 {
		return nil, false, errDecrypt
	}
	var ris []asn1.RawValue
	var eci encryptedContentInfoIn
	var mac []byte
	switch {
	case ci.ContentType.Equal(oidEnvelopedData):
		var ed envelopedDataIn
		if rest, err := asn1.Unmarshal(ci.Content.Bytes, &ed); err != nil || len(rest) != 0 {
			return nil, false, errDecrypt
		}
		ris, eci = ed.RecipientInfos, ed.Content
	case ci.ContentType.Equal(oidAuthEnvelopedData):
		var ad authEnvelopedDataIn
		if rest, err := asn1.Unmarshal(ci.Content.Bytes, &ad); err != nil || len(rest) != 0 {
			return nil, false, errDecrypt
		}
		if len(ad.AuthAttrs.FullBytes) != 0 {
			// authAttrs would enter the AAD; we never send them and do not
			// accept them.
			return nil, false, errDecrypt
		}
		ris, eci, mac, authenticated = ad.RecipientInfos, ad.Content, ad.MAC, true
	default:
		return nil, false, errDecrypt
	}
	if !eci.ContentType.Equal(oidData) {
		// S/MIME encrypts MIME entities: the content type is id-data
		// (RFC 8551 §2.4.1).
		return nil, false, errDecrypt
	}
	var ktri *keyTransRecipientInfo
	for _, raw := range ris {
		var ri keyTransRecipientInfo
		if rest, err := asn1.Unmarshal(raw.FullBytes, &ri); err != nil || len(rest) != 0 || ri.Version != 0 {
			continue // other recipient kinds (kari, kekri, SKI) are not ours
		}
		if ri.RID.Serial != nil && ri.RID.Serial.Cmp(cert.SerialNumber) == 0 && bytes.Equal(ri.RID.Issuer.FullBytes, cert.RawIssuer) {
			ktri = &ri
			break
		}
	}
	if ktri == nil {
		return nil, false, errDecrypt
	}
	keyLen, aead, err := contentKeyLen(eci.Algorithm.Algorithm, authenticated)
	if err != nil {
		return nil, false, errDecrypt
	}
	cek, err := unwrapKey(key, ktri, keyLen)
	if err != nil {
		return nil, false, errDecrypt
	}
	if aead {
		plain, err = openGCM(cek, eci, mac)
	} else {
		plain, err = openCBC(cek, eci)
	}
	if err != nil {
		return nil, false, errDecrypt
	}
	return plain, authenticated, nil
}

func contentKeyLen(alg asn1.ObjectIdentifier, authenticated bool) (int, bool, error) {
	var n int
	aead := false
	switch {
	case alg.Equal(oidAES128CBC):
		n = 16
	case alg.Equal(oidAES192CBC):
		n = 24
	case alg.Equal(oidAES256CBC):
		n = 32
	case alg.Equal(oidDESEDE3):
		n = 24
	case alg.Equal(oidAES128GCM):
		n, aead = 16, true
	case alg.Equal(oidAES192GCM):
		n, aead = 24, true
	case alg.Equal(oidAES256GCM):
		n, aead = 32, true
	default:
		return 0, false, errDecrypt
	}
	// GCM only inside AuthEnvelopedData, and AuthEnvelopedData only with an
	// authenticated cipher (RFC 5083 §2.1).
	if aead != authenticated {
		return 0, false, errDecrypt
	}
	return n, aead, nil
}

// unwrapKey recovers the content-encryption key. For PKCS #1 v1.5 it uses
// DecryptPKCS1v15SessionKey, which on bad padding leaves a random key in
// place instead of failing, so no Bleichenbacher oracle exists: the content
// then fails to decrypt like any other corruption.
func unwrapKey(key *rsa.PrivateKey, ri *keyTransRecipientInfo, keyLen int) ([]byte, error) {
	alg := ri.KeyEncAlgorithm
	switch {
	case alg.Algorithm.Equal(oidRSAEncryption):
		cek := make([]byte, keyLen)
		if _, err := io.ReadFull(cryptoRand, cek); err != nil {
			return nil, err
		}
		if err := rsa.DecryptPKCS1v15SessionKey(nil, key, ri.EncryptedKey, cek); err != nil {
			return nil, errDecrypt
		}
		return cek, nil
	case alg.Algorithm.Equal(oidRSAESOAEP):
		h, mgf := crypto.SHA1, crypto.SHA1
		if len(alg.Parameters.FullBytes) != 0 && !bytes.Equal(alg.Parameters.FullBytes, asn1Null.FullBytes) {
			var p rsaesOAEPParams
			if rest, err := asn1.Unmarshal(alg.Parameters.FullBytes, &p); err != nil || len(rest) != 0 {
				return nil, errDecrypt
			}
			if len(p.PSource.FullBytes) != 0 {
				return nil, errDecrypt
			}
			var err error
			if p.Hash.Algorithm != nil {
				if h, err = hashOf(p.Hash.Algorithm); err != nil {
					return nil, errDecrypt
				}
			}
			if p.MGF.Algorithm != nil {
				if !p.MGF.Algorithm.Equal(oidMGF1) {
					return nil, errDecrypt
				}
				var mh algorithmIdentifier
				if rest, err := asn1.Unmarshal(p.MGF.Parameters.FullBytes, &mh); err != nil || len(rest) != 0 {
					return nil, errDecrypt
				}
				if mgf, err = hashOf(mh.Algorithm); err != nil {
					return nil, errDecrypt
				}
			}
		}
		cek, err := key.Decrypt(nil, ri.EncryptedKey, &rsa.OAEPOptions{Hash: h, MGFHash: mgf})
		if err != nil || len(cek) != keyLen {
			return nil, errDecrypt
		}
		return cek, nil
	}
	return nil, errDecrypt
}

func hashOf(oid asn1.ObjectIdentifier) (crypto.Hash, error) {
	switch {
	case oid.Equal(oidSHA1):
		return crypto.SHA1, nil
	case oid.Equal(oidSHA256):
		return crypto.SHA256, nil
	case oid.Equal(oidSHA384):
		return crypto.SHA384, nil
	case oid.Equal(oidSHA512):
		return crypto.SHA512, nil
	}
	return 0, errDecrypt
}

// cryptoRand fills the decoy key of unwrapKey. It is always crypto/rand:
// the decoy must be unpredictable even when Config.Rand is seeded.
var cryptoRand = cryptorand.Reader

func openCBC(cek []byte, eci encryptedContentInfoIn) ([]byte, error) {
	var block cipher.Block
	var err error
	if eci.Algorithm.Algorithm.Equal(oidDESEDE3) {
		block, err = des.NewTripleDESCipher(cek)
	} else {
		block, err = aes.NewCipher(cek)
	}
	if err != nil {
		return nil, errDecrypt
	}
	var iv []byte
	if rest, err := asn1.Unmarshal(eci.Algorithm.Parameters.FullBytes, &iv); err != nil || len(rest) != 0 || len(iv) != block.BlockSize() {
		return nil, errDecrypt
	}
	ct, err := eci.octets()
	if err != nil {
		return nil, errDecrypt
	}
	bs := block.BlockSize()
	if len(ct) == 0 || len(ct)%bs != 0 {
		return nil, errDecrypt
	}
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(pt, ct)
	// Check the padding without branching on its bytes.
	pad := int(pt[len(pt)-1])
	good := subtle.ConstantTimeLessOrEq(1, pad) & subtle.ConstantTimeLessOrEq(pad, bs)
	for i := 1; i <= bs; i++ {
		inPad := subtle.ConstantTimeLessOrEq(i, pad)
		eq := subtle.ConstantTimeByteEq(pt[len(pt)-i], byte(pad))
		good &= subtle.ConstantTimeSelect(inPad, eq, 1)
	}
	if good != 1 {
		return nil, errDecrypt
	}
	return pt[:len(pt)-pad], nil
}

func openGCM(cek []byte, eci encryptedContentInfoIn, mac []byte) ([]byte, error) {
	var p gcmParameters
	if rest, err := asn1.Unmarshal(eci.Algorithm.Parameters.FullBytes, &p); err != nil || len(rest) != 0 {
		return nil, errDecrypt
	}
	if p.ICVLen < 12 || p.ICVLen > 16 || len(mac) != p.ICVLen || len(p.Nonce) == 0 || len(p.Nonce) > 64 {
		return nil, errDecrypt
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, errDecrypt
	}
	aead, err := cipher.NewGCMWithNonceSize(block, len(p.Nonce))
	if err != nil {
		return nil, errDecrypt
	}
	if p.ICVLen != 16 {
		if len(p.Nonce) != 12 {
			return nil, errDecrypt
		}
		if aead, err = cipher.NewGCMWithTagSize(block, p.ICVLen); err != nil {
			return nil, errDecrypt
		}
	}
	body, err := eci.octets()
	if err != nil {
		return nil, errDecrypt
	}
	ct := make([]byte, 0, len(body)+len(mac))
	ct = append(append(ct, body...), mac...)
	pt, err := aead.Open(nil, p.Nonce, ct, nil)
	if err != nil {
		return nil, errDecrypt
	}
	return pt, nil
}

// capabilitiesExtension encodes an S/MIME capabilities certificate extension
// (RFC 4262): a SEQUENCE OF SMIMECapability listing the content ciphers the
// certificate holder can decrypt, most preferred first.
func capabilitiesExtension(caps []asn1.ObjectIdentifier) (pkix.Extension, error) {
	v, err := marshalCapabilities(caps)
	return pkix.Extension{Id: oidSMIMECapabilities, Value: v}, err
}

func marshalCapabilities(caps []asn1.ObjectIdentifier) ([]byte, error) {
	seq := make([]algorithmIdentifier, len(caps))
	for i, c := range caps {
		seq[i] = algorithmIdentifier{Algorithm: c}
	}
	return asn1.Marshal(seq)
}

func parseCapabilities(der []byte) []asn1.ObjectIdentifier {
	var seq []algorithmIdentifier
	if rest, err := asn1.Unmarshal(der, &seq); err != nil || len(rest) != 0 {
		return nil
	}
	out := make([]asn1.ObjectIdentifier, len(seq))
	for i, c := range seq {
		out[i] = c.Algorithm
	}
	return out
}

// certSupportsGCM reports whether the certificate advertises AES-GCM in an
// S/MIME capabilities extension.
func certSupportsGCM(c *x509.Certificate) bool {
	for _, ext := range c.Extensions {
		if ext.Id.Equal(oidSMIMECapabilities) {
			return capsHaveGCM(parseCapabilities(ext.Value))
		}
	}
	return false
}

func capsHaveGCM(caps []asn1.ObjectIdentifier) bool {
	for _, c := range caps {
		if c.Equal(oidAES128GCM) || c.Equal(oidAES256GCM) {
			return true
		}
	}
	return false
}
