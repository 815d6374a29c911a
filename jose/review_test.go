package jose

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// errCond is the defined condition and error type of an iq error reply.
func errCond(st *e2e.Stanza) (cond, typ string) {
	e := st.Child(e2e.NSClient, "error")
	if e == nil {
		return "", ""
	}
	typ, _ = e.AttrValue("type")
	c, _ := stanzaError(st)
	return c, typ
}

// An iq set or get carrying <keyreq/> must be answered (RFC 6120 §8.2.3):
// -06 §5.1 defines only the get, and requires the SID.
func TestKeyRequestAlwaysAnswered(t *testing.T) {
	clk := newClock()
	j := newParty(t, Scheme, "juliet", clk, 1, "romeo")
	r := newParty(t, Scheme, "romeo", clk, 2, "juliet")
	wire := encrypt(t, j, msg(fullJIDs["juliet"], fullJIDs["romeo"], "hi"))
	sid, _ := wire[0].Child(NS, "e2e").AttrValue("id")
	iq, err := r.s.keyRequest(j.jid, sid)
	if err != nil {
		t.Fatal(err)
	}

	set := iq.Clone()
	set.Type = "set"
	res, err := j.s.Receive(ctx, set)
	if !errors.Is(err, e2e.ErrMalformed) || len(res.Replies) != 1 {
		t.Fatalf("keyreq in iq set: %+v %v", res, err)
	}
	if rep := res.Replies[0]; rep.Type != "error" || rep.ID != set.ID || !rep.To.Equal(set.From) {
		t.Fatalf("reply to the set: %s", rep)
	}
	if c, typ := errCond(res.Replies[0]); c != "bad-request" || typ != "modify" {
		t.Fatalf("set answered with %s/%s", c, typ)
	}

	nosid := iq.Clone()
	nosid.ID = "nosid"
	kr := nosid.Child(NS, "keyreq")
	kr.Attr = nil
	res, err = j.s.Receive(ctx, nosid)
	if err != nil || len(res.Replies) != 1 {
		t.Fatalf("keyreq without SID: %+v %v", res, err)
	}
	if c, typ := errCond(res.Replies[0]); c != "bad-request" || typ != "modify" || res.Replies[0].ID != "nosid" {
		t.Fatalf("keyreq without SID answered with %s/%s: %s", c, typ, res.Replies[0])
	}

	// The real get is still answered with the SMK.
	res, err = j.s.Receive(ctx, iq)
	if err != nil || len(res.Replies) != 1 || res.Replies[0].Type != "result" {
		t.Fatalf("get: %+v %v", res, err)
	}
}

// -06 §7: stamps are XEP-0082 DateTimes "presented as UTC with no offset";
// XEP-0082 writes the fraction after ".". Both envelope paths agree.
func TestStampUTCOnly(t *testing.T) {
	env := func(stamp string) []byte {
		return []byte("<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='" + stamp + "'/><message xmlns='jabber:client' from='juliet@capulet.lit/balcony' to='romeo@montague.lit'/></forwarded>")
	}
	for _, ok := range []string{"2026-03-14T15:09:26.000Z", "2026-03-14T15:09:26Z", "2026-03-14T15:09:26.1Z", "2026-03-14T15:09:26.123456789Z"} {
		for _, b := range [][]byte{env(ok), []byte(strings.ReplaceAll(string(env(ok)), "'", "\""))} {
			if _, _, err := parseEnvelope(b); err != nil {
				t.Errorf("stamp %s refused: %v", ok, err)
			}
		}
	}
	for _, bad := range []string{"2026-03-14T15:09:26.000+00:00", "2026-03-14T17:09:26.000+02:00", "2026-03-14T15:09:26.000-00:00", "2026-03-14T15:09:26,000Z", "2026-03-14T15:09:26.Z"} {
		for _, b := range [][]byte{env(bad), []byte(strings.ReplaceAll(string(env(bad)), "'", "\""))} {
			if _, _, err := parseEnvelope(b); !errors.Is(err, e2e.ErrMalformed) {
				t.Errorf("stamp %s: %v, want ErrMalformed", bad, err)
			}
		}
	}
}

