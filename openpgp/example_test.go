package openpgp_test

import (
	"context"
	"fmt"
	"os"

	"mellium.im/xmpp/jid"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/openpgp"
)

// Juliet signs her presence and sends Romeo an encrypted message; Romeo's
// session verifies the one and opens the other. The keys were made by gpg
// (see testdata/make-fixtures.sh).
func Example() {
	ctx := context.Background()
	load := func(name string) []byte {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			panic(err)
		}
		return b
	}
	juliet, err := openpgp.Scheme.ParseIdentity(load("juliet.sec.asc"))
	if err != nil {
		panic(err)
	}
	romeo, err := openpgp.Scheme.ParseIdentity(load("romeo.sec.asc"))
	if err != nil {
		panic(err)
	}
	julietFull := jid.MustParse("juliet@capulet.lit/balcony")
	romeoFull := jid.MustParse("romeo@montague.lit/orchard")

	js, _ := openpgp.Scheme.NewSession(e2e.Config{Local: juliet, JID: julietFull, Peers: []e2e.Peer{romeo.Public()}})
	rs, _ := openpgp.Scheme.NewSession(e2e.Config{Local: romeo, JID: romeoFull, Peers: []e2e.Peer{juliet.Public()}})

	presence := &e2e.Stanza{Kind: e2e.Presence, Children: []*e2e.Element{
		e2e.NewElement(e2e.NSClient, "status", "On the balcony"),
	}}
	signed, err := js.Sign(ctx, presence)
	if err != nil {
		panic(err)
	}
	got, err := rs.Receive(ctx, signed[0])
	if err != nil {
		panic(err)
	}
	fmt.Println("presence signed by", got.Opened[0].Signer.JID())

	msg := &e2e.Stanza{Kind: e2e.Message, To: romeoFull, Type: "chat"}
	msg.SetBody("Wherefore art thou Romeo?")
	wire, err := js.Encrypt(ctx, msg)
	if err != nil {
		panic(err)
	}
	fmt.Println("the server sees:", wire[0].Body())
	got, err = rs.Receive(ctx, wire[0])
	if err != nil {
		panic(err)
	}
	fmt.Println("romeo reads:", got.Opened[0].Stanza.Body())
	fmt.Println("authenticated sender:", got.Opened[0].Signer != nil)
	// Output:
	// presence signed by juliet@capulet.lit
	// the server sees: This message is encrypted with OpenPGP (XEP-0027).
	// romeo reads: Wherefore art thou Romeo?
	// authenticated sender: false
}
