// The xtls vectors replay TLS handshakes with seeded randomness, which Go
// 1.26's crypto honours only with this setting.
//
//go:debug cryptocustomrand=1

package vectors_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/jose"
	"github.com/xmppe2e/xmppe2e/openpgp"
	"github.com/xmppe2e/xmppe2e/otr"
	"github.com/xmppe2e/xmppe2e/smime"
	"github.com/xmppe2e/xmppe2e/vectors"
	"github.com/xmppe2e/xmppe2e/vectors/gen"
	"github.com/xmppe2e/xmppe2e/xtls"
)

// schemes are the codecs whose vectors are published here.
var schemes = []e2e.Scheme{
	openpgp.Scheme,
	smime.Scheme, smime.StrictScheme,
	otr.Scheme,
	xtls.Scheme,
	jose.Scheme,
}

var update = flag.Bool("update", false, "re-record gen/testdata with fresh keys and the installed peers, then rebuild the vector files (go test ./vectors -run TestUpdate -update)")

// TestUpdate re-records, when asked: the same as
// `xmppe2e vectors generate --record`, for every scheme. The other tests then
// check the new files (TestCoverage fails if a peer was missing).
func TestUpdate(t *testing.T) {
	if !*update {
		t.Skip("re-records only with -update")
	}
	ctx := context.Background()
	t.Chdir("..") // the crafters read the specs' examples from the module root
	for _, s := range schemes {
		rec, err := gen.Make(ctx, s, nil, gen.Recorders(s.Name())...)
		if err != nil {
			t.Fatalf("%s: %v", s.Name(), err)
		}
		rb, err := gen.EncodeRecording(rec)
		if err != nil {
			t.Fatal(err)
		}
		f, err := gen.Build(ctx, s, rec)
		if err != nil {
			t.Fatalf("%s: %v", s.Name(), err)
		}
		fb, err := vectors.Encode(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := errors.Join(os.WriteFile(filepath.Join("vectors", "gen", "testdata", s.Name()+".json"), rb, 0o644),
			os.WriteFile(filepath.Join("vectors", s.Name()+".json"), fb, 0o644)); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d vectors", s.Name(), f.NumberOfTests)
	}
}

// TestVectors runs every embedded vector against our codec for its scheme.
func TestVectors(t *testing.T) {
	t.Parallel()
	files, err := vectors.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range schemes {
		t.Run(s.Name(), func(t *testing.T) {
			t.Parallel()
			f, ok := files[s.Name()]
			if !ok {
				t.Fatalf("no vector file for %s", s.Name())
			}
			for _, o := range vectors.Verify(context.Background(), s, f) {
				if !o.Passed() {
					t.Errorf("tcId %d (%s): %v", o.Vector.TcID, o.Vector.Comment, o.Err)
				}
			}
		})
	}
	for name := range files {
		found := false
		for _, s := range schemes {
			found = found || s.Name() == name
		}
		if !found {
			t.Errorf("vectors/%s.json has no codec in this test's list", name)
		}
	}
}

// TestRebuild checks that every published file is what Build makes of its
// committed recording, byte for byte: no hand edits, no drift.
func TestRebuild(t *testing.T) {
	t.Parallel()
	for _, s := range schemes {
		t.Run(s.Name(), func(t *testing.T) {
			t.Parallel()
			rb, err := os.ReadFile(filepath.Join("gen", "testdata", s.Name()+".json"))
			if err != nil {
				t.Fatal(err)
			}
			rec, err := gen.DecodeRecording(rb)
			if err != nil {
				t.Fatal(err)
			}
			f, err := gen.Build(context.Background(), s, rec)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := vectors.Encode(f)
			want, err := os.ReadFile(s.Name() + ".json")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("vectors/%s.json differs from what its recording builds; run: go run ./cmd/xmppe2e vectors generate --scheme %s", s.Name(), s.Name())
			}
		})
	}
}

// TestCoverage pins what issue 10 asks of the files: at least 50 vectors for
// each stateless scheme, at least 40 % of them invalid, and vectors made by
// an independent implementation in every file that has a recorder.
func TestCoverage(t *testing.T) {
	files, err := vectors.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range files {
		n, invalid, peer := 0, 0, 0
		for _, g := range f.Groups {
			for _, v := range g.Tests {
				n++
				if v.Result == vectors.Invalid {
					invalid++
				}
				for _, fl := range v.Flags {
					if fl == "Peer" {
						peer++
						if v.Producer == "xmppe2e" {
							t.Errorf("%s tcId %d: flag Peer but producer xmppe2e", name, v.TcID)
						}
					}
				}
			}
		}
		t.Logf("%s: %d vectors, %d invalid, %d by a peer", name, n, invalid, peer)
		switch name {
		case "openpgp", "smime", "smime-strict", "jose":
			if n < 50 || invalid*100 < 40*n {
				t.Errorf("%s: %d vectors, %d invalid: want at least 50, 40%% invalid", name, n, invalid)
			}
		}
		if len(gen.Recorders(name)) > 0 && peer == 0 {
			t.Errorf("%s: no vector made by an independent implementation", name)
		}
	}
}

