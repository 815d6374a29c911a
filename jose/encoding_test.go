package jose

import (
	"bytes"
	"strings"
	"testing"
)

// TestB64Run puts a character outside the alphabet at every position of
// strings of every length up to 40 (both sides of each 8-character step).
func TestB64Run(t *testing.T) {
	for n := 0; n <= 40; n++ {
		s := strings.Repeat("Az09-_xY", 6)[:n]
		if got := b64Run(s); got != n {
			t.Fatalf("b64Run(%q) = %d", s, got)
		}
		for i := 0; i < n; i++ {
			for _, bad := range []byte{'=', '+', '/', ' ', '\n', 0, 0x80, 0xff} {
				b := []byte(s)
				b[i] = bad
				if got := b64Run(string(b)); got != i {
					t.Fatalf("b64Run(%q) = %d, want %d", b, got, i)
				}
			}
		}
	}
}

// canonicalRef is canonicalB64 by its definition: what the strict
// decoder accepts, except the CR and LF it skips.
func canonicalRef(s string) bool {
	if strings.ContainsAny(s, "\r\n") {
		return false
	}
	_, err := b64Strict.DecodeString(s)
	return err == nil
}

// FuzzCanonicalB64 checks canonicalB64 and b64Text against the strict
// decoder.
func FuzzCanonicalB64(f *testing.F) {
	for _, s := range []string{"", "A", "AA", "AB", "AAA", "AAB", "AAAA", "AAAAAAAAAQ", "AAAAAAAAAR", "YWJj\nZA", "YW Jj", "YWJj=", "YW+j", "eyJhbGciOiJBMjU2S1ciLCJlbmMiOiJBMjU2R0NNIn0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := canonicalB64(s), canonicalRef(s); got != want {
			t.Fatalf("canonicalB64(%q) = %v, strict decoder says %v", s, got, want)
		}
		txt, err := b64Text(s)
		stripped := strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\n' || r == '\r' {
				return -1
			}
			return r
		}, s)
		if want := canonicalRef(stripped); (err == nil) != want || err == nil && txt != stripped {
			t.Fatalf("b64Text(%q) = %q, %v; stripped %q canonical %v", s, txt, err, stripped, want)
		}
	})
}

// TestJoinParts: the one-string encoding equals encoding each part on its
// own, across the 768-octet chunk boundary.
func TestJoinParts(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 767, 768, 769, 1535, 1536, 1537, 4000} {
		a := bytes.Repeat([]byte{0xfb, 0xff, 0x01}, n)[:n]
		raw := [][]byte{{0xff}, a, {}, a[:n/2]}
		c := joinParts("hdr", raw...)
		if len(c) != 1+len(raw) || c[0] != "hdr" {
			t.Fatalf("n=%d: parts %d, head %q", n, len(c), c[0])
		}
		for i, r := range raw {
			if want := b64.EncodeToString(r); c[i+1] != want {
				t.Fatalf("n=%d part %d: %q, want %q", n, i+1, c[i+1], want)
			}
		}
	}
}
