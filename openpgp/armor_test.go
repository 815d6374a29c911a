package openpgp

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/internal/xep0027"
)

func TestCRC24(t *testing.T) {
	if got := crc24(nil); got != 0xB704CE {
		t.Errorf("crc24(empty) = %06X, want B704CE (the initial value)", got)
	}
	// RFC 4880 §6.1 test: the CRC of "123456789" under this polynomial.
	if got := crc24([]byte("123456789")); got != 0x21CF02 {
		t.Errorf("crc24(123456789) = %06X, want 21CF02", got)
	}
}

func TestArmorRoundTrip(t *testing.T) {
	for n := 1; n < 200; n++ {
		bin := bytes.Repeat([]byte{byte(n)}, n)
		text := armorPayload(bin)
		for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
			if len(l) > lineLen {
				t.Fatalf("n=%d: line of %d", n, len(l))
			}
		}
		got, err := dearmor(text)
		if err != nil || !bytes.Equal(got, bin) {
			t.Fatalf("n=%d: %v", n, err)
		}
	}
}

// TestDearmorVariants feeds a gpg-made payload in every shape seen in the
// wild (digest §3.3).
func TestDearmorVariants(t *testing.T) {
	payload := string(readFixture(t, "msg-to-juliet.payload"))
	want, err := dearmor(payload)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(payload), "\n")
	data, crc := lines[:len(lines)-1], lines[len(lines)-1]
	joined := strings.Join(data, "")
	ok := map[string]string{
		"as gpg wrote it": payload,
		"indented":        "\n    " + strings.Join(lines, "\n    ") + "\n  ",
		"tabs":            "\t" + strings.Join(lines, "\n\t"),
		"CRLF":            strings.Join(lines, "\r\n") + "\r\n",
		"one long line":   joined + "\n" + crc,
		"one line no crc": joined,
		"no CRC":          strings.Join(data, "\n"),
		"empty lines":     "\n\n" + strings.Join(lines, "\n\n") + "\n\n",
		"full armor with headers": "-----BEGIN PGP MESSAGE-----\nVersion: GnuPG v2\nComment: hi: there\n\n" +
			payload + "-----END PGP MESSAGE-----\n",
		"armor without blank line": "-----BEGIN PGP MESSAGE-----\n" + payload + "-----END PGP MESSAGE-----",
	}
	for name, text := range ok {
		got, err := dearmor(text)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %v", name, err)
		}
	}
	wrongCRC := []byte(crc)
	wrongCRC[2] ^= 1
	bad := map[string]string{
		"wrong CRC":        strings.Join(data, "\n") + "\n" + string(wrongCRC),
		"CRC of 3":         strings.Join(data, "\n") + "\n=abc",
		"CRC not base64":   strings.Join(data, "\n") + "\n=a*cd",
		"data after CRC":   payload + "AAAA\n",
		"only CRC":         crc,
		"empty":            "  \n ",
		"not base64":       "hello world!",
		"space inside":     strings.Replace(payload, "A", "A ", 1),
		"bad padding bits": "AB==",
		"oversize":         strings.Repeat("A", e2e.MaxStanzaSize+4),
	}
	for name, text := range bad {
		if _, err := dearmor(text); !errors.Is(err, e2e.ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	// The wrong CRC is caught by Receive as well.
	j := newTestSession(t, fixtureIdentity(t, "juliet"), julietFull)
	if _, err := receiveFixture(t, j, e2e.Message, NSEncrypted, bad["wrong CRC"], ""); !errors.Is(err, e2e.ErrMalformed) {
		t.Errorf("Receive with wrong CRC: %v", err)
	}
	if o, err := receiveFixture(t, j, e2e.Message, NSEncrypted, ok["one long line"], ""); err != nil || o.Stanza.Body() != string(readFixture(t, "body.txt")) {
		t.Errorf("Receive one long line: %v", err)
	}
}

func FuzzDearmor(f *testing.F) {
	f.Add(string(readFixture(f, "msg-to-juliet.payload")))
	f.Add(string(readFixture(f, "sig-text.payload")))
	f.Add(xep0027.Signature)
	f.Add("-----BEGIN PGP MESSAGE-----\nVersion: x\n\nAAAA\n=AAAA\n-----END PGP MESSAGE-----\n")
	f.Add("AB==\n=\n")
	f.Fuzz(func(t *testing.T, text string) {
		bin, err := dearmor(text)
		if err != nil {
			if !errors.Is(err, e2e.ErrMalformed) {
				t.Fatalf("error outside ErrMalformed: %v", err)
			}
			return
		}
		again, err := dearmor(armorPayload(bin))
		if err != nil || !bytes.Equal(again, bin) {
			t.Fatalf("re-armor round trip: %v", err)
		}
	})
}

func FuzzReceive(f *testing.F) {
	p := cast(f)
	ctx := context.Background()
	enc, err := p.rSess.Encrypt(ctx, chat(romeoFull, julietFull, "fuzz me"))
	if err != nil {
		f.Fatal(err)
	}
	sig, err := p.rSess.Sign(ctx, &e2e.Stanza{Kind: e2e.Presence, From: romeoFull,
		Children: []*e2e.Element{e2e.NewElement(e2e.NSClient, "status", "Online")}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc[0].Bytes())
	f.Add(sig[0].Bytes())
	f.Add([]byte(`<message xmlns='jabber:client' from='romeo@montague.lit/orchard'><body>x</body><x xmlns='jabber:x:encrypted'>` +
		string(readFixture(f, "msg-signed-to-juliet.payload")) + `</x></message>`))
	f.Add([]byte(`<presence xmlns='jabber:client' from='romeo@montague.lit/orchard'><x xmlns='jabber:x:signed'>` + xep0027.Signature + `</x></presence>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := e2e.Parse(b)
		if err != nil {
			return
		}
		got, err := p.jSess.Receive(ctx, st)
		if err != nil {
			if len(got.Opened) != 0 || len(got.Replies) != 0 {
				t.Fatalf("error %v with a result", err)
			}
			if e2e.ClassOf(err) == "other" {
				t.Fatalf("error outside the classes: %v", err)
			}
		}
	})
}
