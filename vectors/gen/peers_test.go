package gen

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/internal/peers"
	"github.com/xmppe2e/xmppe2e/jose"
	"github.com/xmppe2e/xmppe2e/openpgp"
	"github.com/xmppe2e/xmppe2e/otr"
	"github.com/xmppe2e/xmppe2e/smime"
	"github.com/xmppe2e/xmppe2e/vectors"
	"github.com/xmppe2e/xmppe2e/xtls"
)

// TestRecorders runs every recorder live against the keys of the committed
// recording (skipped without the peer, failed with XMPPE2E_INTEROP=require)
// and checks that our codec opens what the peer made, as the published
// vectors will ask of it. The crafters that need a peer run too.
func TestRecorders(t *testing.T) {
	for _, tc := range []struct {
		scheme e2e.Scheme
		need   func(t *testing.T)
	}{
		{openpgp.Scheme, func(t *testing.T) { peers.Command(t, "gpg") }},
		{smime.Scheme, func(t *testing.T) { peers.Command(t, "openssl") }},
		{smime.StrictScheme, func(t *testing.T) { peers.Command(t, "openssl") }},
		{jose.Scheme, func(t *testing.T) { peers.PythonModule(t, "jwcrypto") }},
		{otr.Scheme, func(t *testing.T) { peers.PythonModule(t, "potr") }},
		{xtls.Scheme, func(t *testing.T) { peers.Command(t, "openssl") }},
	} {
		t.Run(tc.scheme.Name(), func(t *testing.T) {
			tc.need(t)
			ctx := context.Background()
			b, err := os.ReadFile(filepath.Join("testdata", tc.scheme.Name()+".json"))
			if err != nil {
				t.Fatal(err)
			}
			rec, err := DecodeRecording(b)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, f := range Recorders(tc.scheme.Name()) {
				recs, err := f(ctx, rec.Keys)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range recs {
					n++
					if r.Producer == "xmppe2e" || r.Producer == "" {
						t.Errorf("%s: producer %q", r.Name, r.Producer)
					}
					g := &vectors.Group{Keys: rec.Keys, Receiver: r.Receiver, ReceiverJID: parties[r.Receiver].String(),
						Peers: []string{r.Sender}, ReceiverSeed: r.ReceiverSeed}
					res, rerr, serr := vectors.Observe(ctx, tc.scheme, g, vectors.Vector{Now: checkTime, Wire: r.Wire})
					if serr != nil || rerr != nil || len(res.Opened) != 1 {
						t.Errorf("%s by %s does not open: %v %v", r.Name, r.Producer, serr, rerr)
						continue
					}
					want, _ := e2e.Parse([]byte(r.Stanza))
					if got := res.Opened[0].Stanza; got.Body() != want.Body() {
						t.Errorf("%s by %s opened %q, want %q", r.Name, r.Producer, got.Body(), want.Body())
					}
					if r.Op != "encrypt" && res.Opened[0].Signer == nil {
						t.Errorf("%s by %s: no signer", r.Name, r.Producer)
					}
				}
			}
			if n == 0 {
				t.Fatal("no records from the peer")
			}
			rec.Records = append(rec.Records[:0:0], rec.Records...)
			for _, f := range Crafters(tc.scheme.Name()) {
				if _, err := f(ctx, rec); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