func iqSet(from, to string) *e2e.Stanza {
	q := &e2e.Stanza{Kind: e2e.IQ, Type: "set", ID: "q1", From: jid.MustParse(from), To: jid.MustParse(to)}
	q.Children = []*e2e.Element{e2e.NewElement("urn:example:q", "query", "payload")}
	return q
}

// wantIQError fails t unless reps is one iq error answering wire with the
// stanza condition cond and the draft's application condition app.
func wantIQError(t *testing.T, reps []*e2e.Stanza, wire *e2e.Stanza, cond, app string) {
	t.Helper()
	if len(reps) != 1 {
		t.Fatalf("%d replies, want the iq error", len(reps))
	}
	r := reps[0]
	c, a := stanzaError(r)
	if r.Kind != e2e.IQ || r.Type != "error" || r.ID != wire.ID || !r.To.Equal(wire.From) || c != cond || a != app {
		t.Fatalf("reply %s, want iq error %s/%s to %s", r, cond, app, wire.From)
	}
}

// An iq get or set that cannot be opened MUST be answered (-06 §3.3.1 note,
// RFC 6120 §8.2.3): Receive returns the error in Replies, also for iqs held
// for a key that is refused or never comes (Close).
func TestFailedIQAnswered(t *testing.T) {
	clk := newClock()
	j := newParty(t, Scheme, "juliet", clk, 1, "romeo")
	r := newParty(t, Scheme, "romeo", clk, 2, "juliet")
	m := newParty(t, Scheme, "mercutio", clk, 3, "juliet")

	// Held, then Close: the held set is answered.
	w := encrypt(t, j, iqSet(fullJIDs["juliet"], fullJIDs["romeo"]))
	res, err := r.s.Receive(ctx, w[0])
	if err != nil || len(res.Replies) != 1 {
		t.Fatalf("held: %+v %v", res, err)
	}
	out, err := r.s.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantIQError(t, out, w[0], "bad-request", CondInsufficientInformation)

	// Undecryptable: tampered tag, SMK known.
	r = newParty(t, Scheme, "romeo", clk, 4, "juliet")
	if _, errs := pump(t, []*party{j, r}, encrypt(t, j, msg(fullJIDs["juliet"], fullJIDs["romeo"], "warm-up"))); len(errs) != 0 {
		t.Fatal(errs)
	}
	w = encrypt(t, j, iqSet(fullJIDs["juliet"], fullJIDs["romeo"]))
	bad := w[0].Clone()
	mac := bad.Child(NS, "e2e").Child(NS, "mac")
	tag := []byte(mac.Text())
	tag[0] ^= 1
	mac.Nodes = []e2e.Node{e2e.CharData(tag)}
	res, err = r.s.Receive(ctx, bad)
	if !errors.Is(err, e2e.ErrDecrypt) && !errors.Is(err, e2e.ErrMalformed) {
		t.Fatalf("tampered iq: %v", err)
	}
	if errors.Is(err, e2e.ErrDecrypt) {
		wantIQError(t, res.Replies, bad, "bad-request", CondDecryptionFailed)
	} else {
		wantIQError(t, res.Replies, bad, "bad-request", "")
	}

	// Two <e2e/> elements: malformed, still answered.
	two := w[0].Clone()
	two.Children = append(two.Children, two.Children[0].Clone())
	res, err = r.s.Receive(ctx, two)
	if !errors.Is(err, e2e.ErrMalformed) {
		t.Fatalf("two <e2e/>: %v", err)
	}
	wantIQError(t, res.Replies, two, "bad-request", "")

	// Held by a stranger, key refused: the held set is answered.
	re := encrypt(t, j, iqSet(fullJIDs["juliet"], fullJIDs["romeo"]))[0].Clone()
	re.To = m.jid
	res, err = m.s.Receive(ctx, re)
	if err != nil || len(res.Replies) != 1 {
		t.Fatalf("stranger holds: %+v %v", res, err)
	}
	ans, err := j.s.Receive(ctx, res.Replies[0])
	if err != nil || len(ans.Replies) != 1 || ans.Replies[0].Type != "error" {
		t.Fatalf("refusal: %+v %v", ans, err)
	}
	res, err = m.s.Receive(ctx, ans.Replies[0])
	if !errors.Is(err, e2e.ErrUntrustedKey) {
		t.Fatalf("refused: %v", err)
	}
	wantIQError(t, res.Replies, re, "bad-request", CondInsufficientInformation)
}

