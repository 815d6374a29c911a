// Package otr is Off-the-Record Messaging (OTR versions 3 and 2) for XMPP,
// on github.com/coyim/otr3, carried in message bodies as XEP-0364 describes.
//
// OTR is a session protocol: two parties run an authenticated key exchange
// (AKE) and then exchange data messages encrypted with AES-128-CTR and
// authenticated with HMAC-SHA1 under Diffie-Hellman keys that change every
// round trip (forward secrecy). Messages are not signed, and MAC keys are
// published once retired, so a transcript proves nothing (deniability).
//
// A Session holds one OTR conversation per peer full JID and drives it
// through the e2e.Session loop: Encrypt before the AKE returns the query
// that starts it and holds the stanza back; every stanza from the peer goes
// to Receive, whose Replies must be sent; when the AKE completes the held
// stanzas come out, encrypted and in order, in those Replies.
//
//	s, _ := otr.Scheme.NewSession(e2e.Config{Local: me, JID: myFullJID})
//	wire, _ := s.Encrypt(ctx, msg)     // ?OTRv23? the first time
//	res, _ := s.Receive(ctx, incoming) // AKE replies, then opened stanzas
//
// Trust is the caller's: Opened.Signer is the key the peer proved in the
// AKE, Opened.Trusted says whether Config.Peers pins it. Compare
// fingerprints (Session.PeerKey) or run the Socialist Millionaires'
// Protocol (Session.StartSMP, AnswerSMP, SMP).
//
// Only the body is protected; other children of an outgoing stanza are
// not sent. See docs/otr.md for what is implemented, the deviations, and
// the otr3 hazards this package works around. otr3 prints diagnostics to
// standard output ("Unsupported wipe kind: int" on every AES operation with
// current Go, and a warning when it cannot lock memory): programs that use
// stdout as a data channel must point os.Stdout elsewhere before using this
// package.
package otr
