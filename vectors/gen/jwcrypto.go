package gen

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/internal/peers"
	"github.com/xmppe2e/xmppe2e/jose"
	"github.com/xmppe2e/xmppe2e/vectors"
)

func init() {
	recorders["jose"] = append(recorders["jose"], recordJWCrypto)
	crafters["jose"] = append(crafters["jose"], craftJOSEConfusion, craftDraftExamples)
}

//go:embed jwcrypto_peer.py
var jwcryptoScript []byte

// stampLayout is the envelope's <delay/> stamp format.
const stampLayout = "2006-01-02T15:04:05.000Z"

// jwcrypto runs one request through jwcrypto_peer.py.
func jwcrypto(ctx context.Context, script string, req map[string]any) (map[string]any, error) {
	in, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, peers.Python, script)
	cmd.Stdin = bytesReader(in)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("jwcrypto %s: %v\n%s", req["op"], err, ee.Stderr)
		}
		return nil, err
	}
	var res map[string]any
	return res, json.Unmarshal(out, &res)
}

// recordJWCrypto has python3-jwcrypto play juliet: a message under an SMK it
// made, released to romeo through the -06 §5 key request (romeo's seeded
// session asks; jwcrypto answers with the SMK encrypted to the key romeo
// offers), and a message signed with RS256.
func recordJWCrypto(ctx context.Context, keys map[string]vectors.Key) ([]Record, error) {
	if _, err := os.Stat(peers.Python); err != nil {
		fmt.Fprintf(os.Stderr, "vectors/gen: jose: %s not found, no records from jwcrypto\n", peers.Python)
		return nil, nil
	}
	if err := exec.CommandContext(ctx, peers.Python, "-c", "import jwcrypto").Run(); err != nil {
		fmt.Fprintf(os.Stderr, "vectors/gen: jose: python3-jwcrypto not installed, no records from it\n")
		return nil, nil
	}
	dir, err := os.MkdirTemp("", "vgen")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	script := dir + "/jwcrypto_peer.py"
	if err := os.WriteFile(script, jwcryptoScript, 0o600); err != nil {
		return nil, err
	}
	v, err := jwcrypto(ctx, script, map[string]any{"op": "version"})
	if err != nil {
		return nil, err
	}
	producer := fmt.Sprintf("python3-jwcrypto %v", v["version"])
	from, to := parties["juliet"].String(), parties["romeo"].String()
	stamp := Epoch.Format(stampLayout)
	var recs []Record

	for i, enc := range []string{"A256CBC-HS512", "A128GCM"} {
		id := fmt.Sprintf("jwc-enc-%d", i+1)
		plain := fmt.Sprintf(`<message xmlns='jabber:client' from='%s' to='%s' id='%s' type='chat'><body>Sealed by jwcrypto (%s) &lt;&amp;&gt; ¿qué?</body></message>`, from, to, id, enc)
		sealed, err := jwcrypto(ctx, script, map[string]any{"op": "seal", "stamp": stamp, "stanza": plain, "enc": enc, "from": from, "to": to, "id": id})
		if err != nil {
			return nil, err
		}
		w1 := sealed["xml"].(string)
		// Romeo, seeded as the vectors' receiver will be, asks for the key.
		recvRand, seed := seeded("recv/jwcrypto/" + id)
		rid, err := jose.Scheme.ParseIdentity([]byte(keys["romeo"].Identity))
		if err != nil {
			return nil, err
		}
		jpub, err := jose.Scheme.ParsePeer([]byte(keys["juliet"].Peer))
		if err != nil {
			return nil, err
		}
		rcv, err := jose.Scheme.NewSession(e2e.Config{Local: rid, JID: parties["romeo"], Peers: []e2e.Peer{jpub}, Rand: recvRand,
			Clock: func() time.Time { return Epoch }})
		if err != nil {
			return nil, err
		}
		st, err := e2e.Parse([]byte(w1))
		if err != nil {
			return nil, err
		}
		got, err := rcv.Receive(ctx, st)
		if err != nil || len(got.Replies) != 1 {
			return nil, fmt.Errorf("jwcrypto's stanza: %d replies, %v", len(got.Replies), err)
		}
		ans, err := jwcrypto(ctx, script, map[string]any{"op": "answer_keyreq", "xml": got.Replies[0].String(), "smk": sealed["smk"], "enc": enc})
		if err != nil {
			return nil, err
		}
		w2 := ans["xml"].(string)
		if st, err = e2e.Parse([]byte(w2)); err != nil {
			return nil, err
		}
		if got, err = rcv.Receive(ctx, st); err != nil || len(got.Opened) != 1 {
			return nil, fmt.Errorf("jwcrypto's key response: %d opened, %v", len(got.Opened), err)
		}
		recs = append(recs, Record{Name: id, Op: "encrypt", Sender: "juliet", Receiver: "romeo", Stanza: plain,
			Wire: []string{w1, w2}, Producer: producer, ReceiverSeed: seed})
	}

	var priv map[string]any
	if err := json.Unmarshal([]byte(keys["juliet"].Identity), &priv); err != nil {
		return nil, fmt.Errorf("juliet's JWK: %v", err)
	}
	id := "jwc-sig-1"
	plain := fmt.Sprintf(`<message xmlns='jabber:client' from='%s' to='%s' id='%s' type='chat'><body>Signed by jwcrypto with RS256</body></message>`, from, to, id)
	signed, err := jwcrypto(ctx, script, map[string]any{"op": "sign", "stamp": stamp, "stanza": plain, "key": priv, "alg": "RS256",
		"kid": parties["juliet"].Bare().String(), "from": from, "to": to, "id": id})
	if err != nil {
		return nil, err
	}
	recs = append(recs, Record{Name: id, Op: "sign", Sender: "juliet", Receiver: "romeo", Stanza: plain,
		Wire: []string{signed["xml"].(string)}, Producer: producer})
	return recs, nil
}
