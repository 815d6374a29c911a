package otr

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/internal/peers"
	"mellium.im/xmpp/jid"
)

const b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// otherChar returns a character unlike c, from the base64 alphabet when c is
// in it.
func otherChar(c byte, i int) byte {
	if strings.IndexByte(b64chars, c) >= 0 {
		n := b64chars[(strings.IndexByte(b64chars, c)+1+i%60)%64]
		return n
	}
	if c == 'x' {
		return 'y'
	}
	return 'x'
}

func acceptableFailure(err error) bool {
	return errors.Is(err, e2e.ErrDecrypt) || errors.Is(err, e2e.ErrBadSignature) ||
		errors.Is(err, e2e.ErrMalformed) || errors.Is(err, e2e.ErrReplay)
}

// TestTamperSampled flips characters in the body and the attribute values of
// data message stanzas, as the conformance kit does: each copy must fail with
// an error (and open nothing) or open the original body.
func TestTamperSampled(t *testing.T) {
	t.Parallel() // heavy: otr3 does a 1536-bit modexp per message
	j, r := established(t, Scheme, Scheme)
	ctx := context.Background()
	rounds := 60
	if raceEnabled {
		rounds = 12
	}
	for i := 0; i < rounds; i++ {
		body := fmt.Sprintf("pay %d EUR to mercutio", i)
		w := send(t, j, r, body)[0]
		cp := w.Clone()
		if i%6 == 5 { // an attribute value
			switch i / 6 % 4 {
			case 0:
				cp.ID = cp.ID[:1] + "Z" + cp.ID[2:]
			case 1:
				cp.Type = "chqt"
			case 2:
				cp.From = jid.MustParse("juliet@capulet.lit/balconz")
			case 3:
				cp.To = jid.MustParse("romeo@montague.lit/orcharx")
			}
		} else {
			b := []byte(w.Body())
			pos := 5 + (i*131)%(len(b)-6)
			b[pos] = otherChar(b[pos], i)
			cp.SetBody(string(b))
		}
		res, err := r.s.Receive(ctx, cp)
		switch {
		case err != nil:
			if !acceptableFailure(err) || len(res.Opened) != 0 {
				t.Fatalf("tamper %d: %v (opened %d)", i, err, len(res.Opened))
			}
		case len(res.Opened) == 1 && res.Opened[0].Stanza.Body() == body:
		default:
			t.Fatalf("tamper %d: no error and opened %v", i, bodies(res.Opened))
		}
		if i%10 == 9 { // now and then a round trip, so keys rotate
			pump(t, r, j, send(t, r, j, "ack"))
			j.got = nil
		}
	}
}

func TestReplayTruncationGarbage(t *testing.T) {
	j, r := established(t, Scheme, Scheme)
	ctx := context.Background()
	w := send(t, j, r, "only once")[0]
	if res, err := r.s.Receive(ctx, w); err != nil || len(res.Opened) != 1 {
		t.Fatalf("first delivery: %v", err)
	}
	if res, err := r.s.Receive(ctx, w); !errors.Is(err, e2e.ErrReplay) || len(res.Opened) != 0 {
		t.Fatalf("replay: %v", err)
	}
	body := send(t, j, r, "cut me")[0].Body()
	for _, n := range []int{len(body) - 1, len(body) - 2, len(body) - 10, len(body) - 30, 40, 20, 12, 9, 6} {
		cp := msg(julietJID, romeoJID, "t", body[:n])
		if n < len(body)-1 {
			cp.SetBody(body[:n] + ".")
		}
		res, err := r.s.Receive(ctx, cp)
		if err == nil || len(res.Opened) != 0 {
			t.Fatalf("truncated to %d: err %v opened %d", n, err, len(res.Opened))
		}
	}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 50; i++ {
		raw := make([]byte, rng.Intn(400))
		rng.Read(raw)
		for _, b := range []string{"?OTR:" + base64.StdEncoding.EncodeToString(raw) + ".", "?OTR:AAMD" + base64.StdEncoding.EncodeToString(raw) + ".",
			"?OTR|" + string(raw[:min(len(raw), 30)]) + ",", "?OTR," + fmt.Sprint(i) + ",3,abc,", string(raw)} {
			res, err := r.s.Receive(ctx, msg(julietJID, romeoJID, "g", strings.ToValidUTF8(b, "?")))
			if len(res.Opened) != 0 {
				t.Fatalf("garbage %q opened %v (err %v)", b, bodies(res.Opened), err)
			}
		}
	}
	// the session survived all of it
	pump(t, j, r, send(t, j, r, "still here"))
	if got := bodies(r.got); len(got) == 0 || got[len(got)-1] != "still here" {
		t.Fatalf("after hostile input: %q %v", got, r.errs)
	}
}

