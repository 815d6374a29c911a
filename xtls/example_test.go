package xtls_test

import (
	"context"
	"fmt"
	"math/rand"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/xtls"
	"mellium.im/xmpp/jid"
)

// Two clients set up an XTLS tunnel by passing each other the stanzas their
// sessions return, as their servers would, and compare the SAS.
func Example() {
	ctx := context.Background()
	romeoJID := jid.MustParse("romeo@montague.lit/orchard")
	julietJID := jid.MustParse("juliet@capulet.lit/balcony")
	romeoID, _ := xtls.Scheme.GenerateIdentity(ctx, romeoJID.Bare(), rand.New(rand.NewSource(1)))
	julietID, _ := xtls.Scheme.GenerateIdentity(ctx, julietJID.Bare(), rand.New(rand.NewSource(2)))

	romeo, _ := xtls.Scheme.NewSession(e2e.Config{Local: romeoID, JID: romeoJID, Peers: []e2e.Peer{julietID.Public()}})
	juliet, _ := xtls.Scheme.NewSession(e2e.Config{Local: julietID, JID: julietJID, Peers: []e2e.Peer{romeoID.Public()}})
	defer romeo.Close(ctx)
	defer juliet.Close(ctx)

	m := &e2e.Stanza{Kind: e2e.Message, From: romeoJID, To: julietJID, Type: "chat"}
	m.SetBody("It is my lady, O, it is my love!")
	wire, _ := romeo.Encrypt(ctx, m) // the Jingle session-initiate; m is held back

	// Deliver stanzas back and forth until there is nothing left to send.
	type hop struct {
		to e2e.Session
		st *e2e.Stanza
	}
	var q []hop
	for _, st := range wire {
		q = append(q, hop{juliet, st})
	}
	for len(q) > 0 {
		h := q[0]
		q = q[1:]
		res, err := h.to.Receive(ctx, h.st)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		for _, o := range res.Opened {
			fmt.Printf("juliet reads %q\n", o.Stanza.Body())
		}
		other := e2e.Session(romeo)
		if h.to == romeo {
			other = juliet
		}
		for _, r := range res.Replies {
			q = append(q, hop{other, r})
		}
	}
	a, _ := romeo.(*xtls.Session).SAS(julietJID)
	b, _ := juliet.(*xtls.Session).SAS(romeoJID)
	fmt.Println("same SAS:", a == b, len(a), "hex digits")
	// Output:
	// juliet reads "It is my lady, O, it is my love!"
	// same SAS: true 10 hex digits
}
