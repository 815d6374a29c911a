package interop

import (
	"context"
	"encoding/base64"
	"math/rand/v2"
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/xmpp/jid"
)

func msg(to string, body string) *e2e.Stanza {
	st := &e2e.Stanza{Kind: e2e.Message, To: jid.MustParse(to), Type: "chat", ID: "x"}
	st.SetBody(body)
	return st
}

func TestMemNetworkRouting(t *testing.T) {
	ctx := context.Background()
	n := NewMemNetwork("capulet.lit")
	j, _ := n.Login(ctx, JulietJID, LoginOptions{Carbons: true})
	j2, _ := n.Login(ctx, Juliet2JID, LoginOptions{Carbons: true})
	r, _ := n.Login(ctx, RomeoJID, LoginOptions{})
	r2, _ := n.Login(ctx, Romeo2JID, LoginOptions{})

	// Full JID: one device, and a sent carbon to juliet's other device.
	j.Send(ctx, msg("romeo@montague.lit/orchard", "a"))
	if got := r.Drain(); len(got) != 1 || got[0].Body() != "a" || !got[0].From.Equal(JulietJID) {
		t.Fatalf("romeo got %v", got)
	}
	if len(r2.Drain()) != 0 {
		t.Error("romeo's other device got a full-JID message")
	}
	if c := j2.Drain(); len(c) != 1 || unwrapCarbon(c[0]).Body() != "a" {
		t.Errorf("no sent carbon: %v", c)
	}
	// Bare JID: every device.
	j.Send(ctx, msg("romeo@montague.lit", "b"))
	if len(r.Drain()) != 1 || len(r2.Drain()) != 1 {
		t.Error("bare-JID message not on both devices")
	}
	// Offline: stored with a delay stamp, delivered at login.
	r.Close(ctx)
	r2.Close(ctx)
	j.Send(ctx, msg("romeo@montague.lit/orchard", "c"))
	r, _ = n.Login(ctx, RomeoJID, LoginOptions{})
	got := r.Drain()
	if len(got) != 1 || got[0].Body() != "c" || got[0].Child(NSDelay, "delay") == nil {
		t.Errorf("offline delivery: %v", got)
	}
	// An iq to an unavailable resource bounces.
	j.Drain()
	j.Send(ctx, &e2e.Stanza{Kind: e2e.IQ, Type: "set", ID: "q", To: Romeo2JID})
	if b := j.Drain(); len(b) != 1 || b[0].Type != "error" {
		t.Errorf("iq bounce: %v", b)
	}
	// The hook drops and injects; the wiretap saw both servers.
	n.SetHook(func(r Record, st *e2e.Stanza) []*e2e.Stanza { return nil })
	j.Send(ctx, msg("romeo@montague.lit/orchard", "d"))
	if len(r.Drain()) != 0 {
		t.Error("the hook did not drop")
	}
	n.Inject(ctx, msg("romeo@montague.lit/orchard", "e"))
	if got := r.Drain(); len(got) != 1 || got[0].Body() != "e" {
		t.Errorf("injection: %v", got)
	}
	servers := map[string]bool{}
	for _, rec := range n.Wiretap() {
		servers[rec.Server+"/"+rec.Hop] = true
	}
	for _, want := range []string{"capulet.lit/c2s", "montague.lit/s2s", "capulet.lit/inject"} {
		if !servers[want] {
			t.Errorf("no wiretap record at %s: %v", want, servers)
		}
	}
}

func TestFlipVariantsFlipDecodedBits(t *testing.T) {
	payload := make([]byte, 40)
	sent := msg("romeo@montague.lit", "secret")
	wire := msg("romeo@montague.lit", "fallback")
	x := e2e.NewElement("urn:test", "x", base64.StdEncoding.EncodeToString(payload))
	wire.Children = append(wire.Children, x)
	vs := flipVariants(sent, []*e2e.Stanza{wire}, 5, rand.New(rand.NewPCG(1, 2)))
	flips := 0
	for _, v := range vs {
		el := v.wire[0].Child("urn:test", "x")
		if el == nil {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(el.Text())
		if err != nil || len(b) != len(payload) {
			t.Fatalf("variant %q is not base64 of the same length: %v", v.what, err)
		}
		diff := 0
		for i := range b {
			for d := b[i] ^ payload[i]; d != 0; d &= d - 1 {
				diff++
			}
		}
		switch diff {
		case 0: // a variant of the fallback body
		case 1:
			flips++
		default:
			t.Errorf("variant %q flips %d bits", v.what, diff)
		}
	}
	if flips != 5 {
		t.Errorf("%d bit-flip variants of the payload, want 5", flips)
	}
	if tv := truncVariants(sent, []*e2e.Stanza{wire}); len(tv) != 4 {
		t.Errorf("%d truncation variants, want 4", len(tv))
	}
	// The original is untouched.
	if wire.Child("urn:test", "x").Text() != base64.StdEncoding.EncodeToString(payload) {
		t.Error("flipVariants changed its input")
	}
}
