// Package e2e is the one interface of xmppe2e: every end-to-end encryption
// scheme for XMPP (XEP-0027 OpenPGP, RFC 3923 S/MIME, OTR, XTLS, the JOSE
// draft) is a Scheme, and every conversation under a scheme is a Session that
// turns outbound stanzas into wire stanzas and inbound wire stanzas into
// opened stanzas.
//
// A client that protects its chats holds one Session per conversation:
//
//	sess, err := openpgp.Scheme.NewSession(e2e.Config{
//		Local: me,                 // from Scheme.GenerateIdentity or ParseIdentity
//		JID:   myFullJID,
//		Peers: []e2e.Peer{romeo},  // from Scheme.ParsePeer
//	})
//	wire, err := sess.Encrypt(ctx, msg)  // send every stanza of wire, in order
//	...
//	got, err := sess.Receive(ctx, in)    // for every stanza from the peer
//	for _, o := range got.Opened { show(o.Stanza, o.Signer) }
//	for _, r := range got.Replies { send(r) }
//
// The same loop serves schemes with handshakes: their Encrypt returns the
// handshake stanzas first, and Receive returns replies until the channel is up
// and the held-back stanzas go out.
//
// Stanzas are parsed with Parse or ReadStanza (from a mellium token stream)
// and written with Stanza.Bytes or Stanza.TokenReader. Malformed input is
// ErrMalformed; every failure of a codec wraps one of the error classes in
// this package, so errors.Is works across schemes.
//
// Each scheme states its Claims as Properties; the harness in package interop
// measures the same properties over a real XMPP network, and package
// e2e/e2etest checks any Scheme against the conformance battery.
package e2e
