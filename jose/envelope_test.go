package jose

import (
	"strings"
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// envelopeCases are envelopes around the edges of ownEnvelope's fast path:
// ours, and near misses that parseEnvelopeXML must decide.
func envelopeCases(t testing.TB) []string {
	t.Helper()
	st := msg(fullJIDs["juliet"], fullJIDs["romeo"], "<&>'\" ünïcödé")
	ours := string(envelope(st, newClock().Now()))
	head := envOpen + "2026-03-14T15:09:26.001Z" + envStamped
	return []string{
		ours,
		ours + " ",
		" " + ours,
		strings.Replace(ours, "'/><message", "'/> <message", 1),
		strings.Replace(ours, "stamp='2026", "stamp='&#50;026", 1),
		strings.Replace(ours, ".001Z", ".001+00:00", 1),
		strings.Replace(ours, ".001Z", ".001", 1),
		strings.Replace(ours, "</message></forwarded>", "</message> </forwarded>", 1),
		strings.Replace(ours, "</message></forwarded>", "</message><!-- x --></forwarded>", 1),
		strings.Replace(ours, "</message></forwarded>", "</message><?pi x?></forwarded>", 1),
		strings.Replace(ours, "</message></forwarded>", "</message><message xmlns='jabber:client'/></forwarded>", 1),
		strings.Replace(ours, "</message></forwarded>", "</message>text</forwarded>", 1),
		strings.Replace(ours, " xmlns='jabber:client'", "", 1),
		strings.Replace(ours, "<message xmlns='jabber:client'", "<cl:message xmlns:cl='jabber:client'", 1),
		strings.Replace(ours, "<message xmlns='jabber:client'", "<message xmlns='jabber:server'", 1),
		strings.Replace(ours, "<message xmlns='jabber:client'", "<message xmlns='urn:xmpp:forward:0'", 1),
		head + "<?xml version='1.0'?><message xmlns='jabber:client'/>" + envClose,
		head + "<!DOCTYPE x><message xmlns='jabber:client'/>" + envClose,
		head + "<!-- x --><message xmlns='jabber:client'/>" + envClose,
		head + "</forwarded><message xmlns='jabber:client'/>" + envClose,
		head + "<message xmlns='jabber:client'/></forwarded><forwarded xmlns='urn:xmpp:forward:0'>" + envClose,
		head + "<message xmlns='jabber:client'/>" + envClose + envClose,
		head + "<message xmlns='jabber:client'/>" + envClose + "<x/>",
		head + "<message xmlns='jabber:client'>" + envClose,
		head + "<iq xmlns='jabber:client' type='get' id='1'><query xmlns='q'/></iq>" + envClose,
		head + "<foo xmlns='jabber:client'/>" + envClose,
		head + "<message xmlns='jabber:client' from='not a jid@'/>" + envClose,
		head + envClose,
		head + "<" + envClose,
		envOpen + "'/><message xmlns='jabber:client'/>" + envClose,
		envOpen + "2026-03-14T15:09:26Z'/><message xmlns='jabber:client'/>" + envClose,
		strings.Replace(ours, "stamp='", "stamp=\"", 1),
	}
}

// TestOwnEnvelope: our own envelopes take the fast path, and on every case
// the fast path and the decoder pass give the same stanza and stamp, or
// both refuse (as ErrMalformed).
func TestOwnEnvelope(t *testing.T) {
	cases := envelopeCases(t)
	if _, _, ok := ownEnvelope([]byte(cases[0])); !ok {
		t.Fatal("envelope's own output misses the fast path")
	}
	accepted := 0
	for _, c := range cases {
		if _, _, ok := ownEnvelope([]byte(c)); ok {
			accepted++
		}
		checkEnvelopePaths(t, []byte(c))
	}
	if accepted < len(cases)/2 {
		t.Fatalf("only %d of %d cases reach the fast path: the test no longer covers it", accepted, len(cases))
	}
}

// checkEnvelopePaths fails t when parseEnvelope and parseEnvelopeXML
// disagree on b.
func checkEnvelopePaths(t *testing.T, b []byte) {
	t.Helper()
	st1, ts1, err1 := parseEnvelope(b)
	st2, ts2, err2 := parseEnvelopeXML(b)
	switch {
	case (err1 == nil) != (err2 == nil):
		t.Fatalf("%q: fast path error %v, decoder error %v", b, err1, err2)
	case err1 != nil:
		if e2e.ClassOf(err1) != "malformed" || e2e.ClassOf(err2) != "malformed" {
			t.Fatalf("%q: errors of class %s and %s: %v; %v", b, e2e.ClassOf(err1), e2e.ClassOf(err2), err1, err2)
		}
	case !st1.Equal(st2) || !ts1.Equal(ts2):
		t.Fatalf("%q: fast path %s at %s, decoder %s at %s", b, st1, ts1, st2, ts2)
	}
}

// FuzzEnvelope checks the envelope fast path against the decoder pass.
func FuzzEnvelope(f *testing.F) {
	for _, c := range envelopeCases(f) {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkEnvelopePaths(t, b) })
}
