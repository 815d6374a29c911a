package client_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/internal/toy"
	"github.com/xmppe2e/xmppe2e/interop/client"
	"github.com/xmppe2e/xmppe2e/interop/server"
	"mellium.im/xmpp/jid"
)

func setup(t *testing.T) (*server.Network, func(local, res string) *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := server.StartNetwork(ctx, server.NetworkConfig{Iterations: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n, func(local, res string) *client.Client {
		a, err := n.Account(local)
		if err != nil {
			t.Fatal(err)
		}
		j, _ := a.JID.WithResource(res)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := client.Login(ctx, client.Config{JID: j, Password: a.Password, Addr: a.Addr, RootCAs: a.RootCAs})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
}

func nextEvent(t *testing.T, c *client.Client, f func(client.Event) bool) client.Event {
	t.Helper()
	tm := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("stream ended: %v", c.Err())
			}
			if f(ev) {
				return ev
			}
		case <-tm:
			t.Fatal("timed out")
		}
	}
}

// TestEncryptedOverNetwork carries toy e2e sessions over the federated
// network: romeo's application gets the opened stanza, and no server saw
// the plaintext.
func TestEncryptedOverNetwork(t *testing.T) {
	n, login := setup(t)
	ctx := context.Background()
	sch := &toy.Scheme{}
	jb, rb := jid.MustParse("juliet@capulet.lit"), jid.MustParse("romeo@montague.lit")
	jid1, err := sch.GenerateIdentity(ctx, jb, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rid, err := sch.GenerateIdentity(ctx, rb, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	juliet, romeo := login("juliet", "balcony"), login("romeo", "orchard")
	js, _ := sch.NewSession(e2e.Config{Local: jid1, JID: juliet.JID(), Peers: []e2e.Peer{rid.Public()}})
	rs, _ := sch.NewSession(e2e.Config{Local: rid, JID: romeo.JID(), Peers: []e2e.Peer{jid1.Public()}})
	juliet.SetSession(rb, js)
	romeo.SetSession(jb, rs)

	st := &e2e.Stanza{Kind: e2e.Message, Type: "chat", To: romeo.JID(), ID: "secret-1"}
	st.SetBody("wherefore art thou")
	if err := juliet.SendEncrypted(ctx, st); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, romeo, func(ev client.Event) bool { return ev.Wire.Kind == e2e.Message && ev.Session })
	if ev.Err != nil || len(ev.Opened) != 1 || ev.Opened[0].Stanza.Body() != "wherefore art thou" || !ev.Opened[0].Encrypted {
		t.Fatalf("opened %+v, err %v", ev.Opened, ev.Err)
	}
	p := n.Path(e2e.Message, "secret-1")
	if len(p.Hops) != 4 {
		t.Fatalf("path:\n%s", p)
	}
	for _, h := range p.Hops {
		if bytes.Contains(h.Raw, []byte("wherefore")) {
			t.Errorf("%s saw the plaintext at %s", h.Server, h.Hop)
		}
	}
	// Without a session: ErrNoKey, nothing sent.
	if err := juliet.SendEncrypted(ctx, &e2e.Stanza{Kind: e2e.Message, Type: "chat", To: jid.MustParse("mercutio@capulet.lit")}); !errors.Is(err, e2e.ErrNoKey) {
		t.Errorf("no session: %v", err)
	}
}

// ackSession opens everything in the clear and answers each message with
// an ack reply: it checks that Replies are sent and Opened delivered.
type ackSession struct{}

func (ackSession) Encrypt(_ context.Context, st *e2e.Stanza) ([]*e2e.Stanza, error) {
	return []*e2e.Stanza{st}, nil
}
func (ackSession) Sign(context.Context, *e2e.Stanza) ([]*e2e.Stanza, error) {
	return nil, e2e.ErrUnsupported
}
func (ackSession) Close(context.Context) ([]*e2e.Stanza, error) { return nil, nil }
func (ackSession) Receive(_ context.Context, st *e2e.Stanza) (e2e.Received, error) {
	if st.Body() == "ack" || st.Body() == "refused" {
		return e2e.Received{Opened: []e2e.Opened{{Stanza: st}}}, nil
	}
	ack := &e2e.Stanza{Kind: e2e.Message, Type: "chat", To: st.From}
	ack.SetBody("ack")
	if st.Body() == "refuse me" {
		// A refusal that the peer must hear of, as xtls's session-terminate.
		ack.SetBody("refused")
		return e2e.Received{Replies: []*e2e.Stanza{ack}}, e2e.ErrDecrypt
	}
	return e2e.Received{Opened: []e2e.Opened{{Stanza: st}}, Replies: []*e2e.Stanza{ack}}, nil
}

func TestRepliesOfflineOnlineSecondDevice(t *testing.T) {
	_, login := setup(t)
	ctx := context.Background()
	juliet, romeo := login("juliet", "balcony"), login("romeo", "orchard")
	juliet.SetSession(romeo.JID(), ackSession{})
	romeo.SetSession(juliet.JID(), ackSession{})
	st := &e2e.Stanza{Kind: e2e.Message, Type: "chat", To: romeo.JID()}
	st.SetBody("hello")
	if err := juliet.SendEncrypted(ctx, st); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, romeo, func(ev client.Event) bool { return len(ev.Opened) == 1 && ev.Opened[0].Stanza.Body() == "hello" })
	nextEvent(t, juliet, func(ev client.Event) bool { return len(ev.Opened) == 1 && ev.Opened[0].Stanza.Body() == "ack" })

	// A refusal: the application hears of the error, and the replies that
	// came with it go out.
	st = &e2e.Stanza{Kind: e2e.Message, Type: "chat", To: romeo.JID()}
	st.SetBody("refuse me")
	if err := juliet.SendEncrypted(ctx, st); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, romeo, func(ev client.Event) bool { return ev.Wire.Body() == "refuse me" })
	if !errors.Is(ev.Err, e2e.ErrDecrypt) || len(ev.Opened) != 0 {
		t.Fatalf("refused stanza: err %v, opened %v", ev.Err, ev.Opened)
	}
	nextEvent(t, juliet, func(ev client.Event) bool { return len(ev.Opened) == 1 && ev.Opened[0].Stanza.Body() == "refused" })

	// Offline, then online again: the message waits on the server.
	romeo.Close()
	<-romeo.Done()
	st = &e2e.Stanza{Kind: e2e.Message, Type: "chat", To: jid.MustParse("romeo@montague.lit")}
	st.SetBody("while away")
	juliet.Send(ctx, st)
	time.Sleep(200 * time.Millisecond)
	back := login("romeo", "orchard")
	nextEvent(t, back, func(ev client.Event) bool { return ev.Wire.Body() == "while away" })

	// A second device of juliet: same bare JID, another resource.
	phone := login("juliet", "phone")
	if !phone.JID().Bare().Equal(juliet.JID().Bare()) || phone.JID().Equal(juliet.JID()) {
		t.Fatalf("second device bound %s next to %s", phone.JID(), juliet.JID())
	}
	st = &e2e.Stanza{Kind: e2e.Message, Type: "chat", To: phone.JID()}
	st.SetBody("to the phone only")
	back.Send(ctx, st)
	nextEvent(t, phone, func(ev client.Event) bool { return ev.Wire.Body() == "to the phone only" })
}

// An IQ error answers an IQ a session sent (an XTLS chunk, a JOSE key
// request): it reaches the session, while bounced messages do not.
func TestIQErrorsReachTheSession(t *testing.T) {
	_, login := setup(t)
	ctx := context.Background()
	juliet := login("juliet", "balcony")
	juliet.SetSession(jid.MustParse("romeo@montague.lit"), ackSession{})
	iq := &e2e.Stanza{Kind: e2e.IQ, Type: "set", ID: "chunk-1", To: jid.MustParse("romeo@montague.lit/nowhere"),
		Children: []*e2e.Element{e2e.NewElement("http://jabber.org/protocol/ibb", "data", "AAAA")}}
	if err := juliet.Send(ctx, iq); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, juliet, func(ev client.Event) bool { return ev.Wire.Kind == e2e.IQ && ev.Wire.ID == "chunk-1" })
	if ev.Wire.Type != "error" || !ev.Session || len(ev.Opened) != 1 {
		t.Fatalf("IQ %s error: session %v, opened %d", ev.Wire.Type, ev.Session, len(ev.Opened))
	}
}
