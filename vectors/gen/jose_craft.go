package gen

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/jose"
	"github.com/xmppe2e/xmppe2e/vectors"
	"mellium.im/xmpp/jid"
)

var b64url = base64.RawURLEncoding

// joseParts returns the text of the named children of the <e2e/> element
// of the stanza w.
func joseParts(w string, names ...string) ([]string, error) {
	st, err := e2e.Parse([]byte(w))
	if err != nil {
		return nil, err
	}
	e := st.Child(jose.NS, "e2e")
	if e == nil {
		return nil, errors.New("no <e2e/>")
	}
	var out []string
	for _, n := range names {
		c := e.Child(jose.NS, n)
		if c == nil {
			return nil, fmt.Errorf("no <%s/>", n)
		}
		out = append(out, strings.Join(strings.Fields(c.Text()), ""))
	}
	return out, nil
}

// reheader returns the base64url JSON header h with the fields set.
func reheader(h string, set map[string]string) (string, error) {
	raw, err := b64url.DecodeString(h)
	if err != nil {
		return "", err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", err
	}
	for k, v := range set {
		m[k] = v
	}
	out, err := json.Marshal(m)
	return b64url.EncodeToString(out), err
}

// craftJOSEConfusion swaps algorithms in our own signed and encrypted
// messages after the fact: a JWS with alg none and no signature, HS256
// keyed with the signer's public JWK (the classic confusion of a verifier
// that takes the key type from the header), RS512 over an RS256 signature;
// a JWE whose protected header says dir, RSA1_5 or another content
// algorithm.
func craftJOSEConfusion(ctx context.Context, rec *Recording) ([]Crafted, error) {
	var out []Crafted
	for _, r := range rec.Records {
		if r.Producer != "xmppe2e" || r.Name != "message-signed" {
			continue
		}
		w := r.Wire[0]
		p, err := joseParts(w, "sigheader", "data", "sig")
		if err != nil {
			return nil, err
		}
		add := func(name, comment string, set map[string]string, sig func(header string) string) error {
			h, err := reheader(p[0], set)
			if err != nil {
				return err
			}
			nw := strings.Replace(w, "<sigheader>"+p[0]+"</sigheader>", "<sigheader>"+h+"</sigheader>", 1)
			nw = strings.Replace(nw, "<sig>"+p[2]+"</sig>", "<sig>"+sig(h)+"</sig>", 1)
			out = append(out, Crafted{Name: r.Name + "-" + name, Comment: comment, Flags: []string{"AlgorithmConfusion"},
				Sender: r.Sender, Receiver: r.Receiver, Wire: []string{nw}, Producer: "xmppe2e"})
			return nil
		}
		pub := rec.Keys[r.Sender].Peer
		steps := []error{
			add("alg-none", `sigheader alg "none", signature empty`, map[string]string{"alg": "none"}, func(string) string { return "" }),
			add("alg-hs256", `sigheader alg "HS256", signature an HMAC keyed with the sender's public JWK`, map[string]string{"alg": "HS256"}, func(h string) string {
				m := hmac.New(sha256.New, []byte(pub))
				m.Write([]byte(h + "." + p[1]))
				return b64url.EncodeToString(m.Sum(nil))
			}),
			add("alg-rs512", `sigheader alg "RS512" over the RS256 signature`, map[string]string{"alg": "RS512"}, func(string) string { return p[2] }),
		}
		if err := errors.Join(steps...); err != nil {
			return nil, err
		}
		break
	}
	for _, r := range rec.Records {
		if r.Producer != "xmppe2e" || r.Name != "message" || len(r.Wire) != 2 {
			continue
		}
		w := r.Wire[0]
		p, err := joseParts(w, "encheader")
		if err != nil {
			return nil, err
		}
		for _, c := range []struct {
			name, comment string
			set           map[string]string
		}{
			{"alg-dir", `encheader alg "dir"`, map[string]string{"alg": "dir"}},
			{"alg-rsa1_5", `encheader alg "RSA1_5"`, map[string]string{"alg": "RSA1_5"}},
			{"enc-a128gcm", `encheader enc "A128GCM" over an A256CBC-HS512 ciphertext`, map[string]string{"enc": "A128GCM"}},
		} {
			h, err := reheader(p[0], c.set)
			if err != nil {
				return nil, err
			}
			nw := strings.Replace(w, "<encheader>"+p[0]+"</encheader>", "<encheader>"+h+"</encheader>", 1)
			cr := Crafted{Name: r.Name + "-" + c.name, Comment: c.comment + ", then the key request answered as recorded", Flags: []string{"AlgorithmConfusion"},
				Sender: r.Sender, Receiver: r.Receiver, ReceiverSeed: r.ReceiverSeed, Wire: []string{nw, r.Wire[1]}, Producer: "xmppe2e"}
			// Where the receiver refuses the changed stanza at once, that
			// refusal is the vector.
			g := vectors.Group{Keys: rec.Keys, Receiver: r.Receiver, ReceiverJID: parties[r.Receiver].String(), Peers: []string{r.Sender}, ReceiverSeed: r.ReceiverSeed}
			if _, rerr, _ := vectors.Observe(ctx, jose.Scheme, &g, vectors.Vector{Now: checkTime, Wire: cr.Wire[:1]}); rerr != nil {
				cr.Comment, cr.Wire, cr.ReceiverSeed = c.comment, cr.Wire[:1], ""
			}
			out = append(out, cr)
		}
		break
	}
	return out, nil
}