// TestTruncatedInsideMACPanicsInOTR3 keeps the guard honest: otr3 panics on a
// data message cut inside its MAC; Receive must turn that into ErrMalformed.
func TestTruncatedInsideMACPanicsInOTR3(t *testing.T) {
	j, r := established(t, Scheme, Scheme)
	d := parseDataMsg(t, send(t, j, r, "x")[0].Body())
	cut := "?OTR:" + base64.StdEncoding.EncodeToString(d.raw[:d.macEnd+5]) + "."
	res, err := r.s.Receive(context.Background(), msg(julietJID, romeoJID, "t", cut))
	if !errors.Is(err, e2e.ErrMalformed) || len(res.Opened) != 0 {
		t.Fatalf("cut inside MAC: %v", err)
	}
	if !strings.Contains(err.Error(), "panicked") {
		t.Logf("otr3 no longer panics here (%v); the guard stays", err)
	}
}

func TestWrongRecipient(t *testing.T) {
	j, r := established(t, Scheme, Scheme)
	m := newParty(t, Scheme, "mercutio@capulet.lit", mercutioJID, fixture(t, "juliet@capulet.lit").Public())
	for _, w := range send(t, j, r, "for romeo's eyes only") {
		cp := w.Clone()
		cp.To = mercutioJID
		pump(t, j, m, []*e2e.Stanza{cp})
	}
	if len(m.got) != 0 || len(m.errs) == 0 {
		t.Fatalf("mercutio opened %v (errors %v)", bodies(m.got), m.errs)
	}
	// re-addressed to romeo's bare JID from a third party: not juliet's session
	for _, w := range send(t, j, r, "second") {
		cp := w.Clone()
		cp.From = mercutioJID
		if res, err := r.s.Receive(context.Background(), cp); err == nil || len(res.Opened) != 0 {
			t.Fatalf("stanza from mercutio opened in juliet's session: %v", err)
		}
	}
}

// TestCounterAdvanceHazard covers otr3's deviation from the OTR spec: its
// receive counter moves before the MAC is checked, so a tampered copy of a
// data message would make otr3 refuse the genuine message that follows, and
// one forged huge counter would block that direction for good. counter.go
// puts the counters back after a message that does not verify; this test
// shows the hazard on a bare otr3 receive and that Receive is immune.
func TestCounterAdvanceHazard(t *testing.T) {
	t.Parallel() // heavy: otr3 does a 1536-bit modexp per message
	j, r := established(t, Scheme, Scheme)
	ctx := context.Background()

	// The hazard itself, on otr3 without our restore.
	w := send(t, j, r, "genuine")[0]
	d := parseDataMsg(t, w.Body())
	bad := append([]byte(nil), d.raw...)
	bad[d.encOff] ^= 1
	cv := r.s.convs[julietJID.String()]
	if err := cv.call(func() error { _, _, err := cv.c.Receive([]byte(encodeRaw(bad))); return err }); err == nil {
		t.Fatal("otr3 accepted a tampered message")
	}
	if _, err := r.s.Receive(ctx, w); err == nil {
		t.Log("otr3 accepted the genuine message after a tampered copy: the hazard is gone upstream, update docs/otr.md")
	} else if !errors.Is(err, e2e.ErrReplay) {
		t.Fatalf("genuine after tampered copy on bare otr3: %v", err)
	}

	// Through Receive: the tampered copy is refused, the genuine one opens.
	for _, body := range []string{"first genuine", "second genuine"} {
		w = send(t, j, r, body)[0]
		d = parseDataMsg(t, w.Body())
		bad = append([]byte(nil), d.raw...)
		bad[d.encOff+2] ^= 4
		if res, err := r.s.Receive(ctx, msg(julietJID, romeoJID, "t", encodeRaw(bad))); !errors.Is(err, e2e.ErrDecrypt) || len(res.Opened) != 0 {
			t.Fatalf("tampered copy: %v", err)
		}
		res, err := r.s.Receive(ctx, w)
		if err != nil || len(res.Opened) != 1 || res.Opened[0].Stanza.Body() != body {
			t.Fatalf("genuine after tampered copy: %v", err)
		}
	}

	// A forged counter of 2^63 (MAC not recomputed) blocks nothing.
	w = send(t, j, r, "after forgery")[0]
	forged := append([]byte(nil), parseDataMsg(t, w.Body()).raw...)
	binary.BigEndian.PutUint64(forged[d.ctrOff:], 1<<63)
	if _, err := r.s.Receive(ctx, msg(julietJID, romeoJID, "t", encodeRaw(forged))); err == nil {
		t.Fatal("forged counter accepted")
	}
	if res, err := r.s.Receive(ctx, w); err != nil || len(res.Opened) != 1 {
		t.Fatalf("message after a forged counter: %v", err)
	}
	// and the flag trick: IGNORE_UNREADABLE set on a forgery must not make
	// otr3 swallow the failure silently
	w = send(t, j, r, "flagged")[0]
	d = parseDataMsg(t, w.Body())
	flagged := append([]byte(nil), d.raw...)
	flagged[11] |= 1
	if res, err := r.s.Receive(ctx, msg(julietJID, romeoJID, "t", encodeRaw(flagged))); !errors.Is(err, e2e.ErrDecrypt) || len(res.Opened) != 0 {
		t.Fatalf("forgery with IGNORE_UNREADABLE: %v", err)
	}
	if res, err := r.s.Receive(ctx, w); err != nil || len(res.Opened) != 1 {
		t.Fatalf("genuine after flagged forgery: %v", err)
	}
}