// Header Parameter names are case-sensitive (RFC 7515 §4, RFC 7516 §4):
// "ALG" is an unknown parameter, not "alg" (encoding/json's field matching
// would take it for one).
func TestHeaderNamesCaseSensitive(t *testing.T) {
	enc := func(s string) string { return b64.EncodeToString([]byte(s)) }
	for _, c := range []struct {
		hdr      string
		alg, kid string // "" when refused
	}{
		{`{"alg":"A256KW","enc":"A256GCM","kid":"x","ALG":"none"}`, "A256KW", "x"},
		{`{"alg":"A256KW","enc":"A256GCM","kid":"x","KID":"y","Kid":"z"}`, "A256KW", "x"},
		{`{"alg":"A256KW","enc":"A256GCM","kid":"x","Zip":"DEF","CRIT":["b64"]}`, "A256KW", "x"},
		{`{"ALG":"A256KW","enc":"A256GCM","kid":"x"}`, "", ""},
		{`{"alg":"A256KW","ENC":"A256GCM","kid":"x"}`, "", ""},
		{`{"alg":"A256KW","enc":"A256GCM","kid":"x","zip":"DEF"}`, "", ""},
		{`{"alg":"A256KW","enc":"A256GCM","kid":"x","crit":["exp"]}`, "", ""},
		{`{"alg":"A256KW","enc":"A256GCM","kid":7}`, "", ""},
		{`null`, "", ""},
	} {
		h, err := parseProtected(enc(c.hdr), true)
		if c.alg == "" {
			if !errors.Is(err, e2e.ErrMalformed) {
				t.Errorf("%s: accepted as %+v", c.hdr, h)
			}
			continue
		}
		if err != nil || h.Alg != c.alg || h.Kid != c.kid {
			t.Errorf("%s: %+v %v, want alg %s kid %s", c.hdr, h, err, c.alg, c.kid)
		}
	}
}

// JWK member names are case-sensitive (RFC 7517 §4, §5): "KEY_OPS" does not
// restrict a key, "KEYS" does not make a set.
func TestJWKNamesCaseSensitive(t *testing.T) {
	smk := `{"kty":"oct","kid":"s","k":"` + b64.EncodeToString(make([]byte, 32)) + `"`
	k, err := parseKey([]byte(smk+`,"KEY_OPS":["sign"]}`), false)
	if err != nil || k.ops != nil || len(allowedAlgs(k, forKeyWrap)) == 0 {
		t.Fatalf("KEY_OPS taken as key_ops: %v %v", k.ops, err)
	}
	k, err = parseKey([]byte(smk+`,"key_ops":["sign"]}`), false)
	if err != nil || len(k.ops) != 1 || len(allowedAlgs(k, forKeyWrap)) != 0 {
		t.Fatalf("key_ops ignored: %v %v", k.ops, err)
	}
	if ks, err := parseKeys([]byte(`{"KEYS":[`+smk+`}]}`), false); err == nil {
		t.Fatalf("KEYS taken for a JWK Set: %d keys", len(ks))
	}
}

