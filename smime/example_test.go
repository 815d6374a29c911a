package smime_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/smime"
)

func load(name string) e2e.Identity {
	b, err := os.ReadFile("testdata/" + name + ".pem")
	if err != nil {
		panic(err)
	}
	id, err := smime.Scheme.ParseIdentity(b)
	if err != nil {
		panic(err)
	}
	return id
}

// Juliet signs and encrypts a message to Romeo, who opens it.
func Example() {
	ctx := context.Background()
	juliet, romeo := load("juliet"), load("romeo")

	js, _ := smime.Scheme.NewSession(e2e.Config{
		Local: juliet, JID: jid.MustParse("juliet@capulet.lit/balcony"),
		Peers: []e2e.Peer{romeo.Public()},
	})
	rs, _ := smime.Scheme.NewSession(e2e.Config{
		Local: romeo, JID: jid.MustParse("romeo@montague.lit/orchard"),
		Peers: []e2e.Peer{juliet.Public()},
		Clock: time.Now,
	})

	msg := &e2e.Stanza{Kind: e2e.Message, To: jid.MustParse("romeo@montague.lit/orchard"), Type: "chat"}
	msg.SetBody("Wherefore art thou, Romeo?")
	wire, err := js.Encrypt(ctx, msg)
	if err != nil {
		panic(err)
	}
	got, err := rs.Receive(ctx, wire[0])
	if err != nil {
		panic(err)
	}
	o := got.Opened[0]
	fmt.Println(o.Stanza.Body())
	fmt.Println("encrypted:", o.Encrypted, "signed by:", o.Signer.JID(), "trusted:", o.Trusted)
	// Output:
	// Wherefore art thou, Romeo?
	// encrypted: true signed by: juliet@capulet.lit trusted: true
}
