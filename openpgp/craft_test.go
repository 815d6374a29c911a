package openpgp

import (
	"bytes"
	"crypto/aes"
	"io"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Hand-made OpenPGP messages for the refusal tests, built from go-crypto's
// packet writers.

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func literalPacket(t testing.TB, text string) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := packet.SerializeLiteral(nopCloser{&b}, true, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, text)
	w.Close()
	return b.Bytes()
}

func sessionKeyPacket(t testing.TB, to *Identity, key []byte) []byte {
	t.Helper()
	ek, ok := to.e.EncryptionKey(to.e.PrimaryKey.CreationTime.AddDate(1, 0, 0))
	if !ok {
		t.Fatal("no encryption key")
	}
	var b bytes.Buffer
	if err := packet.SerializeEncryptedKey(&b, ek.PublicKey, packet.CipherAES128, key, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// noMDCMessage is a PKESK to `to` followed by a Symmetrically Encrypted Data
// packet (tag 9): CFB without modification detection, as in XEP-0027's own
// example.
func noMDCMessage(t testing.TB, to *Identity, text string) []byte {
	t.Helper()
	key := bytes.Repeat([]byte{0x42}, 16)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	stream, prefix := packet.NewOCFBEncrypter(block, bytes.Repeat([]byte{7}, 16), packet.OCFBResync)
	lit := literalPacket(t, text)
	body := append(prefix, make([]byte, len(lit))...)
	stream.XORKeyStream(body[len(prefix):], lit)
	out := sessionKeyPacket(t, to, key)
	if len(body) >= 192 {
		t.Fatal("test body too long for a one-octet length")
	}
	out = append(out, 0xC0|9, byte(len(body)))
	return append(out, body...)
}

// seipdMessage is the same construction with SEIPD v1 (tag 18, with MDC).
func seipdMessage(t testing.TB, to *Identity, text string) []byte {
	t.Helper()
	key := bytes.Repeat([]byte{0x42}, 16)
	var b bytes.Buffer
	b.Write(sessionKeyPacket(t, to, key))
	w, err := packet.SerializeSymmetricallyEncrypted(&b, packet.CipherAES128, false, packet.CipherSuite{}, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(literalPacket(t, text))
	w.Close()
	return b.Bytes()
}

// recipientKeyIDs lists the key IDs of the PKESK packets of a message.
func recipientKeyIDs(t testing.TB, bin []byte) []uint64 {
	t.Helper()
	r := packet.NewReader(bytes.NewReader(bin))
	var ids []uint64
	for {
		p, err := r.Next()
		if err != nil {
			t.Fatalf("reading packets: %v", err)
		}
		ek, ok := p.(*packet.EncryptedKey)
		if !ok {
			return ids
		}
		ids = append(ids, ek.KeyId)
	}
}
