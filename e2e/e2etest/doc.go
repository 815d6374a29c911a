// Package e2etest is the conformance kit for e2e.Scheme implementations: one
// battery that every codec passes, run from the codec's own tests.
//
//	func TestConformance(t *testing.T) {
//		e2etest.TestScheme(t, openpgp.Scheme)
//	}
//
// The battery drives sessions for juliet@capulet.lit/balcony,
// romeo@montague.lit/orchard and mercutio@capulet.lit/tomb against each other
// in memory, handshakes included (Deliver pumps every reply until both sides
// are quiet), and checks:
//
//   - round trips both ways for ASCII, UTF-8, XML specials, empty and 64 KiB
//     bodies, presence and iq where the scheme covers them;
//   - that neither the body nor (when claimed) extension elements cross the
//     wire in the clear;
//   - tampering: each sampled character of the protected payload changed, one
//     at a time, on a fresh session pair: an error or protocol replies, never
//     changed plaintext, never silence;
//   - a wrong recipient, truncated and random payloads: never plaintext;
//   - replay: rejected with e2e.ErrReplay where replay protection is claimed,
//     accepted where it is denied;
//   - Sign where sign-only is claimed, e2e.ErrUnsupported where not;
//   - plaintext refused with e2e.ErrNotEncrypted;
//   - key formats round-trip and garbage keys are refused;
//   - many session pairs at once (run it under -race).
//
// Deliver, Send, Clock and Rand are exported for codec and harness tests that
// need the same in-memory network, deterministic clock and seeded randomness.
package e2etest
