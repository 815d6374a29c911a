package jose

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/xmppe2e/xmppe2e/e2e"
)

var ctx = context.Background()

func encrypt(t testing.TB, p *party, st *e2e.Stanza) []*e2e.Stanza {
	t.Helper()
	w, err := p.s.Encrypt(ctx, st)
	if err != nil {
		t.Fatalf("%s: Encrypt: %v", p.name, err)
	}
	return w
}

func TestRoundTripWithKeyRequest(t *testing.T) {
	clk := newClock()
	j := newParty(t, Scheme, "juliet", clk, 1, "romeo")
	r := newParty(t, Scheme, "romeo", clk, 2, "juliet")
	orig := msg(fullJIDs["juliet"], fullJIDs["romeo"], "But soft, what light <&>'\" through yonder window breaks? ☀")
	orig.Children = append(orig.Children, e2e.NewElement("urn:example:ext", "x", "extension payload"))
	wire := encrypt(t, j, orig)
	if len(wire) != 1 {
		t.Fatalf("Encrypt gave %d stanzas", len(wire))
	}
	w := wire[0]
	// Wire shape: same kind, type, addressing; new id; <e2e type=enc id=SID> with five parts.
	if w.Kind != e2e.Message || w.Type != "chat" || !w.From.Equal(orig.From) || !w.To.Equal(orig.To) || w.ID == orig.ID || w.ID == "" {
		t.Fatalf("outer stanza %s", w)
	}
	e := w.Child(NS, "e2e")
	if e == nil || len(w.Children) != 1 {
		t.Fatalf("no lone <e2e/> in %s", w)
	}
	if typ, _ := e.AttrValue("type"); typ != "enc" {
		t.Fatalf("type %q", typ)
	}
	sid, _ := e.AttrValue("id")
	c, err := readParts(e, jweParts)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range c {
		if strings.ContainsAny(p, " \n=+/") {
			t.Errorf("part %s is not unpadded base64url: %q", jweParts[i], p)
		}
	}
	h, err := parseProtected(c[0], true)
	if err != nil || h.Kid != sid || h.Alg != "A256KW" || h.Enc != "A256CBC-HS512" {
		t.Fatalf("header %+v (%v), SID %q", h, err, sid)
	}
	if strings.Contains(w.String(), "yonder") || strings.Contains(w.String(), "extension payload") {
		t.Fatal("plaintext on the wire")
	}

	opened, errs := pump(t, []*party{j, r}, wire)
	if len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	if len(opened["romeo"]) != 1 {
		t.Fatalf("romeo opened %d stanzas", len(opened["romeo"]))
	}
	got := opened["romeo"][0]
	if !got.Encrypted || got.Signer != nil || !got.Stanza.Equal(orig) {
		t.Fatalf("opened %+v\n got %s\nwant %s", got, got.Stanza, orig)
	}

	// The SMK is now established: the next stanza opens without a request.
	second := msg(fullJIDs["juliet"], fullJIDs["romeo"], "again")
	w2 := encrypt(t, j, second)
	res, err := r.s.Receive(ctx, w2[0])
	if err != nil || len(res.Replies) != 0 || len(res.Opened) != 1 || !res.Opened[0].Stanza.Equal(second) {
		t.Fatalf("second stanza: %+v %v", res, err)
	}
	if sid2, _ := w2[0].Child(NS, "e2e").AttrValue("id"); sid2 != sid {
		t.Fatalf("SID changed without rotation: %s → %s", sid, sid2)
	}
	// Same SMK, but fresh CEK and IV.
	c2, _ := readParts(w2[0].Child(NS, "e2e"), jweParts)
	if c2[1] == c[1] || c2[2] == c[2] {
		t.Fatal("CEK or IV repeated")
	}

	// Replay of a delivered stanza.
	if _, err := r.s.Receive(ctx, w2[0]); !errors.Is(err, e2e.ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
	if _, err := r.s.Receive(ctx, wire[0]); !errors.Is(err, e2e.ErrReplay) {
		t.Fatalf("replay of the held stanza: %v", err)
	}
}

func TestKeyRequestShape(t *testing.T) {
	j, r, wire, iq := keyRequestPair(t)
	kr := iq.Child(NS, "keyreq")
	sid, _ := wire[0].Child(NS, "e2e").AttrValue("id")
	if iq.Kind != e2e.IQ || iq.Type != "get" || !iq.To.Equal(j.jid) || !iq.From.Equal(r.jid) || kr == nil {
		t.Fatalf("request %s", iq)
	}
	if id, _ := kr.AttrValue("id"); id != sid {
		t.Fatalf("keyreq id %q, SID %q", id, sid)
	}
	raw, err := b64.DecodeString(kr.Child(NS, "pkey").Text())
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil || len(set.Keys) != 1 || set.Keys[0]["kid"] != fullJIDs["romeo"] || set.Keys[0]["kty"] != "RSA" || set.Keys[0]["d"] != nil {
		t.Fatalf("pkey %s", raw)
	}
	ans, err := j.s.Receive(ctx, iq)
	if err != nil || len(ans.Replies) != 1 {
		t.Fatalf("%+v %v", ans, err)
	}
	resp := ans.Replies[0]
	rk := resp.Child(NS, "keyreq")
	if resp.Type != "result" || resp.ID != iq.ID || !resp.To.Equal(r.jid) || rk == nil {
		t.Fatalf("response %s", resp)
	}
	c, err := readParts(rk, jweParts)
	if err != nil {
		t.Fatal(err)
	}
	h, err := parseProtected(c[0], true)
	if err != nil || h.Alg != "RSA-OAEP" || h.Kid != fullJIDs["romeo"] || h.Cty != "application/jwk+json" {
		t.Fatalf("response header %+v %v", h, err)
	}
	dev := identity(t, "romeo").priv
	_, pt, err := openCompact(c, dev)
	if err != nil {
		t.Fatal(err)
	}
	var smk map[string]string
	if err := json.Unmarshal(pt, &smk); err != nil || smk["kty"] != "oct" || smk["kid"] != sid || smk["alg"] != "A256KW" || len(smk["k"]) != 43 {
		t.Fatalf("SMK JWK %s", pt)
	}
	got, err := r.s.Receive(ctx, resp)
	if err != nil || len(got.Opened) != 1 {
		t.Fatalf("%+v %v", got, err)
	}
	// The response is consumed: delivering it again is unsolicited.
	if _, err := r.s.Receive(ctx, resp); !errors.Is(err, e2e.ErrMalformed) {
		t.Fatalf("second response: %v", err)
	}
}

func TestTwoDevicesGetTheSMK(t *testing.T) {
	clk := newClock()
	j := newParty(t, Scheme, "juliet", clk, 1, "romeo", "romeo2")
	r1 := newParty(t, Scheme, "romeo", clk, 2, "juliet")
	r2 := newParty(t, Scheme, "romeo2", clk, 3, "juliet")
	orig := msg(fullJIDs["juliet"], "romeo@montague.lit", "to every device")
	opened, errs := pump(t, []*party{j, r1, r2}, encrypt(t, j, orig))
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	for _, n := range []string{"romeo", "romeo2"} {
		if len(opened[n]) != 1 || !opened[n][0].Stanza.Equal(orig) {
			t.Fatalf("%s opened %v", n, opened[n])
		}
	}
	k1 := r1.s.in[inKey{fullJIDs["juliet"], firstSID(r1.s)}]
	k2 := r2.s.in[inKey{fullJIDs["juliet"], firstSID(r2.s)}]
	if string(k1.Key.([]byte)) != string(k2.Key.([]byte)) {
		t.Fatal("devices hold different SMKs")
	}
}

func count(m map[string][]e2e.Opened) int {
	n := 0
	for _, o := range m {
		n += len(o)
	}
	return n
}

func firstSID(s *Session) string {
	for k := range s.in {
		return k.sid
	}
	return ""
}

func TestStrangerGetsNoSMK(t *testing.T) {
	clk := newClock()
	j := newParty(t, Scheme, "juliet", clk, 1, "romeo")
	r := newParty(t, Scheme, "romeo", clk, 2, "juliet")
	m := newParty(t, Scheme, "mercutio", clk, 3, "juliet")
	wire := encrypt(t, j, msg(fullJIDs["juliet"], fullJIDs["romeo"], "secret"))
	// Re-addressed to mercutio: he asks juliet, who refuses (SID not his,
	// key not trusted).
	re := wire[0].Clone()
	re.To = m.jid
	opened, errs := pump(t, []*party{j, r, m}, []*e2e.Stanza{re})
	if count(opened) != 0 || len(errs["mercutio"]) != 1 || !errors.Is(errs["mercutio"][0], e2e.ErrUntrustedKey) {
		t.Fatalf("opened %v errs %v", opened, errs)
	}
	// Mercutio trusted by juliet still gets nothing for romeo's SID.
	j2 := newParty(t, Scheme, "juliet", clk, 4, "romeo", "mercutio")
	wire = encrypt(t, j2, msg(fullJIDs["juliet"], fullJIDs["romeo"], "secret"))
	re = wire[0].Clone()
	re.To = m.jid
	opened, errs = pump(t, []*party{j2, m}, []*e2e.Stanza{re})
	if count(opened) != 0 || len(errs["mercutio"]) != 1 || !errors.Is(errs["mercutio"][0], e2e.ErrUntrustedKey) {
		t.Fatalf("trusted stranger: opened %v errs %v", opened, errs)
	}
	// A key request with a tampered SID (one juliet never made) and with
	// romeo's SID but mercutio's key (pkey swapped by a server).
	res, _ := m.s.Receive(ctx, re)
	_ = res
	iq, err := r.s.keyRequest(j2.jid, "not-a-sid")
	if err != nil {
		t.Fatal(err)
	}
	ans, err := j2.s.Receive(ctx, iq)
	if err != nil || ans.Replies[0].Type != "error" || ans.Replies[0].Child(e2e.NSClient, "error").Child(nsStanzas, "item-not-found") == nil {
		t.Fatalf("unknown SID: %v %v", ans.Replies, err)
	}
	sid, _ := wire[0].Child(NS, "e2e").AttrValue("id")
	iq, _ = m.s.keyRequest(j2.jid, sid)
	iq.From = r.jid // mercutio's key, romeo's address
	ans, err = j2.s.Receive(ctx, iq)
	if err != nil || ans.Replies[0].Type != "error" || ans.Replies[0].Child(e2e.NSClient, "error").Child(nsStanzas, "forbidden") == nil {
		t.Fatalf("swapped key: %v %v", ans.Replies, err)
	}
}

func TestNoKeyRequestToStrangers(t *testing.T) {
	clk := newClock()
	m := newParty(t, Scheme, "mercutio", clk, 3, "romeo")
	r := newParty(t, Scheme, "romeo", clk, 2, "juliet")
	w := encrypt(t, m, msg(fullJIDs["mercutio"], fullJIDs["romeo"], "hello stranger"))
	res, err := r.s.Receive(ctx, w[0])
	if !errors.Is(err, e2e.ErrNoKey) || len(res.Replies) != 0 {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestReceiveChecks(t *testing.T) {
	clk := newClock()
	j := newParty(t, Scheme, "juliet", clk, 1, "romeo", "mercutio")
	r := newParty(t, Scheme, "romeo", clk, 2, "juliet")
	pump(t, []*party{j, r}, encrypt(t, j, msg(fullJIDs["juliet"], fullJIDs["romeo"], "warm-up")))

	t.Run("inner from differs", func(t *testing.T) {
		w := encrypt(t, j, msg("mercutio@capulet.lit/tomb", fullJIDs["romeo"], "forged from"))
		w[0].From = j.jid
		if _, err := r.s.Receive(ctx, w[0]); !errors.Is(err, e2e.ErrBadSignature) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("inner to differs", func(t *testing.T) {
		j.s.mu.Lock()
		e := j.s.current["romeo@montague.lit"]
		j.s.current["mercutio@capulet.lit"] = e // same SMK, other recipient
		j.s.mu.Unlock()
		w := encrypt(t, j, msg(fullJIDs["juliet"], "mercutio@capulet.lit", "not for romeo"))
		w[0].To = r.jid
		if _, err := r.s.Receive(ctx, w[0]); !errors.Is(err, e2e.ErrBadSignature) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("future", func(t *testing.T) {
		w := encrypt(t, j, msg(fullJIDs["juliet"], fullJIDs["romeo"], "from the future"))
		clk.Advance(-6 * time.Minute)
		defer clk.Advance(6 * time.Minute)
		if _, err := r.s.Receive(ctx, w[0]); !errors.Is(err, e2e.ErrStale) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("old", func(t *testing.T) {
		w := encrypt(t, j, msg(fullJIDs["juliet"], fullJIDs["romeo"], "too old"))
		clk.Advance(6 * time.Minute)
		if _, err := r.s.Receive(ctx, w[0]); !errors.Is(err, e2e.ErrStale) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("offline delivery uses the server's delay", func(t *testing.T) {
		w := encrypt(t, j, msg(fullJIDs["juliet"], fullJIDs["romeo"], "stored"))
		sent := clk.Now()
		clk.Advance(2 * time.Hour)
		d := e2e.NewElement(nsDelay, "delay", "")
		d.SetAttr("from", "montague.lit")
		d.SetAttr("stamp", sent.Format(stampFormat))
		w[0].Children = append(w[0].Children, d)
		if res, err := r.s.Receive(ctx, w[0]); err != nil || len(res.Opened) != 1 {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("decreasing", func(t *testing.T) {
		// The SMK expired during the offline test: fetch the new one.
		pump(t, []*party{j, r}, encrypt(t, j, msg(fullJIDs["juliet"], fullJIDs["romeo"], "new SMK")))
		a := encrypt(t, j, msg(fullJIDs["juliet"], fullJIDs["romeo"], "first"))
		b := encrypt(t, j, msg(fullJIDs["juliet"], fullJIDs["romeo"], "second"))
		if _, err := r.s.Receive(ctx, b[0]); err != nil {
			t.Fatal(err)
		}
		if res, err := r.s.Receive(ctx, a[0]); !errors.Is(err, e2e.ErrStale) {
			t.Fatalf("got %v %+v", err, res)
		}
	})
	t.Run("plaintext", func(t *testing.T) {
		if _, err := r.s.Receive(ctx, msg(fullJIDs["juliet"], fullJIDs["romeo"], "clear")); !errors.Is(err, e2e.ErrNotEncrypted) {
			t.Fatalf("got %v", err)
		}
	})
}

// TestRefusedAlgorithms rewrites the protected header of a valid stanza.
func TestRefusedAlgorithms(t *testing.T) {
	clk := newClock()
	j := newParty(t, Scheme, "juliet", clk, 1, "romeo")
	r := newParty(t, Scheme, "romeo", clk, 2, "juliet")
	w := encrypt(t, j, msg(fullJIDs["juliet"], fullJIDs["romeo"], "x"))
	pump(t, []*party{j, r}, w)
	sid, _ := w[0].Child(NS, "e2e").AttrValue("id")
	for _, hdr := range []string{
		`{"alg":"none","enc":"A256CBC-HS512","kid":"SID"}`,
		`{"alg":"dir","enc":"A256CBC-HS512","kid":"SID"}`,
		`{"alg":"PBES2-HS256+A128KW","enc":"A256CBC-HS512","kid":"SID"}`,
		`{"alg":"A128KW","enc":"A256CBC-HS512","kid":"SID"}`,
		`{"alg":"RSA1_5","enc":"A256CBC-HS512","kid":"SID"}`,
		`{"alg":"A256KW","enc":"A256CBC+HS512","kid":"SID"}`,
		`{"alg":"A256KW","enc":"A256CBC-HS512","kid":"SID","zip":"DEF"}`,
		`{"alg":"A256KW","enc":"A256CBC-HS512","kid":"SID","crit":["exp"],"exp":1}`,
		`{"alg":"A256KW","enc":"XYZ","kid":"SID"}`,
	} {
		x := encrypt(t, j, msg(fullJIDs["juliet"], fullJIDs["romeo"], "x"))
		e := x[0].Child(NS, "e2e")
		e.Elements()[0].SetText(b64.EncodeToString([]byte(strings.ReplaceAll(hdr, "SID", sid))))
		res, err := r.s.Receive(ctx, x[0])
		if err == nil || len(res.Opened) != 0 {
			t.Errorf("%s accepted", hdr)
		}
	}
}

// TestRefusedSignatureAlgorithms: "none", and HMAC keyed with the RSA
// public key (algorithm confusion), are refused.
func TestRefusedSignatureAlgorithms(t *testing.T) {
	clk := newClock()
	j := newParty(t, Scheme, "juliet", clk, 1, "romeo")
	r := newParty(t, Scheme, "romeo", clk, 2, "juliet")
	for _, alg := range []string{"none", "HS256", "ES256", "RS1"} {
		w, err := j.s.Sign(ctx, msg(fullJIDs["juliet"], fullJIDs["romeo"], "x"))
		if err != nil {
			t.Fatal(err)
		}
		parts := w[0].Child(NS, "e2e").Elements()
		parts[0].SetText(b64.EncodeToString([]byte(`{"alg":"` + alg + `","kid":"juliet@capulet.lit"}`)))
		if alg == "none" {
			parts[2].SetText("")
		}
		res, err := r.s.Receive(ctx, w[0])
		if err == nil || len(res.Opened) != 0 {
			t.Errorf("alg %s accepted", alg)
		}
	}
}

func TestSignAndVerify(t *testing.T) {
	clk := newClock()
	j := newParty(t, Scheme, "juliet", clk, 1, "romeo")
	r := newParty(t, Scheme, "romeo", clk, 2, "juliet")
	m := newParty(t, Scheme, "mercutio", clk, 3, "romeo")
	orig := msg(fullJIDs["juliet"], fullJIDs["romeo"], "signed, not sealed")
	w, err := j.s.Sign(ctx, orig)
	if err != nil {
		t.Fatal(err)
	}
	e := w[0].Child(NS, "e2e")
	if typ, _ := e.AttrValue("type"); typ != "sig" {
		t.Fatal(typ)
	}
	if _, has := e.AttrValue("id"); has {
		t.Fatal("signed <e2e/> carries an id")
	}
	if _, err := readParts(e, jwsParts); err != nil {
		t.Fatal(err)
	}
	res, err := r.s.Receive(ctx, w[0])
	if err != nil || len(res.Opened) != 1 || res.Opened[0].Encrypted || res.Opened[0].Signer == nil ||
		res.Opened[0].Signer.Fingerprint() != identity(t, "juliet").Public().Fingerprint() || !res.Opened[0].Stanza.Equal(orig) {
		t.Fatalf("%+v %v", res, err)
	}
	if _, err := r.s.Receive(ctx, w[0]); !errors.Is(err, e2e.ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
	// Signed by mercutio, claimed as juliet's: romeo has only juliet's key.
	mw, _ := m.s.Sign(ctx, msg(fullJIDs["mercutio"], fullJIDs["romeo"], "I am juliet"))
	mw[0].From = j.jid
	if _, err := r.s.Receive(ctx, mw[0]); !errors.Is(err, e2e.ErrBadSignature) {
		t.Fatalf("foreign signature: %v", err)
	}
	// Unknown signer.
	mw, _ = m.s.Sign(ctx, msg(fullJIDs["mercutio"], fullJIDs["romeo"], "hi"))
	if _, err := r.s.Receive(ctx, mw[0]); !errors.Is(err, e2e.ErrNoKey) {
		t.Fatalf("unknown signer: %v", err)
	}
}

func TestNestedSignThenEncrypt(t *testing.T) {
	clk := newClock()
	j := newParty(t, Scheme, "juliet", clk, 1, "romeo")
	j.s.cfg.Sign = true
	r := newParty(t, Scheme, "romeo", clk, 2, "juliet")
	orig := msg(fullJIDs["juliet"], fullJIDs["romeo"], "signed and sealed")
	opened, errs := pump(t, []*party{j, r}, encrypt(t, j, orig))
	if len(errs) != 0 || len(opened["romeo"]) != 1 {
		t.Fatal(opened, errs)
	}
	o := opened["romeo"][0]
	if !o.Encrypted || o.Signer == nil || !o.Trusted || !o.Stanza.Equal(orig) {
		t.Fatalf("%+v", o)
	}
	// Encrypt-then-sign: the signed layer wraps the encrypted stanza.
	j.s.cfg.Sign = false
	enc := encrypt(t, j, msg(fullJIDs["juliet"], fullJIDs["romeo"], "sealed then signed"))
	sw, err := j.s.Sign(ctx, enc[0])
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.s.Receive(ctx, sw[0])
	if err != nil || len(res.Opened) != 1 || !res.Opened[0].Encrypted || res.Opened[0].Signer == nil || res.Opened[0].Stanza.Body() != "sealed then signed" {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestStanzaKinds(t *testing.T) {
	clk := newClock()
	j := newParty(t, Scheme, "juliet", clk, 1, "romeo")
	r := newParty(t, Scheme, "romeo", clk, 2, "juliet")
	iq := &e2e.Stanza{Kind: e2e.IQ, Type: "error", ID: "q1", From: j.jid, To: r.jid,
		Children: []*e2e.Element{e2e.NewElement("jabber:iq:version", "query", "")}}
	w := encrypt(t, j, iq)
	if w[0].Type != "result" {
		t.Fatalf("encrypted iq error travels as %q", w[0].Type)
	}
	opened, errs := pump(t, []*party{j, r}, w)
	if len(errs) != 0 || len(opened["romeo"]) != 1 || !opened["romeo"][0].Stanza.Equal(iq) {
		t.Fatal(opened, errs)
	}
	pres := &e2e.Stanza{Kind: e2e.Presence, From: j.jid, To: r.jid}
	opened, errs = pump(t, []*party{j, r}, encrypt(t, j, pres))
	if len(errs) != 0 || len(opened["romeo"]) != 1 || !opened["romeo"][0].Stanza.Equal(pres) {
		t.Fatal(opened, errs)
	}
	if _, err := j.s.Encrypt(ctx, &e2e.Stanza{Kind: e2e.Presence, From: j.jid}); !errors.Is(err, e2e.ErrUnsupported) {
		t.Fatalf("undirected presence: %v", err)
	}
	if _, err := j.s.Encrypt(ctx, msg(fullJIDs["juliet"], fullJIDs["mercutio"], "no key for him")); !errors.Is(err, e2e.ErrNoKey) {
		t.Fatalf("unknown recipient: %v", err)
	}
}

func TestRotation(t *testing.T) {
	clk := newClock()
	p := New(Options{SMKMaxStanzas: 2, SMKLifetime: time.Minute, SMKRetention: 10 * time.Minute})
	j := newParty(t, p, "juliet", clk, 1, "romeo")
	r := newParty(t, p, "romeo", clk, 2, "juliet")
	var sids []string
	var wires []*e2e.Stanza
	for i := range 5 {
		w := encrypt(t, j, msg(fullJIDs["juliet"], fullJIDs["romeo"], "n"+string(rune('0'+i))))
		sid, _ := w[0].Child(NS, "e2e").AttrValue("id")
		sids = append(sids, sid)
		wires = append(wires, w...)
	}
	if sids[0] != sids[1] || sids[1] == sids[2] || sids[2] != sids[3] || sids[3] == sids[4] {
		t.Fatalf("SIDs %v: want rotation every 2 stanzas", sids)
	}
	opened, errs := pump(t, []*party{j, r}, wires)
	if len(errs) != 0 || len(opened["romeo"]) != 5 {
		t.Fatal(len(opened["romeo"]), errs)
	}
	// Lifetime: a minute later the SID changes.
	clk.Advance(2 * time.Minute)
	w := encrypt(t, j, msg(fullJIDs["juliet"], fullJIDs["romeo"], "later"))
	if sid, _ := w[0].Child(NS, "e2e").AttrValue("id"); sid == sids[4] {
		t.Fatal("SMK outlived its lifetime")
	}
	// Retention: after it, an old SID is item-not-found.
	clk.Advance(20 * time.Minute)
	encrypt(t, j, msg(fullJIDs["juliet"], fullJIDs["romeo"], "expire the old ones"))
	iq, _ := r.s.keyRequest(j.jid, sids[0])
	ans, err := j.s.Receive(ctx, iq)
	if err != nil || ans.Replies[0].Child(e2e.NSClient, "error").Child(nsStanzas, "item-not-found") == nil {
		t.Fatalf("%v %v", ans.Replies, err)
	}
	// Explicit rotation.
	w1 := encrypt(t, j, msg(fullJIDs["juliet"], fullJIDs["romeo"], "a"))
	j.s.Rotate(r.jid)
	w2 := encrypt(t, j, msg(fullJIDs["juliet"], fullJIDs["romeo"], "b"))
	s1, _ := w1[0].Child(NS, "e2e").AttrValue("id")
	s2, _ := w2[0].Child(NS, "e2e").AttrValue("id")
	if s1 == s2 {
		t.Fatal("Rotate kept the SID")
	}
}

func TestMultipleRecipients(t *testing.T) {
	clk := newClock()
	j := newParty(t, Scheme, "juliet", clk, 1, "romeo", "mercutio")
	r := newParty(t, Scheme, "romeo", clk, 2, "juliet")
	m := newParty(t, Scheme, "mercutio", clk, 3, "juliet")
	orig := msg(fullJIDs["juliet"], fullJIDs["romeo"], "to both")
	w, err := j.s.EncryptTo(ctx, orig, []jid.JID{r.jid, m.jid})
	if err != nil || len(w) != 2 {
		t.Fatal(len(w), err)
	}
	s1, _ := w[0].Child(NS, "e2e").AttrValue("id")
	s2, _ := w[1].Child(NS, "e2e").AttrValue("id")
	if s1 == s2 {
		t.Fatal("two recipients share an SMK")
	}
	opened, errs := pump(t, []*party{j, r, m}, w)
	if len(errs) != 0 || len(opened["romeo"]) != 1 || len(opened["mercutio"]) != 1 {
		t.Fatal(opened, errs)
	}
	if _, err := j.s.EncryptGeneral(ctx, orig, []jid.JID{r.jid, m.jid}); !errors.Is(err, e2e.ErrUnsupported) {
		t.Fatalf("General JSON without the option: %v", err)
	}
}

func TestGeneralJSONExtension(t *testing.T) {
	clk := newClock()
	p := New(Options{GeneralJSON: true})
	j := newParty(t, p, "juliet", clk, 1, "romeo", "mercutio")
	r := newParty(t, p, "romeo", clk, 2, "juliet")
	m := newParty(t, p, "mercutio", clk, 3, "juliet")
	orig := msg(fullJIDs["juliet"], "party@conference.capulet.lit", "one object, two keys")
	w, err := j.s.EncryptGeneral(ctx, orig, []jid.JID{r.jid, m.jid})
	if err != nil || len(w) != 1 {
		t.Fatal(err)
	}
	for _, pt := range []*party{r, m} {
		x := w[0].Clone()
		x.To = pt.jid
		opened, errs := pump(t, []*party{j, pt}, []*e2e.Stanza{x})
		// Each asks for both SIDs; juliet refuses the other's, which
		// is no error while the own one arrives.
		if len(opened[pt.name]) != 1 || !opened[pt.name][0].Stanza.Equal(orig) || len(errs) != 0 {
			t.Fatalf("%s: opened %v errs %v", pt.name, opened, errs)
		}
	}
	// Signed and encrypted to many: the signature's inner to is the
	// multicast address too.
	j.s.cfg.Sign = true
	w2, err := j.s.EncryptGeneral(ctx, orig, []jid.JID{r.jid, m.jid})
	j.s.cfg.Sign = false
	if err != nil {
		t.Fatal(err)
	}
	x2 := w2[0].Clone()
	x2.To = r.jid
	res2, err := r.s.Receive(ctx, x2)
	if err != nil || len(res2.Opened) != 1 || res2.Opened[0].Signer == nil || !res2.Opened[0].Stanza.Equal(orig) {
		t.Fatalf("signed General JSON: %+v %v", res2, err)
	}

	// A default-profile receiver refuses the extension.
	d := newParty(t, Scheme, "romeo", clk, 4, "juliet")
	x := w[0].Clone()
	x.To = d.jid
	if _, err := d.s.Receive(ctx, x); !errors.Is(err, e2e.ErrMalformed) {
		t.Fatalf("default profile: %v", err)
	}
}

func TestPreplacedSMKOffline(t *testing.T) {
	clk := newClock()
	smk := []byte("0123456789abcdef0123456789abcdef")
	jid1, _ := identity(t, "juliet").WithSessionKey("pre-placed-1", smk)
	b, err := jid1.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// The receiver holds only the SMK (a JWK Set with one oct key).
	set := []byte(`{"keys":[{"kty":"oct","kid":"pre-placed-1","alg":"A256KW","k":"` + b64.EncodeToString(smk) + `"}]}`)
	rid, err := Scheme.ParseIdentity(set)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := rid.Marshal(); err != nil || !strings.Contains(string(again), `"kid":"pre-placed-1"`) {
		t.Fatalf("SMK-only identity: %s %v", again, err)
	}
	jidP, err := Scheme.ParseIdentity(b)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := Scheme.NewSession(e2e.Config{Local: jidP, JID: jid.MustParse(fullJIDs["juliet"]), Clock: clk.Now})
	rs, _ := Scheme.NewSession(e2e.Config{Local: rid, JID: jid.MustParse(fullJIDs["romeo"]), Clock: clk.Now})
	orig := msg(fullJIDs["juliet"], fullJIDs["romeo"], "pre-placed")
	w, err := js.Encrypt(ctx, orig)
	if err != nil {
		t.Fatal(err)
	}
	res, err := rs.Receive(ctx, w[0])
	if err != nil || len(res.Replies) != 0 || len(res.Opened) != 1 || !res.Opened[0].Stanza.Equal(orig) {
		t.Fatalf("%+v %v", res, err)
	}
	// Pre-placed SMKs are never released by key request.
	iq, _ := newParty(t, Scheme, "romeo", clk, 9, "juliet").s.keyRequest(jid.MustParse(fullJIDs["juliet"]), "pre-placed-1")
	ans, err := js.Receive(ctx, iq)
	if err != nil || ans.Replies[0].Type != "error" {
		t.Fatalf("%v %v", ans.Replies, err)
	}
}

func TestErrorReply(t *testing.T) {
	st := msg(fullJIDs["juliet"], fullJIDs["romeo"], "x")
	st.Children = []*e2e.Element{e2e.NewElement(NS, "e2e", "")}
	rep := ErrorReply(st, errDecrypt)
	er := rep.Child(e2e.NSClient, "error")
	if rep.Type != "error" || !rep.To.Equal(st.From) || er == nil || er.Child(nsStanzas, "bad-request") == nil || er.Child(NS, CondDecryptionFailed) == nil {
		t.Fatalf("%s", rep)
	}
	if ErrorReply(st, e2e.ErrReplay) != nil {
		t.Fatal("replies to a replay")
	}
	stale := ErrorReply(st, fmt.Errorf("x: %w", e2e.ErrStale)).Child(e2e.NSClient, "error")
	if stale.Child(nsStanzas, "not-acceptable") == nil || stale.Child(NS, CondBadTimestamp) == nil {
		t.Fatalf("stale: %s", stale.Bytes())
	}
	iq := &e2e.Stanza{Kind: e2e.IQ, Type: "get", ID: "q", From: st.From, To: st.To, Children: st.Children}
	if rep := ErrorReply(iq, errDecrypt); rep == nil || rep.Kind != e2e.IQ || rep.Type != "error" || rep.ID != "q" {
		t.Fatalf("undecryptable iq: %v", rep)
	}
	clk := newClock()
	j := newParty(t, Scheme, "juliet", clk, 1, "romeo")
	if _, err := j.s.Receive(ctx, rep); !errors.Is(err, e2e.ErrDecrypt) {
		t.Fatalf("peer's decryption-failed: %v", err)
	}
}

// TestStampsStrictlyIncrease: with a clock that stands still, the sender
// still never emits equal stamps (-06 §7), and the receiver accepts them.
func TestStampsStrictlyIncrease(t *testing.T) {
	now := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	still := func() time.Time { return now }
	j := newParty(t, Scheme, "juliet", newClock(), 1, "romeo")
	r := newParty(t, Scheme, "romeo", newClock(), 2, "juliet")
	j.s.cfg.Clock, r.s.cfg.Clock = still, still
	var last time.Time
	var wires []*e2e.Stanza
	for range 5 {
		w := encrypt(t, j, msg(fullJIDs["juliet"], fullJIDs["romeo"], "tick"))
		k := j.s.current["romeo@montague.lit"]
		_, pt, err := openCompact(mustParts(t, w[0]), key{JSONWebKey: gojoseKey(k.key)})
		if err != nil {
			t.Fatal(err)
		}
		_, ts, err := parseEnvelope(pt)
		if err != nil || !ts.After(last) {
			t.Fatalf("stamp %v after %v (%v)", ts, last, err)
		}
		last = ts
		wires = append(wires, w...)
	}
	opened, errs := pump(t, []*party{j, r}, wires)
	if len(errs) != 0 || len(opened["romeo"]) != 5 {
		t.Fatal(errs)
	}
}

func mustParts(t *testing.T, w *e2e.Stanza) compact {
	t.Helper()
	c, err := readParts(w.Child(NS, "e2e"), jweParts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLearnedKeysBounded(t *testing.T) {
	r := newParty(t, Scheme, "romeo", newClock(), 2, "juliet")
	for i := range MaxLearned + 10 {
		r.s.learn(inKey{fullJIDs["juliet"], fmt.Sprint(i)}, key{JSONWebKey: gojoseKey(make([]byte, 32))})
	}
	if len(r.s.in) != MaxLearned {
		t.Fatalf("%d keys kept", len(r.s.in))
	}
	if _, ok := r.s.in[inKey{fullJIDs["juliet"], "0"}]; ok {
		t.Fatal("oldest key kept")
	}
}

// TestSeparateSigningAndDeviceKeys: an identity of two RSA keys, "use" "sig"
// and "use" "enc": the key request offers the device key, the sender trusts
// it as part of the pinned peer, signatures use the signing key only.
func TestSeparateSigningAndDeviceKeys(t *testing.T) {
	two := func(sigName, encName, addr string) []byte {
		var sig, enc map[string]any
		b1, _ := identity(t, sigName).Marshal()
		b2, _ := identity(t, encName).Marshal()
		json.Unmarshal(b1, &sig)
		json.Unmarshal(b2, &enc)
		sig["use"], sig["kid"] = "sig", addr
		enc["use"], enc["kid"] = "enc", addr
		return mustJSON(t, map[string]any{"keys": []any{enc, sig}})
	}
	rid, err := Scheme.ParseIdentity(two("romeo", "romeo2", "romeo@montague.lit"))
	if err != nil {
		t.Fatal(err)
	}
	pubBytes, err := rid.Public().Marshal()
	if err != nil || !strings.Contains(string(pubBytes), `"keys"`) {
		t.Fatalf("%s %v", pubBytes, err)
	}
	rpub, err := Scheme.ParsePeer(pubBytes)
	if err != nil || rpub.Fingerprint() != identity(t, "romeo").Public().Fingerprint() {
		t.Fatalf("peer %v", err)
	}
	if _, err := Scheme.ParseIdentity(two("romeo", "romeo2", "other@montague.lit")[:0]); err == nil {
		t.Fatal("empty key file accepted")
	}
	clk := newClock()
	js, _ := Scheme.NewSession(e2e.Config{Local: identity(t, "juliet"), JID: jid.MustParse(fullJIDs["juliet"]), Peers: []e2e.Peer{rpub}, Rand: seededRand(1), Clock: clk.Now})
	rs, _ := Scheme.NewSession(e2e.Config{Local: rid, JID: jid.MustParse(fullJIDs["romeo"]), Peers: []e2e.Peer{identity(t, "juliet").Public()}, Rand: seededRand(2), Clock: clk.Now})
	j := &party{"juliet", jid.MustParse(fullJIDs["juliet"]), js.(*Session)}
	r := &party{"romeo", jid.MustParse(fullJIDs["romeo"]), rs.(*Session)}
	orig := msg(fullJIDs["juliet"], fullJIDs["romeo"], "two keys")
	w := encrypt(t, j, orig)
	res, err := r.s.Receive(ctx, w[0])
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := b64.DecodeString(res.Replies[0].Child(NS, "keyreq").Child(NS, "pkey").Text())
	keys, _ := parseKeys(raw, false)
	if thumbprint(keys[0].JSONWebKey) != identity(t, "romeo2").Public().Fingerprint() {
		t.Fatal("the key request does not offer the device key")
	}
	opened, errs := pump(t, []*party{j, r}, res.Replies)
	if len(errs) != 0 || len(opened["romeo"]) != 1 || !opened["romeo"][0].Stanza.Equal(orig) {
		t.Fatal(opened, errs)
	}
	// Romeo signs with the signing key; juliet verifies with the pinned set.
	sw, err := r.s.Sign(ctx, msg(fullJIDs["romeo"], fullJIDs["juliet"], "signed"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := j.s.Receive(ctx, sw[0])
	if err != nil || len(got.Opened) != 1 || got.Opened[0].Signer == nil {
		t.Fatal(got, err)
	}
}
