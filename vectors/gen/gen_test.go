// The xtls vectors replay TLS handshakes with seeded randomness, which Go
// 1.26's crypto honours only with this setting.
//
//go:debug cryptocustomrand=1

package gen

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/xmppe2e/xmppe2e/internal/toy"
	"github.com/xmppe2e/xmppe2e/vectors"
)

func toyFile(t *testing.T) (*Recording, []byte) {
	t.Helper()
	ctx := context.Background()
	rec, err := Make(ctx, &toy.Scheme{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Build(ctx, &toy.Scheme{}, rec)
	if err != nil {
		t.Fatal(err)
	}
	b, err := vectors.Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	return rec, b
}

func TestBuildIsDeterministicAndVerifies(t *testing.T) {
	rec, b := toyFile(t)
	// Rebuilding from the recording gives the same bytes.
	f2, err := Build(context.Background(), &toy.Scheme{}, rec)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := vectors.Encode(f2)
	if !bytes.Equal(b, b2) {
		t.Fatal("Build is not deterministic")
	}
	// The recording survives its own encoding.
	rb, _ := EncodeRecording(rec)
	rec2, err := DecodeRecording(rb)
	if err != nil {
		t.Fatal(err)
	}
	f3, _ := Build(context.Background(), &toy.Scheme{}, rec2)
	if b3, _ := vectors.Encode(f3); !bytes.Equal(b, b3) {
		t.Fatal("a decoded recording builds other vectors")
	}

	f, err := vectors.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	neg := 0
	for _, g := range f.Groups {
		for _, v := range g.Tests {
			if v.Result == vectors.Invalid {
				neg++
			}
		}
	}
	if f.NumberOfTests < 50 || neg*100 < 40*f.NumberOfTests {
		t.Errorf("%d vectors, %d invalid: want at least 50 and 40%% invalid", f.NumberOfTests, neg)
	}
	for _, o := range vectors.Verify(context.Background(), &toy.Scheme{}, f) {
		if !o.Passed() {
			t.Errorf("tcId %d (%s): %v", o.Vector.TcID, o.Vector.Comment, o.Err)
		}
	}
}

// The vectors made with the sound toy catch a broken one.
func TestVectorsCatchBrokenScheme(t *testing.T) {
	_, b := toyFile(t)
	f, err := vectors.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	for name, broken := range map[string]*toy.Scheme{
		"replays": {AcceptReplays: true},
		"tamper":  {LeakOnTamper: true},
		"panics":  {PanicOnBadInput: true},
		"silent":  {DropSilently: true},
	} {
		failed := 0
		for _, o := range vectors.Verify(context.Background(), broken, f) {
			if !o.Passed() {
				failed++
			}
		}
		if failed == 0 {
			t.Errorf("the vectors do not catch a toy that %s", name)
		}
	}
}

// The deterministic crafters (the XEP-0027 examples, the xtls breakage of
// recorded transcripts) still make exactly what the committed recordings
// hold: TestRebuild alone would not notice, since Build reads the crafted
// wires from the recordings.
func TestDeterministicCraftersMatchRecordings(t *testing.T) {
	for _, tc := range []struct {
		scheme string
		craft  Crafter
	}{{"openpgp", craftXEP0027}, {"xtls", craftXTLS}} {
		t.Run(tc.scheme, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tc.scheme+".json"))
			if err != nil {
				t.Fatal(err)
			}
			rec, err := DecodeRecording(b)
			if err != nil {
				t.Fatal(err)
			}
			made, err := tc.craft(context.Background(), rec)
			if err != nil {
				t.Fatal(err)
			}
			committed := map[string]Crafted{}
			for _, c := range rec.Crafted {
				committed[c.Name] = c
			}
			if len(made) == 0 {
				t.Fatal("the crafter made nothing")
			}
			for _, c := range made {
				want, ok := committed[c.Name]
				if !ok {
					t.Errorf("%s: not in the recording", c.Name)
					continue
				}
				if !slices.Equal(c.Wire, want.Wire) || !slices.Equal(c.Flags, want.Flags) || c.Comment != want.Comment {
					t.Errorf("%s: the crafter makes something else than the recording holds", c.Name)
				}
			}
		})
	}
}

// Our own extra xtls exchanges are deterministic: running them again gives
// the records the committed recording holds, byte for byte.
func TestXTLSVariantsMatchRecording(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "xtls.json"))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := DecodeRecording(b)
	if err != nil {
		t.Fatal(err)
	}
	made, err := recordXTLSVariants(context.Background(), rec.Keys)
	if err != nil {
		t.Fatal(err)
	}
	committed := map[string]Record{}
	for _, r := range rec.Records {
		committed[r.Name] = r
	}
	for _, r := range made {
		want, ok := committed[r.Name]
		if !ok {
			t.Errorf("%s: not in the recording", r.Name)
			continue
		}
		if !slices.Equal(r.Wire, want.Wire) || r.Stanza != want.Stanza || r.ReceiverSeed != want.ReceiverSeed {
			t.Errorf("%s: the exchange makes something else than the recording holds", r.Name)
		}
	}
}
