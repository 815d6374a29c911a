package server_test

import (
	"context"
	"fmt"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/interop/client"
	"github.com/xmppe2e/xmppe2e/interop/server"
)

// Start the test network, send juliet's message to romeo across the s2s
// link, and print the path the servers recorded.
func ExampleStartNetwork() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := server.StartNetwork(ctx, server.NetworkConfig{})
	if err != nil {
		panic(err)
	}
	defer n.Close()
	login := func(local, res string) *client.Client {
		a, _ := n.Account(local)
		j, _ := a.JID.WithResource(res)
		c, err := client.Login(ctx, client.Config{JID: j, Password: a.Password, Addr: a.Addr, RootCAs: a.RootCAs})
		if err != nil {
			panic(err)
		}
		return c
	}
	juliet, romeo := login("juliet", "balcony"), login("romeo", "orchard")
	defer juliet.Close()
	defer romeo.Close()

	st := &e2e.Stanza{Kind: e2e.Message, Type: "chat", To: romeo.JID(), ID: "m1"}
	st.SetBody("Wherefore art thou?")
	juliet.Send(ctx, st)
	for ev := range romeo.Events() {
		if ev.Wire.Kind == e2e.Message {
			fmt.Println(ev.Wire.From, "says", ev.Wire.Body())
			break
		}
	}
	for _, h := range n.Path(e2e.Message, "m1").Hops {
		fmt.Println(h.Server, h.Hop, h.Auth)
	}
	// Output:
	// juliet@capulet.lit/balcony says Wherefore art thou?
	// capulet.lit c2s-in SCRAM-SHA-256
	// capulet.lit s2s-out EXTERNAL
	// montague.lit s2s-in EXTERNAL
	// montague.lit c2s-out SCRAM-SHA-256
}
