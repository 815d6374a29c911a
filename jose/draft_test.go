package jose

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	josecipher "github.com/go-jose/go-jose/v4/cipher"
	"mellium.im/xmpp/jid"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// The draft's example values (-06 §3.4 and §5.4).
const (
	draftSMK = "xWtdjhYsH4Va_9SfYSefsJfZu03m5RrbXo_UavxxeU8"
	draftSID = "835c92a8-94cd-4e96-b3f3-b2e75a438f92"
	draftCMK = "LViSXX0Jx-I3v1zY1-KcGeivmWKuq0QE_71ywQGU6OhlM2NoQo1zHi77zI3ieIUh7Wb1S3kXmNily0_FZoIG7A"
)

func draftFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "draft06", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func draftStanza(t testing.TB, name string) *e2e.Stanza {
	t.Helper()
	st, err := e2e.Parse(draftFile(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func draftKey(t *testing.T, name string) *rsa.PrivateKey {
	t.Helper()
	blk, _ := pem.Decode(draftFile(t, name))
	k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sha256hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestDraftSignedExample: -06 §4.4 verifies, re-signing is byte-identical,
// and a Session opens the draft's stanza with its clock at the example time.
func TestDraftSignedExample(t *testing.T) {
	st := draftStanza(t, "sig-4.4.xml")
	c, err := readParts(st.Child(NS, "e2e"), jwsParts)
	if err != nil {
		t.Fatal(err)
	}
	priv := draftKey(t, "juliet.key")
	id, err := NewIdentity(jid.MustParse("juliet@capulet.lit"), priv)
	if err != nil {
		t.Fatal(err)
	}
	pub := id.Public().(*Peer)
	h, payload, err := verifyCompact(c, pub.key)
	if err != nil {
		t.Fatal(err)
	}
	if h.Alg != "RS512" || h.Kid != "juliet@capulet.lit" || len(payload) != 492 ||
		sha256hex(payload) != "fb905193e6227e806fe799163985a6337d0d09d65f8d23df1f099e11f547338d" {
		t.Fatalf("header %+v, payload %d bytes %s", h, len(payload), sha256hex(payload))
	}
	again, err := signCompact("RS512", "juliet@capulet.lit", priv, payload)
	if err != nil {
		t.Fatal(err)
	}
	for i := range c {
		if again[i] != c[i] {
			t.Errorf("%s differs on re-signing:\n got %s\nwant %s", jwsParts[i], again[i], c[i])
		}
	}

	// The whole receive path, at the draft's time.
	now := time.Date(1492, 5, 12, 20, 7, 38, 0, time.UTC)
	s, err := New(Options{Signature: "RS512"}).NewSession(e2e.Config{
		JID: jid.MustParse("romeo@montegue.lit/garden"), Peers: []e2e.Peer{pub},
		Clock: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Receive(ctx, st)
	if err != nil || len(res.Opened) != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	o := res.Opened[0]
	if o.Signer == nil || o.Encrypted || !strings.HasPrefix(o.Stanza.Body(), "But to be frank") || o.Stanza.Type != "chat" {
		t.Fatalf("%+v %s", o, o.Stanza)
	}
	// Fifteen minutes later it is stale.
	now = now.Add(15 * time.Minute)
	s2, _ := Scheme.NewSession(e2e.Config{JID: jid.MustParse("romeo@montegue.lit/garden"), Peers: []e2e.Peer{pub}, Clock: func() time.Time { return now }})
	if _, err := s2.Receive(ctx, st); !errors.Is(err, e2e.ErrStale) {
		t.Fatalf("late: %v", err)
	}
}

// TestDraftEncryptedExample: -06 §3.4 through the legacy path, bit-exact.
func TestDraftEncryptedExample(t *testing.T) {
	st := draftStanza(t, "enc-3.4.xml")
	e := st.Child(NS, "e2e")
	c, err := readParts(e, jweParts)
	if err != nil {
		t.Fatal(err)
	}
	smk, _ := b64.DecodeString(draftSMK)
	cmk, _ := b64.DecodeString(draftCMK)
	if sid, _ := e.AttrValue("id"); sid != draftSID {
		t.Fatal(sid)
	}
	h, err := parseProtected(c[0], false)
	if err != nil || h.Alg != "A256KW" || h.Enc != "A256CBC+HS512" || h.Kid != draftSID {
		t.Fatalf("%+v %v", h, err)
	}
	// AES key wrap: unwrap gives the stated CMK, wrap gives E again.
	blk, _ := aes.NewCipher(smk)
	ek, _ := b64.DecodeString(c[1])
	got, err := josecipher.KeyUnwrap(blk, ek)
	if err != nil || string(got) != string(cmk) {
		t.Fatalf("unwrap: %v", err)
	}
	if again, _ := josecipher.KeyWrap(blk, cmk); b64.EncodeToString(again) != c[1] {
		t.Fatal("re-wrap differs")
	}
	pt, err := OpenLegacy06(e, smk)
	if err != nil {
		t.Fatal(err)
	}
	if len(pt) != 490 || sha256hex(pt) != "6d199b0027288e5d814724e9780b5544fbb7226bb274c09e298d5f4a1d4e254a" ||
		!strings.HasPrefix(string(pt), "<fowarded xmlns='urn:xmpp:forward:0'>") {
		t.Fatalf("%d bytes %s: %s", len(pt), sha256hex(pt), pt)
	}
	// Re-encryption from the recovered plaintext, CMK and IV is bit-exact.
	iv, _ := b64.DecodeString(c[2])
	ct, tag := legacySealForTest(cmk, iv, []byte(c[0]+"."+c[1]), pt)
	if b64.EncodeToString(ct) != c[3] || b64.EncodeToString(tag) != c[4] {
		t.Fatal("re-encryption differs")
	}
	// The strict envelope parser refuses the misspelled root.
	if _, _, err := parseEnvelope(pt); !errors.Is(err, e2e.ErrMalformed) {
		t.Fatalf("envelope: %v", err)
	}
	// Any flipped part fails.
	for i := range 5 {
		x := e.Clone()
		p := x.Elements()[i]
		txt, _ := b64Text(p.Text())
		p.SetText(flip(txt, len(txt)/2))
		got, err := OpenLegacy06(x, smk)
		if i == 2 {
			// Erratum: the legacy construction does not MAC the IV, so a
			// flipped IV "decrypts" to a changed first block.
			if err != nil || string(got[16:]) != string(pt[16:]) || string(got[:16]) == string(pt[:16]) {
				t.Errorf("IV flip: %v", err)
			}
			continue
		}
		if err == nil {
			t.Errorf("flipped %s accepted", jweParts[i])
		}
	}
	// Sessions refuse the pre-RFC algorithm.
	pre, _ := identity(t, "romeo").WithSessionKey(draftSID, smk)
	s, _ := Scheme.NewSession(e2e.Config{Local: pre, JID: jid.MustParse("romeo@montegue.lit/garden")})
	if _, err := s.Receive(ctx, st); !errors.Is(err, e2e.ErrMalformed) {
		t.Fatalf("session: %v", err)
	}
}

// legacySealForTest is the -11-era A256CBC+HS512 encryption.
func legacySealForTest(cmk, iv, aad, pt []byte) (ct, tag []byte) {
	pad := aes.BlockSize - len(pt)%aes.BlockSize
	p := append([]byte(nil), pt...)
	for range pad {
		p = append(p, byte(pad))
	}
	b, _ := aes.NewCipher(cmk[32:])
	ct = make([]byte, len(p))
	cipher.NewCBCEncrypter(b, iv).CryptBlocks(ct, p)
	return ct, legacyTag(sha512.New, cmk[:32], aad, ct)
}

// TestDraftKeyRequestExample: -06 §5.4 request and response, chained into §3.4.
func TestDraftKeyRequestExample(t *testing.T) {
	romeo := draftKey(t, "romeo.key")
	req := draftStanza(t, "keyreq-5.4-request.xml")
	kr := req.Child(NS, "keyreq")
	if id, _ := kr.AttrValue("id"); id != draftSID {
		t.Fatal(id)
	}
	txt, err := b64Text(kr.Child(NS, "pkey").Text())
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := b64.DecodeString(txt)
	keys, err := parseKeys(raw, false)
	if err != nil || len(keys) != 1 || keys[0].KeyID != "romeo@montegue.lit/garden" {
		t.Fatalf("%v %v", keys, err)
	}
	if pub, ok := keys[0].Key.(*rsa.PublicKey); !ok || !pub.Equal(&romeo.PublicKey) {
		t.Fatal("pkey is not Romeo's public key")
	}
	resp := draftStanza(t, "keyreq-5.4-response.xml")
	re := resp.Child(NS, "keyreq")
	c, _ := readParts(re, jweParts)
	h, _ := parseProtected(c[0], false)
	if h.Alg != "RSA-OAEP" || h.Kid != "romeo@montegue.lit/garden" || h.Cty != "application/jwk+json" {
		t.Fatalf("%+v", h)
	}
	pt, err := OpenLegacy06(re, romeo)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"kty":"oct","kid":"835c92a8-94cd-4e96-b3f3-b2e75a438f92","k":"xWtdjhYsH4Va_9SfYSefsJfZu03m5RrbXo_UavxxeU8"}`
	if string(pt) != want {
		t.Fatalf("%s", pt)
	}
	var smk smkJWK
	if err := json.Unmarshal(pt, &smk); err != nil {
		t.Fatal(err)
	}
	k, _ := b64.DecodeString(smk.K)
	if _, err := OpenLegacy06(draftStanza(t, "enc-3.4.xml").Child(NS, "e2e"), k); err != nil {
		t.Fatalf("chain into §3.4: %v", err)
	}
	// Our own answer to the draft's request, from a session holding the
	// draft's SMK and trusting Romeo's key, opens with Romeo's key.
	jid0 := jid.MustParse("juliet@capulet.lit/balcony")
	jul, _ := NewIdentity(jid0, draftKey(t, "juliet.key"))
	rid, _ := NewIdentity(jid.MustParse("romeo@montegue.lit"), romeo)
	s, _ := Scheme.NewSession(e2e.Config{Local: jul, JID: jid0, Peers: []e2e.Peer{rid.Public()}})
	js := s.(*Session)
	js.bySID[draftSID] = &smkEntry{sid: draftSID, key: k, alg: "A256KW", to: jid.MustParse("romeo@montegue.lit"), created: time.Now()}
	ans, err := js.Receive(ctx, req)
	if err != nil || len(ans.Replies) != 1 || ans.Replies[0].Type != "result" || ans.Replies[0].ID != "xdJbWMA+" {
		t.Fatalf("%v %v", ans.Replies, err)
	}
	c2, _ := readParts(ans.Replies[0].Child(NS, "keyreq"), jweParts)
	_, pt2, err := openCompact(c2, key{JSONWebKey: rid.priv.JSONWebKey})
	if err != nil || !strings.Contains(string(pt2), `"k":"`+draftSMK+`"`) {
		t.Fatalf("%s %v", pt2, err)
	}
}
