package gen

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
)

func init() {
	for _, s := range []string{"smime", "smime-strict"} {
		crafters[s] = append(crafters[s], craftCMSConfusion)
	}
}

// DER-encoded object identifiers (tag, length, value) the swaps exchange;
// each pair has the same length, so that no DER length changes.
var (
	derSHA0      = []byte{0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x12} // 1.3.14.3.2.18, SHA (withdrawn)
	derSHA1      = []byte{0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a} // 1.3.14.3.2.26
	derSHA256    = []byte{0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01}
	derSHA384    = []byte{0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02}
	derAES128CBC = []byte{0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02}
	derAES256CBC = []byte{0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a}
	derAES128GCM = []byte{0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x06}
	derAES256GCM = []byte{0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2e}
	derRSA       = []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01} // rsaEncryption
	derOAEP      = []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x07} // id-RSAES-OAEP
)

// b64Block matches a base64 body of a MIME part: lines of base64.
var b64Block = regexp.MustCompile(`(?:[A-Za-z0-9+/]{16,}={0,2}\n)+`)

// swapDER replaces, in every base64 block of the wire stanza w that decodes,
// the DER bytes from with to (all occurrences, or only the last), keeping
// the line breaks where they were. It reports whether anything changed.
func swapDER(w string, from, to []byte, lastOnly bool) (string, bool) {
	changed := false
	out := b64Block.ReplaceAllStringFunc(w, func(block string) string {
		der, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(block, "\n", ""))
		if err != nil || !bytes.Contains(der, from) {
			return block
		}
		if lastOnly {
			i := bytes.LastIndex(der, from)
			copy(der[i:], to)
		} else {
			der = bytes.ReplaceAll(der, from, to)
		}
		changed = true
		enc := base64.StdEncoding.EncodeToString(der)
		var b strings.Builder
		k := 0
		for _, c := range []byte(block) {
			if c == '\n' {
				b.WriteByte(c)
				continue
			}
			b.WriteByte(enc[k])
			k++
		}
		return b.String()
	})
	return out, changed
}

// craftCMSConfusion swaps algorithm identifiers inside our own CMS
// structures after they were made: the digest algorithm of a signature
// (SHA-256 for SHA-384; SHA-1 for the withdrawn SHA-0), the content
// encryption algorithm of an envelope (AES-128 for AES-256, CBC or GCM), and
// the key transport (RSA PKCS #1 v1.5 for RSAES-OAEP).
func craftCMSConfusion(ctx context.Context, rec *Recording) ([]Crafted, error) {
	var out []Crafted
	swap := func(r Record, name, comment string, from, to []byte, lastOnly bool) {
		w, ok := swapDER(r.Wire[len(r.Wire)-1], from, to, lastOnly)
		if !ok {
			return
		}
		out = append(out, Crafted{Name: r.Name + "-" + name, Comment: comment, Flags: []string{"AlgorithmConfusion"},
			Sender: r.Sender, Receiver: r.Receiver, Wire: []string{w}, Producer: r.Producer})
	}
	for _, r := range rec.Records {
		if r.Producer != "xmppe2e" {
			continue
		}
		switch r.Name {
		case "message-signed":
			swap(r, "digest-sha384", "digest algorithm SHA-256 changed to SHA-384 in SignedData", derSHA256, derSHA384, false)
			swap(r, "digest-sha0", "digest algorithm SHA-1 changed to SHA-0 (1.3.14.3.2.18) in SignedData", derSHA1, derSHA0, false)
		case "message":
			swap(r, "cipher-aes256-gcm", "content encryption AES-128-GCM changed to AES-256-GCM", derAES128GCM, derAES256GCM, false)
			swap(r, "cipher-aes256-cbc", "content encryption AES-128-CBC changed to AES-256-CBC", derAES128CBC, derAES256CBC, false)
			swap(r, "keytransport-oaep", "key transport rsaEncryption changed to RSAES-OAEP in every RecipientInfo", derRSA, derOAEP, false)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no CMS identifier to swap in the recording")
	}
	return out, nil
}
