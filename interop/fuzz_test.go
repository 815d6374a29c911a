package interop

import (
	"math/rand/v2"
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/interop/toy"
)

// FuzzWireAnalysis feeds hostile wire stanzas to everything the harness
// reads from the wiretap: the metadata analysis, the payload regions and
// their bit flips and cuts. None may panic.
func FuzzWireAnalysis(f *testing.F) {
	f.Add([]byte(`<message xmlns='jabber:client' from='juliet@capulet.lit/balcony' to='romeo@montague.lit/orchard' type='chat'><body>?OTR:AAMDZm9vYmFyYmF6cXV4cXV1eA==.</body></message>`))
	f.Add([]byte(`<message xmlns='jabber:client' from='romeo@montague.lit/orchard' to='juliet@capulet.lit/balcony'><e2e xmlns='urn:ietf:params:xml:ns:xmpp-e2e'>Content-Type: application/pkcs7-mime
Content-Transfer-Encoding: base64

MIAGCSqGSIb3DQEHA6CAMIACAQAxggE=
</e2e></message>`))
	f.Add([]byte(`<iq xmlns='jabber:client' type='set' from='juliet@capulet.lit/balcony' to='romeo@montague.lit/orchard'><data xmlns='http://jabber.org/protocol/ibb' seq='0' sid='s'>AAAA____----</data></iq>`))
	ids := &identities{a: DefaultAddresses()}
	for _, p := range []*e2e.Identity{&ids.juliet, &ids.romeo, &ids.mercutio} {
		id, err := toy.Bare.GenerateIdentity(nil, JulietJID.Bare(), rand.NewChaCha8([32]byte{}))
		if err != nil {
			f.Fatal(err)
		}
		*p = id
	}
	sent := &e2e.Stanza{Kind: e2e.Message}
	sent.SetBody("secret")
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := e2e.Parse(b)
		if err != nil {
			return
		}
		analyzeMetadata(ids, []Record{{Server: "capulet.lit", Bytes: b}, {Server: "capulet.lit", Bytes: b}}, []*e2e.Stanza{sent}, "capulet.lit")
		wire := []*e2e.Stanza{st}
		flipVariants(sent, wire, 3, rand.New(rand.NewPCG(1, 1)))
		truncVariants(sent, wire)
	})
}
