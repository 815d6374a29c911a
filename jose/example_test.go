package jose_test

import (
	"context"
	"fmt"
	"os"

	"mellium.im/xmpp/jid"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/jose"
)

func load(name string) e2e.Identity {
	// jose.Scheme.GenerateIdentity makes a new one; these are test keys.
	b, err := os.ReadFile("testdata/keys/" + name + ".jwk")
	if err != nil {
		panic(err)
	}
	id, err := jose.Scheme.ParseIdentity(b)
	if err != nil {
		panic(err)
	}
	return id
}

// Juliet encrypts a message to Romeo. Romeo's session does not know the
// SMK yet: it holds the stanza and asks Juliet for the key; Juliet releases
// it because she trusts Romeo's key; Romeo's session then opens the stanza.
func Example() {
	ctx := context.Background()
	juliet, romeo := load("juliet"), load("romeo")
	js, _ := jose.Scheme.NewSession(e2e.Config{Local: juliet, JID: jid.MustParse("juliet@capulet.lit/balcony"), Peers: []e2e.Peer{romeo.Public()}})
	rs, _ := jose.Scheme.NewSession(e2e.Config{Local: romeo, JID: jid.MustParse("romeo@montague.lit/orchard"), Peers: []e2e.Peer{juliet.Public()}})

	msg := &e2e.Stanza{Kind: e2e.Message, Type: "chat", To: jid.MustParse("romeo@montague.lit/orchard")}
	msg.SetBody("Wherefore art thou?")
	wire, err := js.Encrypt(ctx, msg)
	if err != nil {
		panic(err)
	}

	got, _ := rs.Receive(ctx, wire[0]) // no SMK yet: a key request
	fmt.Println("romeo asks:", got.Replies[0].Child(jose.NS, "keyreq") != nil)
	ans, _ := js.Receive(ctx, got.Replies[0]) // juliet answers with the SMK
	got, err = rs.Receive(ctx, ans.Replies[0])
	if err != nil {
		panic(err)
	}
	fmt.Println("romeo reads:", got.Opened[0].Stanza.Body())

	// Later stanzas under the same SMK open at once.
	msg.SetBody("O Romeo, Romeo!")
	wire, _ = js.Encrypt(ctx, msg)
	got, _ = rs.Receive(ctx, wire[0])
	fmt.Println("romeo reads:", got.Opened[0].Stanza.Body())
	// Output:
	// romeo asks: true
	// romeo reads: Wherefore art thou?
	// romeo reads: O Romeo, Romeo!
}
