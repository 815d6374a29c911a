package jose

import (
	"crypto/rsa"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// RFC 7520 (JOSE Cookbook) examples from the ietf-jose/cookbook JSON files.
type cookbook struct {
	Input struct {
		Payload   string          `json:"payload"`
		Plaintext string          `json:"plaintext"`
		Key       json.RawMessage `json:"key"`
		Alg       string          `json:"alg"`
		Enc       string          `json:"enc"`
	} `json:"input"`
	Generated struct {
		CEK string `json:"cek"`
		IV  string `json:"iv"`
	} `json:"generated"`
	EncryptingContent struct {
		Protected json.RawMessage `json:"protected"`
	} `json:"encrypting_content"`
	Output struct {
		Compact string          `json:"compact"`
		JSON    json.RawMessage `json:"json"`
	} `json:"output"`
}

func loadCookbook(t *testing.T, name string) cookbook {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "rfc7520", name))
	if err != nil {
		t.Fatal(err)
	}
	var c cookbook
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRFC7520(t *testing.T) {
	t.Run("4.1 RS256 re-signs byte for byte", func(t *testing.T) {
		c := loadCookbook(t, "4_1.rsa_v15_signature.json")
		k, err := parseKey(c.Input.Key, true)
		if err != nil {
			t.Fatal(err)
		}
		got, err := signCompact("RS256", k.KeyID, k.Key.(*rsa.PrivateKey), []byte(c.Input.Payload))
		if err != nil || got.String() != c.Output.Compact {
			t.Fatalf("%v\n got %s\nwant %s", err, got, c.Output.Compact)
		}
		if _, p, err := verifyCompact(got, k); err != nil || string(p) != c.Input.Payload {
			t.Fatal(err)
		}
	})
	for _, name := range []string{
		"5_1.key_encryption_using_rsa_v15_and_aes-hmac-sha2.json",
		"5_2.key_encryption_using_rsa-oaep_with_aes-gcm.json",
		"5_8.key_wrap_using_aes-keywrap_with_aes-gcm.json",
	} {
		t.Run(name[:3]+" decrypts", func(t *testing.T) {
			c := loadCookbook(t, name)
			k, err := parseKey(c.Input.Key, true)
			if err != nil {
				t.Fatal(err)
			}
			parts, _ := splitCompact(c.Output.Compact, 5)
			_, pt, err := openCompact(parts, k)
			if err != nil || string(pt) != c.Input.Plaintext {
				t.Fatalf("%v %q", err, pt)
			}
		})
	}
	t.Run("5.8 A128KW+A128GCM reproduces bit for bit", func(t *testing.T) {
		c := loadCookbook(t, "5_8.key_wrap_using_aes-keywrap_with_aes-gcm.json")
		k, _ := parseKey(c.Input.Key, true)
		cek, _ := b64.DecodeString(c.Generated.CEK)
		iv, _ := b64.DecodeString(c.Generated.IV)
		var hdr any
		json.Unmarshal(c.EncryptingContent.Protected, &hdr)
		parts, _ := splitCompact(c.Output.Compact, 5)
		raw, _ := b64.DecodeString(parts[0])
		got, err := sealRaw(nil, raw, c.Input.Alg, c.Input.Enc, k.Key, cek, iv, []byte(c.Input.Plaintext))
		if err != nil || got.String() != c.Output.Compact {
			t.Fatalf("%v\n got %s\nwant %s", err, got, c.Output.Compact)
		}
	})
	t.Run("5.13 General JSON, three recipients", func(t *testing.T) {
		b, _ := os.ReadFile(filepath.Join("testdata", "rfc7520", "5_13.encrypting_to_multiple_recipients.json"))
		var c struct {
			Input struct {
				Plaintext string            `json:"plaintext"`
				Key       []json.RawMessage `json:"key"`
			} `json:"input"`
			Output struct {
				JSON json.RawMessage `json:"json"`
			} `json:"output"`
		}
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		opened := 0
		for _, raw := range c.Input.Key {
			k, err := parseKey(raw, true)
			if err != nil {
				t.Fatal(err)
			}
			algs := allowedAlgs(k, forKeyWrap)
			if len(algs) == 0 {
				// The A256GCMKW recipient: AES-GCM key wrap is outside the profile.
				if k.Algorithm != "A256GCMKW" {
					t.Fatalf("key %s unusable", k.KeyID)
				}
				continue
			}
			pt, err := decryptGeneral(string(c.Output.JSON), k, algs, k.KeyID)
			if err != nil || string(pt) != c.Input.Plaintext {
				t.Fatalf("%s: %v", k.KeyID, err)
			}
			opened++
		}
		if opened != 2 {
			t.Fatalf("%d recipients opened", opened)
		}
	})
}
