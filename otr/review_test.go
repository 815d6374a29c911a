package otr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// TestPeerErrorMessageReported: an OTR Error message is shown to the user
// (OTR v3, "Receiving an Error Message"): Receive reports its text in an
// error and answers with the query of ERROR_START_AKE, instead of dropping
// it silently.
func TestPeerErrorMessageReported(t *testing.T) {
	ctx := context.Background()
	_, r := pair(t, Scheme, Scheme)
	res, err := r.s.Receive(ctx, msg(julietJID, romeoJID, "e", "?OTR Error: You transmitted an unreadable encrypted message."))
	if !errors.Is(err, e2e.ErrDecrypt) || !strings.Contains(err.Error(), "unreadable encrypted message") {
		t.Fatalf("err = %v, want ErrDecrypt with the peer's text", err)
	}
	if len(res.Opened) != 0 || len(res.Replies) != 1 || !strings.HasPrefix(res.Replies[0].Body(), "?OTRv") {
		t.Fatalf("opened %d, replies %v: want none and one query", len(res.Opened), res.Replies)
	}
}

// TestUnrecognizedOTRMessageReported: a body that starts with "?OTR" but is
// no OTR message is an error, never a silent drop, whatever the policy and
// state.
func TestUnrecognizedOTRMessageReported(t *testing.T) {
	ctx := context.Background()
	for _, body := range []string{"?OTR is cool", "?OTR", "?OTRx"} {
		for _, allow := range []bool{false, true} {
			_, r := pair(t, Scheme, Scheme)
			r.s.cfg.AllowPlaintext = allow
			res, err := r.s.Receive(ctx, msg(julietJID, romeoJID, "u", body))
			if !errors.Is(err, e2e.ErrMalformed) || len(res.Opened) != 0 {
				t.Errorf("%q (AllowPlaintext %v): err %v, opened %d; want ErrMalformed", body, allow, err, len(res.Opened))
			}
		}
	}
	j, r := established(t, Scheme, Scheme)
	_ = j
	if _, err := r.s.Receive(ctx, msg(julietJID, romeoJID, "u", "?OTR is cool")); !errors.Is(err, e2e.ErrMalformed) {
		t.Errorf("in a private conversation: err %v, want ErrMalformed", err)
	}
}

// TestIllegitimateFragmentKeepsReassembly: OTR v3 "Fragmentation": a
// fragment with k = 0, n = 0 or k > n is discarded alone; the message being
// reassembled survives it.
func TestIllegitimateFragmentKeepsReassembly(t *testing.T) {
	fragmentsSurvive(t, func(f fragmentMsg) []string {
		var out []string
		for _, kn := range []string{"00000,00003", "00002,00000", "00009,00003"} {
			out = append(out, fmt.Sprintf("?OTR|%08x|%08x,%s,x,", f.sender, f.recvr, kn))
		}
		return out
	})
}

// fragmentsSurvive sends a fragmented message and delivers the bodies that
// bad makes (from the first fragment) just before the second fragment: each
// must be ErrMalformed, and the message must still open.
func fragmentsSurvive(t *testing.T, bad func(first fragmentMsg) []string) {
	t.Helper()
	ctx := context.Background()
	c := New(Options{FragmentSize: 120})
	j, r := established(t, c, c)
	ws := send(t, j, r, "a message long enough to need several fragments of 120 bytes")
	if len(ws) < 3 {
		t.Fatalf("%d fragments, want at least 3", len(ws))
	}
	f, err := parseFragment(ws[0].Body())
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range ws {
		if i == 1 {
			for _, b := range bad(f) {
				st := w.Clone()
				st.SetBody(b)
				if _, err := r.s.Receive(ctx, st); !errors.Is(err, e2e.ErrMalformed) {
					t.Fatalf("fragment %q: err %v, want ErrMalformed", b, err)
				}
			}
		}
		res, err := r.s.Receive(ctx, w)
		if err != nil {
			t.Fatalf("fragment %d: %v", i+1, err)
		}
		r.got = append(r.got, res.Opened...)
	}
	if got := bodies(r.got); len(got) != 1 || !strings.HasPrefix(got[0], "a message long") {
		t.Fatalf("opened %q", got)
	}
}