// The wire stanza of an encrypted or signed iq answer carries the wire id
// of the request (RFC 6120 §8.2.3), while the inner answer keeps the inner
// id, which differs from it (-06 §3.2.2 step 9, §4.2.1 step 8).
func TestIQAnswerKeepsRequestID(t *testing.T) {
	clk := newClock()
	j := newParty(t, Scheme, "juliet", clk, 1, "romeo")
	r := newParty(t, Scheme, "romeo", clk, 2, "juliet")
	for _, typ := range []string{"result", "error"} {
		for _, op := range []string{"encrypt", "sign"} {
			req := iqSet(fullJIDs["juliet"], fullJIDs["romeo"])
			wire := encrypt(t, j, req)
			opened, errs := pump(t, []*party{j, r}, wire)
			if len(errs) != 0 || len(opened["romeo"]) != 1 || wire[0].ID == req.ID {
				t.Fatalf("%v %v", opened, errs)
			}
			got := opened["romeo"][0].Stanza
			ans := &e2e.Stanza{Kind: e2e.IQ, Type: typ, ID: got.ID, From: r.jid, To: got.From}
			if typ == "error" {
				ans.Children = []*e2e.Element{errorElement(e2e.NSClient, "cancel", "item-not-found", "")}
			}
			var out []*e2e.Stanza
			var err error
			if op == "encrypt" {
				out, err = r.s.Encrypt(ctx, ans)
			} else {
				out, err = r.s.Sign(ctx, ans)
			}
			if err != nil || len(out) != 1 {
				t.Fatal(err)
			}
			if out[0].ID != wire[0].ID {
				t.Errorf("%s %s answer: wire id %q, the request's wire id %q", op, typ, out[0].ID, wire[0].ID)
			}
			back, errs := pump(t, []*party{j, r}, out)
			if len(errs) != 0 || len(back["juliet"]) != 1 || back["juliet"][0].Stanza.ID != req.ID {
				t.Fatalf("answer opened: %v %v", back, errs)
			}
			// Used once: a second answer gets its own id.
			if again, err := r.s.Encrypt(ctx, ans); err != nil || again[0].ID == wire[0].ID {
				t.Fatalf("second answer: %v %v", again, err)
			}
		}
	}
}

// The sender chooses one key of the offered JWK Set (-06 §5.2 step 2): a
// member it cannot use does not make it refuse the others.
func TestKeyRequestSkipsUnusableKeys(t *testing.T) {
	j, r, _, req := keyRequestPair(t)
	iq := req.Clone()
	pk := iq.Child(NS, "keyreq").Child(NS, "pkey")
	raw, err := b64.DecodeString(pk.Text())
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	small := `{"kty":"RSA","kid":"small","n":"` + b64.EncodeToString(make([]byte, 64)) + `","e":"AQAB"}`
	set.Keys = append([]json.RawMessage{json.RawMessage(`{"kty":"XYZ","kid":"future"}`), json.RawMessage(small)}, set.Keys...)
	pk.Nodes = []e2e.Node{e2e.CharData(b64.EncodeToString(mustJSON(t, set)))}
	ans, err := j.s.Receive(ctx, iq)
	if err != nil || len(ans.Replies) != 1 || ans.Replies[0].Type != "result" {
		t.Fatalf("answer: %v %v", ans.Replies, err)
	}
	got, err := r.s.Receive(ctx, ans.Replies[0])
	if err != nil || len(got.Opened) != 1 {
		t.Fatalf("%+v %v", got, err)
	}
	// Only unusable keys: <not-acceptable/>.
	set.Keys = set.Keys[:2]
	pk.Nodes = []e2e.Node{e2e.CharData(b64.EncodeToString(mustJSON(t, set)))}
	iq.ID = "only-bad"
	ans, err = j.s.Receive(ctx, iq)
	if err != nil || len(ans.Replies) != 1 {
		t.Fatalf("answer: %v %v", ans.Replies, err)
	}
	if c, typ := errCond(ans.Replies[0]); c != "not-acceptable" || typ != "modify" {
		t.Fatalf("only unusable keys: %s/%s", c, typ)
	}
}

