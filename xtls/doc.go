// Package xtls implements XTLS, end-to-end TLS between two XMPP clients as
// described by draft-meyer-xmpp-e2e-encryption-02: a Jingle session
// (XEP-0166) negotiates an end-to-end XML stream (XEP-0247) over an In-Band
// Bytestream (XEP-0261, XEP-0047), with the XTLS <security/> precondition;
// the first bytes on the bytestream are a TLS handshake, and the two
// clients then exchange stanzas inside the TLS tunnel.
//
// No other implementation of the XML-stream case exists; this package is
// the reference. The profile it implements (see docs/xtls.md):
//
//   - The responder is the TLS server and requires a client certificate;
//     the initiator is the TLS client. TLS 1.3 by default, TLS 1.2
//     accepted; no session resumption, no renegotiation.
//   - Each party has a self-signed certificate bound to its bare JID
//     (GenerateIdentity makes Ed25519 ones). The peer's certificate must be
//     pinned by its SHA-256 fingerprint (Config.Peers) or approved by
//     Config.Trust, and must match every fingerprint the peer advertised in
//     Jingle (sha-256, or the draft's sha-1).
//   - The draft's mandatory SRP method is not implemented (Go's crypto/tls
//     has no TLS-SRP); only x509 is offered. As the substitute for first
//     contact, Session.SAS gives a 40-bit short authentication string from
//     the TLS exporter that users compare: a relaying man in the middle
//     gets a different value on each leg.
//   - Both the :0 namespaces (sent) and the :1 ones (accepted) of the
//     draft; IBB transports ibb:1 (default, with an IBB <open/>) and ibb:0.
//
// A Session is synchronous although TLS runs on goroutines: Encrypt and
// Receive return once every goroutine of the session waits for the next
// inbound stanza, with exactly the stanzas the call caused. The first
// Encrypt to a peer returns the Jingle session-initiate and holds the
// stanza back; it goes out, encrypted, in the Replies of the Receive that
// sees the peer's stream header.
//
// Timeouts are measured on Config.Clock and checked by every call; a client
// with no traffic calls Session.Expire now and then.
//
// Failures end the Jingle session with session-terminate and the reason
// the draft's error table gives (<security-error/> for pins, fingerprints,
// a missing <security/> or an SRP choice; <timeout/>; <failed-transport/>
// for IBB errors), reported as *TerminatedError.
package xtls
