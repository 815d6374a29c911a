package gen

import (
	"context"
	"fmt"
	"strings"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/vectors"
)

func init() {
	for _, s := range []string{"smime", "smime-strict"} {
		recorders[s] = append(recorders[s], recordOpenSSL(s))
		crafters[s] = append(crafters[s], craftOpenSSL(s))
	}
}

// nsSMIME is the RFC 3923 <e2e/> namespace.
const nsSMIME = "urn:ietf:params:xml:ns:xmpp-e2e"

// cpimLayout is the DateTime format of the CPIM headers.
const cpimLayout = "2006-01-02T15:04:05.000Z"

// openssl runs `openssl cms` as juliet, with her PEM identity (key and
// certificate) and romeo's certificate in its scratch directory, over an
// RFC 3923 §3.1 inner object dated Epoch (the recipes of smime/testdata/gen.sh).
type openssl struct {
	*tool
	producer string
}

func newOpenSSL(ctx context.Context, scheme string, keys map[string]vectors.Key) (*openssl, bool, error) {
	t, ok, err := newTool(scheme, "openssl")
	if !ok {
		return nil, false, err
	}
	ver, err := t.run(ctx, "", "version")
	if err != nil {
		t.close()
		return nil, false, err
	}
	f := strings.Fields(ver)
	o := &openssl{tool: t, producer: "OpenSSL"}
	if len(f) > 1 {
		o.producer += " " + f[1]
	}
	body := opensslBody
	cpim := "Content-Type: Message/CPIM\r\n\r\nFrom: Juliet Capulet <im:juliet@capulet.lit>\r\nTo: Romeo Montague <im:romeo@montague.lit>\r\nDateTime: " +
		Epoch.Format(cpimLayout) + "\r\n\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n"
	for name, content := range map[string]string{"juliet.pem": keys["juliet"].Identity, "romeo.crt": keys["romeo"].Peer, "cpim.txt": cpim} {
		if err := t.write(name, content); err != nil {
			t.close()
			return nil, false, err
		}
	}
	return o, true, nil
}

// cms runs openssl cms with args and returns the S/MIME entity it wrote.
func (o *openssl) cms(ctx context.Context, out string, args ...string) (string, error) {
	if _, err := o.run(ctx, "", append([]string{"cms", "-out", out}, args...)...); err != nil {
		return "", err
	}
	return o.read(out)
}

func (o *openssl) sign(ctx context.Context, out, md string) (string, error) {
	return o.cms(ctx, out, "-sign", "-binary", "-md", md, "-in", "cpim.txt", "-signer", "juliet.pem", "-inkey", "juliet.pem")
}

func (o *openssl) encrypt(ctx context.Context, out, in, cipher string) (string, error) {
	return o.cms(ctx, out, "-encrypt", "-binary", cipher, "-in", in, "romeo.crt")
}

// wire puts an entity in a message from juliet to romeo, as text of <e2e/>.
func e2eWire(id, entity string) string {
	st := &e2e.Stanza{Kind: e2e.Message, From: parties["juliet"], To: parties["romeo"], ID: id, Type: "chat",
		Children: []*e2e.Element{e2e.NewElement(nsSMIME, "e2e", strings.ReplaceAll(entity, "\r\n", "\n"))}}
	return st.String()
}

// opensslBody is the text of the CPIM object's text/plain part.
const opensslBody = "Wherefore art thou, Romeo? <&> ¿qué?"

// opensslPlain is the stanza the CPIM object stands for; its body keeps the
// line end that ends the text/plain part.
func opensslPlain(id string) string {
	return fmt.Sprintf(`<message xmlns='jabber:client' from='juliet@capulet.lit/balcony' to='romeo@montague.lit/orchard' id='%s' type='chat'><body>%s</body></message>`,
		id, escape(opensslBody+"\n"))
}

// recordOpenSSL has OpenSSL play juliet for the profile's algorithms: the
// strict profile's SHA-1 and AES-128-CBC EnvelopedData, the default one's
// SHA-256 and AES-128-GCM AuthEnvelopedData (and AES-128-CBC, which it
// accepts too).
func recordOpenSSL(scheme string) Recorder {
	return func(ctx context.Context, keys map[string]vectors.Key) ([]Record, error) {
		o, ok, err := newOpenSSL(ctx, scheme, keys)
		if !ok {
			return nil, err
		}
		defer o.close()
		md, ciphers := "sha256", []string{"-aes-128-gcm", "-aes128"}
		if scheme == "smime-strict" {
			md, ciphers = "sha1", []string{"-aes128"}
		}
		signed, err := o.sign(ctx, "signed.eml", md)
		if err != nil {
			return nil, err
		}
		rec := func(name, op, entity string) Record {
			id := "ossl-" + name
			return Record{Name: id, Op: op, Sender: "juliet", Receiver: "romeo", Stanza: opensslPlain(id),
				Wire: []string{e2eWire(id, entity)}, Producer: o.producer}
		}
		recs := []Record{rec("signed-"+md, "sign", signed)}
		for _, c := range ciphers {
			name := strings.TrimPrefix(c, "-")
			se, err := o.encrypt(ctx, "signenc"+name+".eml", "signed.eml", c)
			if err != nil {
				return nil, err
			}
			recs = append(recs, rec("signed-"+md+"-enc-"+name, "sign+encrypt", se))
		}
		return recs, nil
	}
}

// craftOpenSSL has OpenSSL leave out the signature, and use algorithms the profile does not send (3DES,
// AES-256, a SHA-1 or SHA-512 digest, streamed BER), labelled by what the
// reference accepts.
func craftOpenSSL(scheme string) Crafter {
	return func(ctx context.Context, rec *Recording) ([]Crafted, error) {
		o, ok, err := newOpenSSL(ctx, scheme, rec.Keys)
		if !ok {
			return nil, err
		}
		defer o.close()
		var out []Crafted
		add := func(name, comment, entity string, flags ...string) {
			id := "ossl-" + name
			out = append(out, Crafted{Name: id, Comment: comment, Flags: append([]string{"Peer"}, flags...), Sender: "juliet", Receiver: "romeo",
				Wire: []string{e2eWire(id, entity)}, Producer: o.producer})
		}
		// RFC 3923 §4 has the sender sign before encrypting; our receivers
		// insist.
		for _, c := range []string{"-aes128", "-aes-128-gcm"} {
			e, err := o.encrypt(ctx, "unsigned"+c+".eml", "cpim.txt", c)
			if err != nil {
				return nil, err
			}
			add("enc"+c, "encrypted with "+strings.TrimPrefix(c, "-")+", not signed", e, "UnsignedEnvelope")
		}
		for _, md := range []string{"sha1", "sha512", "md5"} {
			s, err := o.sign(ctx, "signed-"+md+".eml", md)
			if err != nil {
				return nil, err
			}
			add("signed-"+md, "signed with digest "+md, s, "WeakAlgorithm")
		}
		for _, c := range []string{"-des3", "-aes256", "-aes-256-gcm"} {
			e, err := o.encrypt(ctx, "enc"+c+".eml", "signed-sha1.eml", c)
			if err != nil {
				return nil, err
			}
			add("signed-sha1-enc"+c, "signed with SHA-1, encrypted with "+strings.TrimPrefix(c, "-"), e, "WeakAlgorithm")
		}
		return out, nil
	}
}