// dataMsg is the layout of an OTR data message, for the tests that forge.
type dataMsg struct {
	raw                            []byte
	version                        int
	sKey, rKey                     uint32
	y                              []byte
	ctrOff, encOff, encLen, macEnd int
	revealed                       [][]byte
}

func encodeRaw(raw []byte) string { return "?OTR:" + base64.StdEncoding.EncodeToString(raw) + "." }

func parseDataMsg(t testing.TB, line string) *dataMsg {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(strings.TrimPrefix(line, "?OTR:"), "."))
	if err != nil || len(raw) < 4 || raw[2] != 3 {
		t.Fatalf("not a data message: %.30q", line)
	}
	d := &dataMsg{raw: raw, version: int(raw[1])}
	i := 3
	if d.version == 3 {
		i += 8
	}
	i++ // flags
	d.sKey, d.rKey = binary.BigEndian.Uint32(raw[i:]), binary.BigEndian.Uint32(raw[i+4:])
	i += 8
	l := int(binary.BigEndian.Uint32(raw[i:]))
	d.y = raw[i+4 : i+4+l]
	i += 4 + l
	d.ctrOff = i
	i += 8
	d.encLen = int(binary.BigEndian.Uint32(raw[i:]))
	d.encOff = i + 4
	i += 4 + d.encLen
	d.macEnd = i
	i += 20
	l = int(binary.BigEndian.Uint32(raw[i:]))
	for k := 0; k+20 <= l; k += 20 {
		d.revealed = append(d.revealed, raw[i+4+k:i+4+k+20])
	}
	return d
}

func (d *dataMsg) macValid(key []byte) bool {
	h := hmac.New(sha1.New, key)
	h.Write(d.raw[:d.macEnd])
	return hmac.Equal(h.Sum(nil), d.raw[d.macEnd:d.macEnd+20])
}