// TestBareFromRefused: XEP-0364 keeps an OTR conversation between two full
// JIDs and Encrypt refuses a bare "to"; a query (or anything else) from a
// bare JID must not make Receive answer that bare JID with an AKE message.
func TestBareFromRefused(t *testing.T) {
	_, r := pair(t, Scheme, Scheme)
	for _, body := range []string{"?OTRv23?", "hi" + wsBase + wsV2 + wsV3} {
		res, err := r.s.Receive(context.Background(), msg(julietJID.Bare(), romeoJID, "b", body))
		if !errors.Is(err, e2e.ErrUnsupported) || len(res.Replies) != 0 || len(res.Opened) != 0 {
			t.Errorf("%q from a bare JID: err %v, %d replies, %d opened; want ErrUnsupported and nothing", body, err, len(res.Replies), len(res.Opened))
		}
	}
}

// TestInvalidSenderTagFragmentDropped: OTR v3 "Instance Tags": a fragment
// whose sender tag is below 0x100 is discarded; it must not restart the
// reassembly of a genuine message as a first fragment would.
func TestInvalidSenderTagFragmentDropped(t *testing.T) {
	fragmentsSurvive(t, func(f fragmentMsg) []string {
		return []string{fmt.Sprintf("?OTR|%08x|%08x,00001,00002,x,", 0xff, f.recvr)}
	})
}

// TestWhitespaceTagWithoutOurVersion: OTR v3 "Receiving plaintext with the
// whitespace tag": the text is shown with the tag removed (as plaintext,
// under the plaintext policy); only a tag offering a version we allow
// starts the AKE. A tag without one must not lose the text.
func TestWhitespaceTagWithoutOurVersion(t *testing.T) {
	ctx := context.Background()
	const v1 = " \t \t  \t "
	for _, tc := range []struct {
		c    *Codec
		body string
	}{
		{Scheme, "hi" + wsBase},
		{Scheme, "hi" + wsBase + v1},
		{New(Options{V3Only: true}), "hi" + wsBase + v1 + wsV2},
		{New(Options{V2Only: true}), "hi" + wsBase + wsV3},
	} {
		_, r := pair(t, tc.c, tc.c)
		res, err := r.s.Receive(ctx, msg(julietJID, romeoJID, "w", tc.body))
		if !errors.Is(err, e2e.ErrNotEncrypted) || len(res.Opened) != 0 || len(res.Replies) != 0 {
			t.Errorf("%q strict: err %v, %d opened, %d replies; want ErrNotEncrypted alone", tc.body, err, len(res.Opened), len(res.Replies))
		}
		r.s.cfg.AllowPlaintext = true
		res, err = r.s.Receive(ctx, msg(julietJID, romeoJID, "w", tc.body))
		if err != nil || len(res.Opened) != 1 || res.Opened[0].Stanza.Body() != "hi" || res.Opened[0].Encrypted || len(res.Replies) != 0 {
			t.Errorf("%q AllowPlaintext: err %v, opened %v, %d replies; want the text \"hi\" unencrypted", tc.body, err, bodies(res.Opened), len(res.Replies))
		}
	}
	// a tag that offers our version still starts the AKE
	_, r := pair(t, Scheme, Scheme)
	res, _ := r.s.Receive(ctx, msg(julietJID, romeoJID, "w", "hi"+wsBase+v1+wsV3))
	if len(res.Replies) != 1 || !strings.HasPrefix(res.Replies[0].Body(), "?OTR:AAMC") {
		t.Errorf("v3 tag: replies %v, want a D-H Commit", res.Replies)
	}
}

// TestEncryptRefusesGroupchat: Receive refuses groupchat, headline and
// error messages; Encrypt must not turn such a stanza into a chat message
// (OTR is two-party, XEP-0364 §2).
func TestEncryptRefusesGroupchat(t *testing.T) {
	j, r := pair(t, Scheme, Scheme)
	for _, typ := range []string{"groupchat", "headline", "error"} {
		st := msg(j.addr, r.addr, "g", "to the room")
		st.Type = typ
		ws, err := j.s.Encrypt(context.Background(), st)
		if !errors.Is(err, e2e.ErrUnsupported) || len(ws) != 0 {
			t.Errorf("type %s: %d stanzas, err %v; want ErrUnsupported", typ, len(ws), err)
		}
	}
}