// draftDir finds jose/testdata/draft06 from the module root or from this
// package's directory (go test).
func draftDir() (string, bool) {
	for _, d := range []string{filepath.Join("jose", "testdata", "draft06"), filepath.Join("..", "..", "jose", "testdata", "draft06")} {
		if _, err := os.Stat(filepath.Join(d, "sig-4.4.xml")); err == nil {
			return d, true
		}
	}
	return "", false
}

// craftDraftExamples adds the draft's own §3.4, §4.4 and §5.4 examples,
// with the draft's example keys, as our codec receives them.
func craftDraftExamples(ctx context.Context, rec *Recording) ([]Crafted, error) {
	dir, ok := draftDir()
	if !ok {
		fmt.Fprintln(os.Stderr, "vectors/gen: jose: jose/testdata/draft06 not found (run from the module root), no draft examples")
		return nil, nil
	}
	read := func(name string) (string, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		return string(b), err
	}
	keys := map[string]vectors.Key{}
	for name, addr := range map[string]string{"juliet": "juliet@capulet.lit", "romeo": "romeo@montegue.lit"} {
		b, err := read(name + ".key")
		if err != nil {
			return nil, err
		}
		blk, _ := pem.Decode([]byte(b))
		if blk == nil {
			return nil, fmt.Errorf("%s.key: no PEM", name)
		}
		k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
		if err != nil {
			return nil, err
		}
		id, err := jose.NewIdentity(jid.MustParse(addr), k)
		if err != nil {
			return nil, err
		}
		if keys[name], err = keyOf(id, addr); err != nil {
			return nil, err
		}
	}
	var files [4]string
	for i, n := range []string{"sig-4.4.xml", "enc-3.4.xml", "keyreq-5.4-request.xml", "keyreq-5.4-response.xml"} {
		var err error
		if files[i], err = read(n); err != nil {
			return nil, err
		}
	}
	const romeo = "romeo@montegue.lit/garden"
	at := time.Date(1492, 5, 12, 20, 7, 38, 0, time.UTC)
	ex := func(name, comment, section, now string, wire ...string) Crafted {
		return Crafted{Name: name, Comment: comment, Flags: []string{"SpecExample"}, Sender: "juliet", Receiver: "romeo",
			ReceiverJID: romeo, Keys: keys, Now: now, Wire: wire, Producer: "draft-miller-xmpp-e2e-06 " + section + " example"}
	}
	return []Crafted{
		ex("draft-4.4-signed", "§4.4 signed message (RS512) at its own time", "§4.4", at.Format(time.RFC3339Nano), files[0]),
		ex("draft-4.4-signed-late", "§4.4 signed message fifteen minutes after its stamp", "§4.4", at.Add(15*time.Minute).Format(time.RFC3339Nano), files[0]),
		ex("draft-3.4-encrypted", "§3.4 encrypted message to a receiver without the SMK (pre-RFC enc A256CBC+HS512)", "§3.4", at.Format(time.RFC3339Nano), files[1]),
		ex("draft-5.4-response", "§5.4 key response, unsolicited", "§5.4", at.Format(time.RFC3339Nano), files[3]),
	}, nil
}