// TestDeniability: MAC keys that OTR publishes later verify earlier
// messages, so anyone holding the transcript can alter a message (AES-CTR is
// malleable) and re-MAC it. A transcript therefore proves nothing about
// what was said.
func TestDeniability(t *testing.T) {
	t.Parallel() // heavy: otr3 does a 1536-bit modexp per message
	j, r := established(t, Scheme, Scheme)
	var sent []*dataMsg
	var plains []string
	for i := 0; i < 4; i++ {
		for _, p := range [][2]*party{{j, r}, {r, j}} {
			text := fmt.Sprintf("%s pays 10 EUR #%d", p[0].name[:5], i)
			ws := send(t, p[0], p[1], text)
			sent = append(sent, parseDataMsg(t, ws[0].Body()))
			plains = append(plains, text)
			pump(t, p[0], p[1], ws)
		}
	}
	noErrs(t, j, r)
	forged := 0
	var sample struct {
		old *dataMsg
		key []byte
		at  int
	}
	for i, d := range sent {
		for _, k := range d.revealed {
			for o, old := range sent[:i] {
				if !old.macValid(k) {
					continue
				}
				// change "10" into "99" in the earlier message and re-MAC it
				f := &dataMsg{raw: append([]byte(nil), old.raw...), macEnd: old.macEnd}
				at := strings.Index(plains[o], "10 EUR")
				f.raw[old.encOff+at] ^= '1' ^ '9'
				f.raw[old.encOff+at+1] ^= '0' ^ '9'
				mac := hmac.New(sha1.New, k)
				mac.Write(f.raw[:f.macEnd])
				copy(f.raw[f.macEnd:], mac.Sum(nil))
				if f.macValid(k) && !bytes.Equal(f.raw, old.raw) {
					forged++
					sample.old, sample.key, sample.at = old, k, at
				}
			}
		}
	}
	if forged == 0 {
		t.Fatal("no revealed MAC key verifies an earlier message")
	}
	t.Logf("%d earlier messages forged with MAC keys revealed later", forged)

	// The same forgery with libotr's own toolkit (libotr5-bin): otr_modify
	// rewrites known text at an offset and re-MACs with the revealed key.
	t.Run("otr_modify", func(t *testing.T) {
		tool := peers.Command(t, "otr_modify")
		cmd := exec.Command(tool, hex.EncodeToString(sample.key), "10", "99", fmt.Sprint(sample.at))
		cmd.Stdin = strings.NewReader(encodeRaw(sample.old.raw) + "\n")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("otr_modify: %v\n%s", err, out)
		}
		i := strings.Index(string(out), "?OTR:")
		if i < 0 {
			t.Fatalf("otr_modify printed no OTR message: %s", out)
		}
		line, _, _ := strings.Cut(string(out[i:]), "\n")
		f := parseDataMsg(t, strings.TrimSpace(line))
		o, at := sample.old, sample.old.encOff+sample.at
		if len(f.raw) != len(o.raw) || f.raw[at] != o.raw[at]^'1'^'9' || f.raw[at+1] != o.raw[at+1]^'0'^'9' {
			t.Fatal("otr_modify changed something else than the text at the offset")
		}
		if !f.macValid(sample.key) {
			t.Fatal("otr_modify's forgery does not verify under the revealed key")
		}
	})
}

// TestForwardSecrecy: after the conversation ends, the long-term DSA keys of
// both parties do not open the recorded data messages: new sessions with
// the same identities (even after a new AKE between them) refuse them all.
func TestForwardSecrecy(t *testing.T) {
	t.Parallel() // heavy: otr3 does a 1536-bit modexp per message
	j, r := pair(t, Scheme, Scheme)
	var recorded []*e2e.Stanza
	for i := 0; i < 3; i++ {
		ws := send(t, j, r, fmt.Sprintf("secret %d", i))
		if i > 0 {
			recorded = append(recorded, ws...)
		}
		pump(t, j, r, ws)
		pump(t, r, j, send(t, r, j, "ok"))
	}
	if len(r.got) != 3 {
		t.Fatalf("romeo got %v", bodies(r.got))
	}
	for _, p := range []*party{j, r} {
		if _, err := p.s.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// New sessions draw fresh ephemeral keys (crypto/rand): only the
	// long-term keys are the same.
	j2 := &party{name: "juliet2", addr: julietJID}
	r2 := &party{name: "romeo2", addr: romeoJID}
	j2.s, _ = Scheme.Open(e2e.Config{Local: fixture(t, "juliet@capulet.lit"), JID: julietJID})
	r2.s, _ = Scheme.Open(e2e.Config{Local: fixture(t, "romeo@montague.lit"), JID: romeoJID})
	for _, w := range recorded {
		if res, err := r2.s.Receive(context.Background(), w); err == nil || len(res.Opened) != 0 {
			t.Fatalf("recorded message opened with the long-term key alone: %v", bodies(res.Opened))
		}
	}
	pump(t, j2, r2, send(t, j2, r2, "new session"))
	r2.errs = nil
	for _, w := range recorded {
		if res, err := r2.s.Receive(context.Background(), w); err == nil || len(res.Opened) != 0 {
			t.Fatalf("recorded message opened in a new session: %v", bodies(res.Opened))
		}
	}
}

func TestConcurrentPairs(t *testing.T) {
	t.Parallel() // heavy: otr3 does a 1536-bit modexp per message
	var wg sync.WaitGroup
	n, rounds := 8, 3
	if raceEnabled {
		n, rounds = 2, 1 // the conformance kit runs its own 8 pairs
	}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j, r := pair(t, Scheme, Scheme)
			for k := 0; k < rounds; k++ {
				pump(t, j, r, send(t, j, r, fmt.Sprintf("pair message %d", k)))
				pump(t, r, j, send(t, r, j, fmt.Sprintf("pair answer %d", k)))
			}
			if len(j.got) != rounds || len(r.got) != rounds || len(j.errs)+len(r.errs) > 0 {
				t.Errorf("pair: %v %v %v %v", bodies(j.got), bodies(r.got), j.errs, r.errs)
			}
		}()
	}
	wg.Wait()
}
