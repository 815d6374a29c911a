package otr_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/otr"
	"mellium.im/xmpp/jid"
)

func load(name string) e2e.Identity {
	b, err := os.ReadFile(filepath.Join("testdata", "keys", name+".key"))
	if err != nil {
		panic(err)
	}
	id, err := otr.Scheme.ParseIdentity(b) // a libotr otr.private_key file
	if err != nil {
		panic(err)
	}
	return id
}

// Juliet writes to Romeo before any OTR session exists: her stanza waits
// while the AKE runs, then goes out encrypted.
func Example() {
	// otr3 prints diagnostics to standard output: keep them off the
	// channel this program writes its results to.
	out := os.Stdout
	os.Stdout = os.Stderr
	defer func() { os.Stdout = out }()

	ctx := context.Background()
	julietJID := jid.MustParse("juliet@capulet.lit/balcony")
	romeoJID := jid.MustParse("romeo@montague.lit/orchard")
	juliet, _ := otr.Scheme.NewSession(e2e.Config{Local: load("juliet@capulet.lit"), JID: julietJID})
	romeo, _ := otr.Scheme.NewSession(e2e.Config{Local: load("romeo@montague.lit"), JID: romeoJID})

	st := &e2e.Stanza{Kind: e2e.Message, From: julietJID, To: romeoJID, Type: "chat"}
	st.SetBody("Wherefore art thou?")
	wire, _ := juliet.Encrypt(ctx, st)
	fmt.Fprintln(out, "Juliet sends:", wire[0].Body())

	// The network: every stanza to the other side, every reply back.
	from, to := juliet, romeo
	for len(wire) > 0 {
		var replies []*e2e.Stanza
		for _, w := range wire {
			res, err := to.Receive(ctx, w)
			if err != nil {
				panic(err)
			}
			for _, o := range res.Opened {
				fmt.Fprintf(out, "Romeo reads %q (encrypted %v)\n", o.Stanza.Body(), o.Encrypted)
			}
			replies = append(replies, res.Replies...)
		}
		from, to, wire = to, from, replies
	}
	// Output:
	// Juliet sends: ?OTRv23?
	// Romeo reads "Wherefore art thou?" (encrypted true)
}
