package gen

import (
	"context"
	"fmt"

	"github.com/xmppe2e/xmppe2e/internal/xep0027"
)

func init() {
	crafters["openpgp"] = append(crafters["openpgp"], craftXEP0027)
}

// craftXEP0027 puts the payloads of XEP-0027's own examples (package
// xep0027) in stanzas from juliet to romeo: a v3 DSA signature over "Online"
// (§2) and "Hi" encrypted to an ElGamal key (§3), both by keys nobody has.
// Their checksums are right; they are legacy negatives: a receiver must
// refuse them cleanly.
func craftXEP0027(ctx context.Context, rec *Recording) ([]Crafted, error) {
	const from, to = "juliet@capulet.lit/balcony", "romeo@montague.lit/orchard"
	return []Crafted{
		{Name: "xep0027-presence", Comment: "XEP-0027 §2 signed presence (v3 DSA signature by an unknown key)", Flags: []string{"SpecExample", "Legacy"},
			Sender: "juliet", Receiver: "romeo", Producer: "XEP-0027 §2 example",
			Wire: []string{fmt.Sprintf(`<presence xmlns='jabber:client' from='%s' to='%s'><status>Online</status><x xmlns='jabber:x:signed'>%s</x></presence>`, from, to, xep0027.Signature)}},
		{Name: "xep0027-message", Comment: "XEP-0027 §3 encrypted message (v3 PKESK to an unknown ElGamal key, no MDC)", Flags: []string{"SpecExample", "Legacy"},
			Sender: "juliet", Receiver: "romeo", Producer: "XEP-0027 §3 example",
			Wire: []string{fmt.Sprintf(`<message xmlns='jabber:client' from='%s' to='%s'><body>This message is encrypted.</body><x xmlns='jabber:x:encrypted'>%s</x></message>`, from, to, xep0027.Message)}},
	}, nil
}