// A General JSON object that names a member twice, or in two spellings that
// differ only in case, is refused: go-jose and this package's own reading
// must see the same encrypted_key, or a replay with an extra "ENCRYPTED_KEY"
// would miss the replay cache.
func TestGeneralJSONNamesUnambiguous(t *testing.T) {
	clk := newClock()
	p := New(Options{GeneralJSON: true})
	j := newParty(t, p, "juliet", clk, 1, "romeo", "mercutio")
	r := newParty(t, p, "romeo", clk, 2, "juliet")
	if _, errs := pump(t, []*party{j, r}, encrypt(t, j, msg(fullJIDs["juliet"], fullJIDs["romeo"], "warm-up"))); len(errs) != 0 {
		t.Fatal(errs)
	}
	g, err := j.s.EncryptGeneral(ctx, msg(fullJIDs["juliet"], fullJIDs["romeo"], "once"), []jid.JID{r.jid})
	if err != nil {
		t.Fatal(err)
	}
	opened, errs := pump(t, []*party{j, r}, g)
	if len(errs) != 0 || len(opened["romeo"]) != 1 {
		t.Fatalf("%v %v", opened, errs)
	}
	gen := g[0].Child(NS, "e2e").Child(NSGeneral, "general")
	js, err := b64.DecodeString(gen.Text())
	if err != nil {
		t.Fatal(err)
	}
	for _, edit := range []func(string) string{
		func(s string) string { return afterMember(s, "encrypted_key", `"ENCRYPTED_KEY":"AAAA"`) },
		func(s string) string { return afterMember(s, "encrypted_key", `"Encrypted_Key":"AAAA"`) },
		func(s string) string { return afterMember(s, "kid", `"KID":"x"`) },
		func(s string) string { return strings.Replace(s, `"iv":`, `"iv":"AAAA","iv":`, 1) },
	} {
		re := g[0].Clone()
		re.Child(NS, "e2e").Child(NSGeneral, "general").Nodes = []e2e.Node{e2e.CharData(b64.EncodeToString([]byte(edit(string(js)))))}
		res, err := r.s.Receive(ctx, re)
		if len(res.Opened) != 0 || !errors.Is(err, e2e.ErrMalformed) && !errors.Is(err, e2e.ErrReplay) {
			t.Errorf("%s: %+v %v", edit(string(js))[:80], res, err)
		}
	}
}

// afterMember inserts member after the first string member name of s.
func afterMember(s, name, member string) string {
	i := strings.Index(s, `"`+name+`":"`)
	if i < 0 {
		return s
	}
	j := i + len(name) + 4
	k := strings.IndexByte(s[j:], '"')
	return s[:j+k+1] + "," + member + s[j+k+1:]
}

// XEP-0203 §3: <delay/> may carry a natural-language reason as text (and a
// from attribute); it holds no elements.
func TestDelayReason(t *testing.T) {
	const st = "<message xmlns='jabber:client' from='juliet@capulet.lit/balcony' to='romeo@montague.lit'/>"
	ok := "<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' from='capulet.lit' stamp='2026-03-14T15:09:26.000Z'>Offline storage</delay>" + st + "</forwarded>"
	if _, ts, err := parseEnvelope([]byte(ok)); err != nil || ts.IsZero() {
		t.Fatalf("delay with a reason: %v", err)
	}
	bad := "<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2026-03-14T15:09:26.000Z'><x/></delay>" + st + "</forwarded>"
	if _, _, err := parseEnvelope([]byte(bad)); !errors.Is(err, e2e.ErrMalformed) {
		t.Fatalf("delay with an element: %v", err)
	}
}

// keyRequestPair returns juliet and romeo, juliet's first stanza to romeo,
// and the key request romeo sends for it.
func keyRequestPair(t *testing.T) (j, r *party, wire []*e2e.Stanza, iq *e2e.Stanza) {
	t.Helper()
	clk := newClock()
	j = newParty(t, Scheme, "juliet", clk, 1, "romeo")
	r = newParty(t, Scheme, "romeo", clk, 2, "juliet")
	wire = encrypt(t, j, msg(fullJIDs["juliet"], fullJIDs["romeo"], "hi"))
	res, err := r.s.Receive(ctx, wire[0])
	if err != nil || len(res.Opened) != 0 || len(res.Replies) != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	return j, r, wire, res.Replies[0]
}