func TestDecodeRejectsBrokenFiles(t *testing.T) {
	for name, in := range map[string]string{
		"schema":  `{"schema":"other","scheme":"x","spec":"","generator":"","numberOfTests":0,"notes":{},"testGroups":[]}`,
		"count":   `{"schema":"xmppe2e-vectors-v1","scheme":"x","spec":"","generator":"","numberOfTests":3,"notes":{},"testGroups":[]}`,
		"unknown": `{"schema":"xmppe2e-vectors-v1","extra":1}`,
		"result":  `{"schema":"xmppe2e-vectors-v1","scheme":"x","spec":"","generator":"","numberOfTests":1,"notes":{},"testGroups":[{"keys":{},"receiver":"a","receiverJid":"a@b","peers":[],"tests":[{"tcId":1,"comment":"","result":"maybe","now":"","wire":["x"],"producer":""}]}]}`,
		"flag":    `{"schema":"xmppe2e-vectors-v1","scheme":"x","spec":"","generator":"","numberOfTests":1,"notes":{},"testGroups":[{"keys":{},"receiver":"a","receiverJid":"a@b","peers":[],"tests":[{"tcId":1,"comment":"","flags":["Nope"],"result":"valid","now":"","wire":["x"],"producer":""}]}]}`,
		"class":   `{"schema":"xmppe2e-vectors-v1","scheme":"x","spec":"","generator":"","numberOfTests":1,"notes":{},"testGroups":[{"keys":{},"receiver":"a","receiverJid":"a@b","peers":[],"tests":[{"tcId":1,"comment":"","result":"invalid","error":"oops","now":"","wire":["x"],"producer":""}]}]}`,
	} {
		if _, err := vectors.Decode([]byte(in)); err == nil {
			t.Errorf("%s: Decode accepted a broken file", name)
		}
	}
}

// Without cryptocustomrand the xtls transcripts cannot replay, and the
// failure says why.
func TestSeededCryptoHint(t *testing.T) {
	if !vectors.SeededCrypto() {
		t.Fatal("SeededCrypto is false under this package's //go:debug cryptocustomrand=1")
	}
	t.Setenv("GODEBUG", "cryptocustomrand=0")
	if vectors.SeededCrypto() {
		t.Fatal("SeededCrypto is true with GODEBUG=cryptocustomrand=0")
	}
	files, err := vectors.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	f := files["xtls"]
	g := f.Groups[0]
	_, err = vectors.Check(context.Background(), xtls.Scheme, &g, g.Tests[0])
	if err == nil || !strings.Contains(err.Error(), "GODEBUG=cryptocustomrand=1") {
		t.Fatalf("replay without cryptocustomrand: %v, want the hint", err)
	}
}

// The published schema and the Go types say the same: every field of the
// file, group, key and vector types is a property of the schema at that
// level (and the other way round), the required ones are the fields without
// omitempty, and the error enum is e2e's class list.
func TestSchemaMatchesTypes(t *testing.T) {
	b, err := os.ReadFile("vectors.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	type node struct {
		Required   []string         `json:"required"`
		Properties map[string]*node `json:"properties"`
		Items      *node            `json:"items"`
		Additional json.RawMessage  `json:"additionalProperties"`
		Enum       []string         `json:"enum"`
	}
	var root node
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	var keyNode node
	groups := root.Properties["testGroups"].Items
	if err := json.Unmarshal(groups.Properties["keys"].Additional, &keyNode); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		typ  reflect.Type
		n    *node
	}{
		{"file", reflect.TypeFor[vectors.File](), &root},
		{"group", reflect.TypeFor[vectors.Group](), groups},
		{"key", reflect.TypeFor[vectors.Key](), &keyNode},
		{"vector", reflect.TypeFor[vectors.Vector](), groups.Properties["tests"].Items},
	} {
		var fields, required []string
		for i := range c.typ.NumField() {
			name, opts, _ := strings.Cut(c.typ.Field(i).Tag.Get("json"), ",")
			fields = append(fields, name)
			if opts != "omitempty" {
				required = append(required, name)
			}
		}
		var props []string
		for p := range c.n.Properties {
			props = append(props, p)
		}
		slices.Sort(fields)
		slices.Sort(props)
		slices.Sort(required)
		want := slices.Sorted(slices.Values(c.n.Required))
		if !slices.Equal(fields, props) {
			t.Errorf("%s: Go fields %v, schema properties %v", c.name, fields, props)
		}
		if !slices.Equal(required, want) {
			t.Errorf("%s: Go required %v, schema required %v", c.name, required, want)
		}
	}
	var classes []string
	for _, c := range e2e.Classes {
		classes = append(classes, e2e.ClassOf(c))
	}
	slices.Sort(classes)
	enum := slices.Sorted(slices.Values(groups.Properties["tests"].Items.Properties["error"].Enum))
	if !slices.Equal(classes, enum) {
		t.Errorf("e2e classes %v, schema error enum %v", classes, enum)
	}
}
