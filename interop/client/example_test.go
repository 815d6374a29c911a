package client_test

import (
	"context"
	"fmt"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/interop/client"
	"github.com/xmppe2e/xmppe2e/interop/server"
)

// Log in two devices of juliet; the requested resources are bound, and a
// message to one full JID reaches only that device.
func ExampleLogin() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := server.StartNetwork(ctx, server.NetworkConfig{})
	if err != nil {
		panic(err)
	}
	defer n.Close()
	a, _ := n.Account("juliet")
	login := func(res string) *client.Client {
		j, _ := a.JID.WithResource(res)
		c, err := client.Login(ctx, client.Config{JID: j, Password: a.Password, Addr: a.Addr, RootCAs: a.RootCAs})
		if err != nil {
			panic(err)
		}
		return c
	}
	desk, phone := login("desk"), login("phone")
	defer desk.Close()
	defer phone.Close()
	fmt.Println(desk.JID(), phone.JID())

	st := &e2e.Stanza{Kind: e2e.Message, Type: "chat", To: phone.JID()}
	st.SetBody("note to self")
	desk.Send(ctx, st)
	for ev := range phone.Events() {
		if ev.Wire.Kind == e2e.Message {
			fmt.Println(ev.Wire.From, "->", ev.Wire.To, ev.Wire.Body())
			break
		}
	}
	// Output:
	// juliet@capulet.lit/desk juliet@capulet.lit/phone
	// juliet@capulet.lit/desk -> juliet@capulet.lit/phone note to self
}
